//! Graceful shutdown: GOAWAY on HTTP/2, every stream ended so clients reconnect elsewhere,
//! and a deadline that closes connections that do not go.

use std::time::Duration;

use http::StatusCode;
use tokio::io::AsyncWriteExt;

use crate::support::{TestServer, PATIENCE};

#[tokio::test]
async fn shutdown_ends_streams_and_sends_goaway() {
    let server = TestServer::start().await;
    let tls = server.tls_connect(&[b"h2"]).await;
    let (send, connection) = h2::client::handshake(tls).await.expect("h2 handshake");
    let connection = tokio::spawn(connection);
    let mut send = send.ready().await.unwrap();
    let url = format!("https://localhost:{}/events/bye", server.addr.port());
    let req = http::Request::get(&url).body(()).unwrap();
    let (response, _) = send.send_request(req, true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = body.data().await.unwrap().unwrap();
    body.flow_control().release_capacity(first.len()).unwrap();

    let stopping = tokio::spawn(server.shutdown());

    // The stream ends cleanly (END_STREAM, not a reset) ...
    loop {
        match tokio::time::timeout(PATIENCE, body.data())
            .await
            .expect("stream ends")
        {
            None => break,
            Some(Ok(data)) => {
                body.flow_control().release_capacity(data.len()).unwrap();
            }
            Some(Err(e)) => panic!("stream reset instead of ended: {e}"),
        }
    }
    // ... new streams are refused because of GOAWAY, and the connection closes gracefully.
    let req = http::Request::get(&url).body(()).unwrap();
    let refused = match send.ready().await {
        Err(e) => Some(e),
        Ok(mut ready) => match ready.send_request(req, true) {
            Err(e) => Some(e),
            Ok((response, _)) => response.await.err(),
        },
    };
    let refused = refused.expect("no new stream after shutdown");
    assert!(
        refused.is_go_away() || refused.is_io() || refused.reason().is_some(),
        "{refused:?}"
    );
    let closed = tokio::time::timeout(PATIENCE, connection)
        .await
        .expect("connection closes");
    assert!(closed.unwrap().is_ok(), "graceful close, not an error");
    stopping.await.unwrap();
}

#[tokio::test]
async fn shutdown_ends_http1_streams() {
    let server = TestServer::start().await;
    let mut client = server.http1().await;
    let mut stream = client.subscribe("/events/bye").await;
    let stopping = tokio::spawn(server.shutdown());
    assert!(stream.next().await.is_none(), "stream ends on shutdown");
    stopping.await.unwrap();
}

#[tokio::test]
async fn shutdown_deadline_closes_a_client_that_does_not_read() {
    let server = TestServer::start_with(|raw| {
        raw.server.shutdown_timeout_secs = 0.5;
        raw.hub.subscriber_queue = 1024;
    })
    .await;
    // An HTTP/1.1 subscriber that never reads: once the socket buffers are full, the
    // response can neither finish nor be flushed.
    let mut tls = server.tls_connect(&[b"http/1.1"]).await;
    tls.write_all(b"GET /events/stuck HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let hub = server.hub.clone();
    while hub.stats().active_subscriptions == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let chunk = "y".repeat(64 << 10);
    let fields = ssegate::sse::EventFields::default();
    let topic = ssegate::hub::TopicName::parse("stuck").unwrap();
    for _ in 0..200 {
        hub.publish(&topic, None, &fields, &chunk).await.unwrap();
    }
    // Without the deadline this would wait for the client forever.
    tokio::time::timeout(PATIENCE, server.shutdown())
        .await
        .expect("shutdown completes at its deadline");
    drop(tls);
}
