//! A throwaway certificate authority for tests that serve certificates of their own (SNI,
//! reloads): it issues leaves for any names, wildcards included, and a client that trusts
//! only it reports which leaf the server presented.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, ServerName},
    RootCertStore,
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "ssegate test CA");
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    /// Issues a leaf for `names` and writes it (chain: leaf, CA) and its key to `dir` as
    /// `{stem}.pem` and `{stem}-key.pem`, replacing them in one rename each as a careful
    /// deployment does. Returns the two paths.
    pub fn write(&self, dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let leaf = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let cert_path = dir.join(format!("{stem}.pem"));
        let key_path = dir.join(format!("{stem}-key.pem"));
        replace(&cert_path, &format!("{}{}", leaf.pem(), self.cert.pem()));
        replace(&key_path, &key.serialize_pem());
        (cert_path, key_path)
    }

    /// Writes the CA certificate to `path`, where [`super::TestServer`]'s clients look for
    /// the CA they trust (`{cert_dir}/ca.pem`).
    pub fn write_ca(&self, path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, self.cert.pem()).unwrap();
    }

    /// What a server should present after [`write`](Self::write): the leaf in `cert_path`.
    pub fn leaf_in(cert_path: &Path) -> Vec<u8> {
        let pem = std::fs::read(cert_path).unwrap();
        CertificateDer::pem_slice_iter(&pem)
            .next()
            .unwrap()
            .unwrap()
            .to_vec()
    }

    /// Connects to `port` on loopback asking for `server_name` (an IP address sends no SNI),
    /// verifies the chain against this CA only and returns the leaf the server presented.
    pub async fn presented(&self, port: u16, server_name: &str) -> Vec<u8> {
        presented(&[self.cert.der().clone()], port, server_name).await
    }

    /// This CA's certificate (DER).
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }
}

/// Connects to `port` on loopback asking for `server_name`, verifies the chain against
/// `roots` only, and returns the leaf the server presented.
pub async fn presented(roots: &[CertificateDer<'static>], port: u16, server_name: &str) -> Vec<u8> {
    let tls = connect(roots, port, server_name)
        .await
        .unwrap_or_else(|e| panic!("TLS handshake for {server_name}: {e}"));
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// A TLS connection to `port` on loopback for `server_name`, trusting only `roots`.
pub async fn connect(
    roots: &[CertificateDer<'static>],
    port: u16,
    server_name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    let config = super::client_config(store, &[]);
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    TlsConnector::from(config).connect(name, tcp).await
}

fn replace(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
