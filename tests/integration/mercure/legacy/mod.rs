//! Pre-1.0 compatibility mode (`mercure.legacy`): `topic` selectors (exact strings, RFC 6570
//! URI templates, `*`), tokens with the `mercure` claim presented in the `Authorization`
//! header, the `authorization` query parameter or the `mercureAuthorization` cookie,
//! `lastEventID` and the `Last-Event-ID` response header, the pre-1.0 subscription topics;
//! and unmodified pre-1.0 clients: Symfony's PHP publisher and an EventSource page.
//!
//! This file holds the constants and helpers the areas share (hubs, tokens, requests, the
//! PHP publisher); the tests are in `selectors`, `grants`, `tokens` and `clients`.

mod clients;
mod grants;
mod selectors;
mod tokens;

use std::{path::Path, process::Stdio};

use http::StatusCode;
use serde_json::{json, Value};
use tokio::process::Command;

use crate::support::{
    mercure::{self, bearer, get_with, hub_url, legacy_token, now, read_answer, sign, Answer},
    Client, SseStream, TestServer, PATIENCE,
};

/// The pre-1.0 specification's example URI template.
const BOOKS: &str = "https://example.com/books/{id}";
const BOOK_1: &str = "https://example.com/books/1";
const BOOK_2: &str = "https://example.com/books/2";
const BOOK_3: &str = "https://example.com/books/3";

/// A test-only RSA key pair (tests/fixtures/README.md).
const RSA_PRIVATE_PEM: &str = include_str!("../../../fixtures/test-only-rsa-private.pem");
const RSA_PUBLIC_PEM: &str = include_str!("../../../fixtures/test-only-rsa-public.pem");

/// A hub in compatibility mode. Publishing needs a token even on loopback (`auto` would
/// not ask for one): these tests are about tokens.
async fn legacy_hub() -> TestServer {
    legacy_hub_with(|_| {}).await
}

async fn legacy_hub_with(tweak: impl FnOnce(&mut ssegate::config::RawConfig)) -> TestServer {
    mercure::start(|raw| {
        raw.mercure.legacy = true;
        raw.hub.publish_auth = "required".into();
        tweak(raw);
    })
    .await
}

/// A pre-1.0 token that may publish anything.
fn writer() -> String {
    legacy_token(json!({ "publish": ["*"] }))
}

/// A pre-1.0 token that may receive private updates matching `selectors`.
fn reader(selectors: &[&str]) -> String {
    legacy_token(json!({ "subscribe": selectors }))
}

/// A pre-1.0 token that no configured key signed.
fn forged(selectors: &[&str]) -> String {
    sign(
        &json!({ "mercure": { "subscribe": selectors, "publish": ["*"] }, "exp": now() + 600 }),
        "JWT",
        "not-the-legacy-secret-but-long-enough-0123456789",
    )
}

/// The hub URL with `pairs` as its query.
fn hub_query(pairs: &[(&str, &str)]) -> String {
    mercure::subscribe_path(pairs)
}

/// Opens a subscription that must succeed.
async fn open(client: &mut Client, path: &str, headers: &[(&str, &str)]) -> SseStream {
    mercure::open(client, get_with(path, headers)).await
}

/// Opens a subscription that must succeed, presenting `token` in the `Authorization` header.
async fn open_as(client: &mut Client, path: &str, token: &str) -> SseStream {
    open(client, path, &[("authorization", &bearer(token))]).await
}

/// Opens a subscription that must be refused; returns status, headers and body.
async fn refused(client: &mut Client, path: &str, headers: &[(&str, &str)]) -> Answer {
    let response = client.send(get_with(path, headers)).await;
    assert_ne!(
        response.status(),
        StatusCode::OK,
        "subscribe {path} with {headers:?} was accepted"
    );
    read_answer(response).await
}

/// Publishes with a pre-1.0 `publish: ["*"]` token; returns the update's id.
async fn publish_ok(client: &mut Client, pairs: &[(&str, &str)]) -> String {
    mercure::publish_ok(client, Some(&writer()), pairs).await
}

/// The data of the next `n` events.
async fn data_of(stream: &mut SseStream, n: usize) -> Vec<String> {
    stream.take(n).await.into_iter().map(|e| e.data).collect()
}

/// Runs `tests/php/publish.php`: Symfony's publisher sends `update` to `server` with `jwt`.
async fn symfony_publish(server: &TestServer, jwt: &str, update: &Value) -> std::process::Output {
    const MISSING: &str = "run scripts/test (it installs php-cli and php-symfony-mercure)";
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/php/publish.php");
    let child = Command::new("php")
        .arg(&script)
        .env("MERCURE_URL", hub_url(server))
        .env("MERCURE_JWT", jwt)
        .env("MERCURE_CAFILE", server.cert_dir.join("ca.pem"))
        .env("MERCURE_UPDATE", update.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn php: {e}; {MISSING}"));
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("php finishes in time")
        .expect("wait for php");
    // The script's own word that symfony/mercure is missing names scripts/test already.
    if output.status.code() == Some(3) {
        panic!("{}", String::from_utf8_lossy(&output.stderr).trim());
    }
    output
}
