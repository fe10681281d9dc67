//! Gateway mode against real upstreams: the tests' own hyper upstream (HTTP/1.1 and h2c),
//! deliberately broken upstreams, and an sse-starlette app under uvicorn.

mod direct;
mod failures;
mod fanout;
mod proxy;
mod streams_end;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use ssegate::config::{RawConfig, RawRoute};

use crate::support::{Client, TestServer};

/// A server with one route `path` -> `upstream`, changed by `tweak`, and a fast heartbeat.
pub async fn gateway(
    path: &str,
    upstream: &str,
    tweak: impl FnOnce(&mut RawRoute, &mut RawConfig),
) -> TestServer {
    let mut route = RawRoute {
        path: path.into(),
        upstream: upstream.into(),
        ..RawRoute::default()
    };
    TestServer::start_with(|raw| {
        raw.hub.heartbeat_interval_secs = 0.2;
        tweak(&mut route, raw);
        raw.routes.push(route);
    })
    .await
}

/// A GET as EventSource sends it.
pub fn sse_get(path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .uri(path)
        .header("accept", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A second handle on an h2 connection (a new stream on the same connection).
pub fn same_connection(client: &Client) -> Client {
    match client {
        Client::H2(send, base) => Client::H2(send.clone(), base.clone()),
        Client::H1(_) => panic!("only h2 connections multiplex"),
    }
}
