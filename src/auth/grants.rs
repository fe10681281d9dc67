//! What a validated token permits: the Mercure authorization details of a 1.0 token
//! ([`Grants`]) and the `mercure` claim of a pre-1.0 token ([`LegacyGrants`]).
//!
//! Matching a selector against a topic is the matcher module's job: the helpers here take a
//! `matches(selector, topic)` function and only apply the protocol's rules around it (the
//! `*` wildcard, "every topic" for publishing, "at least one topic" for private updates,
//! "first detail wins" for payloads).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// The reserved matcher value that matches every topic whatever the matcher type.
pub const WILDCARD: &str = "*";

/// The `match_type` assumed when a topic matcher object has none.
pub const DEFAULT_MATCH_TYPE: &str = "exact";

/// An action a Mercure authorization detail can grant (the "Mercure Actions" registry).
/// Actions the hub does not recognize are dropped while parsing: they grant nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send updates for the matching topics.
    Publish,
    /// Receive private updates for the matching topics.
    Subscribe,
}

/// One topic matcher of a detail's `topics` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSelector {
    /// The matcher type: `exact` (the default when the token omits it), `urlpattern`, or
    /// another type the validator was told the hub supports.
    pub match_type: String,
    /// The matcher itself (`match`); `*` is the wildcard.
    pub value: String,
}

/// One Mercure authorization detail (`type` `https://mercure.rocks/authorization-detail`).
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    /// The recognized actions, in token order, without duplicates.
    pub actions: Vec<Action>,
    /// The topic matchers the actions apply to; never empty.
    pub topics: Vec<TopicSelector>,
    /// The subscriber payload, a JSON object (meaningful for `subscribe` only).
    pub payload: Option<Map<String, Value>>,
}

/// What a validated 1.0 access token grants, and the claims the hub relies on.
#[derive(Debug, Clone, PartialEq)]
pub struct Grants {
    /// The `iss` claim: the trusted issuer the token was verified against.
    pub issuer: String,
    /// The `sub` claim, used to derive subscription identifiers (combined with the issuer).
    pub subject: Option<String>,
    /// The `client_id` claim.
    pub client_id: Option<String>,
    /// The `jti` claim.
    pub token_id: Option<String>,
    /// The `exp` claim, in seconds since the Unix epoch: a subscriber's connection must be
    /// closed no later than this.
    pub expires_at: u64,
    /// The Mercure authorization details, in token order (payload selection depends on it).
    /// Details of other types were ignored.
    pub details: Vec<Detail>,
}

impl Grants {
    /// The `exp` claim as a point in time.
    pub fn expires_at_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.expires_at)
    }

    /// The topic matchers of the details that grant `action`, in token order.
    pub fn selectors(&self, action: Action) -> impl Iterator<Item = &TopicSelector> {
        self.details
            .iter()
            .filter(move |d| d.actions.contains(&action))
            .flat_map(|d| d.topics.iter())
    }

    /// Whether the token grants `action` on `topic`. The `*` wildcard is handled here; every
    /// other selector is passed to `matches(selector, topic)`.
    pub fn grants(
        &self,
        action: Action,
        topic: &str,
        matches: impl Fn(&TopicSelector, &str) -> bool,
    ) -> bool {
        self.selectors(action)
            .any(|s| s.value == WILDCARD || matches(s, topic))
    }

    /// Whether an update with these topics (canonical and alternates) may be published:
    /// `publish` must be granted on every one of them (draft section "Publishers"). An
    /// update without topics is not publishable.
    pub fn can_publish<'t>(
        &self,
        topics: impl IntoIterator<Item = &'t str>,
        matches: impl Fn(&TopicSelector, &str) -> bool,
    ) -> bool {
        granted_on_every(topics, |topic| {
            self.grants(Action::Publish, topic, &matches)
        })
    }

    /// Whether a private update with these topics may be delivered: `subscribe` must be
    /// granted on at least one of them (draft section "Subscribers").
    pub fn can_receive<'t>(
        &self,
        topics: impl IntoIterator<Item = &'t str>,
        matches: impl Fn(&TopicSelector, &str) -> bool,
    ) -> bool {
        topics
            .into_iter()
            .any(|t| self.grants(Action::Subscribe, t, &matches))
    }

    /// The payload for a subscription whose own matcher string is `subscription_matcher`:
    /// that of the first `subscribe` detail one of whose topics matches the matcher string
    /// taken as a topic (draft section "Payloads"). The first matching detail decides, even
    /// when it carries no payload.
    pub fn payload_for(
        &self,
        subscription_matcher: &str,
        matches: impl Fn(&TopicSelector, &str) -> bool,
    ) -> Option<&Map<String, Value>> {
        self.details
            .iter()
            .filter(|d| d.actions.contains(&Action::Subscribe))
            .find(|d| {
                d.topics
                    .iter()
                    .any(|s| s.value == WILDCARD || matches(s, subscription_matcher))
            })
            .and_then(|d| d.payload.as_ref())
    }
}

/// What a validated pre-1.0 token grants: its `mercure` claim. A token without the claim
/// grants nothing. Selectors are pre-1.0 topic selectors (`*`, exact topics, URI templates).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegacyGrants {
    /// `mercure.publish`.
    pub publish: Vec<String>,
    /// `mercure.subscribe`.
    pub subscribe: Vec<String>,
    /// `mercure.payload`, any JSON value.
    pub payload: Option<Value>,
    /// The `exp` claim, when the token has one: the connection must close then.
    pub expires_at: Option<u64>,
}

impl LegacyGrants {
    /// Whether every topic of an update matches a `mercure.publish` selector. The `*`
    /// wildcard is handled here; other selectors go to `matches(selector, topic)`.
    pub fn can_publish<'t>(
        &self,
        topics: impl IntoIterator<Item = &'t str>,
        matches: impl Fn(&str, &str) -> bool,
    ) -> bool {
        granted_on_every(topics, |topic| {
            self.publish
                .iter()
                .any(|s| s == WILDCARD || matches(s, topic))
        })
    }

    /// Whether at least one topic of a private update matches a `mercure.subscribe`
    /// selector.
    pub fn can_receive<'t>(
        &self,
        topics: impl IntoIterator<Item = &'t str>,
        matches: impl Fn(&str, &str) -> bool,
    ) -> bool {
        topics.into_iter().any(|t| {
            self.subscribe
                .iter()
                .any(|s| s == WILDCARD || matches(s, t))
        })
    }
}

/// The publishing rule (draft "Publishers", pre-1.0 "Publishers"): `granted` must hold for
/// every topic of the update, canonical and alternates, and an update without topics is not
/// publishable.
pub(crate) fn granted_on_every<'t>(
    topics: impl IntoIterator<Item = &'t str>,
    granted: impl Fn(&str) -> bool,
) -> bool {
    let mut any = false;
    for topic in topics {
        any = true;
        if !granted(topic) {
            return false;
        }
    }
    any
}
