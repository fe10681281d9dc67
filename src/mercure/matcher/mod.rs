//! Topic matchers: which topics a subscription selects, and which topics a token's topic
//! matcher list grants.
//!
//! This module owns the matching rules of draft-dunglas-mercure-08 ("Subscription", "Matcher
//! Types", "Topic Matcher List") and of the pre-1.0 topic selectors, and the parsing of the
//! query parameters that carry them. Endpoints, authorization and dispatch live elsewhere.
//!
//! - [`parse_subscription_query`]: the 1.0 parameters `match` (the default `exact` type),
//!   `match_exact` and `match_urlpattern`, with the reserved `match` namespace.
//! - [`parse_legacy_topics`], [`parse_legacy_selector`]: pre-1.0 `topic` selectors, exact
//!   strings or RFC 6570 URI templates.
//! - [`selector_matcher`]: one entry of an access token's topic matcher list.
//! - [`Matcher::any_matches`]: an update matches when any of its topics (canonical and
//!   alternates) does; [`PreparedTopic`] resolves a topic once for many URL patterns.
//! - [`MatcherCache`]: compiled token selectors, reused across checks.
//!
//! The value `*` is the reserved wildcard, recognized before the matcher type.
//!
//! Denial-of-service bounds, from the draft's "URL-Pattern Denial of Service" and "Resource
//! Limits": [`MatcherLimits`] caps the number of matchers per request and the length of each;
//! URL patterns and URI templates compile to regular expressions of the `regex` crate, which
//! matches in time linear in the topic, with every compiled expression capped at
//! [`REGEX_SIZE_LIMIT`] bytes. Matching a topic against a compiled matcher allocates nothing
//! beyond the URL parse of the topic, for URL patterns.

mod cache;
mod template;
mod url_pattern;
mod value;

use std::fmt;

use serde::Deserialize;
use thiserror::Error;
use url::Url;

pub use cache::{MatcherCache, DEFAULT_CACHE_CAPACITY};
pub use template::CompiledTemplate;
pub use url_pattern::{CompiledPattern, PreparedTopic, REGEX_SIZE_LIMIT};
pub use value::forbidden_char;

use value::checked_value;
pub(crate) use value::form_pairs;

/// The reserved wildcard value: it matches every topic, whatever the matcher type.
pub const WILDCARD: &str = "*";

/// Default for [`MatcherLimits::max_matchers`].
pub const DEFAULT_MAX_MATCHERS: usize = 128;

/// Default for [`MatcherLimits::max_pattern_len`].
pub const DEFAULT_MAX_PATTERN_LEN: usize = 2048;

/// The bounds a hub applies to topic matchers, in subscription requests and in tokens.
///
/// Requests exceeding them are answered 400 (draft: "Subscription"); tokens, 401
/// `invalid_token` (draft: "Authorization Details").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatcherLimits {
    /// The most topic matcher parameters one subscription request may carry (query and body
    /// together). Each is a subscription evaluated against every update, so this bounds the
    /// per-update cost of one connection. 128 leaves room for a page following many resources
    /// by exact topic, which is what lists this long usually are.
    pub max_matchers: usize,
    /// The longest matcher value, in bytes after percent-decoding. It bounds the compiled size
    /// of a pattern or template and the cost of an exact comparison. 2048 is above any
    /// realistic IRI and the common URL length budget of intermediaries.
    pub max_pattern_len: usize,
    /// Whether URL patterns may contain custom regexp groups such as `:id(\d+)`. They are
    /// part of the URL Pattern standard and safe to match with the linear-time engine used
    /// here, so they are allowed by default; an operator can refuse them to keep patterns
    /// simple. Their syntax is the Rust `regex` crate's, not ECMAScript's: lookaround and
    /// backreferences are rejected as malformed.
    pub allow_regexp_groups: bool,
}

impl Default for MatcherLimits {
    fn default() -> Self {
        Self {
            max_matchers: DEFAULT_MAX_MATCHERS,
            max_pattern_len: DEFAULT_MAX_PATTERN_LEN,
            allow_regexp_groups: true,
        }
    }
}

/// A matcher type of the 1.0 protocol, with its canonical (case-sensitive) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatcherType {
    /// `exact`: byte-for-byte comparison; the default.
    Exact,
    /// `urlpattern`: the WHATWG URL Pattern standard.
    UrlPattern,
}

impl MatcherType {
    /// Every matcher type this hub supports, for `mercure_matcher_types_supported`.
    pub const ALL: [MatcherType; 2] = [MatcherType::Exact, MatcherType::UrlPattern];

    /// The canonical name, as used in `match_<name>`, `match_type` and subscription events.
    pub const fn name(self) -> &'static str {
        match self {
            MatcherType::Exact => "exact",
            MatcherType::UrlPattern => "urlpattern",
        }
    }

    /// The type with this exact (case-sensitive) name, if supported.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The type a subscription query parameter selects: `match` (the default, `exact`) or
    /// `match_<name>`. `None` for any other name.
    pub fn from_parameter(parameter: &str) -> Option<Self> {
        match parameter {
            "match" => Some(MatcherType::Exact),
            _ => Self::from_name(parameter.strip_prefix("match_")?),
        }
    }
}

impl fmt::Display for MatcherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A compiled topic matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// Byte-for-byte comparison, without normalization or resolution.
    Exact(String),
    /// A URL pattern, evaluated with the hub's URL as base.
    UrlPattern(CompiledPattern),
    /// The reserved `*`: every topic.
    Any,
    /// A pre-1.0 URI template selector; it also matches its own text exactly.
    UriTemplate(CompiledTemplate),
}

impl Matcher {
    /// Whether `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Matcher::Exact(exact) => exact == topic,
            Matcher::UrlPattern(pattern) => pattern.matches(topic),
            Matcher::Any => true,
            Matcher::UriTemplate(template) => template.matches(topic),
        }
    }

    /// Whether any of an update's topics (canonical and alternates) matches: the rule for
    /// dispatch and for private-update authorization alike.
    pub fn any_matches<'a>(&self, topics: impl IntoIterator<Item = &'a str>) -> bool {
        topics.into_iter().any(|topic| self.matches(topic))
    }

    /// [`Matcher::matches`] on a topic resolved beforehand, for dispatching one update to many
    /// subscriptions.
    pub fn matches_prepared(&self, topic: &PreparedTopic<'_>) -> bool {
        match self {
            Matcher::UrlPattern(pattern) => pattern.matches_prepared(topic),
            other => other.matches(topic.as_str()),
        }
    }

    /// [`Matcher::matches`] given the topic already resolved against the hub's URL (the base
    /// every pattern of the hub is compiled with); `url` is `None` for a topic that is not a
    /// URL reference. Dispatch resolves each update's topics once for all subscribers.
    pub fn matches_resolved(&self, topic: &str, url: Option<&Url>) -> bool {
        match self {
            Matcher::UrlPattern(pattern) => url.is_some_and(|url| pattern.matches_url(url)),
            other => other.matches(topic),
        }
    }

    /// [`Matcher::any_matches`] on topics resolved beforehand.
    pub fn any_matches_prepared(&self, topics: &[PreparedTopic<'_>]) -> bool {
        topics.iter().any(|topic| self.matches_prepared(topic))
    }

    /// A key naming this compiled matcher for [`crate::hub::UpdateView::memo`]: URL patterns
    /// compiled once and shared (through a [`MatcherCache`]) have one key, so every
    /// subscription using the pattern reuses one match per update. `None` for the matchers
    /// that cost less than the memo lookup.
    pub fn memo_key(&self) -> Option<usize> {
        match self {
            Matcher::UrlPattern(pattern) => Some(pattern.identity()),
            _ => None,
        }
    }

    /// The matcher as written (`*` for the wildcard).
    pub fn as_str(&self) -> &str {
        match self {
            Matcher::Exact(exact) => exact,
            Matcher::UrlPattern(pattern) => pattern.as_str(),
            Matcher::Any => WILDCARD,
            Matcher::UriTemplate(template) => template.as_str(),
        }
    }
}

/// One subscription of a 1.0 request: the matcher type the parameter named (kept for the
/// wildcard too, since subscription events and the subscription API report it) and the
/// compiled matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMatcher {
    /// The type named by the parameter (`match` and `match_exact` both give `exact`).
    pub match_type: MatcherType,
    /// The compiled matcher; [`Matcher::Any`] when the value was `*`.
    pub matcher: Matcher,
}

impl TopicMatcher {
    /// Whether `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        self.matcher.matches(topic)
    }

    /// Whether a topic resolved beforehand matches.
    pub fn matches_prepared(&self, topic: &PreparedTopic<'_>) -> bool {
        self.matcher.matches_prepared(topic)
    }

    /// The matcher value as sent, for the `{match}` of subscription events.
    pub fn value(&self) -> &str {
        self.matcher.as_str()
    }
}

/// Why a topic matcher parameter or selector was refused. Every variant answers 400 for a
/// subscription request, or rejects the token (401 `invalid_token`) for a token selector.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MatcherError {
    /// A parameter in the reserved `match` namespace names no supported matcher type.
    #[error("unknown topic matcher parameter `{name}`: supported are `match`, `match_exact` and `match_urlpattern`")]
    UnknownParameter {
        /// The parameter name, percent-decoded (invalid UTF-8 replaced).
        name: String,
    },
    /// A token selector's `match_type` is not a supported matcher type.
    #[error("unknown match_type `{match_type}`: supported are `exact` and `urlpattern`")]
    UnknownMatchType {
        /// The `match_type` as given.
        match_type: String,
    },
    /// More matcher parameters than [`MatcherLimits::max_matchers`].
    #[error("more than {limit} topic matchers")]
    TooManyMatchers {
        /// The limit.
        limit: usize,
    },
    /// A value longer than [`MatcherLimits::max_pattern_len`].
    #[error("`{parameter}` value is {len} bytes long, over the limit of {limit}")]
    TooLong {
        /// The parameter name (`match` for a token selector).
        parameter: String,
        /// The value's length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A value that is not valid UTF-8, is empty, or holds a control or format character.
    #[error("`{parameter}` value is invalid: {reason}")]
    InvalidValue {
        /// The parameter name (`match` for a token selector).
        parameter: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `urlpattern` value that is not a well-formed URL Pattern.
    #[error("`{parameter}` value `{value}` is not a valid URL pattern: {reason}")]
    InvalidUrlPattern {
        /// The parameter name (`match` for a token selector).
        parameter: String,
        /// The pattern.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL pattern with a custom regexp group while [`MatcherLimits::allow_regexp_groups`]
    /// is off.
    #[error("`{parameter}` value `{value}` uses a regular expression group, which this hub does not accept")]
    RegexpGroupNotAllowed {
        /// The parameter name (`match` for a token selector).
        parameter: String,
        /// The pattern.
        value: String,
    },
}

/// Parses the topic matcher parameters of a 1.0 subscription request.
///
/// `query` is `application/x-www-form-urlencoded` text: the query component (without `?`),
/// a request body, or both joined by `&`, which gives the union the draft asks for when a
/// `QUERY` request carries parameters in both. `hub_url` is the hub's URL, the base for
/// relative URL patterns and topics.
///
/// One [`TopicMatcher`] is returned per matcher parameter, in request order, duplicates kept
/// (the draft lets the caller deduplicate). Parameters outside the `match` namespace, such as
/// `last_event_id`, are ignored. An empty result means the request named no topic; the caller
/// decides how to answer that. Errors, all 400 for the caller:
///
/// - a name in the reserved namespace (starting with `match`, compared ASCII
///   case-insensitively) that is not exactly `match`, `match_exact` or `match_urlpattern`;
/// - more than [`MatcherLimits::max_matchers`] matcher parameters;
/// - a value that is empty (the draft allows it syntactically, but no topic could be meant),
///   longer than [`MatcherLimits::max_pattern_len`], not UTF-8, holding a C0 or C1 control,
///   U+007F or a format (Cf) character, or not a valid pattern for its type.
pub fn parse_subscription_query(
    query: &str,
    hub_url: &Url,
    limits: &MatcherLimits,
) -> Result<Vec<TopicMatcher>, MatcherError> {
    parse_query_with(query, limits, |match_type, value, parameter| {
        compile(match_type, value, parameter, hub_url, limits)
    })
}

/// The loop of [`parse_subscription_query`], compiling each checked value with `compile`
/// (directly, or through a [`MatcherCache`] that shares compiled patterns between
/// subscriptions).
pub(crate) fn parse_query_with(
    query: &str,
    limits: &MatcherLimits,
    mut compile: impl FnMut(MatcherType, String, &str) -> Result<Matcher, MatcherError>,
) -> Result<Vec<TopicMatcher>, MatcherError> {
    let mut matchers = Vec::new();
    for (name, value) in form_pairs(query) {
        let is_reserved = name.len() >= 5 && name[..5].eq_ignore_ascii_case(b"match");
        if !is_reserved {
            continue;
        }
        let parameter = String::from_utf8_lossy(&name);
        let match_type = MatcherType::from_parameter(&parameter).ok_or_else(|| {
            MatcherError::UnknownParameter {
                name: parameter.clone().into_owned(),
            }
        })?;
        if matchers.len() == limits.max_matchers {
            return Err(MatcherError::TooManyMatchers {
                limit: limits.max_matchers,
            });
        }
        let value = checked_value(&parameter, value, limits)?;
        let matcher = compile(match_type, value, &parameter)?;
        matchers.push(TopicMatcher {
            match_type,
            matcher,
        });
    }
    Ok(matchers)
}

/// Parses the `topic` selectors of a pre-1.0 subscription request (other parameters are
/// ignored), each as [`parse_legacy_selector`] does, under the same limits and value checks as
/// [`parse_subscription_query`].
pub fn parse_legacy_topics(
    query: &str,
    limits: &MatcherLimits,
) -> Result<Vec<Matcher>, MatcherError> {
    let mut matchers = Vec::new();
    for (name, value) in form_pairs(query) {
        if name != b"topic" {
            continue;
        }
        if matchers.len() == limits.max_matchers {
            return Err(MatcherError::TooManyMatchers {
                limit: limits.max_matchers,
            });
        }
        let value = checked_value("topic", value, limits)?;
        matchers.push(legacy_matcher(value));
    }
    Ok(matchers)
}

/// Compiles one pre-1.0 topic selector, from a `topic` parameter or a `mercure.subscribe` or
/// `mercure.publish` claim: `*` matches everything; a selector containing `{` that is a valid
/// URI template matches its expansions and itself; anything else (an invalid template
/// included, as the pre-1.0 text says: "if the topic selector is a valid URI Template")
/// matches itself exactly. Fails only on the length and character checks.
pub fn parse_legacy_selector(value: &str, limits: &MatcherLimits) -> Result<Matcher, MatcherError> {
    let value = checked_value("topic", value.as_bytes().to_vec(), limits)?;
    Ok(legacy_matcher(value))
}

/// Compiles one entry of a token's topic matcher list (`{"match": ..., "match_type": ...}`).
///
/// `match_type` is `None` when the member is absent, which means `exact`; it is compared
/// case-sensitively. `*` is the wildcard whatever the type. Any error must reject the whole
/// token (draft: "Topic Matcher List").
pub fn selector_matcher(
    match_type: Option<&str>,
    value: &str,
    hub_url: &Url,
    limits: &MatcherLimits,
) -> Result<Matcher, MatcherError> {
    let match_type = match match_type {
        None => MatcherType::Exact,
        Some(name) => {
            MatcherType::from_name(name).ok_or_else(|| MatcherError::UnknownMatchType {
                match_type: name.to_owned(),
            })?
        }
    };
    let value = checked_value("match", value.as_bytes().to_vec(), limits)?;
    compile(match_type, value, "match", hub_url, limits)
}

/// Compiles a checked value as `match_type`, the wildcard first.
pub(crate) fn compile(
    match_type: MatcherType,
    value: String,
    parameter: &str,
    hub_url: &Url,
    limits: &MatcherLimits,
) -> Result<Matcher, MatcherError> {
    if value == WILDCARD {
        return Ok(Matcher::Any);
    }
    match match_type {
        MatcherType::Exact => Ok(Matcher::Exact(value)),
        MatcherType::UrlPattern => {
            match CompiledPattern::compile(&value, hub_url, limits.allow_regexp_groups) {
                Ok(pattern) => Ok(Matcher::UrlPattern(pattern)),
                Err(url_pattern::PatternError::RegexpGroup) => {
                    Err(MatcherError::RegexpGroupNotAllowed {
                        parameter: parameter.to_owned(),
                        value,
                    })
                }
                Err(url_pattern::PatternError::Invalid(reason)) => {
                    Err(MatcherError::InvalidUrlPattern {
                        parameter: parameter.to_owned(),
                        value,
                        reason,
                    })
                }
            }
        }
    }
}

/// The pre-1.0 selector rules on a checked value.
fn legacy_matcher(value: String) -> Matcher {
    if value == WILDCARD {
        return Matcher::Any;
    }
    if value.contains('{') {
        if let Ok(template) = CompiledTemplate::compile(&value) {
            return Matcher::UriTemplate(template);
        }
    }
    Matcher::Exact(value)
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
