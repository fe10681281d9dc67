//! How the rest of the process tells a connection that a stream's response body has data:
//! its waker queues the stream's key and wakes the connection's one task, which then
//! serves exactly the streams named, not all of them.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
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

    /// Queues the stream for the connection's next pass; false when it already was.
    pub fn queue(&self) -> bool {
        let first = !self.queued.swap(true, Ordering::AcqRel);
        if first {
            lock(&self.wakeups.ready).push(self.key);
        }
        first
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
        if self.queue() {
            self.wakeups.connection.wake();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a push or a swap: a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
