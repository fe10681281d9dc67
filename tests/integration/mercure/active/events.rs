//! Subscription events (draft "Subscription Events"): one per matcher of a connection, with
//! its token's payload; `active: false` when the subscriber leaves or the hub ends its stream at
//! token expiry; a subscriber id per connection; identical matchers as one subscription; what
//! anonymous and partly scoped watchers see; non-ASCII matchers percent-encoded as UTF-8.

use std::time::Duration;

use serde_json::json;

use super::{
    api_get, api_ok, assert_marker_comes_next, assert_next_is_marker, document, documents_by_match,
    encoded_subscriber, next_foreign, open, open_payload_subscriber, open_watcher, publish_public,
    subscribe_token, watcher_token, API, BOOKS, BOOKS_ENCODED, MARKER, ODD, ODD_ENCODED, PREFIX,
    WATCH,
};
use crate::support::mercure::{self, detail, grant, hub_url, token};

#[tokio::test]
async fn each_matcher_of_a_connection_is_announced_with_its_token_payload() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let own = [WATCH, MARKER];
    let mut watcher = open_watcher(&server, &mut client, &[("match", MARKER)]).await;

    let mut other = server.h2().await;
    let _subscriber = open_payload_subscriber(&server, &mut other).await;
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
    assert_marker_comes_next(&server, &mut client, &mut watcher, &own).await;
}

#[tokio::test]
async fn leaving_subscriber_is_announced_inactive_on_the_event_id_as_topic() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut watcher = open_watcher(&server, &mut client, &[("match", MARKER)]).await;
    let mut other = server.h2().await;
    let subscriber = open_payload_subscriber(&server, &mut other).await;
    let opened = documents_by_match(&mut watcher, &[WATCH, MARKER], 2).await;
    let odd_id = opened[ODD].1["id"].as_str().expect("id").to_owned();

    // A second watcher follows exactly the `id` of one subscription: it receives that
    // subscription's events only if their topic is the id, byte for byte.
    let watch_token = watcher_token(&server);
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

    assert_marker_comes_next(&server, &mut client, &mut watcher, &own).await;
}

#[tokio::test]
async fn subscription_ended_by_the_hub_at_token_expiry_is_announced_inactive() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let own = [WATCH];
    let mut watcher = open_watcher(&server, &mut client, &[]).await;
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
    let mut watcher = open_watcher(&server, &mut client, &[]).await;
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
    let mut watcher = open_watcher(&server, &mut client, &[("match", MARKER)]).await;
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
    assert_marker_comes_next(&server, &mut client, &mut watcher, &own).await;

    drop(subscriber);
    let doc = document(&next_foreign(&mut watcher, &own).await);
    assert_eq!(
        (&doc["match"], &doc["active"]),
        (&json!(ODD), &json!(false))
    );
    assert_marker_comes_next(&server, &mut client, &mut watcher, &own).await;
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
    let mut watcher = open_watcher(&server, &mut client, &[]).await;
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

    // Nothing skipped either: the anonymous watcher's own subscription events are private.
    assert_marker_comes_next(&server, &mut client, &mut anonymous, &[]).await;
}

#[tokio::test]
async fn token_scoped_outside_or_to_part_of_the_namespace_sees_only_what_it_grants() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    // Everything on example.com, and the collection URL itself: no event topic.
    let outside = grant(
        &server,
        &["subscribe"],
        &[("https://example.com/*", "urlpattern"), (PREFIX, "exact")],
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
    let mut watcher = open_watcher(&server, &mut client, &[]).await;
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
