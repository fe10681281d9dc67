//! `ssegate publish`: POST one event to a topic URL and report the id it was given.

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method, Uri};

use super::conn::{deadline, Connector};
use super::response::{read_body, status_error};
use super::target::Target;
use super::{ClientError, ClientOptions, RESPONSE_TIMEOUT};

/// The SSE fields of a published event besides its data, sent as the query parameters
/// `event`, `id` and `retry`; the server picks an id when none is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// The event type (`event:` field).
    pub event: Option<String>,
    /// The event id (`id:` field).
    pub id: Option<String>,
    /// The reconnection time subscribers should use, in milliseconds (`retry:` field).
    pub retry_ms: Option<u64>,
    /// A bearer token (static publish token or Mercure access token), for servers where
    /// publishing requires authorization.
    pub token: Option<String>,
}

/// POSTs `data` to `url` (for example `https://127.0.0.1:8443/events/news`) and returns the
/// id the server assigned, read from its JSON answer `{"id": "..."}`.
///
/// The body is sent as `text/plain; charset=utf-8`, the event's data verbatim. A non-2xx
/// answer is [`ClientError::Status`] with the server's `{"error": "..."}` message.
pub async fn publish(
    url: &Uri,
    data: Bytes,
    opts: &PublishOptions,
    client: &ClientOptions,
) -> Result<String, ClientError> {
    let retry = opts.retry_ms.map(|ms| ms.to_string());
    let fields = [
        ("event", opts.event.as_deref()),
        ("id", opts.id.as_deref()),
        ("retry", retry.as_deref()),
    ];
    let target = Target::parse(url)?.with_query_pairs(
        fields
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?))),
    )?;
    let connector = Connector::new(client, &target)?;
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    if let Some(token) = &opts.token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| ClientError::InvalidToken)?;
        headers.insert(AUTHORIZATION, value);
    }
    let response = connector
        .request(&target, Method::POST, headers, data)
        .await?;
    if !response.status().is_success() {
        return Err(status_error(response).await);
    }
    let body = deadline(
        RESPONSE_TIMEOUT,
        "response body",
        read_body(response.into_body()),
    )
    .await??;
    assigned_id(&body)
}

/// The `id` of a `{"id": ...}` answer; a numeric id is accepted as its decimal text.
fn assigned_id(body: &[u8]) -> Result<String, ClientError> {
    let not_an_id = || ClientError::UnexpectedResponse("the answer is not JSON with an \"id\"");
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| not_an_id())?;
    match value.get("id") {
        Some(serde_json::Value::String(id)) => Ok(id.clone()),
        Some(serde_json::Value::Number(id)) => Ok(id.to_string()),
        _ => Err(not_an_id()),
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;
    use crate::client::test_server::{json_response, text_response, TestServer};

    #[tokio::test]
    async fn publish_returns_the_id_assigned_by_the_server() {
        let server =
            TestServer::start(|_, _| json_response(StatusCode::OK, r#"{"id":"42"}"#)).await;
        let opts = PublishOptions {
            event: Some("greeting".into()),
            id: None,
            retry_ms: Some(1500),
            token: Some("static-publish-token-0123".into()),
        };
        let url = server.url("/events/news?x=1");
        let id = publish(
            &url,
            Bytes::from("hello world"),
            &opts,
            &ClientOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(id, "42");

        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.uri, "/events/news?x=1&event=greeting&retry=1500");
        assert_eq!(request.body, "hello world");
        assert_eq!(request.headers["host"], server.authority());
        assert_eq!(request.headers["content-type"], "text/plain; charset=utf-8");
        assert_eq!(
            request.headers["authorization"],
            "Bearer static-publish-token-0123"
        );
    }

    #[tokio::test]
    async fn publish_error_carries_status_and_message() {
        let server =
            TestServer::start(|_, _| json_response(StatusCode::BAD_REQUEST, r#"{"error":"bad"}"#))
                .await;
        let err = publish(
            &server.url("/events/news"),
            Bytes::from("x"),
            &PublishOptions::default(),
            &ClientOptions::default(),
        )
        .await
        .unwrap_err();
        match err {
            ClientError::Status { status, message } => {
                assert_eq!(status, StatusCode::BAD_REQUEST);
                assert_eq!(message, "bad");
            }
            other => panic!("expected a status error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn publish_error_without_json_keeps_the_body_text() {
        let server =
            TestServer::start(|_, _| text_response(StatusCode::CONFLICT, "topic is closed\n"))
                .await;
        let err = publish(
            &server.url("/events/news"),
            Bytes::from("x"),
            &PublishOptions::default(),
            &ClientOptions::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "server answered 409 Conflict: topic is closed"
        );
    }

    #[test]
    fn numeric_ids_are_accepted() {
        assert_eq!(assigned_id(br#"{"id": 7}"#).unwrap(), "7");
        assert!(assigned_id(b"<html>").is_err());
        assert!(assigned_id(br#"{"error":"x"}"#).is_err());
    }
}
