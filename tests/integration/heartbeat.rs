//! Heartbeats: idle streams get comment frames, which no SSE parser turns into events.

use futures_util::future::join_all;
use http_body_util::BodyExt;

use crate::support::{read_heartbeats, TestServer, PATIENCE};

#[tokio::test]
async fn an_idle_stream_receives_heartbeat_comments() {
    let server = TestServer::start_with(|raw| raw.hub.heartbeat_interval_secs = 0.2).await;
    for mut client in [server.h2().await, server.http1().await] {
        let mut body = client.get("/events/quiet").await.into_body();
        let seen = read_heartbeats(&mut body, 3).await;
        // Only comment lines: an SSE parser dispatches nothing.
        let text = String::from_utf8(seen.to_vec()).unwrap();
        assert!(
            text.lines().all(|l| l.is_empty() || l.starts_with(':')),
            "{text:?}"
        );
    }
}

#[tokio::test]
async fn a_stream_is_never_cut_for_being_idle() {
    // The request-header deadline is short; an open stream must outlive it many times.
    let server = TestServer::start_with(|raw| {
        raw.server.header_read_timeout_secs = 0.2;
        raw.hub.heartbeat_interval_secs = 0.1;
    })
    .await;
    let mut client = server.h2().await;
    let mut body = client.get("/events/long").await.into_body();
    let mut bytes = 0;
    // Twenty heartbeats is about ten header timeouts.
    let mut heartbeats = 0;
    while heartbeats < 20 {
        let frame = tokio::time::timeout(PATIENCE, body.frame())
            .await
            .expect("frame in time")
            .expect("stream still open")
            .expect("no error");
        if let Ok(data) = frame.into_data() {
            bytes += data.len();
            heartbeats += data.windows(3).filter(|w| w == b":\n\n").count();
        }
    }
    assert!(bytes > 0);
    let mut publisher = server.h2().await;
    publisher.post("/events/long", "still here").await;
    loop {
        let frame = tokio::time::timeout(PATIENCE, body.frame())
            .await
            .expect("event in time")
            .expect("stream still open")
            .expect("no error");
        if let Ok(data) = frame.into_data() {
            if data.windows(10).any(|w| w == b"still here") {
                break;
            }
        }
    }
}

#[tokio::test]
async fn every_idle_stream_of_a_busy_connection_gets_its_heartbeats() {
    // 64 silent streams on one connection, ticked by the connection's one clock: every
    // stream gets its share, tick after tick (a tick that stopped partway, say after a
    // first batch, would starve the streams last in the connection's table).
    let server = TestServer::start_with(|raw| raw.hub.heartbeat_interval_secs = 0.2).await;
    let mut client = server.h2().await;
    let mut bodies = Vec::new();
    for i in 0..64 {
        bodies.push(client.get(&format!("/events/quiet-{i}")).await.into_body());
    }
    let counts = join_all(bodies.into_iter().map(|mut body| async move {
        // Heartbeats seen in 3 s: about 15 at one per 0.2 s interval.
        let mut seen = 0;
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        while let Ok(frame) = tokio::time::timeout_at(until, body.frame()).await {
            let data = frame.expect("stream open").expect("no error").into_data();
            if let Ok(data) = data {
                seen += data.windows(3).filter(|w| w == b":\n\n").count();
            }
        }
        seen
    }))
    .await;
    let most = counts.iter().copied().max().unwrap_or(0);
    assert!(most >= 5, "{counts:?}");
    assert!(
        counts.iter().all(|&n| n * 2 >= most),
        "every stream gets about the same number: {counts:?}"
    );
}
