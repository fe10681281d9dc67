//! Fan-out: many identical SSE GETs share one upstream request; late joiners, upstream
//! restarts, credentials and upstream refusals.

use http::StatusCode;

use super::{gateway, same_connection, sse_get};
use crate::support::{
    read_all,
    upstream::{Upstream, UpstreamProto},
    SseStream, TestServer,
};

const STREAMS: usize = 200;

/// A gateway in front of `upstream` with fan-out on, keeping `replay` recent events for
/// late joiners (0, the default: none).
async fn fanout_gateway(upstream: &Upstream, replay: usize) -> TestServer {
    gateway("/", &upstream.url(), |route, raw| {
        route.fanout = true;
        route.fanout_replay = replay;
        raw.demo.enabled = false;
    })
    .await
}

async fn open_streams(server: &TestServer, path: &str, n: usize) -> Vec<SseStream> {
    let conn = server.h2().await;
    let mut streams = Vec::with_capacity(n);
    let opening = futures_util::future::join_all((0..n).map(|_| {
        let mut client = same_connection(&conn);
        async move { SseStream::new(client.send(sse_get(path)).await) }
    }));
    streams.extend(opening.await);
    streams
}

async fn all_receive(streams: &mut [SseStream], data: &[&str]) {
    let reads = streams.iter_mut().map(|s| async move {
        s.take(data.len())
            .await
            .into_iter()
            .map(|e| e.data)
            .collect::<Vec<_>>()
    });
    for got in futures_util::future::join_all(reads).await {
        assert_eq!(got, data);
    }
}

#[tokio::test]
async fn two_hundred_streams_on_one_connection_share_one_upstream_request() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = fanout_gateway(&upstream, 0).await;
    let mut streams = open_streams(&server, "/feed", STREAMS).await;
    upstream.wait_open_streams(1).await;
    assert_eq!(
        upstream.sse_requests(),
        1,
        "one upstream request for {STREAMS} streams"
    );
    upstream.publish("a");
    upstream.publish("b");
    all_receive(&mut streams, &["a", "b"]).await;
}

#[tokio::test]
async fn without_fanout_every_stream_is_its_own_upstream_request() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |_, raw| raw.demo.enabled = false).await;
    let mut streams = open_streams(&server, "/feed", STREAMS).await;
    upstream.wait_open_streams(STREAMS).await;
    upstream.publish("solo");
    all_receive(&mut streams, &["solo"]).await;
}

#[tokio::test]
async fn an_upstream_restart_loses_and_repeats_nothing() {
    let mut upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = fanout_gateway(&upstream, 0).await;
    let mut streams = open_streams(&server, "/feed?retry=50", 20).await;
    upstream.wait_open_streams(1).await;
    for i in 1..=3 {
        upstream.publish(&i.to_string());
    }
    all_receive(&mut streams, &["1", "2", "3"]).await;
    upstream.restart().await;
    // Published while the gateway is reconnecting: replayed after Last-Event-ID 3.
    for i in 4..=6 {
        upstream.publish(&i.to_string());
    }
    upstream.wait_open_streams(1).await;
    upstream.publish("7");
    all_receive(&mut streams, &["4", "5", "6", "7"]).await;
    let resumed = upstream
        .requests()
        .into_iter()
        .filter(|r| r.uri.path() == "/feed")
        .filter_map(|r| r.headers.get("last-event-id").cloned())
        .collect::<Vec<_>>();
    assert_eq!(resumed, ["3"], "reconnected once, from the last id seen");
}

#[tokio::test]
async fn late_joiners_get_the_configured_recent_events() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = fanout_gateway(&upstream, 2).await;
    let mut first = open_streams(&server, "/feed", 1).await;
    upstream.wait_open_streams(1).await;
    for d in ["x", "y", "z"] {
        upstream.publish(d);
    }
    all_receive(&mut first, &["x", "y", "z"]).await;
    let mut late = open_streams(&server, "/feed", 1).await;
    upstream.publish("live");
    all_receive(&mut late, &["y", "z", "live"]).await;
    assert_eq!(upstream.sse_requests(), 1);
}

/// Opens one stream resuming after `last_event_id`, on a connection of its own.
async fn resume(server: &TestServer, last_event_id: &str) -> SseStream {
    let mut request = sse_get("/feed");
    request
        .headers_mut()
        .insert("last-event-id", last_event_id.parse().unwrap());
    SseStream::new(server.h2().await.send(request).await)
}

/// Found by the soak: after a cut, the subscriber that reconnected first had seen one event
/// more than another, so the shared stream resumed after the later id and the other lost
/// the event between. A client whose id the shared stream cannot place is relayed alone,
/// from its own id; one whose id it holds joins.
#[tokio::test]
async fn a_resume_from_before_the_shared_stream_gets_its_own_request_and_no_gap() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = fanout_gateway(&upstream, 2).await;
    for i in 1..=3 {
        upstream.publish(&i.to_string());
    }
    let mut ahead = vec![resume(&server, "3").await];
    upstream.wait_open_streams(1).await;
    upstream.publish("4");
    all_receive(&mut ahead, &["4"]).await;
    // Behind the shared stream's start (3): its own request, replayed from 1.
    let mut behind = vec![resume(&server, "1").await];
    upstream.wait_open_streams(2).await;
    all_receive(&mut behind, &["2", "3", "4"]).await;
    // Within what the shared stream keeps (4): joins it.
    let mut within = vec![resume(&server, "4").await];
    // At the shared stream's start: joins it and gets everything it keeps.
    let mut at_start = vec![resume(&server, "3").await];
    all_receive(&mut at_start, &["4"]).await;
    upstream.publish("5");
    for streams in [&mut ahead, &mut behind, &mut within, &mut at_start] {
        all_receive(streams, &["5"]).await;
    }
    assert_eq!(upstream.sse_requests(), 2, "only the one behind went alone");
}

#[tokio::test]
async fn streams_are_never_shared_across_credentials() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = fanout_gateway(&upstream, 0).await;
    let mut client = server.h2().await;
    let mut streams = Vec::new();
    for token in ["alice", "bob", "alice"] {
        let mut req = sse_get("/feed");
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        streams.push(SseStream::new(client.send(req).await));
    }
    upstream.wait_open_streams(2).await;
    assert_eq!(
        upstream.sse_requests(),
        2,
        "alice's two streams share; bob's is separate"
    );
    upstream.publish("hi");
    all_receive(&mut streams, &["hi"]).await;
}

#[tokio::test]
async fn an_upstream_refusal_reaches_every_subscriber() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = fanout_gateway(&upstream, 0).await;
    let mut client = server.h2().await;
    for (path, status) in [
        ("/sse-status/204", StatusCode::NO_CONTENT),
        ("/sse-status/404", StatusCode::NOT_FOUND),
    ] {
        let response = client.send(sse_get(path)).await;
        assert_eq!(read_all(response).await.0, status, "{path}");
    }
}
