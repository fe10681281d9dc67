//! Loading a PEM certificate chain and its key, checking that they belong together, and
//! reading what the leaf says about itself (names, validity).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use rustls::{
    crypto::ring::default_provider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    sign::CertifiedKey,
};

/// A certificate or key that cannot be used. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read (missing, unreadable).
    #[error("cannot read {what} file {path}")]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file has no PEM certificate, or a malformed one.
    #[error("no valid PEM certificate in {path}: {reason}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        reason: String,
    },
    /// The file has no PEM private key, or a malformed one.
    #[error("no valid PEM private key in {path}: {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        reason: String,
    },
    /// The key does not match the certificate, or rustls rejects the pair.
    #[error("certificate {cert} and key {key} cannot be used together: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        reason: String,
    },
}

/// A certificate chain and key ready to serve, with what its leaf says.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The chain and the signing key.
    pub key: Arc<CertifiedKey>,
    /// The DNS names of the leaf's subject alternative names, lower case.
    pub names: Vec<String>,
    /// Start of the leaf's validity.
    pub not_before: SystemTime,
    /// End of the leaf's validity.
    pub not_after: SystemTime,
}

/// Loads `cert_path` and `key_path` and checks that the key is the leaf's.
pub fn load_pair(cert_path: &Path, key_path: &Path) -> Result<Loaded, TlsError> {
    let certs = load_certs(cert_path)?;
    let key = load_key(key_path)?;
    let (names, not_before, not_after) =
        describe(&certs[0]).map_err(|reason| TlsError::BadCertificate {
            path: cert_path.to_owned(),
            reason,
        })?;
    let provider = default_provider();
    // `from_der` checks that the key's public half is the leaf certificate's.
    let key = CertifiedKey::from_der(certs, key, &provider).map_err(|e| TlsError::Mismatch {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Loaded {
        key: Arc::new(key),
        names,
        not_before,
        not_after,
    })
}

/// The leaf's DNS names and validity.
fn describe(leaf: &CertificateDer<'_>) -> Result<(Vec<String>, SystemTime, SystemTime), String> {
    use x509_parser::{extensions::GeneralName, prelude::FromDer};

    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf)
        .map_err(|e| format!("the leaf certificate cannot be parsed: {e}"))?;
    let names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        Ok(None) => Vec::new(),
        Err(e) => return Err(format!("its subject alternative names cannot be read: {e}")),
    };
    let time = |t: x509_parser::time::ASN1Time| {
        let seconds = t.timestamp();
        if seconds >= 0 {
            SystemTime::UNIX_EPOCH + Duration::from_secs(seconds.unsigned_abs())
        } else {
            SystemTime::UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
        }
    };
    let validity = cert.validity();
    Ok((names, time(validity.not_before), time(validity.not_after)))
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    crate::files::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Reads every certificate of a PEM chain, leaf first.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read("certificate", path)?;
    let bad = |reason: String| TlsError::BadCertificate {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("the file holds no CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read("private key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::BadKey {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}
