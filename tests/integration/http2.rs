//! HTTP/2 as the server frames it itself (`conn/http2`, on `h2wire`): the protocol's rules
//! checked frame by frame with the raw client of `support::frames`, and flow control both
//! ways with hyper's client, an independent implementation.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::{net::TcpStream, time::timeout};
use tokio_rustls::client::TlsStream;

use crate::support::{
    frames::{self, code, flag, kind, Frame, FrameReader},
    published_id, Client, SseStream, TestServer,
};

const PATIENCE: Duration = Duration::from_secs(10);

type Reader = FrameReader<ReadHalf<TlsStream<TcpStream>>>;
type Writer = WriteHalf<TlsStream<TcpStream>>;

/// A raw h2 connection whose preface and (empty) SETTINGS are sent.
async fn raw(server: &TestServer) -> (Reader, Writer) {
    let tls = server.tls_connect(&[b"h2"]).await;
    let (read, mut write) = tokio::io::split(tls);
    frames::start(&mut write, &[]).await.unwrap();
    (FrameReader::new(read), write)
}

/// Reads until a frame `wanted` accepts, or the connection ends (`None`).
async fn until(reader: &mut Reader, wanted: impl Fn(&Frame) -> bool) -> Option<Frame> {
    timeout(PATIENCE, async {
        loop {
            match reader.next().await {
                Ok(Some(frame)) if wanted(&frame) => return Some(frame),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return None,
            }
        }
    })
    .await
    .expect("the server answers in time")
}

async fn send(write: &mut Writer, bytes: &[u8]) {
    write.write_all(bytes).await.unwrap();
    write.flush().await.unwrap();
}

fn get(stream: u32, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut buf = Vec::new();
    let block = frames::request_block("GET", "https", "localhost", path, extra);
    frames::put_headers(
        &mut buf,
        stream,
        flag::END_HEADERS | flag::END_STREAM,
        &block,
    );
    buf
}

#[tokio::test]
async fn settings_and_pings_are_acknowledged() {
    let server = TestServer::start().await;
    let (mut reader, mut write) = raw(&server).await;
    let settings = until(&mut reader, |f| f.is(kind::SETTINGS))
        .await
        .expect("the server's SETTINGS");
    assert!(
        !settings.has(flag::ACK),
        "the server's own SETTINGS come first"
    );
    until(&mut reader, |f| f.is(kind::SETTINGS) && f.has(flag::ACK))
        .await
        .expect("our SETTINGS acknowledged");
    let mut buf = Vec::new();
    frames::put_ping(&mut buf, false, *b"12345678");
    send(&mut write, &buf).await;
    let pong = until(&mut reader, |f| f.is(kind::PING))
        .await
        .expect("a PING answered");
    assert!(pong.has(flag::ACK));
    assert_eq!(&pong.payload[..], b"12345678");
}

#[tokio::test]
async fn protocol_errors_end_the_connection_with_their_code() {
    let server = TestServer::start().await;
    let mut cases: Vec<(&str, Vec<u8>, u32)> = Vec::new();
    let mut data_on_zero = Vec::new();
    frames::put_data(&mut data_on_zero, 0, false, b"x");
    cases.push(("DATA on stream 0", data_on_zero, code::PROTOCOL_ERROR));
    let mut even = Vec::new();
    frames::put_headers(
        &mut even,
        2,
        flag::END_HEADERS | flag::END_STREAM,
        &frames::request_block("GET", "https", "localhost", "/healthz", &[]),
    );
    cases.push(("HEADERS on an even stream", even, code::PROTOCOL_ERROR));
    let mut overflow = Vec::new();
    frames::put_window_update(&mut overflow, 0, 0x7fff_ffff);
    cases.push((
        "connection window overflow",
        overflow,
        code::FLOW_CONTROL_ERROR,
    ));
    let mut interrupted = Vec::new();
    frames::put_headers(
        &mut interrupted,
        1,
        0,
        &frames::request_block("GET", "https", "localhost", "/healthz", &[]),
    );
    frames::put_ping(&mut interrupted, false, [0; 8]);
    cases.push((
        "a PING inside a header block",
        interrupted,
        code::PROTOCOL_ERROR,
    ));
    let mut short_ping = Vec::new();
    frames::put_frame(&mut short_ping, kind::PING, 0, 0, &[0; 7]);
    cases.push(("a 7-byte PING", short_ping, code::FRAME_SIZE_ERROR));
    let mut bad_index = Vec::new();
    // An indexed field with index 0: no such entry (RFC 7541 section 6.1).
    frames::put_headers(&mut bad_index, 1, flag::END_HEADERS, &[0x80]);
    cases.push(("an HPACK index 0", bad_index, code::COMPRESSION_ERROR));
    let mut idle_reset = Vec::new();
    frames::put_rst_stream(&mut idle_reset, 7, code::CANCEL);
    cases.push((
        "RST_STREAM on an idle stream",
        idle_reset,
        code::PROTOCOL_ERROR,
    ));
    for (what, bytes, expected) in cases {
        let (mut reader, mut write) = raw(&server).await;
        send(&mut write, &bytes).await;
        let goaway = until(&mut reader, |f| f.is(kind::GOAWAY))
            .await
            .unwrap_or_else(|| panic!("{what}: no GOAWAY"));
        assert_eq!(
            goaway.error_code(),
            Some(expected),
            "{what}: GOAWAY({})",
            code::name(goaway.error_code().unwrap_or(u32::MAX))
        );
        assert!(
            until(&mut reader, |_| false).await.is_none(),
            "{what}: the connection is closed after its GOAWAY"
        );
    }
}

#[tokio::test]
async fn a_malformed_request_resets_only_its_stream() {
    let server = TestServer::start().await;
    let (mut reader, mut write) = raw(&server).await;
    let malformed: [&[(&str, &str)]; 3] = [
        &[("Accept", "*/*")],
        &[("connection", "keep-alive")],
        &[("te", "gzip")],
    ];
    let mut id = 1;
    for extra in malformed {
        send(&mut write, &get(id, "/healthz", extra)).await;
        let reset = until(&mut reader, |f| f.is(kind::RST_STREAM) && f.stream == id)
            .await
            .unwrap_or_else(|| panic!("{extra:?}: no RST_STREAM"));
        assert_eq!(reset.error_code(), Some(code::PROTOCOL_ERROR), "{extra:?}");
        id += 2;
    }
    // A frame type nobody knows is ignored, and the connection still serves.
    let mut unknown = Vec::new();
    frames::put_frame(&mut unknown, 0xfa, 0, 0, b"whatever");
    send(&mut write, &unknown).await;
    send(&mut write, &get(id, "/healthz", &[])).await;
    let answer = until(&mut reader, |f| f.is(kind::HEADERS) && f.stream == id)
        .await
        .expect("the next request is answered");
    assert!(answer.payload.len() > 1, "a response head");
}

/// A `GET` whose header block is cut into HEADERS and `continuations` CONTINUATION frames.
fn get_in_pieces(stream: u32, path: &str, continuations: usize) -> Vec<u8> {
    let block = frames::request_block("GET", "https", "localhost", path, &[]);
    let piece = block.len().div_ceil(continuations + 1);
    let mut pieces = block.chunks(piece);
    let mut buf = Vec::new();
    frames::put_headers(&mut buf, stream, flag::END_STREAM, pieces.next().unwrap());
    let rest: Vec<&[u8]> = pieces.collect();
    assert_eq!(rest.len(), continuations, "the block splits as asked");
    for (i, fragment) in rest.iter().enumerate() {
        frames::put_continuation(&mut buf, stream, i + 1 == rest.len(), fragment);
    }
    buf
}

#[tokio::test]
async fn a_header_block_may_take_eight_continuation_frames_and_no_more() {
    let server = TestServer::start().await;
    let (mut reader, mut write) = raw(&server).await;
    send(&mut write, &get_in_pieces(1, "/healthz", 8)).await;
    let answer = until(&mut reader, |f| f.is(kind::HEADERS) || f.is(kind::GOAWAY))
        .await
        .expect("an answer");
    assert!(answer.is(kind::HEADERS), "served: {answer:?}");
    assert_eq!(answer.stream, 1);
    // A ninth is a flood: the connection ends at once, before the block would end.
    send(&mut write, &get_in_pieces(3, "/healthz", 9)).await;
    let goaway = until(&mut reader, |f| f.is(kind::GOAWAY))
        .await
        .expect("GOAWAY");
    assert_eq!(goaway.error_code(), Some(code::ENHANCE_YOUR_CALM));
    assert_eq!(
        goaway.goaway_last_stream(),
        Some(1),
        "stream 3 was not taken"
    );
}

#[tokio::test]
async fn a_body_that_does_not_match_its_content_length_resets_the_stream() {
    let server = TestServer::start().await;
    let (mut reader, mut write) = raw(&server).await;
    for (id, body) in [(1, &b"abcdef"[..]), (3, &b"a"[..])] {
        let mut buf = Vec::new();
        let block = frames::request_block(
            "POST",
            "https",
            "localhost",
            "/events/length",
            &[("content-length", "3")],
        );
        frames::put_headers(&mut buf, id, flag::END_HEADERS, &block);
        frames::put_data(&mut buf, id, true, body);
        send(&mut write, &buf).await;
        let reset = until(&mut reader, |f| f.is(kind::RST_STREAM) && f.stream == id)
            .await
            .expect("RST_STREAM");
        assert_eq!(reset.error_code(), Some(code::PROTOCOL_ERROR), "{body:?}");
    }
}

/// An h2 connection whose client opens `window` bytes per stream and 64 KiB for the
/// connection.
async fn h2_with_window(server: &TestServer, window: u32) -> Client {
    let tls = server.tls_connect(&[b"h2"]).await;
    let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(window)
        .initial_connection_window_size(65_535)
        .handshake(TokioIo::new(tls))
        .await
        .expect("h2 handshake");
    tokio::spawn(conn);
    Client::H2(send, format!("https://localhost:{}", server.addr.port()))
}

#[tokio::test]
async fn flow_control_carries_bodies_larger_than_every_window_both_ways() {
    let server = TestServer::start().await;
    // A subscriber that opens 16 KiB of window at a time (its SSE parser rescans what it
    // holds at every piece: smaller pieces of a 700 KiB event take it seconds)...
    let mut subscriber = h2_with_window(&server, 16 << 10).await;
    let mut events: SseStream = subscriber.subscribe("/events/windows").await;
    // ... and a publication of 700 KiB: more than the server's stream window (256 KiB)
    // and its connection window, so the server must give window back as it reads.
    let data: String = (0..700 * 1024)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let mut publisher = server.h2().await;
    let (status, body) = publisher.post("/events/windows", data.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = published_id(&body);
    let event = timeout(PATIENCE, events.next())
        .await
        .expect("the event in time")
        .expect("an event");
    assert_eq!(event.id, id);
    assert_eq!(
        event.data.len(),
        data.len(),
        "the whole event, in window-sized pieces"
    );
    assert!(event.data == data);
}

#[tokio::test]
async fn request_trailers_end_the_body() {
    let server = TestServer::start().await;
    let tls = server.tls_connect(&[b"h2"]).await;
    let (client, conn) = h2::client::handshake(tls).await.expect("h2 handshake");
    tokio::spawn(conn);
    let mut client = client.ready().await.expect("ready");
    let request = http::Request::post(format!(
        "https://localhost:{}/events/trailers",
        server.addr.port()
    ))
    .body(())
    .unwrap();
    let (response, mut body) = client.send_request(request, false).expect("request");
    body.send_data(Bytes::from_static(b"with trailers"), false)
        .expect("data");
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-checksum", "1".parse().unwrap());
    body.send_trailers(trailers).expect("trailers");
    let response = timeout(PATIENCE, response)
        .await
        .expect("an answer in time")
        .expect("a response");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("body");
        let _ = body.flow_control().release_capacity(chunk.len());
        text.extend_from_slice(&chunk);
    }
    assert!(!published_id(&String::from_utf8_lossy(&text)).is_empty());
}

#[tokio::test]
async fn the_second_response_head_on_a_connection_is_a_few_bytes() {
    // HPACK's dynamic table: the headers of an event stream's response are indexed once
    // and referred to after.
    let server = TestServer::start().await;
    let (mut reader, mut write) = raw(&server).await;
    let mut sizes = Vec::new();
    for id in [1, 3] {
        send(
            &mut write,
            &get(id, "/events/heads", &[("accept", "text/event-stream")]),
        )
        .await;
        let head = until(&mut reader, |f| f.is(kind::HEADERS) && f.stream == id)
            .await
            .expect("a response head");
        sizes.push(head.payload.len());
    }
    assert!(
        sizes[1] * 2 <= sizes[0],
        "first head {} bytes, second {} bytes",
        sizes[0],
        sizes[1]
    );
}
