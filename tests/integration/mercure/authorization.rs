//! Who may publish (draft "Authorization", "Error Responses", the CSRF rule of "Security
//! Considerations"), on the Mercure hub and the native `/events/{topic}` API alike; CORS;
//! the protected resource metadata (draft "Discovery"); and the bridge between the two
//! front doors of the one hub.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};
use ssegate::config::RawConfig;

use crate::support::{
    mercure::{
        self, all_access, detail, form, get_with, hub_url, publish, sign, subscribe_path, token,
        DETAIL_TYPE, ISSUER, SECRET,
    },
    published_id, read_all, Client, SseStream, TestServer,
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

// --- Error responses -------------------------------------------------------------------

#[tokio::test]
async fn publishing_without_a_token_gets_a_challenge_without_error_code() {
    let server = start_required(|_| {}).await;
    let mut client = server.h2().await;
    let (status, headers, body) = publish(&mut client, HUB, None, &[("topic", BOOK)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(challenge(&headers), bare_challenge(&server));
}

#[tokio::test]
async fn invalid_tokens_are_refused_with_invalid_token() {
    let server = start_required(|_| {}).await;
    let mut client = server.h2().await;
    let valid = publisher_claims(&server);
    // The unspoiled claims pass: every refusal below is due to its one change.
    let ok = publish(
        &mut client,
        HUB,
        Some(&sign(&valid, "at+jwt", SECRET)),
        &[("topic", BOOK)],
    )
    .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.2);

    let with = |changes: Value| {
        let mut claims = valid.clone();
        for (k, v) in changes.as_object().expect("object") {
            claims[k] = v.clone();
        }
        claims
    };
    let past = now() - 600;
    let cases = [
        (
            "expired",
            sign(
                &with(json!({"iat": past - 60, "exp": past})),
                "at+jwt",
                SECRET,
            ),
        ),
        (
            "wrong signature",
            sign(&valid, "at+jwt", "another-secret-of-at-least-32-bytes-0123"),
        ),
        (
            "wrong audience",
            sign(
                &with(json!({"aud": "https://other.example/.well-known/mercure"})),
                "at+jwt",
                SECRET,
            ),
        ),
        (
            "untrusted issuer",
            sign(
                &with(json!({"iss": "https://untrusted.example"})),
                "at+jwt",
                SECRET,
            ),
        ),
        ("typ JWT", sign(&valid, "JWT", SECRET)),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];
    for (case, bad) in cases {
        let answer = publish(&mut client, HUB, Some(&bad), &[("topic", BOOK)]).await;
        assert_challenge(
            &server,
            case,
            &answer,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        );
    }
}

#[tokio::test]
async fn a_malformed_authorization_header_is_invalid_request() {
    let server = start_required(|_| {}).await;
    let mut client = server.h2().await;
    for value in ["Bearer a b", "Bearer ", "Bearer a,b"] {
        let answer =
            publish_with(&mut client, &[("authorization", value)], &[("topic", BOOK)]).await;
        assert_challenge(
            &server,
            value,
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        );
    }
}

#[tokio::test]
async fn a_token_must_grant_every_topic_of_the_update() {
    let server = start_required(|_| {}).await;
    let mut client = server.h2().await;
    let alternate = "https://example.com/authors/9";
    let mut of_book = mercure_subscribe(&mut client, &[BOOK]).await;
    let mut of_alternate = mercure_subscribe(&mut client, &[alternate]).await;
    let narrow = grant(&server, &["publish"], (BOOK, "exact"));

    let answer = publish(
        &mut client,
        HUB,
        Some(&narrow),
        &[("topic", BOOK), ("topic", alternate), ("data", "leak")],
    )
    .await;
    assert_challenge(
        &server,
        "uncovered alternate",
        &answer,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
    // The canonical topic alone is covered.
    let (status, _, only_book) = publish(
        &mut client,
        HUB,
        Some(&narrow),
        &[("topic", BOOK), ("data", "allowed")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{only_book}");

    let writer = all_access(&server, &["publish"]);
    let book_marker = marker(&mut client, &writer, BOOK).await;
    let alternate_marker = marker(&mut client, &writer, alternate).await;
    let got: Vec<String> = of_book.take(2).await.into_iter().map(|e| e.id).collect();
    assert_eq!(
        got,
        [only_book, book_marker],
        "the refused update never came"
    );
    let next = of_alternate.next().await.expect("the marker");
    assert_eq!(next.id, alternate_marker, "the refused update never came");
}

#[tokio::test]
async fn urlpattern_grants_cover_the_topics_they_match() {
    let server = start_required(|_| {}).await;
    let mut client = server.h2().await;
    let books = grant(
        &server,
        &["publish"],
        ("https://example.com/books/:id", "urlpattern"),
    );
    for topic in [
        "https://example.com/books/2",
        "https://example.com/books/abc",
    ] {
        let (status, _, body) = publish(&mut client, HUB, Some(&books), &[("topic", topic)]).await;
        assert_eq!(status, StatusCode::OK, "{topic}: {body}");
    }
    for topic in [
        "https://example.com/authors/2",
        "https://example.com/books/2/reviews",
        "https://other.example/books/2",
    ] {
        let answer = publish(&mut client, HUB, Some(&books), &[("topic", topic)]).await;
        assert_challenge(
            &server,
            topic,
            &answer,
            StatusCode::FORBIDDEN,
            "insufficient_scope",
        );
    }
    // A subscribe-only grant does not publish.
    let reader = grant(&server, &["subscribe"], ("*", "exact"));
    let answer = publish(&mut client, HUB, Some(&reader), &[("topic", BOOK)]).await;
    assert_challenge(
        &server,
        "subscribe only",
        &answer,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
}

// --- The safe default ------------------------------------------------------------------

#[tokio::test]
async fn loopback_listeners_let_anonymous_publishers_through_by_default() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let (status, _, body) = publish(&mut client, HUB, None, &[("topic", "chat")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = native_publish(&mut client, "chat", None, "hello").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_non_loopback_listener_makes_publishing_require_a_token() {
    let server = mercure::start(|raw| {
        raw.server.plaintext_listen = Some("0.0.0.0:0".into());
    })
    .await;
    let mut client = server.h2().await;
    let (status, headers, body) = publish(&mut client, HUB, None, &[("topic", "chat")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(challenge(&headers), bare_challenge(&server));
    let (status, headers, body) = native_publish(&mut client, "chat", None, "hello").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(challenge(&headers), bare_challenge(&server));

    let writer = all_access(&server, &["publish"]);
    let (status, _, body) = publish(&mut client, HUB, Some(&writer), &[("topic", "chat")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = native_publish(&mut client, "chat", Some(&writer), "hello").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn open_publish_auth_lets_anonymous_publishers_through_a_non_loopback_listener() {
    let server = mercure::start(|raw| {
        raw.server.plaintext_listen = Some("0.0.0.0:0".into());
        raw.hub.publish_auth = "open".into();
    })
    .await;
    let mut client = server.h2().await;
    let (status, _, body) = publish(&mut client, HUB, None, &[("topic", "chat")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = native_publish(&mut client, "chat", None, "hello").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// --- The native API --------------------------------------------------------------------

#[tokio::test]
async fn native_api_accepts_static_tokens_and_refuses_wrong_ones() {
    let server = start_required(|raw| raw.hub.publish_tokens = vec![STATIC_TOKEN.into()]).await;
    let mut client = server.h2().await;
    let (status, _, body) = native_publish(&mut client, "chat", Some(STATIC_TOKEN), "hi").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    published_id(&body);

    for wrong in [
        "static-publisher-token-0123456780",
        "static-publisher-token-012345678",
    ] {
        let answer = native_publish(&mut client, "chat", Some(wrong), "hi").await;
        assert_challenge(
            &server,
            wrong,
            &answer,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        );
    }
    let (status, headers, body) = native_publish(&mut client, "chat", None, "hi").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(challenge(&headers), bare_challenge(&server));
    let answer = send(
        &mut client,
        "POST",
        "/events/chat",
        &[("authorization", "Bearer a b")],
        "hi",
    )
    .await;
    assert_challenge(
        &server,
        "malformed",
        &answer,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
}

#[tokio::test]
async fn native_api_accepts_mercure_tokens_granting_the_topic() {
    let server = start_required(|_| {}).await;
    let mut client = server.h2().await;
    let chat = grant(&server, &["publish"], ("chat", "exact"));
    let (status, _, body) = native_publish(&mut client, "chat", Some(&chat), "hi").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let other = grant(&server, &["publish"], ("other", "exact"));
    let answer = native_publish(&mut client, "chat", Some(&other), "hi").await;
    assert_challenge(
        &server,
        "another topic",
        &answer,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
    let expired = sign(
        &{
            let mut claims = publisher_claims(&server);
            claims["exp"] = json!(now() - 600);
            claims
        },
        "at+jwt",
        SECRET,
    );
    let answer = native_publish(&mut client, "chat", Some(&expired), "hi").await;
    assert_challenge(
        &server,
        "expired",
        &answer,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
}

#[tokio::test]
async fn native_publications_reach_mercure_subscribers() {
    let server = start_required(|raw| raw.hub.publish_tokens = vec![STATIC_TOKEN.into()]).await;
    let mut client = server.h2().await;
    let mut mercure_stream = mercure_subscribe(&mut client, &["chat"]).await;
    let (status, _, body) =
        native_publish(&mut client, "chat", Some(STATIC_TOKEN), "from native").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = published_id(&body);
    let event = mercure_stream.next().await.expect("the native update");
    assert_eq!(
        (event.id.as_str(), event.data.as_str()),
        (id.as_str(), "from native")
    );
}

#[tokio::test]
async fn mercure_publications_reach_native_subscribers_but_private_ones_do_not() {
    let server = start_required(|_| {}).await;
    let mut client = server.h2().await;
    let mut native = client.subscribe("/events/chat").await;
    let writer = grant(&server, &["publish"], ("chat", "exact"));

    let (status, _, private_id) = publish(
        &mut client,
        HUB,
        Some(&writer),
        &[("topic", "chat"), ("data", "secret"), ("private", "on")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{private_id}");
    let (status, _, public_id) = publish(
        &mut client,
        HUB,
        Some(&writer),
        &[("topic", "chat"), ("data", "from mercure")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{public_id}");
    let event = native.next().await.expect("the public update");
    assert_eq!(
        (event.id.as_str(), event.data.as_str()),
        (public_id.as_str(), "from mercure"),
        "the private update ({private_id}) never reaches a native subscriber"
    );
}

// --- Cookies and CSRF ------------------------------------------------------------------

#[tokio::test]
async fn cookie_borne_publications_need_a_trusted_origin() {
    let server = start_required(|raw| {
        raw.mercure.cors_origins = vec!["https://app.example".into()];
    })
    .await;
    let mut client = server.h2().await;
    let writer = all_access(&server, &["publish"]);
    let cookie = format!("{COOKIE}={writer}");
    let same_origin = format!("https://localhost:{}", server.addr.port());
    let same_referer = format!("{same_origin}/app/page?x=1");
    let cases: &[(&str, Pairs, StatusCode)] = &[
        ("no Origin or Referer", &[], StatusCode::FORBIDDEN),
        ("same origin", &[("origin", &same_origin)], StatusCode::OK),
        (
            "same-origin Referer",
            &[("referer", &same_referer)],
            StatusCode::OK,
        ),
        (
            "foreign origin",
            &[("origin", "https://evil.example")],
            StatusCode::FORBIDDEN,
        ),
        (
            "foreign Referer",
            &[("referer", "https://evil.example/page")],
            StatusCode::FORBIDDEN,
        ),
        (
            "foreign origin, same-origin Referer",
            &[
                ("origin", "https://evil.example"),
                ("referer", &same_referer),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            "opaque origin",
            &[("origin", "null")],
            StatusCode::FORBIDDEN,
        ),
        (
            "opaque origin, same-origin Referer",
            &[("origin", "null"), ("referer", &same_referer)],
            StatusCode::FORBIDDEN,
        ),
        (
            "allowed CORS origin",
            &[("origin", "https://app.example")],
            StatusCode::OK,
        ),
    ];
    for (case, extra, expected) in cases {
        let mut headers = vec![("cookie", cookie.as_str())];
        headers.extend_from_slice(extra);
        let (status, _, body) = publish_with(&mut client, &headers, &[("topic", BOOK)]).await;
        assert_eq!(status, *expected, "{case}: {body}");
    }
    // A header token needs no origin check.
    let (status, _, body) = publish(&mut client, HUB, Some(&writer), &[("topic", BOOK)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// --- CORS ------------------------------------------------------------------------------

fn header_values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().expect("visible ASCII").to_ascii_lowercase())
        .collect()
}

fn list_contains(headers: &HeaderMap, name: &str, item: &str) -> bool {
    header_values(headers, name)
        .iter()
        .flat_map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .any(|v| v == item)
}

#[tokio::test]
async fn cors_answers_listed_origins_with_credentials() {
    let server = mercure::start(|raw| {
        raw.mercure.cors_origins = vec!["https://app.example".into()];
    })
    .await;
    let mut client = server.h2().await;
    let (status, headers, body) = send(
        &mut client,
        "OPTIONS",
        HUB,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization"),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(
        list_contains(&headers, "access-control-allow-methods", "post"),
        "{headers:?}"
    );
    assert!(
        list_contains(&headers, "access-control-allow-headers", "authorization"),
        "{headers:?}"
    );
    assert_eq!(
        header_values(&headers, "vary"),
        ["origin"],
        "Vary: origin, once"
    );

    let response = client
        .send(get_with(
            &subscribe_path(&[("match", BOOK)]),
            &[("origin", "https://app.example")],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(
        list_contains(
            &headers,
            "access-control-expose-headers",
            "mercure-last-event-id"
        ),
        "{headers:?}"
    );
    assert!(list_contains(&headers, "vary", "origin"), "{headers:?}");
    drop(response);

    // An unlisted origin gets no CORS answer at all, preflight or not.
    let (status, headers, _) = send(
        &mut client,
        "OPTIONS",
        HUB,
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "POST"),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        headers.get("access-control-allow-origin").is_none(),
        "{headers:?}"
    );
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "{headers:?}"
    );
    let response = client
        .send(get_with(
            &subscribe_path(&[("match", BOOK)]),
            &[("origin", "https://evil.example")],
        ))
        .await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        response.headers()
    );
}

#[tokio::test]
async fn cors_wildcard_allows_any_origin_without_credentials() {
    let server = mercure::start(|raw| raw.mercure.cors_origins = vec!["*".into()]).await;
    let mut client = server.h2().await;
    let (status, headers, body) = send(
        &mut client,
        "OPTIONS",
        HUB,
        &[
            ("origin", "https://anywhere.example"),
            ("access-control-request-method", "POST"),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "{headers:?}"
    );

    let response = client
        .send(get_with(
            &subscribe_path(&[("match", BOOK)]),
            &[("origin", "https://anywhere.example")],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none(),
        "{:?}",
        response.headers()
    );
}

// --- Protected resource metadata ---------------------------------------------------------

async fn metadata(client: &mut Client, path: &str) -> Value {
    let response = client.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let (_, body) = read_all(response).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"))
}

#[tokio::test]
async fn protected_resource_metadata_describes_the_hub() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let document = metadata(&mut client, METADATA).await;
    assert_eq!(document["resource"], hub_url(&server));
    assert_eq!(
        document["authorization_details_types_supported"],
        json!([DETAIL_TYPE])
    );
    assert_eq!(document["bearer_methods_supported"], json!(["header"]));
    assert_eq!(document["mercure_cookie"], COOKIE);
    assert_eq!(document["mercure_subscriptions"], true);
    assert!(
        document.get("authorization_servers").is_none(),
        "self-issued tokens: no authorization server is advertised: {document}"
    );
}

#[tokio::test]
async fn a_configured_hub_url_moves_the_hub_its_metadata_and_the_audience() {
    let hub = "https://hub.example.test/mercure";
    let server = start_required(|raw| raw.mercure.hub_url = Some(hub.into())).await;
    let mut client = server.h2().await;
    let document = metadata(&mut client, "/.well-known/oauth-protected-resource/mercure").await;
    assert_eq!(document["resource"], hub);
    let response = client.get(METADATA).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = client.get(&subscribe_path(&[("match", BOOK)])).await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "not at the default path"
    );

    let mut stream = client
        .subscribe(&format!("/mercure?{}", form(&[("match", BOOK)])))
        .await;
    let (status, answer, body) = publish(&mut client, "/mercure", None, &[("topic", BOOK)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        challenge(&answer),
        "Bearer realm=\"mercure\", resource_metadata=\"https://hub.example.test/.well-known/oauth-protected-resource/mercure\""
    );

    let details = json!([detail(&["publish"], &[("*", "exact")])]);
    let ttl = Duration::from_secs(600);
    // A token for the default URL is not for this hub.
    let default_aud = token(&hub_url(&server), details.clone(), ttl);
    let (status, answer, body) = publish(
        &mut client,
        "/mercure",
        Some(&default_aud),
        &[("topic", BOOK)],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(challenge(&answer).contains("error=\"invalid_token\""));

    let writer = token(hub, details, ttl);
    let (status, _, id) = publish(
        &mut client,
        "/mercure",
        Some(&writer),
        &[("topic", BOOK), ("data", "moved")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{id}");
    let event = stream.next().await.expect("the update");
    assert_eq!(
        (event.id.as_str(), event.data.as_str()),
        (id.as_str(), "moved")
    );
}

// --- The reserved namespace through the native API ---------------------------------------

/// Regression: the native topic `mercure/subscriptions/...` is a relative reference that
/// resolves, against the default hub URL, into the hub's reserved namespace, so a native
/// publisher could forge subscription events for URL-pattern subscribers.
#[tokio::test]
async fn native_topics_resolving_into_the_reserved_namespace_are_refused() {
    let server = mercure::start(|raw| raw.hub.publish_tokens = vec![STATIC_TOKEN.into()]).await;
    let mut client = server.h2().await;
    let events = format!("{}/subscriptions/*", hub_url(&server));
    let mut watcher = client
        .subscribe(&subscribe_path(&[
            ("match_urlpattern", &events),
            ("match", "chat"),
        ]))
        .await;
    for topic in ["mercure/subscriptions/exact/x/y", "mercure"] {
        let (status, _, body) = native_publish(&mut client, topic, None, "{}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{topic}: {body}");
        assert!(body.contains("reserved"), "{topic}: {body}");
    }
    // Refused whatever the token, as the draft asks of the Mercure endpoint.
    let (status, _, body) = native_publish(
        &mut client,
        "mercure/subscriptions/exact/x/y",
        Some(STATIC_TOKEN),
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Ordinary topics are not affected, including ones that merely start alike.
    let (status, _, body) = native_publish(&mut client, "mercurex/y", None, "ok").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = native_publish(&mut client, "chat", None, "marker").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let next = watcher.next().await.expect("the marker");
    assert_eq!(
        (next.id, next.data),
        (published_id(&body), "marker".to_owned()),
        "no forged subscription event came first"
    );
}

#[tokio::test]
async fn native_publications_cannot_use_the_reserved_event_type() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let (status, _, body) =
        send(&mut client, "POST", "/events/chat?event=mercure", &[], "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
