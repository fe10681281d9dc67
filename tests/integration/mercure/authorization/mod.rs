//! Who may publish (draft "Authorization", "Error Responses", the CSRF rule of "Security
//! Considerations"), on the Mercure hub and the native `/events/{topic}` API alike; CORS;
//! the protected resource metadata (draft "Discovery"); and the bridge between the two
//! front doors of the one hub.
//!
//! This file holds the constants and helpers the areas share (servers, native publications,
//! tokens, markers; the challenge assertions are `support::mercure`'s); the tests are in
//! `errors`, `policy`, `browser_security` and `discovery`.

mod browser_security;
mod discovery;
mod errors;
mod policy;

use serde_json::{json, Value};
use ssegate::config::RawConfig;

use crate::support::{
    mercure::{
        self, answer, authorized, claims, detail, hub_url, now, publish_ok, request_with, Answer,
        TTL,
    },
    Client, TestServer,
};

const METADATA: &str = "/.well-known/oauth-protected-resource/.well-known/mercure";
const COOKIE: &str = "__Secure-mercure_access_token";
const STATIC_TOKEN: &str = "static-publisher-token-0123456789";
const BOOK: &str = "https://example.com/books/1";

/// A server whose publishers must present a token.
async fn start_required(tweak: impl FnOnce(&mut RawConfig)) -> TestServer {
    mercure::start(|raw| {
        raw.hub.publish_auth = "required".into();
        tweak(raw);
    })
    .await
}

/// A native publication (`POST /events/{topic}`) with an optional bearer token.
async fn native_publish(
    client: &mut Client,
    topic: &str,
    bearer: Option<&str>,
    data: &str,
) -> Answer {
    let req = request_with("POST", &format!("/events/{topic}"), &[], data.to_owned());
    answer(client, authorized(req, bearer)).await
}

/// The claims of a valid all-access publisher token for `server`, to be spoiled by a test.
fn publisher_claims(server: &TestServer) -> Value {
    claims(
        &hub_url(server),
        json!([detail(&["publish"], &[("*", "exact")])]),
        now() + TTL.as_secs(),
    )
}

/// Publishes a public marker on `topic` with `writer` and returns its id.
async fn marker(client: &mut Client, writer: &str, topic: &str) -> String {
    publish_ok(
        client,
        Some(writer),
        &[("topic", topic), ("data", "marker")],
    )
    .await
}
