//! Who may publish by default (loopback listeners let anonymous publishers through, others
//! require a token, `publish_auth = "open"` opens them), the native `/events/{topic}` API's
//! tokens (static and Mercure), the bridge between the two front doors, and the hub's
//! reserved namespace and event type, which native publications cannot reach.

use http::StatusCode;
use serde_json::json;

use super::{native_publish, publisher_claims, start_required, STATIC_TOKEN};
use crate::support::{
    mercure::{
        self, all_access, assert_challenge, bare_challenge, challenge, grant, hub_url, now,
        publish, publish_ok, send, sign, subscribe, subscribe_path, Answer, HUB, SECRET,
    },
    published_id, Client,
};

/// Publishes on `chat` through both front doors, the Mercure hub and the native API, with an
/// optional bearer token; returns both answers.
async fn publish_both(client: &mut Client, bearer: Option<&str>) -> [Answer; 2] {
    [
        publish(client, HUB, bearer, &[("topic", "chat")]).await,
        native_publish(client, "chat", bearer, "hello").await,
    ]
}

// --- The safe default ------------------------------------------------------------------

#[tokio::test]
async fn loopback_listeners_let_anonymous_publishers_through_by_default() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    for (status, _, body) in publish_both(&mut client, None).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test]
async fn a_non_loopback_listener_makes_publishing_require_a_token() {
    let server = mercure::start(|raw| {
        raw.server.plaintext_listen = Some("0.0.0.0:0".into());
    })
    .await;
    let mut client = server.h2().await;
    for (status, headers, body) in publish_both(&mut client, None).await {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(challenge(&headers), bare_challenge(&server));
    }

    let writer = all_access(&server, &["publish"]);
    for (status, _, body) in publish_both(&mut client, Some(&writer)).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test]
async fn open_publish_auth_lets_anonymous_publishers_through_a_non_loopback_listener() {
    let server = mercure::start(|raw| {
        raw.server.plaintext_listen = Some("0.0.0.0:0".into());
        raw.hub.publish_auth = "open".into();
    })
    .await;
    let mut client = server.h2().await;
    for (status, _, body) in publish_both(&mut client, None).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
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
    let chat = grant(&server, &["publish"], &[("chat", "exact")]);
    let (status, _, body) = native_publish(&mut client, "chat", Some(&chat), "hi").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let other = grant(&server, &["publish"], &[("other", "exact")]);
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
    let mut mercure_stream = subscribe(&mut client, &["chat"]).await;
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
    let writer = grant(&server, &["publish"], &[("chat", "exact")]);

    let private_id = publish_ok(
        &mut client,
        Some(&writer),
        &[("topic", "chat"), ("data", "secret"), ("private", "on")],
    )
    .await;
    let public_id = publish_ok(
        &mut client,
        Some(&writer),
        &[("topic", "chat"), ("data", "from mercure")],
    )
    .await;
    let event = native.next().await.expect("the public update");
    assert_eq!(
        (event.id.as_str(), event.data.as_str()),
        (public_id.as_str(), "from mercure"),
        "the private update ({private_id}) never reaches a native subscriber"
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
