//! The shortest path through the hub: a token-bearing publisher, an anonymous and an
//! authorized subscriber, a public and a private update.

use http::StatusCode;

use crate::support::mercure::{
    self, all_access, get_with, grant, open, publish, publish_ok, subscribe_path, HUB,
};

#[tokio::test]
async fn publish_then_receive_public_and_private_updates() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let topic = "https://example.com/books/1";
    let mut anonymous = client.subscribe(&subscribe_path(&[("match", topic)])).await;
    let books = "https://example.com/books/:id";
    let reader = grant(&server, &["subscribe"], &[(books, "urlpattern")]);
    let path = subscribe_path(&[("match_urlpattern", books)]);
    let mut authorized = open(
        &mut client,
        mercure::authorized(get_with(&path, &[]), Some(&reader)),
    )
    .await;

    let writer = all_access(&server, &["publish"]);
    let (status, headers, id) = publish(
        &mut client,
        HUB,
        Some(&writer),
        &[("topic", topic), ("data", "private one"), ("private", "on")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{id}");
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert!(id.starts_with("urn:uuid:"), "{id}");
    let public_id = publish_ok(
        &mut client,
        Some(&writer),
        &[("topic", topic), ("data", "public one")],
    )
    .await;

    let first = authorized.next().await.unwrap();
    assert_eq!(
        (first.id.as_str(), first.data.as_str()),
        (id.as_str(), "private one")
    );
    let second = authorized.next().await.unwrap();
    assert_eq!(second.data, "public one");
    // The anonymous subscriber's first event is the public one: the private one never came.
    let only = anonymous.next().await.unwrap();
    assert_eq!(
        (only.id.as_str(), only.data.as_str()),
        (public_id.as_str(), "public one")
    );
}
