//! Publish rate limits: a token bucket per client address (native API and Mercure hub
//! together) and per bearer token, refusing with `429` and `Retry-After`.

use http::{header, HeaderValue, StatusCode};

use crate::support::{
    admin::{scrape, value},
    read_all, request, Client, TestServer,
};

/// `ssegate_limit_refusals_total{limit}` in a scrape of `server`'s admin listener.
async fn refusals(server: &TestServer, limit: &str) -> f64 {
    let metrics = scrape(server).await;
    value(
        &metrics,
        "ssegate_limit_refusals_total",
        &[("limit", limit)],
    )
    .expect("the refusals counter is exported")
}

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

/// A plaintext connection that says (PROXY protocol) it comes from `client`, with an
/// HTTP/1.1 event stream open on it; `None` if the server closed it instead.
async fn connection_from(server: &TestServer, client: &str) -> Option<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut tcp = tokio::net::TcpStream::connect(server.plaintext_addr.unwrap())
        .await
        .unwrap();
    let request = format!(
        "PROXY TCP4 {client} 127.0.0.1 40000 80\r\n\
         GET /events/limits HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.ok()?;
    let mut head = [0u8; 12];
    match tcp.read_exact(&mut head).await {
        Ok(_) if head.starts_with(b"HTTP/1.1 200") => Some(tcp),
        Ok(_) => panic!("unexpected answer {:?}", String::from_utf8_lossy(&head)),
        Err(_) => None,
    }
}

#[tokio::test]
async fn one_client_address_holds_at_most_its_connections() {
    let server = TestServer::start_with(|raw| {
        raw.server.plaintext_proxy_protocol = true;
        raw.server.max_connections_per_client = 2;
    })
    .await;
    let first = connection_from(&server, "192.0.2.9").await.expect("first");
    let _second = connection_from(&server, "192.0.2.9").await.expect("second");
    assert!(
        connection_from(&server, "192.0.2.9").await.is_none(),
        "a third connection is closed at once"
    );
    assert!(connection_from(&server, "192.0.2.10").await.is_some());
    assert_eq!(refusals(&server, "connections_per_client").await, 1.0);
    // A connection that ends gives its place back.
    drop(first);
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    while connection_from(&server, "192.0.2.9").await.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_hub_serves_at_most_its_subscribers_and_refuses_more_with_503() {
    let server = TestServer::start_with(|raw| raw.hub.max_subscribers = 2).await;
    let mut client = server.h2().await;
    let first = client.send(request("GET", "/events/full", "")).await;
    let second = client.send(request("GET", "/events/full", "")).await;
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    for path in ["/events/full", "/.well-known/mercure?match=full"] {
        let refused = client.send(request("GET", path, "")).await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1", "{path}");
    }
    assert_eq!(server.hub.stats().refused_subscriptions, 2);
    assert_eq!(refusals(&server, "subscribers").await, 2.0);
    // A stream that ends gives its place back.
    drop(first);
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    loop {
        let again = client.send(request("GET", "/events/full", "")).await;
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
