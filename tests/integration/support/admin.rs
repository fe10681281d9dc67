//! The admin listener from the outside: plain HTTP/1.1 requests over a real TCP socket,
//! and scrapes read with an independent Prometheus text parser (`prometheus-parse`).

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use prometheus_parse::{Scrape, Value};
use tokio::net::TcpStream;

use super::{TestServer, PATIENCE};

/// `GET path` on the admin listener, with `Authorization: Bearer token` when given.
pub async fn admin_get(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let tcp = TcpStream::connect(addr).await.expect("admin connect");
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("admin handshake");
    tokio::spawn(conn);
    let mut req = Request::get(path).header("host", "localhost");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let req = req.body(Full::new(Bytes::new())).unwrap();
    let response = tokio::time::timeout(PATIENCE, send.send_request(req))
        .await
        .expect("admin answers in time")
        .expect("admin response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("admin body").to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The server's metrics, parsed.
pub async fn scrape(server: &TestServer) -> Scrape {
    let addr = server.admin_addr.expect("the admin listener is on");
    let (status, headers, body) = admin_get(addr, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{headers:?}"
    );
    parse(&body)
}

/// Parses a scrape's text.
pub fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("the scrape parses")
}

/// The value of the sample `name` whose labels include `labels`, if there is one.
pub fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
}

/// Scrapes until the sample `name{labels}` equals `expected`; panics with the last value
/// after PATIENCE. Counters move when a stream's task runs, not when the client reads.
pub async fn wait_for(server: &TestServer, name: &str, labels: &[(&str, &str)], expected: f64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let got = value(&scrape(server).await, name, labels);
        if got == Some(expected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}{labels:?}: expected {expected}, got {got:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Polls `GET path` on the admin listener until it answers `status`; returns the body.
pub async fn wait_for_status(addr: SocketAddr, path: &str, status: StatusCode) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (got, _, body) = admin_get(addr, path, None).await;
        if got == status {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} still answers {got}: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
