//! Stream lifetime and headers: a stream ends by its token's `exp` or by
//! `max_connection_secs`; streams are uncached event streams that send heartbeats.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::StatusCode;

use super::{next_data, open_with, private, public, reader, token_with, BOOK_1};
use crate::support::{
    mercure::{self, bearer, now, subscribe_path},
    read_heartbeats, SseStream, PATIENCE,
};

// Stream lifetime.

/// Waits for `stream` to end; returns when it did. Panics if an event arrives instead.
async fn ended(stream: &mut SseStream) -> Instant {
    let event = stream.next().await;
    assert!(
        event.is_none(),
        "the stream ends rather than sending {event:?}"
    );
    Instant::now()
}

#[tokio::test]
async fn a_subscriber_stream_ends_by_its_token_exp() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let exp = now() + 2;
    let short = token_with(&server, exp, "at+jwt");
    let exp = UNIX_EPOCH + Duration::from_secs(exp);
    let started = Instant::now();
    let mut stream = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[("authorization", &bearer(&short))],
    )
    .await;
    private(&mut client, &server, BOOK_1, "private").await;
    assert_eq!(next_data(&mut stream, 1).await, ["private"]);
    let end = ended(&mut stream).await;
    let late = SystemTime::now()
        .duration_since(exp)
        .unwrap_or(Duration::ZERO);
    // No later than `exp`, give or take the timer's and the scheduler's slack.
    assert!(late < Duration::from_secs(1), "ended {late:?} after exp");
    assert!(end.duration_since(started) < Duration::from_secs(4));
    // The connection is still usable.
    let mut again = client
        .subscribe(&subscribe_path(&[("match", BOOK_1)]))
        .await;
    public(&mut client, &server, BOOK_1, "public").await;
    assert_eq!(next_data(&mut again, 1).await, ["public"]);
}

#[tokio::test]
async fn max_connection_secs_ends_an_anonymous_stream() {
    let server = mercure::start(|raw| raw.mercure.max_connection_secs = 1.0).await;
    let mut client = server.h2().await;
    let started = Instant::now();
    let mut stream = client
        .subscribe(&subscribe_path(&[("match", BOOK_1)]))
        .await;
    public(&mut client, &server, BOOK_1, "live").await;
    assert_eq!(next_data(&mut stream, 1).await, ["live"]);
    let lifetime = ended(&mut stream).await.duration_since(started);
    assert!(lifetime >= Duration::from_millis(900), "{lifetime:?}");
    assert!(lifetime < Duration::from_secs(3), "{lifetime:?}");
    // The token's `exp` being later does not extend it.
    let long = reader(&server, &[("*", "exact")]);
    let started = Instant::now();
    let mut with_token = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[("authorization", &bearer(&long))],
    )
    .await;
    let lifetime = ended(&mut with_token).await.duration_since(started);
    assert!(lifetime < Duration::from_secs(3), "{lifetime:?}");
}

// Stream headers and keep-alive.

#[tokio::test]
async fn streams_are_uncached_event_streams_with_heartbeats() {
    let server = mercure::start(|raw| raw.hub.heartbeat_interval_secs = 0.2).await;
    for mut client in [server.h2().await, server.http1().await] {
        let response = client.get(&subscribe_path(&[("match", BOOK_1)])).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers["content-type"], "text/event-stream");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(headers.get("connection").is_none());
        let mut body = response.into_body();
        let started = Instant::now();
        let seen = tokio::time::timeout(PATIENCE, read_heartbeats(&mut body, 3))
            .await
            .expect("heartbeats in time");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        // Nothing but comments on an idle stream.
        assert!(
            seen[..]
                .split(|&b| b == b'\n')
                .all(|line| line.is_empty() || line.starts_with(b":")),
            "{:?}",
            String::from_utf8_lossy(&seen)
        );
    }
}

#[tokio::test]
async fn a_client_over_its_stream_limit_gets_429_until_one_of_its_streams_ends() {
    let server = mercure::start(|raw| raw.mercure.max_streams_per_client = 2).await;
    let mut client = server.h2().await;
    let path = subscribe_path(&[("match", BOOK_1)]);
    let first = client.subscribe(&path).await;
    let _second = client.subscribe(&path).await;
    let response = client.get(&path).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "5");
    let (_, body) = crate::support::read_all(response).await;
    assert!(body.contains("max_streams_per_client"), "{body}");
    // A new connection from the same address counts against the same limit.
    let mut other = server.h2().await;
    assert_eq!(
        other.get(&path).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    drop(first);
    // The place frees when the server drops the stream: poll briefly (bounded).
    let deadline = Instant::now() + PATIENCE;
    loop {
        let response = other.get(&path).await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(Instant::now() < deadline, "the place never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
