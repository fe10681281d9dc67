//! A real `redis-server` (Debian's), started by the test on a free loopback port with its
//! own directory and no persistence, and stopped when dropped. Never the system service.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::PATIENCE;

/// Where Debian puts it.
const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A running `redis-server`.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
    persistent: bool,
}

impl RedisServer {
    /// Starts one and waits until it answers `PING`.
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    /// Starts one on `port` (a restart where clients expect it).
    pub async fn start_on(port: u16) -> Self {
        Self::launch(port, tempfile::tempdir().unwrap(), false).await
    }

    /// Starts one that writes every command to its append-only file before answering
    /// (`appendfsync always`): what survives a Redis restart, as the README advises.
    pub async fn start_persistent() -> Self {
        Self::launch(free_port(), tempfile::tempdir().unwrap(), true).await
    }

    /// Starts one that speaks only TLS (with `cert_dir`'s `server.pem`, whose CA is
    /// `ca.pem`) and requires `password`.
    pub async fn start_tls(cert_dir: &std::path::Path, password: &str) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| cert_dir.join(name).display().to_string();
        let child = spawn(
            &dir,
            &[
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--appendonly",
                "no",
                "--tls-cert-file",
                &file("server.pem"),
                "--tls-key-file",
                &file("server-key.pem"),
                "--tls-ca-cert-file",
                &file("ca.pem"),
                "--tls-auth-clients",
                "no",
                "--requirepass",
                password,
            ],
        );
        let server = Self {
            port,
            child,
            dir,
            persistent: false,
        };
        // It answers no plaintext PING: listening is enough.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no TLS redis-server on {port}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    /// Kills it (SIGKILL) and starts it again on the same port and directory.
    pub async fn restart(self) -> Self {
        let mut this = self;
        this.kill();
        let (port, persistent) = (this.port, this.persistent);
        let dir = std::mem::replace(&mut this.dir, tempfile::tempdir().unwrap());
        Self::launch(port, dir, persistent).await
    }

    async fn launch(port: u16, dir: tempfile::TempDir, persistent: bool) -> Self {
        let appendonly = if persistent { "yes" } else { "no" };
        let child = spawn(
            &dir,
            &[
                "--port",
                &port.to_string(),
                "--appendonly",
                appendonly,
                "--appendfsync",
                "always",
            ],
        );
        let server = Self {
            port,
            child,
            dir,
            persistent,
        };
        server.wait_until_ready().await;
        server
    }

    /// `redis://127.0.0.1:{port}/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops it at once (SIGKILL): Redis gone, as a crash or a partition would leave it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn wait_until_ready(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(mut conn) = TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut reply = [0u8; 7];
                if conn.write_all(b"PING\r\n").await.is_ok()
                    && conn.read_exact(&mut reply).await.is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on port {} never answered",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `redis-server` on loopback, keeping its files in `dir`, with no snapshots, and `args`.
fn spawn(dir: &tempfile::TempDir, args: &[&str]) -> Child {
    assert!(
        std::path::Path::new(REDIS_SERVER).exists(),
        "{REDIS_SERVER} is missing: run scripts/test, which installs redis-server"
    );
    Command::new(REDIS_SERVER)
        .args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--protected-mode",
            "no",
        ])
        .args(args)
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
