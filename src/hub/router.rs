//! The router: which subscribers of this node an event goes to, and their mailboxes. The
//! topic index serves subscribers of exact topics; scan groups serve pattern matchers. The
//! router is handed events by the [`Log`](super::Log) in cursor order and remembers the last
//! one: a subscriber registering now gets every later event live, and reads everything up
//! to that point from the log. That hand-over point is what keeps replay-then-live free of
//! gaps and duplicates, whether the log delivers at once or later.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, OnceLock,
    },
    task::Waker,
};

use bytes::Bytes;

use super::{
    log::Cursor,
    scan::ScanGroups,
    selection::{Subscriber, UpdateView},
};
use crate::{metrics::LatencyProbe, sse::CloseReason};

/// The subscribers of this node, by topic and by scan group.
#[derive(Debug, Default)]
pub struct Router {
    state: Mutex<State>,
    /// Frames queued since start (one per event per subscriber).
    enqueued: AtomicU64,
    /// Times one event at a time from here to its first write (set once, by the server).
    probe: OnceLock<Arc<LatencyProbe>>,
}

#[derive(Debug, Default)]
struct State {
    /// Subscribers by exact topic.
    topics: HashMap<Arc<str>, Vec<Arc<Subscriber>>>,
    /// Subscribers offered every update (pattern matchers), by scan group.
    scanning: ScanGroups,
    /// The cursor of the last event delivered: the hand-over point of a new subscriber.
    last_delivered: Option<Cursor>,
    /// The id of the last event delivered.
    last_id: Option<Arc<str>>,
    closed: bool,
}

/// A registration refused because the router is closed (the server is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl Router {
    /// A router with no subscriber.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues an event to every subscriber that selects it and may read it; returns how
    /// many took it. Events must come in cursor order: the log's order.
    pub fn deliver(
        &self,
        cursor: Cursor,
        id: &Arc<str>,
        topics: &[Arc<str>],
        private: bool,
        frame: &Bytes,
    ) -> usize {
        let mut wakers: Vec<Waker> = Vec::new();
        let mut receivers = 0;
        // Before any mailbox has the frame, so no subscriber can write it first.
        if let Some(probe) = self.probe.get() {
            probe.arm(frame);
        }
        {
            let mut state = self.lock();
            let view = UpdateView::new(topics, private);
            let mut deliver = |subscriber: &Subscriber| {
                let (taken, waker) = subscriber.mailbox.push_event(cursor, frame);
                receivers += usize::from(taken);
                wakers.extend(waker);
            };
            for topic in topics {
                for subscriber in state.topics.get(topic).into_iter().flatten() {
                    if subscriber.selection.permits(&view) {
                        deliver(subscriber);
                    }
                }
            }
            for group in state.scanning.iter() {
                // Members route alike: the first one answers for the group.
                if !group.members[0].selection.selects(&view) {
                    continue;
                }
                for subscriber in &group.members {
                    if subscriber.selection.permits(&view) {
                        deliver(subscriber);
                    }
                }
            }
            drop(view);
            state.last_delivered = Some(cursor);
            state.last_id = Some(id.clone());
        }
        for waker in wakers {
            waker.wake();
        }
        self.enqueued.fetch_add(receivers as u64, Ordering::Relaxed);
        receivers
    }

    /// Times the delivery of sampled events with `probe` (the first call wins).
    pub fn set_latency_probe(&self, probe: Arc<LatencyProbe>) {
        let _ = self.probe.set(probe);
    }

    /// Starts delivery after `cursor`, for a log whose history begins before this node
    /// (a shared log): a subscriber registering before the first delivery replays up to it.
    pub fn start_after(&self, cursor: Cursor) {
        let mut state = self.lock();
        if state.last_delivered.is_none_or(|last| last < cursor) {
            state.last_delivered = Some(cursor);
        }
    }

    /// Registers a subscriber; returns the hand-over point: every event after it reaches the
    /// subscriber's mailbox, every event up to it is the log's to replay.
    pub(super) fn register(&self, subscriber: &Arc<Subscriber>) -> Result<Option<Cursor>, Closed> {
        let mut state = self.lock();
        if state.closed {
            return Err(Closed);
        }
        let handover = state.last_delivered;
        if let Some(handover) = handover {
            // Nothing is queued yet: the mailbox learns where live delivery starts before
            // anyone can push to it.
            subscriber.mailbox.raise_floor(handover);
        }
        for topic in &subscriber.selection.topics {
            state
                .topics
                .entry(topic.clone())
                .or_default()
                .push(subscriber.clone());
        }
        if subscriber.selection.scan {
            state.scanning.add(subscriber.clone());
        }
        Ok(handover)
    }

    /// Removes a subscriber.
    pub(super) fn unregister(&self, subscriber: &Arc<Subscriber>) {
        let mut state = self.lock();
        for topic in &subscriber.selection.topics {
            if let Some(list) = state.topics.get_mut(topic) {
                if let Some(i) = list.iter().position(|s| Arc::ptr_eq(s, subscriber)) {
                    list.swap_remove(i);
                }
                if list.is_empty() {
                    state.topics.remove(topic);
                }
            }
        }
        if subscriber.selection.scan {
            state.scanning.remove(subscriber);
        }
    }

    /// Ends every subscriber's stream (after the frames already queued) and refuses new
    /// registrations: graceful shutdown needs every stream to end.
    pub fn close(&self) {
        let wakers: Vec<Waker> = {
            let mut state = self.lock();
            state.closed = true;
            state
                .topics
                .values()
                .flatten()
                .chain(state.scanning.subscribers())
                .filter_map(|s| s.mailbox.close(CloseReason::Shutdown))
                .collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// The id of the last event delivered since start.
    pub fn last_id(&self) -> Option<Arc<str>> {
        self.lock().last_id.clone()
    }

    /// Frames queued to subscribers since start (one per event per subscriber).
    pub fn enqueued(&self) -> u64 {
        self.enqueued.load(Ordering::Relaxed)
    }

    /// Topics with at least one subscriber now.
    pub fn active_topics(&self) -> usize {
        self.lock().topics.len()
    }

    /// Whether no subscriber scans.
    #[cfg(test)]
    pub(super) fn scanning_is_empty(&self) -> bool {
        self.lock().scanning.is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before anything that could
        // panic (allocation aside), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
