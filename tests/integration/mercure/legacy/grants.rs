//! What the pre-1.0 `mercure` claim grants: private updates to subscribers whose
//! `mercure.subscribe` selectors match the update's topics (alternate topics included),
//! publishing only when `mercure.publish` covers every topic of the update.

use http::StatusCode;
use serde_json::json;

use super::{
    data_of, hub_query, legacy_hub, open, open_as, publish_ok, reader, BOOKS, BOOK_1, BOOK_2,
    BOOK_3,
};
use crate::support::mercure::{challenge, legacy_sign, legacy_token, now, publish, HUB};

#[tokio::test]
async fn private_updates_reach_only_subscribers_whose_mercure_subscribe_matches() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let path = hub_query(&[("topic", BOOKS)]);
    let mut granted = open_as(&mut client, &path, &reader(&[BOOKS])).await;
    let mut exact = open_as(&mut client, &path, &reader(&[BOOK_2])).await;
    let authors = reader(&["https://example.com/authors/{id}"]);
    let mut other = open_as(&mut client, &path, &authors).await;
    let no_claim = legacy_sign(&json!({ "exp": now() + 600 }));
    let mut no_claim = open_as(&mut client, &path, &no_claim).await;
    let mut anonymous = open(&mut client, &path, &[]).await;

    publish_ok(
        &mut client,
        &[("topic", BOOK_1), ("data", "private 1"), ("private", "on")],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", BOOK_2), ("data", "private 2"), ("private", "")],
    )
    .await;
    publish_ok(&mut client, &[("topic", BOOK_3), ("data", "public")]).await;

    assert_eq!(
        data_of(&mut granted, 3).await,
        ["private 1", "private 2", "public"]
    );
    assert_eq!(data_of(&mut exact, 2).await, ["private 2", "public"]);
    for stream in [&mut other, &mut no_claim, &mut anonymous] {
        assert_eq!(data_of(stream, 1).await, ["public"]);
    }
}

#[tokio::test]
async fn alternate_topic_grants_a_private_update_as_in_the_pre_1_0_example() {
    // pre-1.0 "Subscribers": a subscriber of every book, allowed to read the private
    // updates of some, through an alternate topic its `mercure.subscribe` template matches.
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let foo_reader = reader(&["https://example.com/users/foo/{?topic}"]);
    let mut foo = open_as(&mut client, &hub_query(&[("topic", BOOKS)]), &foo_reader).await;
    let for_user = |user: &str, book: &str| {
        format!(
            "https://example.com/users/{user}/?topic={}",
            form_urlencoded::byte_serialize(book.as_bytes()).collect::<String>()
        )
    };
    let foo_1 = for_user("foo", BOOK_1);
    let bar_2 = for_user("bar", BOOK_2);
    publish_ok(
        &mut client,
        &[
            ("topic", BOOK_1),
            ("topic", &foo_1),
            ("data", "foo's"),
            ("private", "on"),
        ],
    )
    .await;
    publish_ok(
        &mut client,
        &[
            ("topic", BOOK_2),
            ("topic", &bar_2),
            ("data", "bar's"),
            ("private", "on"),
        ],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", BOOK_3), ("data", "nobody's"), ("private", "on")],
    )
    .await;
    publish_ok(&mut client, &[("topic", BOOK_3), ("data", "public")]).await;
    assert_eq!(data_of(&mut foo, 2).await, ["foo's", "public"]);
}

#[tokio::test]
async fn publishing_needs_mercure_publish_to_cover_every_topic() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut observer = open(&mut client, &hub_query(&[("topic", "*")]), &[]).await;
    let books_only = legacy_token(json!({ "publish": [BOOKS] }));
    let (status, _, id) = publish(
        &mut client,
        HUB,
        Some(&books_only),
        &[("topic", BOOK_1), ("data", "allowed")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{id}");

    let refused_with = [
        // One topic of two is not covered: nothing is dispatched.
        (
            books_only.clone(),
            vec![BOOK_2, "https://example.com/authors/1"],
        ),
        (legacy_token(json!({ "subscribe": ["*"] })), vec![BOOK_2]),
        (legacy_token(json!({ "publish": [] })), vec![BOOK_2]),
        (legacy_sign(&json!({ "exp": now() + 600 })), vec![BOOK_2]),
    ];
    for (jwt, topics) in &refused_with {
        let mut pairs: Vec<(&str, &str)> = topics.iter().map(|t| ("topic", *t)).collect();
        pairs.push(("data", "refused"));
        let (status, headers, body) = publish(&mut client, HUB, Some(jwt), &pairs).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{topics:?}: {body}");
        assert!(
            challenge(&headers).contains("insufficient_scope"),
            "{headers:?}"
        );
    }
    let (status, _, body) = publish(&mut client, HUB, None, &[("topic", BOOK_2)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    publish_ok(&mut client, &[("topic", BOOK_3), ("data", "marker")]).await;

    let first = observer.next().await.unwrap();
    assert_eq!(
        (first.id.as_str(), first.data.as_str()),
        (id.as_str(), "allowed")
    );
    assert_eq!(data_of(&mut observer, 1).await, ["marker"]);
}
