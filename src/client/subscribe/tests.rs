//! Tests of `subscribe` against a scripted server: reconnection with `Last-Event-ID`,
//! `retry`, which answers stop or are retried, backoff, and the event output format.

use std::net::TcpListener;

use super::*;
use crate::client::test_server::{json_response, sse_response, text_response, TestServer};

/// Fails the test instead of hanging when a subscription does not stop.
const TEST_DEADLINE: Duration = Duration::from_secs(10);

fn last_event_ids(server: &TestServer) -> Vec<Option<String>> {
    server
        .requests()
        .iter()
        .map(|r| {
            r.headers
                .get("last-event-id")
                .map(|v| v.to_str().unwrap().to_owned())
        })
        .collect()
}

async fn run(
    server: &TestServer,
    opts: SubscribeOptions,
    initial_retry: Duration,
) -> (Result<(), ClientError>, Vec<ReceivedEvent>) {
    let mut events = Vec::new();
    let url = server.url("/events/news");
    let result = tokio::time::timeout(
        TEST_DEADLINE,
        subscribe_with(
            &url,
            &opts,
            &ClientOptions::default(),
            initial_retry,
            |ev| events.push(ev.clone()),
        ),
    )
    .await
    .expect("the subscription did not stop");
    (result, events)
}

#[tokio::test]
async fn reconnects_with_last_event_id_and_receives_no_duplicates() {
    // Each connection serves the next two events after Last-Event-ID, then ends.
    let server = TestServer::start(|_, request| {
        let last: u64 = request
            .headers
            .get("last-event-id")
            .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
        let mut body = String::from(": welcome\n\nretry: 10\n\n");
        for id in (last + 1)..=(last + 2).min(5) {
            body += &format!("id: {id}\nevent: tick\ndata: event {id}\ndata: line 2\n\n");
        }
        sse_response(body)
    })
    .await;
    let opts = SubscribeOptions {
        max_events: Some(5),
        ..SubscribeOptions::default()
    };
    // The default retry would make this test take seconds: passing quickly shows
    // that the data-less `retry: 10` block was honoured.
    let started = std::time::Instant::now();
    let (result, events) = run(&server, opts, DEFAULT_RETRY).await;
    result.unwrap();
    assert!(started.elapsed() < DEFAULT_RETRY, "{:?}", started.elapsed());

    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    assert_eq!(events[2].data, "event 3\nline 2");
    assert_eq!(events[2].event, "tick");
    assert_eq!(
        last_event_ids(&server),
        [None, Some("2".to_owned()), Some("4".to_owned())]
    );
    let request = &server.requests()[0];
    assert_eq!(request.headers["accept"], "text/event-stream");
    assert_eq!(request.headers["cache-control"], "no-cache");
}

#[tokio::test]
async fn first_request_sends_the_given_last_event_id() {
    let server = TestServer::start(|_, _| sse_response("id: 8\ndata: x\n\n")).await;
    let opts = SubscribeOptions {
        last_event_id: Some("7".into()),
        max_events: Some(1),
        ..SubscribeOptions::default()
    };
    run(&server, opts, DEFAULT_RETRY).await.0.unwrap();
    assert_eq!(last_event_ids(&server), [Some("7".to_owned())]);
}

#[tokio::test]
async fn no_content_stops_without_error() {
    let server = TestServer::start(|_, _| text_response(StatusCode::NO_CONTENT, "")).await;
    let (result, events) = run(&server, SubscribeOptions::default(), DEFAULT_RETRY).await;
    result.unwrap();
    assert!(events.is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn client_error_stops_with_the_servers_message() {
    let server = TestServer::start(|_, _| {
        json_response(StatusCode::NOT_FOUND, r#"{"error":"no such topic"}"#)
    })
    .await;
    let (result, _) = run(&server, SubscribeOptions::default(), DEFAULT_RETRY).await;
    match result.unwrap_err() {
        ClientError::Status { status, message } => {
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(message, "no such topic");
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn server_errors_and_wrong_content_types_are_retried() {
    let server = TestServer::start(|index, _| match index {
        0 => json_response(StatusCode::SERVICE_UNAVAILABLE, r#"{"error":"busy"}"#),
        1 => json_response(StatusCode::OK, "{}"),
        _ => sse_response("data: finally\n\n"),
    })
    .await;
    let opts = SubscribeOptions {
        max_events: Some(1),
        max_reconnects: Some(2),
        ..SubscribeOptions::default()
    };
    let (result, events) = run(&server, opts, Duration::from_millis(10)).await;
    result.unwrap();
    assert_eq!(events[0].data, "finally");
    assert_eq!(events[0].event, "message");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn gives_up_after_max_reconnects_failures_in_a_row() {
    let server = TestServer::start(|_, _| {
        json_response(StatusCode::SERVICE_UNAVAILABLE, r#"{"error":"busy"}"#)
    })
    .await;
    let opts = SubscribeOptions {
        max_reconnects: Some(2),
        ..SubscribeOptions::default()
    };
    let (result, _) = run(&server, opts, Duration::from_millis(10)).await;
    match result.unwrap_err() {
        ClientError::ReconnectsExhausted { attempts, last } => {
            assert_eq!(attempts, 3);
            assert!(
                matches!(*last, ClientError::Status { status, .. } if status == 503),
                "{last:?}"
            );
        }
        other => panic!("expected ReconnectsExhausted, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn refused_connection_is_a_failed_attempt() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url: Uri = format!("http://127.0.0.1:{port}/events").parse().unwrap();
    let opts = SubscribeOptions {
        max_reconnects: Some(0),
        ..SubscribeOptions::default()
    };
    let err = subscribe(&url, &opts, &ClientOptions::default(), |_| {})
        .await
        .unwrap_err();
    match err {
        ClientError::ReconnectsExhausted { attempts: 1, last } => {
            assert!(matches!(*last, ClientError::Connect { .. }), "{last:?}");
        }
        other => panic!("expected ReconnectsExhausted, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_utf8_is_replaced_instead_of_stalling_the_stream() {
    let server =
        TestServer::start(|_, _| sse_response(&b"data: bad \xff byte\n\ndata: next\n\n"[..])).await;
    let opts = SubscribeOptions {
        max_events: Some(2),
        ..SubscribeOptions::default()
    };
    let (result, events) = run(&server, opts, DEFAULT_RETRY).await;
    result.unwrap();
    assert_eq!(events[0].data, "bad \u{fffd} byte");
    assert_eq!(events[1].data, "next");
}

#[tokio::test]
async fn an_id_without_data_is_sent_as_last_event_id_and_an_empty_id_clears_it() {
    // First connection: an event, then a bare id block (the spec's "last event ID string"
    // is set at every blank line). Second: an empty id, which clears it.
    let server = TestServer::start(|index, _| match index {
        0 => sse_response("retry: 10\n\nid: 1\ndata: a\n\nid: 2\n\n"),
        1 => sse_response("data: b\n\nid:\n\n"),
        _ => sse_response("data: c\n\n"),
    })
    .await;
    let opts = SubscribeOptions {
        max_events: Some(3),
        ..SubscribeOptions::default()
    };
    let (result, events) = run(&server, opts, DEFAULT_RETRY).await;
    result.unwrap();
    assert_eq!(
        last_event_ids(&server),
        [None, Some("2".to_owned()), None],
        "the data-less id counts; the empty id resets"
    );
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["1", "", ""], "ids are those seen on each connection");
}

#[tokio::test]
async fn retry_of_an_event_cut_short_by_the_end_of_the_stream_still_counts() {
    // The spec applies `retry` when its line is read; the event itself is discarded.
    let server = TestServer::start(|index, _| match index {
        0 => sse_response("retry: 10\ndata: lost\n"),
        _ => sse_response("data: kept\n\n"),
    })
    .await;
    let opts = SubscribeOptions {
        max_events: Some(1),
        ..SubscribeOptions::default()
    };
    let started = std::time::Instant::now();
    let (result, events) = run(&server, opts, DEFAULT_RETRY).await;
    result.unwrap();
    assert!(started.elapsed() < DEFAULT_RETRY, "{:?}", started.elapsed());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, "kept");
}

#[tokio::test]
async fn an_event_ended_by_a_final_cr_is_delivered_when_the_stream_ends() {
    // A CR at the end of the input may be half a CRLF, so the event waits for the next
    // byte; the end of the stream settles it.
    let server = TestServer::start(|_, _| sse_response("id: 1\rdata: a\r\r")).await;
    let opts = SubscribeOptions {
        max_events: Some(1),
        ..SubscribeOptions::default()
    };
    let (result, events) = run(&server, opts, DEFAULT_RETRY).await;
    result.unwrap();
    assert_eq!((events[0].id.as_str(), events[0].data.as_str()), ("1", "a"));
}

#[tokio::test]
async fn an_event_too_large_stops_the_subscription() {
    let server = TestServer::start(|_, _| {
        let mut body = b"data: ".to_vec();
        body.resize(MAX_EVENT_BYTES + 1, b'x');
        sse_response(body)
    })
    .await;
    let (result, events) = run(&server, SubscribeOptions::default(), DEFAULT_RETRY).await;
    match result.unwrap_err() {
        ClientError::EventTooLarge(error) => assert_eq!(error.limit, MAX_EVENT_BYTES),
        other => panic!("expected EventTooLarge, got {other:?}"),
    }
    assert!(events.is_empty());
    assert_eq!(
        server.requests().len(),
        1,
        "reconnecting would fetch it again"
    );
}

#[test]
fn format_event_writes_an_event_stream_block() {
    let ev = ReceivedEvent {
        id: "42".into(),
        event: "news".into(),
        data: "first\nsecond".into(),
        retry: Some(Duration::from_millis(1500)),
    };
    assert_eq!(
        format_event(&ev),
        "id: 42\nevent: news\nretry: 1500\ndata: first\ndata: second\n\n"
    );
    let ev = ReceivedEvent {
        id: String::new(),
        event: "message".into(),
        data: String::new(),
        retry: None,
    };
    assert_eq!(format_event(&ev), "event: message\ndata: \n\n");
}

#[test]
fn redirects_and_client_errors_but_408_and_429_are_fatal() {
    for fatal in [301, 307, 400, 401, 403, 404, 410] {
        assert!(is_fatal(StatusCode::from_u16(fatal).unwrap()), "{fatal}");
    }
    for retried in [202, 408, 429, 500, 502, 503] {
        assert!(
            !is_fatal(StatusCode::from_u16(retried).unwrap()),
            "{retried}"
        );
    }
}

#[test]
fn event_stream_content_type_allows_parameters_and_case() {
    assert!(is_event_stream("text/event-stream"));
    assert!(is_event_stream("Text/Event-Stream; charset=utf-8"));
    assert!(!is_event_stream("text/plain"));
    assert!(!is_event_stream(""));
}

#[test]
fn backoff_doubles_with_jitter_up_to_the_cap() {
    let retry = Duration::from_secs(1);
    for failures in 1..40 {
        let full = retry
            .saturating_mul(1 << (failures - 1).min(16))
            .min(MAX_BACKOFF);
        let delay = backoff(retry, failures);
        assert!(delay >= full / 2 && delay <= full, "{failures}: {delay:?}");
    }
    // A server asking for more than the cap gets what it asked for.
    let long = Duration::from_secs(60);
    assert!(backoff(long, 5) <= long && backoff(long, 5) >= long / 2);
    // retry: 0 does not turn failures into a busy loop.
    assert!(backoff(Duration::ZERO, 1) >= MIN_FAILURE_DELAY / 2);
}
