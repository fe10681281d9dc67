//! Active subscriptions in pre-1.0 compatibility mode (`legacy = true`: the pre-1.0 event and
//! API documents), and turned off (`subscriptions = false`: no events, no API, not advertised).

use http::StatusCode;
use serde_json::{json, Value};

use super::{
    api_get, api_ok, assert_marker_comes_next, encoded_subscriber, listed, next_foreign, open,
    MARKER, ODD, ODD_ENCODED, PREFIX, WATCH,
};
use crate::support::mercure::{self, all_access, legacy_token};

#[tokio::test]
async fn legacy_subscription_events_and_api_use_the_pre_1_0_documents() {
    let server = mercure::start(|raw| raw.mercure.legacy = true).await;
    let mut client = server.h2().await;
    let template = "/.well-known/mercure/subscriptions/{topic}/{subscriber}";
    let watch_token = legacy_token(json!({ "subscribe": [template] }));
    let mut watcher = open(&mut client, &[("topic", template)], Some(&watch_token)).await;

    let topic = "https://example.com/{id}";
    let topic_encoded = "https%3A%2F%2Fexample.com%2F%7Bid%7D";
    let subscriber_token = legacy_token(json!({
        "subscribe": [topic],
        "payload": {"user": "alice"},
    }));
    let mut other = server.h2().await;
    let subscriber = open(&mut other, &[("topic", topic)], Some(&subscriber_token)).await;
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
    // Not even the watcher's own subscription was announced.
    assert_marker_comes_next(&server, &mut client, &mut watcher, &[]).await;

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
