//! `[admin]`: the admin listener (Prometheus `/metrics`, `/healthz`, `/readyz`), apart from
//! public traffic, and whether the public listeners still answer `/healthz`.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use super::{
    invalid, secs,
    values::{bearer_token, parse_addr},
    ConfigError,
};

/// Default admin address: loopback, so metrics are not exposed by accident, and a port
/// that neither the TLS default (8443) nor Prometheus itself (9090) uses.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9180";

/// `[admin]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAdmin {
    /// Serve the admin listener. Default true.
    pub enabled: bool,
    /// Admin listener address (plain HTTP/1.1). Default `127.0.0.1:9180`.
    pub listen: String,
    /// A file holding one bearer token; when set, every admin endpoint answers 401 unless
    /// the request carries `Authorization: Bearer <token>`. Default: none (open).
    pub token_file: Option<PathBuf>,
    /// Keep answering `/healthz` (hub counters as JSON) on the public listeners. Default true.
    pub public_healthz: bool,
    /// How long `/readyz` answers 503 before the drain starts (GOAWAY, streams ended), in
    /// seconds, so load balancers stop sending new clients first. Default 0.
    pub unready_delay_secs: f64,
}

impl Default for RawAdmin {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: DEFAULT_ADMIN_LISTEN.into(),
            token_file: None,
            public_healthz: true,
            unready_delay_secs: 0.0,
        }
    }
}

/// Validated `[admin]`.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Where the admin listener binds; `None` when disabled.
    pub listen: Option<SocketAddr>,
    /// The bearer token the admin endpoints require, if any.
    pub token: Option<String>,
    /// Whether the public listeners answer `/healthz`.
    pub public_healthz: bool,
    /// Time between `/readyz` turning 503 and the drain.
    pub unready_delay: Duration,
}

impl std::fmt::Debug for AdminConfig {
    // The token is a secret: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.is_some())
            .field("public_healthz", &self.public_healthz)
            .field("unready_delay", &self.unready_delay)
            .finish()
    }
}

impl RawAdmin {
    /// Checks the values; reads the token file.
    pub fn validate(self) -> Result<AdminConfig, ConfigError> {
        let listen = if self.enabled {
            Some(parse_addr("admin.listen", &self.listen)?)
        } else {
            None
        };
        let token = match &self.token_file {
            Some(path) => {
                let text = crate::files::read_to_string(path).or_else(|e| {
                    invalid(
                        "admin.token_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let token = text.trim();
                bearer_token("admin.token_file", token)?;
                Some(token.to_owned())
            }
            None => None,
        };
        Ok(AdminConfig {
            listen,
            token,
            public_healthz: self.public_healthz,
            unready_delay: if self.unready_delay_secs == 0.0 {
                Duration::ZERO
            } else {
                secs("admin.unready_delay_secs", self.unready_delay_secs)?
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_with_public_healthz() {
        let admin = RawAdmin::default().validate().unwrap();
        assert!(admin.listen.unwrap().ip().is_loopback());
        assert!(admin.public_healthz);
        assert_eq!(admin.token, None);
    }

    #[test]
    fn a_bad_address_names_the_key() {
        let raw = RawAdmin {
            listen: "nowhere".into(),
            ..RawAdmin::default()
        };
        let e = raw.validate().unwrap_err().to_string();
        assert!(e.contains("admin.listen"), "{e}");
    }

    #[test]
    fn a_missing_or_short_token_file_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let missing = RawAdmin {
            token_file: Some(dir.path().join("nope")),
            ..RawAdmin::default()
        };
        let e = missing.validate().unwrap_err().to_string();
        assert!(e.contains("admin.token_file"), "{e}");
        let short = dir.path().join("short");
        std::fs::write(&short, "abc\n").unwrap();
        let raw = RawAdmin {
            token_file: Some(short),
            ..RawAdmin::default()
        };
        let e = raw.validate().unwrap_err().to_string();
        assert!(e.contains("admin.token_file"), "{e}");
    }

    #[test]
    fn disabled_binds_nothing_and_a_negative_delay_names_the_key() {
        let raw = RawAdmin {
            enabled: false,
            listen: "not even checked".into(),
            ..RawAdmin::default()
        };
        assert_eq!(raw.validate().unwrap().listen, None);
        let raw = RawAdmin {
            unready_delay_secs: -1.0,
            ..RawAdmin::default()
        };
        let e = raw.validate().unwrap_err().to_string();
        assert!(e.contains("admin.unready_delay_secs"), "{e}");
    }
}
