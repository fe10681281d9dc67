//! Private updates: never to anonymous subscribers, delivered by a `subscribe` grant on any
//! of the update's topics, never widened by routing matchers, and the same rule on replay as
//! live.

use super::{marker, next_data, open_with, post, private, public, reader, BOOK_1, BOOK_2, MARKER};
use crate::support::mercure::{self, bearer, subscribe_path};

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
