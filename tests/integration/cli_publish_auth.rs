//! The binary's safe default for publishing: a server with a listener that is not loopback
//! says at startup that publishing requires authorization, refuses an anonymous
//! `ssegate publish`, and takes one with a token minted by `ssegate token`.

use std::{path::Path, process::Stdio};

use crate::cli::{assert_no_panic, free_port, path_str, run, ssegate, wait_for_port, Finished};

/// `ssegate publish {url} hello`, trusting the CA `ca`, with `--token` if one is given.
async fn publish(cwd: &Path, url: &str, ca: &Path, token: Option<&str>) -> Finished {
    let mut args = vec!["publish", url, "hello", "--cacert", path_str(ca)];
    if let Some(token) = token {
        args.extend(["--token", token]);
    }
    run(cwd, &args).await
}

#[cfg(unix)]
#[tokio::test]
async fn a_public_listener_requires_tokens_says_so_and_takes_minted_ones() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, "a-secret-for-the-cli-test-0123456789\n").expect("secret");
    let config = tmp.path().join("ssegate.toml");
    std::fs::write(
        &config,
        format!(
            "[[mercure.issuers]]\niss = \"https://cli.example\"\nhmac_secret_file = {:?}\n",
            path_str(&secret)
        ),
    )
    .expect("config");
    let cert_dir = tmp.path().join("certs");
    let ca = cert_dir.join("ca.pem");
    let port = free_port();
    let public = format!("0.0.0.0:{}", free_port());
    let log_path = tmp.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut server = ssegate(tmp.path())
        .args(["serve", "--config", path_str(&config)])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--plaintext-listen", &public])
        .args(["--cert-dir", path_str(&cert_dir)])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("server starts");
    let server_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    wait_for_port(&mut server, port, &server_log).await;
    let startup = server_log();
    assert!(
        startup.contains("publishing requires authorization: a listener is not loopback"),
        "{startup}"
    );

    let url = format!("https://localhost:{port}/events/cli");
    let anonymous = publish(tmp.path(), &url, &ca, None).await;
    let stderr = anonymous.expect_failure(None);
    assert!(stderr.contains("401"), "{stderr}");

    let audience = format!("https://localhost:{port}/.well-known/mercure");
    let minted = run(
        tmp.path(),
        &[
            "token",
            "--secret-file",
            path_str(&secret),
            "--iss",
            "https://cli.example",
            "--aud",
            &audience,
            "--publish",
            "cli",
        ],
    )
    .await;
    assert!(minted.status.success(), "{}", minted.stderr);
    let token = minted.stdout.trim();
    let published = publish(tmp.path(), &url, &ca, Some(token)).await;
    assert!(published.status.success(), "{}", published.stderr);
    // The token grants `cli` only.
    let other = format!("https://localhost:{port}/events/other");
    let refused = publish(tmp.path(), &other, &ca, Some(token)).await;
    let stderr = refused.expect_failure(None);
    assert!(stderr.contains("403"), "{stderr}");

    server.start_kill().expect("kill");
    let _ = server.wait().await;
    assert_no_panic(&server_log());
}
