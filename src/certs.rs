//! Local certificate authority and server certificates for `https://localhost`.
//!
//! This module owns the certificate directory: a long-lived local CA (`ca.pem`,
//! `ca-key.pem`) that the user trusts once, and a short-lived server certificate
//! (`server.pem` holding the chain, `server-key.pem`) signed by it. The idea is the
//! one mkcert made popular; the code is ours.
//!
//! Two rules shape the design:
//!
//! - A CA may already be trusted by browsers, so it is never replaced behind the
//!   user's back: a half-present or unreadable CA is an error naming the file.
//! - The reuse check for the server certificate asks rustls's own verifier the
//!   question a browser will ask ("does this chain to *this* CA, for this host, at
//!   this time?"), so it needs no X.509 parser and no sidecar state that could
//!   drift from the files it describes.

use std::env;
use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, DnsName, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use time::OffsetDateTime;

/// Default hosts: localhost, 127.0.0.1, ::1
pub const DEFAULT_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// How long a new CA is valid. Long, because every renewal means the user has to
/// trust a new CA again.
const CA_VALIDITY: time::Duration = time::Duration::days(3650);

/// How long a new server certificate is valid. Apple platforms reject server
/// certificates valid for more than 825 days and browsers cap publicly trusted
/// ones at 398; 397 stays under every limit we know of.
const SERVER_VALIDITY: time::Duration = time::Duration::days(397);

/// How far `not_before` is back-dated, so a client whose clock runs a little
/// behind does not see a certificate from the future.
const CLOCK_SKEW: time::Duration = time::Duration::hours(1);

/// `ensure_local_certs` reissues a server certificate that expires sooner than
/// this, so a long-running server started on an old certificate does not go dark
/// mid-week.
const MIN_REMAINING_VALIDITY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// RFC 5280 `ub-common-name`.
const MAX_COMMON_NAME_CHARS: usize = 64;

const CA_ORGANIZATION: &str = "ssegate local CA";

/// Paths of the four PEM files in a certificate directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    /// The CA certificate, the file users import into their trust stores.
    pub ca_cert: PathBuf,
    /// The CA private key (mode 0600). Whoever holds it can impersonate any site
    /// to browsers that trust the CA.
    pub ca_key: PathBuf,
    /// The server certificate chain: the server certificate, then the CA.
    pub server_cert: PathBuf,
    /// The server private key (mode 0600).
    pub server_key: PathBuf,
}

impl CertPaths {
    /// The standard file names in `dir`: `ca.pem`, `ca-key.pem`, `server.pem`,
    /// `server-key.pem`.
    pub fn in_dir(dir: &Path) -> CertPaths {
        CertPaths {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
        }
    }
}

/// What `ensure_local_certs` / `issue_server_cert` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCerts {
    /// Where the files are.
    pub paths: CertPaths,
    /// A new CA was created, so the user has to trust it before browsers accept
    /// the server certificate.
    pub ca_created: bool,
    /// A new server certificate and key were written.
    pub server_issued: bool,
}

/// Why the certificate directory could not be set up.
///
/// `Display` describes this step only; the underlying I/O, rcgen or rustls error,
/// when there is one, is the `source()`.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The certificate directory could not be created.
    #[error("creating certificate directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why creation failed.
        #[source]
        source: io::Error,
    },
    /// A certificate or key file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: io::Error,
    },
    /// A certificate or key file could not be written.
    #[error("writing {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why writing failed.
        #[source]
        source: io::Error,
    },
    /// One of the two CA files exists without the other. A new CA is not
    /// created, because the existing half may belong to a CA users already trust.
    #[error(
        "{present} exists but {missing} does not: refusing to replace a CA that may already be \
         trusted; restore {missing}, or delete {present} to create a new CA (which must then be \
         trusted again)"
    )]
    IncompleteCa {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// The CA certificate file is not a certificate ssegate can sign with.
    #[error("parsing CA certificate {path}: {reason}")]
    ParseCaCert {
        /// The CA certificate file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The CA private key file is not a usable private key.
    #[error("parsing CA private key {path}")]
    ParseCaKey {
        /// The CA key file.
        path: PathBuf,
        /// Why parsing failed.
        #[source]
        source: rcgen::Error,
    },
    /// The CA private key does not belong to the CA certificate.
    #[error("CA private key {key} does not match CA certificate {cert}")]
    CaKeyMismatch {
        /// The CA key file.
        key: PathBuf,
        /// The CA certificate file.
        cert: PathBuf,
    },
    /// A requested host is neither an IP address nor a valid DNS name.
    #[error("invalid host name {host:?} for server certificate {path}: {reason}")]
    InvalidHost {
        /// The host as given.
        host: String,
        /// The server certificate it was meant for.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The host list is empty.
    #[error("no host names given for server certificate {path}")]
    NoHosts {
        /// The server certificate that was to be issued.
        path: PathBuf,
    },
    /// rcgen failed to generate a key or certificate.
    #[error("generating {what} for {path}")]
    Generate {
        /// What was being generated ("CA key pair", "server certificate", ...).
        what: &'static str,
        /// The file it was meant for.
        path: PathBuf,
        /// Why generation failed.
        #[source]
        source: rcgen::Error,
    },
    /// A freshly generated server certificate did not validate against the CA;
    /// nothing was written.
    #[error("checking new server certificate {path} against CA {ca}: {reason}")]
    Verify {
        /// The server certificate that was to be written.
        path: PathBuf,
        /// The CA certificate it was checked against.
        ca: PathBuf,
        /// Why validation failed.
        reason: String,
    },
}

/// Creates the CA if missing (reuses an existing one), and issues a server cert for `hosts`
/// signed by it ALWAYS (used by `ssegate cert`).
///
/// # Errors
///
/// See [`CertError`]; in particular a half-present or unreadable CA is an error,
/// never replaced.
pub fn issue_server_cert(dir: &Path, hosts: &[String]) -> Result<LocalCerts, CertError> {
    let paths = CertPaths::in_dir(dir);
    let hosts = parse_hosts(hosts, &paths.server_cert)?;
    create_dir(dir)?;
    let (ca, ca_created) = load_or_create_ca(&paths)?;
    write_server_cert(&paths, &ca, &hosts, OffsetDateTime::now_utc())?;
    Ok(LocalCerts {
        paths,
        ca_created,
        server_issued: true,
    })
}

/// Used by `ssegate serve` with no certificate configured: reuses CA and server cert if both
/// exist, the server cert is signed by this CA, covers all `hosts`, and is valid for at least 7
/// more days; otherwise (re)issues the server cert.
///
/// # Errors
///
/// See [`CertError`]. A server certificate that cannot be reused is not an error
/// (it is reissued); a CA that cannot be used is.
pub fn ensure_local_certs(dir: &Path, hosts: &[String]) -> Result<LocalCerts, CertError> {
    let paths = CertPaths::in_dir(dir);
    let hosts = parse_hosts(hosts, &paths.server_cert)?;
    create_dir(dir)?;
    let (ca, ca_created) = load_or_create_ca(&paths)?;
    let problem = if ca_created {
        Some("the CA is new".to_owned())
    } else {
        reuse_problem(&paths, &ca, &hosts)
    };
    let server_issued = match problem {
        None => {
            tracing::debug!(path = %paths.server_cert.display(), "reusing server certificate");
            false
        }
        Some(reason) => {
            tracing::info!(
                path = %paths.server_cert.display(),
                %reason,
                "issuing a new server certificate"
            );
            write_server_cert(&paths, &ca, &hosts, OffsetDateTime::now_utc())?;
            true
        }
    };
    Ok(LocalCerts {
        paths,
        ca_created,
        server_issued,
    })
}

/// Multi-line text telling how to trust `ca_cert` on Linux (Debian/Ubuntu
/// update-ca-certificates, Fedora trust anchor), macOS (security add-trusted-cert ...
/// System.keychain), Windows (certutil -addstore -f ROOT), Firefox (Settings > Privacy &
/// Security > Certificates > Import, or enterprise roots policy), and curl (--cacert). Uses the
/// absolute path.
pub fn trust_instructions(ca_cert: &Path) -> String {
    // `absolute` rather than `canonicalize`: the text is useful even before the
    // file exists, and it keeps the symlinked path the user chose.
    let path = std::path::absolute(ca_cert).unwrap_or_else(|_| ca_cert.to_owned());
    let p = path.display();
    format!(
        "\
To make browsers and tools accept ssegate's local certificates, trust this CA once:
  {p}

Linux (Debian, Ubuntu):
  sudo cp \"{p}\" /usr/local/share/ca-certificates/ssegate-local-ca.crt
  sudo update-ca-certificates
Linux (Fedora, RHEL, Arch):
  sudo trust anchor --store \"{p}\"
  (or: sudo cp \"{p}\" /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust)
Linux (Chrome and Chromium read their own NSS database; needs libnss3-tools):
  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n \"ssegate local CA\" -i \"{p}\"
macOS:
  sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain \"{p}\"
Windows (from an administrator prompt):
  certutil -addstore -f ROOT \"{p}\"
Firefox (keeps its own trust store):
  Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import,
  choose the file above and tick \"Trust this CA to identify websites\".
  On Windows and macOS, Firefox can use the system store instead: set
  security.enterprise_roots.enabled to true in about:config, or the
  Certificates > ImportEnterpriseRoots enterprise policy; on any platform, the
  Certificates > Install policy can import the file above.
curl:
  curl --cacert \"{p}\" https://localhost:PORT/

Keep the CA key (ca-key.pem next to it) private: anyone holding it can impersonate
any website to the machines that trust this CA.
"
    )
}

/// One validated host, the form the certificate and the verifier both need.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Dns(DnsName<'static>),
    Ip(IpAddr),
}

impl Host {
    fn to_text(&self) -> String {
        match self {
            Host::Dns(name) => name.as_ref().to_owned(),
            Host::Ip(ip) => ip.to_string(),
        }
    }

    fn san(&self, path: &Path) -> Result<SanType, CertError> {
        match self {
            Host::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            Host::Dns(name) => name
                .as_ref()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|source| CertError::Generate {
                    what: "subject alternative name",
                    path: path.to_owned(),
                    source,
                }),
        }
    }

    fn server_name(&self) -> ServerName<'static> {
        match self {
            Host::Dns(name) => ServerName::DnsName(name.clone()),
            Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
        }
    }
}

/// Validates, normalises (DNS names are case-insensitive) and de-duplicates the
/// requested hosts, keeping their order because the first becomes the CN.
fn parse_hosts(hosts: &[String], server_cert: &Path) -> Result<Vec<Host>, CertError> {
    let invalid = |host: &str, reason| CertError::InvalidHost {
        host: host.to_owned(),
        path: server_cert.to_owned(),
        reason,
    };
    let mut parsed: Vec<Host> = Vec::with_capacity(hosts.len());
    for raw in hosts {
        let host = if raw.is_empty() {
            return Err(invalid(raw, "empty host name"));
        } else if let Ok(ip) = raw.parse::<IpAddr>() {
            Host::Ip(ip)
        } else if raw.contains('*') {
            // The reuse check asks the verifier about concrete names, which
            // cannot prove a wildcard SAN is present; nothing here needs one.
            return Err(invalid(raw, "wildcard names are not supported"));
        } else if let Ok(name) = DnsName::try_from(raw.as_str()) {
            Host::Dns(name.to_lowercase_owned())
        } else {
            return Err(invalid(
                raw,
                "not an IP address or a valid DNS name (letters, digits, '-', '_' and dots)",
            ));
        };
        if !parsed.contains(&host) {
            parsed.push(host);
        }
    }
    if parsed.is_empty() {
        return Err(CertError::NoHosts {
            path: server_cert.to_owned(),
        });
    }
    Ok(parsed)
}

/// A loaded CA, ready to sign and to verify.
struct Ca {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key: KeyPair,
    /// rcgen signs with the issuer's parameters (its name and key identifier
    /// method), not with its DER, and cannot parse DER without the x509-parser
    /// feature. So this is the CA re-signed from parameters rebuilt from ca.pem;
    /// `Ca::from_pem` checks that its subject is byte-identical to ca.pem's,
    /// which is what chain building compares.
    issuer: rcgen::Certificate,
    verifier: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
}

impl Ca {
    fn from_pem(cert_pem: String, key_pem: &str, paths: &CertPaths) -> Result<Ca, CertError> {
        let bad_cert = |reason: String| CertError::ParseCaCert {
            path: paths.ca_cert.clone(),
            reason,
        };
        let mut certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes());
        let cert_der = match certs.next() {
            Some(Ok(der)) => der,
            Some(Err(e)) => return Err(bad_cert(format!("invalid PEM: {e}"))),
            None => return Err(bad_cert("no CERTIFICATE block".to_owned())),
        };
        if certs.next().is_some() {
            return Err(bad_cert("more than one certificate".to_owned()));
        }

        let key = KeyPair::from_pem(key_pem).map_err(|source| CertError::ParseCaKey {
            path: paths.ca_key.clone(),
            source,
        })?;

        let mut roots = RootCertStore::empty();
        roots
            .add(cert_der.clone())
            .map_err(|e| bad_cert(format!("not a usable X.509 certificate: {e}")))?;
        let anchor = match roots.roots.first() {
            Some(anchor) => anchor,
            None => return Err(bad_cert("not a usable X.509 certificate".to_owned())),
        };

        // The trust anchor holds the SPKI without its outer SEQUENCE header.
        let key_spki = key.public_key_der();
        if der_tlv(&key_spki).map(|(_, contents, _)| contents)
            != Some(anchor.subject_public_key_info.as_ref())
        {
            return Err(CertError::CaKeyMismatch {
                key: paths.ca_key.clone(),
                cert: paths.ca_cert.clone(),
            });
        }

        let subject = anchor.subject.as_ref();
        let name = distinguished_name_from_der(subject)
            .map_err(|reason| bad_cert(format!("subject name: {reason}")))?;
        // Only the name and key of this throwaway certificate are used for signing.
        let issuer = ca_params(name, OffsetDateTime::now_utc())
            .self_signed(&key)
            .map_err(|source| CertError::Generate {
                what: "CA issuer from the existing CA",
                path: paths.ca_cert.clone(),
                source,
            })?;
        let rebuilt_subject = {
            let mut store = RootCertStore::empty();
            store
                .add(issuer.der().clone())
                .map_err(|e| bad_cert(format!("re-encoding the CA: {e}")))?;
            store.roots.first().map(|a| a.subject.as_ref().to_vec())
        };
        if rebuilt_subject.as_deref() != Some(subject) {
            return Err(bad_cert(
                "subject name uses an encoding ssegate cannot reproduce".to_owned(),
            ));
        }

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| bad_cert(format!("building a verifier: {e}")))?;

        Ok(Ca {
            cert_pem,
            cert_der,
            key,
            issuer,
            verifier,
            provider,
        })
    }

    /// Whether `leaf` chains directly to this CA for every host at `now`.
    fn verify(
        &self,
        leaf: &CertificateDer<'_>,
        hosts: &[Host],
        now: UnixTime,
    ) -> Result<(), String> {
        for host in hosts {
            // No intermediates: the leaf must be signed by the CA itself.
            self.verifier
                .verify_server_cert(leaf, &[], &host.server_name(), &[], now)
                .map_err(|e| format!("{}: {e}", host.to_text()))?;
        }
        Ok(())
    }
}

/// Loads the CA, or creates it when neither file exists. Returns whether it was
/// created.
fn load_or_create_ca(paths: &CertPaths) -> Result<(Ca, bool), CertError> {
    let cert = read_optional(&paths.ca_cert)?;
    let key = read_optional(&paths.ca_key)?;
    match (cert, key) {
        (Some(cert), Some(key)) => {
            warn_if_readable_by_others(&paths.ca_key);
            let cert = String::from_utf8(cert).map_err(|_| CertError::ParseCaCert {
                path: paths.ca_cert.clone(),
                reason: "not UTF-8 PEM text".to_owned(),
            })?;
            let key = String::from_utf8(key).map_err(|_| CertError::ParseCaKey {
                path: paths.ca_key.clone(),
                source: rcgen::Error::CouldNotParseKeyPair,
            })?;
            Ok((Ca::from_pem(cert, &key, paths)?, false))
        }
        (Some(_), None) => Err(CertError::IncompleteCa {
            present: paths.ca_cert.clone(),
            missing: paths.ca_key.clone(),
        }),
        (None, Some(_)) => Err(CertError::IncompleteCa {
            present: paths.ca_key.clone(),
            missing: paths.ca_cert.clone(),
        }),
        (None, None) => Ok((create_ca(paths)?, true)),
    }
}

fn create_ca(paths: &CertPaths) -> Result<Ca, CertError> {
    let generate = |what, source| CertError::Generate {
        what,
        path: paths.ca_cert.clone(),
        source,
    };
    let key = KeyPair::generate().map_err(|e| generate("CA key pair", e))?;
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, CA_ORGANIZATION);
    name.push(DnType::CommonName, ca_common_name());
    let cert = ca_params(name, OffsetDateTime::now_utc())
        .self_signed(&key)
        .map_err(|e| generate("CA certificate", e))?;
    let key_pem = key.serialize_pem();
    let cert_pem = cert.pem();

    // Key first: a crash between the two writes then leaves a lone key, which no
    // one can have trusted, rather than a trusted-looking certificate without a key.
    // Two processes creating a CA in one directory at the same moment can
    // interleave these writes; `Ca::from_pem` then reports a key mismatch on the
    // next run instead of signing with the wrong key.
    write_atomic(&paths.ca_key, key_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_atomic(&paths.ca_cert, cert_pem.as_bytes(), 0o644) {
        // Best effort: the key was never published with a certificate, so
        // removing it lets the next run start clean instead of reporting an
        // incomplete CA.
        let _ = fs::remove_file(&paths.ca_key);
        return Err(e);
    }
    tracing::info!(path = %paths.ca_cert.display(), "created a local certificate authority");
    Ca::from_pem(cert_pem, &key_pem, paths)
}

fn ca_params(name: DistinguishedName, now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + CA_VALIDITY;
    params
}

/// "ssegate local CA (user@host)", so a user looking at a trust store can tell
/// which machine's CA an entry is.
fn ca_common_name() -> String {
    let user = ["USER", "USERNAME"]
        .iter()
        .find_map(|var| env::var(var).ok())
        .filter(|u| !u.trim().is_empty());
    let host = fs::read_to_string("/etc/hostname")
        .ok()
        .or_else(|| env::var("HOSTNAME").ok())
        .or_else(|| env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    let owner = match (user, host) {
        (Some(user), Some(host)) => format!("{}@{}", user.trim(), host),
        (Some(one), None) | (None, Some(one)) => one.trim().to_owned(),
        (None, None) => return CA_ORGANIZATION.to_owned(),
    };
    let room = MAX_COMMON_NAME_CHARS - CA_ORGANIZATION.len() - " ()".len();
    let owner: String = owner
        .chars()
        .filter(|c| !c.is_control())
        .take(room)
        .collect();
    format!("{CA_ORGANIZATION} ({owner})")
}

/// Why the existing server certificate cannot be reused, or `None` if it can.
/// Every failure means "reissue", so the reasons are only for the log.
fn reuse_problem(paths: &CertPaths, ca: &Ca, hosts: &[Host]) -> Option<String> {
    let chain_pem = match fs::read(&paths.server_cert) {
        Ok(bytes) => bytes,
        Err(e) => return Some(format!("cannot read {}: {e}", paths.server_cert.display())),
    };
    let key_pem = match fs::read(&paths.server_key) {
        Ok(bytes) => bytes,
        Err(e) => return Some(format!("cannot read {}: {e}", paths.server_key.display())),
    };
    let chain: Vec<CertificateDer<'static>> =
        match CertificateDer::pem_slice_iter(&chain_pem).collect() {
            Ok(chain) => chain,
            Err(e) => {
                return Some(format!(
                    "{} is not valid PEM: {e}",
                    paths.server_cert.display()
                ))
            }
        };
    // Exactly what `write_server_cert` writes; anything else was edited by hand
    // or belongs to another CA.
    let [leaf, chain_ca] = chain.as_slice() else {
        return Some(format!(
            "{} does not hold a server certificate followed by the CA",
            paths.server_cert.display()
        ));
    };
    if *chain_ca != ca.cert_der {
        return Some(format!(
            "{} carries a different CA",
            paths.server_cert.display()
        ));
    }
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(key) => key,
        Err(e) => {
            return Some(format!(
                "{} is not a private key: {e}",
                paths.server_key.display()
            ))
        }
    };
    // A crash between writing the key and the certificate leaves a mismatched pair.
    if let Err(e) = CertifiedKey::from_der(chain.clone(), key, &ca.provider) {
        return Some(format!(
            "{} does not match {}: {e}",
            paths.server_key.display(),
            paths.server_cert.display()
        ));
    }
    let now = UnixTime::now();
    let later =
        UnixTime::since_unix_epoch(Duration::from_secs(now.as_secs()) + MIN_REMAINING_VALIDITY);
    if let Err(e) = ca.verify(leaf, hosts, now) {
        return Some(format!("not valid now for {e}"));
    }
    if let Err(e) = ca.verify(leaf, hosts, later) {
        return Some(format!("expires within 7 days or not valid then for {e}"));
    }
    None
}

/// Issues a server certificate for `hosts` as of `now` and writes it with its
/// key. `now` is a parameter so tests can issue certificates that are about to
/// expire.
fn write_server_cert(
    paths: &CertPaths,
    ca: &Ca,
    hosts: &[Host],
    now: OffsetDateTime,
) -> Result<(), CertError> {
    let generate = |what, source| CertError::Generate {
        what,
        path: paths.server_cert.clone(),
        source,
    };
    let mut params = CertificateParams::default();
    params.subject_alt_names = hosts
        .iter()
        .map(|host| host.san(&paths.server_cert))
        .collect::<Result<_, _>>()?;
    let mut name = DistinguishedName::new();
    if let Some(first) = hosts.first() {
        name.push(DnType::CommonName, first.to_text());
    }
    params.distinguished_name = name;
    // Explicit CA:FALSE (and a subject key identifier, which rcgen adds with it),
    // so no tool can mistake the leaf for a CA.
    params.is_ca = IsCa::ExplicitNoCa;
    // ECDSA keys cannot encipher, so KeyEncipherment would only be noise.
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Platform verifiers (Windows CryptoAPI, macOS) use it to find the issuer.
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + SERVER_VALIDITY;

    // A fresh key every time: rcgen derives the serial number from the public
    // key, and Firefox rejects two different certificates with the same issuer
    // and serial.
    let key = KeyPair::generate().map_err(|e| generate("server key pair", e))?;
    let cert = params
        .signed_by(&key, &ca.issuer, &ca.key)
        .map_err(|e| generate("server certificate", e))?;

    // Check before writing, so a CA we somehow sign wrongly with never replaces a
    // working server certificate.
    ca.verify(cert.der(), hosts, UnixTime::now())
        .map_err(|reason| CertError::Verify {
            path: paths.server_cert.clone(),
            ca: paths.ca_cert.clone(),
            reason,
        })?;

    let mut chain = cert.pem();
    if !chain.ends_with('\n') {
        chain.push('\n');
    }
    chain.push_str(&ca.cert_pem);
    // A crash between these two writes leaves a mismatched pair, which
    // `reuse_problem` detects, so the next `serve` reissues rather than failing.
    write_atomic(&paths.server_key, key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(&paths.server_cert, chain.as_bytes(), 0o644)?;
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), CertError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        // The directory holds private keys; an existing directory keeps its mode.
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| CertError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, CertError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CertError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Replaces `path` with `contents` atomically: readers see the old file or the
/// new one, never a partial write.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), CertError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Same directory, so the rename cannot cross file systems; the pid keeps two
    // processes from sharing a temp file.
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let write_err = |source| CertError::Write {
        path: path.to_owned(),
        source,
    };
    // `create_new` below is what guarantees the mode (an existing file keeps its
    // own), so clear a temp file left by a crashed run that had our pid.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(write_err(e)),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Set at creation, so a private key is never world-readable, not even
        // between open and chmod.
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = options.open(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    });
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(write_err(e));
    }
    Ok(())
}

/// A CA key others can read can be used to impersonate any site to this user's
/// browsers; say so, but do not refuse: the user may have reasons.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    "CA private key is readable by other users; consider chmod 600"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Splits one DER element off the front of `input`: (tag, contents, rest).
/// Only what a certificate `Name` uses: single-byte tags, definite lengths.
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(count);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// Decodes the contents of a DER OBJECT IDENTIFIER into its arcs.
fn der_oid_arcs(contents: &[u8]) -> Option<Vec<u64>> {
    if contents.last()? & 0x80 != 0 {
        return None;
    }
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    for &byte in contents {
        if value > u64::MAX >> 7 {
            return None;
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                // X.690 8.19.4: the first subidentifier packs the first two arcs.
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    Some(arcs)
}

/// Rebuilds an rcgen name from the contents of a DER `Name` (the SEQUENCE body).
/// Supports what rcgen itself writes: one attribute per RDN, UTF8String,
/// PrintableString or IA5String values. The caller checks the round trip.
fn distinguished_name_from_der(mut name: &[u8]) -> Result<DistinguishedName, &'static str> {
    const SET: u8 = 0x31;
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    const UTF8_STRING: u8 = 0x0c;
    const PRINTABLE_STRING: u8 = 0x13;
    const IA5_STRING: u8 = 0x16;
    const MALFORMED: &str = "malformed DER";

    let mut dn = DistinguishedName::new();
    while !name.is_empty() {
        let (tag, rdn, rest) = der_tlv(name).ok_or(MALFORMED)?;
        name = rest;
        let (atv_tag, atv, others) = der_tlv(rdn).ok_or(MALFORMED)?;
        if tag != SET || atv_tag != SEQUENCE {
            return Err(MALFORMED);
        }
        if !others.is_empty() {
            return Err("multi-valued RDNs are not supported");
        }
        let (oid_tag, oid, value) = der_tlv(atv).ok_or(MALFORMED)?;
        let (value_tag, value, trailing) = der_tlv(value).ok_or(MALFORMED)?;
        if oid_tag != OID || !trailing.is_empty() {
            return Err(MALFORMED);
        }
        let arcs = der_oid_arcs(oid).ok_or(MALFORMED)?;
        let text = std::str::from_utf8(value)
            .map_err(|_| "attribute value is not text")?
            .to_owned();
        let value = match value_tag {
            UTF8_STRING => DnValue::Utf8String(text),
            PRINTABLE_STRING => DnValue::PrintableString(text.try_into().map_err(|_| MALFORMED)?),
            IA5_STRING => DnValue::Ia5String(text.try_into().map_err(|_| MALFORMED)?),
            _ => return Err("unsupported attribute string type"),
        };
        dn.push(DnType::from_oid(&arcs), value);
    }
    Ok(dn)
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    use rustls::ServerConfig;

    use super::*;

    fn default_hosts() -> Vec<String> {
        DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect()
    }

    fn strings(hosts: &[&str]) -> Vec<String> {
        hosts.iter().map(|h| h.to_string()).collect()
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// A verifier that trusts only the given ca.pem, like a client configured
    /// with `--cacert`.
    fn verifier_trusting(ca_pem: &Path) -> Arc<WebPkiServerVerifier> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca_pem).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        assert_eq!(roots.len(), 1);
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .unwrap()
    }

    fn server_chain(paths: &CertPaths) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(&paths.server_cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn verify_for(paths: &CertPaths, host: &str) -> Result<(), rustls::Error> {
        let chain = server_chain(paths);
        let name = ServerName::try_from(host.to_owned()).unwrap();
        verifier_trusting(&paths.ca_cert)
            .verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn ca_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = issue_server_cert(dir.path(), &default_hosts()).unwrap();
        assert!(first.ca_created);
        assert!(first.server_issued);
        let ca_cert = fs::read(&first.paths.ca_cert).unwrap();
        let ca_key = fs::read(&first.paths.ca_key).unwrap();

        let second = issue_server_cert(dir.path(), &default_hosts()).unwrap();
        assert!(!second.ca_created);
        assert!(second.server_issued);
        assert_eq!(fs::read(&second.paths.ca_cert).unwrap(), ca_cert);
        assert_eq!(fs::read(&second.paths.ca_key).unwrap(), ca_key);
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private_and_new_dir_is_0700() {
        let dir = tempfile::tempdir().unwrap();
        let certs_dir = dir.path().join("nested").join("certs");
        let certs = issue_server_cert(&certs_dir, &default_hosts()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&certs.paths.ca_key), 0o600);
        assert_eq!(mode(&certs.paths.server_key), 0o600);
        assert_eq!(mode(&certs_dir), 0o700);
        // No temp files left behind.
        let names: Vec<_> = fs::read_dir(&certs_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
    }

    #[test]
    fn server_chain_and_key_load_into_rustls_server_config() {
        let dir = tempfile::tempdir().unwrap();
        let certs = issue_server_cert(dir.path(), &default_hosts()).unwrap();
        let chain = server_chain(&certs.paths);
        assert_eq!(chain.len(), 2, "server.pem is the leaf followed by the CA");
        let key = PrivateKeyDer::from_pem_file(&certs.paths.server_key).unwrap();
        ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
    }

    #[test]
    fn server_cert_validates_against_only_the_ca_for_each_host() {
        let dir = tempfile::tempdir().unwrap();
        issue_server_cert(dir.path(), &default_hosts()).unwrap();
        // The second issuance signs with the CA reloaded from disk.
        let certs = issue_server_cert(dir.path(), &default_hosts()).unwrap();
        for host in DEFAULT_HOSTS {
            verify_for(&certs.paths, host).unwrap();
        }
        assert!(verify_for(&certs.paths, "example.com").is_err());
        assert!(verify_for(&certs.paths, "127.0.0.2").is_err());
    }

    #[test]
    fn ensure_reuses_a_valid_server_cert() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_local_certs(dir.path(), &default_hosts()).unwrap();
        assert!(first.ca_created && first.server_issued);
        let server_pem = fs::read(&first.paths.server_cert).unwrap();

        let second = ensure_local_certs(dir.path(), &default_hosts()).unwrap();
        assert!(!second.ca_created);
        assert!(!second.server_issued);
        assert_eq!(fs::read(&second.paths.server_cert).unwrap(), server_pem);

        // A subset of the covered hosts is still covered.
        let third = ensure_local_certs(dir.path(), &strings(&["localhost"])).unwrap();
        assert!(!third.server_issued);
    }

    #[test]
    fn ensure_reissues_when_hosts_change() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ensure_local_certs(dir.path(), &default_hosts())
            .unwrap()
            .paths;
        let (ca, _) = load_or_create_ca(&paths).unwrap();
        let hosts = parse_hosts(&strings(&["localhost", "dev.test"]), &paths.server_cert).unwrap();
        let problem = reuse_problem(&paths, &ca, &hosts).unwrap();
        assert!(problem.contains("dev.test"), "{problem}");

        let certs = ensure_local_certs(dir.path(), &strings(&["localhost", "dev.test"])).unwrap();
        assert!(certs.server_issued);
        assert!(!certs.ca_created);
        verify_for(&certs.paths, "dev.test").unwrap();
    }

    #[test]
    fn ensure_reissues_when_server_cert_expires_within_a_week() {
        let dir = tempfile::tempdir().unwrap();
        let paths = CertPaths::in_dir(dir.path());
        let hosts = default_hosts();
        ensure_local_certs(dir.path(), &hosts).unwrap();
        let (ca, _) = load_or_create_ca(&paths).unwrap();
        let parsed = parse_hosts(&hosts, &paths.server_cert).unwrap();
        // Valid now, but only for two more days.
        let issued_at = OffsetDateTime::now_utc() - SERVER_VALIDITY + time::Duration::days(2);
        write_server_cert(&paths, &ca, &parsed, issued_at).unwrap();
        verify_for(&paths, "localhost").unwrap();
        let problem = reuse_problem(&paths, &ca, &parsed).unwrap();
        assert!(problem.contains("expires within 7 days"), "{problem}");

        let certs = ensure_local_certs(dir.path(), &hosts).unwrap();
        assert!(certs.server_issued);
    }

    #[test]
    fn ensure_reissues_when_server_key_does_not_match() {
        let dir = tempfile::tempdir().unwrap();
        let certs = ensure_local_certs(dir.path(), &default_hosts()).unwrap();
        let other = KeyPair::generate().unwrap();
        fs::write(&certs.paths.server_key, other.serialize_pem()).unwrap();
        let (ca, _) = load_or_create_ca(&certs.paths).unwrap();
        let hosts = parse_hosts(&default_hosts(), &certs.paths.server_cert).unwrap();
        let problem = reuse_problem(&certs.paths, &ca, &hosts).unwrap();
        assert!(problem.contains("does not match"), "{problem}");

        let certs = ensure_local_certs(dir.path(), &default_hosts()).unwrap();
        assert!(certs.server_issued);
        let key = PrivateKeyDer::from_pem_file(&certs.paths.server_key).unwrap();
        CertifiedKey::from_der(server_chain(&certs.paths), key, &provider()).unwrap();
    }

    #[test]
    fn ensure_reissues_a_server_cert_signed_by_another_ca() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let from_a = ensure_local_certs(a.path(), &default_hosts()).unwrap();
        let in_b = ensure_local_certs(b.path(), &default_hosts()).unwrap();
        fs::copy(&from_a.paths.server_cert, &in_b.paths.server_cert).unwrap();
        fs::copy(&from_a.paths.server_key, &in_b.paths.server_key).unwrap();
        let (ca, _) = load_or_create_ca(&in_b.paths).unwrap();
        let hosts = parse_hosts(&default_hosts(), &in_b.paths.server_cert).unwrap();
        let problem = reuse_problem(&in_b.paths, &ca, &hosts).unwrap();
        assert!(problem.contains("different CA"), "{problem}");

        let certs = ensure_local_certs(b.path(), &default_hosts()).unwrap();
        assert!(certs.server_issued);
        verify_for(&certs.paths, "localhost").unwrap();
    }

    #[test]
    fn invalid_host_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["bad host!", "", "*.example.test", "exa mple.com"] {
            let err = issue_server_cert(dir.path(), &strings(&["localhost", bad])).unwrap_err();
            assert!(matches!(err, CertError::InvalidHost { .. }), "{err:?}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let err = ensure_local_certs(dir.path(), &[]).unwrap_err();
        assert!(matches!(err, CertError::NoHosts { .. }), "{err:?}");
        // Validation happens before anything is created.
        assert!(!CertPaths::in_dir(dir.path()).ca_cert.exists());
    }

    #[test]
    fn hosts_are_normalised_and_deduplicated() {
        let path = Path::new("server.pem");
        let hosts =
            parse_hosts(&strings(&["LocalHost", "localhost", "::1", "0:0::1"]), path).unwrap();
        assert_eq!(
            hosts,
            vec![
                Host::Dns(DnsName::try_from("localhost").unwrap().to_owned()),
                Host::Ip("::1".parse().unwrap())
            ]
        );
    }

    #[test]
    fn corrupt_ca_key_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let certs = ensure_local_certs(dir.path(), &default_hosts()).unwrap();
        let ca_pem = fs::read(&certs.paths.ca_cert).unwrap();
        fs::write(
            &certs.paths.ca_key,
            "-----BEGIN PRIVATE KEY-----\ngarbage\n",
        )
        .unwrap();

        let err = ensure_local_certs(dir.path(), &default_hosts()).unwrap_err();
        assert!(matches!(err, CertError::ParseCaKey { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains(&certs.paths.ca_key.display().to_string()),
            "{err}"
        );
        assert_eq!(fs::read(&certs.paths.ca_cert).unwrap(), ca_pem);
    }

    #[test]
    fn ca_key_of_another_ca_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let certs = ensure_local_certs(dir.path(), &default_hosts()).unwrap();
        fs::write(
            &certs.paths.ca_key,
            KeyPair::generate().unwrap().serialize_pem(),
        )
        .unwrap();

        let err = issue_server_cert(dir.path(), &default_hosts()).unwrap_err();
        assert!(matches!(err, CertError::CaKeyMismatch { .. }), "{err:?}");
    }

    #[test]
    fn half_a_ca_is_an_error_not_a_new_ca() {
        let dir = tempfile::tempdir().unwrap();
        let certs = ensure_local_certs(dir.path(), &default_hosts()).unwrap();
        let ca_pem = fs::read(&certs.paths.ca_cert).unwrap();
        fs::remove_file(&certs.paths.ca_key).unwrap();

        let err = ensure_local_certs(dir.path(), &default_hosts()).unwrap_err();
        assert!(matches!(err, CertError::IncompleteCa { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains(&certs.paths.ca_key.display().to_string()),
            "{err}"
        );
        assert_eq!(fs::read(&certs.paths.ca_cert).unwrap(), ca_pem);
        assert!(!certs.paths.ca_key.exists());

        fs::remove_file(&certs.paths.ca_cert).unwrap();
        fs::write(
            &certs.paths.ca_key,
            KeyPair::generate().unwrap().serialize_pem(),
        )
        .unwrap();
        let err = issue_server_cert(dir.path(), &default_hosts()).unwrap_err();
        assert!(matches!(err, CertError::IncompleteCa { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains(&certs.paths.ca_cert.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn ca_common_name_fits_x509_limit() {
        let name = ca_common_name();
        assert!(name.starts_with(CA_ORGANIZATION));
        assert!(name.chars().count() <= MAX_COMMON_NAME_CHARS, "{name}");
    }

    #[test]
    fn trust_instructions_use_absolute_path_and_cover_each_platform() {
        let text = trust_instructions(Path::new("certs/ca.pem"));
        let abs = std::env::current_dir().unwrap().join("certs/ca.pem");
        assert!(text.contains(&abs.display().to_string()), "{text}");
        for needle in [
            "update-ca-certificates",
            "trust anchor",
            "System.keychain",
            "certutil -addstore -f ROOT",
            "Firefox",
            "--cacert",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
    }
}
