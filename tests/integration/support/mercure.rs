//! Mercure fixtures: a server with the Mercure hub configured with test keys, tokens minted
//! here with a JWT library (`jsonwebtoken`, independent of the server's validation path
//! beyond sharing the crate), and requests in the shapes Mercure clients send.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use ssegate::{
    config::RawConfig,
    mercure::config::{RawIssuer, RawKey},
};

use super::{read_all, Client, TestServer};

/// The issuer of test tokens.
pub const ISSUER: &str = "https://app.example.test";
/// Its HMAC secret (32 bytes or more, as the hub requires).
pub const SECRET: &str = "test-secret-for-mercure-tokens-0123456789";
/// The HMAC secret of pre-1.0 tokens.
pub const LEGACY_SECRET: &str = "legacy-secret-for-mercure-tokens-0123456789";
/// The authorization detail type.
pub const DETAIL_TYPE: &str = "https://mercure.rocks/authorization-detail";

/// Starts a server whose Mercure hub trusts [`ISSUER`] with [`SECRET`] (and pre-1.0 tokens
/// signed with [`LEGACY_SECRET`]), then applies `tweak`.
pub async fn start(tweak: impl FnOnce(&mut RawConfig)) -> TestServer {
    TestServer::start_with(|raw| {
        raw.mercure.issuers = vec![RawIssuer {
            iss: ISSUER.into(),
            key: RawKey {
                hmac_secret: Some(SECRET.into()),
                ..RawKey::default()
            },
        }];
        raw.mercure.legacy_keys = vec![RawKey {
            hmac_secret: Some(LEGACY_SECRET.into()),
            ..RawKey::default()
        }];
        tweak(raw);
    })
    .await
}

/// The hub URL of a server started with the default `hub_url` (the `aud` tokens need).
pub fn hub_url(server: &TestServer) -> String {
    format!(
        "https://localhost:{}/.well-known/mercure",
        server.addr.port()
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A 1.0 access token (`typ: at+jwt`, HS256 with [`SECRET`]) for `audience` carrying the
/// given authorization details, valid for `ttl`.
pub fn token(audience: &str, details: Value, ttl: Duration) -> String {
    let now = now();
    let claims = json!({
        "iss": ISSUER,
        "aud": audience,
        "sub": "urn:uuid:00000000-0000-4000-8000-000000000001",
        "client_id": ISSUER,
        "iat": now,
        "exp": now + ttl.as_secs(),
        "jti": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "authorization_details": details,
    });
    sign(&claims, "at+jwt", SECRET)
}

/// Signs `claims` with HS256 and the given `typ` header.
pub fn sign(claims: &Value, typ: &str, secret: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some(typ.into());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token encodes")
}

/// One Mercure authorization detail granting `actions` on `topics` (`(match, match_type)`).
pub fn detail(actions: &[&str], topics: &[(&str, &str)]) -> Value {
    json!({
        "type": DETAIL_TYPE,
        "actions": actions,
        "topics": topics
            .iter()
            .map(|(m, t)| json!({"match": m, "match_type": t}))
            .collect::<Vec<_>>(),
    })
}

/// A token for `server` granting `actions` on everything (`*`).
pub fn all_access(server: &TestServer, actions: &[&str]) -> String {
    token(
        &hub_url(server),
        json!([detail(actions, &[("*", "exact")])]),
        Duration::from_secs(600),
    )
}

/// A pre-1.0 token: a plain JWT with the `mercure` claim, signed with [`LEGACY_SECRET`].
pub fn legacy_token(mercure: Value) -> String {
    sign(
        &json!({ "mercure": mercure, "exp": now() + 600 }),
        "JWT",
        LEGACY_SECRET,
    )
}

/// `application/x-www-form-urlencoded` text of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// POSTs a publication (form `pairs`) to `path` with an optional bearer token; returns
/// status, headers and body.
pub async fn publish(
    client: &mut Client,
    path: &str,
    token: Option<&str>,
    pairs: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut builder = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let req = builder
        .body(Full::new(Bytes::from(form(pairs))))
        .expect("request");
    let response = client.send(req).await;
    let headers = response.headers().clone();
    let (status, body) = read_all(response).await;
    (status, headers, body)
}

/// A GET with extra headers.
pub fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method("GET").uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::new())).expect("request")
}

/// The subscription URL path for 1.0 matcher parameters.
pub fn subscribe_path(pairs: &[(&str, &str)]) -> String {
    format!("/.well-known/mercure?{}", form(pairs))
}
