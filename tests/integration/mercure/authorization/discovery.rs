//! The protected resource metadata (draft "Discovery"): what it says of the hub, and how a
//! configured hub URL moves the hub, its metadata and the tokens' audience.

use http::StatusCode;
use serde_json::{json, Value};

use super::{start_required, BOOK, COOKIE, METADATA};
use crate::support::{
    mercure::{
        self, assert_invalid_token, challenge, detail, form, hub_url, publish, subscribe_path,
        token, DETAIL_TYPE, TTL,
    },
    read_all, Client,
};

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
    // A token for the default URL is not for this hub.
    let default_aud = token(&hub_url(&server), details.clone(), TTL);
    let answer = publish(
        &mut client,
        "/mercure",
        Some(&default_aud),
        &[("topic", BOOK)],
    )
    .await;
    assert_invalid_token(&answer);

    let writer = token(hub, details, TTL);
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
