//! TLS for the listener: the certificates it serves (loaded from PEM files, chosen by server
//! name, reloaded without a restart) and the rustls server configuration (TLS 1.2 and 1.3,
//! ALPN `h2` then `http/1.1`).
//!
//! Imports only `config` (the certificate files it is told to serve); the server builds the
//! acceptor from it.

mod load;
mod store;
mod watch;

use std::sync::Arc;

use rustls::{crypto::ring::default_provider, ServerConfig};

pub use load::{load_certs, load_key, load_pair, Loaded, TlsError};
pub use store::{CertStore, CertificateState, ReloadReport};
pub use watch::{days_left, log_reload, watch};

/// ALPN protocol id of HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";
/// ALPN protocol id of an ACME CA's tls-alpn-01 validation (RFC 8737).
pub const ALPN_ACME_TLS: &[u8] = b"acme-tls/1";

/// The listener's rustls configuration: every handshake asks `store` for its certificate,
/// so a reload reaches the next handshake and leaves open connections as they are.
pub fn server_config(store: Arc<CertStore>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(store);
    // Last: only a client that offers nothing else (an ACME CA validating) gets it.
    config.alpn_protocols = vec![
        ALPN_H2.to_vec(),
        ALPN_HTTP11.to_vec(),
        ALPN_ACME_TLS.to_vec(),
    ];
    Ok(Arc::new(config))
}
