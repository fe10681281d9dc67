//! What a subscriber receives. Topics named exactly are looked up in the hub's index (cheap
//! whatever the number of subscribers); a subscriber whose matchers cannot be indexed (URL
//! patterns, `*`) is offered every update and its [`Filter`] selects. A filter also decides
//! who may read private updates: without one, a subscriber gets public updates only.
//!
//! Routing and authorization are two questions on purpose: routing depends only on what was
//! asked for, so the many subscribers that ask the same (a scan group) share one answer per
//! update, while authorization is each subscriber's own.

use std::{
    cell::{OnceCell, RefCell},
    collections::HashMap,
    fmt,
    hash::{BuildHasherDefault, Hasher},
    sync::Arc,
};

use url::Url;

use super::log::Cursor;
use crate::sse::Mailbox;

/// Decides whether an update reaches a subscriber.
pub trait Filter: fmt::Debug + Send + Sync {
    /// Routing, for a subscriber offered every update ([`Selection::scan`]): whether the
    /// update is one it asked for. Not asked for updates found through the topic index. The
    /// answer must depend on the selection alone: subscribers of one
    /// [`Selection::scan_group`] share it.
    fn selects(&self, update: &UpdateView<'_>) -> bool;

    /// Authorization: whether an update that reached this subscriber (by the index or by
    /// [`Filter::selects`]) may be delivered to it. Private updates need a grant.
    fn permits(&self, update: &UpdateView<'_>) -> bool;
}

/// An update as filters see it: its topics (canonical first, then alternates), its privacy,
/// and the topics resolved as URL references, computed once per update for all filters.
///
/// Resolving is what URL-pattern matching costs most; without the shared resolution, one
/// update offered to 10,000 pattern subscribers would parse its topics 10,000 times.
pub struct UpdateView<'a> {
    topics: &'a [Arc<str>],
    private: bool,
    resolved: OnceCell<(Url, Vec<Option<Url>>)>,
    memo: RefCell<HashMap<usize, bool, BuildHasherDefault<AddressHasher>>>,
}

impl<'a> UpdateView<'a> {
    /// A view of an update with `topics` and the given privacy.
    pub fn new(topics: &'a [Arc<str>], private: bool) -> Self {
        Self {
            topics,
            private,
            resolved: OnceCell::new(),
            memo: RefCell::default(),
        }
    }

    /// The answer of `decide` for this update, computed once per `key`: filters that share
    /// a compiled matcher pass its address, so 10,000 subscriptions to one URL pattern cost
    /// one match per update, not 10,000.
    pub fn memo(&self, key: usize, decide: impl FnOnce() -> bool) -> bool {
        if let Some(&known) = self.memo.borrow().get(&key) {
            return known;
        }
        let answer = decide();
        self.memo.borrow_mut().insert(key, answer);
        answer
    }

    /// The topics, canonical first.
    pub fn topics(&self) -> &'a [Arc<str>] {
        self.topics
    }

    /// Whether the update is private.
    pub fn private(&self) -> bool {
        self.private
    }

    /// The topics resolved against `base` (`None` for a topic that is not a URL reference),
    /// in the order of [`UpdateView::topics`]. Computed on first use; a hub has one base
    /// URL, so a different `base` (never the case in practice) is resolved without caching.
    pub fn resolved(&self, base: &Url) -> std::borrow::Cow<'_, [Option<Url>]> {
        let resolve = || self.topics.iter().map(|t| base.join(t).ok()).collect();
        let (cached_base, urls) = self.resolved.get_or_init(|| (base.clone(), resolve()));
        if cached_base == base {
            std::borrow::Cow::Borrowed(urls)
        } else {
            std::borrow::Cow::Owned(resolve())
        }
    }
}

/// Hashes a memo key, an address: already unique, so only its alignment bits are dropped.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_usize(&mut self, n: usize) {
        // Spread the significant bits over the whole word for hashbrown's top-7-bit tags.
        self.0 = ((n as u64) >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl fmt::Debug for UpdateView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateView")
            .field("topics", &self.topics)
            .field("private", &self.private)
            .finish_non_exhaustive()
    }
}

/// A subscriber's choice of updates.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Topics matched exactly, through the hub's index.
    pub topics: Vec<Arc<str>>,
    /// Offer every update to the filter (matchers that cannot be indexed).
    pub scan: bool,
    /// Routing of scanning subscribers and authorization; `None` delivers the public
    /// updates of the indexed topics.
    pub filter: Option<Arc<dyn Filter>>,
    /// Scanning subscribers whose groups are equal select the same updates: the hub asks
    /// one of them per update, not each. `None`: asked alone.
    pub scan_group: Option<Arc<str>>,
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
            scan_group: None,
        }
    }

    /// Whether a scanning subscriber asked for `update`.
    pub(crate) fn selects(&self, update: &UpdateView<'_>) -> bool {
        self.filter.as_ref().is_some_and(|f| f.selects(update))
    }

    /// Whether an update that reached the subscriber may be delivered to it.
    pub(crate) fn permits(&self, update: &UpdateView<'_>) -> bool {
        match &self.filter {
            None => !update.private,
            Some(filter) => filter.permits(update),
        }
    }

    /// For replay, where there is no index: is the update one of ours, and may we read it?
    pub(crate) fn wants(&self, update: &UpdateView<'_>) -> bool {
        let selected = update.topics.iter().any(|t| self.topics.contains(t))
            || (self.scan && self.selects(update));
        selected && self.permits(update)
    }
}

/// A registered subscriber: its queue and its selection.
#[derive(Debug)]
pub struct Subscriber {
    pub(crate) mailbox: Mailbox<Cursor>,
    pub(crate) selection: Selection,
}

impl Subscriber {
    /// Loads what a delivery reads first (the mailbox's lock, the selection's filter), and
    /// nothing else: a delivery to many subscribers touches a few of them ahead, so that
    /// their cache misses overlap instead of coming one after the other.
    pub(crate) fn touch(&self) {
        self.mailbox.touch();
        std::hint::black_box(self.selection.filter.is_some());
    }
}
