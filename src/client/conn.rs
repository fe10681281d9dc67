//! One request over a fresh connection: TCP connect, TLS, the HTTP handshake by negotiated
//! protocol, and the response headers, each phase with its own deadline.

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, HOST, USER_AGENT};
use http::uri::Authority;
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::target::Target;
use super::tls::{client_config, ALPN_H2};
use super::{ClientError, ClientOptions, RESPONSE_TIMEOUT};

/// The `user-agent` sent with every request.
const USER_AGENT_VALUE: &str = concat!("ssegate/", env!("CARGO_PKG_VERSION"));

/// Connects to one target and sends requests over fresh connections. Holds the TLS
/// configuration so that the CA file is read once per command, not per reconnection.
pub(super) struct Connector {
    tls: Option<TlsConnector>,
    connect_timeout: Duration,
}

impl Connector {
    /// Builds the TLS configuration when the target is `https`.
    pub(super) fn new(options: &ClientOptions, target: &Target) -> Result<Self, ClientError> {
        let tls = match target.server_name() {
            Some(_) => Some(TlsConnector::from(client_config(
                &options.trust,
                options.http1_only,
            )?)),
            None => None,
        };
        Ok(Self {
            tls,
            connect_timeout: options.connect_timeout,
        })
    }

    /// Opens a connection and sends one request on it; returns once the response headers
    /// arrived. The connection closes when the response body is dropped or finished.
    pub(super) async fn request(
        &self,
        target: &Target,
        method: Method,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, ClientError> {
        let mut sender = self.connect(target).await?;
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        match sender {
            // h2 carries scheme and authority as pseudo-headers, taken from an absolute URI.
            Sender::Http2(_) => *request.uri_mut() = target.uri().clone(),
            // HTTP/1.1 sends the origin form and names the host in `Host`.
            Sender::Http1(_) => {
                let authority = target.uri().authority().map(Authority::as_str);
                if let Some(Ok(host)) = authority.map(HeaderValue::from_str) {
                    headers.insert(HOST, host);
                }
                *request.uri_mut() = target
                    .uri()
                    .path_and_query()
                    .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
            }
        }
        *request.headers_mut() = headers;
        deadline(RESPONSE_TIMEOUT, "response headers", sender.send(request)).await?
    }

    async fn connect(&self, target: &Target) -> Result<Sender, ClientError> {
        let tcp = deadline(
            self.connect_timeout,
            "connect",
            connect_tcp(target.host(), target.port()),
        )
        .await??;
        let (Some(tls), Some(server_name)) = (&self.tls, target.server_name()) else {
            // Cleartext is always HTTP/1.1: see the module documentation.
            return handshake(tcp, false, self.connect_timeout).await;
        };
        let stream = deadline(
            self.connect_timeout,
            "TLS handshake",
            tls.connect(server_name.clone(), tcp),
        )
        .await?
        .map_err(|source| ClientError::Tls {
            host: target.host().to_owned(),
            source,
        })?;
        let http2 = stream.get_ref().1.alpn_protocol() == Some(ALPN_H2);
        handshake(stream, http2, self.connect_timeout).await
    }
}

/// Resolves and connects, trying each address in turn (both address families of a
/// dual-stack name); the error is the last address'.
async fn connect_tcp(host: &str, port: u16) -> Result<TcpStream, ClientError> {
    let resolve_error = |source| ClientError::Resolve {
        host: host.to_owned(),
        source,
    };
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(resolve_error)?;
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Requests are small and latency-bound; Nagle would only delay them.
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "could not set TCP_NODELAY");
                }
                return Ok(stream);
            }
            Err(source) => last_error = Some(ClientError::Connect { addr, source }),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        resolve_error(io::Error::new(
            io::ErrorKind::NotFound,
            "the name has no address",
        ))
    }))
}

/// A request sender of either protocol.
enum Sender {
    Http1(http1::SendRequest<Full<Bytes>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, ClientError> {
        let http_error = |source| ClientError::Http {
            phase: "request",
            source,
        };
        match self {
            Self::Http1(sender) => {
                sender.ready().await.map_err(http_error)?;
                sender.send_request(request).await.map_err(http_error)
            }
            Self::Http2(sender) => {
                sender.ready().await.map_err(http_error)?;
                sender.send_request(request).await.map_err(http_error)
            }
        }
    }
}

/// Runs the HTTP handshake and spawns the connection task, which ends by itself once the
/// sender and every response body are gone.
async fn handshake<T>(io: T, http2: bool, timeout: Duration) -> Result<Sender, ClientError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http_error = |source| ClientError::Http {
        phase: "handshake",
        source,
    };
    let io = TokioIo::new(io);
    if http2 {
        let handshake = http2::handshake(TokioExecutor::new(), io);
        let (sender, connection) = deadline(timeout, "HTTP/2 handshake", handshake)
            .await?
            .map_err(http_error)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "HTTP/2 connection ended with an error");
            }
        });
        Ok(Sender::Http2(sender))
    } else {
        let handshake = http1::handshake(io);
        let (sender, connection) = deadline(timeout, "HTTP/1.1 handshake", handshake)
            .await?
            .map_err(http_error)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "HTTP/1.1 connection ended with an error");
            }
        });
        Ok(Sender::Http1(sender))
    }
}

/// Runs `future` with a deadline; a timeout becomes [`ClientError::Timeout`] naming `phase`.
pub(super) async fn deadline<T>(
    timeout: Duration,
    phase: &'static str,
    future: impl Future<Output = T>,
) -> Result<T, ClientError> {
    tokio::time::timeout(timeout, future)
        .await
        .map_err(|_| ClientError::Timeout(phase))
}

#[cfg(test)]
mod tests {
    use http::{StatusCode, Version};

    use super::*;
    use crate::client::test_server::{
        json_response, slow_sse_response, sse_response, tls_config, TestServer,
    };
    use crate::client::{publish, subscribe, PublishOptions, SubscribeOptions, Trust};

    #[tokio::test]
    async fn subscribes_over_tls_and_h2_trusting_the_extra_ca() {
        let (config, ca_file) = tls_config();
        let server =
            TestServer::start_with(|_, _| sse_response("id: 1\ndata: hi\n\n"), Some(config)).await;
        let client = ClientOptions {
            trust: Trust::Roots {
                extra_ca: Some(ca_file.path().to_owned()),
            },
            ..ClientOptions::default()
        };
        let opts = SubscribeOptions {
            max_events: Some(1),
            ..SubscribeOptions::default()
        };
        let mut data = Vec::new();
        subscribe(&server.url("/events/news"), &opts, &client, |ev| {
            data.push(ev.data.clone())
        })
        .await
        .unwrap();
        assert_eq!(data, ["hi"]);
        let request = &server.requests()[0];
        assert_eq!(request.version, Version::HTTP_2);
        assert_eq!(request.uri, server.url("/events/news").to_string());
    }

    #[tokio::test]
    async fn a_live_stream_outlives_the_request_sender_on_h1_and_h2() {
        for (http1_only, version) in [(false, Version::HTTP_2), (true, Version::HTTP_11)] {
            let (config, _ca_file) = tls_config();
            let chunks = vec!["retry: 10\n\n", "id: 1\ndata: a\n\n", "id: 2\ndata: b\n\n"];
            let server = TestServer::start_with(
                move |_, _| slow_sse_response(chunks.clone(), Duration::from_millis(100)),
                Some(config),
            )
            .await;
            let client = ClientOptions {
                trust: Trust::Insecure,
                http1_only,
                ..ClientOptions::default()
            };
            let opts = SubscribeOptions {
                max_events: Some(2),
                ..SubscribeOptions::default()
            };
            let mut data = Vec::new();
            subscribe(&server.url("/events"), &opts, &client, |ev| {
                data.push(ev.data.clone())
            })
            .await
            .unwrap();
            assert_eq!(data, ["a", "b"], "{version:?}");
            let requests = server.requests();
            assert_eq!(requests.len(), 1, "{version:?}: the stream was cut");
            assert_eq!(requests[0].version, version);
        }
    }

    #[tokio::test]
    async fn http1_only_publishes_over_tls_with_http1_to_localhost() {
        let (config, _ca_file) = tls_config();
        let server = TestServer::start_with(
            |_, _| json_response(StatusCode::OK, r#"{"id":"1"}"#),
            Some(config),
        )
        .await;
        let client = ClientOptions {
            trust: Trust::Insecure,
            http1_only: true,
            ..ClientOptions::default()
        };
        let port = server.url("/").port_u16().unwrap();
        let url = format!("https://localhost:{port}/events/news")
            .parse()
            .unwrap();
        let id = publish(&url, Bytes::from("x"), &PublishOptions::default(), &client)
            .await
            .unwrap();
        assert_eq!(id, "1");
        let request = &server.requests()[0];
        assert_eq!(request.version, Version::HTTP_11);
        assert_eq!(request.headers["host"], format!("localhost:{port}"));
    }

    #[tokio::test]
    async fn untrusted_certificate_fails_the_tls_handshake() {
        let (config, _ca_file) = tls_config();
        let server = TestServer::start_with(
            |_, _| json_response(StatusCode::OK, r#"{"id":"1"}"#),
            Some(config),
        )
        .await;
        let err = publish(
            &server.url("/events/news"),
            Bytes::from("x"),
            &PublishOptions::default(),
            &ClientOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
        assert!(server.requests().is_empty());
    }

    #[test]
    fn client_futures_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        let url = Uri::from_static("http://127.0.0.1:1/");
        let client = ClientOptions::default();
        let subscribe_opts = SubscribeOptions::default();
        let future = subscribe(&url, &subscribe_opts, &client, |_| {});
        assert_send(&future);
        let publish_opts = PublishOptions::default();
        let future = publish(&url, Bytes::new(), &publish_opts, &client);
        assert_send(&future);
    }
}
