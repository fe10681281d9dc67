//! Active subscriptions (draft "Active Subscriptions": "Subscription Events" and "Subscription
//! API"; the pre-1.0 documents in compatibility mode): the private `mercure` events a hub
//! publishes when a subscription opens or ends, and the web API listing the open ones.
//!
//! A watcher is a subscriber whose matchers select the subscriptions namespace. It sees its
//! own subscriptions announced too, so the readers below skip the events about the watcher's
//! own matchers. The expected topics are spelled out here by hand (percent-encoding written
//! literally), not computed with the server's encoder.
//!
//! This file holds the constants and helpers the areas share (tokens, streams, readers of
//! events, API requests); the tests are in `events`, `api` and `legacy_and_disabled`.

mod api;
mod events;
mod legacy_and_disabled;

use std::collections::BTreeMap;

use eventsource_stream::Event;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::support::{
    mercure::{
        self, all_access, answer, authorized, detail, get_with, grant, hub_url, publish_ok,
        subscribe_path, token, Answer, TTL,
    },
    Client, SseStream, TestServer,
};

/// The subscriptions namespace, as a relative URL pattern: every subscription event topic.
const WATCH: &str = "/.well-known/mercure/subscriptions/*";
/// Every subscription API URL, the collection included.
const API: &str = "/.well-known/mercure/subscriptions{/*}?";
/// The collection URL (and the prefix of every subscription topic).
const PREFIX: &str = "/.well-known/mercure/subscriptions";
/// A public topic watchers also follow, to prove what did not arrive before it.
const MARKER: &str = "https://example.com/marker";
/// An `exact` matcher with characters that need percent-encoding, `%` among them.
const ODD: &str = "https://example.com/a b%";
const ODD_ENCODED: &str = "https%3A%2F%2Fexample.com%2Fa%20b%25";
/// A `urlpattern` matcher.
const BOOKS: &str = "https://example.com/books/:id";
const BOOKS_ENCODED: &str = "https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid";

/// A 1.0 token for `server` granting `subscribe` on one selector.
fn subscribe_token(server: &TestServer, matcher: &str, match_type: &str) -> String {
    grant(server, &["subscribe"], &[(matcher, match_type)])
}

/// A token granting `subscribe` on every subscription event topic.
fn watcher_token(server: &TestServer) -> String {
    subscribe_token(server, WATCH, "urlpattern")
}

/// A `subscribe` detail carrying `payload`.
fn with_payload(selector: (&str, &str), payload: Value) -> Value {
    let mut detail = detail(&["subscribe"], &[selector]);
    detail["payload"] = payload;
    detail
}

/// The token of the subscriber whose payloads the tests check: the books pattern has its own
/// payload; `*` comes next as the default, so it masks the later detail for [`ODD`] (the
/// first matching detail wins).
fn payload_token(server: &TestServer) -> String {
    token(
        &hub_url(server),
        json!([
            with_payload((BOOKS, "urlpattern"), json!({"kind": "books"})),
            with_payload(("*", "exact"), json!({"kind": "default"})),
            with_payload((ODD, "exact"), json!({"kind": "masked"})),
        ]),
        TTL,
    )
}

/// Opens a Mercure subscription with the given query pairs and optional bearer token.
async fn open(client: &mut Client, pairs: &[(&str, &str)], bearer: Option<&str>) -> SseStream {
    mercure::open(
        client,
        authorized(get_with(&subscribe_path(pairs), &[]), bearer),
    )
    .await
}

/// Opens a watcher with [`watcher_token`]: the subscriptions namespace and the `extra` query
/// pairs (the marker topic, a cursor).
async fn open_watcher(
    server: &TestServer,
    client: &mut Client,
    extra: &[(&str, &str)],
) -> SseStream {
    let mut pairs = vec![("match_urlpattern", WATCH)];
    pairs.extend_from_slice(extra);
    open(client, &pairs, Some(&watcher_token(server))).await
}

/// Opens the subscriber whose announcements the tests check: [`ODD`] and [`BOOKS`], with
/// [`payload_token`].
async fn open_payload_subscriber(server: &TestServer, client: &mut Client) -> SseStream {
    let pairs = [("match", ODD), ("match_urlpattern", BOOKS)];
    open(client, &pairs, Some(&payload_token(server))).await
}

/// The next event that is not a subscription event about one of `own` (the watcher's own
/// matchers, compared with the 1.0 `match` or the pre-1.0 `topic` member).
async fn next_foreign(stream: &mut SseStream, own: &[&str]) -> Event {
    loop {
        let event = stream.next().await.expect("stream still open");
        let Ok(doc) = serde_json::from_str::<Value>(&event.data) else {
            return event;
        };
        let matcher = doc
            .get("match")
            .or_else(|| doc.get("topic"))
            .and_then(Value::as_str);
        if matcher.is_some_and(|m| own.contains(&m)) {
            continue;
        }
        return event;
    }
}

/// The document of a 1.0 subscription event: dispatched with the reserved `mercure` type.
fn document(event: &Event) -> Value {
    assert_eq!(event.event, "mercure", "subscription event type: {event:?}");
    assert!(!event.id.is_empty(), "subscription events have an id");
    serde_json::from_str(&event.data).expect("JSON subscription event")
}

/// The next `n` foreign subscription events, by `match`.
async fn documents_by_match(
    stream: &mut SseStream,
    own: &[&str],
    n: usize,
) -> BTreeMap<String, (Event, Value)> {
    let mut found = BTreeMap::new();
    for _ in 0..n {
        let event = next_foreign(stream, own).await;
        let doc = document(&event);
        let matcher = doc["match"].as_str().expect("match").to_owned();
        assert!(
            found.insert(matcher, (event, doc)).is_none(),
            "one event per matcher"
        );
    }
    found
}

/// A `urn:uuid:` subscriber id, percent-encoded as the draft's expansion does.
fn encoded_subscriber(subscriber: &str) -> String {
    let uuid = subscriber
        .strip_prefix("urn:uuid:")
        .unwrap_or_else(|| panic!("subscriber {subscriber} is not a urn:uuid"));
    uuid::Uuid::parse_str(uuid).expect("a UUID");
    format!("urn%3Auuid%3A{uuid}")
}

/// Publishes a public update on `topic`; returns its id.
async fn publish_public(server: &TestServer, client: &mut Client, topic: &str) -> String {
    let writer = all_access(server, &["publish"]);
    publish_ok(
        client,
        Some(&writer),
        &[("topic", topic), ("data", "marker")],
    )
    .await
}

/// Asserts the next foreign event is the public update `id` on the marker topic.
async fn assert_next_is_marker(stream: &mut SseStream, own: &[&str], id: &str) {
    let event = next_foreign(stream, own).await;
    assert_eq!(
        (event.id.as_str(), event.data.as_str()),
        (id, "marker"),
        "expected the marker, got {event:?}"
    );
}

/// Publishes a marker and asserts it is the next foreign event of `stream`: nothing else
/// came before it.
async fn assert_marker_comes_next(
    server: &TestServer,
    client: &mut Client,
    stream: &mut SseStream,
    own: &[&str],
) {
    let marker = publish_public(server, client, MARKER).await;
    assert_next_is_marker(stream, own, &marker).await;
}

/// A GET of the subscription API with an optional bearer token.
async fn api_get(client: &mut Client, path: &str, bearer: Option<&str>) -> Answer {
    answer(client, authorized(get_with(path, &[]), bearer)).await
}

/// A successful API answer's JSON body, after checking the headers every endpoint carries
/// (`content_type`, `Cache-Control: must-revalidate`, the `rel="mercure"` Link with its
/// cursor, an ETag); returns the body and the cursor.
fn api_ok(
    server: &TestServer,
    (status, headers, body): &Answer,
    content_type: &str,
) -> (Value, String) {
    assert_eq!(*status, StatusCode::OK, "{body}");
    assert_eq!(headers["content-type"], content_type);
    assert_eq!(headers["cache-control"], "must-revalidate");
    let cursor = link_cursor(server, headers);
    // RFC 9110: a strong entity-tag is DQUOTE *etagc DQUOTE, where etagc excludes space and
    // `"` (no escaping exists).
    let etag = headers["etag"].as_bytes();
    let opaque = etag
        .strip_prefix(b"\"")
        .and_then(|e| e.strip_suffix(b"\""))
        .unwrap_or_else(|| panic!("strong ETag: {etag:?}"));
    assert!(
        !opaque.is_empty()
            && opaque
                .iter()
                .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80),
        "ETag characters: {etag:?}"
    );
    (serde_json::from_str(body).expect("JSON body"), cursor)
}

/// Parses the `Link` header: `<hub URL>; rel="mercure"; last-event-id="..."; type="mercure";
/// content-type="application/json"`; returns the `last-event-id` (a quoted-string, UTF-8).
fn link_cursor(server: &TestServer, headers: &HeaderMap) -> String {
    let link = String::from_utf8(headers["link"].as_bytes().to_vec()).expect("UTF-8 Link");
    let target = format!("<{}>", hub_url(server));
    let mut rest = link
        .strip_prefix(&target)
        .unwrap_or_else(|| panic!("{link} targets the hub"));
    let mut params = BTreeMap::new();
    while let Some(after) = rest.trim_start().strip_prefix(';') {
        let (name, after) = after.split_once('=').expect("name=value");
        let after = after.strip_prefix('"').expect("quoted value");
        // RFC 9110 quoted-string: `\` escapes the next character.
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (_, '\\') => value.push(chars.next().expect("escaped char").1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        params.insert(name.trim().to_owned(), value);
        rest = &after[end + 1..];
    }
    assert!(rest.trim().is_empty(), "{link}");
    assert_eq!(
        params.get("rel").map(String::as_str),
        Some("mercure"),
        "{link}"
    );
    assert_eq!(
        params.get("type").map(String::as_str),
        Some("mercure"),
        "{link}"
    );
    assert_eq!(
        params.get("content-type").map(String::as_str),
        Some("application/json"),
        "{link}"
    );
    params
        .remove("last-event-id")
        .unwrap_or_else(|| panic!("no last-event-id in {link}"))
}

/// A collection's subscriptions, sorted by id.
fn listed(collection: &Value) -> Vec<Value> {
    let mut list = collection["subscriptions"]
        .as_array()
        .expect("subscriptions array")
        .clone();
    list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    list
}

fn sorted(mut docs: Vec<Value>) -> Vec<Value> {
    docs.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    docs
}
