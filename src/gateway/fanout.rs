//! Fan-out of upstream event streams: concurrent identical SSE GETs on a route share one
//! upstream request.
//!
//! Requests are identical when the upstream URL and the route's vary headers
//! (`Authorization` and `Cookie` by default) are, so a stream is never shared across
//! credentials. One task per shared stream reads the upstream, splits it into whole events
//! and queues each event's bytes (shared, never copied) to every subscriber's bounded
//! mailbox. When the upstream ends or fails, the task reconnects with the last id it saw as
//! `Last-Event-ID`, after the upstream's `retry` (backing off on repeated failures), and the
//! subscribers' streams stay open: the upstream resumes after that id, so nothing is missed
//! or repeated. An upstream answer of 204 or 4xx ends every subscriber's stream.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use http::{
    header, request, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode,
};
use http_body_util::{BodyExt, Empty};
use tokio::{sync::watch, task::AbortHandle};

use super::{client::UpstreamClient, error_chain, headers::strip_hop_by_hop, is_event_stream};
use crate::{
    config::RouteConfig,
    http::error,
    http::ResponseBody,
    sse::{CloseReason, EventSource, Mailbox, Next, Resume, SseBody, StreamLimits},
};

/// Events queued per subscriber of a shared stream before its stream is ended.
const SUBSCRIBER_QUEUE: usize = 256;
/// Reconnection delay when the upstream never sent `retry`.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// Longest reconnection back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest event accepted from an upstream; a larger one fails the stream (bounded memory).
const MAX_EVENT_BYTES: usize = 1 << 20;

/// True for requests that may share an upstream stream: GETs that accept an event stream.
pub fn is_shareable(parts: &request::Parts) -> bool {
    parts.method == Method::GET
        && parts
            .headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/event-stream"))
}

/// The shared streams of one route.
#[derive(Debug)]
pub struct Fanout {
    inner: Arc<Registry>,
}

#[derive(Debug)]
struct Registry {
    client: UpstreamClient,
    vary: Vec<HeaderName>,
    replay: usize,
    header_timeout: Duration,
    label: String,
    streams: Mutex<HashMap<StreamKey, Arc<SharedStream>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StreamKey {
    uri: String,
    vary: Vec<Option<HeaderValue>>,
}

/// What the first subscribers wait for: the upstream's answer.
#[derive(Debug, Clone)]
enum Head {
    Pending,
    Streaming(HeaderMap),
    Failed(StatusCode, &'static str),
}

/// One shared upstream stream.
#[derive(Debug)]
struct SharedStream {
    key: StreamKey,
    head: watch::Sender<Head>,
    state: Mutex<SharedState>,
}

#[derive(Debug, Default)]
struct SharedState {
    subscribers: Vec<Arc<Mailbox>>,
    /// The last events, `(id, frame)`, for late joiners.
    recent: VecDeque<(Option<String>, Bytes)>,
    task: Option<AbortHandle>,
    ended: bool,
}

impl Fanout {
    /// The fan-out of `route`, using its client.
    pub fn new(route: &RouteConfig, client: UpstreamClient) -> Self {
        Self {
            inner: Arc::new(Registry {
                client,
                vary: route.fanout_vary.clone(),
                replay: route.fanout_replay,
                header_timeout: route.response_header_timeout,
                label: format!("{} -> {}", route.path, route.authority),
                streams: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Number of upstream streams open now.
    pub fn upstream_streams(&self) -> usize {
        lock(&self.inner.streams).len()
    }

    /// Joins (or starts) the shared stream for a request already rewritten for the
    /// upstream, and answers with the stream once the upstream has answered.
    pub async fn subscribe(
        &self,
        parts: request::Parts,
        heartbeat: Duration,
    ) -> Response<ResponseBody> {
        let registry = &self.inner;
        let last_event_id = parts
            .headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let key = StreamKey {
            uri: parts.uri.to_string(),
            vary: registry
                .vary
                .iter()
                .map(|h| parts.headers.get(h).cloned())
                .collect(),
        };
        let mailbox = Arc::new(Mailbox::new(SUBSCRIBER_QUEUE));
        let shared = {
            let mut streams = lock(&registry.streams);
            // A stream the upstream ended stays registered until its last subscriber has
            // left; a newcomer starts a fresh one instead of joining a dead one.
            if streams.get(&key).is_some_and(|s| lock(&s.state).ended) {
                streams.remove(&key);
            }
            let shared = streams
                .entry(key.clone())
                .or_insert_with(|| {
                    let (head, _) = watch::channel(Head::Pending);
                    Arc::new(SharedStream {
                        key: key.clone(),
                        head,
                        state: Mutex::new(SharedState::default()),
                    })
                })
                .clone();
            let mut state = lock(&shared.state);
            // Late joiners: the recent events after their id, or all kept ones. The new
            // mailbox has no waker yet, so there is nobody to wake.
            let start = last_event_id
                .as_deref()
                .and_then(|id| {
                    state
                        .recent
                        .iter()
                        .position(|(eid, _)| eid.as_deref() == Some(id))
                        .map(|i| i + 1)
                })
                .unwrap_or(0);
            for (_, frame) in state.recent.iter().skip(start) {
                mailbox.push(frame);
            }
            state.subscribers.push(mailbox.clone());
            if state.task.is_none() {
                let task = tokio::spawn(run_upstream(registry.clone(), shared.clone(), parts));
                state.task = Some(task.abort_handle());
            }
            drop(state);
            shared
        };
        let subscription = SharedSubscription {
            registry: registry.clone(),
            shared: shared.clone(),
            mailbox,
        };

        let mut head = shared.head.subscribe();
        let ready = tokio::time::timeout(
            registry.header_timeout,
            head.wait_for(|h| !matches!(h, Head::Pending)),
        )
        .await;
        let head = match ready {
            Err(_) => return error(StatusCode::GATEWAY_TIMEOUT, "upstream timed out"),
            Ok(Err(_)) => return error(StatusCode::BAD_GATEWAY, "upstream unavailable"),
            Ok(Ok(head)) => head.clone(),
        };
        match head {
            Head::Streaming(headers) => {
                let body = SseBody::new(subscription, heartbeat, StreamLimits::default(), None);
                let mut response = Response::new(ResponseBody::events(body));
                *response.headers_mut() = headers;
                response
            }
            Head::Failed(status, message) => {
                if status == StatusCode::NO_CONTENT {
                    let mut response = Response::new(ResponseBody::empty());
                    *response.status_mut() = status;
                    response
                } else {
                    error(status, message)
                }
            }
            Head::Pending => error(StatusCode::BAD_GATEWAY, "upstream unavailable"),
        }
    }
}

/// A subscriber of a shared stream. Dropping it leaves the stream; the last one to leave
/// stops the upstream request.
#[derive(Debug)]
pub struct SharedSubscription {
    registry: Arc<Registry>,
    shared: Arc<SharedStream>,
    mailbox: Arc<Mailbox>,
}

impl EventSource for SharedSubscription {
    fn poll_next(&mut self, cx: &mut Context<'_>, max: usize, out: &mut Vec<Bytes>) -> Poll<Next> {
        self.mailbox.poll_take(cx, max, out)
    }

    fn resume(&self) -> &Resume {
        &Resume::Live
    }

    fn describe(&self) -> String {
        format!("shared upstream {}", self.shared.key.uri)
    }
}

impl Drop for SharedSubscription {
    fn drop(&mut self) {
        let mut streams = lock(&self.registry.streams);
        let mut state = lock(&self.shared.state);
        if let Some(i) = state
            .subscribers
            .iter()
            .position(|m| Arc::ptr_eq(m, &self.mailbox))
        {
            state.subscribers.swap_remove(i);
        }
        if state.subscribers.is_empty() {
            if let Some(task) = state.task.take() {
                task.abort();
            }
            state.ended = true;
            drop(state);
            if streams
                .get(&self.shared.key)
                .is_some_and(|s| Arc::ptr_eq(s, &self.shared))
            {
                streams.remove(&self.shared.key);
            }
        }
    }
}

/// Reads the upstream for as long as anyone listens, reconnecting after failures.
async fn run_upstream(registry: Arc<Registry>, shared: Arc<SharedStream>, parts: request::Parts) {
    let mut last_id = parts
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut retry = DEFAULT_RETRY;
    let mut failures: u32 = 0;
    loop {
        let mut request = Request::new(
            Empty::<Bytes>::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *request.method_mut() = Method::GET;
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        request.headers_mut().remove("last-event-id");
        if let Some(id) = last_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            request.headers_mut().insert("last-event-id", id);
        }
        let answer =
            tokio::time::timeout(registry.header_timeout, registry.client.request(request)).await;
        let response = match answer {
            Err(_) => {
                tracing::warn!(route = %registry.label, "shared stream: no response headers in time");
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(route = %registry.label, error = %error_chain(&e), "shared stream: upstream request failed");
                None
            }
            Ok(Ok(response)) => Some(response),
        };
        if let Some(response) = response {
            let status = response.status();
            if status == StatusCode::NO_CONTENT || status.is_client_error() {
                // The upstream says stop (the SSE spec's 204, or a refused request).
                tracing::info!(route = %registry.label, %status, "shared stream ended by upstream");
                end_stream(&shared, Head::Failed(status, "upstream refused the stream"));
                return;
            }
            if status == StatusCode::OK && is_event_stream(response.headers()) {
                let (mut head, body) = response.into_parts();
                strip_hop_by_hop(&mut head.headers, false);
                head.headers.remove(header::CONTENT_LENGTH);
                head.headers
                    .insert("x-accel-buffering", HeaderValue::from_static("no"));
                super::headers::append_via(&mut head.headers, head.version);
                shared.head.send_if_modified(|h| {
                    let first = matches!(h, Head::Pending);
                    if first {
                        *h = Head::Streaming(head.headers.clone());
                    }
                    first
                });
                failures = 0;
                relay_events(&registry, &shared, body, &mut last_id, &mut retry).await;
            } else {
                tracing::warn!(route = %registry.label, %status, "shared stream: upstream answered without a stream");
            }
        }
        if matches!(*shared.head.borrow(), Head::Pending) && failures == 0 {
            // Nobody has a stream yet: the first subscribers get the failure now.
            end_stream(
                &shared,
                Head::Failed(StatusCode::BAD_GATEWAY, "upstream unavailable"),
            );
            return;
        }
        failures = failures.saturating_add(1);
        let backoff = retry
            .saturating_mul(1 << failures.min(5).saturating_sub(1))
            .min(MAX_BACKOFF.max(retry));
        let jittered = backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
        tracing::debug!(route = %registry.label, ?jittered, "shared stream: reconnecting");
        tokio::time::sleep(jittered).await;
    }
}

/// Splits the upstream body into whole events and queues each to every subscriber.
async fn relay_events(
    registry: &Registry,
    shared: &SharedStream,
    mut body: hyper::body::Incoming,
    last_id: &mut Option<String>,
    retry: &mut Duration,
) {
    let mut pending = BytesMut::new();
    loop {
        let frame = match body.frame().await {
            None => return,
            Some(Err(e)) => {
                tracing::debug!(route = %registry.label, error = %e, "shared stream: upstream body failed");
                return;
            }
            Some(Ok(frame)) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = event_end(&pending) {
            let event = pending.split_to(end).freeze();
            let fields = UpstreamFields::scan(&event);
            if let Some(ms) = fields.retry_ms {
                *retry = Duration::from_millis(ms);
            }
            if !fields.has_data {
                // Comments (upstream heartbeats) and bare field updates are not events;
                // every subscriber gets its own heartbeats.
                if fields.id.is_some() {
                    *last_id = fields.id;
                }
                continue;
            }
            if fields.id.is_some() {
                last_id.clone_from(&fields.id);
            }
            broadcast(registry, shared, fields.id, event);
        }
        if pending.len() > MAX_EVENT_BYTES {
            tracing::warn!(route = %registry.label, "shared stream: upstream event too large; reconnecting");
            return;
        }
    }
}

fn broadcast(registry: &Registry, shared: &SharedStream, id: Option<String>, frame: Bytes) {
    let wakers: Vec<Waker> = {
        let mut state = lock(&shared.state);
        if registry.replay > 0 {
            if state.recent.len() == registry.replay {
                state.recent.pop_front();
            }
            state.recent.push_back((id, frame.clone()));
        }
        state
            .subscribers
            .iter()
            .filter_map(|m| m.push(&frame))
            .collect()
    };
    for waker in wakers {
        waker.wake();
    }
}

fn end_stream(shared: &SharedStream, head: Head) {
    let wakers: Vec<Waker> = {
        let mut state = lock(&shared.state);
        state.ended = true;
        state
            .subscribers
            .iter()
            .filter_map(|m| m.close(CloseReason::Ended))
            .collect()
    };
    shared.head.send_if_modified(|h| {
        let pending = matches!(h, Head::Pending);
        if pending {
            *h = head;
        }
        pending
    });
    for waker in wakers {
        waker.wake();
    }
}

/// The end (exclusive) of the first complete event in `buf`: after its blank line.
fn event_end(buf: &[u8]) -> Option<usize> {
    let mut line_len = 0;
    let mut i = 0;
    while i < buf.len() {
        match buf[i] {
            b'\n' | b'\r' => {
                let mut next = i + 1;
                if buf[i] == b'\r' {
                    match buf.get(next) {
                        Some(b'\n') => next += 1,
                        // A CR at the very end may be half of a CRLF: wait for more.
                        None => return None,
                        _ => {}
                    }
                }
                if line_len == 0 {
                    return Some(next);
                }
                line_len = 0;
                i = next;
            }
            _ => {
                line_len += 1;
                i += 1;
            }
        }
    }
    None
}

/// The fields of one upstream event block that the gateway needs (not
/// [`crate::sse::EventFields`], which are the hub's own outgoing fields).
struct UpstreamFields {
    id: Option<String>,
    retry_ms: Option<u64>,
    has_data: bool,
}

impl UpstreamFields {
    fn scan(event: &[u8]) -> Self {
        let mut fields = Self {
            id: None,
            retry_ms: None,
            has_data: false,
        };
        let text = String::from_utf8_lossy(event);
        for line in text.split(['\r', '\n']) {
            let (name, value) = match line.split_once(':') {
                Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match name {
                "data" => fields.has_data = true,
                "id" if !value.contains('\0') => fields.id = Some(value.to_owned()),
                "retry" => fields.retry_ms = value.parse().ok().or(fields.retry_ms),
                _ => {}
            }
        }
        fields
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections are single pushes and removals: a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_end_after_their_blank_line() {
        assert_eq!(event_end(b"data: a\n\ndata: b"), Some(9));
        assert_eq!(event_end(b"data: a\r\n\r\nx"), Some(11));
        assert_eq!(
            event_end(b"data: a\r\r"),
            None,
            "the last CR may be half a CRLF"
        );
        assert_eq!(event_end(b"data: a\r\rx"), Some(9));
        assert_eq!(event_end(b"data: a\n"), None);
        assert_eq!(event_end(b": ping\n\n"), Some(8));
    }

    #[test]
    fn fields_are_read_like_the_spec_parser() {
        let f = UpstreamFields::scan(b"id: 7\nretry: 1500\ndata: x\n\n");
        assert_eq!(
            (f.id.as_deref(), f.retry_ms, f.has_data),
            (Some("7"), Some(1500), true)
        );
        let comment = UpstreamFields::scan(b": keep-alive\n\n");
        assert!(!comment.has_data && comment.id.is_none());
        let bare = UpstreamFields::scan(b"data\nid:x\n\n");
        assert_eq!((bare.id.as_deref(), bare.has_data), (Some("x"), true));
    }
}
