//! Test fixtures: the real server on an ephemeral loopback port with a generated local CA,
//! and real TLS clients (HTTP/2 and HTTP/1.1, chosen by ALPN) that read streams with an
//! independent SSE parser (`eventsource-stream`).

pub mod admin;
pub mod attackers;
pub mod browser;
pub mod canary;
pub mod frames;
pub mod mercure;
pub mod pebble;
pub mod process;
pub mod redis;
pub mod starlette;
pub mod test_ca;
pub mod upstream;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;
use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, BodyStream, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::{
    pki_types::{pem::PemObject, ServerName},
    ClientConfig, RootCertStore,
};
use ssegate::{config::RawConfig, hub::Hub, Server};
use tokio::{net::TcpStream, sync::oneshot, task::JoinHandle};
use tokio_rustls::{client::TlsStream, TlsConnector};

/// A rustls client configuration that trusts only `roots` and offers `alpn`.
pub fn client_config(roots: RootCertStore, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Upper bound for anything a test waits for; generous because CI shares 2 cores.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A running server. Dropping it shuts it down.
pub struct TestServer {
    pub addr: SocketAddr,
    pub plaintext_addr: Option<SocketAddr>,
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`), unless `[admin]` is off.
    pub admin_addr: Option<SocketAddr>,
    pub cert_dir: PathBuf,
    pub hub: Arc<Hub>,
    /// What automatic HTTPS did, with `[tls.acme]`.
    pub acme: Option<Arc<std::sync::Mutex<ssegate::acme::AcmeStatus>>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// The server on its defaults, ports chosen by the kernel.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// The server with settings changed by `tweak` (ports and cert dir are set first).
    pub async fn start_with(tweak: impl FnOnce(&mut RawConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut raw = process::loopback_config(dir.path());
        tweak(&mut raw);
        let cert_dir = raw.tls.cert_dir.clone();
        let config = raw.validate().expect("valid test config");
        let server = Server::bind(config).await.expect("server binds");
        let addr = server.tls_addr();
        let plaintext_addr = server.plaintext_addr();
        let admin_addr = server.admin_addr();
        let hub = server.hub().clone();
        let acme = server.acme_status();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            plaintext_addr,
            admin_addr,
            cert_dir,
            hub,
            acme,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Asks the server to drain and waits until `run` returns.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("server stops within the deadline")
                .expect("server task does not panic");
        }
    }

    /// A rustls client configuration that trusts only this server's CA.
    pub fn tls_config(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        let pem = std::fs::read(self.cert_dir.join("ca.pem")).expect("ca.pem");
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(cert.expect("CA parses"))
                .expect("CA is a valid root");
        }
        client_config(roots, alpn)
    }

    /// A verified TLS connection to the server, for `localhost`.
    pub async fn tls_connect(&self, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.addr).await.expect("connect");
        // As browsers do: without it, Nagle and delayed ACKs add 40 ms to small requests.
        tcp.set_nodelay(true).expect("nodelay");
        let connector = TlsConnector::from(self.tls_config(alpn));
        let name = ServerName::try_from("localhost").expect("server name");
        connector.connect(name, tcp).await.expect("TLS handshake")
    }

    /// An HTTP/2 connection (ALPN h2).
    pub async fn h2(&self) -> Client {
        let tls = self.tls_connect(&[b"h2"]).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .initial_stream_window_size(1 << 20)
            .initial_connection_window_size(16 << 20)
            .handshake(TokioIo::new(tls))
            .await
            .expect("h2 handshake");
        tokio::spawn(conn);
        Client::H2(send, format!("https://localhost:{}", self.addr.port()))
    }

    /// An HTTP/1.1 connection (ALPN http/1.1).
    pub async fn http1(&self) -> Client {
        let tls = self.tls_connect(&[b"http/1.1"]).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("http1 handshake");
        tokio::spawn(conn);
        Client::H1(send)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// One client connection of either protocol.
pub enum Client {
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>, String),
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
}

impl Client {
    /// Sends a request and returns the response with its body unread.
    pub async fn send(&mut self, mut req: Request<Full<Bytes>>) -> Response<Incoming> {
        let fut = match self {
            Client::H2(send, base) => {
                let uri = format!("{base}{}", req.uri());
                *req.uri_mut() = uri.parse().expect("absolute uri");
                send.ready().await.expect("h2 ready");
                futures_util::future::Either::Left(send.send_request(req))
            }
            Client::H1(send) => {
                req.headers_mut()
                    .insert(http::header::HOST, "localhost".parse().expect("host"));
                send.ready().await.expect("h1 ready");
                futures_util::future::Either::Right(send.send_request(req))
            }
        };
        tokio::time::timeout(PATIENCE, fut)
            .await
            .expect("response in time")
            .expect("response")
    }

    /// GET `path`.
    pub async fn get(&mut self, path: &str) -> Response<Incoming> {
        self.send(request("GET", path, "")).await
    }

    /// POST `body` to `path` and return status and body text.
    pub async fn post(&mut self, path: &str, body: impl Into<Bytes>) -> (StatusCode, String) {
        let response = self.send(request("POST", path, body)).await;
        read_all(response).await
    }

    /// Opens an event stream on `path`.
    pub async fn subscribe(&mut self, path: &str) -> SseStream {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "subscribe {path}");
        SseStream::new(response)
    }
}

/// A request with a body.
pub fn request(method: &str, path: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(body.into()))
        .expect("request")
}

/// Reads a complete response.
pub async fn read_all(response: Response<Incoming>) -> (StatusCode, String) {
    let status = response.status();
    let body = tokio::time::timeout(PATIENCE, response.into_body().collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The id from a publish response.
pub fn published_id(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON response");
    json["id"].as_str().expect("id").to_owned()
}

type EventStream = std::pin::Pin<
    Box<
        dyn Stream<Item = Result<Event, eventsource_stream::EventStreamError<hyper::Error>>> + Send,
    >,
>;

/// An open SSE response, parsed by `eventsource-stream`.
pub struct SseStream {
    pub headers: http::HeaderMap,
    events: EventStream,
}

impl SseStream {
    pub fn new(response: Response<Incoming>) -> Self {
        let headers = response.headers().clone();
        let mut stream = Self::from_body(response.into_body());
        stream.headers = headers;
        stream
    }

    /// The events of a body already partly read (without its response headers).
    pub fn from_body(body: Incoming) -> Self {
        let bytes = BodyStream::new(body).filter_map(|frame| async move {
            match frame {
                Ok(frame) => frame.into_data().ok().map(Ok),
                Err(e) => Some(Err(e)),
            }
        });
        Self {
            headers: http::HeaderMap::new(),
            events: Box::pin(bytes.eventsource()),
        }
    }

    /// The next event, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Event> {
        let item = tokio::time::timeout(PATIENCE, self.events.next())
            .await
            .expect("event within the test's patience");
        item.map(|r| r.expect("well-formed event stream"))
    }

    /// The next event, `Ok(None)` when the stream ended, or the error that cut it (a proxy
    /// resetting the stream when its node died).
    pub async fn try_next(&mut self) -> Result<Option<Event>, String> {
        let item = tokio::time::timeout(PATIENCE, self.events.next())
            .await
            .expect("event within the test's patience");
        item.transpose().map_err(|e| e.to_string())
    }

    /// The next `n` events (panics if the stream ends first).
    pub async fn take(&mut self, n: usize) -> Vec<Event> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(self.next().await.expect("stream ended early"));
        }
        events
    }
}

/// Reads a stream's raw body until `n` heartbeat comments (`:\n\n`) came, and returns
/// everything read. Panics if the stream ends or stalls past the test's patience.
pub async fn read_heartbeats(body: &mut Incoming, n: usize) -> bytes::BytesMut {
    let mut seen = bytes::BytesMut::new();
    while seen.windows(3).filter(|w| w == b":\n\n").count() < n {
        let frame = tokio::time::timeout(PATIENCE, body.frame())
            .await
            .expect("heartbeat in time")
            .expect("stream still open")
            .expect("no error");
        if let Ok(data) = frame.into_data() {
            assert!(!data.is_empty(), "never an empty DATA frame");
            seen.extend_from_slice(&data);
        }
    }
    seen
}
