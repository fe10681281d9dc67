//! The `[mercure]` configuration section as written ([`RawMercure`], every key optional) and
//! validated ([`MercureConfig`]: key files read, URLs parsed), so that a bad key or secret is
//! reported with the name of its setting before any port is bound.

use std::{path::PathBuf, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};
use url::Url;

use super::{invalid, secs, ConfigError};
use crate::auth::{Algorithm, Issuer, JwksFetchConfig, Key, DEFAULT_COOKIE, LEGACY_COOKIE};

/// The hub URL's path unless `hub_url` says otherwise (RFC 8615 well-known URI).
pub const DEFAULT_PATH: &str = "/.well-known/mercure";

/// `[mercure]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMercure {
    /// Serve the Mercure hub. Default true.
    pub enabled: bool,
    /// The hub's URL, as publishers advertise it: the base of relative topics and URL
    /// patterns, and (unless `audience` is set) the `aud` tokens must carry. Its path is
    /// where the hub is served. Default `https://localhost:{TLS port}/.well-known/mercure`.
    pub hub_url: Option<String>,
    /// The resource identifier tokens must name in `aud`. Default: `hub_url`.
    pub audience: Option<String>,
    /// Subscribers without a token may subscribe (they get public updates only).
    /// Default true.
    pub anonymous: bool,
    /// Name of the cookie carrying the access token. Default `__Secure-mercure_access_token`.
    pub cookie_name: String,
    /// Origins (`https://app.example.com`) allowed to subscribe and publish from a browser,
    /// with credentials. `*` allows any origin without credentials. Default none.
    pub cors_origins: Vec<String>,
    /// Publish subscription events and serve the subscription API. Default true.
    pub subscriptions: bool,
    /// Pre-1.0 compatibility: `topic` selectors, `mercure` claims, the `mercureAuthorization`
    /// cookie and `authorization` query parameter, `lastEventID`. Default false.
    pub legacy: bool,
    /// Cookie name of pre-1.0 clients. Default `mercureAuthorization`.
    pub legacy_cookie_name: String,
    /// Keys of pre-1.0 tokens (which name no issuer).
    pub legacy_keys: Vec<RawKey>,
    /// Trusted token issuers and their keys.
    pub issuers: Vec<RawIssuer>,
    /// Accepted signature algorithms. Default: all but `none`.
    pub algorithms: Vec<String>,
    /// Clock-skew leeway on `exp`, `nbf` and `iat`, in seconds. Default 30.
    pub leeway_secs: f64,
    /// Longest a subscription stream stays open, token or not, in seconds; the client
    /// reconnects (with `Last-Event-ID`) and presents its token again. Default 3600.
    pub max_connection_secs: f64,
    /// Most `topic` fields in one publish request (more: 413). Default 64.
    pub max_publish_topics: usize,
    /// Most subscription streams one client address may hold at once (more: 429). The
    /// address is the one the connection reports (PROXY protocol, trusted proxies). 0 turns
    /// the limit off. Default 10000.
    pub max_streams_per_client: usize,
}

/// A verification key: exactly one source.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawKey {
    /// An HMAC secret (at least 32 bytes).
    pub hmac_secret: Option<String>,
    /// A file holding the HMAC secret (trailing newline ignored).
    pub hmac_secret_file: Option<PathBuf>,
    /// A PEM public key (RSA, EC or Ed25519).
    pub public_key_file: Option<PathBuf>,
    /// A JWK Set file.
    pub jwks_file: Option<PathBuf>,
    /// A JWK Set URL, fetched at start and refreshed.
    pub jwks_url: Option<String>,
    /// Refresh interval of `jwks_url`, in seconds. Default 300.
    pub jwks_refresh_secs: Option<f64>,
    /// Key ID the key answers to (tokens naming another `kid` skip it).
    pub kid: Option<String>,
    /// Algorithms this key may verify (a subset of what its kind allows).
    pub algorithms: Vec<String>,
}

/// `[[mercure.issuers]]`: one trusted issuer and one of its keys (repeat the entry for more
/// keys of the same issuer).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawIssuer {
    /// The issuer identifier, compared exactly with `iss`.
    pub iss: String,
    /// The key.
    #[serde(flatten)]
    pub key: RawKey,
}

impl Default for RawMercure {
    fn default() -> Self {
        Self {
            enabled: true,
            hub_url: None,
            audience: None,
            anonymous: true,
            cookie_name: DEFAULT_COOKIE.into(),
            cors_origins: Vec::new(),
            subscriptions: true,
            legacy: false,
            legacy_cookie_name: LEGACY_COOKIE.into(),
            legacy_keys: Vec::new(),
            issuers: Vec::new(),
            algorithms: Vec::new(),
            leeway_secs: 30.0,
            max_connection_secs: 3600.0,
            max_publish_topics: 64,
            max_streams_per_client: 10_000,
        }
    }
}

/// Validated `[mercure]`.
#[derive(Debug, Clone)]
pub struct MercureConfig {
    /// The hub URL; `None` until the TLS port is known (see [`MercureConfig::hub_url_for`]).
    pub hub_url: Option<Url>,
    /// `aud`; `None` means the hub URL.
    pub audience: Option<String>,
    /// Anonymous subscribers allowed.
    pub anonymous: bool,
    /// Access token cookie.
    pub cookie_name: String,
    /// CORS allowlist.
    pub cors: CorsOrigins,
    /// Active subscriptions feature.
    pub subscriptions: bool,
    /// Pre-1.0 compatibility.
    pub legacy: bool,
    /// Pre-1.0 cookie.
    pub legacy_cookie_name: String,
    /// Pre-1.0 token keys.
    pub legacy_keys: Vec<Key>,
    /// Trusted issuers with their static keys.
    pub issuers: Vec<Issuer>,
    /// Issuers whose keys come from a URL.
    pub remote_jwks: Vec<(String, JwksFetchConfig)>,
    /// Accepted algorithms; empty means the default list.
    pub algorithms: Vec<Algorithm>,
    /// Leeway.
    pub leeway: Duration,
    /// Longest stream.
    pub max_connection: Duration,
    /// Most topics per publish.
    pub max_publish_topics: usize,
    /// Most streams per client address; 0: no limit.
    pub max_streams_per_client: usize,
}

/// Which origins may use the hub from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Only these (serialized origins), with credentials.
    List(Vec<String>),
    /// Any origin, never with credentials (`*`).
    Any,
}

impl RawMercure {
    /// Checks every value, reads the key files; `None` when the hub is disabled.
    pub fn validate(self) -> Result<Option<MercureConfig>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let hub_url = self
            .hub_url
            .map(|u| parse_hub_url("mercure.hub_url", &u))
            .transpose()?;
        if self.cookie_name.is_empty() || !self.cookie_name.bytes().all(is_cookie_name_byte) {
            return invalid("mercure.cookie_name", "not a valid cookie name");
        }
        if !self.legacy_cookie_name.bytes().all(is_cookie_name_byte) {
            return invalid("mercure.legacy_cookie_name", "not a valid cookie name");
        }
        let cors = cors_origins(self.cors_origins)?;
        let algorithms = algorithms("mercure.algorithms", &self.algorithms)?;
        let mut issuers: Vec<Issuer> = Vec::new();
        let mut remote_jwks = Vec::new();
        for (i, raw) in self.issuers.into_iter().enumerate() {
            let key_name = format!("mercure.issuers[{i}]");
            if raw.iss.is_empty() {
                return invalid(format!("{key_name}.iss"), "an issuer identifier is needed");
            }
            match load_key(&key_name, raw.key)? {
                Loaded::Static(keys) => match issuers.iter_mut().find(|is| is.iss == raw.iss) {
                    Some(issuer) => issuer.keys.extend(keys),
                    None => issuers.push(Issuer { iss: raw.iss, keys }),
                },
                Loaded::Remote(fetch) => remote_jwks.push((raw.iss, fetch)),
            }
        }
        let mut legacy_keys = Vec::new();
        for (i, raw) in self.legacy_keys.into_iter().enumerate() {
            let key_name = format!("mercure.legacy_keys[{i}]");
            match load_key(&key_name, raw)? {
                Loaded::Static(keys) => legacy_keys.extend(keys),
                Loaded::Remote(_) => {
                    return invalid(key_name, "pre-1.0 keys cannot come from a JWK Set URL")
                }
            }
        }
        if self.max_publish_topics == 0 {
            return invalid("mercure.max_publish_topics", "must be positive");
        }
        Ok(Some(MercureConfig {
            hub_url,
            audience: self.audience.filter(|a| !a.is_empty()),
            anonymous: self.anonymous,
            cookie_name: self.cookie_name,
            cors,
            subscriptions: self.subscriptions,
            legacy: self.legacy,
            legacy_cookie_name: self.legacy_cookie_name,
            legacy_keys,
            issuers,
            remote_jwks,
            algorithms,
            leeway: Duration::from_secs_f64(self.leeway_secs.clamp(0.0, 3600.0)),
            max_connection: secs("mercure.max_connection_secs", self.max_connection_secs)?,
            max_publish_topics: self.max_publish_topics,
            max_streams_per_client: self.max_streams_per_client,
        }))
    }
}

impl MercureConfig {
    /// The hub URL: as configured, else `https://localhost:{tls_port}/.well-known/mercure`.
    pub fn hub_url_for(&self, tls_port: u16) -> Url {
        self.hub_url.clone().unwrap_or_else(|| {
            let text = format!("https://localhost:{tls_port}{DEFAULT_PATH}");
            Url::parse(&text).unwrap_or_else(|e| unreachable!("{text} does not parse: {e}"))
        })
    }

    /// Whether any key can verify a token: without one, every token is refused.
    pub fn has_keys(&self) -> bool {
        !self.issuers.is_empty() || !self.remote_jwks.is_empty() || !self.legacy_keys.is_empty()
    }
}

fn parse_hub_url(key: &str, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).or_else(|e| invalid(key, format!("{text:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return invalid(key, format!("{text:?} is not an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return invalid(key, format!("{text:?} must not have a query or fragment"));
    }
    if url.path() == "/" {
        return invalid(
            key,
            format!("{text:?} needs a path, such as {DEFAULT_PATH}"),
        );
    }
    Ok(url)
}

fn cors_origins(origins: Vec<String>) -> Result<CorsOrigins, ConfigError> {
    if origins.iter().any(|o| o == "*") {
        if origins.len() > 1 {
            return invalid(
                "mercure.cors_origins",
                "`*` cannot be combined with origins",
            );
        }
        return Ok(CorsOrigins::Any);
    }
    let mut list = Vec::new();
    for origin in origins {
        let url = Url::parse(&origin).or_else(|e| {
            invalid(
                "mercure.cors_origins",
                format!("{origin:?} is not an origin: {e}"),
            )
        })?;
        let serialized = url.origin().ascii_serialization();
        if serialized == "null" || url.path() != "/" && !url.path().is_empty() {
            return invalid(
                "mercure.cors_origins",
                format!("{origin:?} is not an origin (scheme://host[:port])"),
            );
        }
        list.push(serialized);
    }
    Ok(CorsOrigins::List(list))
}

fn algorithms(key: &str, names: &[String]) -> Result<Vec<Algorithm>, ConfigError> {
    names
        .iter()
        .map(|name| {
            Algorithm::from_str(name)
                .or_else(|_| invalid(key, format!("{name:?} is not a JWS algorithm")))
        })
        .collect()
}

enum Loaded {
    Static(Vec<Key>),
    Remote(JwksFetchConfig),
}

fn load_key(key_name: &str, raw: RawKey) -> Result<Loaded, ConfigError> {
    let sources = [
        raw.hmac_secret.is_some(),
        raw.hmac_secret_file.is_some(),
        raw.public_key_file.is_some(),
        raw.jwks_file.is_some(),
        raw.jwks_url.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        return invalid(
            key_name,
            "exactly one of hmac_secret, hmac_secret_file, public_key_file, jwks_file, jwks_url is needed",
        );
    }
    let key_error = |field: &str, e: &dyn std::fmt::Display| {
        invalid::<Loaded>(format!("{key_name}.{field}"), e.to_string())
    };
    let algorithms = algorithms(&format!("{key_name}.algorithms"), &raw.algorithms)?;
    let mut keys = if let Some(secret) = raw.hmac_secret {
        match Key::hmac(secret.as_bytes()) {
            Ok(key) => vec![key],
            Err(e) => return key_error("hmac_secret", &e),
        }
    } else if let Some(path) = raw.hmac_secret_file {
        let secret = match crate::files::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                return key_error(
                    "hmac_secret_file",
                    &format!("cannot read {}: {e}", path.display()),
                )
            }
        };
        let secret = secret.strip_suffix(b"\n").unwrap_or(&secret);
        match Key::hmac(secret) {
            Ok(key) => vec![key],
            Err(e) => return key_error("hmac_secret_file", &e),
        }
    } else if let Some(path) = raw.public_key_file {
        match Key::public_pem_file(&path) {
            Ok(key) => vec![key],
            Err(e) => return key_error("public_key_file", &e),
        }
    } else if let Some(path) = raw.jwks_file {
        match Key::from_jwks_file(&path) {
            Ok(keys) => keys,
            Err(e) => return key_error("jwks_file", &e),
        }
    } else if let Some(url) = raw.jwks_url {
        let mut fetch = JwksFetchConfig::new(url);
        if let Some(refresh) = raw.jwks_refresh_secs {
            fetch.refresh = secs(&format!("{key_name}.jwks_refresh_secs"), refresh)?;
        }
        // Loopback key servers (a local authorization server, tests) may be plain http.
        fetch.allow_http = Url::parse(&fetch.url).is_ok_and(|u| {
            u.host_str()
                .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]")
        });
        return Ok(Loaded::Remote(fetch));
    } else {
        unreachable!("one source was counted above")
    };
    if let Some(kid) = raw.kid {
        keys = keys.into_iter().map(|k| k.with_kid(kid.clone())).collect();
    }
    if !algorithms.is_empty() {
        keys = keys
            .into_iter()
            .map(|k| k.with_algorithms(&algorithms))
            .collect::<Result<_, _>>()
            .or_else(|e| invalid(format!("{key_name}.algorithms"), e.to_string()))?;
    }
    Ok(Loaded::Static(keys))
}

/// RFC 6265 cookie-name: a token (visible ASCII but separators).
fn is_cookie_name_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

#[cfg(test)]
mod tests;
