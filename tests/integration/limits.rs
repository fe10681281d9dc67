//! Publish rate limits: a token bucket per client address (native API and Mercure hub
//! together) and per bearer token, refusing with `429` and `Retry-After`.

use http::{header, HeaderValue, StatusCode};

use crate::support::{read_all, request, Client, TestServer};

/// Publishes on the native API (or the Mercure hub) as `client`, through the trusted proxy
/// the test's loopback connection stands for, with `token` if any.
async fn publish(
    client: &mut Client,
    mercure: bool,
    from: Option<&str>,
    token: Option<&str>,
) -> (StatusCode, Option<HeaderValue>) {
    let mut req = if mercure {
        let mut req = request("POST", "/.well-known/mercure", "topic=limits&data=x");
        req.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        req
    } else {
        request("POST", "/events/limits", "x")
    };
    if let Some(from) = from {
        req.headers_mut()
            .insert("x-forwarded-for", from.parse().unwrap());
    }
    if let Some(token) = token {
        req.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
    }
    let response = client.send(req).await;
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let (status, body) = read_all(response).await;
    if status == StatusCode::TOO_MANY_REQUESTS {
        assert!(body.contains("too many publishes"), "{body}");
    }
    (status, retry_after)
}

#[tokio::test]
async fn one_client_address_is_limited_across_the_native_api_and_mercure() {
    let server = TestServer::start_with(|raw| {
        raw.server.trusted_proxies = vec!["127.0.0.0/8".into()];
        raw.hub.publish_rate_per_client = 2.0;
    })
    .await;
    let mut client = server.h2().await;
    let remote = Some("192.0.2.7");
    assert_eq!(
        publish(&mut client, false, remote, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        publish(&mut client, true, remote, None).await.0,
        StatusCode::OK
    );
    for mercure in [false, true] {
        let (status, retry_after) = publish(&mut client, mercure, remote, None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "mercure: {mercure}");
        assert_eq!(retry_after.unwrap(), "1");
    }
    // Another address has its own bucket; the local application is not limited.
    assert_eq!(
        publish(&mut client, false, Some("192.0.2.8"), None).await.0,
        StatusCode::OK
    );
    for _ in 0..5 {
        assert_eq!(
            publish(&mut client, false, None, None).await.0,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn one_token_is_limited_wherever_it_publishes_from() {
    let tokens = ["publisher-token-number-one", "publisher-token-number-two"];
    let server = TestServer::start_with(|raw| {
        raw.hub.publish_auth = "required".into();
        raw.hub.publish_tokens = tokens.iter().map(|t| t.to_string()).collect();
        raw.hub.publish_rate_per_token = 1.0;
    })
    .await;
    let mut client = server.h2().await;
    let first = Some(tokens[0]);
    assert_eq!(
        publish(&mut client, false, None, first).await.0,
        StatusCode::OK
    );
    let (status, retry_after) = publish(&mut client, false, None, first).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.unwrap(), "1");
    assert_eq!(
        publish(&mut client, false, None, Some(tokens[1])).await.0,
        StatusCode::OK
    );
}
