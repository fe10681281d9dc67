//! A tiny HTTP/1.1 server for the client's tests: it records every request and answers
//! with a handler given the request's index.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tempfile::NamedTempFile;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The body of the test server's responses.
pub(super) type TestBody = BoxBody<Bytes, Infallible>;

/// A request as the server received it.
#[derive(Debug, Clone)]
pub(super) struct RecordedRequest {
    pub version: Version,
    pub method: Method,
    /// Path and query on HTTP/1.1, the absolute URI on HTTP/2.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The server; it stops when dropped.
pub(super) struct TestServer {
    scheme: &'static str,
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Binds `127.0.0.1:0` and serves every connection with `handler(index, request)`,
    /// `index` counting requests from 0 across connections.
    pub(super) async fn start<H>(handler: H) -> Self
    where
        H: Fn(usize, &RecordedRequest) -> Response<TestBody> + Send + Sync + 'static,
    {
        Self::start_with(handler, None).await
    }

    /// Like [`TestServer::start`], over TLS with `config`: HTTP/2 when ALPN chose `h2`.
    pub(super) async fn start_with<H>(handler: H, tls: Option<Arc<ServerConfig>>) -> Self
    where
        H: Fn(usize, &RecordedRequest) -> Response<TestBody> + Send + Sync + 'static,
    {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let acceptor = tls.map(TlsAcceptor::from);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let recorded = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let recorded = Arc::clone(&recorded);
                let handler = Arc::clone(&handler);
                let service = service_fn(move |request: Request<Incoming>| {
                    let recorded = Arc::clone(&recorded);
                    let handler = Arc::clone(&handler);
                    async move {
                        let (parts, body) = request.into_parts();
                        let request = RecordedRequest {
                            version: parts.version,
                            method: parts.method,
                            uri: parts.uri.to_string(),
                            headers: parts.headers,
                            body: body.collect().await?.to_bytes(),
                        };
                        let mut recorded = recorded.lock().unwrap();
                        let response = handler(recorded.len(), &request);
                        recorded.push(request);
                        Ok::<_, hyper::Error>(response)
                    }
                });
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Some(acceptor) = acceptor else {
                        let io = TokioIo::new(stream);
                        let _ = http1::Builder::new().serve_connection(io, service).await;
                        return;
                    };
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                        let io = TokioIo::new(stream);
                        let _ = http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await;
                    } else {
                        let io = TokioIo::new(stream);
                        let _ = http1::Builder::new().serve_connection(io, service).await;
                    }
                });
            }
        });
        Self {
            scheme,
            addr,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:PORT` (or `https`) followed by `path_and_query`.
    pub(super) fn url(&self, path_and_query: &str) -> Uri {
        format!("{}://{}{path_and_query}", self.scheme, self.addr)
            .parse()
            .unwrap()
    }

    /// `127.0.0.1:PORT`, as the `Host` header should carry it.
    pub(super) fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// The requests received so far.
    pub(super) fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server TLS configuration (ALPN `h2`, `http/1.1`) for `localhost` and `127.0.0.1`,
/// with the PEM file of the CA that signed its certificate.
pub(super) fn tls_config() -> (Arc<ServerConfig>, NamedTempFile) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut ca_file = NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut ca_file, ca.pem().as_bytes()).unwrap();
    (Arc::new(config), ca_file)
}

/// A response with `status` and a plain text body.
pub(super) fn text_response(status: StatusCode, body: &'static str) -> Response<TestBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *response.status_mut() = status;
    response
}

/// A response with a JSON body.
pub(super) fn json_response(status: StatusCode, body: &'static str) -> Response<TestBody> {
    let mut response = text_response(status, body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A 200 `text/event-stream` response whose body is `body`, after which it ends.
pub(super) fn sse_response(body: impl Into<Bytes>) -> Response<TestBody> {
    sse(Full::new(body.into()).boxed())
}

/// A 200 `text/event-stream` response that sends `chunks` with `gap` before each, the
/// way a live stream trickles in, then ends.
pub(super) fn slow_sse_response(chunks: Vec<&'static str>, gap: Duration) -> Response<TestBody> {
    let frames = stream::unfold(chunks.into_iter(), move |mut chunks| async move {
        let chunk = chunks.next()?;
        tokio::time::sleep(gap).await;
        let frame = Frame::data(Bytes::from_static(chunk.as_bytes()));
        Some((Ok::<_, Infallible>(frame), chunks))
    });
    sse(BodyExt::boxed(StreamBody::new(frames)))
}

fn sse(body: TestBody) -> Response<TestBody> {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response
}
