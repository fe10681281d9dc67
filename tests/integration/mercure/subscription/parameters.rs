//! The matcher parameters themselves: their names (case-sensitive, the `match` prefix
//! reserved), a missing or invalid matcher, count and length limits, and the `QUERY` method,
//! which takes them from a form body as well as from the query string.

use http::StatusCode;

use super::{error_message, next_data, post, public, query_request, BOOK_1, BOOK_2};
use crate::support::mercure::{self, answer, form, get_with, open, subscribe_path, HUB};

// Parameter validation.

#[tokio::test]
async fn matcher_parameter_names_are_case_sensitive_and_the_match_prefix_is_reserved() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    for name in [
        "Match",
        "MATCH_EXACT",
        "match_regex",
        "matchfoo",
        "match_URLPATTERN",
    ] {
        let path = format!("{}&{name}=x", subscribe_path(&[("match", BOOK_1)]));
        let (status, headers, body) = answer(&mut client, get_with(&path, &[])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert!(
            error_message(&body).contains(&format!("`{name}`")),
            "the error names `{name}`: {body}"
        );
        // Malformed independently of any token: no Bearer challenge needed, none sent.
        assert!(headers.get("www-authenticate").is_none(), "{name}");
    }
    // Outside the reserved namespace, unknown parameters are ignored.
    let mut stream = client
        .subscribe(&format!(
            "{}&foo=1&mat=2",
            subscribe_path(&[("match", BOOK_1)])
        ))
        .await;
    public(&mut client, &server, BOOK_1, "ok").await;
    assert_eq!(next_data(&mut stream, 1).await, ["ok"]);
}

#[tokio::test]
async fn a_subscription_without_matcher_is_rejected() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    for path in [
        HUB.to_owned(),
        format!("{HUB}?foo=1"),
        format!("{HUB}?last_event_id=earliest"),
        // The pre-1.0 parameter, with compatibility off.
        format!("{HUB}?topic=x"),
    ] {
        let (status, _, body) = answer(&mut client, get_with(&path, &[])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(
            error_message(&body).contains("no topic matcher"),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn invalid_matcher_values_are_rejected_naming_the_culprit() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let cases = [
        (
            "match_urlpattern=https%3A%2F%2Fexample.com%2F%3Aid%28",
            "https://example.com/:id(",
        ),
        (
            "match_urlpattern=https%3A%2F%2Fexample.com%2F%3Aid%28",
            "not a valid URL pattern",
        ),
        ("match=a%01b", "U+0001"),
        ("match_exact=a%C2%85b", "U+0085"),
        ("match=a%7Fb", "U+007F"),
        ("match=a%E2%80%8Bb", "U+200B"),
        (
            "match_urlpattern=https%3A%2F%2Fexample.com%2F%E2%80%AE",
            "U+202E",
        ),
        ("match=%FF", "not UTF-8"),
        ("match=", "empty"),
        ("match", "empty"),
        ("last_event_id=%FF", "not valid UTF-8"),
    ];
    for (query, culprit) in cases {
        let path = format!("{HUB}?match=ok&{query}");
        let (status, _, body) = answer(&mut client, get_with(&path, &[])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let message = error_message(&body);
        let parameter = query.split('=').next().unwrap();
        assert!(
            message.contains(culprit) && message.contains(&format!("`{parameter}`")),
            "{query}: the error names `{parameter}` and {culprit:?}: {message}"
        );
    }
}

#[tokio::test]
async fn matcher_count_and_length_limits_answer_400_past_the_limit() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let topics: Vec<String> = (0..129)
        .map(|i| format!("https://example.com/t/{i}"))
        .collect();
    let pairs = |n: usize| -> Vec<(&str, &str)> {
        topics[..n].iter().map(|t| ("match", t.as_str())).collect()
    };
    let mut at_limit = client.subscribe(&subscribe_path(&pairs(128))).await;
    let (status, _, body) = answer(&mut client, get_with(&subscribe_path(&pairs(129)), &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        error_message(&body).contains("more than 128 topic matchers"),
        "{body}"
    );
    // The count is of the whole request: a QUERY body adds to the query's matchers.
    let query = form(&pairs(64));
    let body_text = form(&pairs(129)[64..]);
    let req = query_request(
        &query,
        &body_text,
        Some("application/x-www-form-urlencoded"),
    );
    let (status, _, body) = answer(&mut client, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_message(&body).contains("more than 128"), "{body}");

    let longest = format!("https://example.com/{}", "a".repeat(2048 - 20));
    assert_eq!(longest.len(), 2048);
    let mut long_stream = client
        .subscribe(&subscribe_path(&[("match", &longest)]))
        .await;
    let too_long = format!("{longest}b");
    let (status, _, body) = answer(
        &mut client,
        get_with(&subscribe_path(&[("match_exact", &too_long)]), &[]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = error_message(&body);
    assert!(
        message.contains("`match_exact`") && message.contains("2049 bytes"),
        "{message}"
    );
    // The streams at the limits work.
    post(
        &mut client,
        &server,
        &[("topic", &topics[127]), ("data", "128th")],
    )
    .await;
    public(&mut client, &server, &longest, "long").await;
    assert_eq!(next_data(&mut at_limit, 1).await, ["128th"]);
    assert_eq!(next_data(&mut long_stream, 1).await, ["long"]);
}

// QUERY.

#[tokio::test]
async fn query_method_takes_matchers_from_the_body_and_the_query_string() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut from_body = open(
        &mut client,
        query_request(
            "",
            &form(&[
                ("match", BOOK_1),
                ("match_urlpattern", "https://example.com/authors/:id"),
            ]),
            Some("application/x-www-form-urlencoded; charset=utf-8"),
        ),
    )
    .await;
    let mut union = open(
        &mut client,
        query_request(
            &form(&[("match", BOOK_1)]),
            &form(&[("match", BOOK_2)]),
            Some("application/x-www-form-urlencoded"),
        ),
    )
    .await;
    assert_eq!(union.headers["content-type"], "text/event-stream");
    post(
        &mut client,
        &server,
        &[
            ("topic", "https://example.com/authors/3"),
            ("data", "author"),
        ],
    )
    .await;
    public(&mut client, &server, BOOK_2, "book 2").await;
    public(&mut client, &server, BOOK_1, "book 1").await;
    assert_eq!(next_data(&mut from_body, 2).await, ["author", "book 1"]);
    assert_eq!(next_data(&mut union, 2).await, ["book 2", "book 1"]);

    // The reserved-namespace rule and the value constraints apply to the body alike.
    for body in ["Match=x", "match=a%01b", "match_regex=x"] {
        let req = query_request(
            &form(&[("match", BOOK_1)]),
            body,
            Some("application/x-www-form-urlencoded"),
        );
        let (status, _, text) = answer(&mut client, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {text}");
    }
}

#[tokio::test]
async fn query_method_cursor_from_the_query_string_wins_over_the_body() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let first = public(&mut client, &server, BOOK_1, "one").await;
    let second = public(&mut client, &server, BOOK_1, "two").await;
    public(&mut client, &server, BOOK_1, "three").await;

    let mut both = open(
        &mut client,
        query_request(
            &form(&[("last_event_id", &second)]),
            &form(&[("match", BOOK_1), ("last_event_id", &first)]),
            Some("application/x-www-form-urlencoded"),
        ),
    )
    .await;
    assert_eq!(both.headers["mercure-last-event-id"], second.as_str());
    assert_eq!(next_data(&mut both, 1).await, ["three"]);

    // A cursor only in the body is used.
    let mut body_only = open(
        &mut client,
        query_request(
            "",
            &form(&[("match", BOOK_1), ("last_event_id", &first)]),
            Some("application/x-www-form-urlencoded"),
        ),
    )
    .await;
    assert_eq!(body_only.headers["mercure-last-event-id"], first.as_str());
    assert_eq!(next_data(&mut body_only, 2).await, ["two", "three"]);

    // And the Last-Event-ID header wins over either.
    let mut req = query_request(
        &form(&[("last_event_id", &first)]),
        &form(&[("match", BOOK_1), ("last_event_id", &first)]),
        Some("application/x-www-form-urlencoded"),
    );
    req.headers_mut()
        .insert("last-event-id", second.parse().unwrap());
    let mut header = open(&mut client, req).await;
    assert_eq!(header.headers["mercure-last-event-id"], second.as_str());
    assert_eq!(next_data(&mut header, 1).await, ["three"]);
}

#[tokio::test]
async fn query_method_with_another_content_type_is_415() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let body = form(&[("match", BOOK_1)]);
    for content_type in [
        Some("text/plain"),
        Some("application/json"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let req = query_request("", &body, content_type);
        let (status, _, text) = answer(&mut client, req).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {text}"
        );
        assert!(text.contains("application/x-www-form-urlencoded"), "{text}");
    }
}
