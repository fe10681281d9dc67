//! Local certificate authority and server certificates for `https://localhost`.
//!
//! Imports only `config` (the default hosts); the server's assembly calls it.
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
//!
//! Layout: `ca` loads, creates and checks the CA (with `der` decoding its subject name);
//! `issue` issues server certificates and decides whether one can be reused; `hosts`
//! validates the requested host names; `files` writes the directory atomically with the
//! right modes; `trust` tells users how to trust the CA; `error` holds [`CertError`].

mod ca;
mod der;
mod error;
mod files;
mod hosts;
mod issue;
mod trust;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use ca::load_or_create_ca;
use files::create_dir;
use hosts::parse_hosts;
use issue::{reuse_problem, write_server_cert};

pub use error::CertError;
pub use files::{create_private_dir, replace_file};
pub use trust::trust_instructions;

pub use crate::config::DEFAULT_HOSTS;

/// How far `not_before` is back-dated, so a client whose clock runs a little
/// behind does not see a certificate from the future.
const CLOCK_SKEW: time::Duration = time::Duration::hours(1);

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
