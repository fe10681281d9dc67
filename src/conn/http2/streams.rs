//! A connection's event streams, kept in the connection's own table instead of a task per
//! stream: no task, service future or boxed pipe per SSE stream. Each stream has a waker of
//! its own that marks it ready and wakes the connection; the connection polls the ready
//! streams in one pass, each writing its DATA frame into the `h2` send buffer, and the
//! connection then writes them all in one flush.
//!
//! Heartbeats too: the connection ticks all its streams from one timer
//! ([`HeartbeatClock`]), so the comments of its silent streams leave in one write instead
//! of one write (a TLS record and a system call) per stream at scattered instants.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll, Wake, Waker},
    time::Duration,
};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use h2::{Reason, SendStream};
use http_body::Body;
use slab::Slab;
use tokio::time::{Instant, Sleep};

use super::body::{has_window, send_capacity, Gone};
use crate::{
    sse::{EventSource, SseBody},
    stall::StallMark,
};

/// Frames one stream may send in one pass before the others get their turn: a stream
/// catching up on a backlog does not delay the connection's other streams.
const FRAMES_PER_PASS: usize = 8;

/// An open event stream: its body and the `h2` stream it is written to.
struct EventStream {
    send: SendStream<Bytes>,
    body: Box<SseBody<dyn EventSource>>,
    waker: Waker,
    /// Held back by a client that opens no window: the connection's stall watch cuts it.
    mark: StallMark,
}

/// The streams whose waker was woken since the connection's last pass.
#[derive(Default)]
pub(super) struct Ready {
    keys: Mutex<Vec<usize>>,
    connection: AtomicWaker,
}

impl Ready {
    /// Registers the connection task's waker.
    pub fn register(&self, waker: &Waker) {
        self.connection.register(waker);
    }
}

/// One stream's waker: queues the stream's key (once until it is polled) and wakes the
/// connection.
struct StreamWaker {
    key: usize,
    queued: AtomicBool,
    ready: Arc<Ready>,
}

impl Wake for StreamWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queue() {
            self.ready.connection.wake();
        }
    }
}

impl StreamWaker {
    /// Queues the stream for the next pass; false when it already was.
    fn queue(&self) -> bool {
        let first = !self.queued.swap(true, Ordering::AcqRel);
        if first {
            lock(&self.ready.keys).push(self.key);
        }
        first
    }
}

/// The connection's one heartbeat timer. It ticks at the shortest period of the
/// connection's streams, from a random phase so that connections do not tick together.
struct HeartbeatClock {
    every: Duration,
    timer: Pin<Box<Sleep>>,
}

/// The table.
pub(super) struct EventStreams {
    slots: Slab<(EventStream, Arc<StreamWaker>)>,
    ready: Arc<Ready>,
    /// Keys taken from `ready` for the current pass (kept for its capacity).
    pass: Vec<usize>,
    /// Set once the first stream is in.
    heartbeats: Option<HeartbeatClock>,
}

impl EventStreams {
    pub fn new() -> Self {
        Self {
            slots: Slab::new(),
            ready: Arc::new(Ready::default()),
            pass: Vec::new(),
            heartbeats: None,
        }
    }

    pub fn ready(&self) -> &Arc<Ready> {
        &self.ready
    }

    /// Adds a stream whose response head was sent; it is polled in the next pass.
    pub fn insert(
        &mut self,
        send: SendStream<Bytes>,
        mut body: Box<SseBody<dyn EventSource>>,
        mark: StallMark,
    ) {
        self.tick_every(body.tick_from_connection());
        let entry = self.slots.vacant_entry();
        let waker = Arc::new(StreamWaker {
            key: entry.key(),
            queued: AtomicBool::new(false),
            ready: self.ready.clone(),
        });
        let stream = EventStream {
            send,
            body,
            waker: Waker::from(waker.clone()),
            mark,
        };
        entry.insert((stream, waker.clone()));
        waker.wake_by_ref();
    }

    /// Makes the heartbeat clock tick at least every `every`.
    fn tick_every(&mut self, every: Duration) {
        let now = Instant::now();
        match &mut self.heartbeats {
            None => {
                let first = now + every.mul_f64(fastrand::f64());
                self.heartbeats = Some(HeartbeatClock {
                    every,
                    timer: Box::pin(tokio::time::sleep_until(first)),
                });
            }
            Some(clock) if every < clock.every => {
                clock.every = every;
                if clock.timer.deadline() > now + every {
                    clock.timer.as_mut().reset(now + every);
                }
            }
            Some(_) => {}
        }
    }

    /// On a tick of the heartbeat clock, queues every stream that has a heartbeat to send
    /// for this pass.
    pub fn poll_heartbeats(&mut self, cx: &mut Context<'_>) {
        let Some(clock) = &mut self.heartbeats else {
            return;
        };
        while clock.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            for (_, (stream, waker)) in self.slots.iter_mut() {
                if stream.body.heartbeat_tick(now) {
                    waker.queue();
                }
            }
            clock.timer.as_mut().reset(now + clock.every);
        }
    }

    /// Polls every stream woken since the last pass; each writes what it has into the
    /// connection's send buffer.
    pub fn poll_ready(&mut self) {
        std::mem::swap(&mut *lock(&self.ready.keys), &mut self.pass);
        for i in 0..self.pass.len() {
            let key = self.pass[i];
            let Some((stream, waker)) = self.slots.get_mut(key) else {
                // Ended since it was woken.
                continue;
            };
            // While the stream is still marked queued: reserving window makes `h2` wake the
            // stream when the reservation is granted at once, and this pass is the answer
            // to that wake (a second pass would find nothing to do).
            let window = stream.window();
            // Before polling: a wake from inside the poll queues the stream again.
            waker.queued.store(false, Ordering::Release);
            if let Poll::Ready(()) = stream.poll(window) {
                self.slots.remove(key);
            }
        }
        self.pass.clear();
    }
}

impl EventStream {
    /// Whether the stream may send: at least one byte of window (see [`send_capacity`]).
    fn window(&mut self) -> Result<Poll<()>, Gone> {
        let mut cx = Context::from_waker(&self.waker);
        send_capacity(&mut self.send, &mut cx)
    }

    /// Sends what the body has, as the `window` checked before allows; `Ready` when the
    /// stream is over.
    fn poll(&mut self, window: Result<Poll<()>, Gone>) -> Poll<()> {
        match window {
            Err(Gone) => return Poll::Ready(()),
            Ok(Poll::Pending) => {
                self.mark.held();
                self.body.set_held(true);
                return Poll::Pending;
            }
            Ok(Poll::Ready(())) => {
                self.mark.waiting();
                self.body.set_held(false);
            }
        }
        let mut cx = Context::from_waker(&self.waker);
        for sent in 0..FRAMES_PER_PASS {
            match Pin::new(&mut *self.body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    // A backlog: the frame before may have used up the window. This frame
                    // goes (it is taken; at most one frame waits beyond the window, in h2's
                    // buffer), and the next pass waits for window before taking more.
                    let full = sent > 0 && !has_window(&mut self.send);
                    if self.send.send_data(data, false).is_err() {
                        return Poll::Ready(());
                    }
                    if full {
                        break;
                    }
                }
                Poll::Ready(Some(Err(_))) => {
                    // The source failed: the stream is cut, as hyper did, so the client knows
                    // the end was not a clean one. In the next pass: a reset drops what h2
                    // still holds for the stream, and the response head and the events
                    // before the failure leave in the connection's write first.
                    self.waker.wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(None) if self.body.failed() => {
                    self.send.send_reset(Reason::INTERNAL_ERROR);
                    return Poll::Ready(());
                }
                Poll::Ready(None) => {
                    let _ = self.send.send_data(Bytes::new(), true);
                    return Poll::Ready(());
                }
                // The window check registered the stream's waker for a reset meanwhile.
                Poll::Pending => return Poll::Pending,
            }
        }
        // More to send: another turn after the other streams.
        self.waker.wake_by_ref();
        Poll::Pending
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a push or a swap: a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
