//! `Last-Event-ID` resumption: replay then live, with no gap and no duplicate even while a
//! publisher is busy; unknown ids are replayed as a documented gap.

use http::StatusCode;

use crate::support::{published_id, request, SseStream, TestServer};

#[tokio::test]
async fn reconnecting_with_last_event_id_misses_nothing_while_publishing_continues() {
    const TOTAL: usize = 400;
    let server = TestServer::start().await;
    let mut subscriber = server.h2().await;
    let mut stream = subscriber.subscribe("/events/resume").await;

    // The publisher runs on its own connection for the whole test, racing the reconnects.
    let mut publisher = server.h2().await;
    let publishing = tokio::spawn(async move {
        for i in 0..TOTAL {
            let (status, _) = publisher.post("/events/resume", i.to_string()).await;
            assert_eq!(status, StatusCode::OK);
        }
    });

    let mut received: Vec<String> = Vec::with_capacity(TOTAL);
    let mut reconnects = 0;
    loop {
        // Read a varying number of events, then drop the stream mid-flight and resume.
        let batch = 1 + (reconnects * 7) % 37;
        let mut last_id = None;
        for _ in 0..batch {
            let event = stream.next().await.expect("stream stays open");
            received.push(event.data);
            last_id = Some(event.id);
            if received.len() == TOTAL {
                break;
            }
        }
        if received.len() == TOTAL {
            break;
        }
        drop(stream);
        reconnects += 1;
        let mut req = request("GET", "/events/resume", "");
        let id = last_id.expect("read at least one event");
        req.headers_mut()
            .insert("last-event-id", id.parse().expect("header value"));
        let response = subscriber.send(req).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["ssegate-replay"], "complete");
        stream = SseStream::new(response);
    }
    publishing.await.expect("publisher finished");
    let expected: Vec<String> = (0..TOTAL).map(|i| i.to_string()).collect();
    assert_eq!(received, expected, "after {reconnects} reconnects");
    assert!(reconnects > 5);
}

#[tokio::test]
async fn last_event_id_query_parameter_resumes_a_first_connection() {
    let server = TestServer::start().await;
    let mut publisher = server.h2().await;
    let first = published_id(&publisher.post("/events/q", "one").await.1);
    publisher.post("/events/q", "two").await;
    let mut client = server.h2().await;
    let mut stream = client
        .subscribe(&format!("/events/q?last_event_id={first}"))
        .await;
    assert_eq!(stream.next().await.expect("replayed").data, "two");
    publisher.post("/events/q", "three").await;
    assert_eq!(stream.next().await.expect("live").data, "three");
}

#[tokio::test]
async fn the_header_wins_over_the_query_parameter() {
    let server = TestServer::start().await;
    let mut publisher = server.h2().await;
    let first = published_id(&publisher.post("/events/w", "one").await.1);
    let second = published_id(&publisher.post("/events/w", "two").await.1);
    publisher.post("/events/w", "three").await;
    let mut client = server.h2().await;
    let mut req = request("GET", &format!("/events/w?last_event_id={first}"), "");
    req.headers_mut()
        .insert("last-event-id", second.parse().unwrap());
    let mut stream = SseStream::new(client.send(req).await);
    assert_eq!(stream.next().await.expect("replayed").data, "three");
}

#[tokio::test]
async fn an_unknown_id_replays_what_is_retained_after_a_gap_notice() {
    let server = TestServer::start().await;
    let mut publisher = server.h2().await;
    publisher.post("/events/g", "kept").await;
    let mut client = server.h2().await;
    let mut req = request("GET", "/events/g", "");
    req.headers_mut()
        .insert("last-event-id", "from-another-server".parse().unwrap());
    let mut stream = SseStream::new(client.send(req).await);
    assert_eq!(stream.headers["ssegate-replay"], "gap");
    let notice = stream.next().await.expect("gap notice");
    assert_eq!(notice.event, "ssegate-gap");
    assert!(
        notice.data.contains("from-another-server"),
        "{}",
        notice.data
    );
    assert_eq!(stream.next().await.expect("replayed").data, "kept");
}

#[tokio::test]
async fn an_evicted_id_is_a_gap_and_only_retained_events_replay() {
    let server = TestServer::start_with(|raw| raw.hub.history_max_events = 3).await;
    let mut publisher = server.h2().await;
    let first = published_id(&publisher.post("/events/e", "0").await.1);
    for i in 1..6 {
        publisher.post("/events/e", i.to_string()).await;
    }
    let mut client = server.h2().await;
    let mut req = request("GET", "/events/e", "");
    req.headers_mut()
        .insert("last-event-id", first.parse().unwrap());
    let mut stream = SseStream::new(client.send(req).await);
    assert_eq!(stream.headers["ssegate-replay"], "gap");
    assert_eq!(stream.next().await.unwrap().event, "ssegate-gap");
    let data: Vec<String> = stream.take(3).await.into_iter().map(|e| e.data).collect();
    assert_eq!(data, ["3", "4", "5"]);
}

#[tokio::test]
async fn publisher_chosen_ids_resume_too() {
    let server = TestServer::start().await;
    let mut publisher = server.h2().await;
    let (status, body) = publisher.post("/events/c?id=order-17", "a").await;
    assert_eq!(
        (status, published_id(&body)),
        (StatusCode::OK, "order-17".into())
    );
    publisher.post("/events/c", "b").await;
    let mut client = server.h2().await;
    let mut req = request("GET", "/events/c", "");
    req.headers_mut()
        .insert("last-event-id", "order-17".parse().unwrap());
    let mut stream = SseStream::new(client.send(req).await);
    assert_eq!(stream.headers["ssegate-replay"], "complete");
    assert_eq!(stream.next().await.unwrap().data, "b");
}
