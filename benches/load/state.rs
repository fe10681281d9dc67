//! State shared by the subscribers, the publisher and the report.
//!
//! Counters are atomics with `Relaxed` ordering throughout: each is either written by one
//! task and read for progress lines, or summed after every writer has stopped (the tasks
//! are joined, which orders their writes before the reads).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

use crate::stats::Histogram;

/// Everything the tasks of one run share.
pub struct Shared {
    /// Random per run; see [`crate::sse::Payload::run`].
    pub run: u64,
    /// Per topic: the next sequence number to publish, that is how many events the
    /// publisher has handed to h2 for it so far.
    pub next_seq: Box<[AtomicU64]>,
    /// Sequence numbers whose publish request failed, per topic: not expected anywhere.
    pub failed: Mutex<Vec<(u32, u64)>>,
    /// One per subscriber stream, indexed by stream number.
    pub slots: Box<[StreamSlot]>,
    /// Publish-to-deliver latency of events sent inside the measured window.
    pub latency: Histogram,
    /// Unix nanos of the measured window, `u64::MAX` until set: deliveries count towards
    /// the rate and latency when their event was *sent* inside `[start, end)`.
    pub window_start_ns: AtomicU64,
    pub window_end_ns: AtomicU64,
    /// Deliveries of events of this run (any time, for progress lines).
    pub delivered: AtomicU64,
    /// Deliveries of events sent inside the window.
    pub measured: AtomicU64,
    /// Events with data that is not this run's payload for the stream's topic.
    pub foreign: AtomicU64,
    pub heartbeats: AtomicU64,
    /// Publish requests sent, answered with 2xx, and failed (error, non-2xx, no answer).
    pub published: AtomicU64,
    pub publish_ok: AtomicU64,
    pub publish_errors: AtomicU64,
    pub conn_errors: AtomicU64,
    /// Connections the server closed gracefully (GOAWAY with NO_ERROR), e.g. nginx after
    /// `keepalive_requests` requests.
    pub goaways: AtomicU64,
    /// Set when the run is over: errors after this are the teardown's own.
    pub stopping: AtomicBool,
}

impl Shared {
    pub fn new(streams: usize, topics: usize) -> Shared {
        Shared {
            run: fastrand::u64(1..u64::MAX / 2),
            next_seq: (0..topics).map(|_| AtomicU64::new(0)).collect(),
            failed: Mutex::new(Vec::new()),
            slots: (0..streams).map(|_| StreamSlot::default()).collect(),
            latency: Histogram::new(),
            window_start_ns: AtomicU64::new(u64::MAX),
            window_end_ns: AtomicU64::new(u64::MAX),
            delivered: AtomicU64::new(0),
            measured: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
            heartbeats: AtomicU64::new(0),
            published: AtomicU64::new(0),
            publish_ok: AtomicU64::new(0),
            publish_errors: AtomicU64::new(0),
            conn_errors: AtomicU64::new(0),
            goaways: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        }
    }

    /// Count a connection error, and print the first few (unless the run is over).
    pub fn connection_error(&self, what: &str, error: &dyn std::fmt::Display) {
        if self.stopping.load(Relaxed) {
            return;
        }
        if self.conn_errors.fetch_add(1, Relaxed) < 5 {
            eprintln!("load: {what}: {error}");
        }
    }

    /// Count an HTTP/2 error: a graceful GOAWAY from the server is not an error.
    pub fn h2_error(&self, what: &str, error: &h2::Error) {
        if error.is_go_away() && error.is_remote() && error.reason() == Some(h2::Reason::NO_ERROR) {
            self.goaways.fetch_add(1, Relaxed);
        } else {
            self.connection_error(what, error);
        }
    }

    /// Events each stream should have received, given what was published: from the
    /// topic's sequence number when the stream was established up to the last one sent,
    /// minus failed publishes in that range. `failed` must be sorted.
    pub fn expected(&self, slot: &StreamSlot, topic: usize, failed: &[(u32, u64)]) -> u64 {
        let start = slot.start_seq.load(Relaxed);
        let end = self.next_seq[topic].load(Relaxed);
        if end <= start {
            return 0;
        }
        let topic = topic as u32;
        let from = failed.partition_point(|&f| f < (topic, start));
        let to = failed.partition_point(|&f| f < (topic, end));
        (end - start) - (to - from) as u64
    }
}

/// How far a subscriber stream got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StreamState {
    /// Request sent (or not yet), no response.
    Pending = 0,
    /// `200` and headers received; receiving events.
    Established = 1,
    /// Refused (non-200, reset, or the connection failed) before it was established.
    Failed = 2,
    /// Established, then ended or reset by the server before the run was over.
    Ended = 3,
}

/// One subscriber stream's progress, written by its stream future only.
#[derive(Default)]
pub struct StreamSlot {
    state: AtomicU8,
    /// Response status when refused.
    pub status: AtomicU64,
    /// The topic's `next_seq` when the stream was established: the first event it is owed.
    pub start_seq: AtomicU64,
    /// Distinct events received with a sequence number >= `start_seq`, in any order.
    pub received: AtomicU64,
    /// Events received again.
    pub duplicates: AtomicU64,
    /// Distinct events that arrived after one with a higher sequence number.
    pub reordered: AtomicU64,
}

impl StreamSlot {
    pub fn state(&self) -> StreamState {
        match self.state.load(Relaxed) {
            1 => StreamState::Established,
            2 => StreamState::Failed,
            3 => StreamState::Ended,
            _ => StreamState::Pending,
        }
    }

    pub fn set_state(&self, state: StreamState) {
        self.state.store(state as u8, Relaxed);
    }

    /// Mark a stream that never got established as failed (keeps the other states).
    pub fn fail(&self, status: u16) {
        self.status.store(u64::from(status), Relaxed);
        let _ = self.state.compare_exchange(
            StreamState::Pending as u8,
            StreamState::Failed as u8,
            Relaxed,
            Relaxed,
        );
    }
}
