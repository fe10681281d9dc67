//! Pre-1.0 compatibility mode (`mercure.legacy`): `topic` selectors (exact strings, RFC 6570
//! URI templates, `*`), tokens with the `mercure` claim presented in the `Authorization`
//! header, the `authorization` query parameter or the `mercureAuthorization` cookie,
//! `lastEventID` and the `Last-Event-ID` response header, the pre-1.0 subscription topics;
//! and unmodified pre-1.0 clients: Symfony's PHP publisher and an EventSource page.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use ssegate::mercure::config::RawKey;
use tokio::process::Command;

use crate::support::{
    browser::run_scenario,
    mercure::{
        self, all_access, detail, form, get_with, hub_url, legacy_token, publish, sign, token,
        LEGACY_SECRET,
    },
    read_all, Client, SseStream, TestServer, PATIENCE,
};

/// The hub's path (the default hub URL's).
const HUB: &str = "/.well-known/mercure";
/// The pre-1.0 specification's example URI template.
const BOOKS: &str = "https://example.com/books/{id}";
const BOOK_1: &str = "https://example.com/books/1";
const BOOK_2: &str = "https://example.com/books/2";
const BOOK_3: &str = "https://example.com/books/3";

/// A test-only RSA key pair (tests/fixtures/README.md).
const RSA_PRIVATE_PEM: &str = include_str!("../../fixtures/test-only-rsa-private.pem");
const RSA_PUBLIC_PEM: &str = include_str!("../../fixtures/test-only-rsa-public.pem");

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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
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
        &json!({ "mercure": { "subscribe": selectors, "publish": ["*"] }, "exp": unix_now() + 600 }),
        "JWT",
        "not-the-legacy-secret-but-long-enough-0123456789",
    )
}

/// The hub URL with `pairs` as its query.
fn hub_query(pairs: &[(&str, &str)]) -> String {
    format!("{HUB}?{}", form(pairs))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// GET `path` with `headers`; the response is read whole unless it is a 200 stream.
async fn try_open(
    client: &mut Client,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<SseStream, (StatusCode, HeaderMap, String)> {
    let response = client.send(get_with(path, headers)).await;
    if response.status() == StatusCode::OK {
        return Ok(SseStream::new(response));
    }
    let headers = response.headers().clone();
    let (status, body) = read_all(response).await;
    Err((status, headers, body))
}

/// Opens a subscription that must succeed.
async fn open(client: &mut Client, path: &str, headers: &[(&str, &str)]) -> SseStream {
    match try_open(client, path, headers).await {
        Ok(stream) => stream,
        Err((status, _, body)) => panic!("subscribe {path}: {status} {body}"),
    }
}

/// Opens a subscription that must be refused; returns status, headers and body.
async fn refused(
    client: &mut Client,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    match try_open(client, path, headers).await {
        Ok(_) => panic!("subscribe {path} with {headers:?} was accepted"),
        Err(answer) => answer,
    }
}

/// POSTs a publication (form `pairs`) to `path` with `headers`.
async fn post(
    client: &mut Client,
    path: &str,
    headers: &[(&str, &str)],
    pairs: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut builder = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let req = builder
        .body(Full::new(Bytes::from(form(pairs))))
        .expect("request");
    let response = client.send(req).await;
    let headers = response.headers().clone();
    let (status, body) = read_all(response).await;
    (status, headers, body)
}

/// Publishes with a pre-1.0 `publish: ["*"]` token; returns the update's id.
async fn publish_ok(client: &mut Client, pairs: &[(&str, &str)]) -> String {
    let (status, _, body) = publish(client, HUB, Some(&writer()), pairs).await;
    assert_eq!(status, StatusCode::OK, "publish {pairs:?}: {body}");
    body
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

#[tokio::test]
async fn topic_parameter_is_refused_with_a_pointer_to_match_unless_legacy_is_on() {
    let server = mercure::start(|raw| raw.hub.publish_auth = "required".into()).await;
    let mut client = server.h2().await;
    let (status, _, body) = refused(&mut client, &hub_query(&[("topic", BOOK_1)]), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("`match`") && body.contains("mercure.legacy"),
        "the message names `match` and mercure.legacy: {body}"
    );
    // Nor are pre-1.0 tokens access tokens: refused for subscribing and publishing alike.
    let (status, headers, body) = refused(
        &mut client,
        &hub_query(&[("match", BOOK_1)]),
        &[("authorization", &bearer(&reader(&["*"])))],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"),
        "{headers:?}"
    );
    let (status, _, body) = publish(&mut client, HUB, Some(&writer()), &[("topic", BOOK_1)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn exact_topics_select_their_updates_and_several_topics_add_up() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut stream = open(
        &mut client,
        &hub_query(&[("topic", "https://example.com/foo"), ("topic", "bar")]),
        &[],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", "https://example.com/other"), ("data", "other")],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", "https://example.com/foo/1"), ("data", "below")],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", "https://example.com/foo"), ("data", "foo")],
    )
    .await;
    publish_ok(&mut client, &[("topic", "bar"), ("data", "bar")]).await;
    assert_eq!(data_of(&mut stream, 2).await, ["foo", "bar"]);
}

#[tokio::test]
async fn uri_template_topics_match_their_expansions() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut books = open(&mut client, &hub_query(&[("topic", BOOKS)]), &[]).await;
    let search = "https://example.com/search{?q,lang}";
    let mut searches = open(&mut client, &hub_query(&[("topic", search)]), &[]).await;

    // `{id}` (simple expansion) takes no `/` and may be empty; the template also matches
    // itself (pre-1.0 "Topic Selectors", step 2).
    for topic in [
        "https://example.com/books/1/reviews",
        "https://example.com/books",
        BOOK_1,
        "https://example.com/books/%C3%A9t%C3%A9",
        "https://example.com/books/",
        BOOKS,
    ] {
        publish_ok(&mut client, &[("topic", topic), ("data", topic)]).await;
    }
    assert_eq!(
        data_of(&mut books, 4).await,
        [
            BOOK_1,
            "https://example.com/books/%C3%A9t%C3%A9",
            "https://example.com/books/",
            BOOKS
        ]
    );

    // `{?q,lang}` (form-style query expansion): any defined subset, in template order.
    for topic in [
        "https://example.com/search?page=2",
        "https://example.com/search?lang=fr&q=rust",
        "https://example.com/search?q=rust",
        "https://example.com/search",
        "https://example.com/search?q=sse%20hub&lang=fr",
    ] {
        publish_ok(&mut client, &[("topic", topic), ("data", topic)]).await;
    }
    assert_eq!(
        data_of(&mut searches, 3).await,
        [
            "https://example.com/search?q=rust",
            "https://example.com/search",
            "https://example.com/search?q=sse%20hub&lang=fr",
        ]
    );
}

#[tokio::test]
async fn wildcard_topic_receives_every_public_update() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut all = open(&mut client, &hub_query(&[("topic", "*")]), &[]).await;
    publish_ok(&mut client, &[("topic", BOOK_1), ("data", "one")]).await;
    publish_ok(
        &mut client,
        &[("topic", "urn:example:two"), ("data", "two")],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", BOOK_3), ("data", "private"), ("private", "on")],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", "relative/three"), ("data", "three")],
    )
    .await;
    // An anonymous `*` subscriber gets no private update (nor subscription events).
    assert_eq!(data_of(&mut all, 3).await, ["one", "two", "three"]);
}

#[tokio::test]
async fn an_update_reaches_subscribers_of_its_canonical_or_alternate_topics() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let alternate = "https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1";
    let mut canonical = open(&mut client, &hub_query(&[("topic", BOOK_1)]), &[]).await;
    let mut by_user = open(
        &mut client,
        &hub_query(&[("topic", "https://example.com/users/foo/{?topic}")]),
        &[],
    )
    .await;
    let id = publish_ok(
        &mut client,
        &[("topic", BOOK_1), ("topic", alternate), ("data", "both")],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", BOOK_1), ("data", "canonical only")],
    )
    .await;
    publish_ok(
        &mut client,
        &[
            ("topic", "https://example.com/users/foo/?topic=x"),
            ("data", "user only"),
        ],
    )
    .await;
    let first = canonical.next().await.unwrap();
    assert_eq!(
        (first.id.as_str(), first.data.as_str()),
        (id.as_str(), "both")
    );
    assert_eq!(data_of(&mut canonical, 1).await, ["canonical only"]);
    let first = by_user.next().await.unwrap();
    assert_eq!(
        (first.id.as_str(), first.data.as_str()),
        (id.as_str(), "both")
    );
    assert_eq!(data_of(&mut by_user, 1).await, ["user only"]);
}

#[tokio::test]
async fn last_event_id_parameter_and_header_resume_and_answer_last_event_id() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    for id in ["ev-1", "ev-2", "ev-3"] {
        publish_ok(&mut client, &[("topic", BOOK_1), ("data", id), ("id", id)]).await;
    }
    let ids = |events: Vec<eventsource_stream::Event>| -> Vec<String> {
        events.into_iter().map(|e| e.id).collect()
    };

    let path = hub_query(&[("topic", BOOKS), ("lastEventID", "ev-1")]);
    let mut stream = open(&mut client, &path, &[]).await;
    assert_eq!(stream.headers["last-event-id"], "ev-1");
    assert!(
        stream.headers.get("mercure-last-event-id").is_none(),
        "pre-1.0 clients read Last-Event-ID: {:?}",
        stream.headers
    );
    assert_eq!(ids(stream.take(2).await), ["ev-2", "ev-3"]);

    // The header (EventSource's, on reconnection) wins over the query parameter.
    let mut stream = open(&mut client, &path, &[("last-event-id", "ev-2")]).await;
    assert_eq!(stream.headers["last-event-id"], "ev-2");
    publish_ok(
        &mut client,
        &[("topic", BOOK_1), ("data", "ev-4"), ("id", "ev-4")],
    )
    .await;
    assert_eq!(ids(stream.take(2).await), ["ev-3", "ev-4"]);

    // An unknown id, and the reserved `earliest`: everything retained, and `earliest`.
    for cursor in ["no-such-event", "earliest"] {
        let path = hub_query(&[("topic", BOOKS), ("lastEventID", cursor)]);
        let mut stream = open(&mut client, &path, &[]).await;
        assert_eq!(stream.headers["last-event-id"], "earliest", "for {cursor}");
        assert_eq!(
            ids(stream.take(4).await),
            ["ev-1", "ev-2", "ev-3", "ev-4"],
            "for {cursor}"
        );
    }

    // No cursor, no header. A 1.0 subscription on the same hub keeps the 1.0 names.
    let stream = open(&mut client, &hub_query(&[("topic", BOOKS)]), &[]).await;
    assert!(stream.headers.get("last-event-id").is_none());
    let path = hub_query(&[("match", BOOK_1), ("last_event_id", "ev-3")]);
    let mut stream = open(&mut client, &path, &[]).await;
    assert_eq!(stream.headers["mercure-last-event-id"], "ev-3");
    assert!(stream.headers.get("last-event-id").is_none());
    assert_eq!(ids(stream.take(1).await), ["ev-4"]);
}

#[tokio::test]
async fn private_updates_reach_only_subscribers_whose_mercure_subscribe_matches() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let path = hub_query(&[("topic", BOOKS)]);
    let mut granted = open(
        &mut client,
        &path,
        &[("authorization", &bearer(&reader(&[BOOKS])))],
    )
    .await;
    let mut exact = open(
        &mut client,
        &path,
        &[("authorization", &bearer(&reader(&[BOOK_2])))],
    )
    .await;
    let mut other = open(
        &mut client,
        &path,
        &[(
            "authorization",
            &bearer(&reader(&["https://example.com/authors/{id}"])),
        )],
    )
    .await;
    let mut no_claim = open(
        &mut client,
        &path,
        &[(
            "authorization",
            &bearer(&sign(
                &json!({ "exp": unix_now() + 600 }),
                "JWT",
                LEGACY_SECRET,
            )),
        )],
    )
    .await;
    let mut anonymous = open(&mut client, &path, &[]).await;

    publish_ok(
        &mut client,
        &[("topic", BOOK_1), ("data", "private 1"), ("private", "on")],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", BOOK_2), ("data", "private 2"), ("private", "")],
    )
    .await;
    publish_ok(&mut client, &[("topic", BOOK_3), ("data", "public")]).await;

    assert_eq!(
        data_of(&mut granted, 3).await,
        ["private 1", "private 2", "public"]
    );
    assert_eq!(data_of(&mut exact, 2).await, ["private 2", "public"]);
    for stream in [&mut other, &mut no_claim, &mut anonymous] {
        assert_eq!(data_of(stream, 1).await, ["public"]);
    }
}

#[tokio::test]
async fn alternate_topic_grants_a_private_update_as_in_the_pre_1_0_example() {
    // pre-1.0 "Subscribers": a subscriber of every book, allowed to read the private
    // updates of some, through an alternate topic its `mercure.subscribe` template matches.
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut foo = open(
        &mut client,
        &hub_query(&[("topic", BOOKS)]),
        &[(
            "authorization",
            &bearer(&reader(&["https://example.com/users/foo/{?topic}"])),
        )],
    )
    .await;
    let for_user = |user: &str, book: &str| {
        format!(
            "https://example.com/users/{user}/?topic={}",
            form_urlencoded::byte_serialize(book.as_bytes()).collect::<String>()
        )
    };
    let foo_1 = for_user("foo", BOOK_1);
    let bar_2 = for_user("bar", BOOK_2);
    publish_ok(
        &mut client,
        &[
            ("topic", BOOK_1),
            ("topic", &foo_1),
            ("data", "foo's"),
            ("private", "on"),
        ],
    )
    .await;
    publish_ok(
        &mut client,
        &[
            ("topic", BOOK_2),
            ("topic", &bar_2),
            ("data", "bar's"),
            ("private", "on"),
        ],
    )
    .await;
    publish_ok(
        &mut client,
        &[("topic", BOOK_3), ("data", "nobody's"), ("private", "on")],
    )
    .await;
    publish_ok(&mut client, &[("topic", BOOK_3), ("data", "public")]).await;
    assert_eq!(data_of(&mut foo, 2).await, ["foo's", "public"]);
}

#[tokio::test]
async fn publishing_needs_mercure_publish_to_cover_every_topic() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut observer = open(&mut client, &hub_query(&[("topic", "*")]), &[]).await;
    let books_only = legacy_token(json!({ "publish": [BOOKS] }));
    let (status, _, id) = publish(
        &mut client,
        HUB,
        Some(&books_only),
        &[("topic", BOOK_1), ("data", "allowed")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{id}");

    let refused_with = [
        // One topic of two is not covered: nothing is dispatched.
        (
            books_only.clone(),
            vec![BOOK_2, "https://example.com/authors/1"],
        ),
        (legacy_token(json!({ "subscribe": ["*"] })), vec![BOOK_2]),
        (legacy_token(json!({ "publish": [] })), vec![BOOK_2]),
        (
            sign(&json!({ "exp": unix_now() + 600 }), "JWT", LEGACY_SECRET),
            vec![BOOK_2],
        ),
    ];
    for (jwt, topics) in &refused_with {
        let mut pairs: Vec<(&str, &str)> = topics.iter().map(|t| ("topic", *t)).collect();
        pairs.push(("data", "refused"));
        let (status, headers, body) = publish(&mut client, HUB, Some(jwt), &pairs).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{topics:?}: {body}");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("insufficient_scope"),
            "{headers:?}"
        );
    }
    let (status, _, body) = publish(&mut client, HUB, None, &[("topic", BOOK_2)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    publish_ok(&mut client, &[("topic", BOOK_3), ("data", "marker")]).await;

    let first = observer.next().await.unwrap();
    assert_eq!(
        (first.id.as_str(), first.data.as_str()),
        (id.as_str(), "allowed")
    );
    assert_eq!(data_of(&mut observer, 1).await, ["marker"]);
}

#[tokio::test]
async fn subscriber_token_from_header_beats_query_beats_cookie() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let good = reader(&[BOOK_1]);
    let bad = forged(&[BOOK_1]);
    let cookie = |jwt: &str| format!("mercureAuthorization={jwt}");
    let path = |query_token: Option<&str>| {
        let mut pairs = vec![("topic", BOOK_1)];
        if let Some(jwt) = query_token {
            pairs.push(("authorization", jwt));
        }
        hub_query(&pairs)
    };
    // (header token, query token, cookie token): the one that counts is the good one.
    let accepted = [
        (Some(&good), None, None),
        (None, Some(&good), None),
        (None, None, Some(&good)),
        (Some(&good), Some(&bad), Some(&bad)),
        (None, Some(&good), Some(&bad)),
    ];
    for (n, (header, query, jar)) in accepted.into_iter().enumerate() {
        let mut headers = Vec::new();
        let authorization = header.map(|jwt| bearer(jwt));
        if let Some(value) = &authorization {
            headers.push(("authorization", value.as_str()));
        }
        let cookie_value = jar.map(|jwt| cookie(jwt));
        if let Some(value) = &cookie_value {
            headers.push(("cookie", value.as_str()));
        }
        let mut stream = open(&mut client, &path(query.map(String::as_str)), &headers).await;
        let secret = format!("private {n}");
        publish_ok(
            &mut client,
            &[("topic", BOOK_1), ("data", &secret), ("private", "on")],
        )
        .await;
        publish_ok(&mut client, &[("topic", BOOK_1), ("data", "public")]).await;
        assert_eq!(
            data_of(&mut stream, 2).await,
            [secret.as_str(), "public"],
            "case {n}: header {}, query {}, cookie {}",
            header.is_some(),
            query.is_some(),
            jar.is_some()
        );
    }

    // The forged token, where it takes precedence, is the one validated.
    let (status, _, body) = refused(
        &mut client,
        &path(Some(&good)),
        &[("authorization", &bearer(&bad))],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _, body) = refused(
        &mut client,
        &path(Some(&bad)),
        &[("cookie", &cookie(&good))],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn publisher_token_may_come_from_the_query_or_the_cookie() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut observer = open(&mut client, &hub_query(&[("topic", "*")]), &[]).await;
    let path = hub_query(&[("authorization", &writer())]);
    let (status, _, body) = post(
        &mut client,
        &path,
        &[],
        &[("topic", BOOK_1), ("data", "query")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A cookie-borne token needs a same-origin request (CSRF defence).
    let cookie = format!("mercureAuthorization={}", writer());
    let origin = format!("https://localhost:{}", server.addr.port());
    let (status, _, body) = post(
        &mut client,
        HUB,
        &[("cookie", &cookie), ("origin", &origin)],
        &[("topic", BOOK_1), ("data", "cookie")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = post(
        &mut client,
        HUB,
        &[("cookie", &cookie), ("origin", "https://evil.example")],
        &[("topic", BOOK_1), ("data", "cross-site")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    publish_ok(&mut client, &[("topic", BOOK_1), ("data", "marker")]).await;
    assert_eq!(
        data_of(&mut observer, 3).await,
        ["query", "cookie", "marker"]
    );
}

#[tokio::test]
async fn expired_pre_1_0_token_is_refused_and_exp_ends_the_stream() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    // Past the hub's 30-second leeway.
    let expired = sign(
        &json!({ "mercure": { "subscribe": ["*"], "publish": ["*"] }, "exp": unix_now() - 120 }),
        "JWT",
        LEGACY_SECRET,
    );
    let (status, headers, body) = refused(
        &mut client,
        &hub_query(&[("topic", BOOK_1)]),
        &[("authorization", &bearer(&expired))],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"),
        "{headers:?}"
    );
    let (status, _, body) = publish(&mut client, HUB, Some(&expired), &[("topic", BOOK_1)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // pre-1.0 "Subscribers": the connection is closed when the token expires.
    let soon = sign(
        &json!({ "mercure": { "subscribe": [BOOK_1] }, "exp": unix_now() + 2 }),
        "JWT",
        LEGACY_SECRET,
    );
    let mut stream = open(
        &mut client,
        &hub_query(&[("topic", BOOK_1)]),
        &[("authorization", &bearer(&soon))],
    )
    .await;
    assert!(stream.next().await.is_none(), "the stream ends at exp");
}

#[tokio::test]
async fn rs256_and_es256_pre_1_0_tokens_verify_with_their_public_keys() {
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
    let dir = tempfile::tempdir().expect("temp dir");
    let ec_public = dir.path().join("ec-public.pem");
    std::fs::write(&ec_public, ec.public_key_pem()).expect("write EC key");
    let rsa_public: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-only-rsa-public.pem");
    let server = legacy_hub_with(|raw| {
        for file in [rsa_public, ec_public] {
            raw.mercure.legacy_keys.push(RawKey {
                public_key_file: Some(file),
                ..RawKey::default()
            });
        }
    })
    .await;
    let mut client = server.h2().await;
    let claims = json!({
        "mercure": { "subscribe": [BOOKS], "publish": [BOOKS] },
        "exp": unix_now() + 600,
    });
    let signed = |alg: Algorithm, typ: Option<&str>, key: &EncodingKey| {
        let mut header = Header::new(alg);
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, key).expect("token encodes")
    };
    // Tokens without `typ` are pre-1.0 tokens too.
    let rs256 = signed(
        Algorithm::RS256,
        None,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).expect("RSA key"),
    );
    let ec_key = |pair: &rcgen::KeyPair| {
        EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("EC key")
    };
    let es256 = signed(Algorithm::ES256, Some("JWT"), &ec_key(&ec));

    let mut stream = open(
        &mut client,
        &hub_query(&[("topic", BOOKS)]),
        &[("authorization", &bearer(&rs256))],
    )
    .await;
    let (status, _, body) = publish(
        &mut client,
        HUB,
        Some(&es256),
        &[
            ("topic", BOOK_1),
            ("data", "ES256 to RS256"),
            ("private", "on"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = publish(
        &mut client,
        HUB,
        Some(&rs256),
        &[
            ("topic", BOOK_2),
            ("data", "RS256 to RS256"),
            ("private", "on"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        data_of(&mut stream, 2).await,
        ["ES256 to RS256", "RS256 to RS256"]
    );

    // Algorithm confusion (the RSA public key as an HMAC secret) and a stranger's EC key.
    let confused = signed(
        Algorithm::HS256,
        Some("JWT"),
        &EncodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes()),
    );
    let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
    let stranger = signed(Algorithm::ES256, Some("JWT"), &ec_key(&stranger));
    for (what, jwt) in [
        ("HS256 with the RSA key", &confused),
        ("unknown EC key", &stranger),
    ] {
        let (status, _, body) = publish(&mut client, HUB, Some(jwt), &[("topic", BOOK_1)]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    }
}

#[tokio::test]
async fn access_tokens_and_match_subscriptions_still_work_in_legacy_mode() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let reader_1_0 = token(
        &hub_url(&server),
        json!([detail(&["subscribe"], &[(BOOK_1, "exact")])]),
        Duration::from_secs(600),
    );
    let writer_1_0 = all_access(&server, &["publish"]);
    let authorization = bearer(&reader_1_0);
    let headers = [("authorization", authorization.as_str())];
    let mut by_topic = open(&mut client, &hub_query(&[("topic", BOOKS)]), &headers).await;
    let mut by_match = open(&mut client, &hub_query(&[("match", BOOK_1)]), &headers).await;
    let mut by_pattern = open(
        &mut client,
        &hub_query(&[("match_urlpattern", "https://example.com/books/:id")]),
        &[],
    )
    .await;

    for (data, private) in [("private", true), ("public", false)] {
        let mut pairs = vec![("topic", BOOK_1), ("data", data)];
        if private {
            pairs.push(("private", "on"));
        }
        let (status, _, body) = publish(&mut client, HUB, Some(&writer_1_0), &pairs).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(data_of(&mut by_topic, 2).await, ["private", "public"]);
    assert_eq!(data_of(&mut by_match, 2).await, ["private", "public"]);
    assert_eq!(data_of(&mut by_pattern, 1).await, ["public"]);

    // Access tokens are still held to the 1.0 rules: one for another hub is refused.
    let elsewhere = token(
        "https://other.example/.well-known/mercure",
        json!([detail(&["publish"], &[("*", "exact")])]),
        Duration::from_secs(600),
    );
    let (status, _, body) = publish(&mut client, HUB, Some(&elsewhere), &[("topic", BOOK_1)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn access_token_in_the_authorization_query_parameter_is_refused() {
    // The `authorization` parameter is a pre-1.0 mechanism; draft "Presenting the Access
    // Token": hubs do not accept access tokens in the URI query, compatibility mode or not.
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let reader_1_0 = token(
        &hub_url(&server),
        json!([detail(&["subscribe"], &[(BOOK_1, "exact")])]),
        Duration::from_secs(600),
    );
    let (status, _, body) = refused(
        &mut client,
        &hub_query(&[("topic", BOOK_1), ("authorization", &reader_1_0)]),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let path = hub_query(&[("authorization", &all_access(&server, &["publish"]))]);
    let (status, _, body) = post(&mut client, &path, &[], &[("topic", BOOK_1)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn pre_1_0_subscriptions_are_announced_on_pre_1_0_topics() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    // The selector the pre-1.0 reference hub documents for subscription events and the API.
    let selector = "/.well-known/mercure/subscriptions{/topic}{/subscriber}";
    let watcher_token = reader(&[selector]);
    let watcher_auth = bearer(&watcher_token);
    let mut watcher = open(
        &mut client,
        &hub_query(&[("topic", selector)]),
        &[("authorization", &watcher_auth)],
    )
    .await;
    let own: Value = serde_json::from_str(&watcher.next().await.unwrap().data).unwrap();
    assert_eq!(
        own["topic"], selector,
        "the watcher's own subscription: {own}"
    );

    let subscriber_token = legacy_token(json!({ "subscribe": [], "payload": { "user": "alice" } }));
    let subscriber = open(
        &mut client,
        &hub_query(&[("topic", BOOKS)]),
        &[("authorization", &bearer(&subscriber_token))],
    )
    .await;
    let opened = watcher.next().await.unwrap();
    assert_eq!(opened.event, "message", "pre-1.0 events have no type");
    let doc: Value = serde_json::from_str(&opened.data).unwrap();
    let subscriber_id = doc["subscriber"].as_str().expect("subscriber").to_owned();
    assert!(subscriber_id.starts_with("urn:uuid:"), "{doc}");
    let expected_id = format!(
        "/.well-known/mercure/subscriptions/{}/{}",
        "https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D",
        subscriber_id.replace(':', "%3A")
    );
    assert_eq!(
        doc,
        json!({
            "@context": "https://mercure.rocks/",
            "id": expected_id,
            "type": "Subscription",
            "topic": BOOKS,
            "subscriber": subscriber_id,
            "active": true,
            "payload": { "user": "alice" },
        })
    );

    // The subscription API answers pre-1.0 tokens in the pre-1.0 format.
    let response = client
        .send(get_with(
            "/.well-known/mercure/subscriptions",
            &[("authorization", &watcher_auth)],
        ))
        .await;
    let content_type = response.headers()["content-type"].clone();
    let (status, body) = read_all(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "application/ld+json");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["type"], "Subscriptions", "{list}");
    assert!(list["lastEventID"].is_string(), "{list}");
    let listed = list["subscriptions"].as_array().expect("subscriptions");
    assert!(
        listed
            .iter()
            .any(|s| s["id"] == expected_id.as_str() && s["topic"] == BOOKS),
        "{list}"
    );

    drop(subscriber);
    let closed: Value = serde_json::from_str(&watcher.next().await.unwrap().data).unwrap();
    assert_eq!(
        (&closed["id"], &closed["active"]),
        (&json!(expected_id), &json!(false)),
        "{closed}"
    );
}

#[tokio::test]
async fn symfony_publisher_publishes_to_a_legacy_hub() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut stream = open(
        &mut client,
        &hub_query(&[("topic", BOOKS)]),
        &[("authorization", &bearer(&reader(&[BOOKS])))],
    )
    .await;
    let update = json!({
        "topics": [BOOK_1, "https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1"],
        "data": "{\"title\": \"Les Misérables\",\n \"status\": \"sold out\"}",
        "private": true,
        "id": "urn:example:symfony-1",
        "type": "book.updated",
        "retry": 1500,
    });
    let output = symfony_publish(&server, &writer(), &update).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "php failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert_eq!(stdout.trim(), "urn:example:symfony-1", "stderr: {stderr}");

    let event = stream.next().await.unwrap();
    assert_eq!(event.id, "urn:example:symfony-1");
    assert_eq!(event.event, "book.updated");
    assert_eq!(event.data, update["data"].as_str().unwrap());
    assert_eq!(event.retry, Some(Duration::from_millis(1500)));

    // The hub's refusal reaches the PHP caller as Symfony's exception.
    let output = symfony_publish(
        &server,
        &legacy_token(json!({ "publish": ["https://example.com/authors/{id}"] })),
        &json!({ "topics": [BOOK_2], "data": "refused" }),
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");
}

#[tokio::test]
async fn eventsource_page_with_topic_template_and_cookie_receives_updates_over_h2() {
    let server = legacy_hub().await;
    let page = format!("https://localhost:{}/healthz", server.addr.port());
    let updates = json!([
        { "topics": [BOOK_1], "data": "private, granted", "private": true },
        { "topics": [BOOK_3], "data": "private, not granted", "private": true },
        { "topics": ["https://example.com/authors/1"], "data": "another topic" },
        { "topics": [BOOK_2], "data": "public" },
    ])
    .to_string();
    let result = run_scenario(
        &server,
        "mercure-legacy.mjs",
        &page,
        &[
            ("selector", BOOKS),
            ("cookieToken", &reader(&[BOOK_1])),
            ("publishToken", &writer()),
            ("updates", &updates),
        ],
    )
    .await;
    let ids = result["ids"].as_array().expect("ids");
    assert_eq!(
        result["received"],
        json!([
            { "data": "private, granted", "id": ids[0] },
            { "data": "public", "id": ids[3] },
        ]),
        "{result}"
    );
    assert_eq!(result["eventSourceProtocol"], "h2", "{result}");
    server.shutdown().await;
}
