//! The write coalescing window of an HTTP/2 connection: after a turn in which its
//! streams wrote, the streams woken within the window are served together at its end,
//! one turn and one write for all of them, instead of a turn each.
//!
//! A batch's timer is armed only when a stream is woken within the window. A connection
//! whose events come further apart than the window (one event every 10 ms, as most of
//! 50k streams' connections get) would otherwise have the timer wake the worker after
//! every write, for nothing: on this kind of machine that wake-up costs about as much as
//! the write (PERFORMANCE.md). A busy connection, whose last window caught a stream,
//! arms the timer at once: the first wake of the next window then costs no turn of its
//! own.

use std::{future::Future, pin::Pin, task::Context, time::Duration};

use tokio::time::{Instant, Sleep};

use super::wake::{Batching, Wakeups};

/// One connection's batching.
#[derive(Debug)]
pub(super) struct Batch {
    /// The coalescing window; zero: never batch.
    window: Duration,
    /// When the running batch ends.
    deadline: Instant,
    /// Ends the running batch once armed; kept between batches of a busy connection.
    timer: Option<Pin<Box<Sleep>>>,
    /// A batch runs: streams woken meanwhile wait for its end.
    running: bool,
    /// The timer is set for this batch's deadline.
    armed: bool,
    /// The last window caught a stream: the next one arms its timer at once.
    busy: bool,
}

impl Batch {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            deadline: Instant::now(),
            timer: None,
            running: false,
            armed: false,
            busy: false,
        }
    }

    /// Ends the running batch once its window is over: the streams it held are served in
    /// this turn, and from now on a stream's wake wakes the connection again. A batch
    /// whose timer is not armed yet arms it when a stream waits.
    pub fn poll_end(&mut self, cx: &mut Context<'_>, wakeups: &Wakeups) {
        if !self.running {
            return;
        }
        if !self.armed {
            if Instant::now() < self.deadline {
                if wakeups.any_ready() {
                    self.arm(cx, wakeups);
                }
                return;
            }
            // The window passed with no stream woken in it (one woken since came later).
            self.end(false, wakeups);
            return;
        }
        if let Some(timer) = &mut self.timer {
            if timer.as_mut().poll(cx).is_pending() {
                return;
            }
        }
        self.end(wakeups.any_ready(), wakeups);
    }

    /// Ends the batch before its streams are taken (see `Wakeups::set_batching`); `busy`:
    /// the window caught a stream.
    fn end(&mut self, busy: bool, wakeups: &Wakeups) {
        self.busy = busy;
        self.running = false;
        wakeups.set_batching(Batching::Off);
    }

    /// After a turn: starts a batch if streams that stay open wrote in it (`wrote`). A
    /// turn that wrote nothing of theirs ends batching, so a quiet connection keeps no
    /// timer and its next event goes out at once.
    pub fn start(&mut self, cx: &mut Context<'_>, wakeups: &Wakeups, wrote: bool) {
        if self.running || self.window.is_zero() {
            return;
        }
        if !wrote {
            self.timer = None;
            self.busy = false;
            return;
        }
        self.deadline = Instant::now() + self.window;
        self.running = true;
        self.armed = false;
        if self.busy {
            self.arm(cx, wakeups);
            return;
        }
        // Lazy: the first stream woken from now on wakes the connection, which arms the
        // timer then (`poll_end`). One that was woken before this store is already
        // queued: served by arming now.
        wakeups.set_batching(Batching::Unarmed);
        if wakeups.any_ready() {
            self.arm(cx, wakeups);
        }
    }

    fn arm(&mut self, cx: &mut Context<'_>, wakeups: &Wakeups) {
        let deadline = self.deadline;
        let timer = match &mut self.timer {
            Some(timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => self
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        self.armed = true;
        if timer.as_mut().poll(cx).is_pending() {
            wakeups.set_batching(Batching::Armed);
        } else {
            // Already over: served in this turn.
            self.end(wakeups.any_ready(), wakeups);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };
    use std::task::{Wake, Waker};

    use super::*;
    use crate::conn::http2::wake::StreamWaker;

    const WINDOW: Duration = Duration::from_millis(2);

    /// Counts the connection's wake-ups.
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct Connection {
        wakeups: Arc<Wakeups>,
        counter: Arc<Counter>,
        waker: Waker,
        batch: Batch,
    }

    impl Connection {
        fn new() -> Self {
            let wakeups = Arc::new(Wakeups::default());
            let counter = Arc::new(Counter(AtomicUsize::new(0)));
            let waker = Waker::from(counter.clone());
            wakeups.register(&waker);
            Self {
                wakeups,
                counter,
                waker,
                batch: Batch::new(WINDOW),
            }
        }

        fn wakes(&self) -> usize {
            self.counter.0.load(Ordering::SeqCst)
        }

        /// A turn as the connection runs it: the running batch ends if over, the streams
        /// woken are served unless a batch holds them, and a batch starts if they (or
        /// `wrote`, the turn's other ongoing data) wrote. Returns the streams served.
        fn turn(&mut self, wrote: bool) -> Vec<usize> {
            let mut cx = Context::from_waker(&self.waker);
            self.batch.poll_end(&mut cx, &self.wakeups);
            let mut served = Vec::new();
            if !self.batch.running {
                self.wakeups.take_ready(&mut served);
            }
            self.batch
                .start(&mut cx, &self.wakeups, wrote || !served.is_empty());
            served
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_connection_sets_no_timer_after_it_writes() {
        let mut conn = Connection::new();
        conn.turn(true);
        assert!(conn.batch.running && !conn.batch.armed);
        tokio::time::advance(WINDOW * 5).await;
        assert_eq!(conn.wakes(), 0, "no timer woke the connection");
        // An event after the window: its stream wakes the connection and is served at
        // once, the stale batch ending first; the next batch is lazy again.
        let stream = StreamWaker::new(3, conn.wakeups.clone());
        Waker::from(stream).wake_by_ref();
        assert_eq!(conn.wakes(), 1);
        assert_eq!(conn.turn(false), [3]);
        assert!(conn.batch.running && !conn.batch.armed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_woken_in_the_window_arms_the_timer_and_waits_for_it() {
        let mut conn = Connection::new();
        conn.turn(true);
        let first = StreamWaker::new(1, conn.wakeups.clone());
        let second = StreamWaker::new(2, conn.wakeups.clone());
        Waker::from(first.clone()).wake_by_ref();
        Waker::from(second.clone()).wake_by_ref();
        assert_eq!(conn.wakes(), 1, "the first in line wakes the connection");
        assert!(
            conn.turn(false).is_empty(),
            "they wait for the window's end"
        );
        assert!(conn.batch.armed);
        tokio::time::advance(WINDOW).await;
        assert_eq!(conn.wakes(), 2, "the timer");
        assert_eq!(conn.turn(false), [1, 2]);
        // Busy: the next batch armed at once, and no stream's wake wakes the connection.
        assert!(conn.batch.running && conn.batch.armed);
        first.unqueue();
        Waker::from(first).wake_by_ref();
        assert_eq!(conn.wakes(), 2);
        tokio::time::advance(WINDOW).await;
        assert_eq!(conn.wakes(), 3);
        assert_eq!(conn.turn(false), [1]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_that_wrote_nothing_ongoing_starts_no_batch() {
        let mut conn = Connection::new();
        assert!(conn.turn(false).is_empty());
        assert!(!conn.batch.running);
        let stream = StreamWaker::new(5, conn.wakeups.clone());
        Waker::from(stream).wake_by_ref();
        assert_eq!(conn.wakes(), 1);
        assert_eq!(conn.turn(false), [5]);
    }
}
