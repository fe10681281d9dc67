//! The event-stream routes.
//!
//! `GET /sse` query parameters, all optional:
//! - `count=N` events in this response, then it ends (default 10; 0: never ends). Ids are
//!   `{P}{k}` for k = last+1 ..= last+N, where last is the number after the prefix in the
//!   request's `Last-Event-ID` (0 without one, or when it does not parse); the data is
//!   `event {k}`.
//! - `interval_ms=M` between events (default 0: as fast as the reader takes them).
//! - `retry=R`: the first event starts with a `retry: R` line.
//! - `id_prefix=P` (default empty).
//! - `split=1`: each event goes out in pieces of 1, 3, 2, 5, … bytes, 1 ms apart, so
//!   frame and chunk boundaries fall inside field names, values and the blank line.
//! - `idle=1`: the response head, then nothing, ever.
//!
//! `GET /feed?retry=R`: live events from [`Feed::publish`], each `id: N` (N = 1, 2, …); with
//! `Last-Event-ID: L` the kept history after L is replayed first. `retry=R` sends a lone
//! `retry: R` block (no data, so a client dispatches no event for it) first.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use futures_util::stream;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::sync::broadcast;

use super::{full, lock, num, Body, BoxError, State, StreamGuard};

/// Events kept for `/feed` replay, and queued per lagging subscriber.
const FEED_HISTORY: usize = 1024;

/// Piece sizes for `split=1`, cycled; odd so boundaries drift through the event text.
const SPLIT_SIZES: [usize; 6] = [1, 3, 2, 5, 4, 7];

/// The `/feed` broadcast: history plus live subscribers.
pub(super) struct Feed {
    inner: Mutex<FeedInner>,
    live: broadcast::Sender<Bytes>,
}

struct FeedInner {
    last_id: u64,
    history: VecDeque<(u64, Bytes)>,
}

impl Feed {
    pub(super) fn new() -> Self {
        Self {
            inner: Mutex::new(FeedInner {
                last_id: 0,
                history: VecDeque::new(),
            }),
            live: broadcast::channel(FEED_HISTORY).0,
        }
    }

    pub(super) fn publish(&self, data: &str) -> u64 {
        // Sending under the lock orders it against `subscribe`: each event is either in a
        // subscriber's replay or in its receiver, never both, never neither.
        let mut inner = lock(&self.inner);
        inner.last_id += 1;
        let id = inner.last_id;
        let mut text = format!("id: {id}\n");
        for line in data.split('\n') {
            text.push_str(&format!("data: {line}\n"));
        }
        text.push('\n');
        let encoded = Bytes::from(text);
        inner.history.push_back((id, encoded.clone()));
        if inner.history.len() > FEED_HISTORY {
            inner.history.pop_front();
        }
        let _ = self.live.send(encoded);
        id
    }

    fn subscribe(&self, after: u64) -> (VecDeque<Bytes>, broadcast::Receiver<Bytes>) {
        let inner = lock(&self.inner);
        let replay = inner
            .history
            .iter()
            .filter(|(id, _)| *id > after)
            .map(|(_, bytes)| bytes.clone())
            .collect();
        (replay, self.live.subscribe())
    }
}

/// `GET /sse`.
pub(super) fn numbered(
    state: &Arc<State>,
    req: &Request<Incoming>,
    query: &HashMap<String, String>,
) -> Response<Body> {
    let guard = StreamGuard::new(state);
    if query.get("idle").is_some_and(|v| v == "1") {
        let body = stream::unfold(guard, |guard| async move {
            std::future::pending::<()>().await;
            Some((Ok(Frame::data(Bytes::new())), guard))
        });
        return event_stream(StreamBody::new(body).boxed_unsync());
    }
    let prefix = query.get("id_prefix").cloned().unwrap_or_default();
    let last = last_event_id(req)
        .and_then(|id| id.strip_prefix(prefix.as_str()).map(str::to_owned))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let count = num(query, "count", 10);
    let generator = Numbered {
        _guard: guard,
        prefix,
        first: last + 1,
        next: last + 1,
        end: (count > 0).then(|| last + count),
        interval: Duration::from_millis(num(query, "interval_ms", 0)),
        split: query.get("split").is_some_and(|v| v == "1"),
        retry: query.get("retry").cloned(),
        queue: VecDeque::new(),
    };
    let body = stream::unfold(generator, |mut g| async move {
        let bytes = g.next_piece().await?;
        Some((Ok::<_, BoxError>(Frame::data(bytes)), g))
    });
    event_stream(StreamBody::new(body).boxed_unsync())
}

/// The state of one `/sse` body.
struct Numbered {
    _guard: StreamGuard,
    prefix: String,
    first: u64,
    next: u64,
    /// The last id to send; `None` never ends.
    end: Option<u64>,
    interval: Duration,
    split: bool,
    /// For the first event's `retry:` line.
    retry: Option<String>,
    /// Pieces to send, each after its delay.
    queue: VecDeque<(Duration, Bytes)>,
}

impl Numbered {
    async fn next_piece(&mut self) -> Option<Bytes> {
        if self.queue.is_empty() {
            self.enqueue_next_event()?;
        }
        let (delay, bytes) = self.queue.pop_front()?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some(bytes)
    }

    fn enqueue_next_event(&mut self) -> Option<()> {
        let k = self.next;
        if self.end.is_some_and(|end| k > end) {
            return None;
        }
        self.next += 1;
        let delay = if k == self.first {
            Duration::ZERO
        } else {
            self.interval
        };
        let retry = self.retry.take().map(|r| format!("retry: {r}\n"));
        let retry = retry.unwrap_or_default();
        let event = format!("{retry}id: {}{k}\ndata: event {k}\n\n", self.prefix);
        let text = Bytes::from(event);
        if !self.split {
            self.queue.push_back((delay, text));
            return Some(());
        }
        let (mut at, mut sizes) = (0, SPLIT_SIZES.iter().cycle());
        while at < text.len() {
            let size = (*sizes.next()?).min(text.len() - at);
            let pause = if at == 0 {
                delay
            } else {
                Duration::from_millis(1)
            };
            self.queue.push_back((pause, text.slice(at..at + size)));
            at += size;
        }
        Some(())
    }
}

/// `GET /feed`.
pub(super) fn feed(
    state: &Arc<State>,
    req: &Request<Incoming>,
    query: &HashMap<String, String>,
) -> Response<Body> {
    let guard = StreamGuard::new(state);
    // Without a Last-Event-ID: live events only.
    let after = last_event_id(req)
        .and_then(|id| id.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    let (mut replay, live) = state.feed.subscribe(after);
    if let Some(retry) = query.get("retry") {
        replay.push_front(Bytes::from(format!("retry: {retry}\n\n")));
    }
    let body = stream::unfold(
        (guard, replay, live),
        |(guard, mut replay, mut live)| async move {
            let bytes = match replay.pop_front() {
                Some(bytes) => bytes,
                // Lagging past the buffer ends the stream; the client resumes by id.
                None => live.recv().await.ok()?,
            };
            Some((Ok::<_, BoxError>(Frame::data(bytes)), (guard, replay, live)))
        },
    );
    event_stream(StreamBody::new(body).boxed_unsync())
}

/// `GET /sse-status/{code}`: that status with `Content-Type: text/event-stream`, and a
/// comment as body where the status allows one.
pub(super) fn with_status(code: &str) -> Response<Body> {
    let Ok(status) = StatusCode::from_bytes(code.as_bytes()) else {
        return full(StatusCode::BAD_REQUEST, "bad status code\n");
    };
    let bodyless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let body = if bodyless {
        String::new()
    } else {
        format!(": status {code}\n\n")
    };
    let mut response = full(status, body);
    set_event_stream_headers(&mut response);
    response
}

fn event_stream(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    set_event_stream_headers(&mut response);
    response
}

fn set_event_stream_headers(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

fn last_event_id(req: &Request<Incoming>) -> Option<&str> {
    req.headers().get("last-event-id")?.to_str().ok()
}
