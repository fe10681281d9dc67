//! Low-level clients for input the support client cannot send: HTTP/2 request bodies that
//! are streams without a declared length, and raw bytes over an HTTP/1.1 TLS connection.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::{Request, Response};
use http_body_util::{combinators::BoxBody, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error_message;
use crate::support::{TestServer, PATIENCE};

// ---- HTTP/2 with streamed request bodies ---------------------------------------------------

pub(super) type StreamedBody = BoxBody<Bytes, Infallible>;

/// What a streamed body does after its chunks.
pub(super) enum Then {
    End,
    /// Never ends nor sends more, as a stalled or malicious client.
    Stall,
}

/// An HTTP/2 connection whose request bodies may be streams: the support client's bodies are
/// `Full`, which always declares its length.
pub(super) async fn h2_streaming(
    server: &TestServer,
) -> hyper::client::conn::http2::SendRequest<StreamedBody> {
    let tls = server.tls_connect(&[b"h2"]).await;
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    send
}

/// A body of `chunks` with no declared length.
pub(super) fn streamed(chunks: Vec<Bytes>, then: Then) -> StreamedBody {
    let frames = stream::iter(chunks).map(|chunk| Ok::<_, Infallible>(Frame::data(chunk)));
    match then {
        Then::End => BoxBody::new(StreamBody::new(frames)),
        Then::Stall => BoxBody::new(StreamBody::new(frames.chain(stream::pending()))),
    }
}

/// A request for `path` with an absolute URI, as h2 needs.
pub(super) fn h2_request(
    server: &TestServer,
    method: &str,
    path: &str,
    body: StreamedBody,
) -> Request<StreamedBody> {
    Request::builder()
        .method(method)
        .uri(format!("https://localhost:{}{path}", server.addr.port()))
        .body(body)
        .expect("request")
}

/// Sends `req` once the connection is ready; no response within PATIENCE fails the test.
pub(super) async fn h2_send(
    send: &mut hyper::client::conn::http2::SendRequest<StreamedBody>,
    req: Request<StreamedBody>,
) -> Result<Response<Incoming>, hyper::Error> {
    send.ready().await.expect("h2 ready");
    tokio::time::timeout(PATIENCE, send.send_request(req))
        .await
        .expect("h2 response in time")
}

// ---- Raw HTTP/1.1 ---------------------------------------------------------------------------

/// What came back on a raw HTTP/1.1 connection.
pub(super) struct RawResponse {
    pub(super) bytes: Vec<u8>,
}

impl RawResponse {
    fn head_len(&self) -> Option<usize> {
        self.bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4)
    }

    pub(super) fn head(&self) -> String {
        let end = self.head_len().unwrap_or(self.bytes.len());
        String::from_utf8_lossy(&self.bytes[..end]).into_owned()
    }

    pub(super) fn status(&self) -> Option<u16> {
        let head = self.head();
        let status = head.strip_prefix("HTTP/1.1 ")?.get(..3)?;
        status.parse().ok()
    }

    fn content_length(&self) -> Option<usize> {
        self.head().lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
    }

    /// The body, when the head and as many bytes as it declares have arrived.
    fn body(&self) -> Option<&[u8]> {
        let start = self.head_len()?;
        let len = self.content_length()?;
        self.bytes.get(start..start + len)
    }
}

/// Writes `raw` on a TLS connection with ALPN `http/1.1` and reads until the server closes
/// or one response with a `content-length` body is complete. Write and read errors end the
/// exchange (a server may close while a too-large request is still being written); a server
/// that neither answers nor closes within PATIENCE fails the test.
pub(super) async fn raw_http1(server: &TestServer, raw: &[u8]) -> RawResponse {
    let mut tls = server.tls_connect(&[b"http/1.1"]).await;
    let exchange = async {
        let mut response = RawResponse { bytes: Vec::new() };
        if tls.write_all(raw).await.is_ok() {
            let _ = tls.flush().await;
        }
        let mut buf = [0u8; 4096];
        while response.body().is_none() {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.bytes.extend_from_slice(&buf[..n]),
            }
        }
        response
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("the server answers or closes, never hangs")
}

/// Asserts a raw response carries a JSON `{"error": "<non-empty>"}` body.
pub(super) fn expect_raw_json_error(response: &RawResponse, what: &str) {
    let head = response.head().to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/json"),
        "{what}: {head}"
    );
    let body = response
        .body()
        .unwrap_or_else(|| panic!("{what}: incomplete response {:?}", response.head()));
    error_message(&String::from_utf8_lossy(body), what);
}
