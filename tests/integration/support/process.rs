//! The `ssegate` binary as a child process, so the tests can read the memory and the open
//! file descriptors of the server alone (`/proc/PID/status` and `/proc/PID/fd`): an
//! in-process server shares both with the test's own clients.
//!
//! The child listens on ephemeral ports (`127.0.0.1:0`) and the harness reads the addresses
//! it bound from its JSON `listening` log line. It is killed when dropped.
//!
//! Self-contained (no `crate::` paths): the attack bench includes this file too.

#![allow(dead_code)]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use rustls::{
    pki_types::{pem::PemObject, CertificateDer, ServerName},
    ClientConfig, RootCertStore,
};
use ssegate::config::RawConfig;
use tokio::{
    net::TcpStream,
    process::{Child, Command},
    time::Instant,
};
use tokio_rustls::{client::TlsStream, TlsConnector};

/// How long the child may take to start listening (it generates a CA and a certificate).
const START_PATIENCE: Duration = Duration::from_secs(30);

/// A running `ssegate serve` child.
pub struct ServerProcess {
    child: Child,
    pub pid: u32,
    /// The TLS listener.
    pub tls_addr: SocketAddr,
    /// The plaintext listener (HTTP/1.1 and h2c).
    pub plaintext_addr: SocketAddr,
    tls: Arc<ClientConfig>,
    tls_http1: Arc<ClientConfig>,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// The defaults with every listener on an ephemeral loopback port and the certificates
/// in `dir/certs`: what a test server starts from, in-process or as a child.
pub fn loopback_config(dir: &Path) -> RawConfig {
    let mut raw = RawConfig::default();
    raw.server.listen = "127.0.0.1:0".into();
    raw.server.plaintext_listen = Some("127.0.0.1:0".into());
    raw.admin.listen = "127.0.0.1:0".into();
    raw.tls.cert_dir = dir.join("certs");
    raw
}

impl ServerProcess {
    /// Starts `binary serve --config F`, with F the configuration made by `tweak` from the
    /// defaults (ephemeral loopback ports, a certificate directory in a temporary
    /// directory, JSON logs); returns once it listens.
    pub async fn start(binary: &Path, tweak: impl FnOnce(&mut RawConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut raw = loopback_config(dir.path());
        raw.log.format = "json".into();
        raw.log.filter = "info".into();
        tweak(&mut raw);
        let config_path = dir.path().join("ssegate.toml");
        let text = toml::to_string(&raw).expect("config serialises");
        std::fs::write(&config_path, text).expect("config written");
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let config_arg = config_path.to_str().expect("temp paths are UTF-8");
        let mut child = Command::new(binary)
            .args(["serve", "--config", config_arg])
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // A file, not a pipe: nobody reads the log while the server runs.
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("ssegate starts");
        let pid = child.id().expect("child pid");
        let (tls_addr, plaintext_addr) = wait_for_listening(&mut child, &log_path).await;
        let ca = std::fs::read(raw.tls.cert_dir.join("ca.pem")).expect("ca.pem");
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&ca) {
            roots.add(cert.expect("CA parses")).expect("CA is a root");
        }
        Self {
            child,
            pid,
            tls_addr,
            plaintext_addr,
            tls: client_config(roots.clone(), b"h2"),
            tls_http1: client_config(roots, b"http/1.1"),
            log_path,
            _dir: dir,
        }
    }

    /// The server's resident memory, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmRSS:")
    }

    /// The server's open file descriptors.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .expect("/proc/PID/fd")
            .count()
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("child status").is_none()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The rustls client configuration trusting the server's CA, offering `h2`.
    pub fn tls_config(&self) -> Arc<ClientConfig> {
        self.tls.clone()
    }

    /// A TCP connection to the TLS listener, TLS not started.
    pub async fn tcp(&self) -> TcpStream {
        let tcp = TcpStream::connect(self.tls_addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        tcp
    }

    /// A verified TLS connection offering `h2` (or `http/1.1` when `http1`).
    pub async fn tls(&self, http1: bool) -> TlsStream<TcpStream> {
        let config = if http1 { &self.tls_http1 } else { &self.tls };
        let connector = TlsConnector::from(config.clone());
        let name = ServerName::try_from("localhost").expect("server name");
        connector
            .connect(name, self.tcp().await)
            .await
            .expect("TLS handshake")
    }

    /// Stops the server (SIGKILL: the tests are done with it).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A client configuration trusting `roots`, offering `alpn`.
fn client_config(roots: RootCertStore, alpn: &[u8]) -> Arc<ClientConfig> {
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

/// A `/proc/PID/status` field in KiB (0 once the process is gone).
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// The process's CPU time so far (user + system), from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15, so 11 and 12 counted from state; USER_HZ is
    // 100 on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Waits for the JSON `listening` line and returns the TLS and plaintext addresses.
async fn wait_for_listening(child: &mut Child, log_path: &Path) -> (SocketAddr, SocketAddr) {
    let deadline = Instant::now() + START_PATIENCE;
    loop {
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        for line in log.lines() {
            let Ok(json) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let fields = &json["fields"];
            if fields["message"] != "listening" {
                continue;
            }
            let addr = |key: &str| -> SocketAddr {
                fields[key]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or_else(|| panic!("`{key}` address in {line}"))
            };
            return (addr("tls"), addr("plaintext"));
        }
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("ssegate exited early with {status:?}:\n{log}");
        }
        assert!(Instant::now() < deadline, "ssegate not listening:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
