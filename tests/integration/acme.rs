//! Automatic HTTPS against a real ACME CA (Debian's pebble): a certificate issued through
//! tls-alpn-01 and through http-01, renewed, a failing challenge reported and retried, and
//! the stored certificate served at the next start. Clients verify the served chain against
//! pebble's root.

use std::{path::Path, time::Duration};

use ssegate::acme::AcmeStatus;

use crate::{
    cli::free_port,
    support::{pebble::Pebble, test_ca::presented, TestServer, PATIENCE},
};

struct Setup {
    pebble: Pebble,
    tls_port: u16,
    plain_port: u16,
}

async fn setup() -> Setup {
    let (tls_port, plain_port) = (free_port(), free_port());
    Setup {
        pebble: Pebble::start(plain_port, tls_port).await,
        tls_port,
        plain_port,
    }
}

async fn server(
    setup: &Setup,
    storage: &Path,
    domains: &[&str],
    challenge: &str,
    renew_before_days: Option<f64>,
) -> TestServer {
    TestServer::start_with(|raw| {
        raw.server.listen = format!("127.0.0.1:{}", setup.tls_port);
        raw.server.plaintext_listen = Some(format!("127.0.0.1:{}", setup.plain_port));
        raw.tls.acme = Some(ssegate::config::RawAcme {
            domains: domains.iter().map(|d| d.to_string()).collect(),
            contact: vec!["ops@example.com".into()],
            directory_url: setup.pebble.directory_url(),
            ca: Some(setup.pebble.https_ca.clone()),
            storage: storage.to_owned(),
            challenge: challenge.into(),
            renew_before_days,
            retry_secs: 0.5,
        });
    })
    .await
}

/// Waits until `check` holds for the server's ACME status.
async fn until(server: &TestServer, what: &str, check: impl Fn(&AcmeStatus) -> bool) -> AcmeStatus {
    let status = server.acme.clone().expect("acme is configured");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = status.lock().unwrap().clone();
        if check(&now) {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tls_alpn_01_gets_a_certificate_that_verifies_against_the_cas_root() {
    let setup = setup().await;
    let storage = tempfile::tempdir().unwrap();
    let start = || {
        server(
            &setup,
            storage.path(),
            &["acme.test", "www.acme.test"],
            "tls-alpn-01",
            None,
        )
    };
    let first = start().await;
    until(&first, "issued", |s| s.issued == 1).await;
    let root = setup.pebble.root().await;
    let leaf = presented(std::slice::from_ref(&root), setup.tls_port, "www.acme.test").await;
    assert_eq!(
        leaf,
        presented(std::slice::from_ref(&root), setup.tls_port, "acme.test").await
    );

    // The key and the account are the owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut private = 0;
        for entry in std::fs::read_dir(storage.path()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with("-key.pem") || name.starts_with("account-") {
                let mode = entry.metadata().unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{name}");
                private += 1;
            }
        }
        assert_eq!(private, 2, "the certificate's key and the account");
    }
    first.shutdown().await;

    // The next start serves the stored certificate at once, without asking the CA.
    let second = start().await;
    assert_eq!(presented(&[root], setup.tls_port, "acme.test").await, leaf);
    assert_eq!(second.acme.as_ref().unwrap().lock().unwrap().issued, 0);
}

#[tokio::test]
async fn http_01_gets_a_certificate_and_renews_it_when_due() {
    let setup = setup().await;
    let storage = tempfile::tempdir().unwrap();
    // Due at once: every certificate is renewed after the retry interval.
    let server = server(
        &setup,
        storage.path(),
        &["renew.test"],
        "http-01",
        Some(1e6),
    )
    .await;
    until(&server, "issued", |s| s.issued >= 1).await;
    let root = setup.pebble.root().await;
    let first = presented(std::slice::from_ref(&root), setup.tls_port, "renew.test").await;
    until(&server, "renewed", |s| s.issued >= 2).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while presented(std::slice::from_ref(&root), setup.tls_port, "renew.test").await == first {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the renewed certificate is never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_failing_challenge_is_reported_with_the_cas_problem_and_retried() {
    let setup = setup().await;
    // Nothing answers there: the validation fails.
    setup.pebble.resolve("fail.test", "127.0.0.2").await;
    let storage = tempfile::tempdir().unwrap();
    let server = server(&setup, storage.path(), &["fail.test"], "tls-alpn-01", None).await;
    let failed = until(&server, "a failure", |s| s.failed >= 1).await;
    let error = failed.last_error.unwrap();
    assert!(error.contains("urn:ietf:params:acme:error"), "{error}");
    assert_eq!(failed.issued, 0);

    setup.pebble.resolve("fail.test", "127.0.0.1").await;
    until(&server, "issued after the retry", |s| s.issued == 1).await;
    let root = setup.pebble.root().await;
    presented(&[root], setup.tls_port, "fail.test").await;
}
