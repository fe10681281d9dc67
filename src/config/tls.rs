//! `[tls]`: where the listener's certificates come from, which one answers which server
//! name (SNI), and how often their files are checked for a change.

use std::{path::PathBuf, time::Duration};

use serde::Deserialize;

use super::{invalid, ConfigError, DEFAULT_CERT_DIR, DEFAULT_HOSTS};

/// `[tls]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain (leaf first). With `key`; when both are unset (and there are no
    /// `[[tls.certificates]]`), a local CA and a server certificate are generated in
    /// `cert_dir`.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// Directory of the generated local CA and server certificate. Default `certs`.
    pub cert_dir: PathBuf,
    /// Host names and IP addresses the generated certificate covers.
    /// Default `localhost`, `127.0.0.1`, `::1`.
    pub hosts: Vec<String>,
    /// Further certificates, each served to clients that ask for one of its names (SNI).
    /// The `cert`/`key` pair (or the first of these) answers every other client.
    pub certificates: Vec<RawCertificate>,
    /// How often the certificate and key files are checked for a change, in seconds; a
    /// changed pair is loaded once it has stayed the same for one more check. 0: only on
    /// SIGHUP. Default 2.
    pub watch_interval_secs: f64,
}

/// One `[[tls.certificates]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    /// PEM certificate chain (leaf first).
    pub cert: PathBuf,
    /// Its PEM private key.
    pub key: PathBuf,
    /// Server names it answers: `example.com`, or `*.example.com` for any one label in
    /// front. Default: the DNS names the certificate itself lists.
    #[serde(default)]
    pub hosts: Vec<String>,
}

impl Default for RawTls {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            cert_dir: PathBuf::from(DEFAULT_CERT_DIR),
            hosts: DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect(),
            certificates: Vec::new(),
            watch_interval_secs: 2.0,
        }
    }
}

/// Validated `[tls]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate for clients no other one is chosen for (no SNI, unknown name).
    pub default: TlsSource,
    /// The certificates chosen by server name, in configuration order (the first to claim a
    /// name keeps it).
    pub certificates: Vec<CertificateFiles>,
    /// How often files are checked for a change; `None`: only on SIGHUP.
    pub watch_interval: Option<Duration>,
}

/// Where the default certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files from elsewhere (e.g. ACME).
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// The local CA and server certificate in `dir`, generated when missing.
    Local {
        /// Certificate directory.
        dir: PathBuf,
        /// Covered hosts.
        hosts: Vec<String>,
    },
}

/// A certificate chosen by server name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
    /// Names it answers (lower case; `*.` wildcards); empty: the certificate's own names.
    pub hosts: Vec<String>,
}

impl RawTls {
    /// Checks every value.
    pub fn validate(self) -> Result<TlsConfig, ConfigError> {
        let mut certificates = Vec::with_capacity(self.certificates.len());
        for (i, raw) in self.certificates.into_iter().enumerate() {
            let key = format!("tls.certificates[{i}].hosts");
            let hosts = raw
                .hosts
                .iter()
                .map(|host| server_name_pattern(host).or_else(|reason| invalid(&key, reason)))
                .collect::<Result<Vec<_>, _>>()?;
            certificates.push(CertificateFiles {
                cert: raw.cert,
                key: raw.key,
                hosts,
            });
        }
        let default = match (self.cert, self.key) {
            (Some(cert), Some(key)) => TlsSource::Files { cert, key },
            (None, None) => match certificates.first() {
                Some(first) => TlsSource::Files {
                    cert: first.cert.clone(),
                    key: first.key.clone(),
                },
                None if self.hosts.is_empty() => {
                    return invalid("tls.hosts", "at least one host is needed")
                }
                None => TlsSource::Local {
                    dir: self.cert_dir,
                    hosts: self.hosts,
                },
            },
            (Some(_), None) => return invalid("tls.key", "`tls.cert` is set but not `tls.key`"),
            (None, Some(_)) => return invalid("tls.cert", "`tls.key` is set but not `tls.cert`"),
        };
        let watch_interval = match self.watch_interval_secs {
            0.0 => None,
            s if s.is_finite() && s >= 0.05 => Some(Duration::from_secs_f64(s)),
            s => {
                return invalid(
                    "tls.watch_interval_secs",
                    format!("{s} is not 0 (off) or at least 0.05 seconds"),
                )
            }
        };
        Ok(TlsConfig {
            default,
            certificates,
            watch_interval,
        })
    }
}

/// A server name as SNI carries it (lower case, no trailing dot), or `*.` and one.
fn server_name_pattern(host: &str) -> Result<String, String> {
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    let bare = name.strip_prefix("*.").unwrap_or(&name);
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!(
            "{host:?} is an IP address: clients send no server name for one, so the default \
             certificate answers it"
        ));
    }
    if bare.len() > 253 || !bare.split('.').all(valid_label) {
        return Err(format!(
            "{host:?} is not a host name (or `*.` followed by one)"
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_certificates(hosts: &[&str]) -> RawTls {
        RawTls {
            certificates: vec![RawCertificate {
                cert: "a.pem".into(),
                key: "a-key.pem".into(),
                hosts: hosts.iter().map(|h| h.to_string()).collect(),
            }],
            ..RawTls::default()
        }
    }

    #[test]
    fn names_are_lower_case_and_wildcards_allowed() {
        let config = with_certificates(&["Example.COM.", "*.Example.com"])
            .validate()
            .unwrap();
        assert_eq!(
            config.certificates[0].hosts,
            ["example.com", "*.example.com"]
        );
    }

    #[test]
    fn the_first_certificate_is_the_default_without_cert_and_key() {
        let config = with_certificates(&[]).validate().unwrap();
        assert_eq!(
            config.default,
            TlsSource::Files {
                cert: "a.pem".into(),
                key: "a-key.pem".into()
            }
        );
    }

    #[test]
    fn bad_names_and_intervals_are_named() {
        for host in ["127.0.0.1", "a..b", "*.*.example.com", "-a.example.com", ""] {
            let error = with_certificates(&[host])
                .validate()
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("tls.certificates[0].hosts"),
                "{host}: {error}"
            );
        }
        let raw = RawTls {
            watch_interval_secs: -1.0,
            ..RawTls::default()
        };
        let error = raw.validate().unwrap_err().to_string();
        assert!(error.contains("tls.watch_interval_secs"), "{error}");
    }
}
