//! The in-memory pub/sub hub: topics, their subscribers' mailboxes, the event history and
//! `Last-Event-ID` resumption.
//!
//! One mutex orders everything that must be ordered: assigning an id, appending to the
//! history, pushing to live subscribers, and registering a new subscriber together with the
//! point where its replay ends. That is what makes replay-then-live free of gaps and
//! duplicates while publishers are busy. The critical sections are short (a memcpy of the
//! frame and one push per subscriber of the topic); encoding happens before the lock and
//! waking subscribers after it.

pub mod history;
pub mod mailbox;
pub mod topic;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    task::{Context, Poll, Waker},
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;

use crate::sse::event::{check_field, encode_body, prepend_id, EventFields, FieldError};
use history::{is_generated_id, History, ResumeFrom, StoredEvent};
use mailbox::{CloseReason, Mailbox, Taken};
pub use topic::{TopicError, TopicName};

/// Settings of the hub, validated by [`crate::config`].
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Most events kept for replay, all topics together.
    pub history_max_events: usize,
    /// Most bytes of encoded events kept for replay.
    pub history_max_bytes: usize,
    /// Most events queued for one subscriber before its stream is ended.
    pub subscriber_queue: usize,
    /// Most topics one stream may subscribe to.
    pub max_topics_per_subscription: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            history_max_events: 10_000,
            history_max_bytes: 16 << 20,
            subscriber_queue: 256,
            max_topics_per_subscription: 64,
        }
    }
}

/// The hub. Shared as `Arc<Hub>` by every connection.
#[derive(Debug)]
pub struct Hub {
    state: Mutex<State>,
    config: HubConfig,
    stats: Counters,
}

#[derive(Debug)]
struct State {
    next_seq: u64,
    history: History,
    topics: HashMap<Arc<str>, Vec<Arc<Mailbox>>>,
    closed: bool,
}

#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    enqueued: AtomicU64,
    overflows: AtomicU64,
    subscriptions: AtomicU64,
    active: AtomicU64,
}

/// A point-in-time view of the hub's counters.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct HubStats {
    /// Events published since start.
    pub published: u64,
    /// Frames queued to subscribers since start (one per event per subscriber).
    pub enqueued: u64,
    /// Streams ended because their subscriber fell behind.
    pub overflows: u64,
    /// Subscriptions opened since start.
    pub subscriptions: u64,
    /// Subscriptions open now.
    pub active_subscriptions: u64,
    /// Topics with at least one subscriber now.
    pub active_topics: usize,
    /// Events retained for replay.
    pub history_events: usize,
    /// Bytes of events retained for replay.
    pub history_bytes: usize,
}

/// What a successful publish returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The event's id.
    pub id: String,
    /// How many subscribers it was queued to.
    pub receivers: usize,
}

/// Why a publish was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The publisher's id contains CR, LF or NUL.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// The publisher's id is all digits: that shape is reserved for the hub's own ids.
    #[error("`id` must not consist of digits only: such ids are the hub's own")]
    ReservedId,
    /// The publisher's id is empty.
    #[error("`id` must not be empty")]
    EmptyId,
    /// An event with this id is still in the history.
    #[error("an event with id {0:?} was already published")]
    DuplicateId(String),
    /// The hub is shutting down.
    #[error("the hub is shutting down")]
    Closed,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// No topic was named.
    #[error("no topic given")]
    NoTopic,
    /// More topics than the configured maximum.
    #[error("too many topics: at most {0} per stream")]
    TooManyTopics(usize),
    /// The hub is shutting down.
    #[error("the hub is shutting down")]
    Closed,
}

/// How a subscription's replay relates to the `Last-Event-ID` it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// No `Last-Event-ID`: live events only.
    Live,
    /// Every event after the requested id is replayed.
    Complete,
    /// The id is unknown or older than the history: everything retained is replayed, and
    /// events may have been missed.
    Gap,
}

/// What a subscription yields next.
#[derive(Debug)]
pub enum Next {
    /// Frames were appended to the caller's buffer.
    Frames,
    /// Events were evicted from the history before the replay reached them.
    HistoryGap,
    /// The subscription is over (after every queued frame was taken).
    Closed(CloseReason),
}

/// A subscriber's registration. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<Hub>,
    mailbox: Arc<Mailbox>,
    topics: Box<[TopicName]>,
    replay: Option<Replay>,
    resume: Resume,
}

/// The part of the history still to replay: sequence numbers `next..end`. Live events
/// start at `end`, so the two never overlap.
#[derive(Debug)]
struct Replay {
    next: u64,
    end: u64,
}

impl Hub {
    /// An empty hub. Ids start at the current time in microseconds, so the ids of a
    /// restarted hub are above those of its previous run and an old `Last-Event-ID` is
    /// reported as a gap instead of matching an unrelated event.
    pub fn new(config: HubConfig) -> Arc<Self> {
        let first_seq = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2));
        Self::with_first_seq(config, first_seq)
    }

    fn with_first_seq(config: HubConfig, first_seq: u64) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                next_seq: first_seq,
                history: History::new(config.history_max_events, config.history_max_bytes),
                topics: HashMap::new(),
                closed: false,
            }),
            config,
            stats: Counters::default(),
        })
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Publishes `data` to `topic`: assigns an id (the publisher's `id` if given), keeps the
    /// event in the history and queues it to every subscriber of the topic.
    pub fn publish(
        &self,
        topic: &TopicName,
        id: Option<String>,
        fields: &EventFields,
        data: &str,
    ) -> Result<Published, PublishError> {
        if let Some(id) = &id {
            check_field("id", id)?;
            if id.is_empty() {
                return Err(PublishError::EmptyId);
            }
            if is_generated_id(id) {
                return Err(PublishError::ReservedId);
            }
        }
        let body = encode_body(fields, data);
        let mut wakers: Vec<Waker> = Vec::new();
        let (id, receivers) = {
            let mut state = self.lock();
            if state.closed {
                return Err(PublishError::Closed);
            }
            if let Some(id) = &id {
                if state.history.has_custom_id(id) {
                    return Err(PublishError::DuplicateId(id.clone()));
                }
            }
            let seq = state.next_seq;
            state.next_seq += 1;
            let id = id.unwrap_or_else(|| seq.to_string());
            let frame = prepend_id(&id, &body);
            let mut receivers = 0;
            if let Some(mailboxes) = state.topics.get(topic.as_str()) {
                receivers = mailboxes.len();
                wakers.reserve(receivers);
                wakers.extend(mailboxes.iter().filter_map(|m| m.push(&frame)));
            }
            state.history.push(StoredEvent {
                seq,
                custom_id: (!is_generated_id(&id)).then(|| id.clone().into_boxed_str()),
                topic: topic.shared().clone(),
                frame,
            });
            (id, receivers)
        };
        for waker in wakers {
            waker.wake();
        }
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        self.stats
            .enqueued
            .fetch_add(receivers as u64, Ordering::Relaxed);
        Ok(Published { id, receivers })
    }

    /// Subscribes to `topics`. With `last_event_id`, the retained events after that id are
    /// replayed first (see [`Subscription::resume`]).
    pub fn subscribe(
        self: &Arc<Self>,
        topics: Vec<TopicName>,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, SubscribeError> {
        let mut topics = topics;
        topics.sort();
        topics.dedup();
        if topics.is_empty() {
            return Err(SubscribeError::NoTopic);
        }
        if topics.len() > self.config.max_topics_per_subscription {
            return Err(SubscribeError::TooManyTopics(
                self.config.max_topics_per_subscription,
            ));
        }
        let mailbox = Arc::new(Mailbox::new(self.config.subscriber_queue));
        let (replay, resume) = {
            let mut state = self.lock();
            if state.closed {
                return Err(SubscribeError::Closed);
            }
            for topic in &topics {
                state
                    .topics
                    .entry(topic.shared().clone())
                    .or_default()
                    .push(mailbox.clone());
            }
            let end = state.next_seq;
            match last_event_id {
                None => (None, Resume::Live),
                Some(id) => match state.history.resume_from(id, end) {
                    ResumeFrom::Exact(next) => (Some(Replay { next, end }), Resume::Complete),
                    ResumeFrom::Gap(next) => (Some(Replay { next, end }), Resume::Gap),
                },
            }
        };
        self.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
        self.stats.active.fetch_add(1, Ordering::Relaxed);
        Ok(Subscription {
            hub: self.clone(),
            mailbox,
            topics: topics.into_boxed_slice(),
            replay: replay.filter(|r| r.next < r.end),
            resume,
        })
    }

    /// Ends every subscription (after the frames already queued) and refuses new
    /// publishes and subscriptions: graceful shutdown needs every stream to end.
    pub fn shutdown(&self) {
        let wakers: Vec<Waker> = {
            let mut state = self.lock();
            state.closed = true;
            state
                .topics
                .values()
                .flatten()
                .filter_map(|m| m.close(CloseReason::Shutdown))
                .collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// The hub's counters.
    pub fn stats(&self) -> HubStats {
        let (active_topics, history_events, history_bytes) = {
            let state = self.lock();
            (
                state.topics.len(),
                state.history.len(),
                state.history.bytes(),
            )
        };
        HubStats {
            published: self.stats.published.load(Ordering::Relaxed),
            enqueued: self.stats.enqueued.load(Ordering::Relaxed),
            overflows: self.stats.overflows.load(Ordering::Relaxed),
            subscriptions: self.stats.subscriptions.load(Ordering::Relaxed),
            active_subscriptions: self.stats.active.load(Ordering::Relaxed),
            active_topics,
            history_events,
            history_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before anything that could
        // panic (allocation aside), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn unsubscribe(&self, mailbox: &Arc<Mailbox>, topics: &[TopicName]) {
        let mut state = self.lock();
        for topic in topics {
            if let Some(list) = state.topics.get_mut(topic.as_str()) {
                if let Some(i) = list.iter().position(|m| Arc::ptr_eq(m, mailbox)) {
                    list.swap_remove(i);
                }
                if list.is_empty() {
                    state.topics.remove(topic.as_str());
                }
            }
        }
    }
}

impl Subscription {
    /// How the replay relates to the requested `Last-Event-ID`.
    pub fn resume(&self) -> &Resume {
        &self.resume
    }

    /// The subscribed topics, sorted and without duplicates.
    pub fn topics(&self) -> &[TopicName] {
        &self.topics
    }

    /// Appends up to `max` frames to `out`: first the replay from the history, then live
    /// events from the mailbox. Pending (with the waker registered) when there is nothing.
    pub fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        out: &mut Vec<Bytes>,
    ) -> Poll<Next> {
        if self.replay.is_some() {
            if let Some(next) = self.take_replay(max, out) {
                return Poll::Ready(next);
            }
        }
        match self.mailbox.poll_take(cx, max, out) {
            Poll::Ready(Taken::Frames) => Poll::Ready(Next::Frames),
            Poll::Ready(Taken::Closed(reason)) => {
                if reason == CloseReason::Overflow {
                    self.hub.stats.overflows.fetch_add(1, Ordering::Relaxed);
                }
                Poll::Ready(Next::Closed(reason))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Reads the next replay batch under the hub lock. `None` once the replay is done.
    fn take_replay(&mut self, max: usize, out: &mut Vec<Bytes>) -> Option<Next> {
        let replay = self.replay.as_mut()?;
        let state = self.hub.lock();
        let oldest = state.history.oldest_seq().unwrap_or(replay.end);
        if replay.next < oldest.min(replay.end) {
            // Evicted while this subscriber was reading the replay: say so, then go on
            // from what is left.
            replay.next = oldest.min(replay.end);
            return Some(Next::HistoryGap);
        }
        let start_len = out.len();
        while replay.next < replay.end && out.len() - start_len < max {
            let Some(event) = state.history.get(replay.next) else {
                break;
            };
            replay.next += 1;
            if self.topics.iter().any(|t| *t.shared() == event.topic) {
                out.push(event.frame.clone());
            }
        }
        let done = replay.next >= replay.end;
        drop(state);
        if done {
            self.replay = None;
        }
        if out.len() > start_len {
            Some(Next::Frames)
        } else {
            None
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.mailbox, &self.topics);
        self.hub.stats.active.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
