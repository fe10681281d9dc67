//! Plain proxying: headers both ways, protocols, unbuffered bodies, SSE relay with
//! heartbeats, upgrades, routing, trusted proxies and the PROXY protocol.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{gateway, sse_get};
use crate::support::{
    read_all, read_heartbeats, request,
    starlette::StarletteUpstream,
    upstream::{Upstream, UpstreamProto},
    SseStream, PATIENCE,
};

fn echo_json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_and_forwarding_headers_added() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/app", &upstream.url(), |route, _| {
        route.strip_prefix = true
    })
    .await;
    let mut client = server.http1().await;
    let mut req = request("GET", "/app/echo/x?q=1", "");
    for (k, v) in [
        ("connection", "keep-alive, x-secret"),
        ("keep-alive", "timeout=5"),
        ("x-secret", "1"),
        ("proxy-authorization", "Basic Zm9vOmJhcg=="),
        ("x-forwarded-for", "6.6.6.6"),
        ("x-kept", "yes"),
    ] {
        req.headers_mut().insert(k, v.parse().unwrap());
    }
    let response = client.send(req).await;
    assert_eq!(response.headers()["via"], "1.1 ssegate");
    let (status, body) = read_all(response).await;
    assert_eq!(status, StatusCode::OK);
    let echo = echo_json(&body);
    let headers = &echo["headers"];
    for gone in [
        "connection",
        "keep-alive",
        "x-secret",
        "proxy-authorization",
    ] {
        assert!(headers.get(gone).is_none(), "{gone} leaked: {headers}");
    }
    assert_eq!(headers["x-kept"][0], "yes");
    assert_eq!(
        headers["x-forwarded-for"][0], "127.0.0.1",
        "untrusted XFF replaced"
    );
    assert_eq!(headers["x-forwarded-proto"][0], "https");
    assert_eq!(headers["x-forwarded-host"][0], "localhost");
    assert_eq!(
        headers["forwarded"][0],
        "for=127.0.0.1;proto=https;host=localhost"
    );
    assert_eq!(headers["via"][0], "1.1 ssegate");
    assert_eq!(headers["host"][0], upstream.addr().to_string());
    assert_eq!(echo["path"], "/echo/x", "prefix stripped");
    assert_eq!(echo["query"], "q=1");
}

#[tokio::test]
async fn h2_clients_reach_http1_and_h2c_upstreams() {
    for (proto, version) in [
        (UpstreamProto::Http1, "HTTP/1.1"),
        (UpstreamProto::H2c, "HTTP/2.0"),
    ] {
        let upstream = Upstream::start(proto).await;
        let server = gateway("/", &upstream.url(), |_, raw| raw.demo.enabled = false).await;
        let (status, body) = read_all(server.h2().await.get("/echo").await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(echo_json(&body)["version"], version);
        assert_eq!(echo_json(&body)["headers"]["via"][0], "2 ssegate");
    }
}

#[tokio::test]
async fn request_and_response_bodies_stream_without_buffering() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |_, raw| raw.demo.enabled = false).await;
    let tls = server.tls_connect(&[b"h2"]).await;
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
    let body = StreamBody::new(tokio_stream_from(rx));
    let url = format!("https://localhost:{}/stream-echo", server.addr.port());
    let req = http::Request::post(url).body(body).unwrap();
    let response_fut = tokio::spawn(send.send_request(req));
    tx.send(Ok(Frame::data(Bytes::from_static(b"first"))))
        .await
        .unwrap();
    let mut body = response_fut.await.unwrap().unwrap().into_body();
    // The echo of the first chunk arrives while the request body is still open: neither
    // direction waited for the whole body.
    let first = tokio::time::timeout(PATIENCE, body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "first");
    tx.send(Ok(Frame::data(Bytes::from_static(b"second"))))
        .await
        .unwrap();
    let second = tokio::time::timeout(PATIENCE, body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(second.into_data().unwrap(), "second");
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn event_streams_are_relayed_as_they_arrive_with_heartbeats_between_events() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |_, raw| raw.demo.enabled = false).await;
    let mut client = server.h2().await;
    // Events split at odd byte boundaries, 1 ms apart: heartbeats (every 0.2 s of silence)
    // must never land inside one.
    let mut stream = SseStream::new(
        client
            .send(sse_get("/sse?count=5&split=1&interval_ms=300"))
            .await,
    );
    assert_eq!(stream.headers["x-accel-buffering"], "no");
    let events = stream.take(5).await;
    let data: Vec<String> = events.iter().map(|e| e.data.clone()).collect();
    assert_eq!(
        data,
        ["event 1", "event 2", "event 3", "event 4", "event 5"]
    );
    assert_eq!(events[4].id, "5");

    // A silent upstream: the gateway's heartbeats keep the stream alive.
    let mut body = client.send(sse_get("/sse?idle=1")).await.into_body();
    read_heartbeats(&mut body, 3).await;
}

#[tokio::test]
async fn an_sse_starlette_app_is_relayed_intact() {
    let app = StarletteUpstream::start().await;
    let server = gateway("/py", &app.url(), |route, _| route.strip_prefix = true).await;
    let mut client = server.h2().await;
    let mut stream = SseStream::new(
        client
            .send(sse_get("/py/sse?count=3&interval_ms=50&retry=1500"))
            .await,
    );
    let events = stream.take(3).await;
    assert_eq!(
        events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    assert_eq!(events[0].retry, Some(Duration::from_millis(1500)));
    // Resuming through the gateway: the upstream sees the client's Last-Event-ID.
    let mut req = sse_get("/py/sse?count=2");
    req.headers_mut()
        .insert("last-event-id", "3".parse().unwrap());
    let mut resumed = SseStream::new(client.send(req).await);
    let ids: Vec<String> = resumed.take(2).await.into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["4", "5"]);
}

#[tokio::test]
async fn websocket_upgrades_pass_through() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |_, raw| raw.demo.enabled = false).await;
    let tls = server.tls_connect(&[b"http/1.1"]).await;
    let url = format!("wss://localhost:{}/ws", server.addr.port());
    let (mut ws, response) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("websocket handshake");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        "ping through ssegate",
    ))
    .await
    .unwrap();
    let echoed = tokio::time::timeout(PATIENCE, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "ping through ssegate");
}

#[tokio::test]
async fn routes_hub_and_404_share_one_server() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/app", &upstream.url(), |route, _| {
        route.strip_prefix = true
    })
    .await;
    let mut client = server.h2().await;
    assert_eq!(
        read_all(client.get("/app/status/201").await).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        read_all(client.get("/nothing-here").await).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        client.post("/events/still-hub", "x").await.0,
        StatusCode::OK
    );
    assert_eq!(
        read_all(client.get("/").await).await.0,
        StatusCode::OK,
        "demo kept"
    );
}

#[tokio::test]
async fn a_host_route_only_serves_its_host() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |route, raw| {
        route.host = Some("api.example".into());
        raw.demo.enabled = false;
    })
    .await;
    // The support client asks for localhost; a raw request asks for the route's host.
    let mut client = server.http1().await;
    assert_eq!(
        read_all(client.get("/echo").await).await.0,
        StatusCode::NOT_FOUND
    );
    let mut tls = server.tls_connect(&[b"http/1.1"]).await;
    tls.write_all(b"GET /echo HTTP/1.1\r\nhost: api.example\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, tls.read_to_end(&mut raw))
        .await
        .unwrap()
        .ok();
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

#[tokio::test]
async fn a_trusted_proxy_forwarded_for_chain_is_extended() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |_, raw| {
        raw.demo.enabled = false;
        raw.server.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let mut req = request("GET", "/echo", "");
    req.headers_mut()
        .insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
    let (_, body) = read_all(server.h2().await.send(req).await).await;
    assert_eq!(
        echo_json(&body)["headers"]["x-forwarded-for"][0],
        "203.0.113.9, 127.0.0.1"
    );
}

#[tokio::test]
async fn the_proxy_protocol_source_is_the_client() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |_, raw| {
        raw.demo.enabled = false;
        raw.server.plaintext_proxy_protocol = true;
    })
    .await;
    let addr = server.plaintext_addr.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"PROXY TCP4 203.0.113.5 127.0.0.1 40000 80\r\nGET /echo HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    // hyper may chunk the body: take the JSON object.
    let json = &body[body.find('{').unwrap()..=body.rfind('}').unwrap()];
    assert_eq!(
        echo_json(json)["headers"]["x-forwarded-for"][0],
        "203.0.113.5"
    );

    // Without the header the connection is refused.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /echo HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut raw))
        .await
        .unwrap()
        .ok();
    assert!(raw.is_empty(), "served without a PROXY header");
}

#[tokio::test]
async fn trailers_cross_from_an_http1_upstream_to_an_h2_client() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |_, raw| raw.demo.enabled = false).await;
    let mut req = request("GET", "/chunked-trailers", "");
    req.headers_mut().insert("te", "trailers".parse().unwrap());
    let response = server.h2().await.send(req).await;
    assert_eq!(response.status(), StatusCode::OK);
    let collected = tokio::time::timeout(PATIENCE, response.into_body().collect())
        .await
        .unwrap()
        .unwrap();
    let trailers = collected.trailers().cloned().expect("trailers relayed");
    assert!(trailers.contains_key("x-checksum"), "{trailers:?}");
    assert_eq!(collected.to_bytes(), "hello world\n");
}

#[tokio::test]
async fn an_https_upstream_is_verified_against_the_route_ca_and_spoken_to_over_h2() {
    // Another ssegate is the upstream: TLS with its own local CA, h2 by ALPN.
    let origin = crate::support::TestServer::start().await;
    let ca = origin.cert_dir.join("ca.pem");
    let url = format!("https://localhost:{}", origin.addr.port());
    let server = gateway("/origin", &url, move |route, _| {
        route.ca = Some(ca);
        route.strip_prefix = true;
    })
    .await;
    let mut client = server.h2().await;
    let mut stream = SseStream::new(client.send(sse_get("/origin/events/upstream-news")).await);
    let (status, _) = client
        .post("/origin/events/upstream-news", "via https")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stream.next().await.unwrap().data, "via https");

    // Without the route's CA the upstream's certificate is refused: 502.
    let untrusted = gateway(
        "/origin",
        &format!("https://localhost:{}", origin.addr.port()),
        |route, _| {
            route.strip_prefix = true;
        },
    )
    .await;
    let (status, _) = read_all(untrusted.h2().await.get("/origin/healthz").await).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}
