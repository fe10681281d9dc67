//! One connection: TLS handshake with a deadline, protocol choice, and serving HTTP/1.1 or
//! HTTP/2 until the peer leaves or the server drains.
//!
//! The edge: imports the router, `http`, `config` and the connection helpers (`io`,
//! `proxy_protocol`, `shutdown`, `tls`); only the server imports it.
//!
//! On TLS the protocol is the one negotiated by ALPN (`h2`, else HTTP/1.1): it is never
//! guessed from the bytes. On the plaintext listener the connection preface tells h2c
//! (prior knowledge) from HTTP/1.1 ([`preface`]).
//!
//! HTTP/2 is served with the project's own framing ([`http2`], on [`crate::h2wire`]),
//! HTTP/1.1 by hyper.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use http::Request;
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    time::Instant,
};
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

mod http2;
mod preface;

use crate::{
    client_limit::ConnectionsPerClient,
    config::{Config, Http2Config},
    http::{ConnInfo, TrustedProxies},
    io::CoalescingIo,
    metrics::{HandshakeFailure, Listener, Metrics, Protocol},
    proxy_protocol::read_header,
    router::App,
    shutdown::{DrainWatch, Served},
    stall::StallWatch,
    tls::{ALPN_ACME_TLS, ALPN_H2},
};

/// Which listener a connection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The TLS listener.
    Tls,
    /// The plaintext listener (HTTP/1.1 and h2c).
    Plaintext,
}

/// What every connection task shares.
pub struct ConnContext {
    app: App,
    acceptor: TlsAcceptor,
    http2: Http2Config,
    handshake_timeout: Duration,
    header_read_timeout: Duration,
    write_coalesce: Duration,
    write_stall_timeout: Duration,
    proxy_protocol_tls: bool,
    proxy_protocol_plaintext: bool,
    trusted_proxies: TrustedProxies,
    per_client: Arc<ConnectionsPerClient>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for ConnContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnContext").finish_non_exhaustive()
    }
}

impl ConnContext {
    /// Context for connections served with `config`, counted in `metrics`.
    pub fn new(app: App, acceptor: TlsAcceptor, config: &Config, metrics: Arc<Metrics>) -> Self {
        Self {
            app,
            acceptor,
            http2: config.http2.clone(),
            handshake_timeout: config.server.tls_handshake_timeout,
            header_read_timeout: config.server.header_read_timeout,
            write_coalesce: config.server.write_coalesce,
            write_stall_timeout: config.server.write_stall_timeout,
            proxy_protocol_tls: config.server.proxy_protocol,
            proxy_protocol_plaintext: config.server.plaintext_proxy_protocol,
            trusted_proxies: config.server.trusted_proxies.clone(),
            per_client: ConnectionsPerClient::new(config.server.max_connections_per_client),
            metrics,
        }
    }
}

impl ConnContext {
    /// The per-client-address connection counts, for the metrics.
    pub fn connections_per_client(&self) -> &Arc<ConnectionsPerClient> {
        &self.per_client
    }
}

/// Serves one accepted TCP connection to its end; `drain` tells it when the server
/// drains. Errors are the peer's business (resets, bad requests, handshake failures) and are
/// logged at debug.
pub async fn serve(
    ctx: Arc<ConnContext>,
    mut drain: DrainWatch,
    mut stream: TcpStream,
    peer: SocketAddr,
    transport: Transport,
) {
    let span = tracing::debug_span!(
        "conn",
        client.addr = %peer,
        proxy.addr = tracing::field::Empty,
        proto = tracing::field::Empty
    );
    async move {
        // SSE frames are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        tracing::debug!(?transport, "accepted");
        let listener = match transport {
            Transport::Tls => Listener::Tls,
            Transport::Plaintext => Listener::Plaintext,
        };
        ctx.metrics.accepted(listener);
        let proxy_protocol = match transport {
            Transport::Tls => ctx.proxy_protocol_tls,
            Transport::Plaintext => ctx.proxy_protocol_plaintext,
        };
        let mut client = peer;
        if proxy_protocol {
            // Mandatory on this listener: before TLS, under the handshake deadline.
            match read_header(&mut stream, ctx.handshake_timeout).await {
                Ok(header) => {
                    client = header.client_addr(peer);
                    let span = tracing::Span::current();
                    span.record("client.addr", tracing::field::display(client));
                    span.record("proxy.addr", tracing::field::display(peer));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "no valid PROXY protocol header; closing");
                    ctx.metrics.handshake_failed(HandshakeFailure::ProxyHeader);
                    return;
                }
            }
        }
        let trusted_proxy = ctx.trusted_proxies.contains(client.ip());
        let Ok(_client_slot) = ctx.per_client.enter(client.ip(), trusted_proxy) else {
            return;
        };
        let info = ConnInfo {
            peer: client,
            forwarded_client: None,
            tls: transport == Transport::Tls,
            trusted_proxy,
        };
        match transport {
            Transport::Plaintext => {
                let io = CoalescingIo::new(stream, ctx.write_coalesce, ctx.write_stall_timeout);
                // The preface is part of the first request: one deadline for both
                // (slowloris), not one each.
                let first_request_by = Instant::now() + ctx.header_read_timeout;
                let sniff = tokio::time::timeout_at(first_request_by, preface::sniff(io));
                let (protocol, io) = match drain.unless_draining(sniff).await {
                    Some(Ok(Ok((preface::Sniffed::Http2, io)))) => (HttpProtocol::Http2, io),
                    Some(Ok(Ok((preface::Sniffed::Http1, io)))) => (HttpProtocol::Http1, io),
                    Some(Ok(Ok((preface::Sniffed::Closed, _)))) => {
                        tracing::debug!("closed before a request");
                        return;
                    }
                    Some(Ok(Err(e))) => {
                        tracing::debug!(error = %e, "closed with error before a request");
                        return;
                    }
                    Some(Err(_)) => {
                        tracing::debug!("no request within the header timeout; closing");
                        return;
                    }
                    None => {
                        tracing::debug!("draining before a request; closing");
                        return;
                    }
                };
                Box::pin(serve_http(
                    &ctx,
                    drain,
                    io,
                    protocol,
                    info,
                    listener,
                    first_request_by,
                ))
                .await
            }
            Transport::Tls => {
                // Boxed, as is `serve_http` below: a connection's task keeps the largest state
                // its future ever had, and the handshake's state would stay for its life.
                let handshake = Box::pin(ctx.acceptor.accept(stream));
                let tls = match tokio::time::timeout(ctx.handshake_timeout, handshake).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        ctx.metrics.handshake_failed(HandshakeFailure::Error);
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        ctx.metrics.handshake_failed(HandshakeFailure::Timeout);
                        return;
                    }
                };
                if tls.get_ref().1.alpn_protocol() == Some(ALPN_ACME_TLS) {
                    // A CA validating tls-alpn-01: the handshake itself was the answer, and
                    // RFC 8737 section 3 forbids anything after it.
                    tracing::debug!("tls-alpn-01 validation handshake done");
                    return;
                }
                let protocol = if tls.get_ref().1.alpn_protocol() == Some(ALPN_H2) {
                    HttpProtocol::Http2
                } else {
                    // No ALPN at all means HTTP/1.1 (RFC 7301: the client did not offer h2).
                    HttpProtocol::Http1
                };
                let io = CoalescingIo::new(tls, ctx.write_coalesce, ctx.write_stall_timeout);
                let first_request_by = Instant::now() + ctx.header_read_timeout;
                Box::pin(serve_http(
                    &ctx,
                    drain,
                    io,
                    protocol,
                    info,
                    listener,
                    first_request_by,
                ))
                .await;
            }
        }
    }
    .instrument(span)
    .await
}

#[derive(Debug, Clone, Copy)]
enum HttpProtocol {
    Http1,
    Http2,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves `io` with `protocol`; closes it unless a first request arrived by
/// `first_request_by` (the header timeout from the moment the connection started waiting for
/// one: before the plaintext preface was read, after the TLS handshake).
async fn serve_http<I>(
    ctx: &ConnContext,
    drain: DrainWatch,
    io: I,
    protocol: HttpProtocol,
    info: ConnInfo,
    listener: Listener,
    first_request_by: Instant,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let span = tracing::Span::current();
    span.record(
        "proto",
        match protocol {
            HttpProtocol::Http1 => "http/1.1",
            HttpProtocol::Http2 => "h2",
        },
    );
    // The header timeout of HTTP/1.1 is hyper's; HTTP/2 has none, so the first request's
    // deadline is kept here. Open streams are never cut.
    let got_request = Arc::new(AtomicBool::new(false));
    // Responses whose stream the client keeps at a zero window are cut like a stalled
    // transport (see `stall`).
    let stall = StallWatch::new();
    // Counted active while open, from the moment its protocol is known.
    let _counted = ctx.metrics.connection(
        listener,
        match protocol {
            HttpProtocol::Http1 => Protocol::H1,
            HttpProtocol::Http2 => Protocol::H2,
        },
    );
    let first_request_deadline = async {
        tokio::time::sleep_until(first_request_by).await;
        if got_request.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    };
    // Which of the two cut the connection, for the log.
    let stalled = AtomicBool::new(false);
    let cut = async {
        tokio::select! {
            () = first_request_deadline => {}
            () = stall.stalled(ctx.write_stall_timeout) => stalled.store(true, Ordering::Relaxed),
        }
    };
    let served = match protocol {
        HttpProtocol::Http1 => {
            let service = {
                let app = ctx.app.clone();
                let got_request = got_request.clone();
                let trusted = ctx.trusted_proxies.clone();
                let stall = stall.clone();
                service_fn(move |mut req: Request<Incoming>| {
                    got_request.store(true, Ordering::Relaxed);
                    let info = info.for_request(req.headers(), &trusted);
                    req.extensions_mut().insert(info);
                    let app = app.clone();
                    let stall = stall.clone();
                    async move {
                        let response = app.handle(req).await;
                        Ok::<_, Infallible>(response.map(|body| stall.watch(body)))
                    }
                })
            };
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(ctx.header_read_timeout)
                // Bounds request headers too: hyper checks this between reads, so the
                // effective header limit is a few times this.
                .max_buf_size(16 << 10);
            // Boxed: an HTTP/2 connection does not carry HTTP/1.1's state in its future.
            let conn = Box::pin(
                builder
                    .serve_connection(TokioIo::new(io), service)
                    .with_upgrades(),
            );
            drain
                // hyper answers its own header timeout; nothing to add when cut.
                .serve(
                    conn,
                    |c| c.get_mut().as_mut().graceful_shutdown(),
                    cut,
                    |_| false,
                )
                .await
                .map_err(BoxError::from)
        }
        HttpProtocol::Http2 => {
            // Served with h2 directly: one task per connection, event streams in its table.
            let requests = http2::Requests {
                app: ctx.app.clone(),
                info,
                trusted: ctx.trusted_proxies.clone(),
                got_request: got_request.clone(),
                stall: stall.clone(),
            };
            let conn = http2::Http2Connection::new(io, &ctx.http2, requests, ctx.write_coalesce);
            drain
                .serve(
                    conn,
                    |c| c.graceful_shutdown(),
                    cut,
                    |c| {
                        // No request in time: a GOAWAY tells a client that it was closed on
                        // purpose and that nothing it sent was processed. A client that
                        // stalled a response is not written to any more.
                        !stalled.load(Ordering::Relaxed) && c.give_up()
                    },
                )
                .await
                .map_err(BoxError::from)
        }
    };
    match served {
        Served::Done(Ok(())) => tracing::debug!("closed"),
        Served::Done(Err(e)) => tracing::debug!(error = %e, "closed with error"),
        Served::Forced => tracing::debug!("closed at the shutdown deadline"),
        Served::Idle if stalled.load(Ordering::Relaxed) => tracing::debug!(
            timeout = ?ctx.write_stall_timeout,
            "a response took no data for the write stall timeout (zero window); closing"
        ),
        Served::Idle => tracing::debug!("no request within the header timeout; closing"),
    }
}
