//! Active subscriptions (draft "Active Subscriptions": "Subscription Events" and "Subscription
//! API"; the pre-1.0 documents in compatibility mode): the private `mercure` events a hub
//! publishes when a subscription opens or ends, and the web API listing the open ones.
//!
//! A watcher is a subscriber whose matchers select the subscriptions namespace. It sees its
//! own subscriptions announced too, so the readers below skip the events about the watcher's
//! own matchers. The expected topics are spelled out here by hand (percent-encoding written
//! literally), not computed with the server's encoder.

use std::{collections::BTreeMap, time::Duration};

use eventsource_stream::Event;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::support::{
    mercure::{self, all_access, detail, get_with, hub_url, legacy_token, publish, token},
    read_all, Client, SseStream, TestServer,
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

fn ttl() -> Duration {
    Duration::from_secs(600)
}

/// A 1.0 token for `server` granting `subscribe` on one selector.
fn subscribe_token(server: &TestServer, matcher: &str, match_type: &str) -> String {
    token(
        &hub_url(server),
        json!([detail(&["subscribe"], &[(matcher, match_type)])]),
        ttl(),
    )
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
        ttl(),
    )
}

/// Opens a Mercure subscription with the given query pairs and optional bearer token.
async fn open(client: &mut Client, pairs: &[(&str, &str)], bearer: Option<&str>) -> SseStream {
    let path = mercure::subscribe_path(pairs);
    let bearer = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    let response = client.send(get_with(&path, &headers)).await;
    assert_eq!(response.status(), StatusCode::OK, "subscribe {path}");
    SseStream::new(response)
}

/// A pre-1.0 subscription (`topic` selectors) with a bearer token.
async fn open_legacy(client: &mut Client, topics: &[&str], token: &str) -> SseStream {
    let pairs: Vec<(&str, &str)> = topics.iter().map(|t| ("topic", *t)).collect();
    let path = format!("/.well-known/mercure?{}", mercure::form(&pairs));
    let bearer = format!("Bearer {token}");
    let response = client
        .send(get_with(&path, &[("authorization", &bearer)]))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "subscribe {path}");
    SseStream::new(response)
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
    let (status, _, id) = publish(
        client,
        "/.well-known/mercure",
        Some(&writer),
        &[("topic", topic), ("data", "marker")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{id}");
    id
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

/// A GET of the subscription API with an optional bearer token.
async fn api_get(
    client: &mut Client,
    path: &str,
    bearer: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let bearer = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    let response = client.send(get_with(path, &headers)).await;
    let headers = response.headers().clone();
    let (status, body) = read_all(response).await;
    (status, headers, body)
}

/// A successful API answer's JSON body, after checking the headers every endpoint carries
/// (`content_type`, `Cache-Control: must-revalidate`, the `rel="mercure"` Link with its
/// cursor, an ETag); returns the body and the cursor.
fn api_ok(
    server: &TestServer,
    (status, headers, body): &(StatusCode, HeaderMap, String),
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

#[tokio::test]
async fn each_matcher_of_a_connection_is_announced_with_its_token_payload() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let own = [WATCH, MARKER];
    let mut watcher = open(
        &mut client,
        &[("match_urlpattern", WATCH), ("match", MARKER)],
        Some(&watcher_token(&server)),
    )
    .await;

    let mut other = server.h2().await;
    let _subscriber = open(
        &mut other,
        &[("match", ODD), ("match_urlpattern", BOOKS)],
        Some(&payload_token(&server)),
    )
    .await;
    let events = documents_by_match(&mut watcher, &own, 2).await;
    let (_, odd) = &events[ODD];
    let (_, books) = &events[BOOKS];
    let subscriber = odd["subscriber"].as_str().expect("subscriber").to_owned();
    let encoded = encoded_subscriber(&subscriber);
    assert_eq!(
        *odd,
        json!({
            "id": format!("{PREFIX}/exact/{ODD_ENCODED}/{encoded}"),
            "type": "subscription",
            "match_type": "exact",
            "match": ODD,
            "subscriber": subscriber,
            "active": true,
            // `*` comes before the detail naming ODD: the first match wins.
            "payload": {"kind": "default"},
        })
    );
    assert_eq!(
        *books,
        json!({
            "id": format!("{PREFIX}/urlpattern/{BOOKS_ENCODED}/{encoded}"),
            "type": "subscription",
            "match_type": "urlpattern",
            "match": BOOKS,
            "subscriber": subscriber,
            "active": true,
            "payload": {"kind": "books"},
        })
    );
    // Nothing else: the next event is a later public update.
    let marker = publish_public(&server, &mut client, MARKER).await;
    assert_next_is_marker(&mut watcher, &own, &marker).await;
}

#[tokio::test]
async fn leaving_subscriber_is_announced_inactive_on_the_event_id_as_topic() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let watch_token = watcher_token(&server);
    let mut watcher = open(
        &mut client,
        &[("match_urlpattern", WATCH), ("match", MARKER)],
        Some(&watch_token),
    )
    .await;
    let mut other = server.h2().await;
    let subscriber = open(
        &mut other,
        &[("match", ODD), ("match_urlpattern", BOOKS)],
        Some(&payload_token(&server)),
    )
    .await;
    let opened = documents_by_match(&mut watcher, &[WATCH, MARKER], 2).await;
    let odd_id = opened[ODD].1["id"].as_str().expect("id").to_owned();

    // A second watcher follows exactly the `id` of one subscription: it receives that
    // subscription's events only if their topic is the id, byte for byte.
    let mut exact_watcher = open(&mut client, &[("match", &odd_id)], Some(&watch_token)).await;
    let own = [WATCH, MARKER, odd_id.as_str()];

    drop(subscriber);
    let closed = documents_by_match(&mut watcher, &own, 2).await;
    for matcher in [ODD, BOOKS] {
        let mut expected = opened[matcher].1.clone();
        expected["active"] = json!(false);
        assert_eq!(closed[matcher].1, expected, "{matcher} ended");
    }
    let event = exact_watcher.next().await.expect("stream open");
    let mut expected = opened[ODD].1.clone();
    expected["active"] = json!(false);
    assert_eq!(document(&event), expected);

    let marker = publish_public(&server, &mut client, MARKER).await;
    assert_next_is_marker(&mut watcher, &own, &marker).await;
}

#[tokio::test]
async fn subscription_ended_by_the_hub_at_token_expiry_is_announced_inactive() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let own = [WATCH];
    let mut watcher = open(
        &mut client,
        &[("match_urlpattern", WATCH)],
        Some(&watcher_token(&server)),
    )
    .await;
    // A token about to expire: the hub ends the stream at its `exp`, within a second or two.
    let short = token(
        &hub_url(&server),
        json!([detail(&["subscribe"], &[(ODD, "exact")])]),
        Duration::from_secs(1),
    );
    let mut other = server.h2().await;
    let mut subscriber = open(&mut other, &[("match", ODD)], Some(&short)).await;
    let opened = document(&next_foreign(&mut watcher, &own).await);
    assert_eq!(opened["active"], true);
    assert!(subscriber.next().await.is_none(), "the hub ends the stream");
    let closed = document(&next_foreign(&mut watcher, &own).await);
    let mut expected = opened.clone();
    expected["active"] = json!(false);
    assert_eq!(closed, expected);
}

#[tokio::test]
async fn each_connection_has_its_own_subscriber_id_and_anonymous_ones_no_payload() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let own = [WATCH];
    let mut watcher = open(
        &mut client,
        &[("match_urlpattern", WATCH)],
        Some(&watcher_token(&server)),
    )
    .await;
    // Two streams of one HTTP/2 connection and one of another: three subscribers.
    let mut other = server.h2().await;
    let _first = open(&mut other, &[("match", ODD)], None).await;
    let _second = open(&mut other, &[("match", ODD)], None).await;
    let mut third_client = server.http1().await;
    let _third = open(&mut third_client, &[("match", ODD)], None).await;

    let mut subscribers = Vec::new();
    for _ in 0..3 {
        let doc = document(&next_foreign(&mut watcher, &own).await);
        assert_eq!(doc["match"], ODD);
        assert_eq!(doc["active"], true);
        assert!(doc.get("payload").is_none(), "no token, no payload: {doc}");
        let subscriber = doc["subscriber"].as_str().expect("subscriber").to_owned();
        assert_eq!(
            doc["id"],
            format!(
                "{PREFIX}/exact/{ODD_ENCODED}/{}",
                encoded_subscriber(&subscriber)
            )
        );
        subscribers.push(subscriber);
    }
    subscribers.sort();
    subscribers.dedup();
    assert_eq!(subscribers.len(), 3, "distinct subscriber ids");
}

#[tokio::test]
async fn identical_matchers_of_one_connection_are_one_subscription() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let own = [WATCH, MARKER];
    let mut watcher = open(
        &mut client,
        &[("match_urlpattern", WATCH), ("match", MARKER)],
        Some(&watcher_token(&server)),
    )
    .await;
    let mut other = server.h2().await;
    // `match` and `match_exact` name the same matcher type.
    let subscriber = open(
        &mut other,
        &[("match", ODD), ("match", ODD), ("match_exact", ODD)],
        None,
    )
    .await;
    let doc = document(&next_foreign(&mut watcher, &own).await);
    assert_eq!((&doc["match"], &doc["active"]), (&json!(ODD), &json!(true)));
    let marker = publish_public(&server, &mut client, MARKER).await;
    assert_next_is_marker(&mut watcher, &own, &marker).await;

    drop(subscriber);
    let doc = document(&next_foreign(&mut watcher, &own).await);
    assert_eq!(
        (&doc["match"], &doc["active"]),
        (&json!(ODD), &json!(false))
    );
    let marker = publish_public(&server, &mut client, MARKER).await;
    assert_next_is_marker(&mut watcher, &own, &marker).await;
}

#[tokio::test]
async fn anonymous_watcher_receives_no_subscription_events() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut anonymous = open(
        &mut client,
        &[("match_urlpattern", WATCH), ("match", MARKER)],
        None,
    )
    .await;
    let mut watcher = open(
        &mut client,
        &[("match_urlpattern", WATCH)],
        Some(&watcher_token(&server)),
    )
    .await;
    let mut other = server.h2().await;
    let subscriber = open(&mut other, &[("match", ODD)], None).await;
    drop(subscriber);
    // The authorized watcher saw both events, so both were dispatched before the marker.
    let opened = document(&next_foreign(&mut watcher, &[WATCH, MARKER]).await);
    let closed = document(&next_foreign(&mut watcher, &[WATCH, MARKER]).await);
    assert_eq!(
        (&opened["active"], &closed["active"]),
        (&json!(true), &json!(false))
    );

    let marker = publish_public(&server, &mut client, MARKER).await;
    // Nothing skipped either: the anonymous watcher's own subscription events are private.
    assert_next_is_marker(&mut anonymous, &[], &marker).await;
}

#[tokio::test]
async fn token_scoped_outside_or_to_part_of_the_namespace_sees_only_what_it_grants() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    // Everything on example.com, and the collection URL itself: no event topic.
    let outside = token(
        &hub_url(&server),
        json!([detail(
            &["subscribe"],
            &[("https://example.com/*", "urlpattern"), (PREFIX, "exact")]
        )]),
        ttl(),
    );
    // The subscriptions whose matcher is a URL pattern only.
    let partial = subscribe_token(
        &server,
        "/.well-known/mercure/subscriptions/urlpattern/*",
        "urlpattern",
    );
    let pairs = [("match_urlpattern", WATCH), ("match", MARKER)];
    let mut outsider = open(&mut client, &pairs, Some(&outside)).await;
    let mut partial_watcher = open(&mut client, &pairs, Some(&partial)).await;

    let mut other = server.h2().await;
    let _subscriber = open(
        &mut other,
        &[("match", ODD), ("match_urlpattern", BOOKS)],
        None,
    )
    .await;
    let marker = publish_public(&server, &mut client, MARKER).await;
    // The partial watcher's own subscriptions are announced under `urlpattern` (WATCH) and
    // `exact` (MARKER): it sees the former, skipped here.
    let own = [WATCH, MARKER];
    let doc = document(&next_foreign(&mut partial_watcher, &own).await);
    assert_eq!(
        (&doc["match"], &doc["active"]),
        (&json!(BOOKS), &json!(true))
    );
    assert_next_is_marker(&mut partial_watcher, &own, &marker).await;
    assert_next_is_marker(&mut outsider, &[], &marker).await;
}

#[tokio::test]
async fn non_ascii_matcher_is_percent_encoded_as_utf8_bytes() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let watch_token = watcher_token(&server);
    let mut watcher = open(
        &mut client,
        &[("match_urlpattern", WATCH)],
        Some(&watch_token),
    )
    .await;
    let matcher = "https://example.com/café/ü?q=€";
    let mut other = server.h2().await;
    let _subscriber = open(&mut other, &[("match", matcher)], None).await;
    let doc = document(&next_foreign(&mut watcher, &[WATCH]).await);
    assert_eq!(doc["match"], matcher);
    let subscriber = encoded_subscriber(doc["subscriber"].as_str().expect("subscriber"));
    let id = format!(
        "{PREFIX}/exact/https%3A%2F%2Fexample.com%2Fcaf%C3%A9%2F%C3%BC%3Fq%3D%E2%82%AC/{subscriber}"
    );
    assert_eq!(doc["id"], id);
    // The id is also the subscription's API URL.
    let api_token = subscribe_token(&server, API, "urlpattern");
    let answer = api_get(&mut client, &id, Some(&api_token)).await;
    let (single, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(single, doc);
}

#[tokio::test]
async fn api_collection_has_cursor_link_etag_and_the_announced_documents() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let collection_token = subscribe_token(&server, PREFIX, "exact");

    let before = api_get(&mut client, PREFIX, Some(&collection_token)).await;
    let (body, cursor) = api_ok(&server, &before, "application/json");
    assert_eq!(cursor, "earliest", "nothing dispatched yet");
    assert_eq!(before.1["etag"], "\"earliest\"");
    assert_eq!(
        body,
        json!({"id": PREFIX, "type": "subscriptions", "subscriptions": []})
    );

    let mut watcher = open(
        &mut client,
        &[("match_urlpattern", WATCH)],
        Some(&watcher_token(&server)),
    )
    .await;
    let mut other = server.h2().await;
    let _subscriber = open(
        &mut other,
        &[("match", ODD), ("match_urlpattern", BOOKS)],
        Some(&payload_token(&server)),
    )
    .await;
    let first = next_foreign(&mut watcher, &[WATCH]).await;
    let last = next_foreign(&mut watcher, &[WATCH]).await;
    let announced = sorted(vec![document(&first), document(&last)]);
    let subscriber = announced[0]["subscriber"].clone();

    let answer = api_get(&mut client, PREFIX, Some(&collection_token)).await;
    let (body, cursor) = api_ok(&server, &answer, "application/json");
    assert_eq!(
        cursor, last.id,
        "the last dispatched event: the second announcement"
    );
    assert_eq!(answer.1["etag"], format!("\"{}\"", last.id));
    assert_eq!(
        (&body["id"], &body["type"]),
        (&json!(PREFIX), &json!("subscriptions"))
    );
    let all = listed(&body);
    // The watcher's own subscription is listed too.
    assert_eq!(all.len(), 3, "{body}");
    let theirs: Vec<Value> = all
        .into_iter()
        .filter(|s| s["subscriber"] == subscriber)
        .collect();
    assert_eq!(theirs, announced);

    // A publication moves the cursor.
    let published = publish_public(&server, &mut client, MARKER).await;
    let answer = api_get(&mut client, PREFIX, Some(&collection_token)).await;
    let (_, cursor) = api_ok(&server, &answer, "application/json");
    assert_eq!(cursor, published);

    // The feature is advertised.
    let metadata = api_get(
        &mut client,
        "/.well-known/oauth-protected-resource/.well-known/mercure",
        None,
    )
    .await;
    assert_eq!(metadata.0, StatusCode::OK);
    let metadata: Value = serde_json::from_str(&metadata.2).expect("JSON metadata");
    assert_eq!(metadata["mercure_subscriptions"], true);
}

#[tokio::test]
async fn api_per_matcher_collection_and_single_subscription() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.http1().await;
    let mut watch_client = server.h2().await;
    let api_token = subscribe_token(&server, API, "urlpattern");
    let own = [WATCH];
    let mut watcher = open(
        &mut watch_client,
        &[("match_urlpattern", WATCH)],
        Some(&watcher_token(&server)),
    )
    .await;
    let mut other = server.h2().await;
    let leaving = open(
        &mut other,
        &[("match", ODD), ("match_urlpattern", BOOKS)],
        Some(&payload_token(&server)),
    )
    .await;
    let opened = documents_by_match(&mut watcher, &own, 2).await;
    let staying = open(&mut other, &[("match", ODD)], None).await;
    let staying_doc = document(&next_foreign(&mut watcher, &own).await);
    let (odd, books) = (&opened[ODD].1, &opened[BOOKS].1);

    let exact_path = format!("{PREFIX}/exact/{ODD_ENCODED}");
    let answer = api_get(&mut client, &exact_path, Some(&api_token)).await;
    let (body, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(
        (&body["id"], &body["type"]),
        (&json!(exact_path), &json!("subscriptions"))
    );
    assert_eq!(
        listed(&body),
        sorted(vec![odd.clone(), staying_doc.clone()])
    );

    let books_path = format!("{PREFIX}/urlpattern/{BOOKS_ENCODED}");
    let answer = api_get(&mut client, &books_path, Some(&api_token)).await;
    let (body, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(listed(&body), vec![books.clone()]);

    // A single subscription: the event's document, unchanged.
    let odd_id = odd["id"].as_str().expect("id").to_owned();
    let answer = api_get(&mut client, &odd_id, Some(&api_token)).await;
    let (single, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(single, *odd);
    // Another valid escaping of the same URL (lowercase hex) names the same subscription.
    let lowercase = odd_id.replace("%3A", "%3a").replace("%2F", "%2f");
    let answer = api_get(&mut client, &lowercase, Some(&api_token)).await;
    assert_eq!(api_ok(&server, &answer, "application/json").0, *odd);

    // Unknown subscriber, or a known one under another matcher type: 404.
    let subscriber = encoded_subscriber(odd["subscriber"].as_str().expect("subscriber"));
    let unknown = format!(
        "{exact_path}/{}",
        encoded_subscriber(&format!("urn:uuid:{}", uuid::Uuid::new_v4()))
    );
    let wrong_type = format!("{PREFIX}/urlpattern/{ODD_ENCODED}/{subscriber}");
    for path in [&unknown, &wrong_type] {
        let (status, _, body) = api_get(&mut client, path, Some(&api_token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }

    // Once the subscriber left (the watcher saw it), its subscriptions are gone.
    drop(leaving);
    let closed = documents_by_match(&mut watcher, &own, 2).await;
    assert_eq!(closed[ODD].1["active"], false);
    let (status, _, body) = api_get(&mut client, &odd_id, Some(&api_token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let answer = api_get(&mut client, &exact_path, Some(&api_token)).await;
    let (body, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(listed(&body), vec![staying_doc]);
    let answer = api_get(&mut client, &books_path, Some(&api_token)).await;
    let (body, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(listed(&body), Vec::<Value>::new());
    drop(staying);
}

#[tokio::test]
async fn api_requires_subscribe_granted_on_the_requested_path() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut other = server.h2().await;
    let _subscriber = open(&mut other, &[("match", ODD)], None).await;
    let exact_path = format!("{PREFIX}/exact/{ODD_ENCODED}");
    let metadata = format!(
        "resource_metadata=\"https://localhost:{}/.well-known/oauth-protected-resource/.well-known/mercure\"",
        server.addr.port()
    );

    let (status, headers, body) = api_get(&mut client, PREFIX, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let challenge = headers["www-authenticate"].to_str().expect("ASCII");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        !challenge.contains("error="),
        "no token, no error code: {challenge}"
    );
    assert!(challenge.contains(&metadata), "{challenge}");

    // Subscribe rights elsewhere (and publish everywhere) are not enough.
    let elsewhere = token(
        &hub_url(&server),
        json!([
            detail(&["subscribe"], &[("https://example.com/*", "urlpattern")]),
            detail(&["publish"], &[("*", "exact")]),
        ]),
        ttl(),
    );
    for path in [PREFIX, exact_path.as_str()] {
        let (status, headers, body) = api_get(&mut client, path, Some(&elsewhere)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        let challenge = headers["www-authenticate"].to_str().expect("ASCII");
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
    }

    // A grant on one matcher's collection opens that URL only.
    let one_matcher = subscribe_token(&server, &exact_path, "exact");
    let answer = api_get(&mut client, &exact_path, Some(&one_matcher)).await;
    let (body, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(listed(&body).len(), 1, "{body}");
    let (status, _, body) = api_get(&mut client, PREFIX, Some(&one_matcher)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let single = listed(&body_of(&answer))[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _, body) = api_get(&mut client, &single, Some(&one_matcher)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The reserved `*` and a pattern over the namespace open every endpoint.
    for grant in [
        all_access(&server, &["subscribe"]),
        subscribe_token(&server, API, "urlpattern"),
    ] {
        for path in [PREFIX, exact_path.as_str(), single.as_str()] {
            let answer = api_get(&mut client, path, Some(&grant)).await;
            api_ok(&server, &answer, "application/json");
        }
    }
}

#[tokio::test]
async fn api_exposes_its_link_header_to_allowed_cross_origin_clients() {
    let origin = "https://app.example.test";
    let server = mercure::start(|raw| raw.mercure.cors_origins = vec![origin.into()]).await;
    let mut client = server.h2().await;
    let bearer = format!("Bearer {}", subscribe_token(&server, API, "urlpattern"));
    let response = client
        .send(get_with(
            PREFIX,
            &[("authorization", &bearer), ("origin", origin)],
        ))
        .await;
    let headers = response.headers().clone();
    let (status, body) = read_all(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["access-control-allow-origin"], origin);
    let exposed = headers["access-control-expose-headers"]
        .to_str()
        .expect("ASCII")
        .to_ascii_lowercase();
    assert!(
        exposed.split(',').any(|h| h.trim() == "link"),
        "Link is exposed: {exposed}"
    );
    link_cursor(&server, &headers);
}

fn body_of((_, _, body): &(StatusCode, HeaderMap, String)) -> Value {
    serde_json::from_str(body).expect("JSON body")
}

#[tokio::test]
async fn api_cursor_passed_back_as_last_event_id_loses_no_subscription_event() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut other = server.h2().await;
    let _before = open(&mut other, &[("match", ODD)], None).await;
    let api_token = subscribe_token(&server, API, "urlpattern");
    let answer = api_get(&mut client, PREFIX, Some(&api_token)).await;
    let (body, cursor) = api_ok(&server, &answer, "application/json");
    assert_ne!(cursor, "earliest", "the first subscription was announced");
    assert_eq!(listed(&body).len(), 1);

    // Opened between the API call and the watcher's subscription.
    let _after = open(&mut other, &[("match_urlpattern", BOOKS)], None).await;
    let mut watcher = open(
        &mut client,
        &[("match_urlpattern", WATCH), ("last_event_id", &cursor)],
        Some(&watcher_token(&server)),
    )
    .await;
    assert_eq!(
        watcher.headers["mercure-last-event-id"],
        cursor.as_str(),
        "the history covered the cursor"
    );
    // The replay starts after the cursor: the first subscription (listed) is not repeated.
    let doc = document(&next_foreign(&mut watcher, &[WATCH]).await);
    assert_eq!(
        (&doc["match"], &doc["active"]),
        (&json!(BOOKS), &json!(true))
    );
}

#[tokio::test]
async fn api_cursor_and_etag_stay_well_formed_for_ids_with_quotes_spaces_and_non_ascii() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let writer = all_access(&server, &["publish"]);
    let odd_id = r#"rev "1" \ café"#;
    let (status, _, body) = publish(
        &mut client,
        "/.well-known/mercure",
        Some(&writer),
        &[("topic", MARKER), ("data", "odd"), ("id", odd_id)],
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, odd_id));
    let api_token = subscribe_token(&server, API, "urlpattern");
    let answer = api_get(&mut client, PREFIX, Some(&api_token)).await;
    let (_, cursor) = api_ok(&server, &answer, "application/json");
    assert_eq!(cursor, odd_id, "the Link's quoted-string carries the id");
    let odd_etag = answer.1["etag"].clone();
    let other = publish_public(&server, &mut client, MARKER).await;
    let answer = api_get(&mut client, PREFIX, Some(&api_token)).await;
    assert_eq!(api_ok(&server, &answer, "application/json").1, other);
    assert_ne!(answer.1["etag"], odd_etag, "a new event, a new ETag");

    // Passed back, the cursor resumes right after the odd update.
    let mut subscriber = open(
        &mut client,
        &[("match", MARKER), ("last_event_id", &cursor)],
        None,
    )
    .await;
    assert_eq!(
        subscriber.headers["mercure-last-event-id"].as_bytes(),
        odd_id.as_bytes()
    );
    assert_next_is_marker(&mut subscriber, &[], &other).await;
}

#[tokio::test]
async fn legacy_subscription_events_and_api_use_the_pre_1_0_documents() {
    let server = mercure::start(|raw| raw.mercure.legacy = true).await;
    let mut client = server.h2().await;
    let template = "/.well-known/mercure/subscriptions/{topic}/{subscriber}";
    let watch_token = legacy_token(json!({ "subscribe": [template] }));
    let mut watcher = open_legacy(&mut client, &[template], &watch_token).await;

    let topic = "https://example.com/{id}";
    let topic_encoded = "https%3A%2F%2Fexample.com%2F%7Bid%7D";
    let subscriber_token = legacy_token(json!({
        "subscribe": [topic],
        "payload": {"user": "alice"},
    }));
    let mut other = server.h2().await;
    let subscriber = open_legacy(&mut other, &[topic], &subscriber_token).await;
    let event = next_foreign(&mut watcher, &[template]).await;
    // Pre-1.0 subscription events have no event type.
    assert_eq!(event.event, "message", "{event:?}");
    let doc: Value = serde_json::from_str(&event.data).expect("JSON-LD");
    let id = doc["subscriber"].as_str().expect("subscriber").to_owned();
    let path = format!("{PREFIX}/{topic_encoded}/{}", encoded_subscriber(&id));
    assert_eq!(
        doc,
        json!({
            "@context": "https://mercure.rocks/",
            "id": path,
            "type": "Subscription",
            "topic": topic,
            "subscriber": id,
            "active": true,
            "payload": {"user": "alice"},
        })
    );

    let api_token = legacy_token(json!({
        "subscribe": ["/.well-known/mercure/subscriptions{/topic}{/subscriber}"],
    }));
    let answer = api_get(&mut client, PREFIX, Some(&api_token)).await;
    let (body, cursor) = api_ok(&server, &answer, "application/ld+json");
    assert_eq!(cursor, event.id, "the last dispatched event");
    assert_eq!(body["@context"], "https://mercure.rocks/");
    assert_eq!(
        (&body["id"], &body["type"]),
        (&json!(PREFIX), &json!("Subscriptions"))
    );
    assert_eq!(body["lastEventID"], event.id.as_str());
    let mut without_context = doc.clone();
    without_context
        .as_object_mut()
        .expect("object")
        .remove("@context");
    let listed_docs: Vec<Value> = listed(&body)
        .into_iter()
        .map(|mut d| {
            // `@context` may be repeated or left to the parent's.
            d.as_object_mut().expect("object").remove("@context");
            d
        })
        .filter(|d| d["topic"] == topic)
        .collect();
    assert_eq!(listed_docs, vec![without_context]);

    let per_topic = format!("{PREFIX}/{topic_encoded}");
    let answer = api_get(&mut client, &per_topic, Some(&api_token)).await;
    let (body, _) = api_ok(&server, &answer, "application/ld+json");
    assert_eq!(
        (&body["id"], &body["type"]),
        (&json!(per_topic), &json!("Subscriptions"))
    );
    assert_eq!(
        body["subscriptions"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );

    let answer = api_get(&mut client, &path, Some(&api_token)).await;
    let (mut single, cursor) = api_ok(&server, &answer, "application/ld+json");
    assert_eq!(
        single
            .as_object_mut()
            .expect("object")
            .remove("lastEventID"),
        Some(json!(cursor))
    );
    assert_eq!(single, doc);

    drop(subscriber);
    let event = next_foreign(&mut watcher, &[template]).await;
    let mut ended = doc.clone();
    ended["active"] = json!(false);
    assert_eq!(
        serde_json::from_str::<Value>(&event.data).expect("JSON-LD"),
        ended
    );
    let (status, _, body) = api_get(&mut client, &path, Some(&api_token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn disabled_active_subscriptions_announce_nothing_serve_no_api_and_are_not_advertised() {
    let server = mercure::start(|raw| raw.mercure.subscriptions = false).await;
    let mut client = server.h2().await;
    let mut watcher = open(
        &mut client,
        &[("match_urlpattern", WATCH), ("match", MARKER)],
        Some(&all_access(&server, &["subscribe"])),
    )
    .await;
    let mut other = server.h2().await;
    let _subscriber = open(&mut other, &[("match", ODD)], None).await;
    let marker = publish_public(&server, &mut client, MARKER).await;
    // Not even the watcher's own subscription was announced.
    assert_next_is_marker(&mut watcher, &[], &marker).await;

    let grant = all_access(&server, &["subscribe"]);
    for path in [PREFIX.to_owned(), format!("{PREFIX}/exact/{ODD_ENCODED}")] {
        let (status, _, body) = api_get(&mut client, &path, Some(&grant)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }

    let (status, _, body) = api_get(
        &mut client,
        "/.well-known/oauth-protected-resource/.well-known/mercure",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let metadata: Value = serde_json::from_str(&body).expect("JSON metadata");
    assert!(metadata.get("resource").is_some(), "{metadata}");
    assert!(
        metadata.get("mercure_subscriptions").is_none(),
        "{metadata}"
    );
}
