//! `[cluster]`: several nodes sharing one log on Redis Streams. Without the section (or with
//! no `redis_url`), the node keeps its log in memory.

use std::{fmt, path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};
use url::Url;

use super::{invalid, secs, ConfigError};

/// `[cluster]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCluster {
    /// `redis://host:port/db` of the shared log, or `rediss://` for TLS (a user name may
    /// come with it: `redis://name@host:port/db`); unset: no cluster (the default). With
    /// `sentinels`, the host is the name the Sentinels know the master by
    /// (`redis://mymaster/0`), as redis-rb and Sidekiq write it.
    pub redis_url: Option<String>,
    /// `host:port` of Redis Sentinels that watch the master: the node asks them where the
    /// master is, and follows it when they fail over. Empty: `redis_url` names the server.
    pub sentinels: Vec<String>,
    /// A file holding the Sentinels' own password (`requirepass` in `sentinel.conf`), if any.
    pub sentinel_password_file: Option<PathBuf>,
    /// Replicas that must hold an event before its publisher gets `200` (Redis `WAIT`), so
    /// that a failover to a replica loses no acknowledged event. Default 0: the master's
    /// answer is enough.
    pub wait_replicas: u32,
    /// PEM CA certificates trusted for a `rediss://` server, instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// A file holding the Redis password (trailing newline ignored): a secret stays out of
    /// the configuration file and the command line.
    pub password_file: Option<PathBuf>,
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
            sentinels: Vec::new(),
            sentinel_password_file: None,
            wait_replicas: 0,
            ca_file: None,
            password_file: None,
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
    /// The Redis URL (with `sentinel`, its host is the master's name).
    pub redis_url: Url,
    /// The Sentinels that name the master, if the deployment has them.
    pub sentinel: Option<SentinelConfig>,
    /// Replicas that must acknowledge an append (`WAIT`); 0: none.
    pub wait_replicas: u32,
    /// The CA certificates (PEM) trusted for `rediss://`, read at validation.
    pub ca_pem: Option<Vec<u8>>,
    /// The Redis password, read at validation.
    pub password: Option<Secret>,
    /// Key prefix.
    pub key_prefix: String,
    /// This node's name.
    pub node_name: String,
    /// Events kept in the shared history.
    pub history_max_events: usize,
    /// Redis deadline.
    pub timeout: Duration,
}

/// Redis Sentinel: where to ask for the master, and which one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelConfig {
    /// The Sentinels' addresses.
    pub addresses: Vec<(String, u16)>,
    /// The master's name (`sentinel monitor <name> ...`).
    pub master: String,
    /// The Sentinels' password, read at validation.
    pub password: Option<Secret>,
}

/// A secret that never shows in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, to hand to the client that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
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
        if !matches!(redis_url.scheme(), "redis" | "rediss") || redis_url.host().is_none() {
            return invalid(
                "cluster.redis_url",
                format!("{text:?}: expected redis://host:port/db or rediss://host:port/db"),
            );
        }
        let sentinel = sentinel(&redis_url, self.sentinels, self.sentinel_password_file)?;
        if redis_url.password().is_some() {
            return invalid(
                "cluster.redis_url",
                "holds a password: put it in cluster.password_file instead",
            );
        }
        let ca_pem = match self.ca_file {
            Some(_) if redis_url.scheme() != "rediss" => {
                return invalid("cluster.ca_file", "only applies to rediss:// URLs")
            }
            Some(path) => Some(crate::files::read(&path).or_else(|e| {
                invalid(
                    "cluster.ca_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?),
            None => None,
        };
        let password = read_secret("cluster.password_file", self.password_file)?;
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
            sentinel,
            wait_replicas: self.wait_replicas,
            ca_pem,
            password,
            key_prefix: self.key_prefix,
            node_name,
            history_max_events,
            timeout: secs("cluster.timeout_secs", self.timeout_secs)?,
        }))
    }
}

/// The Sentinel settings, if `addresses` names any: the URL's host is then the master's
/// name, and cannot carry a port.
fn sentinel(
    url: &Url,
    addresses: Vec<String>,
    password_file: Option<PathBuf>,
) -> Result<Option<SentinelConfig>, ConfigError> {
    if addresses.is_empty() {
        if password_file.is_some() {
            return invalid("cluster.sentinel_password_file", "needs cluster.sentinels");
        }
        return Ok(None);
    }
    let master = url.host_str().unwrap_or_default().to_owned();
    if url.port().is_some() {
        return invalid(
            "cluster.redis_url",
            format!(
                "with cluster.sentinels, the host is the master's name and has no port \
                 (redis://{master}/0)"
            ),
        );
    }
    let addresses = addresses
        .iter()
        .map(|address| {
            let parsed = address
                .rsplit_once(':')
                .and_then(|(host, port)| Some((host.trim_matches(['[', ']']), port.parse().ok()?)))
                .filter(|(host, port): &(&str, u16)| !host.is_empty() && *port != 0);
            match parsed {
                Some((host, port)) => Ok((host.to_owned(), port)),
                None => invalid(
                    "cluster.sentinels",
                    format!("{address:?}: expected host:port, such as 10.0.0.1:26379"),
                ),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(SentinelConfig {
        addresses,
        master,
        password: read_secret("cluster.sentinel_password_file", password_file)?,
    }))
}

/// The secret in the file at `path` (trailing newline ignored), named `key` in errors.
fn read_secret(key: &str, path: Option<PathBuf>) -> Result<Option<Secret>, ConfigError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = crate::files::read_to_string(&path)
        .or_else(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return invalid(key, "is empty");
    }
    Ok(Some(Secret(secret.to_owned())))
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

    #[test]
    fn sentinels_name_the_master_by_the_url_host() {
        let raw = RawCluster {
            redis_url: Some("rediss://ssegate@mymaster/2".into()),
            sentinels: vec!["10.0.0.1:26379".into(), "[::1]:26380".into()],
            wait_replicas: 1,
            node_name: Some("a".into()),
            ..RawCluster::default()
        };
        let config = validate(raw).unwrap().unwrap();
        let sentinel = config.sentinel.unwrap();
        assert_eq!(sentinel.master, "mymaster");
        assert_eq!(
            sentinel.addresses,
            [("10.0.0.1".to_owned(), 26379), ("::1".to_owned(), 26380)]
        );
        assert_eq!(config.wait_replicas, 1);
    }

    #[test]
    fn bad_sentinel_settings_are_named() {
        let cases = [
            (
                "redis://mymaster:6379/0",
                "10.0.0.1:26379",
                "cluster.redis_url",
            ),
            ("redis://mymaster/0", "10.0.0.1", "cluster.sentinels"),
            ("redis://mymaster/0", ":26379", "cluster.sentinels"),
        ];
        for (url, sentinel, key) in cases {
            let raw = RawCluster {
                redis_url: Some(url.into()),
                sentinels: vec![sentinel.into()],
                ..RawCluster::default()
            };
            let error = validate(raw).unwrap_err().to_string();
            assert!(error.contains(key), "{url} {sentinel}: {error}");
        }
    }
}
