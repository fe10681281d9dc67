//! What protects browsers: publications borne by a cookie need a trusted origin (the CSRF rule
//! of "Security Considerations"), and CORS answers listed origins with credentials and the
//! wildcard without.

use http::{HeaderMap, Response, StatusCode};
use hyper::body::Incoming;

use super::{start_required, BOOK, COOKIE};
use crate::support::{
    mercure::{
        self, all_access, get_with, publish, publish_with, send, subscribe_path, Answer, Pairs, HUB,
    },
    Client,
};

// --- Cookies and CSRF ------------------------------------------------------------------

#[tokio::test]
async fn cookie_borne_publications_need_a_trusted_origin() {
    let server = start_required(|raw| {
        raw.mercure.cors_origins = vec!["https://app.example".into()];
    })
    .await;
    let mut client = server.h2().await;
    let writer = all_access(&server, &["publish"]);
    let cookie = format!("{COOKIE}={writer}");
    let same_origin = format!("https://localhost:{}", server.addr.port());
    let same_referer = format!("{same_origin}/app/page?x=1");
    let cases: &[(&str, Pairs, StatusCode)] = &[
        ("no Origin or Referer", &[], StatusCode::FORBIDDEN),
        ("same origin", &[("origin", &same_origin)], StatusCode::OK),
        (
            "same-origin Referer",
            &[("referer", &same_referer)],
            StatusCode::OK,
        ),
        (
            "foreign origin",
            &[("origin", "https://evil.example")],
            StatusCode::FORBIDDEN,
        ),
        (
            "foreign Referer",
            &[("referer", "https://evil.example/page")],
            StatusCode::FORBIDDEN,
        ),
        (
            "foreign origin, same-origin Referer",
            &[
                ("origin", "https://evil.example"),
                ("referer", &same_referer),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            "opaque origin",
            &[("origin", "null")],
            StatusCode::FORBIDDEN,
        ),
        (
            "opaque origin, same-origin Referer",
            &[("origin", "null"), ("referer", &same_referer)],
            StatusCode::FORBIDDEN,
        ),
        (
            "allowed CORS origin",
            &[("origin", "https://app.example")],
            StatusCode::OK,
        ),
    ];
    for (case, extra, expected) in cases {
        let mut headers = vec![("cookie", cookie.as_str())];
        headers.extend_from_slice(extra);
        let (status, _, body) = publish_with(&mut client, HUB, &headers, &[("topic", BOOK)]).await;
        assert_eq!(status, *expected, "{case}: {body}");
    }
    // A header token needs no origin check.
    let (status, _, body) = publish(&mut client, HUB, Some(&writer), &[("topic", BOOK)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// --- CORS ------------------------------------------------------------------------------

fn header_values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().expect("visible ASCII").to_ascii_lowercase())
        .collect()
}

fn list_contains(headers: &HeaderMap, name: &str, item: &str) -> bool {
    header_values(headers, name)
        .iter()
        .flat_map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .any(|v| v == item)
}

/// A CORS preflight of a publication from `origin`, with `extra` request headers.
async fn preflight(client: &mut Client, origin: &str, extra: Pairs<'_>) -> Answer {
    let mut headers = vec![
        ("origin", origin),
        ("access-control-request-method", "POST"),
    ];
    headers.extend_from_slice(extra);
    send(client, "OPTIONS", HUB, &headers, "").await
}

/// A subscription to [`BOOK`] from `origin`.
async fn subscribe_from(client: &mut Client, origin: &str) -> Response<Incoming> {
    client
        .send(get_with(
            &subscribe_path(&[("match", BOOK)]),
            &[("origin", origin)],
        ))
        .await
}

#[tokio::test]
async fn cors_answers_listed_origins_with_credentials() {
    let server = mercure::start(|raw| {
        raw.mercure.cors_origins = vec!["https://app.example".into()];
    })
    .await;
    let mut client = server.h2().await;
    let (status, headers, body) = preflight(
        &mut client,
        "https://app.example",
        &[("access-control-request-headers", "authorization")],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(
        list_contains(&headers, "access-control-allow-methods", "post"),
        "{headers:?}"
    );
    assert!(
        list_contains(&headers, "access-control-allow-headers", "authorization"),
        "{headers:?}"
    );
    assert_eq!(
        header_values(&headers, "vary"),
        ["origin"],
        "Vary: origin, once"
    );

    let response = subscribe_from(&mut client, "https://app.example").await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(
        list_contains(
            &headers,
            "access-control-expose-headers",
            "mercure-last-event-id"
        ),
        "{headers:?}"
    );
    assert!(list_contains(&headers, "vary", "origin"), "{headers:?}");
    drop(response);

    // An unlisted origin gets no CORS answer at all, preflight or not.
    let (status, headers, _) = preflight(&mut client, "https://evil.example", &[]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        headers.get("access-control-allow-origin").is_none(),
        "{headers:?}"
    );
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "{headers:?}"
    );
    let response = subscribe_from(&mut client, "https://evil.example").await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        response.headers()
    );
}

#[tokio::test]
async fn cors_wildcard_allows_any_origin_without_credentials() {
    let server = mercure::start(|raw| raw.mercure.cors_origins = vec!["*".into()]).await;
    let mut client = server.h2().await;
    let (status, headers, body) = preflight(&mut client, "https://anywhere.example", &[]).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "{headers:?}"
    );

    let response = subscribe_from(&mut client, "https://anywhere.example").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none(),
        "{:?}",
        response.headers()
    );
}
