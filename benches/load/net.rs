//! Connecting: the target URL, TLS (ALPN `h2`) or h2c with prior knowledge, and the
//! HTTP/2 handshake. Every phase has a deadline, and a timeout names its phase.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use h2::client::SendRequest;
use rustls::pki_types::ServerName;
use ssegate::client::{self, Trust};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Deadline of each connection phase (TCP connect, TLS handshake, HTTP/2 handshake).
const PHASE_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-stream receive window: large enough that a burst never waits on a WINDOW_UPDATE.
const STREAM_WINDOW: u32 = 1 << 20;
/// Connection receive window, shared by all the streams on it.
const CONN_WINDOW: u32 = 16 << 20;

/// Where the server is, parsed once from `--url`.
pub struct Target {
    /// `https` or `http`: the scheme of every request's `:scheme`.
    pub scheme: &'static str,
    /// `host:port`, every request's `:authority`.
    pub authority: String,
    pub addr: SocketAddr,
    /// `None` for h2c (`http://`).
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Target {
    /// Parse the URL, resolve its host, and build the TLS client: with `cacert`, verify
    /// against that CA; with `insecure` (or on a loopback address), verify nothing but the
    /// handshake signatures; otherwise verify against the webpki roots.
    pub async fn new(url: &str, insecure: bool, cacert: Option<&Path>) -> Result<Target> {
        let uri: http::Uri = url.parse().with_context(|| format!("bad --url {url:?}"))?;
        let scheme = match uri.scheme_str() {
            Some("https") => "https",
            Some("http") => "http",
            other => bail!("--url scheme must be https or http, not {other:?}"),
        };
        let host = uri.host().context("--url has no host")?;
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .with_context(|| format!("resolving {host}"))?
            .next()
            .with_context(|| format!("{host} resolves to no address"))?;
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| format!("{host}:{port}"));
        let tls = if scheme == "https" {
            let verify_nothing = cacert.is_none() && (insecure || addr.ip().is_loopback());
            let config = client_config(verify_nothing, cacert)?;
            let name = ServerName::try_from(host.clone())
                .with_context(|| format!("{host} is not a valid TLS server name"))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Target {
            scheme,
            authority,
            addr,
            tls,
        })
    }

    /// The absolute URI of `path` on this target.
    pub fn uri(&self, path: &str) -> Result<http::Uri> {
        let uri = format!("{}://{}{}", self.scheme, self.authority, path);
        uri.parse()
            .with_context(|| format!("bad request URI {uri:?}"))
    }

    /// Open one HTTP/2 connection. Its `Connection` future runs in its own task, which
    /// counts an error in `on_error` unless the run is already over.
    pub async fn connect(
        &self,
        on_error: impl FnOnce(h2::Error) + Send + 'static,
    ) -> Result<SendRequest<Bytes>> {
        let tcp = deadline("TCP connect", TcpStream::connect(self.addr)).await??;
        // Requests and small events must not wait for Nagle.
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => handshake(tcp, on_error).await,
            Some((connector, name)) => {
                let tls = deadline("TLS handshake", connector.connect(name.clone(), tcp)).await??;
                if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                    bail!("the server did not negotiate h2 by ALPN");
                }
                handshake(tls, on_error).await
            }
        }
    }
}

async fn handshake<T>(
    io: T,
    on_error: impl FnOnce(h2::Error) + Send + 'static,
) -> Result<SendRequest<Bytes>>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = h2::client::Builder::new();
    builder
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        // Until the server's SETTINGS arrive, h2 would open any number of streams; 100
        // is the floor RFC 9113 §6.5.2 asks servers to allow. The server's own limit
        // replaces it as soon as its SETTINGS are read.
        .initial_max_send_streams(100)
        .enable_push(false);
    let (send_request, connection) =
        deadline("HTTP/2 handshake", builder.handshake::<_, Bytes>(io)).await??;
    // h2 needs its `Connection` polled for anything to move; a task of its own keeps the
    // socket read even while the caller is busy elsewhere.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            on_error(e);
        }
    });
    Ok(send_request)
}

/// Await `fut` for at most [`PHASE_TIMEOUT`], naming `phase` if it runs out.
pub async fn deadline<F: Future>(phase: &'static str, fut: F) -> Result<F::Output> {
    tokio::time::timeout(PHASE_TIMEOUT, fut)
        .await
        .map_err(|_| anyhow!("{phase} timed out after {PHASE_TIMEOUT:?}"))
}

/// The client's own TLS set-up (`ssegate::client`), offering only h2: the tool measures
/// streams multiplexed on HTTP/2.
fn client_config(verify_nothing: bool, cacert: Option<&Path>) -> Result<rustls::ClientConfig> {
    let trust = if verify_nothing {
        Trust::Insecure
    } else {
        Trust::Roots {
            extra_ca: cacert.map(Path::to_path_buf),
        }
    };
    let mut config = (*client::client_config(&trust, false)?).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}
