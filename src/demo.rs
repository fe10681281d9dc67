//! The demo page served at `/`: why SSE wants HTTP/2.
//!
//! Imports nothing of the crate; the router serves it.
//!
//! This module owns the page (`demo.html`, compiled into the binary so the server needs no
//! files at run time) and the response that serves it. The page opens N `EventSource`s, one per
//! topic `demo-<room>-<i>`, and shows each one's state in a grid. Over HTTP/1.1 a browser keeps
//! at most 6 connections per host, so only 6 streams open and the rest visibly stall; over
//! HTTP/2 all N share one connection. It talks to the hub only through the public API:
//! `GET /events/{topic}` to subscribe and `POST /events/{topic}` to publish.
//!
//! Routing (which method and path reach [`demo_page`]) belongs to the router, not here.

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use http::Response;
use http_body_util::Full;

/// The demo page: one self-contained HTML file with inline CSS and JavaScript.
pub const DEMO_HTML: &str = include_str!("demo.html");

/// The page's content security policy.
///
/// The page needs only its own inline script and style, and `fetch`/`EventSource` to this
/// origin. Everything else is refused, so event data published by anyone cannot pull in or
/// run anything even if the page had a bug; `frame-ancestors` also stops other sites framing
/// the publish buttons.
pub const DEMO_CSP: &str = "default-src 'self'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Builds the `200 OK` response carrying [`DEMO_HTML`].
///
/// `cache-control: no-cache` makes browsers revalidate, so a rebuilt binary's page shows up on
/// the next reload. The body is static, so this never fails and costs no copy.
pub fn demo_page() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(DEMO_HTML.as_bytes())));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(DEMO_CSP));
    response
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use http_body_util::BodyExt;

    use super::*;

    #[test]
    fn demo_page_is_html_with_no_cache_and_csp() {
        let response = demo_page();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[CACHE_CONTROL], "no-cache");
        let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.starts_with("default-src 'self';"), "{csp}");
        assert!(csp.contains("connect-src 'self'"), "{csp}");
    }

    #[tokio::test]
    async fn demo_page_body_is_the_embedded_html() {
        let body = demo_page().into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, DEMO_HTML.as_bytes());
    }

    /// The CSP would block external assets anyway; this catches one being added by mistake,
    /// which would break the page rather than load it.
    #[test]
    fn demo_html_references_no_external_assets() {
        let html = DEMO_HTML.to_ascii_lowercase();
        for needle in [
            "src=\"http",
            "href=\"http",
            "src='http",
            "href='http",
            "src=\"//",
            "href=\"//",
            "url(http",
            "url(//",
            "@import",
        ] {
            assert!(!html.contains(needle), "demo.html contains {needle:?}");
        }
        assert!(
            !html.contains("http://"),
            "demo.html contains an http:// URL"
        );
        assert!(
            !html.contains("https://"),
            "demo.html contains an https:// URL"
        );
    }

    /// The page builds topics as `demo-<room>-<i>` and must use the API paths the hub serves.
    #[test]
    fn demo_html_uses_the_events_api() {
        assert!(DEMO_HTML.contains("new EventSource('/events/'"));
        assert!(DEMO_HTML.contains("fetch('/events/'"));
        assert!(DEMO_HTML.contains("method: 'POST'"));
    }
}
