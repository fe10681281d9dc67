//! HTTP routes: the request handler shared by every listener and protocol. Built-in
//! endpoints come first, then the gateway's routes, then the demo page. The hub's prefix
//! (`/events` below) is configurable.
//!
//! | route | method | what |
//! | --- | --- | --- |
//! | `/healthz` | GET, HEAD | liveness and hub counters (JSON) |
//! | `/` | GET | the demo page (unless a gateway route serves `/`) |
//! | any `[[route]]` prefix | any | forwarded to the route's upstream |
//! | `/events/{topic}` | GET | subscribe to one topic |
//! | `/events/{topic}` | POST | publish the body to the topic |
//! | `/events?topic=a&topic=b` | GET | subscribe to several topics on one stream |
//! | `/.well-known/mercure` (the Mercure hub URL's path) | GET, QUERY, POST, OPTIONS | Mercure subscription and publication |
//! | `/.well-known/mercure/subscriptions[/...]` | GET | Mercure subscription API |
//! | `/.well-known/oauth-protected-resource/.well-known/mercure` | GET | the hub's OAuth metadata |
//!
//! The Mercure hub's paths come first, before gateway routes.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::{
    body::ResponseBody,
    gateway::Gateway,
    hub::{Hub, PublishError, Resume, SubscribeError, TopicName},
    mercure::Mercure,
    publish_auth::PublishGuard,
    sse::{EventFields, SseBody, StreamLimits},
};

/// Response header telling how a `Last-Event-ID` resumption went: `live` (none asked),
/// `complete` (every later event is replayed) or `gap` (unknown or evicted id).
pub const REPLAY_HEADER: &str = "ssegate-replay";

/// Settings the handler needs.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Heartbeat interval of streams.
    pub heartbeat_interval: Duration,
    /// Largest publish body.
    pub max_body_bytes: usize,
    /// Deadline for reading a publish body.
    pub body_read_timeout: Duration,
    /// Path prefix of the hub's API (`/events`), or `None` when the hub is off.
    pub hub_path: Option<String>,
    /// Serve the demo page at `/`.
    pub demo: bool,
}

/// The request handler. Cheap to clone: one per connection.
#[derive(Debug, Clone)]
pub struct App {
    hub: Arc<Hub>,
    config: Arc<AppConfig>,
    gateway: Option<Arc<Gateway>>,
    mercure: Option<Arc<Mercure>>,
    publish_guard: Arc<PublishGuard>,
}

impl App {
    /// A handler serving `hub`, and the gateway's routes if any.
    pub fn new(hub: Arc<Hub>, config: AppConfig, gateway: Option<Arc<Gateway>>) -> Self {
        Self {
            hub,
            config: Arc::new(config),
            gateway: gateway.filter(|g| !g.is_empty()),
            mercure: None,
            publish_guard: Arc::new(PublishGuard::open()),
        }
    }

    /// Serves the Mercure hub too.
    pub fn with_mercure(mut self, mercure: Option<Arc<Mercure>>) -> Self {
        self.mercure = mercure;
        self
    }

    /// Checks native publications with `guard`.
    pub fn with_publish_guard(mut self, guard: PublishGuard) -> Self {
        self.publish_guard = Arc::new(guard);
        self
    }

    /// The hub.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Answers one request. Never fails: every error is a response.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path();
        if path == "/healthz" {
            return match *req.method() {
                Method::GET | Method::HEAD => self.health(),
                _ => method_not_allowed("GET, HEAD"),
            };
        }
        if let Some(mercure) = self.mercure.as_ref().filter(|m| m.serves(path)) {
            return mercure.handle(req).await;
        }
        if let Some(hub_path) = self.config.hub_path.as_deref() {
            if path == hub_path {
                return match *req.method() {
                    Method::GET => {
                        let topics = query_pairs(&req)
                            .filter(|(k, _)| k == "topic")
                            .map(|(_, v)| TopicName::parse(&v))
                            .collect::<Result<Vec<_>, _>>();
                        match topics {
                            Ok(topics) => self.subscribe(&req, topics),
                            Err(e) => {
                                error(StatusCode::BAD_REQUEST, format!("invalid `topic`: {e}"))
                            }
                        }
                    }
                    _ => method_not_allowed("GET"),
                };
            }
            if let Some(name) = path
                .strip_prefix(hub_path)
                .and_then(|rest| rest.strip_prefix('/'))
            {
                let topic = match TopicName::parse(name) {
                    Ok(topic) => topic,
                    Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid topic: {e}")),
                };
                return match *req.method() {
                    Method::GET => self.subscribe(&req, vec![topic]),
                    Method::POST => self.publish(req, topic).await,
                    _ => method_not_allowed("GET, POST"),
                };
            }
        }
        if let Some(gateway) = &self.gateway {
            let host = crate::gateway::request_host(&req);
            if let Some(route) = gateway.find(host.as_deref(), path) {
                let route = route.clone();
                return gateway.proxy(&route, req).await;
            }
        }
        if path == "/" && self.config.demo {
            return match *req.method() {
                Method::GET | Method::HEAD => crate::demo::demo_page().map(ResponseBody::Full),
                _ => method_not_allowed("GET, HEAD"),
            };
        }
        if path == "/favicon.ico" {
            // Browsers ask for it with every page; a 404 would log a console error.
            let mut response = Response::new(ResponseBody::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            return response;
        }
        error(StatusCode::NOT_FOUND, format!("no route for {path}"))
    }

    fn health(&self) -> Response<ResponseBody> {
        let body = serde_json::json!({ "status": "ok", "hub": self.hub.stats() });
        json(StatusCode::OK, &body)
    }

    fn subscribe<B>(&self, req: &Request<B>, topics: Vec<TopicName>) -> Response<ResponseBody> {
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
        let subscription = match self.hub.subscribe(topics, last_event_id.as_deref()) {
            Ok(s) => s,
            Err(e @ SubscribeError::Closed) => {
                return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
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
        let mut response = event_stream_response(ResponseBody::Sse(Box::new(body)));
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
        if let Err(response) = self.publish_guard.check(req.headers(), topic.as_str()) {
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
        if self.mercure.is_some() && event_type.as_deref() == Some(crate::mercure::RESERVED_TYPE) {
            return bad_param("event", "another type: `mercure` is the Mercure hub's own");
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
        match self.hub.publish(&topic, id, &fields, &data) {
            Ok(published) => {
                tracing::debug!(%topic, id = %published.id, receivers = published.receivers, "published");
                json(StatusCode::OK, &serde_json::json!({ "id": published.id }))
            }
            Err(e @ PublishError::DuplicateId(_)) => error(StatusCode::CONFLICT, e.to_string()),
            Err(e @ PublishError::Closed) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
        }
    }
}

/// Reads a request body as UTF-8 text, bounded in size (413) and time (408); every failure
/// is the response to send.
pub(crate) async fn read_text_body<B>(
    body: B,
    headers: &http::HeaderMap,
    limit: usize,
    timeout: Duration,
) -> Result<String, Response<ResponseBody>>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let collect = Limited::new(body, limit).collect();
    let bytes = match tokio::time::timeout(timeout, collect).await {
        Err(_) => {
            return Err(error(
                StatusCode::REQUEST_TIMEOUT,
                "body was not received in time",
            ))
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Ok(Err(e)) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("cannot read body: {e}"),
            ))
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!(
                "body is not valid UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// A `200 text/event-stream` response with `body`, uncached and unbuffered by proxies.
pub(crate) fn event_stream_response(body: ResponseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx buffers proxied responses unless told otherwise.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The client's address as the connection knows it (PROXY protocol, trusted proxies).
fn client_ip<B>(req: &Request<B>) -> String {
    req.extensions()
        .get::<crate::conn::ConnInfo>()
        .map_or_else(|| "-".into(), |info| info.client_ip().to_string())
}

fn query_pairs<B>(req: &Request<B>) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON error response: `{"error": "..."}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response<ResponseBody> {
    json(status, &serde_json::json!({ "error": message.into() }))
}

fn bad_param(name: &str, expected: &str) -> Response<ResponseBody> {
    error(
        StatusCode::BAD_REQUEST,
        format!("invalid `{name}`: expected {expected}"),
    )
}

pub(crate) fn method_not_allowed(allow: &'static str) -> Response<ResponseBody> {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed; allowed: {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}
