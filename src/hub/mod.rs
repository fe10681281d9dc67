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
mod scan;
pub mod selection;
mod subscription;
pub mod topic;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    task::Waker,
    time::{SystemTime, UNIX_EPOCH},
};

use crate::sse::event::{check_field, encode_body, prepend_id, EventFields, FieldError};
use history::{is_generated_id, History, ResumeFrom, StoredEvent};
use mailbox::{CloseReason, Mailbox};
use scan::ScanGroups;
use selection::Subscriber;
pub use selection::{Filter, Selection, UpdateView};
use subscription::Replay;
pub use subscription::Subscription;
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
    /// Subscribers by exact topic.
    topics: HashMap<Arc<str>, Vec<Arc<Subscriber>>>,
    /// Subscribers offered every update (pattern matchers), by scan group.
    scanning: ScanGroups,
    /// The id of the last event published, retained or not.
    last_id: Option<Arc<str>>,
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
    /// The update names no topic.
    #[error("an update needs at least one topic")]
    NoTopic,
    /// The hub is shutting down.
    #[error("the hub is shutting down")]
    Closed,
}

/// One update to publish: the general form behind [`Hub::publish`].
#[derive(Debug, Clone)]
pub struct Update<'a> {
    /// The canonical topic first, then alternates; subscribers of any of them get it once.
    pub topics: Vec<Arc<str>>,
    /// Private updates reach only subscribers whose [`Filter`] accepts them.
    pub private: bool,
    /// The publisher's id, if it chose one.
    pub id: Option<String>,
    /// Refuse an `id` that a retained event already carries ([`PublishError::DuplicateId`]).
    /// When false, the id is reused and a `Last-Event-ID` naming it resumes after the
    /// earliest retained event carrying it (the Mercure draft's rule).
    pub unique_id: bool,
    /// Event type and retry.
    pub fields: &'a EventFields,
    /// The data.
    pub data: &'a str,
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
                scanning: ScanGroups::default(),
                last_id: None,
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
        self.publish_update(Update {
            topics: vec![topic.shared().clone()],
            private: false,
            id,
            unique_id: true,
            fields,
            data,
        })
    }

    /// Publishes an update to all its topics: each subscriber that selects any of them (and
    /// whose filter accepts it, for private updates) gets it exactly once.
    pub fn publish_update(&self, update: Update<'_>) -> Result<Published, PublishError> {
        let Update {
            topics,
            private,
            id,
            unique_id,
            fields,
            data,
        } = update;
        if topics.is_empty() {
            return Err(PublishError::NoTopic);
        }
        if let Some(id) = &id {
            check_field("id", id)?;
            if id.is_empty() {
                return Err(PublishError::EmptyId);
            }
            // The native API keeps digit-only ids for the hub's own, so that an id names one
            // event; Mercure publishers may choose any id (the history looks theirs up first).
            if unique_id && is_generated_id(id) {
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
            if let Some(id) = id.as_ref().filter(|_| unique_id) {
                if state.history.has_custom_id(id) {
                    return Err(PublishError::DuplicateId(id.clone()));
                }
            }
            let seq = state.next_seq;
            state.next_seq += 1;
            let chosen = id.is_some();
            let id = id.unwrap_or_else(|| seq.to_string());
            let frame = prepend_id(&id, &body);
            let mut receivers = 0;
            let view = UpdateView::new(&topics, private);
            let mut deliver = |subscriber: &Subscriber| {
                let (taken, waker) = subscriber.mailbox.push_event(seq, &frame);
                receivers += usize::from(taken);
                wakers.extend(waker);
            };
            for topic in &topics {
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
            state.last_id = Some(Arc::from(id.as_str()));
            state.history.push(StoredEvent {
                seq,
                custom_id: chosen.then(|| id.clone().into_boxed_str()),
                topics: topics.into_boxed_slice(),
                private,
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
        let selection = Selection::topics(topics.iter().map(|t| t.shared().clone()));
        if selection.topics.len() > self.config.max_topics_per_subscription {
            return Err(SubscribeError::TooManyTopics(
                self.config.max_topics_per_subscription,
            ));
        }
        self.subscribe_selection(selection, last_event_id)
    }

    /// Subscribes with a general [`Selection`] (exact topics, a filter offered every
    /// update, or both).
    pub fn subscribe_selection(
        self: &Arc<Self>,
        selection: Selection,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, SubscribeError> {
        if selection.topics.is_empty() && !selection.scan {
            return Err(SubscribeError::NoTopic);
        }
        let subscriber = Arc::new(Subscriber {
            mailbox: Mailbox::new(self.config.subscriber_queue),
            selection,
        });
        let (replay, resume) = {
            let mut state = self.lock();
            if state.closed {
                return Err(SubscribeError::Closed);
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
            subscriber,
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
                .chain(state.scanning.subscribers())
                .filter_map(|s| s.mailbox.close(CloseReason::Shutdown))
                .collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// The id of the last event published since start, retained in the history or not:
    /// the cursor a client passes back as `Last-Event-ID` to miss nothing from now on.
    pub fn last_event_id(&self) -> Option<Arc<str>> {
        self.lock().last_id.clone()
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

    fn unsubscribe(&self, subscriber: &Arc<Subscriber>) {
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
}

#[cfg(test)]
mod tests;
