//! What one request's access token lets it do, compiled for the hot path: the token's
//! `publish` and `subscribe` selectors as matchers (from the hub's [`MatcherCache`]), so that
//! checking a private update against a subscriber's grants costs a few comparisons, not a
//! compilation.
//!
//! Both token generations end up here: 1.0 [`Grants`] (authorization details) and pre-1.0
//! [`LegacyGrants`] (the `mercure` claim). Which one a request presented is settled by the
//! [`authenticate`](super::Mercure) step; past it, the rules are the same: publishing needs
//! every topic granted, receiving a private update needs one.

use std::{sync::Arc, time::SystemTime};

use serde_json::Value;
use url::Url;

use super::matcher::{Matcher, MatcherCache};
use crate::auth::{granted_on_every, Action, AuthError, Grants, LegacyGrants, TokenError};
use crate::hub::UpdateView;

/// The grants of a validated token.
#[derive(Debug)]
pub struct Access {
    publish: Vec<Arc<Matcher>>,
    subscribe: Vec<Arc<Matcher>>,
    expires_at: Option<SystemTime>,
    origin: Origin,
}

/// The token the grants came from, for payloads and logs.
#[derive(Debug)]
enum Origin {
    Current(Grants),
    Legacy(LegacyGrants),
}

impl Access {
    /// Compiles a 1.0 token's grants. A selector that does not compile was already refused by
    /// the validator's selector check; should one slip through, the token is refused here too.
    pub fn from_grants(grants: Grants, cache: &MatcherCache) -> Result<Self, AuthError> {
        let compile = |action| {
            grants
                .selectors(action)
                .map(|s| {
                    cache
                        .selector_matcher(Some(&s.match_type), &s.value)
                        .map_err(|e| AuthError::InvalidToken(TokenError::Malformed(e.to_string())))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            publish: compile(Action::Publish)?,
            subscribe: compile(Action::Subscribe)?,
            expires_at: Some(grants.expires_at_time()),
            origin: Origin::Current(grants),
        })
    }

    /// Compiles a pre-1.0 token's `mercure` claim.
    pub fn from_legacy(grants: LegacyGrants, cache: &MatcherCache) -> Result<Self, AuthError> {
        let compile = |selectors: &[String]| {
            selectors
                .iter()
                .map(|s| {
                    cache
                        .legacy_selector(s)
                        .map_err(|e| AuthError::InvalidToken(TokenError::Malformed(e.to_string())))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            publish: compile(&grants.publish)?,
            subscribe: compile(&grants.subscribe)?,
            expires_at: grants
                .expires_at
                .map(|s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s)),
            origin: Origin::Legacy(grants),
        })
    }

    /// Whether every one of `topics` (canonical and alternates) may be published.
    pub fn can_publish<'t>(&self, topics: impl IntoIterator<Item = &'t str>) -> bool {
        granted_on_every(topics, |topic| {
            self.publish.iter().any(|m| m.matches(topic))
        })
    }

    /// Whether `subscribe` is granted on `topic` (the subscription API's check, where the
    /// topic is the requested path).
    pub fn can_subscribe(&self, topic: &str) -> bool {
        self.subscribe.iter().any(|m| m.matches(topic))
    }

    /// Whether a private update may be delivered: `subscribe` granted on at least one of its
    /// topics, resolved once per update against `hub_url`.
    pub fn can_receive(&self, update: &UpdateView<'_>, hub_url: &Url) -> bool {
        self.subscribe
            .iter()
            .any(|m| any_topic_matches(m, update, hub_url))
    }

    /// The token's `exp`, when it has one: a subscriber's stream ends by then.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The payload of a subscription whose matcher string is `subscription_matcher`: for a
    /// 1.0 token, that of the first `subscribe` detail matching it (draft "Payloads"); for a
    /// pre-1.0 token, `mercure.payload`.
    pub fn payload_for(&self, subscription_matcher: &str, cache: &MatcherCache) -> Option<Value> {
        match &self.origin {
            Origin::Current(grants) => grants
                .payload_for(subscription_matcher, |selector, topic| {
                    cache
                        .selector_matcher(Some(&selector.match_type), &selector.value)
                        .is_ok_and(|m| m.matches(topic))
                })
                .map(|payload| Value::Object(payload.clone())),
            Origin::Legacy(grants) => grants.payload.clone(),
        }
    }

    /// Whether the token is a pre-1.0 one (the subscription API answers in that format).
    pub fn is_legacy(&self) -> bool {
        matches!(self.origin, Origin::Legacy(_))
    }
}

/// Whether any topic of `update` (canonical or alternate) matches `matcher`. URL patterns
/// shared through the hub's matcher cache are evaluated once per update whatever the number
/// of subscriptions (and token grants) using them, on topics resolved once per update.
pub(super) fn any_topic_matches(matcher: &Matcher, update: &UpdateView<'_>, hub_url: &Url) -> bool {
    let evaluate = || match matcher {
        Matcher::Any => true,
        Matcher::UrlPattern(_) => {
            let urls = update.resolved(hub_url);
            update
                .topics()
                .iter()
                .zip(urls.iter())
                .any(|(topic, url)| matcher.matches_resolved(topic, url.as_ref()))
        }
        other => update.topics().iter().any(|t| other.matches(t)),
    };
    match matcher.memo_key() {
        Some(key) => update.memo(key, evaluate),
        None => evaluate(),
    }
}
