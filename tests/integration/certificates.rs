//! The listener's certificates: chosen by server name (SNI), and reloaded from their files
//! (when they change, or on SIGHUP) for new handshakes while open streams keep flowing.

use std::{path::Path, process::Stdio, time::Duration};

use crate::{
    cli::{free_port, ssegate, wait_for_port},
    support::{request, test_ca::TestCa, SseStream, TestServer, PATIENCE},
};

#[tokio::test]
async fn each_server_name_gets_its_certificate_and_other_clients_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let (default_cert, default_key) = ca.write(dir.path(), "default", &["localhost", "127.0.0.1"]);
    let (a, a_key) = ca.write(dir.path(), "a", &["a.test"]);
    let (wild, wild_key) = ca.write(dir.path(), "wild", &["*.wild.test", "wild.test"]);
    let server = TestServer::start_with(|raw| {
        raw.tls.cert = Some(default_cert.clone());
        raw.tls.key = Some(default_key.clone());
        for (cert, key) in [(&a, &a_key), (&wild, &wild_key)] {
            raw.tls.certificates.push(ssegate::config::RawCertificate {
                cert: cert.clone(),
                key: key.clone(),
                hosts: Vec::new(),
            });
        }
    })
    .await;
    let port = server.addr.port();
    for (name, expected) in [
        ("a.test", &a),
        ("A.TEST", &a),
        ("x.wild.test", &wild),
        ("wild.test", &wild),
        ("localhost", &default_cert),
        // An IP address carries no SNI.
        ("127.0.0.1", &default_cert),
    ] {
        assert_eq!(
            ca.presented(port, name).await,
            TestCa::leaf_in(expected),
            "certificate for {name}"
        );
    }
}

/// Waits until a new handshake on `port` for `localhost` is given the leaf in `cert`.
async fn until_presented(ca: &TestCa, port: u16, cert: &Path) {
    let expected = TestCa::leaf_in(cert);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while ca.presented(port, "localhost").await != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn changed_files_reach_new_handshakes_while_open_streams_keep_flowing() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let (cert, key) = ca.write(dir.path(), "server", &["localhost"]);
    let server = TestServer::start_with(|raw| {
        ca.write_ca(&raw.tls.cert_dir.join("ca.pem"));
        raw.tls.cert = Some(cert.clone());
        raw.tls.key = Some(key.clone());
        raw.tls.watch_interval_secs = 0.1;
    })
    .await;
    let port = server.addr.port();
    let first = TestCa::leaf_in(&cert);
    assert_eq!(ca.presented(port, "localhost").await, first);

    // 100 streams over two connections, open across every change below.
    let mut clients = [server.h2().await, server.h2().await];
    let mut streams = Vec::new();
    for i in 0..100 {
        let response = clients[i % 2]
            .send(request("GET", "/events/reload", ""))
            .await;
        streams.push(SseStream::new(response));
    }
    let mut publisher = server.h2().await;
    let (status, _) = publisher.post("/events/reload", "before").await;
    assert_eq!(status, http::StatusCode::OK);

    // A broken pair (the key of another certificate) is refused: the old one stays.
    let other = tempfile::tempdir().unwrap();
    let (_, wrong_key) = ca.write(other.path(), "other", &["localhost"]);
    std::fs::copy(&wrong_key, &key).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ca.presented(port, "localhost").await,
        first,
        "the broken pair is not served"
    );

    // A good new pair is.
    ca.write(dir.path(), "server", &["localhost"]);
    until_presented(&ca, port, &cert).await;
    assert_ne!(TestCa::leaf_in(&cert), first);
    let (status, _) = publisher.post("/events/reload", "after").await;
    assert_eq!(status, http::StatusCode::OK);

    for stream in &mut streams {
        let data: Vec<String> = stream.take(2).await.into_iter().map(|e| e.data).collect();
        assert_eq!(data, ["before", "after"]);
    }
}

#[tokio::test]
async fn sighup_reloads_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let (cert, key) = ca.write(dir.path(), "server", &["localhost"]);
    let config = dir.path().join("ssegate.toml");
    // No file watching: only the signal reloads.
    std::fs::write(&config, "[tls]\nwatch_interval_secs = 0\n").unwrap();
    let port = free_port();
    let mut child = ssegate(dir.path())
        .args(["serve", "--no-demo", "--config"])
        .arg(&config)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssegate starts");
    wait_for_port(&mut child, port, &|| String::new()).await;
    let first = TestCa::leaf_in(&cert);
    assert_eq!(ca.presented(port, "localhost").await, first);

    ca.write(dir.path(), "server", &["localhost"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        ca.presented(port, "localhost").await,
        first,
        "no reload before the signal"
    );
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    until_presented(&ca, port, &cert).await;
    child.kill().await.unwrap();
}
