//! Event-stream requests to `http://` upstreams go over a connection of their own, read by
//! the client's stream (`src/gateway/direct.rs`): whatever the upstream answers (events, an
//! error page, a broken head) reaches the client as it would through the pooled client.

use http::StatusCode;

use super::{gateway, sse_get};
use crate::support::{
    read_all,
    upstream::{BadKind, BadUpstream},
    SseStream,
};

async fn through_gateway(answer: &'static [u8]) -> (BadUpstream, crate::support::TestServer) {
    let upstream = BadUpstream::start(BadKind::Answer(answer)).await;
    let server = gateway("/", &upstream.url(), |route, raw| {
        route.response_header_timeout_secs = 2.0;
        raw.demo.enabled = false;
    })
    .await;
    (upstream, server)
}

#[tokio::test]
async fn the_upstream_gets_one_bodiless_get_with_the_forwarding_headers() {
    let (upstream, server) = through_gateway(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\nid: 1\ndata: one\n\n",
    )
    .await;
    let mut stream = SseStream::new(server.h2().await.send(sse_get("/feed?topic=a")).await);
    assert_eq!(stream.next().await.expect("event").data, "one");
    let head = upstream.last_request().to_ascii_lowercase();
    assert!(head.starts_with("get /feed?topic=a http/1.1\r\n"), "{head}");
    for line in [
        "host: 127.0.0.1:",
        "accept: text/event-stream",
        "x-forwarded-for: 127.0.0.1",
    ] {
        assert!(head.contains(line), "{line:?} missing from {head}");
    }
    for absent in ["content-length", "transfer-encoding", "connection:"] {
        assert!(!head.contains(absent), "{absent:?} in {head}");
    }
}

#[tokio::test]
async fn an_event_stream_until_close_ends_cleanly_with_every_event() {
    // No length and no chunking: the body is what comes until the upstream closes.
    let (_upstream, server) = through_gateway(
        b"HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\n\r\n\
          id: 1\ndata: one\n\nid: 2\ndata: two\n\n",
    )
    .await;
    let mut stream = SseStream::new(server.h2().await.send(sse_get("/feed")).await);
    let mut ids = Vec::new();
    while let Some(event) = stream.try_next().await.expect("a clean end") {
        if !event.id.is_empty() {
            ids.push(event.id);
        }
    }
    assert_eq!(ids, ["1", "2"]);
}

#[tokio::test]
async fn interim_responses_are_skipped() {
    let (_upstream, server) = through_gateway(
        b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n\
          HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
          12\r\nid: 7\ndata: late\n\n\r\n0\r\n\r\n",
    )
    .await;
    let response = server.h2().await.send(sse_get("/feed")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = SseStream::new(response);
    let event = stream.next().await.expect("event");
    assert_eq!((event.id.as_str(), event.data.as_str()), ("7", "late"));
}

#[tokio::test]
async fn a_non_event_answer_is_relayed_by_its_length() {
    // What follows the announced length is not the body's.
    let (_upstream, server) = through_gateway(
        b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 21\r\n\r\n\
          {\"error\":\"no feed x\"}trailing garbage",
    )
    .await;
    let (status, body) = read_all(server.h2().await.send(sse_get("/feed")).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, r#"{"error":"no feed x"}"#);
}

#[tokio::test]
async fn a_body_cut_before_its_length_is_an_error_not_a_short_body() {
    let (_upstream, server) = through_gateway(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\nonly this",
    )
    .await;
    let response = server.h2().await.send(sse_get("/feed")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let collected = tokio::time::timeout(
        crate::support::PATIENCE,
        http_body_util::BodyExt::collect(response.into_body()),
    )
    .await
    .expect("in time");
    assert!(
        collected.is_err(),
        "a truncated body must not look complete"
    );
}

#[tokio::test]
async fn bad_answers_are_502_and_silence_is_504() {
    let huge: &'static [u8] = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\nx-big: {}\r\n\r\n",
            "a".repeat(70 * 1024)
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    for answer in [
        &b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n"[..],
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-",
        // An upgrade nobody asked for, even with what looks like a response after it.
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n\
          HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        huge,
    ] {
        let (_upstream, server) = through_gateway(answer).await;
        let (status, _) = read_all(server.h2().await.send(sse_get("/feed")).await).await;
        let shown = String::from_utf8_lossy(&answer[..answer.len().min(40)]);
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{shown}");
    }

    let silent = BadUpstream::start(BadKind::NeverRespond).await;
    let server = gateway("/", &silent.url(), |route, raw| {
        route.response_header_timeout_secs = 0.3;
        raw.demo.enabled = false;
    })
    .await;
    let (status, _) = read_all(server.h2().await.send(sse_get("/feed")).await).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);

    let mut gone = BadUpstream::start(BadKind::Reset).await;
    let url = gone.url();
    gone.stop().await;
    let server = gateway("/", &url, |_, raw| raw.demo.enabled = false).await;
    let (status, _) = read_all(server.h2().await.send(sse_get("/feed")).await).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}
