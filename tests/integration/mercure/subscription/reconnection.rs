//! Reconnection (draft "Reconnection"): the `last_event_id` parameter and the `Last-Event-ID`
//! header, `earliest`, unknown and discarded ids, the `Mercure-Last-Event-ID` response header,
//! and ids chosen (and reused) by publishers as events' ids and cursors.

use super::{next_data, open_with, post, public, BOOK_1, BOOK_2};
use crate::support::mercure::{self, subscribe_path};

#[tokio::test]
async fn last_event_id_parameter_resumes_right_after_the_named_update() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let first = public(&mut client, &server, BOOK_1, "one").await;
    public(&mut client, &server, BOOK_2, "other topic").await;
    let second = public(&mut client, &server, BOOK_1, "two").await;
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("last_event_id", &first),
        ]))
        .await;
    assert_eq!(stream.headers["mercure-last-event-id"], first.as_str());
    let third = public(&mut client, &server, BOOK_1, "three").await;
    let events = stream.take(2).await;
    assert_eq!(
        events
            .iter()
            .map(|e| (e.id.as_str(), e.data.as_str()))
            .collect::<Vec<_>>(),
        [(second.as_str(), "two"), (third.as_str(), "three")]
    );
}

#[tokio::test]
async fn last_event_id_header_wins_over_the_parameter() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let first = public(&mut client, &server, BOOK_1, "one").await;
    let second = public(&mut client, &server, BOOK_1, "two").await;
    public(&mut client, &server, BOOK_1, "three").await;
    let mut stream = open_with(
        &mut client,
        &[("match", BOOK_1), ("last_event_id", &first)],
        &[("last-event-id", &second)],
    )
    .await;
    assert_eq!(stream.headers["mercure-last-event-id"], second.as_str());
    assert_eq!(next_data(&mut stream, 1).await, ["three"]);
    // The header alone works too.
    let mut header_only = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[("last-event-id", &first)],
    )
    .await;
    assert_eq!(header_only.headers["mercure-last-event-id"], first.as_str());
    assert_eq!(next_data(&mut header_only, 2).await, ["two", "three"]);
}

#[tokio::test]
async fn earliest_replays_every_retained_update_of_the_selected_topics() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    public(&mut client, &server, BOOK_1, "one").await;
    public(&mut client, &server, "https://example.com/other", "other").await;
    public(&mut client, &server, BOOK_2, "two").await;
    post(
        &mut client,
        &server,
        &[("topic", "x"), ("topic", BOOK_1), ("data", "alternate")],
    )
    .await;
    let mut by_param = client
        .subscribe(&subscribe_path(&[
            ("match_urlpattern", "https://example.com/books/:id"),
            ("last_event_id", "earliest"),
        ]))
        .await;
    assert_eq!(by_param.headers["mercure-last-event-id"], "earliest");
    let mut by_header = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[("last-event-id", "earliest")],
    )
    .await;
    assert_eq!(by_header.headers["mercure-last-event-id"], "earliest");
    public(&mut client, &server, BOOK_1, "live").await;
    assert_eq!(
        next_data(&mut by_param, 4).await,
        ["one", "two", "alternate", "live"]
    );
    assert_eq!(
        next_data(&mut by_header, 3).await,
        ["one", "alternate", "live"]
    );
}

#[tokio::test]
async fn unknown_id_replays_what_is_retained_and_reports_earliest() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    // Nothing retained yet: `earliest`, and nothing replayed.
    let mut empty = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("last_event_id", "urn:uuid:unknown"),
        ]))
        .await;
    assert_eq!(empty.headers["mercure-last-event-id"], "earliest");
    public(&mut client, &server, BOOK_1, "one").await;
    public(&mut client, &server, BOOK_1, "two").await;
    assert_eq!(next_data(&mut empty, 2).await, ["one", "two"]);

    for unknown in ["urn:uuid:00000000-0000-4000-8000-000000000000", "17", "#0"] {
        let mut stream = client
            .subscribe(&subscribe_path(&[
                ("match", BOOK_1),
                ("last_event_id", unknown),
            ]))
            .await;
        assert_eq!(
            stream.headers["mercure-last-event-id"], "earliest",
            "{unknown}"
        );
        assert_eq!(next_data(&mut stream, 2).await, ["one", "two"], "{unknown}");
    }
}

#[tokio::test]
async fn a_discarded_id_replays_what_is_retained_and_reports_earliest() {
    let server = mercure::start(|raw| {
        raw.hub.history_max_events = 2;
        raw.mercure.subscriptions = false;
    })
    .await;
    let mut client = server.h2().await;
    let first = public(&mut client, &server, BOOK_1, "one").await;
    public(&mut client, &server, BOOK_1, "two").await;
    public(&mut client, &server, BOOK_1, "three").await;
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("last_event_id", &first),
        ]))
        .await;
    assert_eq!(stream.headers["mercure-last-event-id"], "earliest");
    assert_eq!(next_data(&mut stream, 2).await, ["two", "three"]);
}

#[tokio::test]
async fn without_a_cursor_nothing_is_replayed_and_no_cursor_field_is_sent() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    public(&mut client, &server, BOOK_1, "old").await;
    let mut stream = client
        .subscribe(&subscribe_path(&[("match", BOOK_1)]))
        .await;
    assert!(stream.headers.get("mercure-last-event-id").is_none());
    assert!(stream.headers.get("last-event-id").is_none());
    // An empty cursor is no cursor.
    let mut empty = open_with(
        &mut client,
        &[("match", BOOK_1), ("last_event_id", "")],
        &[],
    )
    .await;
    assert!(empty.headers.get("mercure-last-event-id").is_none());
    public(&mut client, &server, BOOK_1, "new").await;
    assert_eq!(next_data(&mut stream, 1).await, ["new"]);
    assert_eq!(next_data(&mut empty, 1).await, ["new"]);
}

#[tokio::test]
async fn publisher_chosen_ids_are_the_events_ids_and_cursors() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let ids = [
        "https://example.com/books/1#v1",
        "42",
        "livre-\u{e9}t\u{e9}",
        "urn:example:v3",
    ];
    for (i, id) in ids.iter().enumerate() {
        let data = format!("v{i}");
        let answered = post(
            &mut client,
            &server,
            &[("topic", BOOK_1), ("id", id), ("data", &data)],
        )
        .await;
        assert_eq!(&answered, id);
    }
    let mut all = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("last_event_id", "earliest"),
        ]))
        .await;
    let replayed: Vec<String> = all.take(4).await.into_iter().map(|e| e.id).collect();
    assert_eq!(replayed, ids);
    for (i, id) in ids.iter().enumerate() {
        let mut stream = client
            .subscribe(&subscribe_path(&[("match", BOOK_1), ("last_event_id", id)]))
            .await;
        assert_eq!(
            stream
                .headers
                .get("mercure-last-event-id")
                .map(|v| v.as_bytes()),
            Some(id.as_bytes()),
            "cursor field for {id}"
        );
        if i + 1 < ids.len() {
            assert_eq!(stream.next().await.unwrap().id, ids[i + 1], "after {id}");
        }
    }
}

#[tokio::test]
async fn a_reused_id_resumes_after_its_earliest_update_and_replays_the_later_one() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    post(
        &mut client,
        &server,
        &[("topic", BOOK_1), ("id", "dup"), ("data", "first dup")],
    )
    .await;
    public(&mut client, &server, BOOK_1, "between").await;
    post(
        &mut client,
        &server,
        &[("topic", BOOK_1), ("id", "dup"), ("data", "second dup")],
    )
    .await;
    public(&mut client, &server, BOOK_1, "after").await;
    let mut stream = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[("last-event-id", "dup")],
    )
    .await;
    assert_eq!(stream.headers["mercure-last-event-id"], "dup");
    let events = stream.take(3).await;
    assert_eq!(
        events
            .iter()
            .map(|e| (e.id.as_str(), e.data.as_str()))
            .collect::<Vec<_>>()[1],
        ("dup", "second dup")
    );
    assert_eq!(
        events.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
        ["between", "second dup", "after"]
    );
}
