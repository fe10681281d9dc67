//! One part of the [`Router`](super::Router): the subscribers it holds, and the events on
//! their way to them.
//!
//! Events enter a shard's queue in the log's order, under the log's own ordering (a short
//! critical section); the queue is then drained by whichever publisher finds no one else
//! draining it, outside any lock shared with other shards. So one topic's events reach its
//! subscribers in order, while the per-subscriber work of different shards runs in
//! parallel and a publisher never waits for another topic's fan-out.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    task::Waker,
};

use bytes::Bytes;

use super::{
    log::Cursor,
    scan::ScanGroups,
    selection::{Subscriber, UpdateView},
};
use crate::sse::CloseReason;

/// Subscribers whose records a delivery loads ahead of queuing to them.
const TOUCH_AHEAD: usize = 32;

/// An event on its way to the subscribers: shared by every shard it goes to.
#[derive(Debug)]
pub(super) struct Delivery {
    pub cursor: Cursor,
    pub topics: Box<[Arc<str>]>,
    pub private: bool,
    pub frame: Bytes,
}

/// Subscribers, and the events queued for them.
#[derive(Debug, Default)]
pub(super) struct Shard {
    pending: Mutex<Pending>,
    members: Mutex<Members>,
}

#[derive(Debug, Default)]
struct Pending {
    queue: VecDeque<Arc<Delivery>>,
    /// Someone is delivering this queue: later events are theirs to deliver too.
    draining: bool,
}

/// A shard's subscribers and where their live delivery stands.
#[derive(Debug, Default)]
pub(super) struct Members {
    /// Subscribers by exact topic.
    pub topics: HashMap<Arc<str>, Vec<Arc<Subscriber>>>,
    /// Subscribers offered every update (pattern matchers), by scan group.
    pub scanning: ScanGroups,
    /// The cursor of the last event delivered here: the hand-over point of a new member.
    pub last_delivered: Option<Cursor>,
    pub closed: bool,
}

impl Shard {
    /// Queues `delivery` (callers queue in the log's order); returns whether the caller is
    /// now the one to [`Shard::drain`] the queue.
    #[must_use]
    pub fn enqueue(&self, delivery: &Arc<Delivery>) -> bool {
        let mut pending = lock(&self.pending);
        pending.queue.push_back(delivery.clone());
        !std::mem::replace(&mut pending.draining, true)
    }

    /// Delivers queued events, in order, until the queue is empty (including events queued
    /// meanwhile by others); returns how many frames reached a mailbox.
    pub fn drain(&self) -> u64 {
        let mut enqueued = 0;
        let mut batch = VecDeque::new();
        let mut wakers = Vec::new();
        loop {
            {
                let mut pending = lock(&self.pending);
                if pending.queue.is_empty() {
                    pending.draining = false;
                    return enqueued;
                }
                // Swapped, not taken: both buffers keep their capacity.
                std::mem::swap(&mut pending.queue, &mut batch);
            }
            {
                let mut members = self.members();
                for delivery in batch.drain(..) {
                    enqueued += members.deliver(&delivery, &mut wakers);
                }
            }
            // Outside the lock: a woken stream may run at once on another thread.
            for waker in wakers.drain(..) {
                waker.wake();
            }
        }
    }

    pub fn members(&self) -> MutexGuard<'_, Members> {
        lock(&self.members)
    }
}

impl Members {
    /// Queues an event to every member that selects it and may read it; returns how many
    /// took it.
    fn deliver(&mut self, delivery: &Delivery, wakers: &mut Vec<Waker>) -> u64 {
        let mut receivers = 0;
        let view = UpdateView::new(&delivery.topics, delivery.private);
        let mut push = |subscriber: &Subscriber| {
            let (taken, waker) = subscriber
                .mailbox
                .push_event(delivery.cursor, &delivery.frame);
            receivers += u64::from(taken);
            wakers.extend(waker);
        };
        for topic in delivery.topics.iter() {
            let Some(subscribers) = self.topics.get(topic) else {
                continue;
            };
            for chunk in subscribers.chunks(TOUCH_AHEAD) {
                // Their records are cold since the topic's last event: loaded together,
                // their cache misses overlap (see `Subscriber::touch`).
                chunk.iter().for_each(|subscriber| subscriber.touch());
                for subscriber in chunk {
                    if subscriber.selection.permits(&view) {
                        push(subscriber);
                    }
                }
            }
        }
        for group in self.scanning.iter() {
            // Members route alike: the first one answers for the group.
            if !group.members[0].selection.selects(&view) {
                continue;
            }
            for subscriber in &group.members {
                if subscriber.selection.permits(&view) {
                    push(subscriber);
                }
            }
        }
        self.last_delivered = Some(delivery.cursor);
        receivers
    }

    pub fn add(&mut self, subscriber: &Arc<Subscriber>) {
        for topic in &subscriber.selection.topics {
            self.topics
                .entry(topic.clone())
                .or_default()
                .push(subscriber.clone());
        }
        if subscriber.selection.scan {
            self.scanning.add(subscriber.clone());
        }
    }

    pub fn remove(&mut self, subscriber: &Arc<Subscriber>) {
        for topic in &subscriber.selection.topics {
            if let Some(list) = self.topics.get_mut(topic) {
                if let Some(i) = list.iter().position(|s| Arc::ptr_eq(s, subscriber)) {
                    list.swap_remove(i);
                }
                if list.is_empty() {
                    self.topics.remove(topic);
                }
            }
        }
        if subscriber.selection.scan {
            self.scanning.remove(subscriber);
        }
    }

    /// Closes every member's mailbox and refuses new members; returns the wakers to wake.
    pub fn close(&mut self) -> Vec<Waker> {
        self.closed = true;
        self.topics
            .values()
            .flatten()
            .chain(self.scanning.subscribers())
            .filter_map(|s| s.mailbox.close(CloseReason::Shutdown))
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the state consistent before anything that could panic
    // (allocation aside), so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
