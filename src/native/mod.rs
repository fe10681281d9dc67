//! The native API, one front door of the hub: `GET /events/{topic}` (or
//! `/events?topic=a&topic=b`) subscribes, `POST /events/{topic}` publishes the body. The
//! prefix (`/events`) is configurable.
//!
//! Imports the hub, `http`, `sse` and `auth` (who may publish); never another front door,
//! the router or the edge. The Mercure hub vouches for tokens through
//! [`auth::PublishAuthority`](crate::auth::PublishAuthority), which the server's assembly
//! hands in.

mod publish_auth;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;

use crate::{
    http::{
        bad_param, client_ip, error, event_stream_response, json, method_not_allowed, query_pairs,
        read_text_body, unavailable, ConnInfo, ResponseBody,
    },
    hub::{Hub, PublishError, SubscribeError, TopicName},
    sse::{EventFields, Resume, SseBody, StreamLimits},
};
pub use publish_auth::PublishGuard;

/// Response header telling how a `Last-Event-ID` resumption went: `live` (none asked),
/// `complete` (every later event is replayed) or `gap` (unknown or evicted id).
pub const REPLAY_HEADER: &str = "ssegate-replay";

/// What a `503` for an unavailable shared log asks the publisher to wait, in seconds.
const RETRY_AFTER_SECS: u32 = 1;

/// Settings of the native API.
#[derive(Debug, Clone)]
pub struct NativeConfig {
    /// Path prefix of the API (`/events`).
    pub path: String,
    /// Heartbeat interval of streams.
    pub heartbeat_interval: Duration,
    /// Largest publish body.
    pub max_body_bytes: usize,
    /// Deadline for reading a publish body.
    pub body_read_timeout: Duration,
    /// An event type publishers may not use: another front door's subscribers trust it to
    /// come from the hub itself (Mercure's `mercure`).
    pub reserved_event_type: Option<&'static str>,
}

/// The native API's handler. Shared by every connection.
#[derive(Debug)]
pub struct NativeApi {
    hub: Arc<Hub>,
    config: NativeConfig,
    publish_guard: PublishGuard,
}

impl NativeApi {
    /// The API over `hub`, checking publications with `publish_guard`.
    pub fn new(hub: Arc<Hub>, config: NativeConfig, publish_guard: PublishGuard) -> Self {
        Self {
            hub,
            config,
            publish_guard,
        }
    }

    /// Whether `path` is one of the API's: the prefix itself or a topic below it.
    pub fn serves(&self, path: &str) -> bool {
        path.strip_prefix(self.config.path.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Answers a request for a path [`NativeApi::serves`]. Never fails: every error is a
    /// response.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path();
        let hub_path = self.config.path.as_str();
        if path == hub_path {
            return match *req.method() {
                Method::GET => {
                    let topics = query_pairs(&req)
                        .filter(|(k, _)| k == "topic")
                        .map(|(_, v)| TopicName::parse(&v))
                        .collect::<Result<Vec<_>, _>>();
                    match topics {
                        Ok(topics) => self.subscribe(&req, topics).await,
                        Err(e) => error(StatusCode::BAD_REQUEST, format!("invalid `topic`: {e}")),
                    }
                }
                _ => method_not_allowed("GET"),
            };
        }
        let name = path
            .strip_prefix(hub_path)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or_default();
        let topic = match TopicName::parse(name) {
            Ok(topic) => topic,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid topic: {e}")),
        };
        match *req.method() {
            Method::GET => self.subscribe(&req, vec![topic]).await,
            Method::POST => self.publish(req, topic).await,
            _ => method_not_allowed("GET, POST"),
        }
    }

    async fn subscribe<B>(
        &self,
        req: &Request<B>,
        topics: Vec<TopicName>,
    ) -> Response<ResponseBody> {
        let mut limits = StreamLimits::default();
        let mut last_event_id = None;
        for (key, value) in query_pairs(req) {
            match key.as_ref() {
                "limit" => match value.parse::<u64>() {
                    Ok(n) if n > 0 => limits.max_events = Some(n),
                    _ => return bad_param("limit", "a positive whole number of events"),
                },
                "timeout" => match value.parse::<f64>() {
                    Ok(s) if s > 0.0 && s <= 86_400.0 => {
                        limits.max_duration = Some(Duration::from_secs_f64(s))
                    }
                    _ => {
                        return bad_param("timeout", "a positive number of seconds, at most 86400")
                    }
                },
                "last_event_id" => last_event_id = Some(value.into_owned()),
                _ => {}
            }
        }
        // The header (sent by EventSource on reconnection) wins over the query parameter
        // (which only a first connection can carry).
        if let Some(value) = req.headers().get("last-event-id") {
            match value.to_str() {
                Ok(id) => last_event_id = Some(id.to_owned()),
                Err(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "`Last-Event-ID` header is not visible ASCII",
                    )
                }
            }
        }
        let last_event_id = last_event_id.filter(|id| !id.is_empty());
        let subscription = match self.hub.subscribe(topics, last_event_id.as_deref()).await {
            Ok(s) => s,
            Err(e @ SubscribeError::Closed) => {
                return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            Err(e @ SubscribeError::Full(_)) => {
                return unavailable(e.to_string(), RETRY_AFTER_SECS)
            }
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        };
        let replay = match subscription.resume() {
            Resume::Live => "live",
            Resume::Complete => "complete",
            Resume::Gap => "gap",
        };
        tracing::debug!(
            client = %client_ip(req),
            topics = ?subscription.topics(),
            replay,
            "stream opened"
        );
        let body = SseBody::new(
            subscription,
            self.config.heartbeat_interval,
            limits,
            last_event_id.as_deref(),
        );
        let mut response = event_stream_response(ResponseBody::events(body));
        response
            .headers_mut()
            .insert(REPLAY_HEADER, HeaderValue::from_static(replay));
        response
    }

    async fn publish<B>(&self, req: Request<B>, topic: TopicName) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let client = req.extensions().get::<ConnInfo>().map(ConnInfo::client_ip);
        if let Err(response) = self
            .publish_guard
            .check(client, req.headers(), topic.as_str())
        {
            return response;
        }
        let mut event_type = None;
        let mut id = None;
        let mut retry_ms = None;
        for (key, value) in query_pairs(&req) {
            match key.as_ref() {
                "event" => event_type = Some(value.into_owned()),
                "id" => id = Some(value.into_owned()),
                "retry" => match value.parse::<u64>() {
                    Ok(ms) => retry_ms = Some(ms),
                    Err(_) => return bad_param("retry", "a whole number of milliseconds"),
                },
                _ => {}
            }
        }
        // Native updates reach Mercure subscribers too, who trust `event: mercure` to come
        // from the hub itself (subscription events).
        if let Some(reserved) = self
            .config
            .reserved_event_type
            .filter(|r| event_type.as_deref() == Some(*r))
        {
            return bad_param(
                "event",
                &format!("another type: `{reserved}` is the Mercure hub's own"),
            );
        }
        let fields = match EventFields::new(event_type, retry_ms) {
            Ok(fields) => fields,
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        };
        let (parts, body) = req.into_parts();
        let limit = self.config.max_body_bytes;
        let timeout = self.config.body_read_timeout;
        let data = match read_text_body(body, &parts.headers, limit, timeout).await {
            Ok(data) => data,
            Err(response) => return response,
        };
        match self.hub.publish(&topic, id, &fields, &data).await {
            Ok(published) => {
                tracing::debug!(%topic, id = %published.id, "published");
                json(StatusCode::OK, &serde_json::json!({ "id": published.id }))
            }
            Err(e @ PublishError::DuplicateId(_)) => error(StatusCode::CONFLICT, e.to_string()),
            Err(e @ PublishError::Closed) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            Err(e @ PublishError::Unavailable) => unavailable(e.to_string(), RETRY_AFTER_SECS),
            Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
        }
    }
}
