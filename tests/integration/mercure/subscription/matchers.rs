//! Matcher types (draft "Matcher Types"): what `match`, `match_exact` and `match_urlpattern`
//! (absolute, and relative to the hub URL) select, several matchers on one stream, the `*`
//! wildcard, an update reaching a stream once through alternate topics, and HTTP/1.1.

use super::{marker, next_data, post, private, public, BOOK_1, BOOK_2, MARKER};
use crate::support::mercure::{self, subscribe_path};

#[tokio::test]
async fn match_selects_its_topic_byte_for_byte() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut stream = client
        .subscribe(&subscribe_path(&[("match", BOOK_1), ("match", MARKER)]))
        .await;
    for (topic, data) in [
        ("https://example.com/Books/1", "other case"),
        ("https://example.com/books/1/", "trailing slash"),
        ("https://example.com/books/10", "prefix"),
        ("https://example.com:443/books/1", "explicit port"),
        ("https://example.com/%62ooks/1", "percent-encoded"),
        (BOOK_1, "exact"),
    ] {
        public(&mut client, &server, topic, data).await;
    }
    marker(&mut client, &server, "marker").await;
    assert_eq!(next_data(&mut stream, 2).await, ["exact", "marker"]);
}

#[tokio::test]
async fn match_exact_is_match_and_never_resolves_relative_values() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let absolute = format!("https://localhost:{}/books/1", server.addr.port());
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match_exact", "/books/1"),
            ("match_exact", MARKER),
        ]))
        .await;
    // The same resource, absolute: an exact matcher does not resolve against the hub URL.
    public(&mut client, &server, &absolute, "absolute").await;
    public(&mut client, &server, "/books/1", "relative").await;
    marker(&mut client, &server, "marker").await;
    assert_eq!(next_data(&mut stream, 2).await, ["relative", "marker"]);
}

#[tokio::test]
async fn match_urlpattern_absolute_selects_what_the_pattern_matches() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match_urlpattern", "https://example.com/books/:id"),
            ("match", MARKER),
        ]))
        .await;
    for (topic, data) in [
        ("https://example.com/books/1/reviews", "deeper"),
        ("https://example.com/authors/1", "other path"),
        ("https://example.org/books/1", "other host"),
        ("http://example.com/books/1", "other scheme"),
        ("https://example.com/BOOKS/1", "path case"),
        ("books/1", "relative to the hub, elsewhere"),
        ("https://EXAMPLE.com/books/7", "host case"),
        // Not a URL reference: never matched by a pattern.
        ("https://[example.com/books/8", "unparseable"),
        (BOOK_2, "books/2"),
    ] {
        public(&mut client, &server, topic, data).await;
    }
    marker(&mut client, &server, "marker").await;
    // Host names are case-insensitive (URL canonicalization); paths are not.
    assert_eq!(
        next_data(&mut stream, 3).await,
        ["host case", "books/2", "marker"]
    );
}

#[tokio::test]
async fn match_urlpattern_relative_resolves_against_the_hub_url() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let port = server.addr.port();
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match_urlpattern", "/books/:id"),
            ("match", MARKER),
        ]))
        .await;
    let on_hub = format!("https://localhost:{port}/books/1");
    let other_port = format!("https://localhost:{}/books/2", port.wrapping_add(1));
    for (topic, data) in [
        (on_hub.as_str(), "absolute on the hub's origin"),
        ("https://example.com/books/3", "another origin"),
        (other_port.as_str(), "another port"),
        // A relative topic is resolved against the hub URL too.
        ("/books/4", "relative topic"),
        ("/.well-known/books/5", "elsewhere on the hub"),
    ] {
        public(&mut client, &server, topic, data).await;
    }
    marker(&mut client, &server, "marker").await;
    assert_eq!(
        next_data(&mut stream, 3).await,
        ["absolute on the hub's origin", "relative topic", "marker"]
    );
}

#[tokio::test]
async fn several_matchers_on_one_stream_select_the_union() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match", "https://example.com/foo"),
            ("match_exact", "bar"),
            ("match_urlpattern", "https://example.com/bar/:id"),
            ("match", MARKER),
        ]))
        .await;
    for (topic, data) in [
        ("https://example.com/foo", "foo"),
        ("https://example.com/foo/1", "not foo"),
        ("bar", "bar"),
        ("Bar", "not bar"),
        ("https://example.com/bar/9", "bar/9"),
        ("https://example.com/bar", "not bar/:id"),
    ] {
        public(&mut client, &server, topic, data).await;
    }
    marker(&mut client, &server, "marker").await;
    assert_eq!(
        next_data(&mut stream, 4).await,
        ["foo", "bar", "bar/9", "marker"]
    );
}

#[tokio::test]
async fn wildcard_selects_every_public_update_whatever_the_matcher_type() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut bare = client.subscribe(&subscribe_path(&[("match", "*")])).await;
    // `*` is recognized before the type, and makes the stream's other matchers redundant.
    let mut typed = client
        .subscribe(&subscribe_path(&[
            ("match_urlpattern", "*"),
            ("match", BOOK_1),
        ]))
        .await;
    for (topic, data) in [
        ("anything", "opaque"),
        ("/relative", "relative"),
        (BOOK_1, "book"),
    ] {
        public(&mut client, &server, topic, data).await;
    }
    // Anonymous: `*` selects private updates too, but they are not readable.
    private(&mut client, &server, "secret", "private").await;
    marker(&mut client, &server, "marker").await;
    let expected = ["opaque", "relative", "book", "marker"];
    assert_eq!(next_data(&mut bare, 4).await, expected);
    assert_eq!(next_data(&mut typed, 4).await, expected);
}

#[tokio::test]
async fn an_update_matched_by_canonical_and_alternate_topics_arrives_once() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let alternate = "https://example.com/users/42/books/1";
    // Both topics exact (the indexed path), and exact + pattern (the scanning path).
    let mut indexed = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("match", alternate),
            ("match", MARKER),
        ]))
        .await;
    let mut scanning = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            (
                "match_urlpattern",
                "https://example.com/users/:user/books/:id",
            ),
            ("match", MARKER),
        ]))
        .await;
    // Only the alternate topic is selected: still delivered.
    let mut alternate_only = client
        .subscribe(&subscribe_path(&[("match", alternate), ("match", MARKER)]))
        .await;
    let id = post(
        &mut client,
        &server,
        &[("topic", BOOK_1), ("topic", alternate), ("data", "both")],
    )
    .await;
    marker(&mut client, &server, "marker").await;
    for stream in [&mut indexed, &mut scanning, &mut alternate_only] {
        let events = stream.take(2).await;
        assert_eq!(
            (events[0].id.as_str(), events[0].data.as_str()),
            (id.as_str(), "both")
        );
        assert_eq!(events[1].data, "marker");
    }
}

#[tokio::test]
async fn matchers_select_over_http1_too() {
    let server = mercure::start(|_| {}).await;
    let mut subscriber = server.http1().await;
    let mut publisher = server.http1().await;
    let mut stream = subscriber
        .subscribe(&subscribe_path(&[
            ("match_urlpattern", "https://example.com/books/:id"),
            ("match", MARKER),
        ]))
        .await;
    public(
        &mut publisher,
        &server,
        "https://example.com/authors/1",
        "no",
    )
    .await;
    public(&mut publisher, &server, BOOK_2, "yes").await;
    marker(&mut publisher, &server, "marker").await;
    assert_eq!(next_data(&mut stream, 2).await, ["yes", "marker"]);
}
