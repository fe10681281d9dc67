//! The processes under soak: the built `ssegate` binary as a child with a config file in a
//! temporary directory (so its memory and descriptors are its own, not the driver's), and
//! the gateway's upstream, `tests/upstreams/sse_starlette_app.py` under uvicorn, which the
//! soak kills and starts again on the same port.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::stats;

/// How long a child gets to accept its first connection (a cold start writes certificates;
/// uvicorn imports Python modules on a shared, busy machine).
const START_PATIENCE: Duration = Duration::from_secs(30);

/// What the server's config file says beyond ports and directories.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub history_max_events: usize,
    pub history_max_bytes: usize,
    pub subscriber_queue: usize,
    pub max_concurrent_streams: usize,
    /// Replay kept per shared gateway stream (`fanout_replay`).
    pub fanout_replay: usize,
}

/// One reading of a process's resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub rss_kib: u64,
    pub anon_kib: u64,
    pub fds: u64,
}

impl Usage {
    /// `/proc/PID/status` (VmRSS, RssAnon) and the entries of `/proc/PID/fd`.
    pub fn of(pid: u32) -> Result<Usage> {
        let rss = stats::rss(pid)?;
        let fd_dir = format!("/proc/{pid}/fd");
        let fds = std::fs::read_dir(&fd_dir)
            .with_context(|| format!("reading {fd_dir}"))?
            .count() as u64;
        Ok(Usage {
            rss_kib: rss.total_kib,
            anon_kib: rss.anon_kib,
            fds,
        })
    }

    /// The larger of each field.
    pub fn max(self, other: Usage) -> Usage {
        Usage {
            rss_kib: self.rss_kib.max(other.rss_kib),
            anon_kib: self.anon_kib.max(other.anon_kib),
            fds: self.fds.max(other.fds),
        }
    }
}

/// The `ssegate` binary running `serve` with a generated config. Dropping it kills it.
pub struct ServerProcess {
    pub addr: SocketAddr,
    /// The CA that signed the server's generated certificate: clients trust it.
    pub ca: PathBuf,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts `binary` with routes `/gw` (one upstream request per stream) and `/gwfan`
    /// (shared upstream requests) to `upstream`, and waits until it accepts connections.
    pub async fn start(
        binary: &Path,
        settings: &ServerSettings,
        upstream: SocketAddr,
    ) -> Result<ServerProcess> {
        let dir = tempfile::tempdir().context("temporary directory")?;
        let addr = free_port()?;
        let cert_dir = dir.path().join("certs");
        let config = config_toml(addr, &cert_dir, settings, upstream);
        let config_path = dir.path().join("ssegate.toml");
        std::fs::write(&config_path, config).context("writing the server config")?;
        let log = dir.path().join("ssegate.log");
        let log_file = std::fs::File::create(&log).context("server log file")?;
        let child = Command::new(binary)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = ServerProcess {
            addr,
            ca: cert_dir.join("ca.pem"),
            child,
            log,
            _dir: dir,
        };
        wait_until_accepting(addr, &mut server.child, &server.log, "ssegate").await?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn usage(&self) -> Result<Usage> {
        Usage::of(self.pid())
    }

    /// Fails if the server has exited (a crash during the soak).
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("ssegate exited with {status}:\n{}", tail(&self.log));
        }
        Ok(())
    }

    /// The last lines the server logged (warnings and errors).
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sse-starlette upstream on a fixed port, restartable.
pub struct Upstream {
    pub addr: SocketAddr,
    python: PathBuf,
    app_dir: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
    pub restarts: u64,
}

impl Upstream {
    /// Starts uvicorn from `python` (the test virtual environment's) on a free port.
    /// Fails, naming what is missing, when the environment lacks uvicorn or sse-starlette.
    pub async fn start(python: &Path, app_dir: &Path) -> Result<Upstream> {
        let imports = Command::new(python)
            .args(["-c", "import uvicorn, sse_starlette"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !imports.is_ok_and(|status| status.success()) {
            bail!(
                "{} with uvicorn and sse-starlette is needed for the gateway upstream: run \
                 scripts/test (it makes the virtual environment target/test-venv)",
                python.display()
            );
        }
        let dir = tempfile::tempdir().context("temporary directory")?;
        let mut upstream = Upstream {
            addr: free_port()?,
            python: python.to_owned(),
            app_dir: app_dir.to_owned(),
            child: None,
            log: dir.path().join("uvicorn.log"),
            _dir: dir,
            restarts: 0,
        };
        upstream.spawn().await?;
        Ok(upstream)
    }

    /// Kills the upstream (SIGKILL: its connections break without a goodbye), waits
    /// `down`, and starts it again on the same port.
    pub async fn restart(&mut self, down: Duration) -> Result<()> {
        self.kill();
        tokio::time::sleep(down).await;
        self.spawn().await?;
        self.restarts += 1;
        Ok(())
    }

    async fn spawn(&mut self) -> Result<()> {
        let log = std::fs::File::create(&self.log).context("upstream log file")?;
        let port = self.addr.port().to_string();
        let child = Command::new(&self.python)
            .args(["-m", "uvicorn", "sse_starlette_app:app", "--no-access-log"])
            .args(["--host", "127.0.0.1", "--port", &port])
            .arg("--app-dir")
            .arg(&self.app_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting uvicorn with {}", self.python.display()))?;
        let child = self.child.insert(child);
        wait_until_accepting(self.addr, child, &self.log, "uvicorn").await
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.kill();
    }
}

fn config_toml(
    addr: SocketAddr,
    cert_dir: &Path,
    settings: &ServerSettings,
    upstream: SocketAddr,
) -> String {
    let ServerSettings {
        history_max_events,
        history_max_bytes,
        subscriber_queue,
        max_concurrent_streams,
        fanout_replay,
    } = settings;
    // The admin listener and the demo are off: nothing but the soak's traffic reaches the
    // process. Every path is a TOML basic string, so quote it with Debug escaping.
    format!(
        r#"[server]
listen = "{addr}"

[tls]
cert_dir = {cert_dir:?}

[http2]
max_concurrent_streams = {max_concurrent_streams}

[hub]
history_max_events = {history_max_events}
history_max_bytes = {history_max_bytes}
subscriber_queue = {subscriber_queue}

[demo]
enabled = false

[admin]
enabled = false

[log]
filter = "warn"

[[route]]
path = "/gw"
upstream = "http://{upstream}"
strip_prefix = true

[[route]]
path = "/gwfan"
upstream = "http://{upstream}"
strip_prefix = true
fanout = true
fanout_replay = {fanout_replay}
"#
    )
}

async fn wait_until_accepting(
    addr: SocketAddr,
    child: &mut Child,
    log: &Path,
    name: &str,
) -> Result<()> {
    let deadline = Instant::now() + START_PATIENCE;
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "{name} exited with {status} before accepting:\n{}",
                tail(log)
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "{name} did not accept on {addr} within {START_PATIENCE:?}:\n{}",
                tail(log)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A port the kernel just handed out and nobody holds; another process could take it
/// before the child binds, which the start-up wait reports.
fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// The last 30 lines of a log file.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
