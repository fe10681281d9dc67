//! The local certificate authority: loading and checking an existing CA (`ca.pem`,
//! `ca-key.pem`), creating one when neither file exists, and verifying server certificates
//! against it.
//!
//! A CA may already be trusted by browsers, so it is never replaced behind the user's
//! back: a half-present or unreadable CA is an error naming the file.

use std::env;
use std::fs;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::RootCertStore;
use time::OffsetDateTime;

use super::der::{der_tlv, distinguished_name_from_der};
use super::files::{read_optional, warn_if_readable_by_others, write_atomic};
use super::hosts::Host;
use super::{CertError, CertPaths, CLOCK_SKEW};

/// How long a new CA is valid. Long, because every renewal means the user has to
/// trust a new CA again.
const CA_VALIDITY: time::Duration = time::Duration::days(3650);

/// RFC 5280 `ub-common-name`.
pub(super) const MAX_COMMON_NAME_CHARS: usize = 64;

pub(super) const CA_ORGANIZATION: &str = "ssegate local CA";

/// A loaded CA, ready to sign and to verify.
pub(super) struct Ca {
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
    pub(super) fn verify(
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

    /// Signs a new certificate for the holder of `key` with this CA.
    pub(super) fn sign(
        &self,
        params: CertificateParams,
        key: &KeyPair,
    ) -> Result<rcgen::Certificate, rcgen::Error> {
        params.signed_by(key, &self.issuer, &self.key)
    }

    /// ca.pem as read (or written), for server certificate chains.
    pub(super) fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, to compare with the one a server chain carries.
    pub(super) fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The crypto provider the verifier uses, to check server key pairs with.
    pub(super) fn provider(&self) -> &Arc<CryptoProvider> {
        &self.provider
    }
}

/// Loads the CA, or creates it when neither file exists. Returns whether it was
/// created.
pub(super) fn load_or_create_ca(paths: &CertPaths) -> Result<(Ca, bool), CertError> {
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
pub(super) fn ca_common_name() -> String {
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
