//! Who may publish (draft "Authorization", "Error Responses", the CSRF rule of "Security
//! Considerations"), on the Mercure hub and the native `/events/{topic}` API alike; CORS;
//! the protected resource metadata (draft "Discovery"); and the bridge between the two
//! front doors of the one hub.
//!
//! This file holds the constants and helpers the areas share (servers, requests, tokens,
//! challenges); the tests are in `errors`, `policy`, `browser_security` and `discovery`.

mod browser_security;
mod discovery;
mod errors;
mod policy;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};
use ssegate::config::RawConfig;

use crate::support::{
    mercure::{self, detail, form, hub_url, publish, subscribe_path, token, ISSUER},
    read_all, Client, SseStream, TestServer,
};

const HUB: &str = "/.well-known/mercure";
const METADATA: &str = "/.well-known/oauth-protected-resource/.well-known/mercure";
const COOKIE: &str = "__Secure-mercure_access_token";
const STATIC_TOKEN: &str = "static-publisher-token-0123456789";
const BOOK: &str = "https://example.com/books/1";

/// Header or form `(name, value)` pairs.
type Pairs<'a> = &'a [(&'a str, &'a str)];

/// A server whose publishers must present a token.
async fn start_required(tweak: impl FnOnce(&mut RawConfig)) -> TestServer {
    mercure::start(|raw| {
        raw.hub.publish_auth = "required".into();
        tweak(raw);
    })
    .await
}

/// Sends `method path` with `headers` and `body`; returns status, headers and body text.
async fn send(
    client: &mut Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (StatusCode, HeaderMap, String) {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = client
        .send(builder.body(Full::new(body.into())).expect("request"))
        .await;
    let headers = response.headers().clone();
    let (status, body) = read_all(response).await;
    (status, headers, body)
}

/// A Mercure publication of `pairs` with extra request headers.
async fn publish_with(
    client: &mut Client,
    headers: &[(&str, &str)],
    pairs: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    send(client, "POST", HUB, &all, form(pairs)).await
}

/// A native publication (`POST /events/{topic}`) with an optional bearer token.
async fn native_publish(
    client: &mut Client,
    topic: &str,
    bearer: Option<&str>,
    data: &str,
) -> (StatusCode, HeaderMap, String) {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    send(
        client,
        "POST",
        &format!("/events/{topic}"),
        &headers,
        data.to_owned(),
    )
    .await
}

/// A token for `server` granting `actions` on one `(match, match_type)` selector.
fn grant(server: &TestServer, actions: &[&str], selector: (&str, &str)) -> String {
    token(
        &hub_url(server),
        json!([detail(actions, &[selector])]),
        Duration::from_secs(600),
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The claims of a valid all-access publisher token for `server`, to be spoiled by a test.
fn publisher_claims(server: &TestServer) -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "aud": hub_url(server),
        "sub": "urn:uuid:00000000-0000-4000-8000-000000000002",
        "client_id": ISSUER,
        "iat": now,
        "exp": now + 600,
        "jti": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "authorization_details": [detail(&["publish"], &[("*", "exact")])],
    })
}

/// The challenge a 401 without a token must carry, exactly.
fn bare_challenge(server: &TestServer) -> String {
    format!(
        "Bearer realm=\"mercure\", resource_metadata=\"https://localhost:{}{METADATA}\"",
        server.addr.port()
    )
}

fn challenge(headers: &HeaderMap) -> &str {
    headers
        .get("www-authenticate")
        .expect("a WWW-Authenticate challenge")
        .to_str()
        .expect("visible ASCII")
}

/// Asserts an RFC 6750 answer: the status, and a challenge with `error` and the metadata URL.
fn assert_challenge(
    server: &TestServer,
    case: &str,
    answer: &(StatusCode, HeaderMap, String),
    status: StatusCode,
    error: &str,
) {
    let (got, headers, body) = answer;
    assert_eq!(*got, status, "{case}: {body}");
    let challenge = challenge(headers);
    assert!(
        challenge.starts_with("Bearer realm=\"mercure\""),
        "{case}: {challenge}"
    );
    assert!(
        challenge.contains(&format!("error=\"{error}\"")),
        "{case}: {challenge}"
    );
    let metadata = format!(
        "resource_metadata=\"https://localhost:{}{METADATA}\"",
        server.addr.port()
    );
    assert!(challenge.contains(&metadata), "{case}: {challenge}");
}

/// An anonymous Mercure stream on `match` values.
async fn mercure_subscribe(client: &mut Client, topics: &[&str]) -> SseStream {
    let pairs: Vec<(&str, &str)> = topics.iter().map(|t| ("match", *t)).collect();
    client.subscribe(&subscribe_path(&pairs)).await
}

/// Publishes a public marker on `topic` with `writer` and returns its id.
async fn marker(client: &mut Client, writer: &str, topic: &str) -> String {
    let (status, _, id) = publish(
        client,
        HUB,
        Some(writer),
        &[("topic", topic), ("data", "marker")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "marker: {id}");
    id
}
