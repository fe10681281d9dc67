//! Why an attempt to obtain a certificate failed.

use std::path::PathBuf;

use crate::tls::TlsError;

/// Why no certificate came.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA answered with a problem, or could not be reached.
    #[error("the ACME CA: {0}")]
    Ca(#[from] instant_acme::Error),
    /// The CA offers no challenge of the configured type for a domain.
    #[error("the CA offers no {challenge} challenge for {domain}")]
    NoChallenge {
        /// The challenge type.
        challenge: &'static str,
        /// The domain.
        domain: String,
    },
    /// The CA refused the order; its problem documents say why.
    #[error("the order is {status}: {problems}")]
    Refused {
        /// The order's status.
        status: String,
        /// The problems of the order and of its challenges.
        problems: String,
    },
    /// The tls-alpn-01 validation certificate could not be made.
    #[error("cannot make the tls-alpn-01 certificate for {domain}: {reason}")]
    ValidationCertificate {
        /// The domain.
        domain: String,
        /// What failed.
        reason: String,
    },
    /// A storage file could not be read or written.
    #[error("ACME storage {path}")]
    Storage {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The issued certificate cannot be served.
    #[error("the issued certificate")]
    Certificate(#[source] TlsError),
}
