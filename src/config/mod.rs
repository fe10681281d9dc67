//! Configuration: the TOML file's shape ([`RawConfig`], every field optional with a
//! documented default) and its validated form ([`Config`], with `Duration`s and parsed
//! addresses). Bad values are reported with the name of the key, before any port is bound.
//!
//! Plain data: imports `http` (trusted proxies) and `auth` (verification keys), never a
//! front door, the hub's internals or the edge; each area imports its section from here.

mod admin;
mod cluster;
mod hub;
pub mod mercure;
mod publish_auth;
mod route;
mod tls;
mod values;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

pub use admin::{AdminConfig, RawAdmin, DEFAULT_ADMIN_LISTEN};
pub use cluster::{ClusterConfig, RawCluster, SentinelConfig};
pub use hub::{HubConfig, RawHub};
pub use mercure::{CorsOrigins, MercureConfig, RawIssuer, RawKey, RawMercure};
use publish_auth::publish_auth;
pub use publish_auth::{PublishAuthConfig, PublishAuthMode};
pub use route::{RawRoute, RouteConfig, UpstreamProto, DEFAULT_FANOUT_VARY};
pub use tls::{
    AcmeChallenge, AcmeConfig, CertificateFiles, RawAcme, RawCertificate, RawTls, TlsConfig,
    TlsSource, LETS_ENCRYPT,
};
use values::{at_least, coalesce_window, parse_addr, positive, window};
pub use values::{invalid, secs};

use crate::http::TrustedProxies;

/// Default TLS listen address: loopback only, so a first run exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Names and addresses the generated local server certificate covers by default.
pub const DEFAULT_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1"];
/// Heartbeat intervals of silence after which a shared upstream stream is reconnected,
/// unless a route sets `fanout_idle_timeout_secs`.
pub const DEFAULT_FANOUT_IDLE_HEARTBEATS: u32 = 3;
/// Default directory of generated local certificates.
pub const DEFAULT_CERT_DIR: &str = "certs";

/// A configuration value that is wrong, or a file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file cannot be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has unknown keys or wrong types.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, naming the key and line.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("invalid value for `{key}`: {reason}")]
    Invalid {
        /// The key, as `section.name` (`route[2].upstream` for array entries).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The configuration file as written. Every key is optional; unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    /// `[server]`: listeners, connection limits and timeouts.
    pub server: RawServer,
    /// `[tls]`: certificate source.
    pub tls: RawTls,
    /// `[http2]`: HTTP/2 settings.
    pub http2: RawHttp2,
    /// `[hub]`: the SSE hub.
    pub hub: RawHub,
    /// `[log]`: logging.
    pub log: RawLog,
    /// `[demo]`: the demo page.
    pub demo: RawDemo,
    /// `[mercure]`: the Mercure protocol hub.
    pub mercure: RawMercure,
    /// `[cluster]`: a log shared with other nodes on Redis Streams.
    pub cluster: RawCluster,
    /// `[admin]`: the admin listener (metrics, health, readiness).
    pub admin: RawAdmin,
    /// `[[route]]`: upstream routes of the gateway.
    #[serde(rename = "route")]
    pub routes: Vec<RawRoute>,
}

/// `[demo]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDemo {
    /// Serve the demo page at `/`. Default true.
    pub enabled: bool,
}

impl Default for RawDemo {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawServer {
    /// TLS listener address (`h2` and `http/1.1` by ALPN). Default `127.0.0.1:8443`.
    pub listen: String,
    /// Optional plaintext listener (HTTP/1.1 and h2c with prior knowledge), for running
    /// behind a TLS-terminating proxy. Default: none.
    pub plaintext_listen: Option<String>,
    /// Most connections open at once; further ones wait in the kernel's backlog. Default 10000.
    pub max_connections: usize,
    /// Connections one client address may hold at once; more are closed at accept.
    /// Loopback addresses and trusted proxies are not counted. 0: no limit. Default 256.
    pub max_connections_per_client: usize,
    /// Deadline for the TLS handshake, in seconds. Default 10.
    pub tls_handshake_timeout_secs: f64,
    /// Deadline for a connection's first complete request headers (and, on HTTP/1.1, for
    /// each request's headers), in seconds. Default 10. Never applies to open streams.
    pub header_read_timeout_secs: f64,
    /// Deadline for reading a publish request's body, in seconds. Default 30.
    pub body_read_timeout_secs: f64,
    /// Largest accepted request body (an event's data), in bytes. Default 1 MiB.
    pub max_body_bytes: usize,
    /// How long graceful shutdown waits for connections to close, in seconds. Default 10.
    pub shutdown_timeout_secs: f64,
    /// Write batching window, in milliseconds: a connection that flushed less than this
    /// long ago waits out the window, so its frames leave together in one TLS record and
    /// one write. A quiet connection's first flush is never delayed. 0 turns it off.
    /// Default 2 (measured: 10k streams on 100 connections at 100k deliveries/s, CPU per
    /// delivery 8.3 µs without, 5.8 µs with, p99 3.5 -> 4.6 ms).
    pub write_coalesce_ms: f64,
    /// A connection whose peer accepts no data for this long is closed, in seconds: an
    /// HTTP/1.1 client that stops reading would otherwise hold its stream forever. The same
    /// deadline applies to a response the client holds at a zero HTTP/2 window. Default 60.
    pub write_stall_timeout_secs: f64,
    /// Threads that serve connections, each with a runtime of its own; a connection stays
    /// on the one it was given at accept (the one serving fewest). 0: one per core.
    /// Default 0 (measured: at 100k deliveries/s, a third less CPU per delivery than
    /// tokio's work-stealing workers, which woke each other about three times per event).
    pub workers: usize,
    /// The TLS listener expects a PROXY protocol (v1 or v2) header on every connection,
    /// from a load balancer such as HAProxy (`send-proxy-v2`). Default false.
    pub proxy_protocol: bool,
    /// The same for the plaintext listener. Default false.
    pub plaintext_proxy_protocol: bool,
    /// Peers (IP addresses or CIDRs) whose `X-Forwarded-For` names the client, and whose
    /// forwarding headers the gateway extends instead of replacing. Default none.
    pub trusted_proxies: Vec<String>,
}

/// `[http2]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHttp2 {
    /// SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may open on one connection;
    /// browsers honour it, and every EventSource is one stream. Default 512.
    pub max_concurrent_streams: u32,
    /// Receive window of each stream (request bodies), in bytes. Default 256 KiB.
    pub initial_stream_window: u32,
    /// Receive window of a connection, in bytes. Default 1 MiB.
    pub initial_connection_window: u32,
    /// Interval of keep-alive PINGs that detect dead peers, in seconds; 0 turns them off.
    /// Default 30.
    pub keepalive_interval_secs: f64,
    /// How long a PING may go unanswered before the connection is closed, in seconds.
    /// Default 20.
    pub keepalive_timeout_secs: f64,
    /// Largest accepted request header list, in bytes. Default 16 KiB.
    pub max_header_list_size: u32,
    /// No longer used, still accepted so that existing files load: it capped `h2`'s
    /// buffer per stream, and the connection's own framing keeps at most the rest of one
    /// frame per stream beyond the client's flow-control window.
    pub max_send_buf_size: usize,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLog {
    /// `text` (default) or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `ssegate=debug`. Default `info`; `RUST_LOG`
    /// overrides it.
    pub filter: String,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.into(),
            plaintext_listen: None,
            max_connections: 10_000,
            max_connections_per_client: 256,
            tls_handshake_timeout_secs: 10.0,
            header_read_timeout_secs: 10.0,
            body_read_timeout_secs: 30.0,
            max_body_bytes: 1 << 20,
            shutdown_timeout_secs: 10.0,
            write_coalesce_ms: 2.0,
            write_stall_timeout_secs: 60.0,
            workers: 0,
            proxy_protocol: false,
            plaintext_proxy_protocol: false,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for RawHttp2 {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 512,
            initial_stream_window: 256 << 10,
            initial_connection_window: 1 << 20,
            keepalive_interval_secs: 30.0,
            keepalive_timeout_secs: 20.0,
            max_header_list_size: 16 << 10,
            max_send_buf_size: 32 << 10,
        }
    }
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "text".into(),
            filter: "info".into(),
        }
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listeners, limits and timeouts.
    pub server: ServerConfig,
    /// Where the certificate comes from.
    pub tls: TlsConfig,
    /// HTTP/2 settings.
    pub http2: Http2Config,
    /// Hub settings.
    pub hub: HubConfig,
    /// Heartbeat interval of every stream.
    pub heartbeat_interval: Duration,
    /// Logging.
    pub log: LogConfig,
    /// Path prefix of the hub's API; `None` when the hub is disabled.
    pub hub_path: Option<String>,
    /// Serve the demo page.
    pub demo: bool,
    /// Gateway routes, in the order they are tried.
    pub routes: Vec<RouteConfig>,
    /// Who may publish.
    pub publish_auth: PublishAuthConfig,
    /// The Mercure hub; `None` when disabled.
    pub mercure: Option<MercureConfig>,
    /// The shared log; `None`: this node's log is in memory.
    pub cluster: Option<ClusterConfig>,
    /// The admin listener and health endpoints.
    pub admin: AdminConfig,
}

/// Validated `[server]`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// TLS listener.
    pub listen: SocketAddr,
    /// Plaintext listener.
    pub plaintext_listen: Option<SocketAddr>,
    /// Connection limit.
    pub max_connections: usize,
    /// Connections per client address (0: no limit).
    pub max_connections_per_client: usize,
    /// TLS handshake deadline.
    pub tls_handshake_timeout: Duration,
    /// First-request (and HTTP/1.1 header) deadline.
    pub header_read_timeout: Duration,
    /// Publish body deadline.
    pub body_read_timeout: Duration,
    /// Publish body limit.
    pub max_body_bytes: usize,
    /// Drain deadline.
    pub shutdown_timeout: Duration,
    /// Write batching window (zero: off).
    pub write_coalesce: Duration,
    /// Deadline for a peer to accept any written data.
    pub write_stall_timeout: Duration,
    /// Connection worker threads (0: one per core).
    pub workers: usize,
    /// PROXY protocol on the TLS listener.
    pub proxy_protocol: bool,
    /// PROXY protocol on the plaintext listener.
    pub plaintext_proxy_protocol: bool,
    /// Peers whose forwarding headers are trusted.
    pub trusted_proxies: TrustedProxies,
}

/// Validated `[http2]`.
#[derive(Debug, Clone)]
pub struct Http2Config {
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: u32,
    /// Per-stream receive window.
    pub initial_stream_window: u32,
    /// Per-connection receive window.
    pub initial_connection_window: u32,
    /// Keep-alive PING interval; `None` turns PINGs off.
    pub keepalive_interval: Option<Duration>,
    /// Keep-alive PING timeout.
    pub keepalive_timeout: Duration,
    /// Header list limit.
    pub max_header_list_size: u32,
    /// No longer used (see the raw setting).
    pub max_send_buf_size: usize,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Validated `[log]`.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Format.
    pub format: LogFormat,
    /// tracing filter directives.
    pub filter: String,
}

impl RawConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = crate::files::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text; the error is toml's message, which names the key and line.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// Checks every value and converts it to its working form.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let s = self.server;
        let server = ServerConfig {
            listen: parse_addr("server.listen", &s.listen)?,
            plaintext_listen: s
                .plaintext_listen
                .filter(|a| !a.is_empty())
                .map(|a| parse_addr("server.plaintext_listen", &a))
                .transpose()?,
            max_connections: positive("server.max_connections", s.max_connections)?,
            max_connections_per_client: s.max_connections_per_client,
            tls_handshake_timeout: secs(
                "server.tls_handshake_timeout_secs",
                s.tls_handshake_timeout_secs,
            )?,
            header_read_timeout: secs(
                "server.header_read_timeout_secs",
                s.header_read_timeout_secs,
            )?,
            body_read_timeout: secs("server.body_read_timeout_secs", s.body_read_timeout_secs)?,
            max_body_bytes: positive("server.max_body_bytes", s.max_body_bytes)?,
            shutdown_timeout: secs("server.shutdown_timeout_secs", s.shutdown_timeout_secs)?,
            write_coalesce: coalesce_window(s.write_coalesce_ms)?,
            write_stall_timeout: secs(
                "server.write_stall_timeout_secs",
                s.write_stall_timeout_secs,
            )?,
            workers: s.workers,
            proxy_protocol: s.proxy_protocol,
            plaintext_proxy_protocol: s.plaintext_proxy_protocol,
            trusted_proxies: TrustedProxies::parse(&s.trusted_proxies)
                .or_else(|e| invalid("server.trusted_proxies", e.to_string()))?,
        };
        let tls = self.tls.validate()?;
        let http01 = tls
            .acme
            .as_ref()
            .is_some_and(|a| a.challenge == AcmeChallenge::Http01);
        if http01 && server.plaintext_listen.is_none() {
            return invalid(
                "tls.acme.challenge",
                "http-01 is answered on the plaintext listener: set server.plaintext_listen (port 80)",
            );
        }
        let h = self.http2;
        let http2 = Http2Config {
            max_concurrent_streams: positive(
                "http2.max_concurrent_streams",
                h.max_concurrent_streams,
            )?,
            initial_stream_window: window("http2.initial_stream_window", h.initial_stream_window)?,
            initial_connection_window: window(
                "http2.initial_connection_window",
                h.initial_connection_window,
            )?,
            keepalive_interval: if h.keepalive_interval_secs == 0.0 {
                None
            } else {
                Some(secs(
                    "http2.keepalive_interval_secs",
                    h.keepalive_interval_secs,
                )?)
            },
            keepalive_timeout: secs("http2.keepalive_timeout_secs", h.keepalive_timeout_secs)?,
            max_header_list_size: at_least(
                "http2.max_header_list_size",
                h.max_header_list_size,
                1024,
            )?,
            max_send_buf_size: at_least("http2.max_send_buf_size", h.max_send_buf_size, 1024)?,
        };
        let b = self.hub;
        let hub = HubConfig {
            history_max_events: b.history_max_events,
            history_max_bytes: b.history_max_bytes,
            subscriber_queue: positive("hub.subscriber_queue", b.subscriber_queue)?,
            max_topics_per_subscription: positive(
                "hub.max_topics_per_subscription",
                b.max_topics_per_subscription,
            )?,
            max_subscribers: b.max_subscribers,
        };
        let heartbeat_interval = secs("hub.heartbeat_interval_secs", b.heartbeat_interval_secs)?;
        let format = match self.log.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return invalid("log.format", format!("{other:?}: expected text or json")),
        };
        let publish_auth = publish_auth(
            b.publish_auth,
            b.publish_tokens,
            b.publish_tokens_file,
            (b.publish_rate_per_client, b.publish_rate_per_token),
        )?;
        let hub_path = if b.enabled {
            let path = b.path.trim_end_matches('/');
            if !b.path.starts_with('/') || path.is_empty() {
                return invalid(
                    "hub.path",
                    format!("{:?} must start with / and not be /", b.path),
                );
            }
            Some(path.to_owned())
        } else {
            None
        };
        let mut routes = self
            .routes
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let default_idle = r.fanout_idle_timeout_secs.is_none();
                let mut route = r.validate(i)?;
                if default_idle {
                    // A few missed heartbeats: an upstream that heartbeats like ssegate
                    // does is never cut, a silent half-open one is within a minute.
                    route.fanout_idle_timeout =
                        Some(heartbeat_interval * DEFAULT_FANOUT_IDLE_HEARTBEATS);
                }
                Ok(route)
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let cluster = self.cluster.validate(hub.history_max_events)?;
        // Stable: equal precedence keeps the file's order.
        routes.sort_by_key(RouteConfig::precedence);
        Ok(Config {
            server,
            tls,
            http2,
            hub,
            hub_path,
            demo: self.demo.enabled,
            routes,
            publish_auth,
            mercure: self.mercure.validate()?,
            cluster,
            admin: self.admin.validate()?,
            heartbeat_interval,
            log: LogConfig {
                format,
                filter: self.log.filter,
            },
        })
    }
}

impl Default for Config {
    /// The embedded defaults: what `ssegate serve` runs with no arguments.
    fn default() -> Self {
        // The defaults are constants that `validate` accepts; a unit test pins that.
        RawConfig::default()
            .validate()
            .unwrap_or_else(|e| unreachable!("default config is invalid: {e}"))
    }
}

#[cfg(test)]
mod tests;
