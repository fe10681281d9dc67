//! Listener protocols: ALPN decides h2 or HTTP/1.1 on TLS, the plaintext listener speaks
//! HTTP/1.1 and h2c, TLS 1.2 and 1.3 are accepted, and a connection that sends no request
//! is closed.

use std::sync::Arc;

use bytes::Bytes;
use http::{StatusCode, Version};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::{pki_types::ServerName, ClientConfig};
use tokio::{io::AsyncReadExt, net::TcpStream};
use tokio_rustls::TlsConnector;

use crate::support::{
    frames::{self, kind, FrameReader},
    read_all, request, TestServer, PATIENCE,
};

#[tokio::test]
async fn alpn_h2_is_served_as_http2() {
    let server = TestServer::start().await;
    let response = server.h2().await.get("/healthz").await;
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn alpn_http1_is_served_as_http1() {
    let server = TestServer::start().await;
    let response = server.http1().await.get("/healthz").await;
    assert_eq!(response.version(), Version::HTTP_11);
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_client_without_alpn_gets_http1() {
    let server = TestServer::start().await;
    let tls = server.tls_connect(&[]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = request("GET", "/healthz", "");
    req.headers_mut()
        .insert("host", "localhost".parse().unwrap());
    let response = send.send_request(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_h2_preface_is_refused_on_an_http1_alpn_connection() {
    // The protocol is what ALPN said, not what the bytes look like.
    let server = TestServer::start().await;
    let tls = server.tls_connect(&[b"http/1.1"]).await;
    let result = hyper::client::conn::http2::handshake::<_, _, Full<Bytes>>(
        TokioExecutor::new(),
        TokioIo::new(tls),
    )
    .await;
    let Ok((mut send, conn)) = result else { return };
    tokio::spawn(conn);
    let url = format!("https://localhost:{}/healthz", server.addr.port());
    let outcome = tokio::time::timeout(PATIENCE, send.send_request(request("GET", &url, ""))).await;
    assert!(
        !matches!(outcome, Ok(Ok(_))),
        "h2 must not be served without ALPN h2"
    );
}

#[tokio::test]
async fn tls12_and_tls13_are_both_accepted() {
    let server = TestServer::start().await;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let base = server.tls_config(&[b"h2"]);
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[version])
                .unwrap()
                .with_root_certificates(base_roots(&server))
                .with_no_client_auth();
        config.alpn_protocols = base.alpn_protocols.clone();
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let tls = TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .expect("handshake");
        assert_eq!(tls.get_ref().1.protocol_version(), Some(version.version));
    }
}

fn base_roots(server: &TestServer) -> rustls::RootCertStore {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server.cert_dir.join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

#[tokio::test]
async fn plaintext_listener_speaks_http1_and_h2c() {
    let server = TestServer::start().await;
    let addr = server.plaintext_addr.expect("plaintext listener");

    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = request("GET", "/healthz", "");
    req.headers_mut()
        .insert("host", "localhost".parse().unwrap());
    let response = h1.send_request(req).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_11);
    assert_eq!(read_all(response).await.0, StatusCode::OK);

    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut h2c, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let url = format!("http://localhost:{}/healthz", addr.port());
    let response = h2c.send_request(request("GET", &url, "")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(read_all(response).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_connection_that_sends_no_request_is_closed() {
    let server = TestServer::start_with(|raw| raw.server.header_read_timeout_secs = 0.3).await;
    for alpn in [&b"h2"[..], &b"http/1.1"[..]] {
        let mut tls = server.tls_connect(&[alpn]).await;
        let mut buf = [0u8; 1024];
        // Whatever the server sends first (h2 SETTINGS), the connection must reach EOF.
        let closed = tokio::time::timeout(PATIENCE, async {
            loop {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "{} connection left open",
            String::from_utf8_lossy(alpn)
        );
    }
}

#[tokio::test]
async fn an_h2_connection_that_sends_no_request_gets_a_goaway_then_eof() {
    let server = TestServer::start_with(|raw| raw.server.header_read_timeout_secs = 0.3).await;
    let mut tls = server.tls_connect(&[b"h2"]).await;
    frames::start(&mut tls, &[]).await.expect("preface");
    let mut reader = FrameReader::new(tls);
    let mut goaway = None;
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match reader.next().await {
                Ok(Some(frame)) if frame.kind == kind::GOAWAY => {
                    let payload = &frame.payload[..];
                    let last_stream = u32::from_be_bytes(payload[0..4].try_into().unwrap());
                    let code = u32::from_be_bytes(payload[4..8].try_into().unwrap());
                    goaway = Some((last_stream, code));
                }
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "connection left open");
    // No stream was processed, and closing was not an error.
    assert_eq!(goaway, Some((0, frames::code::NO_ERROR)));
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_closed() {
    let server = TestServer::start_with(|raw| raw.server.tls_handshake_timeout_secs = 0.3).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(PATIENCE, tcp.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "closed without a handshake"
    );
}

/// A transport that can be frozen: it then neither reads nor writes, like a peer whose
/// machine vanished, while the socket stays open.
struct Freezable<T> {
    inner: T,
    frozen: Arc<std::sync::atomic::AtomicBool>,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Freezable<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.frozen.load(std::sync::atomic::Ordering::Relaxed) {
            return std::task::Poll::Pending;
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Freezable<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.frozen.load(std::sync::atomic::Ordering::Relaxed) {
            return std::task::Poll::Pending;
        }
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn a_dead_peer_is_detected_by_keepalive_pings_and_its_streams_freed() {
    let server = TestServer::start_with(|raw| {
        raw.http2.keepalive_interval_secs = 0.2;
        raw.http2.keepalive_timeout_secs = 0.2;
    })
    .await;
    let frozen = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tls = server.tls_connect(&[b"h2"]).await;
    let io = Freezable {
        inner: tls,
        frozen: frozen.clone(),
    };
    let (mut send, conn) = hyper::client::conn::http2::handshake::<_, _, Full<Bytes>>(
        TokioExecutor::new(),
        TokioIo::new(io),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let url = format!("https://localhost:{}/events/dead", server.addr.port());
    let response = send.send_request(request("GET", &url, "")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.hub.stats().active_subscriptions, 1);

    frozen.store(true, std::sync::atomic::Ordering::Relaxed);
    let freed = tokio::time::timeout(PATIENCE, async {
        while server.hub.stats().active_subscriptions != 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "the unanswered PING closes the connection");
    drop(response);
}
