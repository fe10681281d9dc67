//! `hub.publish_auth` and the static publish tokens: who may publish, on the native API and
//! the Mercure hub alike.

use std::path::PathBuf;

use super::{invalid, values::bearer_token, Config, ConfigError};

/// `hub.publish_auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishAuthMode {
    /// Required when a listener is not loopback.
    Auto,
    /// Always required.
    Required,
    /// Never required.
    Open,
}

/// Validated publish authorization settings.
#[derive(Clone, PartialEq)]
pub struct PublishAuthConfig {
    /// The mode as configured.
    pub mode: PublishAuthMode,
    /// Static bearer tokens of the native API.
    pub static_tokens: Vec<String>,
    /// Publishes per second per client address; 0: no limit.
    pub rate_per_client: f64,
    /// Publishes per second per bearer token; 0: no limit.
    pub rate_per_token: f64,
}

impl std::fmt::Debug for PublishAuthConfig {
    // The tokens are secrets: keep them out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishAuthConfig")
            .field("mode", &self.mode)
            .field("static_tokens", &self.static_tokens.len())
            .finish()
    }
}

impl Config {
    /// Whether publishing needs a token: `auto` resolves to yes when any listener is bound
    /// to a non-loopback address.
    pub fn publish_requires_auth(&self) -> bool {
        match self.publish_auth.mode {
            PublishAuthMode::Required => true,
            PublishAuthMode::Open => false,
            PublishAuthMode::Auto => {
                !self.server.listen.ip().is_loopback()
                    || self
                        .server
                        .plaintext_listen
                        .is_some_and(|a| !a.ip().is_loopback())
            }
        }
    }
}

pub(super) fn publish_auth(
    mode: String,
    mut tokens: Vec<String>,
    file: Option<PathBuf>,
    rates: (f64, f64),
) -> Result<PublishAuthConfig, ConfigError> {
    for (key, rate) in [
        ("hub.publish_rate_per_client", rates.0),
        ("hub.publish_rate_per_token", rates.1),
    ] {
        if !(rate.is_finite() && rate >= 0.0) {
            return invalid(
                key,
                format!("{rate} is not 0 (no limit) or a positive rate"),
            );
        }
    }
    let mode = match mode.as_str() {
        "auto" => PublishAuthMode::Auto,
        "required" => PublishAuthMode::Required,
        "open" => PublishAuthMode::Open,
        other => {
            return invalid(
                "hub.publish_auth",
                format!("{other:?}: expected auto, required or open"),
            )
        }
    };
    if let Some(path) = file {
        let text = crate::files::read_to_string(&path).or_else(|e| {
            invalid(
                "hub.publish_tokens_file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        tokens.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    for token in &tokens {
        bearer_token("hub.publish_tokens", token)?;
    }
    Ok(PublishAuthConfig {
        mode,
        static_tokens: tokens,
        rate_per_client: rates.0,
        rate_per_token: rates.1,
    })
}
