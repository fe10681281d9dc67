//! Pre-1.0 topic selectors: the `topic` parameter (refused unless `mercure.legacy` is on),
//! exact strings, RFC 6570 URI templates, the `*` wildcard, an update's alternate topics;
//! `lastEventID` and the `Last-Event-ID` header, answered in `Last-Event-ID`.

use http::StatusCode;

use super::{
    data_of, hub_query, legacy_hub, open, publish_ok, reader, refused, writer, BOOKS, BOOK_1,
    BOOK_3,
};
use crate::support::mercure::{self, assert_invalid_token, bearer, publish, HUB};

#[tokio::test]
async fn topic_parameter_is_refused_with_a_pointer_to_match_unless_legacy_is_on() {
    let server = mercure::start(|raw| raw.hub.publish_auth = "required".into()).await;
    let mut client = server.h2().await;
    let (status, _, body) = refused(&mut client, &hub_query(&[("topic", BOOK_1)]), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("`match`") && body.contains("mercure.legacy"),
        "the message names `match` and mercure.legacy: {body}"
    );
    // Nor are pre-1.0 tokens access tokens: refused for subscribing and publishing alike.
    let answer = refused(
        &mut client,
        &hub_query(&[("match", BOOK_1)]),
        &[("authorization", &bearer(&reader(&["*"])))],
    )
    .await;
    assert_invalid_token(&answer);
    let (status, _, body) = publish(&mut client, HUB, Some(&writer()), &[("topic", BOOK_1)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn exact_topics_select_their_updates_and_several_topics_add_up() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut stream = open(
        &mut client,
        &hub_query(&[("topic", "https://example.com/foo"), ("topic", "bar")]),
        &[],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", "https://example.com/other"), ("data", "other")],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", "https://example.com/foo/1"), ("data", "below")],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", "https://example.com/foo"), ("data", "foo")],
    )
    .await;
    publish_ok(&mut client, &[("topic", "bar"), ("data", "bar")]).await;
    assert_eq!(data_of(&mut stream, 2).await, ["foo", "bar"]);
}

#[tokio::test]
async fn uri_template_topics_match_their_expansions() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut books = open(&mut client, &hub_query(&[("topic", BOOKS)]), &[]).await;
    let search = "https://example.com/search{?q,lang}";
    let mut searches = open(&mut client, &hub_query(&[("topic", search)]), &[]).await;

    // `{id}` (simple expansion) takes no `/` and may be empty; the template also matches
    // itself (pre-1.0 "Topic Selectors", step 2).
    for topic in [
        "https://example.com/books/1/reviews",
        "https://example.com/books",
        BOOK_1,
        "https://example.com/books/%C3%A9t%C3%A9",
        "https://example.com/books/",
        BOOKS,
    ] {
        publish_ok(&mut client, &[("topic", topic), ("data", topic)]).await;
    }
    assert_eq!(
        data_of(&mut books, 4).await,
        [
            BOOK_1,
            "https://example.com/books/%C3%A9t%C3%A9",
            "https://example.com/books/",
            BOOKS
        ]
    );

    // `{?q,lang}` (form-style query expansion): any defined subset, in template order.
    for topic in [
        "https://example.com/search?page=2",
        "https://example.com/search?lang=fr&q=rust",
        "https://example.com/search?q=rust",
        "https://example.com/search",
        "https://example.com/search?q=sse%20hub&lang=fr",
    ] {
        publish_ok(&mut client, &[("topic", topic), ("data", topic)]).await;
    }
    assert_eq!(
        data_of(&mut searches, 3).await,
        [
            "https://example.com/search?q=rust",
            "https://example.com/search",
            "https://example.com/search?q=sse%20hub&lang=fr",
        ]
    );
}

#[tokio::test]
async fn wildcard_topic_receives_every_public_update() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut all = open(&mut client, &hub_query(&[("topic", "*")]), &[]).await;
    publish_ok(&mut client, &[("topic", BOOK_1), ("data", "one")]).await;
    publish_ok(
        &mut client,
        &[("topic", "urn:example:two"), ("data", "two")],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", BOOK_3), ("data", "private"), ("private", "on")],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", "relative/three"), ("data", "three")],
    )
    .await;
    // An anonymous `*` subscriber gets no private update (nor subscription events).
    assert_eq!(data_of(&mut all, 3).await, ["one", "two", "three"]);
}

#[tokio::test]
async fn an_update_reaches_subscribers_of_its_canonical_or_alternate_topics() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let alternate = "https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1";
    let mut canonical = open(&mut client, &hub_query(&[("topic", BOOK_1)]), &[]).await;
    let mut by_user = open(
        &mut client,
        &hub_query(&[("topic", "https://example.com/users/foo/{?topic}")]),
        &[],
    )
    .await;
    let id = publish_ok(
        &mut client,
        &[("topic", BOOK_1), ("topic", alternate), ("data", "both")],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", BOOK_1), ("data", "canonical only")],
    )
    .await;
    publish_ok(
        &mut client,
        &[
            ("topic", "https://example.com/users/foo/?topic=x"),
            ("data", "user only"),
        ],
    )
    .await;
    let first = canonical.next().await.unwrap();
    assert_eq!(
        (first.id.as_str(), first.data.as_str()),
        (id.as_str(), "both")
    );
    assert_eq!(data_of(&mut canonical, 1).await, ["canonical only"]);
    let first = by_user.next().await.unwrap();
    assert_eq!(
        (first.id.as_str(), first.data.as_str()),
        (id.as_str(), "both")
    );
    assert_eq!(data_of(&mut by_user, 1).await, ["user only"]);
}

#[tokio::test]
async fn last_event_id_parameter_and_header_resume_and_answer_last_event_id() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    for id in ["ev-1", "ev-2", "ev-3"] {
        publish_ok(&mut client, &[("topic", BOOK_1), ("data", id), ("id", id)]).await;
    }
    let ids = |events: Vec<eventsource_stream::Event>| -> Vec<String> {
        events.into_iter().map(|e| e.id).collect()
    };

    let path = hub_query(&[("topic", BOOKS), ("lastEventID", "ev-1")]);
    let mut stream = open(&mut client, &path, &[]).await;
    assert_eq!(stream.headers["last-event-id"], "ev-1");
    assert!(
        stream.headers.get("mercure-last-event-id").is_none(),
        "pre-1.0 clients read Last-Event-ID: {:?}",
        stream.headers
    );
    assert_eq!(ids(stream.take(2).await), ["ev-2", "ev-3"]);

    // The header (EventSource's, on reconnection) wins over the query parameter.
    let mut stream = open(&mut client, &path, &[("last-event-id", "ev-2")]).await;
    assert_eq!(stream.headers["last-event-id"], "ev-2");
    publish_ok(
        &mut client,
        &[("topic", BOOK_1), ("data", "ev-4"), ("id", "ev-4")],
    )
    .await;
    assert_eq!(ids(stream.take(2).await), ["ev-3", "ev-4"]);

    // An unknown id, and the reserved `earliest`: everything retained, and `earliest`.
    for cursor in ["no-such-event", "earliest"] {
        let path = hub_query(&[("topic", BOOKS), ("lastEventID", cursor)]);
        let mut stream = open(&mut client, &path, &[]).await;
        assert_eq!(stream.headers["last-event-id"], "earliest", "for {cursor}");
        assert_eq!(
            ids(stream.take(4).await),
            ["ev-1", "ev-2", "ev-3", "ev-4"],
            "for {cursor}"
        );
    }

    // No cursor, no header. A 1.0 subscription on the same hub keeps the 1.0 names.
    let stream = open(&mut client, &hub_query(&[("topic", BOOKS)]), &[]).await;
    assert!(stream.headers.get("last-event-id").is_none());
    let path = hub_query(&[("match", BOOK_1), ("last_event_id", "ev-3")]);
    let mut stream = open(&mut client, &path, &[]).await;
    assert_eq!(stream.headers["mercure-last-event-id"], "ev-3");
    assert!(stream.headers.get("last-event-id").is_none());
    assert_eq!(ids(stream.take(1).await), ["ev-4"]);
}
