//! A third-party SSE upstream: `tests/upstreams/sse_starlette_app.py` (sse-starlette under
//! uvicorn) in a child process, so the gateway is tested against a framework it was not
//! written alongside (CRLF line endings, its own framing and flushing).

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use tokio::net::TcpStream;

use super::PATIENCE;

const MISSING: &str =
    "run scripts/test (it installs sse-starlette and uvicorn in a virtual environment, target/test-venv)";

/// The Python of the virtual environment scripts/test makes: Debian's own python3 refuses
/// pip installs outside one (PEP 668), and a test set-up has no business in the system's.
fn python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python3")
}

/// The sse-starlette app on a free loopback port. Dropping it kills the process.
pub struct StarletteUpstream {
    addr: SocketAddr,
    child: Child,
    _log_dir: tempfile::TempDir,
}

impl StarletteUpstream {
    /// Starts uvicorn and waits (up to [`PATIENCE`]) until it accepts connections.
    /// Panics when the venv's python3, uvicorn or sse-starlette is missing: such a run is a broken
    /// set-up, not a pass.
    pub async fn start() -> Self {
        let python = python();
        let imports = Command::new(&python)
            .args(["-c", "import uvicorn, sse_starlette"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !imports.is_ok_and(|status| status.success()) {
            panic!(
                "{} with uvicorn and sse-starlette is needed: {MISSING}",
                python.display()
            );
        }
        let addr = free_port();
        let app_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstreams");
        let log_dir = tempfile::tempdir().expect("temp dir");
        let log_path = log_dir.path().join("uvicorn.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let port = addr.port().to_string();
        let child = Command::new(&python)
            .args(["-m", "uvicorn", "sse_starlette_app:app", "--no-access-log"])
            .args(["--host", "127.0.0.1", "--port", &port])
            .arg("--app-dir")
            .arg(&app_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}; {MISSING}", python.display()));
        let mut upstream = Self {
            addr,
            child,
            _log_dir: log_dir,
        };
        upstream.wait_until_accepting(&log_path).await;
        upstream
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL as a gateway route names it: `http://127.0.0.1:PORT` (HTTP/1.1 only).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn wait_until_accepting(&mut self, log_path: &Path) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            let log = || std::fs::read_to_string(log_path).unwrap_or_default();
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("uvicorn exited with {status} before accepting:\n{}", log());
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("uvicorn did not accept within {PATIENCE:?}:\n{}", log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for StarletteUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port the kernel just handed out and nobody holds; another process could take it
/// before uvicorn binds, which the start-up wait would report.
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr")
}
