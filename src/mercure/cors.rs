//! CORS for the hub's endpoints (draft "Subscription"): browsers on other origins may
//! subscribe (`EventSource` with `withCredentials`, or `fetch`) and publish when their
//! origin is on the allowlist. Credentialed answers name the origin, never `*`, and never
//! reflect an origin that is not listed. `*` in the configuration allows any origin without
//! credentials.

use http::{header, HeaderMap, HeaderValue, Response};

use crate::config::CorsOrigins;
use crate::http::ResponseBody;

/// Request headers a cross-origin client may send: the token, the publication's body type,
/// and the reconnection cursor (polyfills set it on `fetch`).
const ALLOWED_HEADERS: &str = "authorization, content-type, last-event-id, cache-control";
const ALLOWED_METHODS: &str = "GET, POST, QUERY, OPTIONS";
/// Response headers scripts may read: the reconciliation cursors and the discovery links.
const EXPOSED_HEADERS: &str = "link, mercure-last-event-id, last-event-id, www-authenticate";

/// The request's `Origin`, when it has a usable one.
pub fn request_origin(headers: &HeaderMap) -> Option<String> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    (!origin.is_empty() && origin != "null").then(|| origin.to_owned())
}

/// Whether `origin` is allowed, and whether with credentials.
fn allowance(origins: &CorsOrigins, origin: &str) -> Option<bool> {
    match origins {
        CorsOrigins::Any => Some(false),
        CorsOrigins::List(list) => list.iter().any(|o| o == origin).then_some(true),
    }
}

/// Whether `origin` is one the operator trusts by name (CSRF checks on cookie-borne
/// publications accept it besides the hub's own origin).
pub fn is_listed(origins: &CorsOrigins, origin: &str) -> bool {
    matches!(origins, CorsOrigins::List(list) if list.iter().any(|o| o == origin))
}

/// Adds the CORS answer to a response for a request from `origin`.
pub fn decorate(origins: &CorsOrigins, origin: &str, response: &mut Response<ResponseBody>) {
    let Some(credentials) = allowance(origins, origin) else {
        return;
    };
    let headers = response.headers_mut();
    set_origin(headers, origin, credentials);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
}

/// Answers a preflight (`OPTIONS` with `Access-Control-Request-Method`).
pub fn preflight(
    origins: &CorsOrigins,
    request: &HeaderMap,
    response: &mut Response<ResponseBody>,
) {
    let Some(origin) = request_origin(request) else {
        return;
    };
    let Some(credentials) = allowance(origins, &origin) else {
        return;
    };
    let headers = response.headers_mut();
    set_origin(headers, &origin, credentials);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}

fn set_origin(headers: &mut HeaderMap, origin: &str, credentials: bool) {
    if credentials {
        if let Ok(value) = HeaderValue::from_str(origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    } else {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    // The answer depends on the request's origin: caches must keep one per origin. A
    // preflight passes here twice (`preflight`, then `decorate` on every hub answer), and
    // other layers may have added their own `Vary`: append, but only once.
    let varies = headers.get_all(header::VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|name| name.trim().eq_ignore_ascii_case("origin"))
        })
    });
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
}
