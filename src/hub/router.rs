//! The router: which subscribers of this node an event goes to, and their mailboxes. The
//! topic index serves subscribers of exact topics; scan groups serve pattern matchers. The
//! router is handed events by the [`Log`](super::Log) in cursor order and remembers, per
//! shard, the last one delivered: a subscriber registering now gets every later event
//! live, and reads everything up to that point from the log. That hand-over point is what
//! keeps replay-then-live free of gaps and duplicates, whether the log delivers at once or
//! later.
//!
//! The subscribers are sharded so that publishes to different topics fan out in parallel:
//! a subscriber of one exact topic lives in its topic's shard; one of several topics or of
//! a pattern lives in the ordered shard, which is offered every event, so that it still
//! receives its events in the log's order (what `Last-Event-ID` resumption needs). The log
//! only queues an event into its shards under its ordering lock ([`Router::enqueue`]); the
//! fan-out ([`Drain`]) runs after that lock is released.

use std::{
    hash::{BuildHasher, RandomState},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, OnceLock,
    },
};

use bytes::Bytes;

use super::{
    log::Cursor,
    selection::Subscriber,
    shard::{Delivery, Shard},
};
use crate::metrics::LatencyProbe;

/// Shards of single-topic subscribers: a power of two (a bit per shard in [`Drain`]), well
/// above the core count so that two busy topics rarely share one.
const SHARDS: usize = 64;

/// The subscribers of this node, by topic and by scan group.
#[derive(Debug)]
pub struct Router {
    /// Subscribers of one exact topic, by the topic's hash.
    shards: Box<[Shard]>,
    /// Subscribers of several topics or of patterns: offered every event, in order.
    ordered: Shard,
    hasher: RandomState,
    /// The id of the last event handed to the router.
    last_id: Mutex<Option<Arc<str>>>,
    /// Frames queued since start (one per event per subscriber).
    enqueued: AtomicU64,
    /// Times one event at a time from here to its first write (set once, by the server).
    probe: OnceLock<Arc<LatencyProbe>>,
}

impl Default for Router {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            ordered: Shard::default(),
            hasher: RandomState::new(),
            last_id: Mutex::new(None),
            enqueued: AtomicU64::new(0),
            probe: OnceLock::new(),
        }
    }
}

/// A registration refused because the router is closed (the server is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// The fan-out an [`Router::enqueue`] left to its caller: the shards where no one else was
/// delivering. Runs when dropped, so a queue is never left without a drainer; drop it once
/// the lock that ordered the event is released.
#[must_use = "the fan-out runs when this is dropped: drop it after releasing the log's lock"]
#[derive(Debug)]
pub struct Drain<'a> {
    router: &'a Router,
    /// A bit per topic shard.
    shards: u64,
    ordered: bool,
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        let router = self.router;
        let mut enqueued = 0;
        let mut shards = self.shards;
        while shards != 0 {
            let index = shards.trailing_zeros() as usize;
            shards &= shards - 1;
            enqueued += router.shards[index].drain();
        }
        if self.ordered {
            enqueued += router.ordered.drain();
        }
        router.enqueued.fetch_add(enqueued, Ordering::Relaxed);
    }
}

impl Router {
    /// A router with no subscriber.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues an event to every subscriber that selects it and may read it, at once. Events
    /// must come in cursor order: the log's order.
    pub fn deliver(
        &self,
        cursor: Cursor,
        id: &Arc<str>,
        topics: &[Arc<str>],
        private: bool,
        frame: &Bytes,
    ) {
        drop(self.enqueue(cursor, id, topics, private, frame));
    }

    /// Hands an event to its shards, in cursor order (the log's: call it under the lock
    /// that orders appends), and returns the fan-out left to the caller.
    pub fn enqueue(
        &self,
        cursor: Cursor,
        id: &Arc<str>,
        topics: &[Arc<str>],
        private: bool,
        frame: &Bytes,
    ) -> Drain<'_> {
        // Before any mailbox can have the frame, so no subscriber can write it first.
        if let Some(probe) = self.probe.get() {
            probe.arm(frame);
        }
        *lock(&self.last_id) = Some(id.clone());
        let delivery = Arc::new(Delivery {
            cursor,
            topics: topics.into(),
            private,
            frame: frame.clone(),
        });
        let mut queued: u64 = 0;
        let mut mine: u64 = 0;
        for topic in topics {
            let index = self.shard_index(topic);
            let bit = 1u64 << index;
            if queued & bit == 0 {
                queued |= bit;
                if self.shards[index].enqueue(&delivery) {
                    mine |= bit;
                }
            }
        }
        Drain {
            router: self,
            shards: mine,
            ordered: self.ordered.enqueue(&delivery),
        }
    }

    /// Times the delivery of sampled events with `probe` (the first call wins).
    pub fn set_latency_probe(&self, probe: Arc<LatencyProbe>) {
        let _ = self.probe.set(probe);
    }

    /// Starts delivery after `cursor`, for a log whose history begins before this node
    /// (a shared log): a subscriber registering before the first delivery replays up to it.
    pub fn start_after(&self, cursor: Cursor) {
        for shard in self.all_shards() {
            let mut members = shard.members();
            if members.last_delivered.is_none_or(|last| last < cursor) {
                members.last_delivered = Some(cursor);
            }
        }
    }

    /// Registers a subscriber; returns the hand-over point: every event after it reaches the
    /// subscriber's mailbox, every event up to it is the log's to replay.
    pub(super) fn register(&self, subscriber: &Arc<Subscriber>) -> Result<Option<Cursor>, Closed> {
        let mut members = self.home(subscriber).members();
        if members.closed {
            return Err(Closed);
        }
        let handover = members.last_delivered;
        if let Some(handover) = handover {
            // Nothing is queued yet: the mailbox learns where live delivery starts before
            // anyone can push to it.
            subscriber.mailbox.raise_floor(handover);
        }
        members.add(subscriber);
        Ok(handover)
    }

    /// Removes a subscriber.
    pub(super) fn unregister(&self, subscriber: &Arc<Subscriber>) {
        self.home(subscriber).members().remove(subscriber);
    }

    /// Ends every subscriber's stream (after the frames already queued) and refuses new
    /// registrations: graceful shutdown needs every stream to end.
    pub fn close(&self) {
        for shard in self.all_shards() {
            let wakers = shard.members().close();
            for waker in wakers {
                waker.wake();
            }
        }
    }

    /// The id of the last event handed to the router since start: every event up to it is
    /// in the log, and every later one reaches the subscribers that select it.
    pub fn last_id(&self) -> Option<Arc<str>> {
        lock(&self.last_id).clone()
    }

    /// Frames queued to subscribers since start (one per event per subscriber).
    pub fn enqueued(&self) -> u64 {
        self.enqueued.load(Ordering::Relaxed)
    }

    /// Topics with at least one subscriber now.
    pub fn active_topics(&self) -> usize {
        let single: usize = self.shards.iter().map(|s| s.members().topics.len()).sum();
        let ordered = self.ordered.members();
        // A topic with subscribers in both its shard and the ordered one counts once.
        let only_ordered = ordered
            .topics
            .keys()
            .filter(|topic| {
                !self.shards[self.shard_index(topic)]
                    .members()
                    .topics
                    .contains_key(*topic)
            })
            .count();
        single + only_ordered
    }

    /// Whether no subscriber scans.
    #[cfg(test)]
    pub(super) fn scanning_is_empty(&self) -> bool {
        self.ordered.members().scanning.is_empty()
    }

    /// Where a subscriber lives: its topic's shard when it has one exact topic, else the
    /// ordered shard.
    fn home(&self, subscriber: &Subscriber) -> &Shard {
        match (
            subscriber.selection.topics.as_slice(),
            subscriber.selection.scan,
        ) {
            ([topic], false) => &self.shards[self.shard_index(topic)],
            _ => &self.ordered,
        }
    }

    fn shard_index(&self, topic: &str) -> usize {
        // SHARDS is a power of two: the low bits of the hash.
        (self.hasher.hash_one(topic) as usize) & (SHARDS - 1)
    }

    fn all_shards(&self) -> impl Iterator<Item = &Shard> {
        self.shards.iter().chain(std::iter::once(&self.ordered))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the state consistent before anything that could panic
    // (allocation aside), so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
