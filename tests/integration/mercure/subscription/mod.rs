//! The draft's "Subscription", "Matcher Types" and "Reconnection" sections against the real
//! server: matcher parameters (query and `QUERY` body) and their validation, replay cursors,
//! private updates and the token rules of subscribers, stream lifetime and stream headers.
//!
//! Absence is shown with a marker: after the update that must not arrive, a public update the
//! subscriber selects is published, and the next event received must be that marker.
//!
//! This file holds what the areas share (publishing, opening streams, subscriber tokens);
//! each area has its file: `matchers`, `parameters`, `reconnection`, `private_updates`,
//! `tokens` and `stream`.

mod matchers;
mod parameters;
mod private_updates;
mod reconnection;
mod stream;
mod tokens;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;
use serde_json::json;

use crate::support::{
    mercure::{self, all_access, detail, get_with, hub_url, publish, subscribe_path, token},
    read_all, Client, SseStream, TestServer,
};

const HUB: &str = "/.well-known/mercure";
const BOOK_1: &str = "https://example.com/books/1";
const BOOK_2: &str = "https://example.com/books/2";
const MARKER: &str = "https://example.com/marker";

/// Publishes an update (form `pairs`) with an all-access publisher token; returns its id.
async fn post(client: &mut Client, server: &TestServer, pairs: &[(&str, &str)]) -> String {
    let writer = all_access(server, &["publish"]);
    let (status, _, id) = publish(client, HUB, Some(&writer), pairs).await;
    assert_eq!(status, StatusCode::OK, "publish {pairs:?}: {id}");
    id
}

/// Publishes a public update on `topic`; returns its id.
async fn public(client: &mut Client, server: &TestServer, topic: &str, data: &str) -> String {
    post(client, server, &[("topic", topic), ("data", data)]).await
}

/// Publishes a private update on `topic`; returns its id.
async fn private(client: &mut Client, server: &TestServer, topic: &str, data: &str) -> String {
    post(
        client,
        server,
        &[("topic", topic), ("data", data), ("private", "on")],
    )
    .await
}

/// Publishes the public marker update with `data`.
async fn marker(client: &mut Client, server: &TestServer, data: &str) -> String {
    public(client, server, MARKER, data).await
}

/// Sends `req` and returns status, headers and body of a response that is not a stream.
async fn answer(client: &mut Client, req: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, String) {
    let response = client.send(req).await;
    let headers = response.headers().clone();
    let (status, body) = read_all(response).await;
    (status, headers, body)
}

/// Opens a stream with `req`, which must be answered 200.
async fn open(client: &mut Client, req: Request<Full<Bytes>>) -> SseStream {
    let uri = req.uri().clone();
    let response = client.send(req).await;
    let status = response.status();
    if status != StatusCode::OK {
        let (_, body) = read_all(response).await;
        panic!("subscribe {uri}: {status} {body}");
    }
    SseStream::new(response)
}

/// Opens a stream on the 1.0 matcher `pairs` with extra request headers.
async fn open_with(
    client: &mut Client,
    pairs: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> SseStream {
    open(client, get_with(&subscribe_path(pairs), headers)).await
}

/// The data of the next `n` events.
async fn next_data(stream: &mut SseStream, n: usize) -> Vec<String> {
    stream.take(n).await.into_iter().map(|e| e.data).collect()
}

/// A `QUERY` request to the hub: `query` (without `?`) and a body of `content_type`.
fn query_request(query: &str, body: &str, content_type: Option<&str>) -> Request<Full<Bytes>> {
    let uri = if query.is_empty() {
        HUB.to_owned()
    } else {
        format!("{HUB}?{query}")
    };
    let mut builder = Request::builder().method("QUERY").uri(uri);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request")
}

/// A 1.0 subscriber token granting `subscribe` on `topics` (`(match, match_type)`), valid
/// for ten minutes.
fn reader(server: &TestServer, topics: &[(&str, &str)]) -> String {
    token(
        &hub_url(server),
        json!([detail(&["subscribe"], topics)]),
        Duration::from_secs(600),
    )
}

/// Seconds since the epoch.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A token granting `subscribe` on everything, with the given `exp` and `typ` header.
fn token_with(server: &TestServer, exp: u64, typ: &str) -> String {
    let claims = json!({
        "iss": mercure::ISSUER,
        "aud": hub_url(server),
        "sub": "urn:uuid:00000000-0000-4000-8000-000000000002",
        "client_id": mercure::ISSUER,
        "iat": now_secs(),
        "exp": exp,
        "jti": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "authorization_details": [detail(&["subscribe"], &[("*", "exact")])],
    });
    mercure::sign(&claims, typ, mercure::SECRET)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The `error` member of a JSON error body.
fn error_message(body: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON error body: {body}"));
    json["error"].as_str().expect("error member").to_owned()
}
