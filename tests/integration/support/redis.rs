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

    /// Starts a replica of `master`, and waits until it holds the master's data.
    pub async fn start_replica_of(master: &RedisServer) -> Self {
        let (port, dir) = (free_port(), tempfile::tempdir().unwrap());
        let master_port = master.port.to_string();
        let child = spawn(
            &dir,
            &[
                "--port",
                &port.to_string(),
                "--appendonly",
                "no",
                "--replicaof",
                "127.0.0.1",
                &master_port,
            ],
        );
        let replica = Self {
            port,
            child,
            dir,
            persistent: false,
        };
        replica.wait_until_ready().await;
        // Linked is not enough: after a diskless sync the master streams writes only once
        // the replica's first acknowledgement came (within a second). Wait until a write
        // made now has reached it.
        let probe = format!("test:replica-synced:{port}");
        let () = redis::cmd("SET")
            .arg(&probe)
            .arg(1)
            .query_async(&mut master.connect().await)
            .await
            .unwrap();
        let mut conn = replica.connect().await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let synced: Option<u32> = redis::cmd("GET")
                .arg(&probe)
                .query_async(&mut conn)
                .await
                .unwrap_or(None);
            if synced.is_some() {
                return replica;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the replica on {port} never synced"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A client connection, for the test's own commands.
    pub async fn connect(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
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

/// A Redis Sentinel (`redis-server --sentinel`) alone watching one master as `mymaster`:
/// with a quorum of one it fails over by itself, half a second after the master stops
/// answering.
pub struct Sentinel {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Sentinel {
    /// The name it knows the master by.
    pub const MASTER: &str = "mymaster";

    /// Starts one watching `master`, whose replicas must already be connected (a Sentinel
    /// learns them from the master at once, then only every ten seconds), and waits until it
    /// knows every one of `replicas` as healthy.
    pub async fn start(master: &RedisServer, replicas: usize) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {name} 127.0.0.1 {master} 1\n\
                 sentinel down-after-milliseconds {name} 1500\n\
                 sentinel failover-timeout {name} 5000\n",
                dir = dir.path().display(),
                name = Self::MASTER,
                master = master.port,
            ),
        )
        .unwrap();
        assert!(
            std::path::Path::new(REDIS_SERVER).exists(),
            "{REDIS_SERVER} is missing: run scripts/test, which installs redis-server"
        );
        let child = Command::new(REDIS_SERVER)
            .arg(&config)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server --sentinel starts");
        let sentinel = Self {
            port,
            child,
            _dir: dir,
        };
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let healthy = match sentinel.replicas().await {
                Ok(list) => {
                    list.len() == replicas
                        && list.iter().all(|r| {
                            r.get("flags").map(String::as_str) == Some("slave")
                                && r.get("master-link-status").map(String::as_str) == Some("ok")
                        })
                }
                Err(_) => false,
            };
            if healthy {
                return sentinel;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the Sentinel on {port} never saw {replicas} healthy replicas"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `host:port`, for `cluster.sentinels`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn connect(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(format!("redis://127.0.0.1:{}", self.port))?
            .get_multiplexed_async_connection()
            .await
    }

    async fn replicas(&self) -> redis::RedisResult<Vec<std::collections::HashMap<String, String>>> {
        redis::cmd("SENTINEL")
            .arg("REPLICAS")
            .arg(Self::MASTER)
            .query_async(&mut self.connect().await?)
            .await
    }

    /// The port of the server it calls the master now.
    pub async fn master_port(&self) -> u16 {
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(Self::MASTER)
            .query_async(&mut self.connect().await.unwrap())
            .await
            .unwrap();
        port
    }

    /// Makes it fail over now, the master alive (`SENTINEL FAILOVER`): the master becomes a
    /// replica and a replica the master.
    pub async fn fail_over(&self) {
        let () = redis::cmd("SENTINEL")
            .arg("FAILOVER")
            .arg(Self::MASTER)
            .query_async(&mut self.connect().await.unwrap())
            .await
            .unwrap();
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
            // A replica syncs at once, not after Redis's usual 5 s wait for more of them.
            "--repl-diskless-sync-delay",
            "0",
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
