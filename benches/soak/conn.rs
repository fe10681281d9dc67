//! Client connections to the server: TLS with the ALPN of the protocol wanted, hyper's
//! HTTP/2 client (many streams share one connection, which the soak may cut at any time)
//! and its HTTP/1.1 client (one connection per stream, as a browser's EventSource).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use ssegate::client::{self, Trust};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::task::AbortHandle;
use tokio_rustls::TlsConnector;

/// Deadline of a connection's TCP connect, TLS and HTTP handshakes, and of a response head.
pub const PHASE_TIMEOUT: Duration = Duration::from_secs(15);
/// Per-stream receive window. Small, so that a reader that stops reading soon leaves the
/// server holding its events: that is what its slow-consumer policy acts on.
const STREAM_WINDOW: u32 = 64 * 1024;
/// Connection receive window, shared by all the streams on the connection: large enough
/// that stalled streams never block the others.
const CONN_WINDOW: u32 = 32 << 20;

/// The request body type: empty for subscriptions, the payload for publishes.
pub type Body = Full<Bytes>;

/// How to reach the server: its address and TLS client configurations per protocol.
pub struct Connector {
    pub addr: SocketAddr,
    pub authority: String,
    h2: TlsConnector,
    h1: TlsConnector,
    name: ServerName<'static>,
}

impl Connector {
    /// Trusts `ca` (the server's generated CA) and names the server by its IP address, which
    /// the generated certificate lists.
    pub fn new(addr: SocketAddr, ca: &Path) -> Result<Connector> {
        let trust = Trust::Roots {
            extra_ca: Some(ca.to_owned()),
        };
        let with_alpn = |alpn: &[u8]| -> Result<TlsConnector> {
            let mut config = (*client::client_config(&trust, false)?).clone();
            config.alpn_protocols = vec![alpn.to_vec()];
            Ok(TlsConnector::from(Arc::new(config)))
        };
        Ok(Connector {
            addr,
            authority: addr.to_string(),
            h2: with_alpn(b"h2")?,
            h1: with_alpn(b"http/1.1")?,
            name: ServerName::IpAddress(addr.ip().into()),
        })
    }

    /// A TLS connection, and a second handle on its socket to cut it with.
    async fn tls(
        &self,
        connector: &TlsConnector,
    ) -> Result<(
        TokioIo<tokio_rustls::client::TlsStream<TcpStream>>,
        std::net::TcpStream,
    )> {
        let tcp = deadline("TCP connect", TcpStream::connect(self.addr)).await??;
        tcp.set_nodelay(true)?;
        let std_tcp = tcp.into_std()?;
        let handle = std_tcp.try_clone()?;
        let tcp = TcpStream::from_std(std_tcp)?;
        let tls = deadline("TLS handshake", connector.connect(self.name.clone(), tcp)).await??;
        Ok((TokioIo::new(tls), handle))
    }

    /// A new HTTP/2 connection, its driver in a task of its own.
    pub async fn http2(&self) -> Result<H2Connection> {
        let (io, socket) = self.tls(&self.h2).await?;
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONN_WINDOW)
            .adaptive_window(false);
        let (send, connection) = deadline("HTTP/2 handshake", builder.handshake(io)).await??;
        let driver = tokio::spawn(async move {
            // A connection the soak cut, or the server closed, ends here; its streams see
            // the error.
            let _ = connection.await;
        });
        Ok(H2Connection {
            send,
            socket,
            driver: driver.abort_handle(),
        })
    }

    /// One request on a new HTTP/1.1 connection, which lives as long as the returned guard.
    pub async fn http1_request(
        &self,
        mut request: Request<Body>,
    ) -> Result<(Response<Incoming>, ConnectionGuard)> {
        // HTTP/1.1 names the server in `Host` and the resource in origin form; hyper's
        // connection-level client leaves both to the caller.
        let origin_form = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()?;
        *request.uri_mut() = origin_form;
        request
            .headers_mut()
            .insert(http::header::HOST, self.authority.parse()?);
        let (io, _socket) = self.tls(&self.h1).await?;
        let (mut send, connection) = deadline("HTTP/1.1 handshake", http1::handshake(io)).await??;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let guard = ConnectionGuard(driver.abort_handle());
        let response = deadline("response head", send.send_request(request)).await??;
        Ok((response, guard))
    }
}

/// An HTTP/2 connection: requests go out on clones of `send`.
pub struct H2Connection {
    send: http2::SendRequest<Body>,
    /// The socket, to cut: hyper runs the HTTP/2 connection in a task of its own, so
    /// aborting the driver alone would leave the socket and its streams open.
    socket: std::net::TcpStream,
    driver: AbortHandle,
}

impl H2Connection {
    pub async fn request(&self, request: Request<Body>) -> Result<Response<Incoming>> {
        let mut send = self.send.clone();
        Ok(deadline("response head", send.send_request(request)).await??)
    }

    /// Cuts the connection: its socket closes and every stream on it fails.
    pub fn cut(&self) {
        // Shutting the socket down ends both directions for every handle on it: the
        // server reads the end of the connection, hyper's task reads EOF and fails the
        // streams.
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
        self.driver.abort();
    }

    fn is_usable(&self) -> bool {
        !self.send.is_closed() && !self.driver.is_finished()
    }
}

/// A slot shared by a group of streams: the live connection, or a new one when it failed
/// or was cut.
#[derive(Default)]
pub struct H2Slot {
    connection: Mutex<Option<Arc<H2Connection>>>,
}

impl H2Slot {
    /// The slot's connection, opened on first use and again after it broke.
    pub async fn get(&self, connector: &Connector) -> Result<Arc<H2Connection>> {
        // One task connects while the group's others wait for it: a cut connection is
        // replaced once, not once per stream.
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| c.is_usable()) {
            return Ok(connection.clone());
        }
        let connection = Arc::new(connector.http2().await?);
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Cuts the slot's connection, if it has one.
    pub async fn cut(&self) -> bool {
        match self.connection.lock().await.take() {
            Some(connection) => {
                connection.cut();
                true
            }
            None => false,
        }
    }

    /// Closes the connection for good (the end of a run).
    pub async fn close(&self) {
        self.cut().await;
    }
}

/// Aborts an HTTP/1.1 connection's driver (closing its socket) when dropped.
pub struct ConnectionGuard(AbortHandle);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Await `fut` for at most [`PHASE_TIMEOUT`], naming `phase` if it runs out.
pub async fn deadline<F: std::future::Future>(phase: &'static str, fut: F) -> Result<F::Output> {
    match tokio::time::timeout(PHASE_TIMEOUT, fut).await {
        Ok(output) => Ok(output),
        Err(_) => bail!("{phase} timed out after {PHASE_TIMEOUT:?}"),
    }
}

/// A GET of `path` that accepts an event stream, resuming after `last_id`.
pub fn subscribe_request(
    connector: &Connector,
    path: &str,
    last_id: Option<&str>,
) -> Result<Request<Body>> {
    let mut builder = Request::get(format!("https://{}{path}", connector.authority))
        .header(http::header::ACCEPT, "text/event-stream");
    if let Some(id) = last_id {
        builder = builder.header("last-event-id", id);
    }
    builder
        .body(Body::default())
        .with_context(|| format!("building GET {path}"))
}
