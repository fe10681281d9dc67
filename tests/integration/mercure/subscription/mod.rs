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

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::json;

use crate::support::{
    mercure::{
        self, all_access, claims, detail, get_with, grant, hub_url, open, publish_ok, request_with,
        subscribe_path,
    },
    Client, SseStream, TestServer,
};

const BOOK_1: &str = "https://example.com/books/1";
const BOOK_2: &str = "https://example.com/books/2";
const MARKER: &str = "https://example.com/marker";

/// Publishes an update (form `pairs`) with an all-access publisher token; returns its id.
async fn post(client: &mut Client, server: &TestServer, pairs: &[(&str, &str)]) -> String {
    publish_ok(client, Some(&all_access(server, &["publish"])), pairs).await
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
        mercure::HUB.to_owned()
    } else {
        format!("{}?{query}", mercure::HUB)
    };
    let headers: Vec<(&str, &str)> = content_type
        .map(|c| ("content-type", c))
        .into_iter()
        .collect();
    request_with("QUERY", &uri, &headers, body.to_owned())
}

/// A 1.0 subscriber token granting `subscribe` on `topics` (`(match, match_type)`), valid
/// for ten minutes.
fn reader(server: &TestServer, topics: &[(&str, &str)]) -> String {
    grant(server, &["subscribe"], topics)
}

/// A token granting `subscribe` on everything, with the given `exp` and `typ` header.
fn token_with(server: &TestServer, exp: u64, typ: &str) -> String {
    let details = json!([detail(&["subscribe"], &[("*", "exact")])]);
    mercure::sign(
        &claims(&hub_url(server), details, exp),
        typ,
        mercure::SECRET,
    )
}

/// The `error` member of a JSON error body.
fn error_message(body: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON error body: {body}"));
    json["error"].as_str().expect("error member").to_owned()
}
