//! Server certificates: issuing one signed by the local CA, and deciding whether the one
//! on disk can be reused.
//!
//! The reuse check asks rustls's own verifier the question a browser will ask ("does this
//! chain to *this* CA, for this host, at this time?"), so it needs no X.509 parser and no
//! sidecar state that could drift from the files it describes.

use std::time::Duration;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

use super::ca::Ca;
use super::files::write_atomic;
use super::hosts::Host;
use super::{CertError, CertPaths, CLOCK_SKEW};

/// How long a new server certificate is valid. Apple platforms reject server
/// certificates valid for more than 825 days and browsers cap publicly trusted
/// ones at 398; 397 stays under every limit we know of.
pub(super) const SERVER_VALIDITY: time::Duration = time::Duration::days(397);

/// `ensure_local_certs` reissues a server certificate that expires sooner than
/// this, so a long-running server started on an old certificate does not go dark
/// mid-week.
const MIN_REMAINING_VALIDITY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Why the existing server certificate cannot be reused, or `None` if it can.
/// Every failure means "reissue", so the reasons are only for the log.
pub(super) fn reuse_problem(paths: &CertPaths, ca: &Ca, hosts: &[Host]) -> Option<String> {
    let chain_pem = match crate::files::read(&paths.server_cert) {
        Ok(bytes) => bytes,
        Err(e) => return Some(format!("cannot read {}: {e}", paths.server_cert.display())),
    };
    let key_pem = match crate::files::read(&paths.server_key) {
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
    if chain_ca != ca.cert_der() {
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
    if let Err(e) = CertifiedKey::from_der(chain.clone(), key, ca.provider()) {
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
pub(super) fn write_server_cert(
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
    let cert = ca
        .sign(params, &key)
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
    chain.push_str(ca.cert_pem());
    // A crash between these two writes leaves a mismatched pair, which
    // `reuse_problem` detects, so the next `serve` reissues rather than failing.
    write_atomic(&paths.server_key, key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(&paths.server_cert, chain.as_bytes(), 0o644)?;
    Ok(())
}
