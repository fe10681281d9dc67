//! Gateway event streams end like hub streams: promptly on drain (relayed and shared), and a
//! shared stream whose upstream goes silent without closing is reconnected with
//! `Last-Event-ID`, so its subscribers miss nothing and get nothing twice.

use std::time::{Duration, Instant};

use super::{gateway, sse_get};
use crate::support::{
    upstream::{Upstream, UpstreamProto},
    SseStream, PATIENCE,
};

/// Long enough that a shutdown waiting for it would fail the test's own patience.
const SHUTDOWN_TIMEOUT_SECS: f64 = 30.0;

async fn drain_ends_the_stream(fanout: bool) {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |route, raw| {
        route.fanout = fanout;
        raw.demo.enabled = false;
        raw.server.shutdown_timeout_secs = SHUTDOWN_TIMEOUT_SECS;
    })
    .await;
    let mut client = server.h2().await;
    let mut stream = SseStream::new(client.send(sse_get("/feed")).await);
    upstream.wait_open_streams(1).await;
    upstream.publish("before the drain");
    assert_eq!(stream.take(1).await[0].data, "before the drain");

    let started = Instant::now();
    // TestServer::shutdown waits at most PATIENCE, far below the shutdown deadline: it
    // returns only if the gateway stream ended by itself.
    assert!(PATIENCE < Duration::from_secs_f64(SHUTDOWN_TIMEOUT_SECS));
    let stopping = tokio::spawn(server.shutdown());
    assert!(stream.next().await.is_none(), "the stream ends, cleanly");
    stopping
        .await
        .expect("the server stops before its deadline");
    assert!(
        started.elapsed() < Duration::from_secs_f64(SHUTDOWN_TIMEOUT_SECS / 2.0),
        "shutdown took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_relayed_stream_ends_promptly_on_drain() {
    drain_ends_the_stream(false).await;
}

#[tokio::test]
async fn a_shared_stream_ends_promptly_on_drain() {
    drain_ends_the_stream(true).await;
}

#[tokio::test]
async fn a_silent_upstream_is_reconnected_with_the_last_event_id() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |route, raw| {
        route.fanout = true;
        route.fanout_idle_timeout_secs = Some(0.5);
        raw.demo.enabled = false;
    })
    .await;
    let mut client = server.h2().await;
    let mut stream = SseStream::new(client.send(sse_get("/feed")).await);
    upstream.wait_open_streams(1).await;
    upstream.publish("one");
    assert_eq!(stream.take(1).await[0].id, "1");

    // The feed now sends nothing and keeps its connection open: a half-open upstream looks
    // exactly like this to the gateway. It must give up on it and ask again from id 1.
    upstream.wait_sse_requests(2).await;
    let resumed_from: Vec<String> = upstream
        .requests()
        .iter()
        .filter(|r| r.uri.path() == "/feed")
        .filter_map(|r| r.headers.get("last-event-id"))
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(resumed_from.first().map(String::as_str), Some("1"));
    upstream.wait_open_streams(1).await;
    upstream.publish("two");
    let next = stream.take(1).await;
    assert_eq!((next[0].id.as_str(), next[0].data.as_str()), ("2", "two"));
}
