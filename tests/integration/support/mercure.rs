//! Mercure fixtures: a server with the Mercure hub configured with test keys, tokens minted
//! here with a JWT library (`jsonwebtoken`, independent of the server's validation path
//! beyond sharing the crate), and requests in the shapes Mercure clients send.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header::AUTHORIZATION, HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use ssegate::{
    config::RawConfig,
    config::{RawIssuer, RawKey},
};

use super::{read_all, Client, SseStream, TestServer};

/// The issuer of test tokens.
pub const ISSUER: &str = "https://app.example.test";
/// Its HMAC secret (32 bytes or more, as the hub requires).
pub const SECRET: &str = "test-secret-for-mercure-tokens-0123456789";
/// The HMAC secret of pre-1.0 tokens.
pub const LEGACY_SECRET: &str = "legacy-secret-for-mercure-tokens-0123456789";
/// The authorization detail type.
pub const DETAIL_TYPE: &str = "https://mercure.rocks/authorization-detail";
/// The hub's path (the default hub URL's).
pub const HUB: &str = "/.well-known/mercure";
/// The media type of publications.
pub const FORM: &str = "application/x-www-form-urlencoded";
/// How long the tokens tests mint are valid, unless a test says otherwise.
pub const TTL: Duration = Duration::from_secs(600);

/// Header or form `(name, value)` pairs.
pub type Pairs<'a> = &'a [(&'a str, &'a str)];
/// A response read whole: status, headers and body text.
pub type Answer = (StatusCode, HeaderMap, String);

// --- Servers ---------------------------------------------------------------------------

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
    format!("https://localhost:{}{HUB}", server.addr.port())
}

// --- Tokens ----------------------------------------------------------------------------

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The claims of a 1.0 access token from [`ISSUER`] for `audience`, carrying the given
/// authorization details, expiring at `exp` (seconds since the epoch).
pub fn claims(audience: &str, details: Value, exp: u64) -> Value {
    json!({
        "iss": ISSUER,
        "aud": audience,
        "sub": "urn:uuid:00000000-0000-4000-8000-000000000001",
        "client_id": ISSUER,
        "iat": now(),
        "exp": exp,
        "jti": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "authorization_details": details,
    })
}

/// A 1.0 access token (`typ: at+jwt`, HS256 with [`SECRET`]) for `audience` carrying the
/// given authorization details, valid for `ttl`.
pub fn token(audience: &str, details: Value, ttl: Duration) -> String {
    sign(
        &claims(audience, details, now() + ttl.as_secs()),
        "at+jwt",
        SECRET,
    )
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

/// A token for `server` granting `actions` on `topics` (`(match, match_type)`), valid for
/// [`TTL`].
pub fn grant(server: &TestServer, actions: &[&str], topics: &[(&str, &str)]) -> String {
    token(&hub_url(server), json!([detail(actions, topics)]), TTL)
}

/// A token for `server` granting `actions` on everything (`*`).
pub fn all_access(server: &TestServer, actions: &[&str]) -> String {
    grant(server, actions, &[("*", "exact")])
}

/// A pre-1.0 token: `claims` in a plain JWT signed with [`LEGACY_SECRET`].
pub fn legacy_sign(claims: &Value) -> String {
    sign(claims, "JWT", LEGACY_SECRET)
}

/// A pre-1.0 token with the `mercure` claim, valid for [`TTL`].
pub fn legacy_token(mercure: Value) -> String {
    legacy_sign(&json!({ "mercure": mercure, "exp": now() + TTL.as_secs() }))
}

/// The `Authorization` header value that presents `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The `WWW-Authenticate` challenge of an answer.
pub fn challenge(headers: &HeaderMap) -> &str {
    headers
        .get("www-authenticate")
        .expect("a WWW-Authenticate challenge")
        .to_str()
        .expect("visible ASCII")
}

/// The protected resource metadata URL of a server with the default `hub_url`.
pub fn metadata_url(server: &TestServer) -> String {
    format!(
        "https://localhost:{}/.well-known/oauth-protected-resource{HUB}",
        server.addr.port()
    )
}

/// The challenge a 401 without a token must carry, exactly.
pub fn bare_challenge(server: &TestServer) -> String {
    format!(
        "Bearer realm=\"mercure\", resource_metadata=\"{}\"",
        metadata_url(server)
    )
}

/// Asserts an RFC 6750 answer: the status, and a challenge with `error` and the metadata URL.
pub fn assert_challenge(
    server: &TestServer,
    case: &str,
    (got, headers, body): &Answer,
    status: StatusCode,
    error: &str,
) {
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
    let metadata = format!("resource_metadata=\"{}\"", metadata_url(server));
    assert!(challenge.contains(&metadata), "{case}: {challenge}");
}

/// Asserts a 401 whose challenge says `error="invalid_token"`.
pub fn assert_invalid_token((status, headers, body): &Answer) {
    assert_eq!(*status, StatusCode::UNAUTHORIZED, "{body}");
    let challenge = challenge(headers);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

// --- Requests --------------------------------------------------------------------------

/// `application/x-www-form-urlencoded` text of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The subscription URL path for 1.0 matcher parameters.
pub fn subscribe_path(pairs: &[(&str, &str)]) -> String {
    format!("{HUB}?{}", form(pairs))
}

/// `method path` with `headers` and `body`.
pub fn request_with(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(body.into())).expect("request")
}

/// A GET with extra headers.
pub fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    request_with("GET", path, headers, Bytes::new())
}

/// `req` presenting `token` in the `Authorization` header, if there is one.
pub fn authorized(mut req: Request<Full<Bytes>>, token: Option<&str>) -> Request<Full<Bytes>> {
    if let Some(token) = token {
        let value = HeaderValue::from_str(&bearer(token)).expect("header value");
        req.headers_mut().append(AUTHORIZATION, value);
    }
    req
}

/// Reads `response` whole.
pub async fn read_answer(response: Response<Incoming>) -> Answer {
    let headers = response.headers().clone();
    let (status, body) = read_all(response).await;
    (status, headers, body)
}

/// Sends `req` and reads the response whole.
pub async fn answer(client: &mut Client, req: Request<Full<Bytes>>) -> Answer {
    read_answer(client.send(req).await).await
}

/// Sends `method path` with `headers` and `body`, and reads the response whole.
pub async fn send(
    client: &mut Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    answer(client, request_with(method, path, headers, body)).await
}

/// POSTs a publication (form `pairs`) to `path` with extra request `headers`.
pub async fn publish_with(
    client: &mut Client,
    path: &str,
    headers: &[(&str, &str)],
    pairs: &[(&str, &str)],
) -> Answer {
    let mut all = vec![("content-type", FORM)];
    all.extend_from_slice(headers);
    send(client, "POST", path, &all, form(pairs)).await
}

/// POSTs a publication (form `pairs`) to `path` with an optional bearer token.
pub async fn publish(
    client: &mut Client,
    path: &str,
    token: Option<&str>,
    pairs: &[(&str, &str)],
) -> Answer {
    let auth = token.map(bearer);
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    publish_with(client, path, &headers, pairs).await
}

/// Publishes `pairs` to the hub with an optional bearer token and expects a 200; returns
/// the update's id.
pub async fn publish_ok(
    client: &mut Client,
    token: Option<&str>,
    pairs: &[(&str, &str)],
) -> String {
    let (status, _, body) = publish(client, HUB, token, pairs).await;
    assert_eq!(status, StatusCode::OK, "publish {pairs:?}: {body}");
    body
}

/// Opens a stream with `req`, which must be answered 200.
pub async fn open(client: &mut Client, req: Request<Full<Bytes>>) -> SseStream {
    let uri = req.uri().clone();
    let response = client.send(req).await;
    let status = response.status();
    if status != StatusCode::OK {
        let (_, body) = read_all(response).await;
        panic!("subscribe {uri}: {status} {body}");
    }
    SseStream::new(response)
}

/// An anonymous stream on `match` values.
pub async fn subscribe(client: &mut Client, topics: &[&str]) -> SseStream {
    let pairs: Vec<(&str, &str)> = topics.iter().map(|t| ("match", *t)).collect();
    client.subscribe(&subscribe_path(&pairs)).await
}
