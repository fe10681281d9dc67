//! Pre-1.0 subscription events and the subscription API on pre-1.0 topics, and unmodified
//! pre-1.0 clients: Symfony's PHP publisher and an EventSource page in a browser.

use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};

use super::{
    hub_query, legacy_hub, open_as, reader, symfony_publish, writer, BOOKS, BOOK_1, BOOK_2, BOOK_3,
};
use crate::support::{
    browser::run_scenario,
    mercure::{answer, authorized, get_with, legacy_token},
};

#[tokio::test]
async fn pre_1_0_subscriptions_are_announced_on_pre_1_0_topics() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    // The selector the pre-1.0 reference hub documents for subscription events and the API.
    let selector = "/.well-known/mercure/subscriptions{/topic}{/subscriber}";
    let watcher_token = reader(&[selector]);
    let mut watcher = open_as(
        &mut client,
        &hub_query(&[("topic", selector)]),
        &watcher_token,
    )
    .await;
    let own: Value = serde_json::from_str(&watcher.next().await.unwrap().data).unwrap();
    assert_eq!(
        own["topic"], selector,
        "the watcher's own subscription: {own}"
    );

    let subscriber_token = legacy_token(json!({ "subscribe": [], "payload": { "user": "alice" } }));
    let subscriber = open_as(
        &mut client,
        &hub_query(&[("topic", BOOKS)]),
        &subscriber_token,
    )
    .await;
    let opened = watcher.next().await.unwrap();
    assert_eq!(opened.event, "message", "pre-1.0 events have no type");
    let doc: Value = serde_json::from_str(&opened.data).unwrap();
    let subscriber_id = doc["subscriber"].as_str().expect("subscriber").to_owned();
    assert!(subscriber_id.starts_with("urn:uuid:"), "{doc}");
    let expected_id = format!(
        "/.well-known/mercure/subscriptions/{}/{}",
        "https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D",
        subscriber_id.replace(':', "%3A")
    );
    assert_eq!(
        doc,
        json!({
            "@context": "https://mercure.rocks/",
            "id": expected_id,
            "type": "Subscription",
            "topic": BOOKS,
            "subscriber": subscriber_id,
            "active": true,
            "payload": { "user": "alice" },
        })
    );

    // The subscription API answers pre-1.0 tokens in the pre-1.0 format.
    let api = get_with("/.well-known/mercure/subscriptions", &[]);
    let (status, headers, body) = answer(&mut client, authorized(api, Some(&watcher_token))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["content-type"], "application/ld+json");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["type"], "Subscriptions", "{list}");
    assert!(list["lastEventID"].is_string(), "{list}");
    let listed = list["subscriptions"].as_array().expect("subscriptions");
    assert!(
        listed
            .iter()
            .any(|s| s["id"] == expected_id.as_str() && s["topic"] == BOOKS),
        "{list}"
    );

    drop(subscriber);
    let closed: Value = serde_json::from_str(&watcher.next().await.unwrap().data).unwrap();
    assert_eq!(
        (&closed["id"], &closed["active"]),
        (&json!(expected_id), &json!(false)),
        "{closed}"
    );
}

#[tokio::test]
async fn symfony_publisher_publishes_to_a_legacy_hub() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut stream = open_as(
        &mut client,
        &hub_query(&[("topic", BOOKS)]),
        &reader(&[BOOKS]),
    )
    .await;
    let update = json!({
        "topics": [BOOK_1, "https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1"],
        "data": "{\"title\": \"Les Misérables\",\n \"status\": \"sold out\"}",
        "private": true,
        "id": "urn:example:symfony-1",
        "type": "book.updated",
        "retry": 1500,
    });
    let output = symfony_publish(&server, &writer(), &update).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "php failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert_eq!(stdout.trim(), "urn:example:symfony-1", "stderr: {stderr}");

    let event = stream.next().await.unwrap();
    assert_eq!(event.id, "urn:example:symfony-1");
    assert_eq!(event.event, "book.updated");
    assert_eq!(event.data, update["data"].as_str().unwrap());
    assert_eq!(event.retry, Some(Duration::from_millis(1500)));

    // The hub's refusal reaches the PHP caller as Symfony's exception.
    let output = symfony_publish(
        &server,
        &legacy_token(json!({ "publish": ["https://example.com/authors/{id}"] })),
        &json!({ "topics": [BOOK_2], "data": "refused" }),
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");
}

#[tokio::test]
async fn eventsource_page_with_topic_template_and_cookie_receives_updates_over_h2() {
    let server = legacy_hub().await;
    let page = format!("https://localhost:{}/healthz", server.addr.port());
    let updates = json!([
        { "topics": [BOOK_1], "data": "private, granted", "private": true },
        { "topics": [BOOK_3], "data": "private, not granted", "private": true },
        { "topics": ["https://example.com/authors/1"], "data": "another topic" },
        { "topics": [BOOK_2], "data": "public" },
    ])
    .to_string();
    let result = run_scenario(
        &server,
        "mercure-legacy.mjs",
        &page,
        &[
            ("selector", BOOKS),
            ("cookieToken", &reader(&[BOOK_1])),
            ("publishToken", &writer()),
            ("updates", &updates),
        ],
    )
    .await;
    let ids = result["ids"].as_array().expect("ids");
    assert_eq!(
        result["received"],
        json!([
            { "data": "private, granted", "id": ids[0] },
            { "data": "public", "id": ids[3] },
        ]),
        "{result}"
    );
    assert_eq!(result["eventSourceProtocol"], "h2", "{result}");
    server.shutdown().await;
}
