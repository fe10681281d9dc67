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
//! or repeated. A client resuming with a `Last-Event-ID` joins only where the shared stream
//! can place that id (the id it resumed from, or one it keeps for late joiners); any other
//! is given back to the caller to relay on its own request, since joining would skip the
//! events in between. An upstream that sends nothing (no event, no heartbeat) for the route's
//! `fanout_idle_timeout` is taken for dead (a half-open connection) and reconnected the same
//! way. An upstream answer of 204 or 4xx ends every subscriber's stream; so does a drain.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use http::{request, HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use tokio::{sync::watch, task::AbortHandle};

use super::{client::UpstreamClient, headers::accepts_event_stream};
use crate::{
    config::RouteConfig,
    http::{error, ResponseBody},
    sse::{CloseReason, EventSource, Mailbox, Next, Resume, SseBody, StreamLimits},
};

mod upstream;

use upstream::run_upstream;

/// Events queued per subscriber of a shared stream before its stream is ended.
const SUBSCRIBER_QUEUE: usize = 256;
/// Reconnection delay when the upstream never sent `retry`.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// Longest reconnection back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// True for requests that may share an upstream stream: GETs that accept an event stream.
pub fn is_shareable(parts: &request::Parts) -> bool {
    parts.method == Method::GET && accepts_event_stream(&parts.headers)
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
    /// Silence after which the upstream is taken for dead and reconnected.
    idle_timeout: Option<Duration>,
    label: String,
    streams: Mutex<Streams>,
}

/// The open shared streams, and whether the server drains (then none opens).
#[derive(Debug, Default)]
struct Streams {
    by_key: HashMap<StreamKey, Arc<SharedStream>>,
    draining: bool,
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
    /// The id `recent` follows: the `Last-Event-ID` the upstream request resumed from, then
    /// the id of the last event no longer kept. A joiner with this id has missed nothing.
    anchor: Option<String>,
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
                idle_timeout: route.fanout_idle_timeout,
                label: format!("{} -> {}", route.path, route.authority),
                streams: Mutex::new(Streams::default()),
            }),
        }
    }

    /// Shared upstream streams open now, and the clients on them (for metrics).
    pub fn counts(&self) -> (usize, usize) {
        let shared: Vec<Arc<SharedStream>> =
            lock(&self.inner.streams).by_key.values().cloned().collect();
        let subscribers = shared
            .iter()
            .map(|s| lock(&s.state).subscribers.len())
            .sum();
        (shared.len(), subscribers)
    }

    /// Ends every shared stream (the server drains): each subscriber's stream ends after
    /// what it has queued, the upstream requests stop, and no new stream opens.
    pub fn shutdown(&self) {
        let shared: Vec<Arc<SharedStream>> = {
            let mut streams = lock(&self.inner.streams);
            streams.draining = true;
            streams.by_key.drain().map(|(_, s)| s).collect()
        };
        for stream in shared {
            end_stream(
                &stream,
                Head::Failed(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is shutting down",
                ),
                CloseReason::Shutdown,
            );
        }
    }

    /// Joins (or starts) the shared stream for a request already rewritten for the
    /// upstream, and answers with the stream once the upstream has answered. Gives the
    /// request back when its `Last-Event-ID` is one the shared stream cannot resume from
    /// without a gap: the caller relays it on its own.
    pub async fn subscribe(
        &self,
        parts: request::Parts,
        heartbeat: Duration,
    ) -> Result<Response<ResponseBody>, request::Parts> {
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
            if streams.draining {
                return Ok(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is shutting down",
                ));
            }
            // A stream the upstream ended stays registered until its last subscriber has
            // left; a newcomer starts a fresh one instead of joining a dead one.
            if streams
                .by_key
                .get(&key)
                .is_some_and(|s| lock(&s.state).ended)
            {
                streams.by_key.remove(&key);
            }
            let shared = streams
                .by_key
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
            let starts = state.task.is_none();
            if starts {
                // The upstream request resumes after this subscriber's id.
                state.anchor.clone_from(&last_event_id);
            }
            // Late joiners: the kept events after their id. One whose id the stream cannot
            // place (older than what it keeps, or past it: it resumed from a later id) would
            // miss events by joining; it gets an upstream request of its own instead.
            let start = match last_event_id.as_deref() {
                None => 0,
                Some(_) if starts => 0,
                Some(id) if state.anchor.as_deref() == Some(id) => 0,
                Some(id) => match state
                    .recent
                    .iter()
                    .rposition(|(eid, _)| eid.as_deref() == Some(id))
                {
                    Some(i) => i + 1,
                    None => return Err(parts),
                },
            };
            // The new mailbox has no waker yet, so there is nobody to wake.
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
            Err(_) => return Ok(error(StatusCode::GATEWAY_TIMEOUT, "upstream timed out")),
            Ok(Err(_)) => return Ok(error(StatusCode::BAD_GATEWAY, "upstream unavailable")),
            Ok(Ok(head)) => head.clone(),
        };
        Ok(match head {
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
        })
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
                .by_key
                .get(&self.shared.key)
                .is_some_and(|s| Arc::ptr_eq(s, &self.shared))
            {
                streams.by_key.remove(&self.shared.key);
            }
        }
    }
}

fn end_stream(shared: &SharedStream, head: Head, reason: CloseReason) {
    let wakers: Vec<Waker> = {
        let mut state = lock(&shared.state);
        state.ended = true;
        if reason == CloseReason::Shutdown {
            if let Some(task) = state.task.take() {
                task.abort();
            }
        }
        state
            .subscribers
            .iter()
            .filter_map(|m| m.close(reason))
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections are single pushes and removals: a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
