//! The Mercure hub in a real browser (Debian's chromium driven by playwright-core, see
//! `support::browser`): EventSource subscriptions, `fetch` publications with a bearer token,
//! the access token cookie across origins, and CORS as Chromium enforces it. Tokens are
//! minted here with `jsonwebtoken` (`support::mercure`); the scenarios are
//! `tests/browser/scenarios/mercure-*.mjs`.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::{sleep, timeout, Instant};

use crate::support::{
    browser::run_scenario,
    mercure::{self, all_access, grant, hub_url, publish_ok},
    TestServer, PATIENCE,
};

const TOPIC: &str = "https://example.com/browser/books/1";
/// A topic the cookie's token may receive private updates of.
const GRANTED: &str = "https://example.com/browser/orders/mine";
/// One it may not.
const OTHER: &str = "https://example.com/browser/orders/theirs";

#[tokio::test]
async fn same_origin_page_publishes_with_a_bearer_token_and_never_sees_the_private_update() {
    let server = mercure::start(|raw| raw.hub.publish_auth = "required".into()).await;
    let page = format!("https://localhost:{}/", server.addr.port());
    // A publisher's token for TOPIC only.
    let token = grant(&server, &["publish"], &[(TOPIC, "exact")]);
    let result = run_scenario(
        &server,
        "mercure-same-origin.mjs",
        &page,
        &[("topic", TOPIC), ("token", &token)],
    )
    .await;

    let unauthorized = &result["unauthorized"];
    assert_eq!(unauthorized["status"], 401, "without the token: {result}");
    assert!(
        unauthorized["wwwAuthenticate"]
            .as_str()
            .is_some_and(|c| c.starts_with("Bearer")),
        "a Bearer challenge the page can read (exposed or same-origin): {result}"
    );
    for which in ["privateUpdate", "publicUpdate"] {
        let answer = &result[which];
        assert_eq!(answer["status"], 200, "{which}: {result}");
        assert!(
            answer["text"]
                .as_str()
                .is_some_and(|id| id.starts_with("urn:uuid:")),
            "{which}: the answer is the update's id: {result}"
        );
    }
    assert_ne!(
        result["privateUpdate"]["text"],
        result["publicUpdate"]["text"]
    );
    // The private update and the refused one were sent first: had either reached the
    // anonymous EventSource, it would be the first message.
    let first = &result["first"];
    assert_eq!(first["data"], "public update", "{result}");
    assert_eq!(
        first["lastEventId"], result["publicUpdate"]["text"],
        "{result}"
    );
    assert_eq!(first["type"], "message", "{result}");

    assert_eq!(result["eventSourceProtocol"], "h2", "{result}");
    assert_eq!(
        result["fetchProtocols"],
        json!(["h2", "h2", "h2"]),
        "every fetch to the hub: {result}"
    );
    server.shutdown().await;
}

/// Two servers on one site: the app, whose pages are at `https://localhost:{app port}`, and
/// the hub, at `https://localhost:{hub port}`, another origin (ports differ) of the same site
/// (sites ignore ports), as an app at `example.com` with its hub at `hub.example.com`. The
/// hub lists the app's origin in `mercure.cors_origins`, known since the app started first,
/// and presents the app's certificate (its `cert_dir`), the one the browser accepts.
struct TwoOrigins {
    app: TestServer,
    hub: TestServer,
    app_origin: String,
}

impl TwoOrigins {
    async fn start() -> Self {
        let app = TestServer::start().await;
        let app_origin = format!("https://localhost:{}", app.addr.port());
        let listed = app_origin.clone();
        let cert_dir = app.cert_dir.clone();
        let hub = mercure::start(move |raw| {
            raw.tls.cert_dir = cert_dir;
            raw.hub.publish_auth = "required".into();
            raw.mercure.cors_origins = vec![listed];
        })
        .await;
        Self {
            app,
            hub,
            app_origin,
        }
    }

    /// The hub URL under the hub's own name (`localhost`, as its token audience).
    fn hub_url(&self) -> String {
        hub_url(&self.hub)
    }

    async fn shutdown(self) {
        self.hub.shutdown().await;
        self.app.shutdown().await;
    }
}

/// Waits until the hub has at least `n` open subscriptions (the browser's EventSources).
async fn wait_for_subscriptions(server: &TestServer, n: u64) {
    let deadline = Instant::now() + PATIENCE;
    while server.hub.stats().active_subscriptions < n {
        assert!(
            Instant::now() < deadline,
            "{n} subscriptions not open in time: {:?}",
            server.hub.stats()
        );
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn cross_origin_event_source_with_credentials_receives_what_the_cookie_grants() {
    let servers = TwoOrigins::start().await;
    let hub = servers.hub_url();
    let cookie_token = grant(&servers.hub, &["subscribe"], &[(GRANTED, "exact")]);
    let match_both = json!([GRANTED, OTHER]).to_string();
    let page = format!("{}/healthz", servers.app_origin);
    let env = [
        ("hubUrl", hub.as_str()),
        ("match", &match_both),
        ("cookieName", "__Secure-mercure_access_token"),
        ("token", &cookie_token),
    ];
    let scenario = run_scenario(&servers.app, "mercure-cookie-cross-origin.mjs", &page, &env);
    let publisher = async {
        wait_for_subscriptions(&servers.hub, 2).await;
        let mut client = servers.hub.h2().await;
        let writer = all_access(&servers.hub, &["publish"]);
        for fields in [
            [
                ("topic", GRANTED),
                ("data", "granted private"),
                ("private", "on"),
            ]
            .as_slice(),
            &[
                ("topic", OTHER),
                ("data", "other private"),
                ("private", "on"),
            ],
            &[("topic", OTHER), ("data", "public marker")],
        ] {
            publish_ok(&mut client, Some(&writer), fields).await;
        }
    };
    let (result, ()) = timeout(PATIENCE * 2, async { tokio::join!(scenario, publisher) })
        .await
        .expect("scenario and publisher finish");

    assert_eq!(
        result["pageOrigin"],
        servers.app_origin.as_str(),
        "{result}"
    );
    // The cookie went along and authorized the private update it grants; the one on a topic
    // it does not grant never came (the public marker published after it is next).
    assert_eq!(
        result["credentialed"],
        json!(["granted private", "public marker"]),
        "{result}"
    );
    // Without credentials no cookie, so no private update at all.
    assert_eq!(result["anonymous"], json!(["public marker"]), "{result}");
    // Which request is which DevTools does not say; that one of them carried the cookie and
    // the other did not, it does.
    let mut sent: Vec<&Value> = result["cookies"]
        .as_array()
        .expect("cookies")
        .iter()
        .map(|c| &c["sent"])
        .collect();
    sent.sort_by_key(|s| s.as_bool());
    assert_eq!(
        sent,
        [&json!(false), &json!(true)],
        "the cookie went with the credentialed request only: {result}"
    );
    let responses = result["responses"].as_array().expect("responses");
    assert_eq!(responses.len(), 2, "one response per EventSource: {result}");
    for response in responses {
        assert_eq!(response["status"], 200, "{result}");
        assert_eq!(response["protocol"], "h2", "{result}");
        let headers = &response["headers"];
        assert_eq!(
            headers["access-control-allow-origin"],
            servers.app_origin.as_str(),
            "the page's origin, never *: {result}"
        );
        assert_eq!(
            headers["access-control-allow-credentials"], "true",
            "{result}"
        );
    }
    servers.shutdown().await;
}

#[tokio::test]
async fn origin_not_on_the_allowlist_cannot_read_the_hub() {
    let servers = TwoOrigins::start().await;
    // The app server under its other name: the same server and port as the listed
    // `https://localhost:{port}`, but another origin, which the hub does not list.
    let page_origin = format!("https://127.0.0.1:{}", servers.app.addr.port());
    let result = run_scenario(
        &servers.app,
        "mercure-cors-unlisted-origin.mjs",
        &format!("{page_origin}/healthz"),
        &[("hubUrl", &servers.hub_url()), ("match", TOPIC)],
    )
    .await;
    assert_eq!(result["pageOrigin"], page_origin.as_str(), "{result}");
    let cross = &result["crossOrigin"];
    assert_eq!(cross["opened"], false, "{result}");
    assert_eq!(cross["errored"], true, "{result}");
    assert!(
        result["fetchError"]
            .as_str()
            .is_some_and(|e| e.starts_with("TypeError")),
        "a CORS failure rejects fetch with a TypeError: {result}"
    );
    // The app's own hub, same origin as the page, opens: the hub is not simply unreachable.
    assert_eq!(result["sameOriginOpened"], true, "{result}");
    servers.shutdown().await;
}

#[tokio::test]
async fn cross_origin_fetch_with_bearer_tokens_is_preflighted_and_streams_private_updates() {
    let servers = TwoOrigins::start().await;
    let hub = servers.hub_url();
    let subscriber = grant(&servers.hub, &["subscribe"], &[(GRANTED, "exact")]);
    let publisher = grant(&servers.hub, &["publish"], &[(GRANTED, "exact")]);
    let result = run_scenario(
        &servers.app,
        "mercure-cross-origin-fetch.mjs",
        &format!("{}/healthz", servers.app_origin),
        &[
            ("hubUrl", &hub),
            ("topic", GRANTED),
            ("subscriberToken", &subscriber),
            ("publisherToken", &publisher),
        ],
    )
    .await;
    assert_eq!(result["subscribeStatus"], 200, "{result}");
    assert_eq!(result["contentType"], "text/event-stream", "{result}");
    let publication = &result["publication"];
    assert_eq!(publication["status"], 200, "{result}");
    let id = publication["text"].as_str().expect("the update's id");
    assert!(id.starts_with("urn:uuid:"), "{result}");
    assert_eq!(
        result["event"],
        json!({"id": id, "data": "private, by header token"}),
        "{result}"
    );
    // One preflight per URL (the subscription's, the publication's), both answered.
    assert_eq!(result["preflights"], json!([204, 204]), "{result}");
    assert_eq!(result["protocols"], json!(["h2", "h2"]), "{result}");
    servers.shutdown().await;
}
