//! `[[route]]` tables: how a gateway route is written and validated into plain data. The
//! gateway matches requests against it (`gateway::route`).

use std::{path::PathBuf, time::Duration};

use http::{uri::Authority, Uri};
use serde::{Deserialize, Serialize};

use super::{invalid, secs, ConfigError};

/// Request headers that make concurrent SSE requests distinct by default: streams are never
/// shared across credentials.
pub const DEFAULT_FANOUT_VARY: &[&str] = &["authorization", "cookie"];

/// A `[[route]]` table as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRoute {
    /// Path prefix the route serves, e.g. `/app` (matches `/app` and `/app/...`). Required.
    pub path: String,
    /// Only requests for this host (the `Host` header or `:authority`, port ignored).
    pub host: Option<String>,
    /// `http://host:port` (HTTP/1.1), `h2c://host:port` (HTTP/2 without TLS) or
    /// `https://host:port` (TLS, HTTP/2 or HTTP/1.1 by ALPN). Required.
    pub upstream: String,
    /// Remove `path` from the request path before forwarding. Default false.
    pub strip_prefix: bool,
    /// Send the client's `Host` upstream instead of the upstream's own. Default false.
    pub preserve_host: bool,
    /// PEM CA certificates trusted for an `https` upstream, instead of the system roots.
    pub ca: Option<PathBuf>,
    /// Deadline for connecting to the upstream, in seconds. Default 5.
    pub connect_timeout_secs: f64,
    /// Deadline for the upstream's response headers, in seconds. Default 30.
    pub response_header_timeout_secs: f64,
    /// Longest silence inside a response body, in seconds; 0 = none. Default 60. Never
    /// applies to `text/event-stream` responses.
    pub idle_timeout_secs: f64,
    /// Deadline for the whole exchange, in seconds; 0 = none (default). Never applies to
    /// `text/event-stream` responses.
    pub total_timeout_secs: f64,
    /// Share one upstream request among concurrent identical SSE GETs. Default false.
    pub fanout: bool,
    /// Request headers that make two SSE GETs different for fan-out. Default
    /// `["authorization", "cookie"]`.
    pub fanout_vary: Vec<String>,
    /// Events a late joiner of a shared stream gets from before it joined. Default 0.
    pub fanout_replay: usize,
    /// Longest silence (no byte, no upstream heartbeat) of a shared upstream stream before
    /// it is taken for dead and reconnected with `Last-Event-ID`, in seconds; 0 = never.
    /// Default: three heartbeat intervals (`hub.heartbeat_interval_secs`).
    pub fanout_idle_timeout_secs: Option<f64>,
}

impl Default for RawRoute {
    fn default() -> Self {
        Self {
            path: String::new(),
            host: None,
            upstream: String::new(),
            strip_prefix: false,
            preserve_host: false,
            ca: None,
            connect_timeout_secs: 5.0,
            response_header_timeout_secs: 30.0,
            idle_timeout_secs: 60.0,
            total_timeout_secs: 0.0,
            fanout: false,
            fanout_vary: DEFAULT_FANOUT_VARY.iter().map(|h| h.to_string()).collect(),
            fanout_replay: 0,
            fanout_idle_timeout_secs: None,
        }
    }
}

/// How the gateway talks to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProto {
    /// HTTP/1.1 over TCP.
    Http1,
    /// HTTP/2 over TCP with prior knowledge.
    H2c,
    /// TLS, protocol by ALPN.
    Https,
}

/// A validated route.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Path prefix, without a trailing `/` (except the root `/`).
    pub path: String,
    /// Host to match, lowercase, without port.
    pub host: Option<String>,
    /// Upstream protocol.
    pub proto: UpstreamProto,
    /// Upstream `host:port`.
    pub authority: Authority,
    /// Path prefix on the upstream (from the upstream URL), without a trailing `/`.
    pub upstream_path: String,
    /// Remove `path` before forwarding.
    pub strip_prefix: bool,
    /// Forward the client's `Host`.
    pub preserve_host: bool,
    /// CA file for `https` upstreams.
    pub ca: Option<PathBuf>,
    /// Connect deadline.
    pub connect_timeout: Duration,
    /// Response header deadline.
    pub response_header_timeout: Duration,
    /// Body idle deadline (not for SSE).
    pub idle_timeout: Option<Duration>,
    /// Whole-exchange deadline (not for SSE).
    pub total_timeout: Option<Duration>,
    /// Fan-out of identical SSE GETs.
    pub fanout: bool,
    /// Headers that distinguish fan-out streams, lowercase.
    pub fanout_vary: Vec<http::HeaderName>,
    /// Events replayed to late joiners.
    pub fanout_replay: usize,
    /// Silence after which a shared upstream stream is reconnected; `None`: never. When the
    /// file leaves it unset, [`RawConfig::validate`](super::RawConfig::validate) sets three
    /// heartbeat intervals.
    pub fanout_idle_timeout: Option<Duration>,
}

impl RawRoute {
    /// Validates the route at `index` (for error messages: `route[index].key`).
    pub fn validate(self, index: usize) -> Result<RouteConfig, ConfigError> {
        let key = |name: &str| format!("route[{index}].{name}");
        if !self.path.starts_with('/') {
            return invalid(key("path"), format!("{:?} must start with /", self.path));
        }
        let path = match self.path.trim_end_matches('/') {
            "" => "/".to_owned(),
            trimmed => trimmed.to_owned(),
        };
        let uri: Uri = self
            .upstream
            .parse()
            .or_else(|_| invalid(key("upstream"), format!("{:?} is not a URL", self.upstream)))?;
        let proto = match uri.scheme_str() {
            Some("http") => UpstreamProto::Http1,
            Some("h2c") => UpstreamProto::H2c,
            Some("https") => UpstreamProto::Https,
            _ => {
                return invalid(
                    key("upstream"),
                    format!("{:?}: the scheme must be http, h2c or https", self.upstream),
                )
            }
        };
        let authority = match uri.authority() {
            Some(a) if !a.host().is_empty() => a.clone(),
            _ => return invalid(key("upstream"), format!("{:?} has no host", self.upstream)),
        };
        if uri.query().is_some() {
            return invalid(key("upstream"), "must not have a query");
        }
        if self.ca.is_some() && proto != UpstreamProto::Https {
            return invalid(key("ca"), "only applies to https upstreams");
        }
        let fanout_vary = self
            .fanout_vary
            .iter()
            .map(|h| {
                http::HeaderName::try_from(h.to_ascii_lowercase())
                    .or_else(|_| invalid(key("fanout_vary"), format!("{h:?} is not a header name")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let optional = |name: &str, value: f64| -> Result<Option<Duration>, ConfigError> {
            if value == 0.0 {
                Ok(None)
            } else {
                secs(&key(name), value).map(Some)
            }
        };
        Ok(RouteConfig {
            path,
            host: self
                .host
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase()),
            proto,
            authority,
            upstream_path: uri.path().trim_end_matches('/').to_owned(),
            strip_prefix: self.strip_prefix,
            preserve_host: self.preserve_host,
            ca: self.ca,
            connect_timeout: secs(&key("connect_timeout_secs"), self.connect_timeout_secs)?,
            response_header_timeout: secs(
                &key("response_header_timeout_secs"),
                self.response_header_timeout_secs,
            )?,
            idle_timeout: optional("idle_timeout_secs", self.idle_timeout_secs)?,
            total_timeout: optional("total_timeout_secs", self.total_timeout_secs)?,
            fanout: self.fanout,
            fanout_vary,
            fanout_replay: self.fanout_replay,
            fanout_idle_timeout: match self.fanout_idle_timeout_secs {
                Some(value) => optional("fanout_idle_timeout_secs", value)?,
                None => None,
            },
        })
    }
}

impl RouteConfig {
    /// Orders routes for matching: host-specific first, then longer prefixes first.
    pub fn precedence(&self) -> (bool, usize) {
        (self.host.is_none(), usize::MAX - self.path.len())
    }

    /// The route's name in metrics labels: its host (if any) and path prefix, from the
    /// configuration, so the label's values are as many as the routes.
    pub fn metric_label(&self) -> String {
        match &self.host {
            Some(host) => format!("{host}{}", self.path),
            None => self.path.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(toml_route: &str) -> Result<RouteConfig, ConfigError> {
        let raw: RawRoute = toml::from_str(toml_route).unwrap();
        raw.validate(0)
    }

    #[test]
    fn bad_routes_name_their_key() {
        let cases = [
            ("path = \"app\"\nupstream = \"http://a:1\"", "route[0].path"),
            (
                "path = \"/\"\nupstream = \"ftp://a:1\"",
                "route[0].upstream",
            ),
            ("path = \"/\"", "route[0].upstream"),
            (
                "path = \"/\"\nupstream = \"http://a:1\"\nca = \"x.pem\"",
                "route[0].ca",
            ),
            (
                "path = \"/\"\nupstream = \"http://a:1\"\nconnect_timeout_secs = 0",
                "route[0].connect_timeout_secs",
            ),
        ];
        for (text, key) in cases {
            let err = route(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
