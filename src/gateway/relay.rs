//! Response bodies relayed from an upstream as they arrive (never buffered whole). An event
//! stream is relayed event by event through the SSE reader, as the [`RelayedEvents`] source
//! of an [`SseBody`](crate::sse::SseBody): hub streams and relayed streams share one
//! heartbeat scheme (spread phases, only when silent), heartbeats can only fall between
//! events, and the stream ends on drain like every other. Other bodies keep the route's
//! idle and total deadlines ([`TimedBody`]).

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::{
    sync::{futures::OwnedNotified, Notify},
    time::{Instant, Sleep},
};

use crate::{
    http::BoxError,
    sse::{reader::SseReader, CloseReason, EventSource, Next, Resume},
};

/// Longest event accepted from an upstream; a larger one ends the stream (bounded memory).
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// A deadline of a relayed body passed.
#[derive(Debug, thiserror::Error)]
#[error("upstream body {0} timeout")]
pub struct BodyTimeout(&'static str);

/// A non-SSE upstream body under the route's idle and total deadlines. When one passes the
/// body fails, which aborts the response (the client sees a truncated body, not a short
/// one that looks complete).
#[derive(Debug)]
pub struct TimedBody<B = Incoming> {
    inner: B,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    total: Option<Pin<Box<Sleep>>>,
}

impl<B> TimedBody<B> {
    /// Relays `inner`; `total_deadline` is the end of the whole exchange.
    pub fn new(inner: B, idle: Option<Duration>, total_deadline: Option<Instant>) -> Self {
        Self {
            inner,
            idle: idle.map(|d| (d, Box::pin(tokio::time::sleep(d)))),
            total: total_deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            if let Some((d, timer)) = &mut this.idle {
                timer.as_mut().reset(Instant::now() + *d);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if let Some((_, timer)) = &mut this.idle {
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(BodyTimeout("idle").into())));
            }
        }
        if let Some(timer) = &mut this.total {
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(BodyTimeout("total").into())));
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The gateway's drain signal: set once when the server drains; every relayed and shared
/// stream ends then, as hub streams do.
#[derive(Debug, Default)]
pub struct Draining {
    set: AtomicBool,
    notify: Arc<Notify>,
}

impl Draining {
    /// Ends every stream that listens, and every stream that would start listening.
    pub fn start(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether draining started.
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// A future that completes once draining starts. Created before the flag is read, so a
    /// drain that starts in between is never missed (`notify_waiters` reaches futures that
    /// exist, polled or not).
    fn listen(&self) -> Pin<Box<OwnedNotified>> {
        Box::pin(self.notify.clone().notified_owned())
    }
}

/// An upstream event stream as an [`EventSource`]: complete events, exactly as the upstream
/// sent them, as they arrive. It ends when the upstream ends, is cut when the upstream fails
/// (so a truncated stream never looks complete; either way the client reconnects with its
/// `Last-Event-ID`, which reaches the upstream), and ends on drain.
#[derive(Debug)]
pub struct RelayedEvents<B = Incoming> {
    upstream: B,
    reader: SseReader,
    drain: Pin<Box<OwnedNotified>>,
    drained: bool,
    label: Arc<str>,
}

impl<B> RelayedEvents<B> {
    /// Relays `upstream`; `draining` ends it; `label` names the route in logs.
    pub fn new(upstream: B, draining: &Draining, label: Arc<str>) -> Self {
        let drain = draining.listen();
        Self {
            upstream,
            reader: SseReader::new(MAX_EVENT_BYTES),
            drain,
            drained: draining.is_set(),
            label,
        }
    }
}

impl<B> EventSource for RelayedEvents<B>
where
    B: Body<Data = Bytes> + Unpin + Send + std::fmt::Debug + 'static,
    B::Error: std::fmt::Display,
{
    fn poll_next(&mut self, cx: &mut Context<'_>, max: usize, out: &mut Vec<Bytes>) -> Poll<Next> {
        if self.drained || self.drain.as_mut().poll(cx).is_ready() {
            self.drained = true;
            return Poll::Ready(Next::Closed(CloseReason::Shutdown));
        }
        loop {
            while out.len() < max {
                match self.reader.next_block() {
                    Ok(Some(block)) => out.push(block.into_raw()),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(route = %self.label, error = %e, "relayed stream: upstream event too large; cutting the stream");
                        return Poll::Ready(Next::Closed(CloseReason::Failed));
                    }
                }
            }
            if !out.is_empty() {
                return Poll::Ready(Next::Frames);
            }
            match Pin::new(&mut self.upstream).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Next::Closed(CloseReason::Ended)),
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!(route = %self.label, error = %e, "relayed stream: upstream body failed");
                    return Poll::Ready(Next::Closed(CloseReason::Failed));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        self.reader.push(data);
                    }
                }
            }
        }
    }

    fn resume(&self) -> &Resume {
        // Resumption is the upstream's: the client's Last-Event-ID was forwarded to it.
        &Resume::Live
    }

    fn describe(&self) -> String {
        format!("relayed upstream {}", self.label)
    }
}
