//! Unit tests of the certificate directory: CA creation and reuse, server certificate
//! issuing and the reuse check, file modes, and the errors for a broken CA.

use std::fs;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use rcgen::KeyPair;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, DnsName, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use time::OffsetDateTime;

use super::ca::{ca_common_name, load_or_create_ca, CA_ORGANIZATION, MAX_COMMON_NAME_CHARS};
use super::hosts::{parse_hosts, Host};
use super::issue::{reuse_problem, write_server_cert, SERVER_VALIDITY};
use super::{
    ensure_local_certs, issue_server_cert, trust_instructions, CertError, CertPaths, DEFAULT_HOSTS,
};

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
    let hosts = parse_hosts(&strings(&["LocalHost", "localhost", "::1", "0:0::1"]), path).unwrap();
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
