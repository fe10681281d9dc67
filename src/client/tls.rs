//! The rustls client configuration: trust roots, the `--insecure` verifier and ALPN.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{ClientError, Trust};

/// ALPN protocol id of HTTP/2.
pub(super) const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Builds the rustls client configuration of [`publish()`](super::publish()) and
/// [`subscribe()`](super::subscribe()): the ring provider, TLS 1.2 and 1.3, `trust` as the
/// certificate verifier, and ALPN offering `h2` then `http/1.1`, or only `http/1.1` when
/// `http1_only` is set.
///
/// Build it once and share it (the `Arc`): each call reads the extra CA file of
/// [`Trust::Roots`] again. [`Trust::Insecure`] logs a warning on every call.
///
/// # Errors
///
/// [`ClientError::CaFile`], [`ClientError::CaFileEmpty`] or [`ClientError::CaCert`] when
/// the extra CA file cannot be read or holds no usable certificate;
/// [`ClientError::TlsConfig`] when rustls rejects the protocol versions.
pub fn client_config(trust: &Trust, http1_only: bool) -> Result<Arc<ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(ClientError::TlsConfig)?;
    let mut config = match trust {
        Trust::Roots { extra_ca } => {
            let mut roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            if let Some(path) = extra_ca {
                add_ca_file(&mut roots, path)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Insecure => {
            tracing::warn!("TLS certificate verification is disabled (--insecure)");
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
                .with_no_client_auth()
        }
    };
    config.alpn_protocols = if http1_only {
        vec![ALPN_HTTP1.to_vec()]
    } else {
        vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()]
    };
    Ok(Arc::new(config))
}

/// Adds every certificate of a PEM file to `roots`. A file without any certificate is an
/// error: it is almost certainly the wrong file (a key, or a server certificate in DER).
fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), ClientError> {
    let pem_error = |source| ClientError::CaFile {
        path: path.to_owned(),
        source,
    };
    // A small file read once per call, before any connection: blocking here is harmless.
    let mut added = 0_usize;
    for cert in CertificateDer::pem_file_iter(path).map_err(pem_error)? {
        let cert = cert.map_err(pem_error)?;
        roots.add(cert).map_err(|source| ClientError::CaCert {
            path: path.to_owned(),
            source,
        })?;
        added += 1;
    }
    if added == 0 {
        return Err(ClientError::CaFileEmpty {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// `--insecure`: trusts any certificate chain for any name, but still checks that the
/// handshake is signed by the key of the certificate presented, with the provider's
/// algorithms; otherwise the handshake itself would not be authenticated either.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn ca_file_that_does_not_exist_names_the_file() {
        let trust = Trust::Roots {
            extra_ca: Some("/nonexistent/ca.pem".into()),
        };
        let err = client_config(&trust, false).unwrap_err();
        assert!(matches!(err, ClientError::CaFile { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn ca_file_without_certificate_is_rejected() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "not a certificate").unwrap();
        let trust = Trust::Roots {
            extra_ca: Some(file.path().to_owned()),
        };
        let err = client_config(&trust, false).unwrap_err();
        assert!(matches!(err, ClientError::CaFileEmpty { .. }), "{err:?}");
    }

    #[test]
    fn ca_file_with_a_certificate_is_trusted() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(ca.pem().as_bytes()).unwrap();
        let trust = Trust::Roots {
            extra_ca: Some(file.path().to_owned()),
        };
        client_config(&trust, false).unwrap();
    }

    #[test]
    fn alpn_offers_h2_unless_http1_only() {
        let config = client_config(&Trust::Insecure, false).unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let config = client_config(&Trust::Insecure, true).unwrap();
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    }
}
