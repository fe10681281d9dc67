//! The `ssegate` binary and the certificate and configuration edges: `ssegate cert`, start-up
//! failures that must name the file or key at fault (with exit code 64 for bad
//! configuration, and never a panic), and `serve`, `subscribe` and `publish` end to end.
//!
//! Every child process runs in a temporary working directory (so a default `certs/` can
//! never land in the repository), is bounded by a deadline, and is killed if the test fails.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::Path,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use ssegate::{
    certs::{self, CertPaths},
    config::RawConfig,
    Server,
};
use tokio::{
    process::{Child, Command},
    time::Instant,
};

use crate::support::PATIENCE;

/// What a finished command left behind.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Asserts a failure with `code` (any non-zero code when `None`) and no panic, and
    /// returns standard error.
    pub fn expect_failure(&self, code: Option<i32>) -> &str {
        match code {
            Some(code) => assert_eq!(self.status.code(), Some(code), "{}", self.stderr),
            None => assert!(
                !self.status.success() && self.status.code().is_some(),
                "expected a non-zero exit code: {:?}\n{}",
                self.status,
                self.stderr
            ),
        }
        assert_no_panic(&self.stderr);
        &self.stderr
    }
}

/// `ssegate` with `cwd` as working directory, killed when dropped.
pub fn ssegate(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssegate"));
    cmd.current_dir(cwd)
        .env_remove("RUST_LOG")
        // Tests run servers side by side: the admin listener's fixed default would collide.
        .env("SSEGATE_ADMIN_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs `ssegate args...` to completion within PATIENCE.
pub async fn run(cwd: &Path, args: &[&str]) -> Finished {
    let output = tokio::time::timeout(PATIENCE, ssegate(cwd).args(args).output())
        .await
        .unwrap_or_else(|_| panic!("`ssegate {}` did not finish in time", args.join(" ")))
        .expect("ssegate runs");
    Finished {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn assert_no_panic(stderr: &str) {
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// A local CA and server certificate in `dir`, made by the library (the fixture of the
/// tests that feed certificates to `serve`).
fn issue(dir: &Path) -> CertPaths {
    certs::issue_server_cert(dir, &["localhost".to_owned()])
        .expect("certificates")
        .paths
}

// ---- ssegate cert -----------------------------------------------------------------------------

#[tokio::test]
async fn cert_creates_ca_and_server_files_and_prints_how_to_trust_the_ca() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("certs");
    let out = run(
        tmp.path(),
        &[
            "cert",
            "--dir",
            path_str(&dir),
            "--hosts",
            "localhost,127.0.0.1",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", out.stderr);
    assert_no_panic(&out.stderr);

    let paths = CertPaths::in_dir(&dir);
    for file in [
        &paths.ca_cert,
        &paths.ca_key,
        &paths.server_cert,
        &paths.server_key,
    ] {
        let pem = std::fs::read_to_string(file).expect("file exists");
        assert!(
            pem.starts_with("-----BEGIN "),
            "{} is not PEM",
            file.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [&paths.ca_key, &paths.server_key] {
            let mode = std::fs::metadata(key).expect("key").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", key.display());
        }
    }

    let text = &out.stdout;
    assert!(text.contains("Created a local CA"), "{text}");
    assert!(text.contains("localhost, 127.0.0.1"), "{text}");
    for needle in [
        path_str(&paths.ca_cert),
        "update-ca-certificates",
        "security add-trusted-cert",
        "certutil",
        "Firefox",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[tokio::test]
async fn cert_run_twice_reuses_the_ca() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("certs");
    let args = ["cert", "--dir", path_str(&dir)];
    let first = run(tmp.path(), &args).await;
    assert!(first.status.success(), "{}", first.stderr);
    let paths = CertPaths::in_dir(&dir);
    let ca = std::fs::read(&paths.ca_cert).expect("ca.pem");
    let ca_key = std::fs::read(&paths.ca_key).expect("ca-key.pem");

    let second = run(tmp.path(), &args).await;
    assert!(second.status.success(), "{}", second.stderr);
    assert_no_panic(&second.stderr);
    assert!(
        second.stdout.contains("Reused the local CA"),
        "{}",
        second.stdout
    );
    assert_eq!(std::fs::read(&paths.ca_cert).expect("ca.pem"), ca);
    assert_eq!(std::fs::read(&paths.ca_key).expect("ca-key.pem"), ca_key);
    // The server certificate, still valid for the same hosts, is kept; --renew replaces it.
    assert!(second.stdout.contains("kept"), "{}", second.stdout);
    let server_cert = std::fs::read(&paths.server_cert).expect("server.pem");
    let third = run(tmp.path(), &args).await;
    assert!(third.status.success(), "{}", third.stderr);
    assert_eq!(std::fs::read(&paths.server_cert).unwrap(), server_cert);
    let renewed = run(tmp.path(), &["cert", "--renew", "--dir", path_str(&dir)]).await;
    assert!(renewed.status.success(), "{}", renewed.stderr);
    assert_ne!(std::fs::read(&paths.server_cert).unwrap(), server_cert);
}

#[tokio::test]
async fn publish_from_standard_input_drops_the_trailing_newline_the_shell_adds() {
    use tokio::io::AsyncWriteExt;

    let server = crate::support::TestServer::start().await;
    let mut client = server.h2().await;
    let mut stream = crate::support::SseStream::new(
        client
            .send(crate::support::request("GET", "/events/stdin", ""))
            .await,
    );
    let url = format!("https://localhost:{}/events/stdin", server.addr.port());
    let ca = server.cert_dir.join("ca.pem");
    let tmp = tempfile::tempdir().expect("temp dir");
    for input in ["hello\n", "two\nlines\r\n"] {
        let mut child = ssegate(tmp.path())
            .args(["publish", &url, "-", "--cacert", path_str(&ca)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("publish starts");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).await.unwrap();
        drop(stdin);
        let out = tokio::time::timeout(PATIENCE, child.wait_with_output())
            .await
            .expect("publish ends")
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let data: Vec<String> = stream.take(2).await.into_iter().map(|e| e.data).collect();
    assert_eq!(data, ["hello", "two\nlines"]);
}

// ---- ssegate serve: certificate files ----------------------------------------------------------

#[tokio::test]
async fn serve_with_missing_cert_fails_naming_the_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cert = tmp.path().join("missing.pem");
    let key = tmp.path().join("missing-key.pem");
    let out = serve_with_files(tmp.path(), &cert, &key).await;
    let stderr = out.expect_failure(None);
    assert!(stderr.contains(path_str(&cert)), "{stderr}");
}

#[tokio::test]
async fn serve_with_missing_key_fails_naming_the_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let paths = issue(&tmp.path().join("certs"));
    let key = tmp.path().join("missing-key.pem");
    let out = serve_with_files(tmp.path(), &paths.server_cert, &key).await;
    let stderr = out.expect_failure(None);
    assert!(stderr.contains(path_str(&key)), "{stderr}");
}

#[tokio::test]
async fn serve_with_malformed_pem_cert_fails_naming_the_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let paths = issue(&tmp.path().join("certs"));
    let not_pem = tmp.path().join("not-pem.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").expect("write");
    let bad_base64 = tmp.path().join("bad-base64.pem");
    std::fs::write(
        &bad_base64,
        "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    for cert in [&not_pem, &bad_base64] {
        let out = serve_with_files(tmp.path(), cert, &paths.server_key).await;
        let stderr = out.expect_failure(None);
        assert!(stderr.contains(path_str(cert)), "{stderr}");
    }
}

#[tokio::test]
async fn serve_with_malformed_pem_key_fails_naming_the_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let paths = issue(&tmp.path().join("certs"));
    let key = tmp.path().join("bad-key.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\n!!not base64!!\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let out = serve_with_files(tmp.path(), &paths.server_cert, &key).await;
    let stderr = out.expect_failure(None);
    assert!(stderr.contains(path_str(&key)), "{stderr}");
}

#[tokio::test]
async fn serve_with_key_of_another_cert_fails_naming_both_files() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let one = issue(&tmp.path().join("one"));
    let other = issue(&tmp.path().join("other"));
    let out = serve_with_files(tmp.path(), &one.server_cert, &other.server_key).await;
    let stderr = out.expect_failure(None);
    assert!(stderr.contains(path_str(&one.server_cert)), "{stderr}");
    assert!(stderr.contains(path_str(&other.server_key)), "{stderr}");
}

#[tokio::test]
async fn serve_with_cert_but_no_key_exits_64_naming_tls_key() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let paths = issue(&tmp.path().join("certs"));
    let out = run(
        tmp.path(),
        &[
            "serve",
            "--cert",
            path_str(&paths.server_cert),
            "--listen",
            "127.0.0.1:0",
        ],
    )
    .await;
    let stderr = out.expect_failure(Some(64));
    assert!(stderr.contains("tls.key"), "{stderr}");
}

async fn serve_with_files(cwd: &Path, cert: &Path, key: &Path) -> Finished {
    run(
        cwd,
        &[
            "serve",
            "--cert",
            path_str(cert),
            "--key",
            path_str(key),
            "--listen",
            "127.0.0.1:0",
        ],
    )
    .await
}

// ---- ssegate serve: configuration file ----------------------------------------------------------

#[tokio::test]
async fn serve_config_with_unknown_key_exits_64_naming_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = serve_with_config(tmp.path(), "[hub]\nheartbeat = 3\n").await;
    let stderr = out.expect_failure(Some(64));
    assert!(stderr.contains("`heartbeat`"), "{stderr}");
}

#[tokio::test]
async fn serve_config_that_never_ends_exits_64_naming_it() {
    // A device or a runaway file is refused at a bound, not read until memory runs out.
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = run(tmp.path(), &["serve", "--config", "/dev/zero"]).await;
    let stderr = out.expect_failure(Some(64));
    assert!(stderr.contains("/dev/zero"), "{stderr}");
    assert!(stderr.contains("larger than"), "{stderr}");
}

#[tokio::test]
async fn serve_config_with_bad_listen_address_exits_64_naming_server_listen() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = serve_with_config(tmp.path(), "[server]\nlisten = \"nope\"\n").await;
    let stderr = out.expect_failure(Some(64));
    assert!(stderr.contains("server.listen"), "{stderr}");
}

#[tokio::test]
async fn serve_with_a_bad_admin_listen_exits_64_naming_admin_listen() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let args = ["serve", "--listen", "127.0.0.1:0", "--admin-listen", "nope"];
    let out = run(tmp.path(), &args).await;
    let stderr = out.expect_failure(Some(64));
    assert!(stderr.contains("admin.listen"), "{stderr}");
}

#[tokio::test]
async fn serve_config_with_a_missing_admin_token_file_exits_64_naming_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let toml = "[admin]\ntoken_file = \"/nonexistent/admin-token\"\n";
    let out = serve_with_config(tmp.path(), toml).await;
    let stderr = out.expect_failure(Some(64));
    assert!(stderr.contains("admin.token_file"), "{stderr}");
}

#[tokio::test]
async fn serve_config_with_wrong_type_exits_64_naming_the_key() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = serve_with_config(tmp.path(), "[server]\nmax_body_bytes = \"big\"\n").await;
    let stderr = out.expect_failure(Some(64));
    assert!(stderr.contains("max_body_bytes"), "{stderr}");
}

#[tokio::test]
async fn serve_with_missing_config_file_fails_naming_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = tmp.path().join("missing.toml");
    let out = run(tmp.path(), &["serve", "--config", path_str(&config)]).await;
    let stderr = out.expect_failure(None);
    assert!(stderr.contains(path_str(&config)), "{stderr}");
}

/// `serve --config F` with `toml` in F; `--listen` keeps a config that is wrongly accepted
/// off any fixed port (the test then fails on the deadline or the exit code).
async fn serve_with_config(cwd: &Path, toml: &str) -> Finished {
    let config = cwd.join("ssegate.toml");
    std::fs::write(&config, toml).expect("write config");
    run(cwd, &["serve", "--config", path_str(&config)]).await
}

// ---- Server::bind in process --------------------------------------------------------------------

#[tokio::test]
async fn server_bind_with_broken_cert_file_names_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let paths = issue(&tmp.path().join("certs"));
    let cert = tmp.path().join("broken.pem");
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n").expect("write");
    let err = bind_with_files(&cert, &paths.server_key).await;
    assert!(err.contains(path_str(&cert)), "{err}");
}

#[tokio::test]
async fn server_bind_with_key_of_another_cert_names_both_files() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let one = issue(&tmp.path().join("one"));
    let other = issue(&tmp.path().join("other"));
    let err = bind_with_files(&one.server_cert, &other.server_key).await;
    assert!(err.contains(path_str(&one.server_cert)), "{err}");
    assert!(err.contains(path_str(&other.server_key)), "{err}");
}

/// The `Display` of the error `Server::bind` returns for these files.
async fn bind_with_files(cert: &Path, key: &Path) -> String {
    let mut raw = RawConfig::default();
    raw.server.listen = "127.0.0.1:0".into();
    raw.tls.cert = Some(cert.to_owned());
    raw.tls.key = Some(key.to_owned());
    let config = raw.validate().expect("the config itself is valid");
    match Server::bind(config).await {
        Ok(server) => panic!("bind succeeded: {server:?}"),
        Err(e) => e.to_string(),
    }
}

// ---- serve, subscribe and publish end to end ------------------------------------------------

#[cfg(unix)]
#[tokio::test]
async fn serve_subscribe_publish_end_to_end_then_sigterm_exits_0() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cert_dir = tmp.path().join("certs");
    let ca = cert_dir.join("ca.pem");
    let log_path = tmp.path().join("server.log");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let url = format!("https://localhost:{port}/events/cli");

    let log = std::fs::File::create(&log_path).expect("log file");
    let mut server = ssegate(tmp.path())
        .args([
            "serve",
            "--listen",
            &listen,
            "--cert-dir",
            path_str(&cert_dir),
        ])
        .stdout(Stdio::null())
        // A file rather than a pipe: nobody reads the log while the server runs.
        .stderr(log)
        .spawn()
        .expect("server starts");
    let server_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    wait_for_port(&mut server, port, &server_log).await;

    let mut subscriber = ssegate(tmp.path())
        .args(["subscribe", &url, "--cacert", path_str(&ca), "--limit", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("subscriber starts");

    // Events published before the subscriber is connected are not for it, so publish until
    // it has had its two events and exits.
    let deadline = Instant::now() + PATIENCE;
    let mut publishes = 0;
    while subscriber.try_wait().expect("subscriber status").is_none() {
        assert!(
            Instant::now() < deadline,
            "subscriber still running after {publishes} publishes; server log:\n{}",
            server_log()
        );
        let out = run(
            tmp.path(),
            &["publish", &url, "hello", "--cacert", path_str(&ca)],
        )
        .await;
        assert!(out.status.success(), "publish failed: {}", out.stderr);
        assert!(!out.stdout.trim().is_empty(), "publish prints the event id");
        publishes += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = subscriber
        .wait_with_output()
        .await
        .expect("subscriber output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "subscriber: {stderr}");
    assert_no_panic(&stderr);
    assert_eq!(stdout.matches("data: hello\n").count(), 2, "{stdout}");

    let pid = server.id().expect("server is running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(15), server.wait())
        .await
        .unwrap_or_else(|_| panic!("no exit within 15 s of SIGTERM; log:\n{}", server_log()))
        .expect("server status");
    let log = server_log();
    assert!(status.success(), "{status:?}; log:\n{log}");
    assert_no_panic(&log);
}

/// A loopback port that was free a moment ago. (The child binds it itself; a race with
/// another process is possible but shows up as a start-up failure naming the address.)
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Polls until `port` accepts connections; fails if the server exits or the deadline passes.
pub async fn wait_for_port(server: &mut Child, port: u16, log: &dyn Fn() -> String) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = server.try_wait().expect("server status") {
            panic!("server exited early with {status:?}:\n{}", log());
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "port {port} not accepting in time:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn check_config_validates_and_logs_carry_no_colours_off_a_terminal() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = run(tmp.path(), &["serve", "--check-config"]).await;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("configuration ok"), "{}", out.stdout);

    // A port already taken: the server logs its start, then fails; stderr is a pipe.
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let cert_dir = tmp.path().join("certs");
    let out = run(
        tmp.path(),
        &[
            "serve",
            "--listen",
            &listen,
            "--cert-dir",
            path_str(&cert_dir),
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("starting ssegate"), "{}", out.stderr);
    assert!(
        !out.stderr.contains('\x1b'),
        "ANSI escapes in {:?}",
        out.stderr
    );
}

#[tokio::test]
async fn an_untrusted_server_certificate_is_explained_and_ssegate_cacert_trusts_it() {
    let server = crate::support::TestServer::start().await;
    let url = format!("https://localhost:{}/events/trust", server.addr.port());
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = run(tmp.path(), &["publish", &url, "hello"]).await;
    let stderr = out.expect_failure(None);
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    assert!(
        stderr.contains("hint:") && stderr.contains("--cacert"),
        "{stderr}"
    );

    let ca = server.cert_dir.join("ca.pem");
    let out = tokio::time::timeout(
        PATIENCE,
        ssegate(tmp.path())
            .args(["publish", &url, "hello"])
            .env("SSEGATE_CACERT", &ca)
            .output(),
    )
    .await
    .expect("publish ends")
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
