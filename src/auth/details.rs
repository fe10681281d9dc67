//! The `authorization_details` claim (RFC 9396): finding the Mercure authorization details
//! in it and parsing them strictly (draft sections "Authorization Details" and "Topic Matcher
//! List"). Entries of other types are skipped; any defect in a Mercure entry rejects the token.

use std::sync::Arc;

use serde_json::Value;

use super::error::TokenError;
use super::grants::{Action, Detail, TopicSelector, DEFAULT_MATCH_TYPE, WILDCARD};

/// The authorization detail type this draft defines, compared byte by byte.
pub const MERCURE_DETAIL_TYPE: &str = "https://mercure.rocks/authorization-detail";

/// A check the matcher module runs on each non-wildcard selector of a token (for example,
/// that a `urlpattern` compiles). An error rejects the whole token as `invalid_token`.
pub type SelectorCheck = Arc<dyn Fn(&TopicSelector) -> Result<(), String> + Send + Sync>;

/// Implementation-defined limits on tokens (draft sections "Authorization Details" and
/// "Resource Limits"). A token over any of them is rejected as `invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted token, in bytes.
    pub max_token_bytes: usize,
    /// Most Mercure authorization details in one token.
    pub max_details: usize,
    /// Most entries in one detail's `topics` array.
    pub max_topics_per_detail: usize,
    /// Longest `match` value, in bytes.
    pub max_match_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_token_bytes: 32 * 1024,
            max_details: 64,
            max_topics_per_detail: 256,
            max_match_bytes: 2048,
        }
    }
}

/// What the parser checks entries against: the validator's configuration.
pub(super) struct DetailRules<'a> {
    pub(super) limits: &'a Limits,
    pub(super) matcher_types: &'a [String],
    pub(super) selector_check: Option<&'a SelectorCheck>,
}

impl DetailRules<'_> {
    /// Parses `authorization_details` (RFC 9396): entries of other types are ignored, and any
    /// defect in a Mercure entry rejects the whole token.
    pub(super) fn parse(&self, value: Option<Value>) -> Result<Vec<Detail>, TokenError> {
        let bad = |why: String| TokenError::AuthorizationDetails(why);
        let entries = match value {
            None => return Ok(Vec::new()),
            Some(Value::Array(entries)) => entries,
            Some(_) => return Err(bad("not an array".into())),
        };
        let mut details = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let Value::Object(mut entry) = entry else {
                return Err(bad(format!("entry {i} is not an object")));
            };
            match entry.get("type") {
                Some(Value::String(t)) if t == MERCURE_DETAIL_TYPE => {}
                Some(Value::String(_)) => continue,
                _ => return Err(bad(format!("entry {i} has no type"))),
            }
            if details.len() == self.limits.max_details {
                return Err(bad(format!(
                    "more than {} Mercure details",
                    self.limits.max_details
                )));
            }
            let actions = parse_actions(entry.get("actions"))
                .map_err(|why| bad(format!("entry {i}: {why}")))?;
            let topics = self
                .parse_topics(entry.get("topics"))
                .map_err(|why| bad(format!("entry {i}: {why}")))?;
            let payload = match entry.remove("payload") {
                None => None,
                Some(Value::Object(payload)) => Some(payload),
                Some(_) => return Err(bad(format!("entry {i}: payload is not an object"))),
            };
            details.push(Detail {
                actions,
                topics,
                payload,
            });
        }
        Ok(details)
    }

    fn parse_topics(&self, value: Option<&Value>) -> Result<Vec<TopicSelector>, String> {
        let Some(Value::Array(topics)) = value else {
            return Err("topics is missing or not an array".into());
        };
        if topics.is_empty() {
            return Err("topics is empty".into());
        }
        if topics.len() > self.limits.max_topics_per_detail {
            return Err(format!(
                "more than {} topics",
                self.limits.max_topics_per_detail
            ));
        }
        topics.iter().map(|t| self.parse_selector(t)).collect()
    }

    fn parse_selector(&self, value: &Value) -> Result<TopicSelector, String> {
        let Value::Object(object) = value else {
            return Err("a topic matcher is not an object".into());
        };
        let value = match object.get("match") {
            Some(Value::String(m)) if !m.is_empty() => m,
            _ => return Err("a topic matcher has no match string".into()),
        };
        if value.len() > self.limits.max_match_bytes {
            return Err(format!(
                "a match is longer than {} bytes",
                self.limits.max_match_bytes
            ));
        }
        let match_type = match object.get("match_type") {
            None => DEFAULT_MATCH_TYPE,
            Some(Value::String(t)) => t.as_str(),
            Some(_) => return Err("match_type is not a string".into()),
        };
        let selector = TopicSelector {
            match_type: match_type.to_owned(),
            value: value.clone(),
        };
        // The wildcard is recognized before the matcher type is resolved (draft section
        // "Matcher Types"), so its match_type is not looked at.
        if selector.value == WILDCARD {
            return Ok(selector);
        }
        if !self.matcher_types.contains(&selector.match_type) {
            return Err(format!("unsupported match_type {:?}", selector.match_type));
        }
        if let Some(check) = self.selector_check {
            check(&selector)?;
        }
        Ok(selector)
    }
}

fn parse_actions(value: Option<&Value>) -> Result<Vec<Action>, String> {
    let Some(Value::Array(values)) = value else {
        return Err("actions is missing or not an array".into());
    };
    if values.is_empty() {
        return Err("actions is empty".into());
    }
    let mut actions = Vec::with_capacity(2);
    for value in values {
        let Value::String(name) = value else {
            return Err("an action is not a string".into());
        };
        // Unrecognized actions grant nothing and do not invalidate the token.
        let action = match name.as_str() {
            "publish" => Action::Publish,
            "subscribe" => Action::Subscribe,
            _ => continue,
        };
        if !actions.contains(&action) {
            actions.push(action);
        }
    }
    Ok(actions)
}
