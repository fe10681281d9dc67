//! A subscriber that stops reading: publishers and other subscribers carry on at full
//! speed, its memory stays bounded, and its stream is ended so it resumes from history.

use bytes::Bytes;
use futures_util::future::join_all;
use http::StatusCode;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncWriteExt;

use crate::support::{request, Client, SseStream, TestServer};

const EVENTS: usize = 200;

#[tokio::test]
async fn a_stalled_subscriber_is_ended_on_overflow_and_delays_no_one() {
    let server = TestServer::start_with(|raw| {
        raw.hub.subscriber_queue = 8;
        raw.http2.max_send_buf_size = 1024;
    })
    .await;
    // The stalled stream shares its connection with a healthy one. A small stream window
    // (the h2 default) makes the server's side block quickly once the client stops reading.
    let tls = server.tls_connect(&[b"h2"]).await;
    let (mut shared, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(16 << 20)
        .handshake::<_, Full<Bytes>>(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let url = |path: &str| format!("https://localhost:{}{path}", server.addr.port());
    let stalled = shared
        .send_request(request("GET", &url("/events/busy"), ""))
        .await
        .unwrap();
    assert_eq!(stalled.status(), StatusCode::OK);
    let neighbour = SseStream::new(
        shared
            .send_request(request("GET", &url("/events/busy"), ""))
            .await
            .unwrap(),
    );
    let mut other_conn = server.h2().await;
    let elsewhere = other_conn.subscribe("/events/busy").await;

    // The healthy subscribers read as events come, as a browser does.
    let healthy = tokio::spawn(join_all(
        [neighbour, elsewhere]
            .into_iter()
            .map(|mut s| async move { s.take(EVENTS).await.len() }),
    ));

    // 200 events of 1 KiB: far more than the stalled stream's window, send buffer and
    // queue hold together.
    let mut publisher = server.h2().await;
    let payload = "x".repeat(1000);
    for i in 0..EVENTS {
        let (status, _) = publisher
            .post("/events/busy", format!("{i:04}{payload}"))
            .await;
        assert_eq!(status, StatusCode::OK, "publishing is never held up");
    }
    let healthy = healthy.await.unwrap();
    assert_eq!(
        healthy,
        [EVENTS, EVENTS],
        "healthy subscribers got everything"
    );
    assert_eq!(
        server.hub.stats().overflows,
        0,
        "counted when the stream notices"
    );

    // Reading again, the stalled subscriber gets what was buffered, then the end.
    let mut stalled = SseStream::new(stalled);
    let mut got = 0;
    let mut last_id = String::new();
    while let Some(event) = stalled.next().await {
        got += 1;
        last_id = event.id;
    }
    assert!(
        got < EVENTS,
        "the stream ended early ({got} events), not after all"
    );
    assert_eq!(server.hub.stats().overflows, 1);

    // And it resumes from history with nothing lost.
    let mut client = Client::H2(shared, format!("https://localhost:{}", server.addr.port()));
    let mut req = request("GET", "/events/busy", "");
    req.headers_mut()
        .insert("last-event-id", last_id.parse().unwrap());
    let mut resumed = SseStream::new(client.send(req).await);
    let rest = resumed.take(EVENTS - got).await;
    assert!(rest
        .last()
        .unwrap()
        .data
        .starts_with(&format!("{:04}", EVENTS - 1)));
}

#[tokio::test]
async fn an_http1_subscriber_that_stops_reading_is_disconnected_after_the_stall_timeout() {
    let server = TestServer::start_with(|raw| {
        raw.server.write_stall_timeout_secs = 0.5;
        // Room for everything published below: only the stall timeout can end this stream.
        raw.hub.subscriber_queue = 1024;
    })
    .await;
    let mut tls = server.tls_connect(&[b"http/1.1"]).await;
    tls.write_all(b"GET /events/stall HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let hub = server.hub.clone();
    wait_for(|| hub.stats().active_subscriptions == 1).await;
    let chunk = "s".repeat(64 << 10);
    let fields = ssegate::sse::EventFields::default();
    let topic = ssegate::hub::TopicName::parse("stall").unwrap();
    for _ in 0..200 {
        hub.publish(&topic, None, &fields, &chunk).await.unwrap();
    }
    // The socket buffers fill, the writes stall, and the connection is closed.
    wait_for(|| hub.stats().active_subscriptions == 0).await;
    assert_eq!(
        hub.stats().overflows,
        0,
        "freed by the stall timeout, not an overflow"
    );
    drop(tls);
}

#[tokio::test]
async fn subscribers_that_take_everything_catch_up_when_the_server_falls_behind() {
    // One slot per subscriber: a burst fills it before a connection gets a turn.
    let server = TestServer::start_with(|raw| raw.hub.subscriber_queue = 1).await;
    let mut h2 = server.h2().await;
    let mut h1 = server.http1().await;
    let mut subscribers = [
        h2.subscribe("/events/burst").await,
        h1.subscribe("/events/burst").await,
    ];
    let hub = server.hub.clone();
    wait_for(|| hub.stats().active_subscriptions == 2).await;
    // Published in-process without a yield: the burst comes faster than the connections
    // (on the server's worker threads) write it, as when the server's cores are busy. The
    // clients read all the while; the HTTP/1.1 one is read only after the HTTP/2 one, and
    // its connection stops asking for frames meanwhile, which must not pass for a slow
    // client (see `Mailbox::set_held_inferred`).
    let fields = ssegate::sse::EventFields::default();
    let topic = ssegate::hub::TopicName::parse("burst").unwrap();
    let mut ids = Vec::new();
    for i in 0..EVENTS {
        ids.push(
            hub.publish(&topic, None, &fields, &i.to_string())
                .await
                .unwrap()
                .id,
        );
    }
    for subscriber in &mut subscribers {
        let events = subscriber.take(EVENTS).await;
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.id.as_str(), e.data.as_str()))
            .collect();
        let published: Vec<_> = (0..EVENTS).map(|i| i.to_string()).collect();
        let want: Vec<_> = ids
            .iter()
            .map(|id| id.as_str())
            .zip(published.iter().map(String::as_str))
            .collect();
        assert_eq!(got, want, "every event once, in order");
    }
    let stats = hub.stats();
    assert_eq!(stats.overflows, 0, "no stream ended");
    // At least once each; more often as the connections catch up and fall behind again.
    assert!(
        stats.catch_ups >= 2,
        "both read the burst from the log: {stats:?}"
    );
    assert_eq!(stats.active_subscriptions, 2);
    // And live again afterwards.
    hub.publish(&topic, None, &fields, "after").await.unwrap();
    for subscriber in &mut subscribers {
        assert_eq!(subscriber.next().await.unwrap().data, "after");
    }
}

/// Polls `done` until it holds, at most the test's patience.
async fn wait_for(done: impl Fn() -> bool) {
    tokio::time::timeout(crate::support::PATIENCE, async {
        while !done() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("condition reached in time");
}
