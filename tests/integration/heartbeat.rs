//! Heartbeats: idle streams get comment frames, which no SSE parser turns into events.

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
