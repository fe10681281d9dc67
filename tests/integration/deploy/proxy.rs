//! Starting a real proxy (nginx, Caddy, HAProxy) from its `deploy/` config.

use super::*;

/// A proxy started from its `deploy/` config in a temporary directory, stopped on drop.
pub(super) struct Proxy {
    pub(super) name: &'static str,
    port: u16,
    child: Child,
    /// nginx's master must be asked to stop (SIGTERM), or its workers outlive it.
    graceful_stop: bool,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Proxy {
    /// `deploy/nginx/ssegate.conf` included from a minimal main config that keeps nginx's
    /// pid, logs and temporary files in the test's directory.
    pub(super) async fn nginx(server: &TestServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let site = render(
            "nginx/ssegate.conf",
            &[
                ("@LISTEN@", format!("127.0.0.1:{port}")),
                ("@UPSTREAM@", plaintext_upstream(server)),
                (
                    "@CERT@",
                    server.cert_dir.join("server.pem").display().to_string(),
                ),
                (
                    "@KEY@",
                    server.cert_dir.join("server-key.pem").display().to_string(),
                ),
            ],
        );
        fs::write(dir.path().join("ssegate.conf"), site).unwrap();
        let main = format!(
            "worker_processes 1;\n\
             pid {d}/nginx.pid;\n\
             error_log stderr notice;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
                 access_log off;\n\
                 client_body_temp_path {d}/client_body;\n\
                 proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\n\
                 uwsgi_temp_path {d}/uwsgi;\n\
                 scgi_temp_path {d}/scgi;\n\
                 include {d}/ssegate.conf;\n\
             }}\n"
        );
        fs::write(dir.path().join("nginx.conf"), main).unwrap();
        let mut cmd = Command::new(program("nginx"));
        cmd.arg("-e")
            .arg("stderr")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .args(["-g", "daemon off;"]);
        Self::start("nginx", cmd, port, dir, true).await
    }

    /// `deploy/caddy/Caddyfile` imported from a Caddyfile whose global options keep Caddy
    /// on loopback, off the admin port and port 80, and its state in the test's directory.
    pub(super) async fn caddy(server: &TestServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let site = render(
            "caddy/Caddyfile",
            &[
                ("@SITE@", format!("https://localhost:{port}")),
                ("@UPSTREAM@", plaintext_upstream(server)),
                (
                    "@CERT@",
                    server.cert_dir.join("server.pem").display().to_string(),
                ),
                (
                    "@KEY@",
                    server.cert_dir.join("server-key.pem").display().to_string(),
                ),
            ],
        );
        fs::write(dir.path().join("site.caddy"), site).unwrap();
        let main = format!(
            "{{\n\
             \tadmin off\n\
             \tauto_https disable_redirects\n\
             \tskip_install_trust\n\
             \tdefault_bind 127.0.0.1\n\
             \tstorage file_system {d}/data\n\
             \tservers {{\n\
             \t\tprotocols h1 h2\n\
             \t}}\n\
             }}\n\
             import {d}/site.caddy\n"
        );
        fs::write(dir.path().join("Caddyfile"), main).unwrap();
        let mut cmd = Command::new(program("caddy"));
        cmd.arg("run")
            .arg("--config")
            .arg(dir.path().join("Caddyfile"))
            .args(["--adapter", "caddyfile"])
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"));
        Self::start("caddy", cmd, port, dir, false).await
    }

    /// `deploy/haproxy/haproxy.cfg` as the whole config, in front of the TLS listener.
    pub(super) async fn haproxy(server: &TestServer) -> Self {
        Self::haproxy_from(
            server,
            "haproxy/haproxy.cfg",
            vec![("@UPSTREAM@", server.addr.to_string())],
        )
        .await
    }

    /// `deploy/haproxy/haproxy-cluster.cfg` in front of three nodes' TLS listeners, which
    /// share `server`'s certificate and CA.
    pub(super) async fn haproxy_cluster(server: &TestServer, nodes: [String; 3]) -> Self {
        let [first, second, third] = nodes;
        Self::haproxy_from(
            server,
            "haproxy/haproxy-cluster.cfg",
            vec![
                ("@UPSTREAM_1@", first),
                ("@UPSTREAM_2@", second),
                ("@UPSTREAM_3@", third),
            ],
        )
        .await
    }

    /// HAProxy from `deploy/{file}`, serving `server`'s certificate on a free port and
    /// trusting its CA upstream; `upstreams` fills in the file's upstream tokens.
    async fn haproxy_from(server: &TestServer, file: &str, upstreams: Vec<(&str, String)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let pem_path = haproxy_pem(server, dir.path());
        let mut tokens = vec![
            ("@LISTEN@", format!("127.0.0.1:{port}")),
            ("@CERT@", pem_path.display().to_string()),
            (
                "@UPSTREAM_CA@",
                server.cert_dir.join("ca.pem").display().to_string(),
            ),
        ];
        tokens.extend(upstreams);
        let path = dir.path().join("haproxy.cfg");
        fs::write(&path, render(file, &tokens)).unwrap();
        let mut cmd = Command::new(program("haproxy"));
        cmd.arg("-f").arg(&path).arg("-db");
        Self::start("haproxy", cmd, port, dir, false).await
    }

    /// Spawns the proxy with its output in `dir/proxy.log` and waits until its port
    /// accepts connections.
    async fn start(
        name: &'static str,
        mut cmd: Command,
        port: u16,
        dir: tempfile::TempDir,
        graceful_stop: bool,
    ) -> Self {
        let log = dir.path().join("proxy.log");
        let out = fs::File::create(&log).unwrap();
        cmd.current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut proxy = Self {
            name,
            port,
            child,
            graceful_stop,
            log,
            dir,
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = proxy.child.try_wait().unwrap() {
                panic!("{name} exited at start ({status}):\n{}", proxy.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return proxy;
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not listen on {port} within {PATIENCE:?}:\n{}",
                proxy.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A verified TLS connection to the proxy (it serves the server's certificate, signed
    /// by the test CA) speaking `proto`, as a browser would open it.
    pub(super) async fn connect(&self, server: &TestServer, proto: Proto) -> Client {
        let name = self.name;
        let alpn: &[u8] = match proto {
            Proto::H2 => b"h2",
            Proto::Http1 => b"http/1.1",
        };
        let tcp = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap_or_else(|e| panic!("connect to {name}: {e}"));
        tcp.set_nodelay(true).unwrap();
        let config: Arc<ClientConfig> = server.tls_config(&[alpn]);
        let tls = tokio::time::timeout(
            PATIENCE,
            TlsConnector::from(config).connect(ServerName::try_from("localhost").unwrap(), tcp),
        )
        .await
        .expect("TLS handshake in time")
        .unwrap_or_else(|e| panic!("TLS handshake with {name}: {e}\n{}", self.log()));
        assert_eq!(
            tls.get_ref().1.alpn_protocol(),
            Some(alpn),
            "{name} negotiates {proto:?}"
        );
        let io = TokioIo::new(tls);
        match proto {
            Proto::H2 => {
                let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                    .handshake(io)
                    .await
                    .unwrap_or_else(|e| panic!("h2 handshake with {name}: {e}"));
                tokio::spawn(conn);
                Client::H2(send, format!("https://localhost:{}", self.port))
            }
            Proto::Http1 => {
                let (send, conn) = hyper::client::conn::http1::handshake(io)
                    .await
                    .unwrap_or_else(|e| panic!("HTTP/1.1 handshake with {name}: {e}"));
                tokio::spawn(conn);
                Client::H1(send)
            }
        }
    }

    /// The port browsers connect to.
    pub(super) fn port(&self) -> u16 {
        self.port
    }

    /// Fails the test: `what` did not come through within [`UNBUFFERED`].
    pub(super) fn buffered(&self, proto: Proto, what: &str) -> ! {
        panic!(
            "{} ({proto:?}): {what} not through within {UNBUFFERED:?}: the proxy buffers \
             the stream\n{}",
            self.name,
            self.log()
        )
    }

    /// What the proxy printed so far, for failure messages.
    pub(super) fn log(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        format!(
            "--- {} output ({}) ---\n{text}",
            self.name,
            self.dir.path().display()
        )
    }
}

/// HAProxy takes the certificate and its key from one file: `server`'s, written into `dir`.
fn haproxy_pem(server: &TestServer, dir: &Path) -> PathBuf {
    let mut pem = fs::read(server.cert_dir.join("server.pem")).unwrap();
    pem.extend(fs::read(server.cert_dir.join("server-key.pem")).unwrap());
    let path = dir.join("proxy.pem");
    fs::write(&path, pem).unwrap();
    path
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.graceful_stop {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            // A fast shutdown takes milliseconds; past the deadline, kill regardless.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
