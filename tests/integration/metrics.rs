//! The metrics a real server exports on its admin listener, scraped over TCP and read with
//! an independent parser: each test makes something happen and watches its metric move.

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncWriteExt;

use crate::gateway::{gateway, sse_get};
use crate::support::{
    admin::{scrape, value, wait_for},
    mercure::{self, bearer, get_with, subscribe_path},
    published_id, request,
    upstream::{Upstream, UpstreamProto},
    SseStream, TestServer,
};

const EVENTS: &[(&str, &str)] = &[("front_door", "events")];

#[tokio::test]
async fn streams_on_one_h2_connection_are_gauged_and_their_deliveries_counted() {
    const STREAMS: usize = 5;
    const PUBLISHED: usize = 4;
    let server = TestServer::start().await;
    let mut subscriber = server.h2().await;
    let mut streams = Vec::new();
    for _ in 0..STREAMS {
        streams.push(subscriber.subscribe("/events/gauged").await);
    }
    wait_for(&server, "ssegate_streams_active", EVENTS, STREAMS as f64).await;
    let conn = [("listener", "tls"), ("protocol", "h2")];
    wait_for(&server, "ssegate_connections_active", &conn, 1.0).await;

    let mut publisher = server.h2().await;
    for i in 0..PUBLISHED {
        let (status, _) = publisher.post("/events/gauged", format!("e{i}")).await;
        assert_eq!(status, StatusCode::OK);
    }
    for stream in &mut streams {
        assert_eq!(stream.take(PUBLISHED).await.len(), PUBLISHED);
    }
    let delivered = (STREAMS * PUBLISHED) as f64;
    wait_for(&server, "ssegate_events_delivered_total", EVENTS, delivered).await;
    let metrics = scrape(&server).await;
    let published = value(&metrics, "ssegate_events_published_total", EVENTS);
    assert_eq!(published, Some(PUBLISHED as f64));
    assert_eq!(
        value(&metrics, "ssegate_connections_active", &conn),
        Some(2.0)
    );
    let sampled = value(&metrics, "ssegate_delivery_latency_seconds_count", &[]).unwrap();
    assert!(
        (1.0..=PUBLISHED as f64).contains(&sampled),
        "at most one observation per event, and at least one: {sampled}"
    );

    drop(streams);
    wait_for(&server, "ssegate_streams_active", EVENTS, 0.0).await;
    let gone = [("front_door", "events"), ("reason", "client_gone")];
    wait_for(
        &server,
        "ssegate_stream_endings_total",
        &gone,
        STREAMS as f64,
    )
    .await;
}

#[tokio::test]
async fn a_stalled_subscriber_ends_as_an_overflow() {
    let server = TestServer::start_with(|raw| {
        raw.hub.subscriber_queue = 8;
        raw.http2.max_send_buf_size = 1024;
    })
    .await;
    // A small stream window: the server's side blocks as soon as the client stops reading.
    let tls = server.tls_connect(&[b"h2"]).await;
    let (mut send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(65_535)
        .handshake::<_, Full<Bytes>>(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let url = format!("https://localhost:{}/events/slow", server.addr.port());
    let stalled = send.send_request(request("GET", &url, "")).await.unwrap();
    let mut publisher = server.h2().await;
    let payload = "x".repeat(1000);
    for i in 0..200 {
        publisher
            .post("/events/slow", format!("{i}{payload}"))
            .await;
    }
    // Reading again, it gets what was buffered, then the end.
    let mut stalled = SseStream::new(stalled);
    while stalled.next().await.is_some() {}
    let overflow = [("front_door", "events"), ("reason", "overflow")];
    wait_for(&server, "ssegate_stream_endings_total", &overflow, 1.0).await;
}

#[tokio::test]
async fn resumptions_are_counted_complete_or_with_a_gap() {
    let server = TestServer::start().await;
    let mut client = server.h2().await;
    let (_, body) = client.post("/events/r", "one").await;
    let id = published_id(&body);
    client.post("/events/r", "two").await;
    let mut complete = request("GET", "/events/r", "");
    complete
        .headers_mut()
        .insert("last-event-id", id.parse().unwrap());
    let mut gap = request("GET", "/events/r", "");
    gap.headers_mut()
        .insert("last-event-id", "never-published".parse().unwrap());
    let complete = SseStream::new(client.send(complete).await);
    let gap = SseStream::new(client.send(gap).await);
    assert_eq!(complete.headers["ssegate-replay"], "complete");
    assert_eq!(gap.headers["ssegate-replay"], "gap");
    let metrics = scrape(&server).await;
    for outcome in ["complete", "gap"] {
        let labels = [("front_door", "events"), ("outcome", outcome)];
        assert_eq!(
            value(&metrics, "ssegate_replays_total", &labels),
            Some(1.0),
            "{outcome}"
        );
    }
}

#[tokio::test]
async fn refused_publications_are_counted_by_status() {
    let server = TestServer::start().await;
    let mut client = server.h2().await;
    let (status, _) = client.post("/events/dup?id=order-1", "first").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = client.post("/events/dup?id=order-1", "again").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = client.post("/events/dup?id=", "empty id").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let metrics = scrape(&server).await;
    let errors = |status| [("front_door", "events"), ("status", status)];
    let count = |status| value(&metrics, "ssegate_publish_errors_total", &errors(status));
    assert_eq!(count("409"), Some(1.0));
    assert_eq!(count("400"), Some(1.0));
    let published = value(&metrics, "ssegate_events_published_total", EVENTS);
    assert_eq!(published, Some(1.0));
}

#[tokio::test]
async fn refused_mercure_tokens_are_counted_by_reason() {
    let server = mercure::start(|raw| raw.mercure.anonymous = false).await;
    let mut client = server.h2().await;
    let path = subscribe_path(&[("match", "https://example.com/books/1")]);
    let missing = client.send(get_with(&path, &[])).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let garbage = bearer("not.a.jwt");
    let malformed = client
        .send(get_with(&path, &[("authorization", &garbage)]))
        .await;
    assert_eq!(malformed.status(), StatusCode::UNAUTHORIZED);
    let metrics = scrape(&server).await;
    for reason in ["missing", "malformed"] {
        let labels = [("reason", reason)];
        let counted = value(&metrics, "ssegate_mercure_token_rejections_total", &labels);
        assert_eq!(counted, Some(1.0), "{reason}");
    }
}

#[tokio::test]
async fn a_failed_tls_handshake_is_counted_as_an_error() {
    let server = TestServer::start().await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: not-tls\r\n\r\n")
        .await
        .unwrap();
    let errors = [("reason", "error")];
    wait_for(
        &server,
        "ssegate_tls_handshake_failures_total",
        &errors,
        1.0,
    )
    .await;
    let accepted = [("listener", "tls")];
    let metrics = scrape(&server).await;
    assert_eq!(
        value(&metrics, "ssegate_connections_accepted_total", &accepted),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_plaintext_h1_connection_is_counted_by_its_first_request() {
    let server = TestServer::start().await;
    let addr = server.plaintext_addr.unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = request("GET", "/healthz", "");
    req.headers_mut()
        .insert("host", "localhost".parse().unwrap());
    let response = send.send_request(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let conn = [("listener", "plaintext"), ("protocol", "h1")];
    wait_for(&server, "ssegate_connections_active", &conn, 1.0).await;
    drop(send);
    wait_for(&server, "ssegate_connections_active", &conn, 0.0).await;
}

#[tokio::test]
async fn the_certificate_expiry_is_exported() {
    let server = TestServer::start().await;
    let metrics = scrape(&server).await;
    let labels = [("certificate", "local")];
    let expiry = value(
        &metrics,
        "ssegate_certificate_expiry_timestamp_seconds",
        &labels,
    )
    .expect("the local certificate's expiry");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(expiry > now + 86_400.0, "expires in the future: {expiry}");
}

#[tokio::test]
async fn a_shared_stream_of_the_gateway_is_gauged_as_fanout() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/api", &upstream.url(), |route, _| {
        route.fanout = true;
        route.strip_prefix = true;
    })
    .await;
    let mut client = server.h2().await;
    let response = client
        .send(sse_get("/api/sse?count=1000&interval_ms=50"))
        .await;
    let mut stream = SseStream::new(response);
    assert!(stream.next().await.is_some());
    wait_for(&server, "ssegate_fanout_subscribers", &[], 1.0).await;
    let metrics = scrape(&server).await;
    assert_eq!(value(&metrics, "ssegate_fanout_upstreams", &[]), Some(1.0));
    let gateway = [("front_door", "gateway")];
    assert_eq!(
        value(&metrics, "ssegate_streams_active", &gateway),
        Some(1.0)
    );
    let route = [("route", "/api")];
    assert_eq!(
        value(&metrics, "ssegate_gateway_upstream_requests_total", &route),
        Some(1.0)
    );
    drop(stream);
    wait_for(&server, "ssegate_fanout_subscribers", &[], 0.0).await;
}
