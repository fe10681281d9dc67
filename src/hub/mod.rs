//! The pub/sub hub: topics, the event log and `Last-Event-ID` resumption, subscribers'
//! mailboxes. Two parts with one seam between them:
//!
//! - the [`Log`] orders events, assigns ids, retains them for replay and finds them by id;
//!   [`MemoryLog`] is the embedded default;
//! - the [`Router`] holds this node's subscribers (topic index, scan groups, mailboxes) and
//!   queues each event the log hands it to those that select it.
//!
//! [`Hub`] ties them together for the front doors: it checks and encodes an update once,
//! appends it to the log, and registers subscriptions with the router at a hand-over point
//! from which the log replays and the router delivers live, without gap or duplicate.
//!
//! Owns: topics, the log, the router, subscriptions. Imports only `sse` (encoding, mailboxes,
//! stream types) and `config` (its settings); never a front door or the edge.

pub mod directory;
pub mod history;
pub mod log;
mod memory_log;
mod router;
mod scan;
pub mod selection;
mod shard;
mod subscription;
pub mod topic;

use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Arc,
};

use futures_util::FutureExt;

use crate::sse::{
    event::{check_field, encode_body, EventFields, FieldError},
    Mailbox, Resume,
};
pub use directory::{Directory, ListFuture};
use history::is_generated_id;
pub use log::{
    AppendFuture, Appended, Cursor, Entry, Log, LogStats, LookupFuture, NewEvent, Read, ReadFuture,
    Wants,
};
pub use memory_log::MemoryLog;
pub use router::Router;
use selection::Subscriber;
pub use selection::{Filter, Selection, UpdateView};
use subscription::Replay;
pub use subscription::Subscription;
pub use topic::{TopicError, TopicName};

pub use crate::config::HubConfig;

/// The hub. Shared as `Arc<Hub>` by every connection.
#[derive(Debug)]
pub struct Hub {
    log: Arc<dyn Log>,
    router: Arc<Router>,
    config: HubConfig,
    closed: AtomicBool,
    stats: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    overflows: AtomicU64,
    /// Subscribers that fell behind through the server's lag and caught up from the log.
    catch_ups: AtomicU64,
    subscriptions: AtomicU64,
    active: AtomicU64,
    /// Subscriptions refused because the hub was full.
    refused: AtomicU64,
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
    /// Times a subscriber's queue filled while its client took everything written (the
    /// server fell behind): the events it missed were read from the log instead of the
    /// stream ending.
    pub catch_ups: u64,
    /// Subscriptions opened since start.
    pub subscriptions: u64,
    /// Subscriptions open now.
    pub active_subscriptions: u64,
    /// Subscriptions refused because the hub served its most (`hub.max_subscribers`).
    pub refused_subscriptions: u64,
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
    /// The shared log did not take the event (unreachable, or too slow): it was not stored.
    #[error("the shared log is unavailable; try again")]
    Unavailable,
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
    /// The hub serves as many streams as it may (`hub.max_subscribers`).
    #[error("the hub serves its most streams ({0}); retry later")]
    Full(u64),
}

impl Hub {
    /// A hub on the embedded [`MemoryLog`].
    pub fn new(config: HubConfig) -> Arc<Self> {
        Self::with_log(config, |config, router| {
            Arc::new(MemoryLog::new(
                config.history_max_events,
                config.history_max_bytes,
                router,
            ))
        })
    }

    /// A hub on `log`, which delivers to `router` (a log that must connect first, such as the
    /// cluster's, is built around the router before the hub).
    pub fn with_parts(config: HubConfig, router: Arc<Router>, log: Arc<dyn Log>) -> Arc<Self> {
        Arc::new(Self {
            log,
            router,
            config,
            closed: AtomicBool::new(false),
            stats: Counters::default(),
        })
    }

    /// A hub on the log `make_log` builds around the hub's router (the log hands the router
    /// every appended event).
    pub fn with_log(
        config: HubConfig,
        make_log: impl FnOnce(&HubConfig, Arc<Router>) -> Arc<dyn Log>,
    ) -> Arc<Self> {
        let router = Arc::new(Router::new());
        let log = make_log(&config, router.clone());
        Self::with_parts(config, router, log)
    }

    /// Times sampled deliveries with `probe` (see [`crate::metrics::LatencyProbe`]).
    pub fn set_latency_probe(&self, probe: Arc<crate::metrics::LatencyProbe>) {
        self.router.set_latency_probe(probe);
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Publishes `data` to `topic`: the log assigns an id (the publisher's `id` if given)
    /// and keeps the event for replay, and every subscriber of the topic gets it.
    pub async fn publish(
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
        .await
    }

    /// Publishes an update to all its topics: each subscriber that selects any of them (and
    /// whose filter accepts it, for private updates) gets it exactly once.
    pub async fn publish_update(&self, update: Update<'_>) -> Result<Published, PublishError> {
        let event = self.prepare(update)?;
        let appended = self.log.append(event).await?;
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        Ok(Published {
            id: appended.id.to_string(),
        })
    }

    /// Publishes an update from code that cannot wait (a stream being dropped): at once
    /// when the log answers at once, else on a task of its own. Failures are dropped: they
    /// happen only when the hub is closing.
    pub fn publish_detached(self: &Arc<Self>, update: Update<'_>) {
        let Ok(event) = self.prepare(update) else {
            return;
        };
        let mut append = self.log.append(event);
        let hub = self.clone();
        let count = move |result: Result<Appended, PublishError>| {
            if result.is_ok() {
                hub.stats.published.fetch_add(1, Ordering::Relaxed);
            }
        };
        if let Some(result) = (&mut append).now_or_never() {
            count(result);
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(append.map(count))),
            // Only a log that answers later, used outside any runtime, gets here.
            Err(_) => {
                tracing::warn!("an update was dropped: no runtime to complete its publication")
            }
        }
    }

    /// Checks an update and encodes it once, for every subscriber and the log.
    fn prepare(&self, update: Update<'_>) -> Result<NewEvent, PublishError> {
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
            // event; Mercure publishers may choose any id (the log looks theirs up first).
            if unique_id && is_generated_id(id) {
                return Err(PublishError::ReservedId);
            }
        }
        if self.closed.load(Ordering::Relaxed) {
            return Err(PublishError::Closed);
        }
        Ok(NewEvent {
            topics: topics.into_boxed_slice(),
            private,
            id,
            unique_id,
            body: encode_body(fields, data),
        })
    }

    /// Subscribes to `topics`. With `last_event_id`, the retained events after that id are
    /// replayed first (see [`Subscription::resume`]).
    pub async fn subscribe(
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
        self.subscribe_selection(selection, last_event_id).await
    }

    /// Subscribes with a general [`Selection`] (exact topics, a filter offered every
    /// update, or both).
    ///
    /// The id is looked up first, then the subscriber registers with the router, which
    /// names the hand-over point: events after it arrive live, events up to it (and after
    /// the id) are replayed from the log. Should the id be past the hand-over point (a log
    /// that delivers later than it answers), the mailbox refuses live events up to the id.
    pub async fn subscribe_selection(
        self: &Arc<Self>,
        selection: Selection,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, SubscribeError> {
        if selection.topics.is_empty() && !selection.scan {
            return Err(SubscribeError::NoTopic);
        }
        let max = self.config.max_subscribers;
        if max > 0 && self.stats.active.load(Ordering::Relaxed) >= max {
            let refused = self.stats.refused.fetch_add(1, Ordering::Relaxed) + 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    max,
                    refused,
                    "the hub serves its most streams: refusing new ones (503)"
                );
            }
            return Err(SubscribeError::Full(max));
        }
        let known = match last_event_id {
            Some(id) => self.log.lookup(id).await,
            None => None,
        };
        let subscriber = Arc::new(Subscriber {
            mailbox: Mailbox::starting_after(self.config.subscriber_queue, known).catching_up(),
            selection,
        });
        let handover = self
            .router
            .register(&subscriber)
            .map_err(|_| SubscribeError::Closed)?;
        let (replay, resume) = match (last_event_id, known) {
            (None, _) => (None, Resume::Live),
            (Some(_), None) => (
                handover.map(|until| Replay::new(&subscriber, None, until)),
                Resume::Gap,
            ),
            (Some(_), Some(after)) => match handover.filter(|&until| after < until) {
                None => (None, Resume::Complete),
                Some(until) => {
                    // A read of nothing says whether events after the id were evicted.
                    let nothing: Wants = Arc::new(|_| false);
                    let probe = self.log.read(Some(after), until, 0, &nothing).await;
                    let resume = if probe.gap {
                        Resume::Gap
                    } else {
                        Resume::Complete
                    };
                    let after = if probe.gap { probe.next } else { Some(after) };
                    (Some(Replay::new(&subscriber, after, until)), resume)
                }
            },
        };
        self.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
        self.stats.active.fetch_add(1, Ordering::Relaxed);
        Ok(Subscription {
            hub: self.clone(),
            subscriber,
            replay: replay.map(Box::new),
            resume,
        })
    }

    /// Ends every subscription (after the frames already queued) and refuses new
    /// publishes and subscriptions: graceful shutdown needs every stream to end.
    pub fn shutdown(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.router.close();
    }

    /// The id of the last event delivered since start, retained in the log or not: the
    /// cursor a client passes back as `Last-Event-ID` to miss nothing from now on.
    pub fn last_event_id(&self) -> Option<Arc<str>> {
        self.router.last_id()
    }

    /// The hub's counters.
    pub fn stats(&self) -> HubStats {
        let log = self.log.stats();
        HubStats {
            published: self.stats.published.load(Ordering::Relaxed),
            enqueued: self.router.enqueued(),
            overflows: self.stats.overflows.load(Ordering::Relaxed),
            catch_ups: self.stats.catch_ups.load(Ordering::Relaxed),
            subscriptions: self.stats.subscriptions.load(Ordering::Relaxed),
            active_subscriptions: self.stats.active.load(Ordering::Relaxed),
            refused_subscriptions: self.stats.refused.load(Ordering::Relaxed),
            active_topics: self.router.active_topics(),
            history_events: log.events,
            history_bytes: log.bytes,
        }
    }
}

#[cfg(test)]
mod tests;
