//! What protects browsers: publications borne by a cookie need a trusted origin (the CSRF rule
//! of "Security Considerations"), and CORS answers listed origins with credentials and the
//! wildcard without.

use http::{HeaderMap, StatusCode};

use super::{publish_with, send, start_required, Pairs, BOOK, COOKIE, HUB};
use crate::support::mercure::{self, all_access, get_with, publish, subscribe_path};

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
        let (status, _, body) = publish_with(&mut client, &headers, &[("topic", BOOK)]).await;
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

#[tokio::test]
async fn cors_answers_listed_origins_with_credentials() {
    let server = mercure::start(|raw| {
        raw.mercure.cors_origins = vec!["https://app.example".into()];
    })
    .await;
    let mut client = server.h2().await;
    let (status, headers, body) = send(
        &mut client,
        "OPTIONS",
        HUB,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization"),
        ],
        "",
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

    let response = client
        .send(get_with(
            &subscribe_path(&[("match", BOOK)]),
            &[("origin", "https://app.example")],
        ))
        .await;
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
    let (status, headers, _) = send(
        &mut client,
        "OPTIONS",
        HUB,
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "POST"),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        headers.get("access-control-allow-origin").is_none(),
        "{headers:?}"
    );
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "{headers:?}"
    );
    let response = client
        .send(get_with(
            &subscribe_path(&[("match", BOOK)]),
            &[("origin", "https://evil.example")],
        ))
        .await;
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
    let (status, headers, body) = send(
        &mut client,
        "OPTIONS",
        HUB,
        &[
            ("origin", "https://anywhere.example"),
            ("access-control-request-method", "POST"),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "{headers:?}"
    );

    let response = client
        .send(get_with(
            &subscribe_path(&[("match", BOOK)]),
            &[("origin", "https://anywhere.example")],
        ))
        .await;
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
