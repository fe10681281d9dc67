//! A real ACME CA: Debian's `pebble`, with `pebble-challtestsrv` as its DNS server (every
//! name resolves to 127.0.0.1 unless a test says otherwise), started by the test on free
//! loopback ports and stopped when dropped. Pebble validates challenges on the ports the
//! test names, where ssegate listens.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use rustls::pki_types::{pem::PemObject, CertificateDer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{
    test_ca::{connect, TestCa},
    PATIENCE,
};
use crate::cli::free_port;

const PEBBLE: &str = "/usr/bin/pebble";
const CHALLTESTSRV: &str = "/usr/bin/pebble-challtestsrv";

pub struct Pebble {
    port: u16,
    management: u16,
    dns_management: u16,
    /// The CA of pebble's own HTTPS certificate, as a PEM file for `[tls.acme] ca`.
    pub https_ca: PathBuf,
    https_ca_der: CertificateDer<'static>,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl Pebble {
    /// Starts pebble validating http-01 on `http_port` and tls-alpn-01 on `tls_port`.
    pub async fn start(http_port: u16, tls_port: u16) -> Self {
        for tool in [PEBBLE, CHALLTESTSRV] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is missing: run scripts/test, which installs pebble"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new();
        let (cert, key) = ca.write(dir.path(), "pebble", &["localhost", "127.0.0.1"]);
        let https_ca = dir.path().join("pebble-https-ca.pem");
        ca.write_ca(&https_ca);
        let (port, management, dns, dns_management) =
            (free_port(), free_port(), free_port(), free_port());
        let config = dir.path().join("pebble-config.json");
        let json = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{port}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": cert,
            "privateKey": key,
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        std::fs::write(&config, json.to_string()).unwrap();
        let dns_server = Command::new(CHALLTESTSRV)
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{dns_management}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv starts");
        let pebble = Command::new(PEBBLE)
            .arg("-config")
            .arg(&config)
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            // No random sleeps before validating; no nonces refused at random; every
            // order validated anew (a renewal answers its challenges again).
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble starts");
        let pebble = Self {
            port,
            management,
            dns_management,
            https_ca,
            https_ca_der: ca.der(),
            children: vec![dns_server, pebble],
            _dir: dir,
        };
        for port in [port, management, dns_management] {
            let deadline = tokio::time::Instant::now() + PATIENCE;
            while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "pebble never listened on {port}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        pebble
    }

    /// The ACME directory URL.
    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// The root pebble issues under (a new one at each start).
    pub async fn root(&self) -> CertificateDer<'static> {
        let pem = self.https_get(self.management, "/roots/0").await;
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .next()
            .expect("a root certificate")
            .unwrap()
    }

    /// Makes the DNS answer `address` for `host` from now on.
    pub async fn resolve(&self, host: &str, address: &str) {
        self.dns_command("/clear-a", serde_json::json!({ "host": host }))
            .await;
        self.dns_command(
            "/add-a",
            serde_json::json!({ "host": host, "addresses": [address] }),
        )
        .await;
    }

    async fn dns_command(&self, path: &str, body: serde_json::Value) {
        let body = body.to_string();
        let mut tcp = TcpStream::connect(("127.0.0.1", self.dns_management))
            .await
            .unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }

    async fn https_get(&self, port: u16, path: &str) -> String {
        let mut tls = connect(std::slice::from_ref(&self.https_ca_der), port, "localhost")
            .await
            .unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        // Pebble closes without a TLS close_notify: what was read is the whole answer.
        let _ = tls.read_to_end(&mut response).await;
        let response = String::from_utf8(response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
