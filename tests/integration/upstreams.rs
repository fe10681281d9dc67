//! The gateway tests' upstream servers, hit directly: each route does what its doc says over
//! HTTP/1.1 and h2c, streams resume after `Last-Event-ID`, a stopped upstream comes back on
//! its port, the bad upstreams break HTTP the way they are named for, and the sse-starlette
//! app streams events with ids.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{StatusCode, Version};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{
    read_all, request,
    starlette::StarletteUpstream,
    upstream::{connect, BadKind, BadUpstream, Upstream, UpstreamProto},
    SseStream, PATIENCE,
};

const PROTOS: [UpstreamProto; 2] = [UpstreamProto::Http1, UpstreamProto::H2c];

/// `(id, data)` of the next `n` events.
async fn ids_and_data(stream: &mut SseStream, n: usize) -> Vec<(String, String)> {
    let events = stream.take(n).await;
    events.into_iter().map(|e| (e.id, e.data)).collect()
}

fn expected(ids: &[&str], ks: &[u64]) -> Vec<(String, String)> {
    let pairs = ids.iter().zip(ks);
    pairs
        .map(|(id, k)| (id.to_string(), format!("event {k}")))
        .collect()
}

#[tokio::test]
async fn sse_counts_from_last_event_id_and_ends_after_count() {
    for proto in PROTOS {
        let upstream = Upstream::start(proto).await;
        let mut client = upstream.client().await;
        let response = client.get("/sse?count=3&retry=1500&id_prefix=a-").await;
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut stream = SseStream::new(response);
        let first = stream.next().await.unwrap();
        assert_eq!(first.retry, Some(Duration::from_millis(1500)), "{proto:?}");
        let rest = ids_and_data(&mut stream, 2).await;
        assert_eq!((first.id, first.data), ("a-1".into(), "event 1".into()));
        assert_eq!(rest, expected(&["a-2", "a-3"], &[2, 3]), "{proto:?}");
        assert!(stream.next().await.is_none(), "{proto:?}: ends after count");

        let mut req = request("GET", "/sse?count=2&id_prefix=a-", "");
        req.headers_mut()
            .insert("last-event-id", "a-7".parse().unwrap());
        let mut stream = SseStream::new(client.send(req).await);
        let resumed = ids_and_data(&mut stream, 2).await;
        assert_eq!(resumed, expected(&["a-8", "a-9"], &[8, 9]), "{proto:?}");
        assert!(stream.next().await.is_none());
        assert_eq!(upstream.sse_requests(), 2);
        upstream.wait_open_streams(0).await;
    }
}

#[tokio::test]
async fn sse_split_mode_cuts_events_into_small_pieces() {
    for proto in PROTOS {
        let upstream = Upstream::start(proto).await;
        let response = upstream.client().await.get("/sse?count=2&split=1").await;
        let body = response.into_body();
        let frames: Vec<Bytes> = tokio::time::timeout(PATIENCE, async {
            let mut frames = Vec::new();
            let mut body = body;
            while let Some(frame) = body.frame().await {
                frames.extend(frame.unwrap().into_data().ok());
            }
            frames
        })
        .await
        .unwrap();
        let text: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
        assert_eq!(text, b"id: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\n");
        assert!(frames.len() > 8, "{proto:?}: {} frames", frames.len());
        assert!(frames.iter().all(|f| f.len() <= 7));
    }
}

#[tokio::test]
async fn idle_sse_sends_its_head_and_then_nothing() {
    for proto in PROTOS {
        let upstream = Upstream::start(proto).await;
        let response = upstream.client().await.get("/sse?idle=1").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(upstream.open_streams(), 1);
        let mut body = response.into_body();
        let quiet = tokio::time::timeout(Duration::from_millis(200), body.frame()).await;
        assert!(quiet.is_err(), "{proto:?}: idle stream sent {quiet:?}");
        drop(body);
        upstream.wait_open_streams(0).await;
    }
}

#[tokio::test]
async fn feed_broadcasts_published_events_and_replays_after_last_event_id() {
    let upstream = Upstream::start(UpstreamProto::H2c).await;
    let mut client = upstream.client().await;
    let mut a = client.subscribe("/feed").await;
    let mut b = client.subscribe("/feed").await;
    upstream.wait_sse_requests(2).await;
    upstream.wait_open_streams(2).await;
    assert_eq!(
        (upstream.publish("one"), upstream.publish("two\nlines")),
        (1, 2)
    );
    for stream in [&mut a, &mut b] {
        let events = ids_and_data(stream, 2).await;
        let want = [("1", "one"), ("2", "two\nlines")].map(|(i, d)| (i.into(), d.into()));
        assert_eq!(events, want);
    }
    let mut req = request("GET", "/feed", "");
    req.headers_mut()
        .insert("last-event-id", "1".parse().unwrap());
    let mut late = SseStream::new(client.send(req).await);
    upstream.wait_open_streams(3).await;
    upstream.publish("three");
    let events = ids_and_data(&mut late, 2).await;
    assert_eq!(
        events,
        [
            ("2".into(), "two\nlines".into()),
            ("3".into(), "three".into())
        ]
    );
    assert_eq!(upstream.sse_requests(), 3);
}

#[tokio::test]
async fn echo_reports_the_request_as_the_upstream_saw_it() {
    for proto in PROTOS {
        let upstream = Upstream::start(proto).await;
        let mut req = request("POST", "/echo/a/b?x=1&y=2", "payload");
        req.headers_mut().append("x-test", "one".parse().unwrap());
        req.headers_mut().append("x-test", "two".parse().unwrap());
        let (status, body) = read_all(upstream.client().await.send(req).await).await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["method"], "POST");
        assert_eq!(json["path"], "/echo/a/b");
        assert_eq!(json["query"], "x=1&y=2");
        assert_eq!(json["body"], "payload");
        assert_eq!(json["headers"]["x-test"], serde_json::json!(["one", "two"]));
        let version = if proto == UpstreamProto::H2c {
            "HTTP/2.0"
        } else {
            "HTTP/1.1"
        };
        assert_eq!(json["version"], version);
        let seen = upstream.requests();
        assert_eq!(seen.len(), 1);
        let want_version = if proto == UpstreamProto::H2c {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        };
        assert_eq!(
            (&seen[0].method, seen[0].version),
            (&http::Method::POST, want_version)
        );
        assert_eq!(seen[0].uri.path(), "/echo/a/b");
        assert_eq!(seen[0].headers.get_all("x-test").iter().count(), 2);
        assert_eq!(
            (seen[0].body.as_ref(), seen[0].connection),
            (&b"payload"[..], 1)
        );
        assert_eq!(upstream.connections(), 1);
        let url = format!("{}://127.0.0.1:{}", proto.scheme(), upstream.port());
        assert_eq!((upstream.url(), upstream.proto()), (url, proto));
    }
}

#[tokio::test]
async fn stream_echo_answers_each_frame_before_the_request_ends() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let tcp = TcpStream::connect(upstream.addr()).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    let body = StreamBody::new(tokio_stream_from(rx));
    let req = http::Request::post("/stream-echo")
        .header("host", "upstream")
        .body(body)
        .unwrap();
    tx.send(Ok(Frame::data(Bytes::from("ping")))).await.unwrap();
    let response = tokio::time::timeout(PATIENCE, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let mut body = response.into_body();
    let frame = tokio::time::timeout(PATIENCE, body.frame()).await.unwrap();
    assert_eq!(frame.unwrap().unwrap().into_data().unwrap(), "ping");
    drop(tx);
    assert!(tokio::time::timeout(PATIENCE, body.frame())
        .await
        .unwrap()
        .is_none());
}

fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::unfold(rx, |mut rx| async move { Some((rx.recv().await?, rx)) })
}

#[tokio::test]
async fn status_routes_answer_with_the_code_asked_for() {
    for proto in PROTOS {
        let upstream = Upstream::start(proto).await;
        let mut client = upstream.client().await;
        let (status, body) = read_all(client.get("/status/503").await).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "status 503\n")
        );
        for (code, status) in [(204, StatusCode::NO_CONTENT), (404, StatusCode::NOT_FOUND)] {
            let response = client.get(&format!("/sse-status/{code}")).await;
            assert_eq!(response.status(), status);
            assert_eq!(response.headers()["content-type"], "text/event-stream");
        }
    }
}

#[tokio::test]
async fn slow_routes_delay_the_head_or_space_the_chunks() {
    for proto in PROTOS {
        let upstream = Upstream::start(proto).await;
        let mut client = upstream.client().await;
        let started = Instant::now();
        let response = client.get("/slow-headers?delay_ms=150").await;
        assert!(started.elapsed() >= Duration::from_millis(150), "{proto:?}");
        assert_eq!(read_all(response).await.1, "slow headers\n");

        let started = Instant::now();
        let mut body = client
            .get("/slow-body?chunks=3&delay_ms=60")
            .await
            .into_body();
        let mut arrivals = Vec::new();
        while let Some(frame) = tokio::time::timeout(PATIENCE, body.frame()).await.unwrap() {
            let data = frame.unwrap().into_data().unwrap();
            // h2 may end the stream with an empty DATA frame.
            if !data.is_empty() {
                arrivals.push((started.elapsed(), data));
            }
        }
        let texts: Vec<_> = arrivals.iter().map(|(_, d)| d.clone()).collect();
        assert_eq!(
            texts,
            ["chunk 0\n", "chunk 1\n", "chunk 2\n"].map(Bytes::from)
        );
        assert!(
            arrivals[2].0 >= Duration::from_millis(120),
            "{proto:?}: {arrivals:?}"
        );
    }
}

#[tokio::test]
async fn chunked_trailers_end_with_a_checksum_trailer() {
    for proto in PROTOS {
        let upstream = Upstream::start(proto).await;
        let mut req = request("GET", "/chunked-trailers", "");
        // hyper sends HTTP/1.1 trailers only to a client that says it accepts them.
        req.headers_mut().insert("te", "trailers".parse().unwrap());
        let response = upstream.client().await.send(req).await;
        let collected = tokio::time::timeout(PATIENCE, response.into_body().collect())
            .await
            .unwrap()
            .unwrap();
        let trailers = collected.trailers().cloned().expect("trailers");
        let sum: u32 = b"hello world\n".iter().map(|&b| u32::from(b)).sum();
        assert_eq!(trailers["x-checksum"], format!("{sum:08x}"), "{proto:?}");
        assert_eq!(collected.to_bytes(), "hello world\n");
    }
}

#[tokio::test]
async fn websocket_route_echoes_messages() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let url = format!("ws://{}/ws", upstream.addr());
    let (mut ws, response) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::text("hello")).await.unwrap();
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    let mut replies = Vec::new();
    for _ in 0..2 {
        replies.push(
            tokio::time::timeout(PATIENCE, ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(
        replies,
        [Message::text("hello"), Message::binary(vec![1, 2, 3])]
    );
    ws.close(None).await.unwrap();
    let end = tokio::time::timeout(PATIENCE, ws.next()).await.unwrap();
    assert!(matches!(end, Some(Ok(Message::Close(_))) | None), "{end:?}");
}

#[tokio::test]
async fn stop_cuts_open_streams_and_restart_listens_on_the_same_port() {
    for proto in PROTOS {
        let mut upstream = Upstream::start(proto).await;
        let port = upstream.port();
        let response = upstream
            .client()
            .await
            .get("/sse?count=0&interval_ms=10")
            .await;
        let mut body = response.into_body();
        tokio::time::timeout(PATIENCE, body.frame()).await.unwrap();
        upstream.stop().await;
        assert_eq!(upstream.open_streams(), 0);
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
        // Frames already in flight may still arrive; then an error, never a clean end.
        let end = tokio::time::timeout(PATIENCE, async {
            loop {
                match body.frame().await {
                    Some(Ok(_)) => continue,
                    other => return other,
                }
            }
        });
        let end = end.await.unwrap();
        assert!(
            matches!(end, Some(Err(_))),
            "{proto:?}: stop ended with {end:?}"
        );

        upstream.publish("kept");
        upstream.restart().await;
        assert_eq!(upstream.port(), port);
        let mut req = request("GET", "/feed", "");
        req.headers_mut()
            .insert("last-event-id", "0".parse().unwrap());
        let mut feed = SseStream::new(upstream.client().await.send(req).await);
        assert_eq!(
            ids_and_data(&mut feed, 1).await,
            [("1".into(), "kept".into())]
        );
        assert_eq!(upstream.sse_requests(), 2, "counters survive a restart");
        drop(feed);

        upstream.stop().await;
        let fresh = Upstream::start_on(proto, port).await;
        assert_eq!(fresh.port(), port);
        let (status, _) = read_all(fresh.client().await.get("/status/200").await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(fresh.requests().len(), 1);
    }
}

/// A bare HTTP/1.1 GET to a bad upstream: the response, or the error it ends in.
async fn get_from(
    bad: &BadUpstream,
) -> Result<(StatusCode, Result<Bytes, hyper::Error>), hyper::Error> {
    let tcp = TcpStream::connect(bad.addr()).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let req = http::Request::get("/sse")
        .header("host", "bad")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = send.send_request(req).await?;
    let status = response.status();
    let body = response.into_body().collect().await.map(|c| c.to_bytes());
    Ok((status, body))
}

#[tokio::test]
async fn bad_upstreams_break_http_as_named() {
    let malformed = BadUpstream::start(BadKind::MalformedHeaders).await;
    let err = get_from(&malformed).await.unwrap_err();
    assert!(err.is_parse(), "malformed: {err:?}");

    let truncated = BadUpstream::start(BadKind::TruncatedChunked).await;
    let (status, body) = get_from(&truncated).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_err(), "truncated body must fail: {body:?}");

    let reset = BadUpstream::start(BadKind::Reset).await;
    let outcome = tokio::time::timeout(PATIENCE, get_from(&reset))
        .await
        .unwrap();
    assert!(outcome.is_err(), "reset: {outcome:?}");
    assert_eq!(reset.connections(), 1);

    let mut silent = BadUpstream::start(BadKind::NeverRespond).await;
    assert_eq!(silent.url(), format!("http://{}", silent.addr()));
    let waited = tokio::time::timeout(Duration::from_millis(300), get_from(&silent)).await;
    assert!(waited.is_err(), "never-respond answered: {waited:?}");
    assert_eq!(silent.connections(), 1);
    silent.stop().await;
    assert!(TcpStream::connect(silent.addr()).await.is_err());
}

#[tokio::test]
async fn starlette_app_streams_events_with_ids_and_resumes() {
    let upstream = StarletteUpstream::start().await;
    assert_eq!(upstream.url(), format!("http://{}", upstream.addr()));
    let mut client = connect(upstream.addr(), UpstreamProto::Http1).await;
    let mut stream = client.subscribe("/sse?count=3&retry=2000").await;
    assert!(stream.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let first = stream.next().await.unwrap();
    assert_eq!(first.retry, Some(Duration::from_millis(2000)));
    assert_eq!((first.id.as_str(), first.data.as_str()), ("1", "event 1"));
    assert_eq!(
        ids_and_data(&mut stream, 2).await,
        expected(&["2", "3"], &[2, 3])
    );
    assert!(stream.next().await.is_none());

    let mut req = request("GET", "/sse?count=2", "");
    req.headers_mut()
        .insert("last-event-id", "3".parse().unwrap());
    let response = client.send(req).await;
    assert_eq!(response.version(), Version::HTTP_11);
    let mut stream = SseStream::new(response);
    assert_eq!(
        ids_and_data(&mut stream, 2).await,
        expected(&["4", "5"], &[4, 5])
    );
}
