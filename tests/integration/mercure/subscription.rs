//! The draft's "Subscription", "Matcher Types" and "Reconnection" sections against the real
//! server: matcher parameters (query and `QUERY` body) and their validation, replay cursors,
//! private updates and the token rules of subscribers, stream lifetime and stream headers.
//!
//! Absence is shown with a marker: after the update that must not arrive, a public update the
//! subscriber selects is published, and the next event received must be that marker.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;
use serde_json::json;

use crate::support::{
    mercure::{self, all_access, detail, form, get_with, hub_url, publish, subscribe_path, token},
    read_all, read_heartbeats, Client, SseStream, TestServer, PATIENCE,
};

const HUB: &str = "/.well-known/mercure";
const BOOK_1: &str = "https://example.com/books/1";
const BOOK_2: &str = "https://example.com/books/2";
const MARKER: &str = "https://example.com/marker";

/// Publishes an update (form `pairs`) with an all-access publisher token; returns its id.
async fn post(client: &mut Client, server: &TestServer, pairs: &[(&str, &str)]) -> String {
    let writer = all_access(server, &["publish"]);
    let (status, _, id) = publish(client, HUB, Some(&writer), pairs).await;
    assert_eq!(status, StatusCode::OK, "publish {pairs:?}: {id}");
    id
}

/// Publishes a public update on `topic`; returns its id.
async fn public(client: &mut Client, server: &TestServer, topic: &str, data: &str) -> String {
    post(client, server, &[("topic", topic), ("data", data)]).await
}

/// Publishes a private update on `topic`; returns its id.
async fn private(client: &mut Client, server: &TestServer, topic: &str, data: &str) -> String {
    post(
        client,
        server,
        &[("topic", topic), ("data", data), ("private", "on")],
    )
    .await
}

/// Publishes the public marker update with `data`.
async fn marker(client: &mut Client, server: &TestServer, data: &str) -> String {
    public(client, server, MARKER, data).await
}

/// Sends `req` and returns status, headers and body of a response that is not a stream.
async fn answer(client: &mut Client, req: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, String) {
    let response = client.send(req).await;
    let headers = response.headers().clone();
    let (status, body) = read_all(response).await;
    (status, headers, body)
}

/// Opens a stream with `req`, which must be answered 200.
async fn open(client: &mut Client, req: Request<Full<Bytes>>) -> SseStream {
    let uri = req.uri().clone();
    let response = client.send(req).await;
    let status = response.status();
    if status != StatusCode::OK {
        let (_, body) = read_all(response).await;
        panic!("subscribe {uri}: {status} {body}");
    }
    SseStream::new(response)
}

/// Opens a stream on the 1.0 matcher `pairs` with extra request headers.
async fn open_with(
    client: &mut Client,
    pairs: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> SseStream {
    open(client, get_with(&subscribe_path(pairs), headers)).await
}

/// The data of the next `n` events.
async fn next_data(stream: &mut SseStream, n: usize) -> Vec<String> {
    stream.take(n).await.into_iter().map(|e| e.data).collect()
}

/// A `QUERY` request to the hub: `query` (without `?`) and a body of `content_type`.
fn query_request(query: &str, body: &str, content_type: Option<&str>) -> Request<Full<Bytes>> {
    let uri = if query.is_empty() {
        HUB.to_owned()
    } else {
        format!("{HUB}?{query}")
    };
    let mut builder = Request::builder().method("QUERY").uri(uri);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request")
}

/// A 1.0 subscriber token granting `subscribe` on `topics` (`(match, match_type)`), valid
/// for ten minutes.
fn reader(server: &TestServer, topics: &[(&str, &str)]) -> String {
    token(
        &hub_url(server),
        json!([detail(&["subscribe"], topics)]),
        Duration::from_secs(600),
    )
}

/// Seconds since the epoch.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A token granting `subscribe` on everything, with the given `exp` and `typ` header.
fn token_with(server: &TestServer, exp: u64, typ: &str) -> String {
    let claims = json!({
        "iss": mercure::ISSUER,
        "aud": hub_url(server),
        "sub": "urn:uuid:00000000-0000-4000-8000-000000000002",
        "client_id": mercure::ISSUER,
        "iat": now_secs(),
        "exp": exp,
        "jti": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "authorization_details": [detail(&["subscribe"], &[("*", "exact")])],
    });
    mercure::sign(&claims, typ, mercure::SECRET)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The `error` member of a JSON error body.
fn error_message(body: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON error body: {body}"));
    json["error"].as_str().expect("error member").to_owned()
}

// Matcher types.

#[tokio::test]
async fn match_selects_its_topic_byte_for_byte() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut stream = client
        .subscribe(&subscribe_path(&[("match", BOOK_1), ("match", MARKER)]))
        .await;
    for (topic, data) in [
        ("https://example.com/Books/1", "other case"),
        ("https://example.com/books/1/", "trailing slash"),
        ("https://example.com/books/10", "prefix"),
        ("https://example.com:443/books/1", "explicit port"),
        ("https://example.com/%62ooks/1", "percent-encoded"),
        (BOOK_1, "exact"),
    ] {
        public(&mut client, &server, topic, data).await;
    }
    marker(&mut client, &server, "marker").await;
    assert_eq!(next_data(&mut stream, 2).await, ["exact", "marker"]);
}

#[tokio::test]
async fn match_exact_is_match_and_never_resolves_relative_values() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let absolute = format!("https://localhost:{}/books/1", server.addr.port());
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match_exact", "/books/1"),
            ("match_exact", MARKER),
        ]))
        .await;
    // The same resource, absolute: an exact matcher does not resolve against the hub URL.
    public(&mut client, &server, &absolute, "absolute").await;
    public(&mut client, &server, "/books/1", "relative").await;
    marker(&mut client, &server, "marker").await;
    assert_eq!(next_data(&mut stream, 2).await, ["relative", "marker"]);
}

#[tokio::test]
async fn match_urlpattern_absolute_selects_what_the_pattern_matches() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match_urlpattern", "https://example.com/books/:id"),
            ("match", MARKER),
        ]))
        .await;
    for (topic, data) in [
        ("https://example.com/books/1/reviews", "deeper"),
        ("https://example.com/authors/1", "other path"),
        ("https://example.org/books/1", "other host"),
        ("http://example.com/books/1", "other scheme"),
        ("https://example.com/BOOKS/1", "path case"),
        ("books/1", "relative to the hub, elsewhere"),
        ("https://EXAMPLE.com/books/7", "host case"),
        // Not a URL reference: never matched by a pattern.
        ("https://[example.com/books/8", "unparseable"),
        (BOOK_2, "books/2"),
    ] {
        public(&mut client, &server, topic, data).await;
    }
    marker(&mut client, &server, "marker").await;
    // Host names are case-insensitive (URL canonicalization); paths are not.
    assert_eq!(
        next_data(&mut stream, 3).await,
        ["host case", "books/2", "marker"]
    );
}

#[tokio::test]
async fn match_urlpattern_relative_resolves_against_the_hub_url() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let port = server.addr.port();
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match_urlpattern", "/books/:id"),
            ("match", MARKER),
        ]))
        .await;
    let on_hub = format!("https://localhost:{port}/books/1");
    let other_port = format!("https://localhost:{}/books/2", port.wrapping_add(1));
    for (topic, data) in [
        (on_hub.as_str(), "absolute on the hub's origin"),
        ("https://example.com/books/3", "another origin"),
        (other_port.as_str(), "another port"),
        // A relative topic is resolved against the hub URL too.
        ("/books/4", "relative topic"),
        ("/.well-known/books/5", "elsewhere on the hub"),
    ] {
        public(&mut client, &server, topic, data).await;
    }
    marker(&mut client, &server, "marker").await;
    assert_eq!(
        next_data(&mut stream, 3).await,
        ["absolute on the hub's origin", "relative topic", "marker"]
    );
}

#[tokio::test]
async fn several_matchers_on_one_stream_select_the_union() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match", "https://example.com/foo"),
            ("match_exact", "bar"),
            ("match_urlpattern", "https://example.com/bar/:id"),
            ("match", MARKER),
        ]))
        .await;
    for (topic, data) in [
        ("https://example.com/foo", "foo"),
        ("https://example.com/foo/1", "not foo"),
        ("bar", "bar"),
        ("Bar", "not bar"),
        ("https://example.com/bar/9", "bar/9"),
        ("https://example.com/bar", "not bar/:id"),
    ] {
        public(&mut client, &server, topic, data).await;
    }
    marker(&mut client, &server, "marker").await;
    assert_eq!(
        next_data(&mut stream, 4).await,
        ["foo", "bar", "bar/9", "marker"]
    );
}

#[tokio::test]
async fn wildcard_selects_every_public_update_whatever_the_matcher_type() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut bare = client.subscribe(&subscribe_path(&[("match", "*")])).await;
    // `*` is recognized before the type, and makes the stream's other matchers redundant.
    let mut typed = client
        .subscribe(&subscribe_path(&[
            ("match_urlpattern", "*"),
            ("match", BOOK_1),
        ]))
        .await;
    for (topic, data) in [
        ("anything", "opaque"),
        ("/relative", "relative"),
        (BOOK_1, "book"),
    ] {
        public(&mut client, &server, topic, data).await;
    }
    // Anonymous: `*` selects private updates too, but they are not readable.
    private(&mut client, &server, "secret", "private").await;
    marker(&mut client, &server, "marker").await;
    let expected = ["opaque", "relative", "book", "marker"];
    assert_eq!(next_data(&mut bare, 4).await, expected);
    assert_eq!(next_data(&mut typed, 4).await, expected);
}

#[tokio::test]
async fn an_update_matched_by_canonical_and_alternate_topics_arrives_once() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let alternate = "https://example.com/users/42/books/1";
    // Both topics exact (the indexed path), and exact + pattern (the scanning path).
    let mut indexed = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("match", alternate),
            ("match", MARKER),
        ]))
        .await;
    let mut scanning = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            (
                "match_urlpattern",
                "https://example.com/users/:user/books/:id",
            ),
            ("match", MARKER),
        ]))
        .await;
    // Only the alternate topic is selected: still delivered.
    let mut alternate_only = client
        .subscribe(&subscribe_path(&[("match", alternate), ("match", MARKER)]))
        .await;
    let id = post(
        &mut client,
        &server,
        &[("topic", BOOK_1), ("topic", alternate), ("data", "both")],
    )
    .await;
    marker(&mut client, &server, "marker").await;
    for stream in [&mut indexed, &mut scanning, &mut alternate_only] {
        let events = stream.take(2).await;
        assert_eq!(
            (events[0].id.as_str(), events[0].data.as_str()),
            (id.as_str(), "both")
        );
        assert_eq!(events[1].data, "marker");
    }
}

#[tokio::test]
async fn matchers_select_over_http1_too() {
    let server = mercure::start(|_| {}).await;
    let mut subscriber = server.http1().await;
    let mut publisher = server.http1().await;
    let mut stream = subscriber
        .subscribe(&subscribe_path(&[
            ("match_urlpattern", "https://example.com/books/:id"),
            ("match", MARKER),
        ]))
        .await;
    public(
        &mut publisher,
        &server,
        "https://example.com/authors/1",
        "no",
    )
    .await;
    public(&mut publisher, &server, BOOK_2, "yes").await;
    marker(&mut publisher, &server, "marker").await;
    assert_eq!(next_data(&mut stream, 2).await, ["yes", "marker"]);
}

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

// Reconnection.

#[tokio::test]
async fn last_event_id_parameter_resumes_right_after_the_named_update() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let first = public(&mut client, &server, BOOK_1, "one").await;
    public(&mut client, &server, BOOK_2, "other topic").await;
    let second = public(&mut client, &server, BOOK_1, "two").await;
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("last_event_id", &first),
        ]))
        .await;
    assert_eq!(stream.headers["mercure-last-event-id"], first.as_str());
    let third = public(&mut client, &server, BOOK_1, "three").await;
    let events = stream.take(2).await;
    assert_eq!(
        events
            .iter()
            .map(|e| (e.id.as_str(), e.data.as_str()))
            .collect::<Vec<_>>(),
        [(second.as_str(), "two"), (third.as_str(), "three")]
    );
}

#[tokio::test]
async fn last_event_id_header_wins_over_the_parameter() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let first = public(&mut client, &server, BOOK_1, "one").await;
    let second = public(&mut client, &server, BOOK_1, "two").await;
    public(&mut client, &server, BOOK_1, "three").await;
    let mut stream = open_with(
        &mut client,
        &[("match", BOOK_1), ("last_event_id", &first)],
        &[("last-event-id", &second)],
    )
    .await;
    assert_eq!(stream.headers["mercure-last-event-id"], second.as_str());
    assert_eq!(next_data(&mut stream, 1).await, ["three"]);
    // The header alone works too.
    let mut header_only = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[("last-event-id", &first)],
    )
    .await;
    assert_eq!(header_only.headers["mercure-last-event-id"], first.as_str());
    assert_eq!(next_data(&mut header_only, 2).await, ["two", "three"]);
}

#[tokio::test]
async fn earliest_replays_every_retained_update_of_the_selected_topics() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    public(&mut client, &server, BOOK_1, "one").await;
    public(&mut client, &server, "https://example.com/other", "other").await;
    public(&mut client, &server, BOOK_2, "two").await;
    post(
        &mut client,
        &server,
        &[("topic", "x"), ("topic", BOOK_1), ("data", "alternate")],
    )
    .await;
    let mut by_param = client
        .subscribe(&subscribe_path(&[
            ("match_urlpattern", "https://example.com/books/:id"),
            ("last_event_id", "earliest"),
        ]))
        .await;
    assert_eq!(by_param.headers["mercure-last-event-id"], "earliest");
    let mut by_header = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[("last-event-id", "earliest")],
    )
    .await;
    assert_eq!(by_header.headers["mercure-last-event-id"], "earliest");
    public(&mut client, &server, BOOK_1, "live").await;
    assert_eq!(
        next_data(&mut by_param, 4).await,
        ["one", "two", "alternate", "live"]
    );
    assert_eq!(
        next_data(&mut by_header, 3).await,
        ["one", "alternate", "live"]
    );
}

#[tokio::test]
async fn unknown_id_replays_what_is_retained_and_reports_earliest() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    // Nothing retained yet: `earliest`, and nothing replayed.
    let mut empty = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("last_event_id", "urn:uuid:unknown"),
        ]))
        .await;
    assert_eq!(empty.headers["mercure-last-event-id"], "earliest");
    public(&mut client, &server, BOOK_1, "one").await;
    public(&mut client, &server, BOOK_1, "two").await;
    assert_eq!(next_data(&mut empty, 2).await, ["one", "two"]);

    for unknown in ["urn:uuid:00000000-0000-4000-8000-000000000000", "17", "#0"] {
        let mut stream = client
            .subscribe(&subscribe_path(&[
                ("match", BOOK_1),
                ("last_event_id", unknown),
            ]))
            .await;
        assert_eq!(
            stream.headers["mercure-last-event-id"], "earliest",
            "{unknown}"
        );
        assert_eq!(next_data(&mut stream, 2).await, ["one", "two"], "{unknown}");
    }
}

#[tokio::test]
async fn a_discarded_id_replays_what_is_retained_and_reports_earliest() {
    let server = mercure::start(|raw| {
        raw.hub.history_max_events = 2;
        raw.mercure.subscriptions = false;
    })
    .await;
    let mut client = server.h2().await;
    let first = public(&mut client, &server, BOOK_1, "one").await;
    public(&mut client, &server, BOOK_1, "two").await;
    public(&mut client, &server, BOOK_1, "three").await;
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("last_event_id", &first),
        ]))
        .await;
    assert_eq!(stream.headers["mercure-last-event-id"], "earliest");
    assert_eq!(next_data(&mut stream, 2).await, ["two", "three"]);
}

#[tokio::test]
async fn without_a_cursor_nothing_is_replayed_and_no_cursor_field_is_sent() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    public(&mut client, &server, BOOK_1, "old").await;
    let mut stream = client
        .subscribe(&subscribe_path(&[("match", BOOK_1)]))
        .await;
    assert!(stream.headers.get("mercure-last-event-id").is_none());
    assert!(stream.headers.get("last-event-id").is_none());
    // An empty cursor is no cursor.
    let mut empty = open_with(
        &mut client,
        &[("match", BOOK_1), ("last_event_id", "")],
        &[],
    )
    .await;
    assert!(empty.headers.get("mercure-last-event-id").is_none());
    public(&mut client, &server, BOOK_1, "new").await;
    assert_eq!(next_data(&mut stream, 1).await, ["new"]);
    assert_eq!(next_data(&mut empty, 1).await, ["new"]);
}

#[tokio::test]
async fn publisher_chosen_ids_are_the_events_ids_and_cursors() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let ids = [
        "https://example.com/books/1#v1",
        "42",
        "livre-\u{e9}t\u{e9}",
        "urn:example:v3",
    ];
    for (i, id) in ids.iter().enumerate() {
        let data = format!("v{i}");
        let answered = post(
            &mut client,
            &server,
            &[("topic", BOOK_1), ("id", id), ("data", &data)],
        )
        .await;
        assert_eq!(&answered, id);
    }
    let mut all = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("last_event_id", "earliest"),
        ]))
        .await;
    let replayed: Vec<String> = all.take(4).await.into_iter().map(|e| e.id).collect();
    assert_eq!(replayed, ids);
    for (i, id) in ids.iter().enumerate() {
        let mut stream = client
            .subscribe(&subscribe_path(&[("match", BOOK_1), ("last_event_id", id)]))
            .await;
        assert_eq!(
            stream
                .headers
                .get("mercure-last-event-id")
                .map(|v| v.as_bytes()),
            Some(id.as_bytes()),
            "cursor field for {id}"
        );
        if i + 1 < ids.len() {
            assert_eq!(stream.next().await.unwrap().id, ids[i + 1], "after {id}");
        }
    }
}

#[tokio::test]
async fn a_reused_id_resumes_after_its_earliest_update_and_replays_the_later_one() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    post(
        &mut client,
        &server,
        &[("topic", BOOK_1), ("id", "dup"), ("data", "first dup")],
    )
    .await;
    public(&mut client, &server, BOOK_1, "between").await;
    post(
        &mut client,
        &server,
        &[("topic", BOOK_1), ("id", "dup"), ("data", "second dup")],
    )
    .await;
    public(&mut client, &server, BOOK_1, "after").await;
    let mut stream = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[("last-event-id", "dup")],
    )
    .await;
    assert_eq!(stream.headers["mercure-last-event-id"], "dup");
    let events = stream.take(3).await;
    assert_eq!(
        events
            .iter()
            .map(|e| (e.id.as_str(), e.data.as_str()))
            .collect::<Vec<_>>()[1],
        ("dup", "second dup")
    );
    assert_eq!(
        events.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
        ["between", "second dup", "after"]
    );
}

// Private updates.

#[tokio::test]
async fn anonymous_subscribers_never_get_private_updates_live_or_replayed() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut live = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("match", "*"),
            ("match", MARKER),
        ]))
        .await;
    private(&mut client, &server, BOOK_1, "private").await;
    marker(&mut client, &server, "marker").await;
    assert_eq!(next_data(&mut live, 1).await, ["marker"]);
    let mut replay = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("match", MARKER),
            ("last_event_id", "earliest"),
        ]))
        .await;
    assert_eq!(next_data(&mut replay, 1).await, ["marker"]);
}

#[tokio::test]
async fn a_subscribe_grant_on_an_alternate_topic_delivers_a_private_update() {
    // The draft's example: a token for its own namespace, routing on all books.
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let own = reader(&server, &[("https://example.com/users/42/*", "urlpattern")]);
    let mut stream = open_with(
        &mut client,
        &[
            ("match_urlpattern", "https://example.com/books/:id"),
            ("match", MARKER),
        ],
        &[("authorization", &bearer(&own))],
    )
    .await;
    let mine = post(
        &mut client,
        &server,
        &[
            ("topic", BOOK_1),
            ("topic", "https://example.com/users/42/books/1"),
            ("data", "for 42"),
            ("private", "on"),
        ],
    )
    .await;
    post(
        &mut client,
        &server,
        &[
            ("topic", BOOK_2),
            ("topic", "https://example.com/users/43/books/2"),
            ("data", "for 43"),
            ("private", "on"),
        ],
    )
    .await;
    marker(&mut client, &server, "marker").await;
    let events = stream.take(2).await;
    assert_eq!(
        (events[0].id.as_str(), events[0].data.as_str()),
        (mine.as_str(), "for 42")
    );
    assert_eq!(events[1].data, "marker");

    // Canonical grant: a subscriber routing on users/42/* with the same token.
    let mut own_topics = open_with(
        &mut client,
        &[("match_urlpattern", "https://example.com/users/42/*")],
        &[("authorization", &bearer(&own))],
    )
    .await;
    private(
        &mut client,
        &server,
        "https://example.com/users/42/books/4",
        "private own",
    )
    .await;
    assert_eq!(next_data(&mut own_topics, 1).await, ["private own"]);
}

#[tokio::test]
async fn routing_matchers_never_widen_access_to_private_updates() {
    // The draft's example: routing on all books, a token for books 1 and 7.
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let books = reader(
        &server,
        &[(BOOK_1, "exact"), ("https://example.com/books/7", "exact")],
    );
    let mut stream = open_with(
        &mut client,
        &[
            ("match_urlpattern", "https://example.com/books/:id"),
            ("match", MARKER),
        ],
        &[("authorization", &bearer(&books))],
    )
    .await;
    // The token grants everything, but the routing matcher selects only book 1.
    let everything = reader(&server, &[("*", "exact")]);
    let mut narrow = open_with(
        &mut client,
        &[("match", BOOK_1), ("match", MARKER)],
        &[("authorization", &bearer(&everything))],
    )
    .await;
    private(&mut client, &server, BOOK_2, "book 2").await;
    private(&mut client, &server, BOOK_1, "book 1").await;
    marker(&mut client, &server, "marker").await;
    assert_eq!(next_data(&mut stream, 2).await, ["book 1", "marker"]);
    assert_eq!(next_data(&mut narrow, 2).await, ["book 1", "marker"]);
}

#[tokio::test]
async fn replay_applies_the_private_update_rule_of_live_delivery() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    private(&mut client, &server, BOOK_2, "book 2").await;
    post(
        &mut client,
        &server,
        &[
            ("topic", "https://example.com/books/3"),
            ("topic", "https://example.com/users/42/books/3"),
            ("data", "book 3 for 42"),
            ("private", "on"),
        ],
    )
    .await;
    private(&mut client, &server, BOOK_1, "book 1").await;
    public(&mut client, &server, BOOK_2, "public 2").await;
    let granted = reader(
        &server,
        &[
            (BOOK_1, "exact"),
            ("https://example.com/users/42/*", "urlpattern"),
        ],
    );
    let mut replay = open_with(
        &mut client,
        &[("match_urlpattern", "https://example.com/books/:id")],
        &[
            ("authorization", &bearer(&granted)),
            ("last-event-id", "earliest"),
        ],
    )
    .await;
    assert_eq!(
        next_data(&mut replay, 3).await,
        ["book 3 for 42", "book 1", "public 2"]
    );
    // With the same cursor, no token: the public update only.
    let mut anonymous = open_with(
        &mut client,
        &[("match_urlpattern", "https://example.com/books/:id")],
        &[("last-event-id", "earliest")],
    )
    .await;
    assert_eq!(next_data(&mut anonymous, 1).await, ["public 2"]);
}

// Tokens.

async fn start_closed() -> TestServer {
    mercure::start(|raw| raw.mercure.anonymous = false).await
}

fn metadata_url(server: &TestServer) -> String {
    format!(
        "https://localhost:{}/.well-known/oauth-protected-resource/.well-known/mercure",
        server.addr.port()
    )
}

#[tokio::test]
async fn without_anonymous_access_no_token_is_401_with_a_challenge_without_error_code() {
    let server = start_closed().await;
    let mut client = server.h2().await;
    let (status, headers, body) = answer(
        &mut client,
        get_with(&subscribe_path(&[("match", BOOK_1)]), &[]),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        headers["www-authenticate"],
        format!(
            "Bearer realm=\"mercure\", resource_metadata=\"{}\"",
            metadata_url(&server)
        )
        .as_str()
    );
}

#[tokio::test]
async fn without_anonymous_access_a_bad_token_is_401_invalid_token() {
    let server = start_closed().await;
    let mut client = server.h2().await;
    // Past `exp` by more than the 30 s leeway.
    let expired = token_with(&server, now_secs() - 120, "at+jwt");
    // A plain JWT is not an access token.
    let not_at_jwt = token_with(&server, now_secs() + 600, "JWT");
    let wrong_audience = token(
        "https://elsewhere.example/.well-known/mercure",
        json!([detail(&["subscribe"], &[("*", "exact")])]),
        Duration::from_secs(600),
    );
    let bad_signature = {
        let good = all_access(&server, &["subscribe"]);
        let (rest, signature) = good.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        format!("{rest}.{flipped}{}", &signature[1..])
    };
    for (what, bad) in [
        ("expired", expired),
        ("typ JWT", not_at_jwt),
        ("wrong audience", wrong_audience),
        ("bad signature", bad_signature),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        for (name, value) in [
            ("authorization", bearer(&bad)),
            ("cookie", format!("__Secure-mercure_access_token={bad}")),
        ] {
            let (status, headers, body) = answer(
                &mut client,
                get_with(&subscribe_path(&[("match", BOOK_1)]), &[(name, &value)]),
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} in {name}: {body}");
            let challenge = headers["www-authenticate"].to_str().unwrap();
            assert!(
                challenge.starts_with("Bearer realm=\"mercure\""),
                "{challenge}"
            );
            assert!(
                challenge.contains("error=\"invalid_token\""),
                "{what}: {challenge}"
            );
            assert!(
                challenge.contains(&format!("resource_metadata=\"{}\"", metadata_url(&server))),
                "{challenge}"
            );
        }
    }
}

#[tokio::test]
async fn without_anonymous_access_a_token_in_the_cookie_is_accepted() {
    let server = start_closed().await;
    let mut client = server.h2().await;
    let reader = all_access(&server, &["subscribe"]);
    let mut stream = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[(
            "cookie",
            &format!("theme=dark; __Secure-mercure_access_token={reader}"),
        )],
    )
    .await;
    private(&mut client, &server, BOOK_1, "private").await;
    assert_eq!(next_data(&mut stream, 1).await, ["private"]);
}

#[tokio::test]
async fn an_authorization_header_wins_over_the_cookie() {
    let server = start_closed().await;
    let mut client = server.h2().await;
    let good = all_access(&server, &["subscribe"]);
    let cookie = "__Secure-mercure_access_token=not.a.jwt";
    let mut stream = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[("cookie", cookie), ("authorization", &bearer(&good))],
    )
    .await;
    private(&mut client, &server, BOOK_1, "private").await;
    assert_eq!(next_data(&mut stream, 1).await, ["private"]);
    // And a bad header is not rescued by a good cookie.
    let (status, headers, _) = answer(
        &mut client,
        get_with(
            &subscribe_path(&[("match", BOOK_1)]),
            &[
                ("cookie", &format!("__Secure-mercure_access_token={good}")),
                ("authorization", "Bearer not.a.jwt"),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
}

#[tokio::test]
async fn tokens_in_the_url_are_not_accepted() {
    let server = start_closed().await;
    let mut client = server.h2().await;
    let good = all_access(&server, &["subscribe"]);
    for parameter in ["access_token", "authorization"] {
        let path = subscribe_path(&[("match", BOOK_1), (parameter, &good)]);
        let (status, headers, body) = answer(&mut client, get_with(&path, &[])).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{parameter}: {body}");
        // As if no token was presented at all.
        assert!(!headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error="));
    }
    // With anonymous access on, a URL token does not unlock private updates either.
    let open_server = mercure::start(|_| {}).await;
    let mut client = open_server.h2().await;
    let good = all_access(&open_server, &["subscribe"]);
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("match", MARKER),
            ("access_token", &good),
            ("authorization", &good),
        ]))
        .await;
    private(&mut client, &open_server, BOOK_1, "private").await;
    marker(&mut client, &open_server, "marker").await;
    assert_eq!(next_data(&mut stream, 1).await, ["marker"]);
}

// Stream lifetime.

/// Waits for `stream` to end; returns when it did. Panics if an event arrives instead.
async fn ended(stream: &mut SseStream) -> Instant {
    let event = stream.next().await;
    assert!(
        event.is_none(),
        "the stream ends rather than sending {event:?}"
    );
    Instant::now()
}

#[tokio::test]
async fn a_subscriber_stream_ends_by_its_token_exp() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let exp = now_secs() + 2;
    let short = token_with(&server, exp, "at+jwt");
    let exp = UNIX_EPOCH + Duration::from_secs(exp);
    let started = Instant::now();
    let mut stream = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[("authorization", &bearer(&short))],
    )
    .await;
    private(&mut client, &server, BOOK_1, "private").await;
    assert_eq!(next_data(&mut stream, 1).await, ["private"]);
    let end = ended(&mut stream).await;
    let late = SystemTime::now()
        .duration_since(exp)
        .unwrap_or(Duration::ZERO);
    // No later than `exp`, give or take the timer's and the scheduler's slack.
    assert!(late < Duration::from_secs(1), "ended {late:?} after exp");
    assert!(end.duration_since(started) < Duration::from_secs(4));
    // The connection is still usable.
    let mut again = client
        .subscribe(&subscribe_path(&[("match", BOOK_1)]))
        .await;
    public(&mut client, &server, BOOK_1, "public").await;
    assert_eq!(next_data(&mut again, 1).await, ["public"]);
}

#[tokio::test]
async fn max_connection_secs_ends_an_anonymous_stream() {
    let server = mercure::start(|raw| raw.mercure.max_connection_secs = 1.0).await;
    let mut client = server.h2().await;
    let started = Instant::now();
    let mut stream = client
        .subscribe(&subscribe_path(&[("match", BOOK_1)]))
        .await;
    public(&mut client, &server, BOOK_1, "live").await;
    assert_eq!(next_data(&mut stream, 1).await, ["live"]);
    let lifetime = ended(&mut stream).await.duration_since(started);
    assert!(lifetime >= Duration::from_millis(900), "{lifetime:?}");
    assert!(lifetime < Duration::from_secs(3), "{lifetime:?}");
    // The token's `exp` being later does not extend it.
    let long = reader(&server, &[("*", "exact")]);
    let started = Instant::now();
    let mut with_token = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[("authorization", &bearer(&long))],
    )
    .await;
    let lifetime = ended(&mut with_token).await.duration_since(started);
    assert!(lifetime < Duration::from_secs(3), "{lifetime:?}");
}

// Stream headers and keep-alive.

#[tokio::test]
async fn streams_are_uncached_event_streams_with_heartbeats() {
    let server = mercure::start(|raw| raw.hub.heartbeat_interval_secs = 0.2).await;
    for mut client in [server.h2().await, server.http1().await] {
        let response = client.get(&subscribe_path(&[("match", BOOK_1)])).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers["content-type"], "text/event-stream");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(headers.get("connection").is_none());
        let mut body = response.into_body();
        let started = Instant::now();
        let seen = tokio::time::timeout(PATIENCE, read_heartbeats(&mut body, 3))
            .await
            .expect("heartbeats in time");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        // Nothing but comments on an idle stream.
        assert!(
            seen[..]
                .split(|&b| b == b'\n')
                .all(|line| line.is_empty() || line.starts_with(b":")),
            "{:?}",
            String::from_utf8_lossy(&seen)
        );
    }
}
