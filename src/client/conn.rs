//! One request over a fresh connection: URL checks, TCP connect, TLS, the HTTP handshake
//! by negotiated protocol, and the response headers, each phase with its own deadline.

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, HOST, USER_AGENT};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::tls::{client_config, ALPN_H2};
use super::{ClientError, ClientOptions, RESPONSE_TIMEOUT};

/// Largest response body read into memory (publish answers, error messages).
const MAX_BODY: usize = 64 * 1024;

/// Deadline for reading an error response's body: the message is a nicety, so a slow
/// server must not delay the error (or a subscriber's reconnection) for long.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest server message kept in [`ClientError::Status`] when the body is not JSON.
const MAX_MESSAGE_CHARS: usize = 200;

/// The `user-agent` sent with every request.
const USER_AGENT_VALUE: &str = concat!("ssegate/", env!("CARGO_PKG_VERSION"));

/// A URL checked once: what to resolve, what to verify, what to send.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// Absolute, with a path (`/` when the URL had none): the form HTTP/2 sends.
    uri: Uri,
    /// `Some` for `https`: the name the certificate must match.
    server_name: Option<ServerName<'static>>,
    /// Host as resolved: an IPv6 literal loses its brackets.
    host: String,
    port: u16,
}

impl Target {
    /// Accepts absolute `http` and `https` URLs with a host and no credentials.
    pub(super) fn parse(url: &Uri) -> Result<Self, ClientError> {
        let invalid = |reason| ClientError::InvalidUrl {
            url: url.to_string(),
            reason,
        };
        let scheme = url.scheme().ok_or_else(|| invalid("no scheme"))?;
        let https = if *scheme == Scheme::HTTPS {
            true
        } else if *scheme == Scheme::HTTP {
            false
        } else {
            return Err(invalid("the scheme must be http or https"));
        };
        let authority = url.authority().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("credentials in the URL are not supported"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let server_name = if https {
            let name = ServerName::try_from(host.clone())
                .map_err(|_| invalid("the host is not a valid TLS server name"))?;
            Some(name)
        } else {
            None
        };
        let path_and_query = match url.path_and_query() {
            Some(pq) if pq.as_str().starts_with('/') => pq.clone(),
            Some(pq) => format!("/{pq}")
                .parse()
                .map_err(|_| invalid("invalid path"))?,
            None => PathAndQuery::from_static("/"),
        };
        let uri = build_uri(scheme.clone(), authority.clone(), path_and_query)
            .map_err(|_| invalid("invalid URL"))?;
        Ok(Self {
            uri,
            server_name,
            host,
            port,
        })
    }

    /// The URL with `pairs` appended to its query, form-encoded.
    pub(super) fn with_query_pairs<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ClientError> {
        let mut serializer =
            form_urlencoded::Serializer::new(self.uri.query().unwrap_or("").to_owned());
        serializer.extend_pairs(pairs);
        let query = serializer.finish();
        let path_and_query = if query.is_empty() {
            self.uri.path().to_owned()
        } else {
            format!("{}?{query}", self.uri.path())
        };
        let invalid = || ClientError::InvalidUrl {
            url: self.uri.to_string(),
            reason: "the query cannot be extended",
        };
        let path_and_query: PathAndQuery = path_and_query.parse().map_err(|_| invalid())?;
        let mut parts = self.uri.clone().into_parts();
        parts.path_and_query = Some(path_and_query);
        let uri = Uri::from_parts(parts).map_err(|_| invalid())?;
        Ok(Self {
            uri,
            ..self.clone()
        })
    }

    /// The absolute URL requested.
    pub(super) fn uri(&self) -> &Uri {
        &self.uri
    }
}

fn build_uri(
    scheme: Scheme,
    authority: Authority,
    path_and_query: PathAndQuery,
) -> Result<Uri, http::Error> {
    Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
}

/// Connects to one target and sends requests over fresh connections. Holds the TLS
/// configuration so that the CA file is read once per command, not per reconnection.
pub(super) struct Connector {
    tls: Option<TlsConnector>,
    connect_timeout: Duration,
}

impl Connector {
    /// Builds the TLS configuration when the target is `https`.
    pub(super) fn new(options: &ClientOptions, target: &Target) -> Result<Self, ClientError> {
        let tls = match target.server_name {
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
            Sender::Http2(_) => *request.uri_mut() = target.uri.clone(),
            // HTTP/1.1 sends the origin form and names the host in `Host`.
            Sender::Http1(_) => {
                let authority = target.uri.authority().map(Authority::as_str);
                if let Some(Ok(host)) = authority.map(HeaderValue::from_str) {
                    headers.insert(HOST, host);
                }
                *request.uri_mut() = target
                    .uri
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
            connect_tcp(&target.host, target.port),
        )
        .await??;
        let (Some(tls), Some(server_name)) = (&self.tls, &target.server_name) else {
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
            host: target.host.clone(),
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

/// Reads a whole response body of at most [`MAX_BODY`] bytes (publish answers, error
/// messages: never an event stream).
pub(super) async fn read_body(body: Incoming) -> Result<Bytes, ClientError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => Err(match error.downcast::<hyper::Error>() {
            Ok(source) => ClientError::Http {
                phase: "response body",
                source: *source,
            },
            Err(error) if error.is::<LengthLimitError>() => {
                ClientError::UnexpectedResponse("response body larger than 64 KiB")
            }
            Err(_) => ClientError::UnexpectedResponse("unreadable response body"),
        }),
    }
}

/// Turns a response with an unexpected status into [`ClientError::Status`], with the
/// server's message when its body has one.
pub(super) async fn status_error(response: Response<Incoming>) -> ClientError {
    let status = response.status();
    let body = deadline(
        ERROR_BODY_TIMEOUT,
        "error body",
        read_body(response.into_body()),
    )
    .await;
    let message = match body {
        Ok(Ok(body)) => error_message(&body),
        _ => None,
    };
    ClientError::Status {
        status,
        message: message.unwrap_or_else(|| reason(status)),
    }
}

/// The canonical reason phrase, or the bare code for unregistered statuses.
fn reason(status: StatusCode) -> String {
    status
        .canonical_reason()
        .map_or_else(|| status.as_str().to_owned(), str::to_owned)
}

/// The message of an `{"error": "..."}` body, else the start of the body as text.
fn error_message(body: &[u8]) -> Option<String> {
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(body) {
        if let Some(serde_json::Value::String(message)) = object.get("error") {
            return Some(message.clone());
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut message: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    if message.len() < text.len() {
        message.push('…');
    }
    Some(message)
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
    use http::Version;

    use super::*;
    use crate::client::test_server::{
        json_response, slow_sse_response, sse_response, tls_config, TestServer,
    };
    use crate::client::{publish, subscribe, PublishOptions, SubscribeOptions, Trust};

    fn parse(url: &str) -> Result<Target, ClientError> {
        Target::parse(&url.parse().unwrap())
    }

    #[test]
    fn https_defaults_to_port_443_and_a_root_path() {
        let target = parse("https://example.com").unwrap();
        assert_eq!(target.port, 443);
        assert_eq!(target.uri.to_string(), "https://example.com/");
        assert!(target.server_name.is_some());
        assert_eq!(parse("http://example.com/x").unwrap().port, 80);
    }

    #[test]
    fn ipv6_literals_lose_their_brackets_for_resolving() {
        let target = parse("https://[::1]:8443/events").unwrap();
        assert_eq!(target.host, "::1");
        assert_eq!(target.port, 8443);
        assert_eq!(target.uri.to_string(), "https://[::1]:8443/events");
    }

    #[test]
    fn unusable_urls_are_rejected_with_a_reason() {
        for url in [
            "/events",
            "ftp://example.com/",
            "https://user:pw@example.com/",
        ] {
            let err = parse(url).unwrap_err();
            assert!(
                matches!(err, ClientError::InvalidUrl { .. }),
                "{url}: {err:?}"
            );
        }
    }

    #[test]
    fn query_pairs_are_appended_and_encoded() {
        let target = parse("http://h/events/a?x=1").unwrap();
        let target = target.with_query_pairs([("id", "a b&c")]).unwrap();
        assert_eq!(target.uri.to_string(), "http://h/events/a?x=1&id=a+b%26c");
        let target = parse("http://h/e").unwrap().with_query_pairs([]).unwrap();
        assert_eq!(target.uri.to_string(), "http://h/e");
    }

    #[test]
    fn error_message_prefers_json_then_text() {
        assert_eq!(error_message(br#"{"error":"bad"}"#).unwrap(), "bad");
        assert_eq!(error_message(b" plain \n").unwrap(), "plain");
        assert_eq!(error_message(b""), None);
        let long = "x".repeat(500);
        let message = error_message(long.as_bytes()).unwrap();
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

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
