//! The examples in `deploy/`, run for real.
//!
//! Each proxy config (nginx, Caddy, HAProxy) is the very file from `deploy/`, with only its
//! `@TOKENS@` replaced (loopback ports, the test CA's certificate), started with the proxy
//! from Debian's packages in front of the in-process server. Through each, with an h2 and
//! an HTTP/1.1 client: every event arrives before the next is published (nothing buffers
//! it), and an idle stream receives heartbeat comments. The ssegate configs, the systemd
//! unit and the Dockerfile's command line are checked against the code they configure.
//!
//! A missing proxy fails its test with a pointer to `scripts/test`, which installs them:
//! a test never passes by skipping.

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use bytes::BytesMut;
use http::StatusCode;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::{pki_types::ServerName, ClientConfig};
use ssegate::config::RawConfig;
use tokio::{net::TcpStream, time::Instant};
use tokio_rustls::TlsConnector;

use crate::support::{Client, TestServer, PATIENCE};

mod cluster;
mod proxy;

use proxy::Proxy;

/// How long an event may take from its publish to the subscriber through a proxy. A proxy
/// that buffers holds a small event until its buffer fills or the response ends, which here
/// is never; the bound only has to be far above loopback latency on a busy CI machine.
const UNBUFFERED: Duration = Duration::from_secs(5);

/// Events published one at a time in each unbuffered check.
const EVENTS: usize = 5;

/// Heartbeat interval of the server behind the proxies, in seconds.
const HEARTBEAT_SECS: f64 = 0.3;

#[tokio::test]
async fn nginx_passes_each_event_unbuffered() {
    let server = server_behind_proxy().await;
    let proxy = Proxy::nginx(&server).await;
    for proto in [Proto::H2, Proto::Http1] {
        events_arrive_one_by_one(&server, &proxy, proto).await;
    }
}

#[tokio::test]
async fn nginx_passes_heartbeats_on_idle_streams() {
    let server = server_behind_proxy().await;
    let proxy = Proxy::nginx(&server).await;
    for proto in [Proto::H2, Proto::Http1] {
        heartbeats_arrive(&server, &proxy, proto).await;
    }
}

#[tokio::test]
async fn caddy_passes_each_event_unbuffered() {
    let server = server_behind_proxy().await;
    let proxy = Proxy::caddy(&server).await;
    for proto in [Proto::H2, Proto::Http1] {
        events_arrive_one_by_one(&server, &proxy, proto).await;
    }
}

#[tokio::test]
async fn caddy_passes_heartbeats_on_idle_streams() {
    let server = server_behind_proxy().await;
    let proxy = Proxy::caddy(&server).await;
    for proto in [Proto::H2, Proto::Http1] {
        heartbeats_arrive(&server, &proxy, proto).await;
    }
}

#[tokio::test]
async fn haproxy_passes_each_event_unbuffered() {
    let server = server_behind_haproxy().await;
    let proxy = Proxy::haproxy(&server).await;
    for proto in [Proto::H2, Proto::Http1] {
        events_arrive_one_by_one(&server, &proxy, proto).await;
    }
}

#[tokio::test]
async fn haproxy_passes_heartbeats_on_idle_streams() {
    let server = server_behind_haproxy().await;
    let proxy = Proxy::haproxy(&server).await;
    for proto in [Proto::H2, Proto::Http1] {
        heartbeats_arrive(&server, &proxy, proto).await;
    }
}

#[tokio::test]
async fn haproxy_opens_upstream_connections_with_a_proxy_protocol_header() {
    let server = server_behind_haproxy().await;
    let proxy = Proxy::haproxy(&server).await;
    // The listener closes connections that do not start with the header...
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let direct = tokio::time::timeout(
        PATIENCE,
        TlsConnector::from(server.tls_config(&[b"h2"]))
            .connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
    .expect("the listener answers in time");
    assert!(
        direct.is_err(),
        "a connection without a PROXY header is served"
    );
    // ...and serves HAProxy's.
    let mut client = proxy.connect(&server, Proto::H2).await;
    let response = client.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK, "{}", proxy.log());
}

#[test]
fn deploy_ssegate_configs_are_valid_and_fit_the_units_file_limit() {
    let limit = unit_directive("LimitNOFILE")
        .parse::<usize>()
        .expect("LimitNOFILE is a number");
    for name in ["behind-proxy.toml", "standalone.toml", "cluster.toml"] {
        let path = deploy_dir().join("ssegate").join(name);
        let config = RawConfig::from_file(&path)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .validate()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Each connection is a file descriptor; the rest are listeners, logs and certs.
        assert!(
            config.server.max_connections < limit,
            "{name}: max_connections {} must stay below LimitNOFILE={limit}",
            config.server.max_connections
        );
        // The plaintext listener has no TLS and, behind a proxy, no other protection.
        if let Some(addr) = config.server.plaintext_listen {
            assert!(addr.ip().is_loopback(), "{name}: plaintext on {addr}");
        }
        // A listener reachable from the network never takes anonymous publications.
        if !config.server.listen.ip().is_loopback() {
            assert!(config.publish_requires_auth(), "{name}: open publishing");
        }
    }
}

#[test]
fn deploy_systemd_unit_passes_systemd_analyze_verify() {
    let unit = fs::read_to_string(deploy_dir().join("systemd/ssegate.service")).unwrap();
    let exec = unit_directive("ExecStart");
    let args: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(args[0], "/usr/local/bin/ssegate");
    // The unit's command line, with each configuration the README installs as its file.
    for installed in ["behind-proxy.toml", "standalone.toml", "cluster.toml"] {
        let config = deploy_dir().join("ssegate").join(installed);
        let config = config.to_str().unwrap();
        let args: Vec<&str> = args
            .iter()
            .map(|a| {
                if *a == "/etc/ssegate/ssegate.toml" {
                    config
                } else {
                    a
                }
            })
            .collect();
        check_command_line(&args, &format!("ExecStart={exec} with {installed}"));
    }

    // `verify` checks that ExecStart's binary exists: point it at the one just built.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ssegate.service");
    fs::write(&path, unit.replace(args[0], env!("CARGO_BIN_EXE_ssegate"))).unwrap();
    let out = Command::new(program("systemd-analyze"))
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    // Unknown or misspelt directives are only warnings: any output is a failure.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}

#[test]
fn deploy_dockerfile_entrypoint_is_a_valid_command_line() {
    let dockerfile = fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
    let line = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("an ENTRYPOINT line");
    let args: Vec<String> = serde_json::from_str(line).expect("ENTRYPOINT in exec form");
    check_command_line(&args, &format!("ENTRYPOINT {line}"));
    // The port it announces is the one it listens on.
    let listen = args
        .windows(2)
        .find(|w| w[0] == "--listen")
        .map(|w| w[1].clone())
        .expect("--listen");
    let port = listen.rsplit(':').next().unwrap();
    assert!(
        dockerfile.contains(&format!("EXPOSE {port}")),
        "EXPOSE {port}"
    );
}

/// The server as the proxies see it: the TLS listener (HAProxy's upstream) and the
/// plaintext one (nginx's and Caddy's), with short heartbeats.
async fn server_behind_proxy() -> TestServer {
    TestServer::start_with(|raw| raw.hub.heartbeat_interval_secs = HEARTBEAT_SECS).await
}

/// The server as HAProxy sees it: its TLS listener requires the PROXY protocol header that
/// `send-proxy-v2` sends, as in `deploy/ssegate/behind-proxy.toml`.
async fn server_behind_haproxy() -> TestServer {
    TestServer::start_with(|raw| {
        raw.hub.heartbeat_interval_secs = HEARTBEAT_SECS;
        raw.server.proxy_protocol = true;
    })
    .await
}

/// The protocol the client negotiates with the proxy.
#[derive(Debug, Clone, Copy)]
enum Proto {
    H2,
    Http1,
}

/// Subscribes through the proxy, then publishes through it one event at a time: each must
/// reach the subscriber before the next is sent.
async fn events_arrive_one_by_one(server: &TestServer, proxy: &Proxy, proto: Proto) {
    let name = proxy.name;
    let path = format!("/events/unbuffered-{proto:?}");
    let mut subscriber = proxy.connect(server, proto).await;
    // The response's headers come back only after ssegate registered the subscription.
    let mut stream = tokio::time::timeout(UNBUFFERED, subscriber.subscribe(&path))
        .await
        .unwrap_or_else(|_| proxy.buffered(proto, "the response headers"));
    assert_eq!(
        stream.headers[http::header::CONTENT_TYPE],
        "text/event-stream",
        "{name} ({proto:?})"
    );
    let mut publisher = proxy.connect(server, proto).await;
    let mut slowest = Duration::ZERO;
    for i in 0..EVENTS {
        let data = format!("event {i} through {name}");
        let sent = Instant::now();
        let (status, body) = publisher.post(&path, data.clone()).await;
        assert_eq!(status, StatusCode::OK, "{name} ({proto:?}) publish: {body}");
        let event = tokio::time::timeout(UNBUFFERED, stream.next())
            .await
            .unwrap_or_else(|_| proxy.buffered(proto, &format!("event {i}")))
            .expect("stream still open");
        slowest = slowest.max(sent.elapsed());
        assert_eq!(event.data, data, "{name} ({proto:?})");
    }
    eprintln!("{name} ({proto:?}): {EVENTS} events, slowest publish-to-receive {slowest:?}");
}

/// Opens a stream on a topic nobody publishes to, through the proxy, and reads its raw
/// body until three heartbeat comments came through (the proxy may cut or join chunks).
async fn heartbeats_arrive(server: &TestServer, proxy: &Proxy, proto: Proto) {
    let name = proxy.name;
    let mut client = proxy.connect(server, proto).await;
    let response =
        tokio::time::timeout(UNBUFFERED, client.get(&format!("/events/quiet-{proto:?}")))
            .await
            .unwrap_or_else(|_| proxy.buffered(proto, "the response headers"));
    assert_eq!(response.status(), StatusCode::OK, "{name} ({proto:?})");
    let mut body = response.into_body();
    let mut seen = BytesMut::new();
    let started = Instant::now();
    while heartbeat_count(&seen) < 3 {
        let frame = tokio::time::timeout(PATIENCE, body.frame())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{name} ({proto:?}): no heartbeat within {PATIENCE:?}, got {:?}\n{}",
                    String::from_utf8_lossy(&seen),
                    proxy.log()
                )
            })
            .expect("stream still open")
            .expect("no stream error");
        if let Ok(data) = frame.into_data() {
            seen.extend_from_slice(&data);
        }
    }
    // Only the opening comment and heartbeats: nothing an SSE parser would dispatch.
    let text = String::from_utf8(seen.to_vec()).unwrap();
    assert!(
        text.lines().all(|l| l.is_empty() || l.starts_with(':')),
        "{name} ({proto:?}): {text:?}"
    );
    eprintln!(
        "{name} ({proto:?}): 3 heartbeats in {:?} (interval {HEARTBEAT_SECS} s)",
        started.elapsed()
    );
}

fn heartbeat_count(bytes: &[u8]) -> usize {
    bytes.windows(3).filter(|w| w == b":\n\n").count()
}

/// The plaintext listener's address, for the proxies that speak HTTP/1.1 or h2c upstream.
fn plaintext_upstream(server: &TestServer) -> String {
    server
        .plaintext_addr
        .expect("the test server has a plaintext listener")
        .to_string()
}

/// Runs the built binary with a deployment's command line (its program replaced) and
/// `--check`: the line must parse and its configuration validate, or the test fails with
/// the binary's message.
fn check_command_line(args: &[impl AsRef<str>], what: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_ssegate"))
        .args(args.iter().skip(1).map(AsRef::as_ref))
        .arg("--check")
        .output()
        .expect("ssegate runs");
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// `deploy/{file}` with each token replaced. Every token must occur, and none may be left:
/// a placeholder the test does not know would reach the proxy.
fn render(file: &str, tokens: &[(&str, String)]) -> String {
    let mut text = fs::read_to_string(deploy_dir().join(file)).unwrap();
    for (token, value) in tokens {
        assert!(text.contains(token), "deploy/{file} has no {token}");
        text = text.replace(token, value);
    }
    // Comments may name tokens; the directives may not.
    let leftover = text.lines().find_map(|line| {
        let code = line.split('#').next().unwrap_or_default();
        let parts: Vec<&str> = code.split('@').collect();
        parts
            .iter()
            .skip(1)
            .take(parts.len().saturating_sub(2))
            .find(|between| {
                !between.is_empty() && between.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            })
            .map(|token| format!("@{token}@ in `{}`", line.trim()))
    });
    assert!(
        leftover.is_none(),
        "deploy/{file}: {} is not filled in",
        leftover.unwrap_or_default()
    );
    text
}

/// A port that was free a moment ago (the proxies bind it themselves).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `name` on `PATH` or in the sbin directories (nginx and haproxy live in /usr/sbin).
fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: run `scripts/test` (README, Set up), which \
                 installs what the tests need and then runs cargo test"
            )
        })
}

/// The value of `directive=` in the systemd unit (its first occurrence).
fn unit_directive(directive: &str) -> String {
    let unit = fs::read_to_string(deploy_dir().join("systemd/ssegate.service")).unwrap();
    unit.lines()
        .find_map(|l| l.strip_prefix(directive)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{directive}= in ssegate.service"))
        .trim()
        .to_owned()
}
