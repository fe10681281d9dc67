//! How the rest of the process tells a connection that a stream's response body has data:
//! its waker queues the stream's key and wakes the connection's one task, which then
//! serves exactly the streams named, not all of them.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU8, Ordering},
        Arc, Mutex, MutexGuard,
    },
    task::{Wake, Waker},
};

use futures_util::task::AtomicWaker;

/// What woke the connection since its last turn.
#[derive(Default)]
pub(super) struct Wakeups {
    connection: Arc<AtomicWaker>,
    ready: Mutex<Vec<usize>>,
    /// A [`Batching`]: while a connection batches, streams woken meanwhile are queued
    /// without waking it, and its batch timer serves them all in one turn.
    batching: AtomicU8,
}

/// Whether a connection batches its streams' wakes (`batch.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Batching {
    /// Every wake of a stream wakes the connection.
    Off,
    /// A batch runs, its timer not armed yet: the first stream woken wakes the
    /// connection, to arm it; the others wait.
    Unarmed,
    /// A batch runs and its timer will serve the streams woken meanwhile.
    Armed,
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups").finish_non_exhaustive()
    }
}

impl Wakeups {
    /// Registers the connection task's waker.
    pub fn register(&self, waker: &Waker) {
        self.connection.register(waker);
    }

    /// Wakes the connection for something of its own (a GOAWAY to write).
    pub fn wake_connection(&self) {
        self.connection.wake();
    }

    /// The connection's waker, for others who wake it (request bodies' readers).
    pub fn connection(&self) -> Arc<AtomicWaker> {
        self.connection.clone()
    }

    /// Starts, arms or ends a batch. Ending one before taking the ready streams is what
    /// keeps a wake from being lost: a stream queued after the take sees the batch over
    /// (both sides order through the ready list's lock) and wakes the connection itself.
    /// Likewise a batch set [`Batching::Unarmed`] and then found with no stream ready:
    /// the first stream queued after that look wakes the connection.
    pub fn set_batching(&self, batching: Batching) {
        self.batching.store(batching as u8, Ordering::SeqCst);
    }

    fn batching(&self) -> Batching {
        match self.batching.load(Ordering::SeqCst) {
            0 => Batching::Off,
            1 => Batching::Unarmed,
            _ => Batching::Armed,
        }
    }

    /// Whether a stream was woken since the last [`Wakeups::take_ready`].
    pub fn any_ready(&self) -> bool {
        !lock(&self.ready).is_empty()
    }

    /// Swaps the streams woken since the last call into `into` (empty on entry).
    pub fn take_ready(&self, into: &mut Vec<usize>) {
        std::mem::swap(&mut *lock(&self.ready), into);
    }
}

/// One stream's waker: queues the stream's key (once until the connection serves it) and
/// wakes the connection.
pub(super) struct StreamWaker {
    key: usize,
    queued: AtomicBool,
    wakeups: Arc<Wakeups>,
}

impl StreamWaker {
    pub fn new(key: usize, wakeups: Arc<Wakeups>) -> Arc<Self> {
        Arc::new(Self {
            key,
            queued: AtomicBool::new(false),
            wakeups,
        })
    }

    /// Queues the stream for the connection's next pass: `None` when it already was,
    /// else whether it is the first stream in the line.
    pub fn queue(&self) -> Option<bool> {
        if self.queued.swap(true, Ordering::AcqRel) {
            return None;
        }
        let mut ready = lock(&self.wakeups.ready);
        ready.push(self.key);
        Some(ready.len() == 1)
    }

    /// The connection is serving the stream: a wake from now on queues it again.
    pub fn unqueue(&self) {
        self.queued.store(false, Ordering::Release);
    }
}

impl Wake for StreamWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let Some(first_in_line) = self.queue() else {
            return;
        };
        // Read after the push: see `Wakeups::set_batching`.
        let wake = match self.wakeups.batching() {
            Batching::Off => true,
            Batching::Unarmed => first_in_line,
            Batching::Armed => false,
        };
        if wake {
            self.wakeups.connection.wake();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a push or a swap: a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts the connection's wake-ups.
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn connection() -> (Arc<Wakeups>, Arc<Counter>) {
        let wakeups = Arc::new(Wakeups::default());
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        wakeups.register(&Waker::from(counter.clone()));
        (wakeups, counter)
    }

    #[test]
    fn a_stream_queues_once_and_wakes_the_connection() {
        let (wakeups, counter) = connection();
        let stream = Waker::from(StreamWaker::new(7, wakeups.clone()));
        stream.wake_by_ref();
        stream.wake_by_ref();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        let mut ready = Vec::new();
        wakeups.take_ready(&mut ready);
        assert_eq!(ready, [7], "queued once until served");
    }

    #[test]
    fn during_a_batch_streams_queue_without_waking_and_after_it_they_wake() {
        let (wakeups, counter) = connection();
        let first = StreamWaker::new(1, wakeups.clone());
        let second = StreamWaker::new(2, wakeups.clone());
        wakeups.set_batching(Batching::Armed);
        Waker::from(first.clone()).wake();
        Waker::from(second.clone()).wake();
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            0,
            "the batch's timer serves them"
        );
        assert!(wakeups.any_ready());
        // The batch ends before its streams are taken: nothing is lost in between.
        wakeups.set_batching(Batching::Off);
        let mut ready = Vec::new();
        wakeups.take_ready(&mut ready);
        assert_eq!(ready, [1, 2]);
        assert!(!wakeups.any_ready());
        first.unqueue();
        Waker::from(first).wake();
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            1,
            "outside a batch a wake wakes"
        );
    }

    #[test]
    fn in_an_unarmed_batch_only_the_first_stream_in_line_wakes() {
        let (wakeups, counter) = connection();
        let streams: Vec<_> = (0..3)
            .map(|key| Waker::from(StreamWaker::new(key, wakeups.clone())))
            .collect();
        wakeups.set_batching(Batching::Unarmed);
        streams.iter().for_each(Waker::wake_by_ref);
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            1,
            "one wake, for the connection to arm its timer"
        );
        wakeups.set_batching(Batching::Armed);
        let mut ready = Vec::new();
        wakeups.take_ready(&mut ready);
        assert_eq!(ready, [0, 1, 2]);
    }
}
