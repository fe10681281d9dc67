//! The response body of one SSE subscription: the opening comment, the replay, live events,
//! heartbeats, and the end of the stream (limit, timeout, overflow or shutdown).
//!
//! Heartbeats need no task and no timer reset per event: each stream has one timer that
//! ticks every half interval at a random phase, and a tick sends a comment only if nothing
//! was sent since the previous tick. Silence never lasts longer than the interval, and
//! heartbeats of different streams never line up, even on streams that received the same
//! event at the same instant (synchronized pings are what makes nginx+nchan's p99 jump).
//!
//! A connection that keeps many streams can tick them itself instead
//! ([`SseBody::tick_from_connection`]): one timer per connection, whose ticks give every
//! silent stream of the connection its heartbeat at the same instant, so they leave in one
//! write; connections keep their random phases, so the load stays spread over time.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use tokio::time::{Instant, Sleep};

use super::{
    event::{encode_notice, GAP_EVENT_TYPE, HEARTBEAT_COMMENT, OPEN_COMMENT},
    CloseReason, EventSource, Next, Resume,
};
use crate::metrics::{ReplayOutcome, StreamEnd, StreamMetrics};

/// Most events sent in one DATA frame: a busy stream catches up in few frames, and one
/// frame stays far below any window.
const MAX_BATCH: usize = 64;

/// Optional ends of a stream, for clients that need finite responses (load tools such as
/// h2load count a request only when its response ends).
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamLimits {
    /// End the stream after this many events.
    pub max_events: Option<u64>,
    /// End the stream after this long.
    pub max_duration: Option<Duration>,
}

/// Why a stream ended (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `limit` events were sent.
    Limit,
    /// `timeout` elapsed.
    Timeout,
    /// The subscriber fell behind and its queue overflowed.
    Overflow,
    /// The server is shutting down.
    Shutdown,
    /// The client went away (the body was dropped before it ended).
    ClientGone,
    /// The source ended the stream (an upstream's end for a shared stream).
    SourceEnded,
    /// The source failed, and the stream was cut with an error.
    SourceFailed,
}

/// The error that cuts a stream whose source failed ([`CloseReason::Failed`]): hyper resets
/// the HTTP/2 stream or aborts the HTTP/1.1 body instead of ending it cleanly.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the event source failed")]
pub struct SourceFailed;

/// The body of an SSE response, fed by any [`EventSource`]. The source is the last field,
/// so `SseBody<dyn EventSource>` is a valid (unsized) type that boxed bodies coerce into.
#[derive(Debug)]
pub struct SseBody<S: EventSource + ?Sized> {
    /// The opening comment is still to be sent.
    opening: bool,
    /// The gap notice that follows it, when the resumption had a gap. Boxed, like
    /// `limits`: rare, and every stream would carry the room for life (the body stays
    /// within a 128-byte allocation).
    gap_notice: Option<Box<Bytes>>,
    tick_every: Duration,
    next_tick: Instant,
    /// The stream's `limit` and `timeout`, when it has either.
    limits: Option<Box<Limits>>,
    /// The stream's own timer: its ticks and its deadline, or only its deadline once its
    /// connection ticks it (none without a deadline then).
    timer: Option<Pin<Box<Sleep>>>,
    /// The connection ticks this stream ([`SseBody::heartbeat_tick`]).
    ticked_by_connection: bool,
    /// The connection says when it holds the stream back ([`SseBody::set_held`]);
    /// otherwise the body infers it: a frame taken and no poll since means the transport
    /// is full (hyper asks for the next frame as soon as it can write it).
    held_set_by_connection: bool,
    /// What the source was last told (see [`EventSource::set_held`]).
    held: bool,
    /// A tick found the stream silent: the next poll sends a heartbeat (unless an event
    /// goes out first).
    heartbeat_due: bool,
    sent_since_tick: bool,
    delivered: u64,
    ended: Option<EndReason>,
    /// Counted by the front door's handles once [`SseBody::observe`]d.
    metrics: Option<Arc<StreamMetrics>>,
    subscription: S,
}

/// A stream's optional ends, as they stand.
#[derive(Debug)]
struct Limits {
    /// Events still to send before the stream ends.
    remaining: Option<u64>,
    /// When the stream ends.
    deadline: Option<Instant>,
}

impl<S: EventSource> SseBody<S> {
    /// A body streaming `subscription`, with a heartbeat comment whenever the stream was
    /// silent for `heartbeat_interval`. When the subscription resumes with a gap, the
    /// first event is an `ssegate-gap` notice (no id, so the client's last id is kept).
    pub fn new(
        subscription: S,
        heartbeat_interval: Duration,
        limits: StreamLimits,
        last_event_id: Option<&str>,
    ) -> Self {
        // No allocation per subscription unless there is a gap to report.
        let gap_notice =
            (*subscription.resume() == Resume::Gap).then(|| Box::new(gap_notice(last_event_id)));
        let now = Instant::now();
        let tick_every = (heartbeat_interval / 2).max(Duration::from_millis(1));
        let next_tick = now + tick_every.mul_f64(fastrand::f64());
        let deadline = limits.max_duration.map(|d| now + d);
        let first_wake = deadline.map_or(next_tick, |d| d.min(next_tick));
        let limits = (deadline.is_some() || limits.max_events.is_some()).then(|| {
            Box::new(Limits {
                remaining: limits.max_events,
                deadline,
            })
        });
        Self {
            subscription,
            opening: true,
            gap_notice,
            tick_every,
            next_tick,
            limits,
            timer: Some(Box::pin(tokio::time::sleep_until(first_wake))),
            ticked_by_connection: false,
            held_set_by_connection: false,
            held: false,
            heartbeat_due: false,
            sent_since_tick: true,
            delivered: 0,
            ended: None,
            metrics: None,
        }
    }
}

impl<S: EventSource + ?Sized> SseBody<S> {
    /// Counts this stream with `metrics` from now on: opened (and its resumption's
    /// outcome) now, its deliveries as they are written, its end when dropped.
    pub fn observe(&mut self, metrics: Arc<StreamMetrics>) {
        let replay = match self.subscription.resume() {
            Resume::Live => None,
            Resume::Complete => Some(ReplayOutcome::Complete),
            Resume::Gap => Some(ReplayOutcome::Gap),
        };
        metrics.opened(replay);
        if let Some(previous) = self.metrics.replace(metrics) {
            // Observed twice: the first handles give the stream back.
            previous.ended(StreamEnd::ClientGone);
        }
    }

    /// From now on the caller ticks this stream with [`SseBody::heartbeat_tick`] every
    /// returned period (half the heartbeat interval); the stream's own timer is kept only
    /// for its `timeout`, if any.
    pub fn tick_from_connection(&mut self) -> Duration {
        self.ticked_by_connection = true;
        match self.deadline() {
            Some(deadline) => {
                if let Some(timer) = &mut self.timer {
                    timer.as_mut().reset(deadline);
                }
            }
            None => self.timer = None,
        }
        self.tick_every
    }

    /// Tells the source whether the connection holds this stream back (the client's window
    /// is closed, or the socket takes nothing). A connection that calls this once calls it
    /// whenever it checks the stream's window; otherwise the body infers it.
    pub fn set_held(&mut self, held: bool) {
        self.held_set_by_connection = true;
        self.tell_held(held, false);
    }

    /// Tells the source of a change: what the connection says, or what the body `guessed`
    /// when no connection tells it (see `poll_frame`).
    fn tell_held(&mut self, held: bool, guessed: bool) {
        if self.held != held {
            self.held = held;
            if guessed {
                self.subscription.set_held_inferred(held);
            } else {
                self.subscription.set_held(held);
            }
        }
    }

    /// A tick of the connection (see [`SseBody::tick_from_connection`]): returns true when
    /// the stream has been silent since the previous tick and now has a heartbeat to send
    /// (the caller then polls it).
    pub fn heartbeat_tick(&mut self, now: Instant) -> bool {
        // A stream with a longer interval than the connection's ticks skips the ticks that
        // come early (slack: the connection's timer fires a little late, never early).
        if now + self.tick_every / 2 < self.next_tick {
            return false;
        }
        self.next_tick = now + self.tick_every;
        self.heartbeat_due = !self.sent_since_tick;
        self.sent_since_tick = false;
        self.heartbeat_due
    }

    /// As [`Body::poll_frame`], but the frames stay apart: on `Ready(Some(Ok(())))` one or
    /// more are appended to `chunks`. A caller that copies them into a write buffer of its
    /// own (the HTTP/2 connection) then copies each once, instead of once to join them into
    /// one frame and again to write it.
    pub fn poll_chunks(
        &mut self,
        cx: &mut Context<'_>,
        chunks: &mut Vec<Bytes>,
    ) -> Poll<Option<Result<(), SourceFailed>>> {
        if self.ended.is_some() {
            return Poll::Ready(None);
        }
        let infer_held = !self.held_set_by_connection;
        if infer_held {
            // Asked again: the transport took the last frame.
            self.tell_held(false, true);
        }
        if std::mem::take(&mut self.opening) {
            chunks.push(Bytes::from_static(OPEN_COMMENT));
            if let Some(notice) = self.gap_notice.take() {
                chunks.push(*notice);
            }
            return Poll::Ready(Some(Ok(())));
        }
        let polled = match self.poll_events(cx, chunks) {
            Poll::Pending => self
                .poll_timer(cx)
                .map(|heartbeat| heartbeat.map(|bytes| chunks.push(bytes))),
            ready => ready,
        };
        match polled {
            Poll::Ready(Some(())) => {
                if infer_held {
                    // Until the transport asks again, it holds this frame (see `held`):
                    // a guess, since our own write batching holds it back too.
                    self.tell_held(true, true);
                }
                self.sent_since_tick = true;
                // An event went out: a heartbeat found due meanwhile is not needed.
                self.heartbeat_due = false;
                Poll::Ready(Some(Ok(())))
            }
            Poll::Ready(None) => {
                let reason = self.ended.unwrap_or(EndReason::Limit);
                self.end(reason)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Loads the body's record, and nothing else (see [`EventSource::touch`]).
    pub fn touch(&self) {
        std::hint::black_box(self.ended);
    }

    /// Loads the state its source's poll reads first ([`EventSource::touch`]).
    pub fn touch_source(&self) {
        self.subscription.touch();
    }

    /// Whether the stream ended because its source failed (its end is then an error, and
    /// the body only says so once).
    pub fn failed(&self) -> bool {
        self.ended == Some(EndReason::SourceFailed)
    }

    fn deadline(&self) -> Option<Instant> {
        self.limits.as_ref().and_then(|l| l.deadline)
    }

    fn end(&mut self, reason: EndReason) -> Poll<Option<Result<(), SourceFailed>>> {
        self.ended = Some(reason);
        if reason == EndReason::SourceFailed {
            return Poll::Ready(Some(Err(SourceFailed)));
        }
        Poll::Ready(None)
    }

    /// Events first, then the timer: a due heartbeat is skipped when an event goes out.
    /// Appends the frames the source has (at least one on `Ready(Some(()))`).
    fn poll_events(&mut self, cx: &mut Context<'_>, chunks: &mut Vec<Bytes>) -> Poll<Option<()>> {
        let remaining = self.limits.as_ref().and_then(|l| l.remaining);
        let max = remaining.map_or(MAX_BATCH, |r| {
            usize::try_from(r).unwrap_or(MAX_BATCH).min(MAX_BATCH)
        });
        if max == 0 {
            self.ended = Some(EndReason::Limit);
            return Poll::Ready(None);
        }
        let before = chunks.len();
        match self.subscription.poll_next(cx, max, chunks) {
            Poll::Ready(Next::Frames) => {
                let taken = &chunks[before..];
                let count = taken.len() as u64;
                self.delivered += count;
                if let Some(metrics) = &self.metrics {
                    metrics.delivered(taken);
                }
                if let Some(r) = self.limits.as_mut().and_then(|l| l.remaining.as_mut()) {
                    *r = r.saturating_sub(count);
                }
                Poll::Ready(Some(()))
            }
            Poll::Ready(Next::HistoryGap) => {
                chunks.push(gap_notice(None));
                Poll::Ready(Some(()))
            }
            Poll::Ready(Next::Closed(reason)) => {
                self.ended = Some(match reason {
                    CloseReason::Overflow => EndReason::Overflow,
                    CloseReason::Shutdown => EndReason::Shutdown,
                    CloseReason::Ended => EndReason::SourceEnded,
                    CloseReason::Failed => EndReason::SourceFailed,
                });
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Returns a heartbeat when one is due, ends the stream at its deadline, and re-arms
    /// the timer otherwise.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let deadline = self.deadline();
        if let Some(timer) = &mut self.timer {
            while timer.as_mut().poll(cx).is_ready() {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    self.ended = Some(EndReason::Timeout);
                    return Poll::Ready(None);
                }
                if !self.ticked_by_connection && now >= self.next_tick {
                    self.heartbeat_due = !self.sent_since_tick;
                    self.sent_since_tick = false;
                    self.next_tick += self.tick_every;
                    if self.next_tick <= now {
                        // The task was starved for more than a tick: skip the missed ticks
                        // instead of sending a burst.
                        self.next_tick = now + self.tick_every;
                    }
                }
                let wake = match (deadline, self.ticked_by_connection) {
                    (Some(deadline), true) => deadline,
                    (deadline, _) => deadline.map_or(self.next_tick, |d| d.min(self.next_tick)),
                };
                timer.as_mut().reset(wake);
            }
        }
        // Due from the stream's own tick above or from its connection's.
        if std::mem::take(&mut self.heartbeat_due) {
            return Poll::Ready(Some(Bytes::from_static(HEARTBEAT_COMMENT)));
        }
        Poll::Pending
    }
}

impl<S: EventSource + ?Sized> Body for SseBody<S> {
    type Data = Bytes;
    type Error = SourceFailed;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        // The frames pass through the thread's scratch list, not one kept per stream: a
        // list a stream kept would hold a burst's capacity (up to MAX_BATCH entries) for
        // the stream's whole life.
        let mut poll = |chunks: &mut Vec<Bytes>| {
            chunks.clear();
            self.poll_chunks(cx, chunks)
                .map_ok(|()| Frame::data(concat(chunks)))
        };
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => poll(&mut scratch),
            // Only a source that polls another stream from its own poll would get here.
            Err(_) => poll(&mut Vec::new()),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.ended.is_some()
    }
}

impl<S: EventSource + ?Sized> Drop for SseBody<S> {
    fn drop(&mut self) {
        let reason = self.ended.unwrap_or(EndReason::ClientGone);
        if let Some(metrics) = &self.metrics {
            metrics.ended(match reason {
                EndReason::Limit => StreamEnd::Limit,
                EndReason::Timeout => StreamEnd::Timeout,
                EndReason::Overflow => StreamEnd::Overflow,
                EndReason::Shutdown => StreamEnd::Shutdown,
                EndReason::ClientGone => StreamEnd::ClientGone,
                EndReason::SourceEnded => StreamEnd::SourceEnded,
                EndReason::SourceFailed => StreamEnd::SourceFailed,
            });
        }
        tracing::debug!(
            source = %self.subscription.describe(),
            delivered = self.delivered,
            ?reason,
            "stream closed"
        );
    }
}

thread_local! {
    /// Frames on their way from a mailbox to a DATA frame (see `poll_events`).
    static SCRATCH: std::cell::RefCell<Vec<Bytes>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One chunk for all frames: the connection writes one DATA frame instead of many.
fn concat(frames: &mut Vec<Bytes>) -> Bytes {
    if frames.len() == 1 {
        return frames.pop().unwrap_or_default();
    }
    let len = frames.iter().map(Bytes::len).sum();
    let mut out = BytesMut::with_capacity(len);
    for frame in frames.drain(..) {
        out.extend_from_slice(&frame);
    }
    out.freeze()
}

fn gap_notice(last_event_id: Option<&str>) -> Bytes {
    let data = serde_json::json!({ "lastEventId": last_event_id }).to_string();
    encode_notice(GAP_EVENT_TYPE, &data)
}
