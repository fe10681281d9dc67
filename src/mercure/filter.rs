//! How a Mercure subscription sits in the hub: which of its matchers go into the hub's exact
//! topic index, and the [`Filter`] that decides the rest (pattern matchers, and private
//! updates against the subscriber's grants).
//!
//! Routing and authorization stay apart, as the draft requires: the matchers select updates,
//! the token only decides whether a selected private update may be read.

use std::{collections::HashSet, sync::Arc};

use url::Url;

use super::access::Access;
use super::matcher::Matcher;
use crate::hub::{Filter, Selection, UpdateView};

/// The filter of one Mercure subscription.
#[derive(Debug)]
pub struct MercureFilter {
    /// Exact topics, checked here only when the subscription also scans (mixed matchers).
    exact: HashSet<Arc<str>>,
    /// Matchers the index cannot serve: URL patterns, URI templates, `*`.
    patterns: Vec<Matcher>,
    /// Whether the hub offers this subscriber every update (it has pattern matchers).
    scans: bool,
    /// The subscriber's grants; `None` for an anonymous subscriber (public updates only).
    access: Option<Arc<Access>>,
    hub_url: Arc<Url>,
}

/// The hub [`Selection`] of a subscription with `matchers` and the subscriber's grants.
///
/// All-exact subscriptions (the common case: one page following its resources) are indexed
/// by topic and cost nothing for unrelated updates. A subscription with any pattern is offered
/// every update; its exact matchers are then checked by the filter, so nothing is indexed
/// twice.
pub fn selection(
    matchers: Vec<Matcher>,
    access: Option<Arc<Access>>,
    hub_url: Arc<Url>,
) -> Selection {
    let mut exact = HashSet::new();
    let mut patterns = Vec::new();
    for matcher in matchers {
        match matcher {
            Matcher::Exact(topic) => {
                exact.insert(Arc::<str>::from(topic));
            }
            other => patterns.push(other),
        }
    }
    // `*` makes every other matcher redundant.
    if patterns.iter().any(|m| matches!(m, Matcher::Any)) {
        patterns.retain(|m| matches!(m, Matcher::Any));
        patterns.truncate(1);
        exact.clear();
    }
    let scans = !patterns.is_empty();
    let indexed: Vec<Arc<str>> = if scans {
        Vec::new()
    } else {
        exact.iter().cloned().collect()
    };
    let filter = MercureFilter {
        exact,
        patterns,
        scans,
        access,
        hub_url,
    };
    let mut selection = Selection::topics(indexed);
    selection.scan = scans;
    selection.filter = Some(Arc::new(filter));
    selection
}

impl MercureFilter {
    fn selects(&self, update: &UpdateView<'_>) -> bool {
        let topics = update.topics();
        if topics.iter().any(|t| self.exact.contains(t)) {
            return true;
        }
        if self.patterns.iter().any(|m| matches!(m, Matcher::Any)) {
            return true;
        }
        let needs_urls = self
            .patterns
            .iter()
            .any(|m| matches!(m, Matcher::UrlPattern(_)));
        if !needs_urls {
            return topics
                .iter()
                .any(|t| self.patterns.iter().any(|m| m.matches(t)));
        }
        let urls = update.resolved(&self.hub_url);
        topics.iter().zip(urls.iter()).any(|(topic, url)| {
            self.patterns
                .iter()
                .any(|m| m.matches_resolved(topic, url.as_ref()))
        })
    }
}

impl Filter for MercureFilter {
    fn accepts(&self, update: &UpdateView<'_>) -> bool {
        // An indexed subscriber was found through one of its exact topics: selected already.
        if self.scans && !self.selects(update) {
            return false;
        }
        if !update.private() {
            return true;
        }
        self.access
            .as_ref()
            .is_some_and(|access| access.can_receive(update, &self.hub_url))
    }
}
