//! `[cluster]`: several nodes sharing one log on Redis Streams. Without the section (or with
//! no `redis_url`), the node keeps its log in memory.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{invalid, secs, ConfigError};

/// `[cluster]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCluster {
    /// `redis://host:port/db` of the shared log; unset: no cluster (the default).
    pub redis_url: Option<String>,
    /// Prefix of every key ssegate writes, so that several deployments share one Redis.
    /// Default `ssegate`.
    pub key_prefix: String,
    /// This node's name, in logs. Default: the host name.
    pub node_name: Option<String>,
    /// Events the shared history keeps (Redis `MAXLEN ~`, so a little more may stay).
    /// Default: `hub.history_max_events`.
    pub history_max_events: Option<usize>,
    /// Longest wait for Redis on a publish or a read before it fails (`503` for a publish),
    /// in seconds. Default 2.
    pub timeout_secs: f64,
}

impl Default for RawCluster {
    fn default() -> Self {
        Self {
            redis_url: None,
            key_prefix: "ssegate".into(),
            node_name: None,
            history_max_events: None,
            timeout_secs: 2.0,
        }
    }
}

/// Validated `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The Redis URL.
    pub redis_url: Url,
    /// Key prefix.
    pub key_prefix: String,
    /// This node's name.
    pub node_name: String,
    /// Events kept in the shared history.
    pub history_max_events: usize,
    /// Redis deadline.
    pub timeout: Duration,
}

impl RawCluster {
    /// Checks every value; `None` without a `redis_url`. `history_default` is the hub's
    /// history size, the default of the shared one.
    pub fn validate(self, history_default: usize) -> Result<Option<ClusterConfig>, ConfigError> {
        let Some(text) = self.redis_url else {
            return Ok(None);
        };
        let redis_url = Url::parse(&text)
            .or_else(|e| invalid("cluster.redis_url", format!("{text:?} is not a URL: {e}")))?;
        if redis_url.scheme() != "redis" || redis_url.host().is_none() {
            return invalid(
                "cluster.redis_url",
                format!("{text:?}: expected redis://host:port/db"),
            );
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(char::is_whitespace) {
            return invalid("cluster.key_prefix", "must be non-empty, without spaces");
        }
        let history_max_events = self.history_max_events.unwrap_or(history_default);
        if history_max_events == 0 {
            return invalid(
                "cluster.history_max_events",
                "must be positive: resuming on another node reads the shared history",
            );
        }
        let node_name = match self.node_name {
            Some(name) if !name.is_empty() => name,
            Some(_) => return invalid("cluster.node_name", "must not be empty"),
            None => std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "ssegate".into()),
        };
        Ok(Some(ClusterConfig {
            redis_url,
            key_prefix: self.key_prefix,
            node_name,
            history_max_events,
            timeout: secs("cluster.timeout_secs", self.timeout_secs)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(raw: RawCluster) -> Result<Option<ClusterConfig>, ConfigError> {
        raw.validate(10_000)
    }

    #[test]
    fn without_a_url_there_is_no_cluster() {
        assert_eq!(validate(RawCluster::default()).unwrap(), None);
    }

    #[test]
    fn defaults_follow_the_hub() {
        let raw = RawCluster {
            redis_url: Some("redis://127.0.0.1:6379/0".into()),
            node_name: Some("a".into()),
            ..RawCluster::default()
        };
        let config = validate(raw).unwrap().unwrap();
        assert_eq!(config.history_max_events, 10_000);
        assert_eq!(config.key_prefix, "ssegate");
        assert_eq!(config.timeout, Duration::from_secs(2));
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (
                Some("http://127.0.0.1:6379"),
                "ssegate",
                Some(1),
                "cluster.redis_url",
            ),
            (Some("not a url"), "ssegate", Some(1), "cluster.redis_url"),
            (Some("redis://127.0.0.1"), "", Some(1), "cluster.key_prefix"),
            (
                Some("redis://127.0.0.1"),
                "ssegate",
                Some(0),
                "cluster.history_max_events",
            ),
        ];
        for (url, prefix, history, key) in cases {
            let raw = RawCluster {
                redis_url: url.map(Into::into),
                key_prefix: prefix.into(),
                history_max_events: history,
                ..RawCluster::default()
            };
            let error = validate(raw).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }
}
