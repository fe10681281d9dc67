//! What a subscriber receives. Topics named exactly are looked up in the hub's index (cheap
//! whatever the number of subscribers); a subscriber whose matchers cannot be indexed (URL
//! patterns, `*`) is offered every update and decides with its [`Filter`]. A filter also
//! decides who sees private updates: without one, a subscriber gets public updates only.

use std::{fmt, sync::Arc};

use super::mailbox::Mailbox;

/// Decides whether an update reaches a subscriber.
pub trait Filter: fmt::Debug + Send + Sync {
    /// True when an update with `topics` (canonical first, then alternates) and the given
    /// privacy should be delivered.
    fn accepts(&self, topics: &[Arc<str>], private: bool) -> bool;
}

/// A subscriber's choice of updates.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Topics matched exactly, through the hub's index.
    pub topics: Vec<Arc<str>>,
    /// Offer every update to the filter (matchers that cannot be indexed).
    pub scan: bool,
    /// The final say on delivery; `None` accepts public updates of the indexed topics.
    pub filter: Option<Arc<dyn Filter>>,
}

impl Selection {
    /// Exact topics, public updates only: the native `/events` API.
    pub fn topics(topics: impl IntoIterator<Item = Arc<str>>) -> Self {
        let mut topics: Vec<Arc<str>> = topics.into_iter().collect();
        topics.sort();
        topics.dedup();
        Self {
            topics,
            scan: false,
            filter: None,
        }
    }

    /// For a subscriber found through the index (or scanning): does the filter agree?
    pub(crate) fn accepts(&self, topics: &[Arc<str>], private: bool) -> bool {
        match &self.filter {
            None => !private,
            Some(filter) => filter.accepts(topics, private),
        }
    }

    /// For replay, where there is no index: is the update one of ours at all?
    pub(crate) fn wants(&self, topics: &[Arc<str>], private: bool) -> bool {
        let candidate = self.scan || topics.iter().any(|t| self.topics.contains(t));
        candidate && self.accepts(topics, private)
    }
}

/// A registered subscriber: its queue and its selection.
#[derive(Debug)]
pub struct Subscriber {
    pub(crate) mailbox: Mailbox,
    pub(crate) selection: Selection,
}
