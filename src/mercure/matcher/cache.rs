//! A bounded cache of compiled selectors, so that checking a token's grants on every publish
//! and every private update does not recompile its URL patterns and URI templates.
//!
//! Tokens repeat: many subscribers present the same token or tokens from the same issuer
//! template, and one token is checked against every update its connection sees. Compiling a
//! URL pattern builds eight regular expressions; looking one up here costs a hash of its text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use url::Url;

use super::{
    compile, parse_legacy_selector, parse_query_with, selector_matcher, Matcher, MatcherError,
    MatcherLimits, MatcherType, TopicMatcher,
};

/// Default for [`MatcherCache::new`]'s capacity: enough for the distinct selectors of a busy
/// hub's tokens, at a few KiB per compiled URL pattern.
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

/// Compiled selectors of the 1.0 topic matcher lists and of pre-1.0 `mercure` claims, keyed
/// by their text and type, under one hub URL and one set of limits.
///
/// When full, the cache is emptied before the next insertion: a flood of distinct selectors
/// costs recompilation, never memory or wrong answers. Errors are not cached.
#[derive(Debug)]
pub struct MatcherCache {
    hub_url: Url,
    limits: MatcherLimits,
    capacity: usize,
    entries: Mutex<HashMap<(Kind, String), Arc<Matcher>>>,
}

/// Which rules compiled an entry: the same text means different things under each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Exact,
    UrlPattern,
    Legacy,
}

impl MatcherCache {
    /// An empty cache holding at most `capacity` compiled selectors (at least one).
    pub fn new(hub_url: Url, limits: MatcherLimits, capacity: usize) -> Self {
        Self {
            hub_url,
            limits,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// [`selector_matcher`], compiled once per distinct `(match_type, value)`; an absent
    /// `match_type` and `exact` share an entry.
    pub fn selector_matcher(
        &self,
        match_type: Option<&str>,
        value: &str,
    ) -> Result<Arc<Matcher>, MatcherError> {
        let kind = match match_type {
            None | Some("exact") => Kind::Exact,
            Some("urlpattern") => Kind::UrlPattern,
            // Unknown types fail in `selector_matcher`, with the error the caller needs.
            Some(_) => {
                return selector_matcher(match_type, value, &self.hub_url, &self.limits)
                    .map(Arc::new)
            }
        };
        self.get_or_compile(kind, value, || {
            selector_matcher(match_type, value, &self.hub_url, &self.limits)
        })
    }

    /// [`super::parse_subscription_query`] under this cache's hub URL and limits, each
    /// pattern compiled once for all the subscriptions that use it: 10,000 subscribers of
    /// one URL pattern then hold one compiled pattern, not 10,000.
    pub fn parse_subscription_query(&self, query: &str) -> Result<Vec<TopicMatcher>, MatcherError> {
        parse_query_with(query, &self.limits, |match_type, value, parameter| {
            let kind = match match_type {
                MatcherType::Exact => {
                    return compile(match_type, value, parameter, &self.hub_url, &self.limits)
                }
                MatcherType::UrlPattern => Kind::UrlPattern,
            };
            let compiled = self.get_or_compile(kind, &value, || {
                compile(
                    match_type,
                    value.clone(),
                    parameter,
                    &self.hub_url,
                    &self.limits,
                )
            })?;
            Ok((*compiled).clone())
        })
    }

    /// [`parse_legacy_selector`], compiled once per distinct selector.
    pub fn legacy_selector(&self, value: &str) -> Result<Arc<Matcher>, MatcherError> {
        self.get_or_compile(Kind::Legacy, value, || {
            parse_legacy_selector(value, &self.limits)
        })
    }

    /// How many compiled selectors the cache holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get_or_compile(
        &self,
        kind: Kind,
        value: &str,
        compile: impl FnOnce() -> Result<Matcher, MatcherError>,
    ) -> Result<Arc<Matcher>, MatcherError> {
        let key = (kind, value.to_owned());
        if let Some(found) = self.lock().get(&key) {
            return Ok(Arc::clone(found));
        }
        // Compiled outside the lock: other lookups go on meanwhile. Two threads may compile
        // the same selector; both results are equal and the second insert wins.
        let matcher = Arc::new(compile()?);
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, Arc::clone(&matcher));
        Ok(matcher)
    }

    /// The map; a panic elsewhere while holding the lock leaves it consistent (every entry is
    /// inserted whole), so a poisoned lock is still usable.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Kind, String), Arc<Matcher>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize) -> MatcherCache {
        let hub = Url::parse("https://example.com/.well-known/mercure").unwrap();
        MatcherCache::new(hub, MatcherLimits::default(), capacity)
    }

    #[test]
    fn subscriptions_to_one_pattern_share_its_compilation() {
        let cache = cache(8);
        let query = "match_urlpattern=https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid&match=a";
        let first = cache.parse_subscription_query(query).unwrap();
        let second = cache.parse_subscription_query(query).unwrap();
        assert_eq!(first, second);
        assert!(first[0].matcher.memo_key().is_some());
        assert_eq!(first[0].matcher.memo_key(), second[0].matcher.memo_key());
        assert_eq!(first[1].matcher.memo_key(), None);
        // Errors name the subscription parameter, as without the cache.
        let err = cache
            .parse_subscription_query("match_urlpattern=(")
            .unwrap_err();
        assert!(err.to_string().contains("match_urlpattern"), "{err}");
    }

    #[test]
    fn repeated_selectors_are_compiled_once() {
        let cache = cache(8);
        let a = cache
            .selector_matcher(Some("urlpattern"), "https://example.com/books/:id")
            .unwrap();
        let b = cache
            .selector_matcher(Some("urlpattern"), "https://example.com/books/:id")
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a.matches("https://example.com/books/1"));
        assert_eq!(cache.len(), 1);
        // Absent and explicit `exact` share an entry.
        let c = cache.selector_matcher(None, "x").unwrap();
        let d = cache.selector_matcher(Some("exact"), "x").unwrap();
        assert!(Arc::ptr_eq(&c, &d));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn the_same_text_under_different_rules_is_kept_apart() {
        let cache = cache(8);
        let text = "https://example.com/books/:id";
        let exact = cache.selector_matcher(None, text).unwrap();
        let pattern = cache.selector_matcher(Some("urlpattern"), text).unwrap();
        let legacy = cache
            .legacy_selector("https://example.com/books/{id}")
            .unwrap();
        assert!(!exact.matches("https://example.com/books/1"));
        assert!(pattern.matches("https://example.com/books/1"));
        assert!(legacy.matches("https://example.com/books/1"));
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn errors_are_returned_and_not_cached() {
        let cache = cache(8);
        assert!(matches!(
            cache.selector_matcher(Some("glob"), "x"),
            Err(MatcherError::UnknownMatchType { .. })
        ));
        assert!(matches!(
            cache.selector_matcher(Some("urlpattern"), "https://example.com/("),
            Err(MatcherError::InvalidUrlPattern { .. })
        ));
        assert!(cache.is_empty());
    }

    #[test]
    fn a_full_cache_starts_over_instead_of_growing() {
        let cache = cache(3);
        for i in 0..10 {
            cache.selector_matcher(None, &format!("t{i}")).unwrap();
            assert!(cache.len() <= 3);
        }
        assert!(cache.selector_matcher(None, "t9").unwrap().matches("t9"));
    }
}
