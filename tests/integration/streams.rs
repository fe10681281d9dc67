//! Subscribing and publishing: headers, the opening comment, encoding as an independent
//! parser reads it, fan-out over one HTTP/2 connection, multi-topic and finite streams.

use futures_util::future::join_all;
use http::StatusCode;
use http_body_util::BodyExt;

use crate::support::{published_id, request, Client, TestServer};

#[tokio::test]
async fn subscribe_answers_event_stream_headers_and_flushes_a_comment_at_once() {
    let server = TestServer::start().await;
    for mut client in [server.h2().await, server.http1().await] {
        let response = client.get("/events/news").await;
        assert_eq!(response.status(), StatusCode::OK);
        let h = response.headers();
        assert_eq!(h["content-type"], "text/event-stream");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-accel-buffering"], "no");
        // Nothing was published: the first bytes must still arrive, or `open` never fires.
        let mut body = response.into_body();
        let frame = tokio::time::timeout(crate::support::PATIENCE, body.frame())
            .await
            .expect("first frame in time")
            .expect("a frame")
            .expect("no error");
        let data = frame.into_data().expect("data frame");
        assert!(data.starts_with(b":"), "opening comment, got {data:?}");
    }
}

#[tokio::test]
async fn published_fields_reach_the_subscriber_as_an_independent_parser_reads_them() {
    let server = TestServer::start().await;
    let mut sub_conn = server.h2().await;
    let mut stream = sub_conn.subscribe("/events/news").await;
    let mut publisher = server.h2().await;
    let (status, body) = publisher
        .post(
            "/events/news?event=update&retry=2500",
            "line one\r\nline two\rline three\n end",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = published_id(&body);
    let event = stream.next().await.expect("event");
    assert_eq!(event.event, "update");
    assert_eq!(event.id, id);
    assert_eq!(event.data, "line one\nline two\nline three\n end");
    assert_eq!(event.retry, Some(std::time::Duration::from_millis(2500)));
}

#[tokio::test]
async fn ids_are_unique_and_increasing() {
    let server = TestServer::start().await;
    let mut publisher = server.h2().await;
    let mut last = 0u64;
    for _ in 0..20 {
        let (status, body) = publisher.post("/events/ids", "x").await;
        assert_eq!(status, StatusCode::OK);
        let id: u64 = published_id(&body).parse().expect("numeric id");
        assert!(id > last, "{id} after {last}");
        last = id;
    }
}

#[tokio::test]
async fn five_hundred_streams_on_one_h2_connection_all_receive_every_event() {
    const STREAMS: usize = 500;
    const TOPICS: usize = 10;
    const EVENTS: usize = 3;
    let server = TestServer::start().await;
    let conn = server.h2().await;
    let opened = join_all((0..STREAMS).map(|i| {
        let mut client = match &conn {
            Client::H2(send, base) => Client::H2(send.clone(), base.clone()),
            Client::H1(_) => unreachable!(),
        };
        async move {
            client
                .subscribe(&format!("/events/fan-{}", i % TOPICS))
                .await
        }
    }))
    .await;
    assert_eq!(server.hub.stats().active_subscriptions, STREAMS as u64);

    let mut publisher = server.h2().await;
    for n in 0..EVENTS {
        for t in 0..TOPICS {
            let (status, _) = publisher
                .post(&format!("/events/fan-{t}"), format!("{t}:{n}"))
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    let received = join_all(
        opened
            .into_iter()
            .enumerate()
            .map(|(i, mut stream)| async move {
                let events = stream.take(EVENTS).await;
                (i, events.into_iter().map(|e| e.data).collect::<Vec<_>>())
            }),
    )
    .await;
    for (i, data) in received {
        let t = i % TOPICS;
        let expected: Vec<String> = (0..EVENTS).map(|n| format!("{t}:{n}")).collect();
        assert_eq!(data, expected, "stream {i}");
    }
}

#[tokio::test]
async fn one_stream_carries_several_topics() {
    let server = TestServer::start().await;
    let mut client = server.h2().await;
    let mut stream = client.subscribe("/events?topic=alpha&topic=beta").await;
    let mut publisher = server.http1().await;
    for (topic, data) in [
        ("alpha", "1"),
        ("gamma", "not mine"),
        ("beta", "2"),
        ("alpha", "3"),
    ] {
        let (status, _) = publisher.post(&format!("/events/{topic}"), data).await;
        assert_eq!(status, StatusCode::OK);
    }
    let data: Vec<String> = stream.take(3).await.into_iter().map(|e| e.data).collect();
    assert_eq!(data, ["1", "2", "3"]);
}

#[tokio::test]
async fn http1_streams_receive_events_too() {
    let server = TestServer::start().await;
    let mut client = server.http1().await;
    let mut stream = client.subscribe("/events/h1").await;
    let mut publisher = server.h2().await;
    publisher.post("/events/h1", "over http/1.1").await;
    assert_eq!(stream.next().await.expect("event").data, "over http/1.1");
}

#[tokio::test]
async fn limit_ends_the_stream_after_n_events() {
    let server = TestServer::start().await;
    let mut client = server.h2().await;
    let mut stream = client.subscribe("/events/finite?limit=2").await;
    let mut publisher = server.h2().await;
    for i in 0..3 {
        publisher.post("/events/finite", i.to_string()).await;
    }
    let data: Vec<String> = stream.take(2).await.into_iter().map(|e| e.data).collect();
    assert_eq!(data, ["0", "1"]);
    assert!(stream.next().await.is_none(), "stream ends after the limit");
}

#[tokio::test]
async fn timeout_ends_an_idle_stream() {
    let server = TestServer::start().await;
    let mut client = server.h2().await;
    let mut stream = client.subscribe("/events/finite?timeout=0.3").await;
    assert!(stream.next().await.is_none(), "stream ends at its timeout");
}

#[tokio::test]
async fn demo_page_and_health_are_served() {
    let server = TestServer::start().await;
    let mut client = server.h2().await;
    let page = client.send(request("GET", "/", "")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let (status, body) = crate::support::read_all(client.get("/healthz").await).await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ok");
}
