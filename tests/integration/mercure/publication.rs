//! Publication (draft "Publication") and the security rules that guard it ("Server-Sent
//! Events Field Injection", "Reserved Hub Namespace", "Resource Limits"), against the real
//! server with publishing open (loopback listeners, `hub.publish_auth = "auto"`): what the
//! hub answers, and what subscribers receive.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use crate::support::{
    mercure::{self, form, publish, send, subscribe, Answer, Pairs, FORM, HUB},
    Client, TestServer,
};

/// POSTs `body` as it is to the hub, with `content_type` if given.
async fn post_raw(
    client: &mut Client,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Answer {
    let headers: Vec<(&str, &str)> = content_type
        .map(|c| ("content-type", c))
        .into_iter()
        .collect();
    send(client, "POST", HUB, &headers, body).await
}

/// Publishes `pairs` anonymously and expects a 200; returns the update's id.
async fn publish_ok(client: &mut Client, pairs: &[(&str, &str)]) -> String {
    mercure::publish_ok(client, None, pairs).await
}

/// The server the tests of this module share the shape of: the test keys, the default
/// (open on loopback) publish policy, and small limits for the 413 tests.
async fn start() -> TestServer {
    mercure::start(|raw| {
        raw.server.max_body_bytes = 16 * 1024;
        raw.mercure.max_publish_topics = 4;
    })
    .await
}

#[tokio::test]
async fn publication_answers_a_generated_urn_uuid_as_text_plain() {
    let server = start().await;
    let mut client = server.h2().await;
    let (status, headers, body) = publish(
        &mut client,
        HUB,
        None,
        &[("topic", "https://example.com/books/1"), ("data", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    let uuid = body
        .strip_prefix("urn:uuid:")
        .unwrap_or_else(|| panic!("not a urn:uuid: {body:?}"));
    uuid::Uuid::parse_str(uuid).unwrap_or_else(|e| panic!("{body:?}: {e}"));

    let (status, headers, body) = publish(
        &mut client,
        HUB,
        None,
        &[("topic", "https://example.com/books/1"), ("id", "rev-42")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(body, "rev-42", "the publisher's id is the answer");
}

#[tokio::test]
async fn delivered_event_carries_id_type_retry_and_every_line_of_data() {
    let server = start().await;
    let mut client = server.h2().await;
    let topic = "https://example.com/books/1";
    let mut stream = subscribe(&mut client, &[topic]).await;

    let id = publish_ok(
        &mut client,
        &[
            ("topic", topic),
            ("id", "urn:example:rev-7"),
            ("type", "book-updated"),
            ("retry", "2500"),
            ("data", "cr\rcrlf\r\nlf\nlast"),
        ],
    )
    .await;
    assert_eq!(id, "urn:example:rev-7");
    let event = stream.next().await.expect("the update");
    assert_eq!(event.id, "urn:example:rev-7");
    assert_eq!(event.event, "book-updated");
    assert_eq!(event.retry, Some(Duration::from_millis(2500)));
    // CR, CRLF and LF each end one `data:` line; the receiver joins them with LF.
    assert_eq!(event.data, "cr\ncrlf\nlf\nlast");

    // Without `id`, the event carries the generated id the publisher was answered with.
    let generated = publish_ok(&mut client, &[("topic", topic), ("data", "plain")]).await;
    let event = stream.next().await.expect("the second update");
    assert_eq!(
        (event.id.as_str(), event.data.as_str()),
        (generated.as_str(), "plain")
    );
    assert_eq!(event.event, "message", "no `type`: the default event type");
}

#[tokio::test]
async fn alternate_topics_reach_subscribers_of_any_topic_once() {
    let server = start().await;
    let mut client = server.h2().await;
    let canonical = "https://example.com/books/1";
    let alternate = "https://example.com/authors/9/books";
    let mut of_canonical = subscribe(&mut client, &[canonical]).await;
    let mut of_alternate = subscribe(&mut client, &[alternate]).await;
    let mut of_both = subscribe(&mut client, &[canonical, alternate]).await;

    let id = publish_ok(
        &mut client,
        &[("topic", canonical), ("topic", alternate), ("data", "both")],
    )
    .await;
    let marker = publish_ok(
        &mut client,
        &[
            ("topic", canonical),
            ("topic", alternate),
            ("data", "marker"),
        ],
    )
    .await;
    for (name, stream) in [
        ("canonical", &mut of_canonical),
        ("alternate", &mut of_alternate),
        ("both", &mut of_both),
    ] {
        let events = stream.take(2).await;
        let got: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e.id.as_str(), e.data.as_str()))
            .collect();
        assert_eq!(
            got,
            [(id.as_str(), "both"), (marker.as_str(), "marker")],
            "subscriber of {name}: the update once, then the marker"
        );
    }
}

#[tokio::test]
async fn invalid_fields_are_rejected_with_400_naming_the_field() {
    let server = start().await;
    let mut client = server.h2().await;
    let topic = "https://example.com/books/1";
    let cases: &[(&str, Pairs, &str)] = &[
        ("no topic", &[("data", "x")], "topic"),
        ("wildcard topic", &[("topic", "*")], "topic"),
        ("hub path", &[("topic", "/.well-known/mercure")], "topic"),
        (
            "subscription events",
            &[("topic", "/.well-known/mercure/subscriptions/x")],
            "topic",
        ),
        (
            "hub path on another authority",
            &[("topic", "https://other.example/.well-known/mercure/x")],
            "topic",
        ),
        (
            "percent-encoded unreserved",
            &[("topic", "/.well-known/%6Dercure/x")],
            "topic",
        ),
        (
            "dot segments inside",
            &[("topic", "/.well-known/mercure/../mercure/x")],
            "topic",
        ),
        (
            "dot segments before",
            &[("topic", "/foo/../.well-known/mercure/x")],
            "topic",
        ),
        (
            "scheme-relative",
            &[("topic", "//other.example/.well-known/mercure/x")],
            "topic",
        ),
        (
            "encoded dot segment",
            &[("topic", "/.well-known/%2e/mercure/x")],
            "topic",
        ),
        (
            "percent-encoded last letter",
            &[("topic", "/.well-known/mercur%65")],
            "topic",
        ),
        (
            "relative to the hub URL",
            &[("topic", "mercure/subscriptions/x")],
            "topic",
        ),
        (
            "reserved alternate topic",
            &[("topic", topic), ("topic", "/.well-known/mercure/x")],
            "topic",
        ),
        (
            "id starting with #",
            &[("topic", topic), ("id", "#1")],
            "id",
        ),
        ("id earliest", &[("topic", topic), ("id", "earliest")], "id"),
        (
            "id with a control character",
            &[("topic", topic), ("id", "a\u{1}b")],
            "id",
        ),
        ("id with LF", &[("topic", topic), ("id", "a\nid: b")], "id"),
        (
            "id with a format character",
            &[("topic", topic), ("id", "a\u{200B}b")],
            "id",
        ),
        (
            "type mercure",
            &[("topic", topic), ("type", "mercure")],
            "type",
        ),
        (
            "type with a control character",
            &[("topic", topic), ("type", "a\nevent: b")],
            "type",
        ),
        (
            "retry with a letter",
            &[("topic", topic), ("retry", "12a")],
            "retry",
        ),
        (
            "negative retry",
            &[("topic", topic), ("retry", "-1")],
            "retry",
        ),
    ];
    for (case, pairs, field) in cases {
        let (status, _, body) = publish(&mut client, HUB, None, pairs).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
        let named = format!("`{field}`");
        assert!(body.contains(&named), "{case}: {body:?} names {named}");
    }
    // Each rejection published nothing: a subscriber to everything only sees the marker.
    let mut all = subscribe(&mut client, &["*"]).await;
    let marker = publish_ok(&mut client, &[("topic", topic), ("data", "marker")]).await;
    let next = all.next().await.expect("the marker");
    assert_eq!(next.id, marker);
}

#[tokio::test]
async fn reserved_namespace_lookalikes_are_ordinary_topics() {
    let server = start().await;
    let mut client = server.h2().await;
    for topic in [
        "/.well-known/mercurex",
        "/.well-known/mercurex/y",
        "urn:foo",
        "https://example.com/.well-known/mercure-not",
    ] {
        let mut stream = subscribe(&mut client, &[topic]).await;
        let id = publish_ok(&mut client, &[("topic", topic), ("data", topic)]).await;
        let event = stream.next().await.expect("the update");
        assert_eq!(
            (event.id.as_str(), event.data.as_str()),
            (id.as_str(), topic)
        );
    }
}

#[tokio::test]
async fn data_that_is_not_utf8_is_rejected() {
    let server = start().await;
    let mut client = server.h2().await;
    let (status, _, body) = post_raw(&mut client, Some(FORM), "topic=urn%3Afoo&data=%FF").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("`data`"), "{body}");
    let (status, _, body) = post_raw(&mut client, Some(FORM), "topic=urn%3Afoo%C3").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("`topic`"), "{body}");
}

#[tokio::test]
async fn a_body_that_is_not_a_form_is_unsupported() {
    let server = start().await;
    let mut client = server.h2().await;
    let body = form(&[("topic", "urn:foo"), ("data", "x")]);
    for content_type in [
        Some("text/plain"),
        Some("application/json"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let (status, _, answer) = post_raw(&mut client, content_type, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {answer}"
        );
    }
    // The form type is recognized with parameters too.
    let (status, _, answer) = post_raw(
        &mut client,
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let server = start().await;
    let mut client = server.h2().await;
    let mut stream = subscribe(&mut client, &["urn:foo"]).await;
    let id = publish_ok(
        &mut client,
        &[
            ("topic", "urn:foo"),
            ("future-extension", "whatever\n\u{1}"),
            ("data", "kept"),
            ("priority", "high"),
        ],
    )
    .await;
    let event = stream.next().await.expect("the update");
    assert_eq!(
        (event.id.as_str(), event.data.as_str()),
        (id.as_str(), "kept")
    );
}

#[tokio::test]
async fn limits_are_answered_with_413() {
    let server = start().await;
    let mut client = server.h2().await;
    let topic = "urn:foo";

    // Body over server.max_body_bytes (16 KiB here).
    let big = "x".repeat(16 * 1024);
    let (status, _, body) =
        publish(&mut client, HUB, None, &[("topic", topic), ("data", &big)]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    // mercure.max_publish_topics (4 here): four pass, five do not.
    let topics = ["urn:t:1", "urn:t:2", "urn:t:3", "urn:t:4", "urn:t:5"];
    let pairs: Vec<(&str, &str)> = topics.iter().map(|t| ("topic", *t)).collect();
    publish_ok(&mut client, &pairs[..4]).await;
    let (status, _, body) = publish(&mut client, HUB, None, &pairs).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("`topic`"), "{body}");

    // A topic of 2048 bytes passes, one more byte does not.
    let long_topic = format!("urn:{}", "t".repeat(2048 - 4));
    publish_ok(&mut client, &[("topic", &long_topic)]).await;
    let too_long_topic = format!("{long_topic}t");
    let (status, _, body) = publish(&mut client, HUB, None, &[("topic", &too_long_topic)]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("`topic`"), "{body}");

    // An id of 1024 bytes passes, one more byte does not.
    let long_id = "i".repeat(1024);
    assert_eq!(
        publish_ok(&mut client, &[("topic", topic), ("id", &long_id)]).await,
        long_id
    );
    let too_long_id = format!("{long_id}i");
    let (status, _, body) = publish(
        &mut client,
        HUB,
        None,
        &[("topic", topic), ("id", &too_long_id)],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("`id`"), "{body}");
}

#[tokio::test]
async fn data_cannot_inject_sse_fields() {
    let server = start().await;
    let mut client = server.h2().await;
    let topic = "https://example.com/books/1";
    let mut stream = subscribe(&mut client, &[topic]).await;
    let forged = "\n\nid: x\nevent: y\n\ndata: z";
    let id = publish_ok(&mut client, &[("topic", topic), ("data", forged)]).await;
    let marker = publish_ok(&mut client, &[("topic", topic), ("data", "marker")]).await;

    let event = stream.next().await.expect("the update");
    assert_eq!(event.id, id, "the hub's id, not the forged one");
    assert_eq!(event.event, "message", "no forged event type");
    assert_eq!(event.data, forged, "the whole value, as one event");
    let next = stream.next().await.expect("the marker");
    assert_eq!(
        (next.id.as_str(), next.data.as_str()),
        (marker.as_str(), "marker"),
        "no second event was forged"
    );
}

#[tokio::test]
async fn a_reused_id_is_accepted() {
    let server = start().await;
    let mut client = server.h2().await;
    let topic = "https://example.com/books/1";
    let mut stream = subscribe(&mut client, &[topic]).await;
    for data in ["first", "second"] {
        let id = publish_ok(
            &mut client,
            &[("topic", topic), ("id", "same"), ("data", data)],
        )
        .await;
        assert_eq!(id, "same");
    }
    let events = stream.take(2).await;
    let got: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.id.as_str(), e.data.as_str()))
        .collect();
    assert_eq!(got, [("same", "first"), ("same", "second")]);
}
