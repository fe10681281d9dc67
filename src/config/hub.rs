//! `[hub]`: the hub's section as written, and the settings it validates into.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[hub]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHub {
    /// Serve the built-in hub. Default true.
    pub enabled: bool,
    /// Path prefix of the hub's API. Default `/events`.
    pub path: String,
    /// A comment is sent on a stream silent for this long, in seconds. Default 15.
    pub heartbeat_interval_secs: f64,
    /// Events kept for `Last-Event-ID` replay, all topics together. Default 10000.
    pub history_max_events: usize,
    /// Bytes of encoded events kept for replay. Default 16 MiB.
    pub history_max_bytes: usize,
    /// Events queued for one subscriber before its stream is ended as too slow. Default 256.
    pub subscriber_queue: usize,
    /// Topics one stream may subscribe to. Default 64.
    pub max_topics_per_subscription: usize,
    /// Streams the hub serves at once (native and Mercure together); more are refused with
    /// `503` and `Retry-After`, before they cost anything. 0: no limit. Default 1,000,000.
    pub max_subscribers: u64,
    /// Who may publish, on the native API and the Mercure hub alike: `required` (a static
    /// token from `publish_tokens` or an access token granting `publish`), `open` (anyone
    /// who can reach the listener), or `auto` (default): `required` as soon as a listener
    /// is bound to an address that is not loopback.
    pub publish_auth: String,
    /// Static bearer tokens accepted for publishing on the native API. Prefer
    /// `publish_tokens_file` for secrets.
    pub publish_tokens: Vec<String>,
    /// A file with one static publish token per line (blank lines and `#` comments skipped).
    pub publish_tokens_file: Option<PathBuf>,
    /// Publishes per second one client address may make (native and Mercure together),
    /// with bursts of one second's worth; over it, `429` with `Retry-After`. Loopback
    /// addresses are not limited. 0: no limit. Default 1000.
    pub publish_rate_per_client: f64,
    /// Publishes per second one bearer token may make, wherever from. 0 (default): no limit.
    pub publish_rate_per_token: f64,
}

impl Default for RawHub {
    fn default() -> Self {
        let hub = HubConfig::default();
        Self {
            enabled: true,
            path: "/events".into(),
            heartbeat_interval_secs: 15.0,
            history_max_events: hub.history_max_events,
            history_max_bytes: hub.history_max_bytes,
            subscriber_queue: hub.subscriber_queue,
            max_topics_per_subscription: hub.max_topics_per_subscription,
            max_subscribers: hub.max_subscribers,
            publish_auth: "auto".into(),
            publish_tokens: Vec::new(),
            publish_tokens_file: None,
            publish_rate_per_client: 1000.0,
            publish_rate_per_token: 0.0,
        }
    }
}

/// Settings of the hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Most events kept for replay, all topics together.
    pub history_max_events: usize,
    /// Most bytes of encoded events kept for replay.
    pub history_max_bytes: usize,
    /// Most events queued for one subscriber before its stream is ended.
    pub subscriber_queue: usize,
    /// Most topics one stream may subscribe to.
    pub max_topics_per_subscription: usize,
    /// Most streams at once; 0: no limit.
    pub max_subscribers: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            history_max_events: 10_000,
            history_max_bytes: 16 << 20,
            subscriber_queue: 256,
            max_topics_per_subscription: 64,
            max_subscribers: 1_000_000,
        }
    }
}
