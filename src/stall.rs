//! Responses the client lets the server write nothing of: HTTP/2 streams whose flow-control
//! window stays at zero.
//!
//! Imports nothing of the crate; the edge gives each connection a watch.
//!
//! A client that never opens an HTTP/2 window (SETTINGS_INITIAL_WINDOW_SIZE = 0 and no
//! WINDOW_UPDATE) still reads the socket and answers PINGs, so neither the transport's write
//! stall deadline ([`crate::io`]) nor keep-alive catches it: its streams and their queues
//! would be held for as long as it likes. hyper asks a body for its next frame only once
//! the stream has window, so a body that was not asked for a frame since it last produced
//! one (or since it was created) is a body the client is holding back. [`StallWatch`]
//! notices such a body once it has waited past the deadline, and the connection is closed,
//! as a transport whose writes stall is (nginx's `send_timeout` does the same for streams
//! waiting for window). A body that is waiting for its own data (an idle SSE stream) is
//! never stalled. Bodies hyper serves are wrapped in [`Watched`]; the HTTP/2 connection's
//! own streams (`conn::http2`), which ask for window themselves, tell their [`StallMark`]
//! when they wait for it and when they get it.
//!
//! The cost on the delivery path is one relaxed atomic load (and a store on a change) per
//! poll of a body;
//! the clock is a coarse one that the watch task advances.

use std::{
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
    task::{Context, Poll},
    time::Duration,
};

use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

/// A body's state: waiting for its own data (hyper asked and was told to wait).
const WAITING: u64 = u64::MAX;

/// The stall watch of one connection.
#[derive(Debug, Clone)]
pub struct StallWatch {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    /// Milliseconds since `started`, advanced by [`StallWatch::stalled`].
    now_ms: AtomicU64,
    bodies: Mutex<Vec<Weak<AtomicU64>>>,
}

impl Default for StallWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl StallWatch {
    /// A watch with no bodies yet.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                started: Instant::now(),
                now_ms: AtomicU64::new(0),
                bodies: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Watches `body`: from now on, it stalls if hyper does not ask it for a frame.
    pub fn watch<B: Body>(&self, body: B) -> Watched<B> {
        // An empty body (a 101 or 204, a HEAD) is never asked for a frame.
        let mark = self.mark();
        if !body.is_end_stream() {
            mark.expect_more();
        }
        Watched { body, mark }
    }

    /// A mark for a response whose sender tells the watch itself when it is held back (the
    /// HTTP/2 connection's own event streams); it starts as waiting for its own data.
    pub fn mark(&self) -> StallMark {
        let since = Arc::new(AtomicU64::new(WAITING));
        // The lock is held for a push or a sweep, never across an await; a poisoned lock
        // only means a panicking sweep, and the list stays valid.
        let mut bodies = self.inner.bodies.lock().unwrap_or_else(|e| e.into_inner());
        bodies.push(Arc::downgrade(&since));
        StallMark {
            since,
            clock: self.inner.clone(),
        }
    }

    /// Completes once a watched body has had a frame ready (or not yet been asked for its
    /// first) for `timeout` without hyper asking for the next one. Never completes for a
    /// zero `timeout`.
    pub async fn stalled(&self, timeout: Duration) {
        if timeout.is_zero() {
            return std::future::pending().await;
        }
        let limit = timeout.as_millis() as u64;
        // Checks four times per timeout (so a stall is caught within 1.25 times it), at
        // most ten times a second.
        let period = (timeout / 4).max(Duration::from_millis(100));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = self.inner.started.elapsed().as_millis() as u64;
            self.inner.now_ms.store(now, Ordering::Relaxed);
            let mut bodies = self.inner.bodies.lock().unwrap_or_else(|e| e.into_inner());
            let mut stalled = false;
            bodies.retain(|body| match body.upgrade() {
                Some(since) => {
                    let since = since.load(Ordering::Relaxed);
                    stalled |= since != WAITING && now.saturating_sub(since) >= limit;
                    true
                }
                None => false,
            });
            if stalled {
                return;
            }
        }
    }
}

/// One response's place in its connection's [`StallWatch`]: since when it has been held
/// back, or waiting for its own data. Dropped with the response.
#[derive(Debug)]
pub struct StallMark {
    /// Coarse milliseconds of the watch's clock, or [`WAITING`].
    since: Arc<AtomicU64>,
    clock: Arc<Inner>,
}

impl StallMark {
    /// The response handed over a frame: it stalls unless asked for the next within the
    /// timeout.
    pub fn expect_more(&self) {
        let now = self.clock.now_ms.load(Ordering::Relaxed);
        self.since.store(now, Ordering::Relaxed);
    }

    /// The response has nothing to send, or the client's window let its last frame go.
    pub fn waiting(&self) {
        if self.since.load(Ordering::Relaxed) != WAITING {
            self.since.store(WAITING, Ordering::Relaxed);
        }
    }

    /// The client's window lets nothing through: held back from now, unless already.
    pub fn held(&self) {
        if self.since.load(Ordering::Relaxed) == WAITING {
            self.expect_more();
        }
    }
}

/// A response body under a [`StallWatch`].
#[derive(Debug)]
pub struct Watched<B> {
    body: B,
    mark: StallMark,
}

impl<B> Body for Watched<B>
where
    B: Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            // hyper sends this frame and comes back for the next once the client's window
            // lets it.
            Poll::Ready(Some(Ok(_))) => self.mark.expect_more(),
            Poll::Ready(_) | Poll::Pending => self.mark.waiting(),
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty, Full, StreamBody};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_body_never_asked_for_a_frame_stalls_after_the_timeout() {
        let watch = StallWatch::new();
        let _body = watch.watch(Full::new(Bytes::from_static(b"held back")));
        let started = Instant::now();
        watch.stalled(Duration::from_secs(2)).await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(2) && waited <= Duration::from_millis(2600));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_waiting_for_its_own_data_never_stalls() {
        let watch = StallWatch::new();
        let (_tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
        let mut body = watch.watch(StreamBody::new(tokio_stream_from(rx)));
        // hyper asks, the body has nothing yet.
        assert!(poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx).is_pending())).await);
        let stalled = tokio::time::timeout(
            Duration::from_secs(60),
            watch.stalled(Duration::from_secs(2)),
        );
        assert!(
            stalled.await.is_err(),
            "an idle stream is not a stalled one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_and_finished_bodies_never_stall() {
        let watch = StallWatch::new();
        drop(watch.watch(Full::new(Bytes::from_static(b"gone"))));
        let mut finished = watch.watch(Full::new(Bytes::from_static(b"sent")));
        assert!(finished.frame().await.is_some());
        assert!(finished.frame().await.is_none());
        // Never polled: hyper does not ask an empty body for frames.
        let _empty = watch.watch(Empty::<Bytes>::new());
        let stalled = tokio::time::timeout(
            Duration::from_secs(60),
            watch.stalled(Duration::from_secs(2)),
        );
        assert!(stalled.await.is_err());
    }

    /// An mpsc receiver as a stream (tokio-stream is not a dependency).
    fn tokio_stream_from<T: Send + 'static>(
        rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> + Unpin {
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }))
    }
}
