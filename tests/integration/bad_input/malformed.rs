//! Requests that are not well-formed HTTP, or whose header sections are over the limits,
//! on HTTP/1.1 (hyper answers 400 or 431 itself, or closes) and on HTTP/2.

use http::{HeaderValue, StatusCode};
use http_body_util::{combinators::BoxBody, Empty};

use super::wire::{h2_request, h2_send, h2_streaming, raw_http1, RawResponse};
use super::{assert_still_serving, start};
use crate::support::TestServer;

pub(super) async fn malformed_http1_request_is_400(server: &TestServer) {
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n",
    ] {
        let response = raw_http1(server, raw).await;
        assert!(
            response.bytes.starts_with(b"HTTP/1.1 400"),
            "{:?} -> {:?}",
            String::from_utf8_lossy(raw),
            response.head()
        );
    }
}

pub(super) async fn oversized_http1_header_is_431_or_closed(server: &TestServer) {
    // 1 MiB: far beyond the server's 16 KiB HTTP/1.1 buffer, and beyond what hyper's
    // soft limit lets through (see `http1_headers_of_64_kib_are_refused`).
    let response = raw_http1(server, &request_with_header_of(1 << 20)).await;
    assert_header_refused(&response);
}

pub(super) async fn oversized_h2_header_list_is_refused(server: &TestServer) {
    // Twice `http2.max_header_list_size` (16 KiB by default).
    let mut send = h2_streaming(server).await;
    let mut req = h2_request(server, "GET", "/healthz", BoxBody::new(Empty::new()));
    req.headers_mut().insert(
        "x-big",
        HeaderValue::from_str(&"a".repeat(32 << 10)).expect("header value"),
    );
    match h2_send(&mut send, req).await {
        // h2 answers 431 itself, or refuses the stream.
        Ok(response) => assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        ),
        Err(e) => assert!(
            format!("{e:?}").contains("REFUSED_STREAM"),
            "unexpected error: {e:?}"
        ),
    }
    // Only the stream failed: the connection still serves.
    let req = h2_request(server, "GET", "/healthz", BoxBody::new(Empty::new()));
    let response = h2_send(&mut send, req).await.expect("h2 response");
    assert_eq!(response.status(), StatusCode::OK);
}

/// Regression: hyper checks the HTTP/1.1 read-buffer cap only between reads, so one read
/// could overshoot it; with a 64 KiB cap a request with 100 KiB of headers was answered 200.
/// The cap is now 16 KiB, which keeps the effective header limit well below 64 KiB.
#[tokio::test]
async fn http1_headers_of_64_kib_are_refused() {
    let server = start().await;
    let response = raw_http1(&server, &request_with_header_of(64 << 10)).await;
    assert_header_refused(&response);
    assert_still_serving(&server).await;
}

/// A GET /healthz whose one extra header has a value of `len` bytes.
fn request_with_header_of(len: usize) -> Vec<u8> {
    let mut raw = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', len));
    raw.extend_from_slice(b"\r\n\r\n");
    raw
}

/// hyper answered 431, or closed the connection without answering. (`raw_http1` gives up
/// after PATIENCE, so a hang fails the test.)
fn assert_header_refused(response: &RawResponse) {
    assert!(
        response.bytes.is_empty() || response.bytes.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        response.head()
    );
}
