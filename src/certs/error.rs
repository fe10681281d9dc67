//! Why the certificate directory could not be set up: [`CertError`], one variant per step,
//! each naming the file it was about.

use std::io;
use std::path::PathBuf;

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
