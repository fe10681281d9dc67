//! `[tls]`: where the listener's certificates come from, which one answers which server
//! name (SNI), and how often their files are checked for a change.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use super::{invalid, values::MAX_SECS, ConfigError, DEFAULT_CERT_DIR, DEFAULT_HOSTS};

/// `[tls]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// `[tls.acme]`: certificates obtained and renewed from an ACME CA (Let's Encrypt).
    pub acme: Option<RawAcme>,
}

/// `[tls.acme]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAcme {
    /// The names to get one certificate for (no wildcards: they need DNS-01).
    pub domains: Vec<String>,
    /// Contacts the CA may write to about the account (`admin@example.com` or `mailto:`).
    pub contact: Vec<String>,
    /// The CA's ACME directory. Default Let's Encrypt production; its staging directory is
    /// `https://acme-staging-v02.api.letsencrypt.org/directory`.
    pub directory_url: String,
    /// PEM certificates trusted for the directory's HTTPS, instead of the system roots (a
    /// private ACME server).
    pub ca: Option<PathBuf>,
    /// Where the account key and the certificates are kept (keys mode 0600). Default `acme`.
    pub storage: PathBuf,
    /// `tls-alpn-01` (default: answered on the TLS listener itself, which must be reachable
    /// on port 443) or `http-01` (answered on the plaintext listener, port 80).
    pub challenge: String,
    /// Renew when fewer days than this are left. Default: a third of the certificate's
    /// lifetime (30 days of Let's Encrypt's 90).
    pub renew_before_days: Option<f64>,
    /// Wait after a failed attempt, in seconds, doubling up to an hour (with jitter); also
    /// the least time between two certificates. Default 60.
    pub retry_secs: f64,
}

impl Default for RawAcme {
    fn default() -> Self {
        Self {
            domains: Vec::new(),
            contact: Vec::new(),
            directory_url: LETS_ENCRYPT.into(),
            ca: None,
            storage: PathBuf::from("acme"),
            challenge: "tls-alpn-01".into(),
            renew_before_days: None,
            retry_secs: 60.0,
        }
    }
}

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// Validated `[tls.acme]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeConfig {
    /// The certificate's names.
    pub domains: Vec<String>,
    /// `mailto:` contacts.
    pub contact: Vec<String>,
    /// The directory URL.
    pub directory_url: String,
    /// The PEM CA certificate trusted for the directory (checked readable at validation).
    pub ca: Option<PathBuf>,
    /// Storage directory.
    pub storage: PathBuf,
    /// The challenge answered.
    pub challenge: AcmeChallenge,
    /// Renewal margin; `None`: a third of the lifetime.
    pub renew_before: Option<Duration>,
    /// First wait after a failure.
    pub retry: Duration,
}

/// How the CA checks that this server answers for the domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    /// A handshake with ALPN `acme-tls/1` on the TLS listener (RFC 8737).
    TlsAlpn01,
    /// `GET /.well-known/acme-challenge/{token}` on the plaintext listener.
    Http01,
}

/// One `[[tls.certificates]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
            acme: None,
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
    /// Certificates from an ACME CA, if configured.
    pub acme: Option<AcmeConfig>,
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
            s if (0.05..=MAX_SECS).contains(&s) => Some(Duration::from_secs_f64(s)),
            s => {
                return invalid(
                    "tls.watch_interval_secs",
                    format!("{s} is not 0 (off) or between 0.05 seconds and a year"),
                )
            }
        };
        Ok(TlsConfig {
            default,
            certificates,
            watch_interval,
            acme: self.acme.map(RawAcme::validate).transpose()?,
        })
    }
}

impl RawAcme {
    fn validate(self) -> Result<AcmeConfig, ConfigError> {
        if self.domains.is_empty() {
            return invalid("tls.acme.domains", "at least one domain is needed");
        }
        let domains = self
            .domains
            .iter()
            .map(|domain| {
                let name = server_name_pattern(domain)
                    .or_else(|reason| invalid("tls.acme.domains", reason))?;
                if name.starts_with("*.") {
                    return invalid(
                        "tls.acme.domains",
                        format!("{domain:?}: wildcards need the DNS-01 challenge, which ssegate does not answer"),
                    );
                }
                Ok(name)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let contact = self
            .contact
            .iter()
            .map(|c| {
                let address = c.strip_prefix("mailto:").unwrap_or(c);
                if !address.contains('@') || address.contains(char::is_whitespace) {
                    return invalid(
                        "tls.acme.contact",
                        format!("{c:?} is not an e-mail address"),
                    );
                }
                Ok(format!("mailto:{address}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        match url::Url::parse(&self.directory_url) {
            Ok(url) if url.scheme() == "https" => {}
            _ => {
                return invalid(
                    "tls.acme.directory_url",
                    format!("{:?} is not an https:// URL", self.directory_url),
                )
            }
        }
        if let Some(path) = &self.ca {
            crate::files::read(path).or_else(|e| {
                invalid(
                    "tls.acme.ca",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
        }
        let challenge = match self.challenge.as_str() {
            "tls-alpn-01" => AcmeChallenge::TlsAlpn01,
            "http-01" => AcmeChallenge::Http01,
            other => {
                return invalid(
                    "tls.acme.challenge",
                    format!("{other:?}: expected \"tls-alpn-01\" or \"http-01\""),
                )
            }
        };
        let renew_before = match self.renew_before_days {
            None => None,
            Some(days) if days.is_finite() && days > 0.0 => {
                Some(Duration::from_secs_f64((days * 86_400.0).min(1e12)))
            }
            Some(days) => {
                return invalid(
                    "tls.acme.renew_before_days",
                    format!("{days} is not a positive number of days"),
                )
            }
        };
        if !(0.1..=MAX_SECS).contains(&self.retry_secs) {
            return invalid(
                "tls.acme.retry_secs",
                format!("{} is not between 0.1 seconds and a year", self.retry_secs),
            );
        }
        Ok(AcmeConfig {
            domains,
            contact,
            directory_url: self.directory_url,
            ca: self.ca,
            storage: self.storage,
            challenge,
            renew_before,
            retry: Duration::from_secs_f64(self.retry_secs),
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

    #[test]
    fn acme_settings_are_checked_and_named() {
        let acme = |tweak: fn(&mut RawAcme)| {
            let mut raw = RawAcme {
                domains: vec!["example.com".into()],
                ..RawAcme::default()
            };
            tweak(&mut raw);
            RawTls {
                acme: Some(raw),
                ..RawTls::default()
            }
            .validate()
        };
        let config = acme(|a| a.contact = vec!["ops@example.com".into()]).unwrap();
        let acme_config = config.acme.unwrap();
        assert_eq!(acme_config.contact, ["mailto:ops@example.com"]);
        assert_eq!(acme_config.challenge, AcmeChallenge::TlsAlpn01);
        assert_eq!(acme_config.directory_url, LETS_ENCRYPT);
        type Tweak = fn(&mut RawAcme);
        let cases: [(Tweak, &str); 6] = [
            (|a| a.domains.clear(), "tls.acme.domains"),
            (
                |a| a.domains = vec!["*.example.com".into()],
                "tls.acme.domains",
            ),
            (|a| a.contact = vec!["nobody".into()], "tls.acme.contact"),
            (
                |a| a.directory_url = "http://ca.test/dir".into(),
                "tls.acme.directory_url",
            ),
            (|a| a.challenge = "dns-01".into(), "tls.acme.challenge"),
            (|a| a.ca = Some("/nonexistent/ca.pem".into()), "tls.acme.ca"),
        ];
        for (tweak, key) in cases {
            let error = acme(tweak).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }
}
