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
    // Indexed subscriptions keep their exact topics in the hub's index only.
    let (indexed, exact): (Vec<Arc<str>>, _) = if scans {
        (Vec::new(), exact)
    } else {
        (exact.into_iter().collect(), HashSet::new())
    };
    let scan_group = scans.then(|| scan_group(&exact, &patterns));
    let filter = MercureFilter {
        exact,
        patterns,
        access,
        hub_url,
    };
    let mut selection = Selection::topics(indexed);
    selection.scan = scans;
    selection.filter = Some(Arc::new(filter));
    selection.scan_group = scan_group;
    selection
}

/// The routing of a scanning subscription as text: its matchers, sorted, each tagged with
/// its type. Equal texts select equal updates (patterns are all compiled against the one hub
/// URL), so the hub routes each update once per distinct text. Matcher values hold no
/// control characters (refused when parsed), so NUL and LF cannot be forged as separators.
fn scan_group(exact: &HashSet<Arc<str>>, patterns: &[Matcher]) -> Arc<str> {
    let mut parts: Vec<String> = exact.iter().map(|t| format!("exact\0{t}")).collect();
    parts.extend(patterns.iter().map(|m| {
        let kind = match m {
            Matcher::Exact(_) => "exact",
            Matcher::UrlPattern(_) => "urlpattern",
            Matcher::Any => "any",
            Matcher::UriTemplate(_) => "template",
        };
        format!("{kind}\0{}", m.as_str())
    }));
    parts.sort_unstable();
    parts.dedup();
    Arc::from(parts.join("\n"))
}

impl MercureFilter {
    fn selects(&self, update: &UpdateView<'_>) -> bool {
        let topics = update.topics();
        if !self.exact.is_empty() && topics.iter().any(|t| self.exact.contains(t)) {
            return true;
        }
        self.patterns
            .iter()
            .any(|m| super::access::any_topic_matches(m, update, &self.hub_url))
    }
}

impl Filter for MercureFilter {
    fn selects(&self, update: &UpdateView<'_>) -> bool {
        MercureFilter::selects(self, update)
    }

    fn permits(&self, update: &UpdateView<'_>) -> bool {
        !update.private()
            || self
                .access
                .as_ref()
                .is_some_and(|access| access.can_receive(update, &self.hub_url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mercure::matcher::{parse_subscription_query, MatcherLimits};

    fn hub() -> Arc<Url> {
        Arc::new(Url::parse("https://hub.example/.well-known/mercure").unwrap())
    }

    fn selection_for(query: &str) -> Selection {
        let matchers = parse_subscription_query(query, &hub(), &MatcherLimits::default())
            .unwrap()
            .into_iter()
            .map(|m| m.matcher)
            .collect();
        selection(matchers, None, hub())
    }

    /// Whether an anonymous subscriber with `selection` gets an update on `topics`, as live
    /// dispatch (index or scan) and replay decide it.
    fn gets(selection: &Selection, topics: &[&str], private: bool) -> bool {
        let topics: Vec<Arc<str>> = topics.iter().map(|&t| Arc::from(t)).collect();
        selection.wants(&UpdateView::new(&topics, private))
    }

    #[test]
    fn all_exact_subscriptions_are_indexed_without_scanning() {
        let selection = selection_for("match=b&match_exact=a&match=b");
        assert!(!selection.scan);
        let indexed: Vec<&str> = selection.topics.iter().map(|t| &**t).collect();
        assert_eq!(indexed, ["a", "b"]);
        assert!(gets(&selection, &["a"], false));
        assert!(
            gets(&selection, &["x", "b"], false),
            "an alternate topic selects"
        );
        assert!(!gets(&selection, &["c"], false));
        assert!(
            !gets(&selection, &["a"], true),
            "anonymous: public updates only"
        );
    }

    #[test]
    fn a_wildcard_collapses_every_other_matcher() {
        let selection = selection_for("match=a&match_urlpattern=%2Fb%2F%3Aid&match_exact=*");
        assert!(selection.scan);
        assert!(selection.topics.is_empty());
        let filter = format!("{:?}", selection.filter);
        assert!(
            filter.contains("exact: {}") && filter.contains("patterns: [Any]"),
            "{filter}"
        );
        assert!(gets(&selection, &["anything"], false));
        assert!(!gets(&selection, &["anything"], true));
    }

    #[test]
    fn mixed_exact_and_pattern_subscriptions_scan_and_check_both() {
        let selection = selection_for("match=a&match_urlpattern=%2Fb%2F%3Aid");
        assert!(selection.scan);
        assert!(selection.topics.is_empty(), "nothing is indexed twice");
        assert!(gets(&selection, &["a"], false));
        assert!(
            gets(&selection, &["/b/1"], false),
            "relative topic, resolved"
        );
        assert!(gets(&selection, &["https://hub.example/b/2"], false));
        assert!(gets(&selection, &["c", "/b/3"], false), "alternate topic");
        assert!(!gets(&selection, &["c"], false));
        assert!(!gets(&selection, &["/b/1/2"], false));
        assert!(!gets(&selection, &["https://other.example/b/1"], false));
        assert!(!gets(&selection, &["a"], true));
    }

    #[test]
    fn equal_routing_means_equal_scan_groups_whatever_the_order() {
        let one = selection_for("match=a&match_urlpattern=%2Fb%2F%3Aid&match=a");
        let two = selection_for("match_urlpattern=%2Fb%2F%3Aid&match_exact=a");
        assert_eq!(one.scan_group, two.scan_group);
        assert!(one.scan_group.is_some());
        let other = selection_for("match_urlpattern=%2Fb%2F%3Aid");
        assert_ne!(one.scan_group, other.scan_group);
        // The same text as another matcher type is another routing.
        let exact = selection_for("match=%2Fb%2F%3Aid&match_urlpattern=%2Fc");
        let pattern = selection_for("match_urlpattern=%2Fb%2F%3Aid&match=%2Fc");
        assert_ne!(exact.scan_group, pattern.scan_group);
        assert_eq!(
            selection_for("match=a").scan_group,
            None,
            "indexed: no group"
        );
    }
}
