//! HPACK against an independent peer, the `h2` crate as a client, over an in-memory
//! connection: our decoder reads the header blocks of its requests, and it reads the
//! responses whose blocks our encoder wrote. The frames around the blocks are read and
//! written by hand here (the frame codec is not part of this module).

use std::time::Duration;

use http::{HeaderMap, HeaderValue, Request, Response};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf},
    time::timeout,
};

use super::Fields;
use crate::h2wire::hpack::{Decoder, Encoder, DEFAULT_TABLE_SIZE};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Every wait in these tests: far above what an in-memory exchange takes.
const WAIT: Duration = Duration::from_secs(10);

const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;

struct Frame {
    kind: u8,
    flags: u8,
    stream_id: u32,
    payload: Vec<u8>,
}

/// The server's end of the connection, speaking just enough HTTP/2 by hand.
struct RawServer {
    read: ReadHalf<DuplexStream>,
    write: WriteHalf<DuplexStream>,
    /// The client's SETTINGS_HEADER_TABLE_SIZE, once its SETTINGS arrived.
    client_header_table_size: Option<u32>,
    /// How many CONTINUATION frames the client sent.
    continuations: usize,
}

impl RawServer {
    /// Reads the client's preface and sends our (empty) SETTINGS.
    async fn accept(io: DuplexStream) -> Self {
        let (read, write) = tokio::io::split(io);
        let mut server = Self {
            read,
            write,
            client_header_table_size: None,
            continuations: 0,
        };
        let mut preface = [0; PREFACE.len()];
        timeout(WAIT, server.read.read_exact(&mut preface))
            .await
            .expect("the client's preface in time")
            .unwrap();
        assert_eq!(preface, PREFACE);
        server.write_frame(SETTINGS, 0, 0, &[]).await;
        server
    }

    async fn read_frame(&mut self) -> Frame {
        let mut head = [0; 9];
        timeout(WAIT, self.read.read_exact(&mut head))
            .await
            .expect("a frame in time")
            .unwrap();
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let stream_id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        timeout(WAIT, self.read.read_exact(&mut payload))
            .await
            .expect("a frame's payload in time")
            .unwrap();
        Frame {
            kind: head[3],
            flags: head[4],
            stream_id,
            payload,
        }
    }

    async fn write_frame(&mut self, kind: u8, flags: u8, stream_id: u32, payload: &[u8]) {
        let len = u32::try_from(payload.len()).unwrap();
        assert!(len < 1 << 14, "within the default SETTINGS_MAX_FRAME_SIZE");
        let mut frame = len.to_be_bytes()[1..].to_vec();
        frame.extend_from_slice(&[kind, flags]);
        frame.extend_from_slice(&stream_id.to_be_bytes());
        frame.extend_from_slice(payload);
        timeout(WAIT, self.write.write_all(&frame))
            .await
            .expect("the client reads in time")
            .unwrap();
    }

    /// The next request's stream id and header block (HEADERS and CONTINUATION fragments
    /// joined), answering the client's SETTINGS on the way and skipping other frames.
    async fn next_header_block(&mut self) -> (u32, Vec<u8>) {
        loop {
            let frame = self.read_frame().await;
            match frame.kind {
                SETTINGS if frame.flags & ACK == 0 => {
                    for setting in frame.payload.chunks(6) {
                        let id = u16::from_be_bytes([setting[0], setting[1]]);
                        let value = u32::from_be_bytes(setting[2..6].try_into().unwrap());
                        if id == SETTINGS_HEADER_TABLE_SIZE {
                            self.client_header_table_size = Some(value);
                        }
                    }
                    self.write_frame(SETTINGS, ACK, 0, &[]).await;
                }
                HEADERS => return (frame.stream_id, self.rest_of_block(frame).await),
                _ => {}
            }
        }
    }

    async fn rest_of_block(&mut self, headers: Frame) -> Vec<u8> {
        let mut fragment = &headers.payload[..];
        let mut padding = 0;
        if headers.flags & PADDED != 0 {
            padding = usize::from(fragment[0]);
            fragment = &fragment[1..];
        }
        if headers.flags & PRIORITY != 0 {
            // Stream dependency (4 bytes) and weight (1).
            fragment = &fragment[5..];
        }
        let mut block = fragment[..fragment.len() - padding].to_vec();
        let mut flags = headers.flags;
        while flags & END_HEADERS == 0 {
            let continuation = self.read_frame().await;
            assert_eq!(continuation.kind, CONTINUATION);
            assert_eq!(continuation.stream_id, headers.stream_id);
            block.extend_from_slice(&continuation.payload);
            flags = continuation.flags;
            self.continuations += 1;
        }
        block
    }
}

/// What a client sends: the pseudo-header fields in h2's order, then the header map's.
fn request_fields(request: &Request<()>) -> Fields {
    let uri = request.uri();
    let mut fields: Fields = vec![
        (b":method".to_vec(), request.method().as_str().into()),
        (b":scheme".to_vec(), uri.scheme_str().unwrap().into()),
        (
            b":authority".to_vec(),
            uri.authority().unwrap().as_str().into(),
        ),
        (
            b":path".to_vec(),
            uri.path_and_query().unwrap().as_str().into(),
        ),
    ];
    for (name, value) in request.headers() {
        fields.push((name.as_str().into(), value.as_bytes().to_vec()));
    }
    fields
}

fn requests() -> Vec<Request<()>> {
    let long = "x".repeat(3000);
    // Bytes that code to 20 bits or more each: Huffman makes them longer, so they go raw.
    let badly_coded = HeaderValue::from_bytes(&[0x80, 0xfe, 0xff, b'{', b'\\', 0x99]).unwrap();
    let mut sensitive = HeaderValue::from_static("token=secret");
    sensitive.set_sensitive(true);
    let mut requests = Vec::new();
    for i in 0..4 {
        let mut request = Request::builder()
            .method(if i == 2 { "POST" } else { "GET" })
            .uri(format!("https://events.example.com/events?topic=t{i}"))
            .header("accept", "text/event-stream")
            .header("cache-control", "no-cache")
            .header("last-event-id", format!("{}", 1000 + i))
            .header("user-agent", "ssegate-test/1")
            .header("cookie", "session=abc")
            .header("cookie", "theme=dark")
            .header("x-odd-bytes", badly_coded.clone())
            .body(())
            .unwrap();
        if i % 2 == 1 {
            request
                .headers_mut()
                .insert("x-long", long.parse().unwrap());
            request
                .headers_mut()
                .insert("authorization", sensitive.clone());
        }
        requests.push(request);
    }
    // Past one frame: h2 splits its block into HEADERS and CONTINUATION.
    let mut huge = Request::get("https://events.example.com/big")
        .body(())
        .unwrap();
    for n in 0..4 {
        // 'X' codes to 8 bits: Huffman saves nothing, the values go raw.
        let value = format!("X{n}").repeat(3000);
        huge.headers_mut().insert(
            http::HeaderName::try_from(format!("x-big-{n}")).unwrap(),
            value.parse().unwrap(),
        );
    }
    requests.push(huge);
    requests
}

#[tokio::test]
async fn our_decoder_reads_the_requests_of_h2() {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let (send_request, connection) = timeout(WAIT, h2::client::handshake(client_io))
        .await
        .expect("handshake in time")
        .unwrap();
    let connection = tokio::spawn(connection);
    let mut server = RawServer::accept(server_io).await;

    let requests = requests();
    let expected: Vec<Fields> = requests.iter().map(request_fields).collect();
    let mut responses = Vec::new();
    for request in requests {
        let mut ready = timeout(WAIT, send_request.clone().ready())
            .await
            .expect("ready in time")
            .unwrap();
        responses.push(ready.send_request(request, true).unwrap());
    }

    let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
    let mut grew = Vec::new();
    for (i, expected) in expected.iter().enumerate() {
        let (stream_id, block) = server.next_header_block().await;
        assert_eq!(stream_id, 2 * i as u32 + 1);
        let mut fields = Vec::new();
        decoder
            .decode(&block, usize::MAX, |n, v| {
                fields.push((n.to_vec(), v.to_vec()))
            })
            .unwrap();
        assert_eq!(&fields, expected, "request {i}");
        grew.push(decoder.table().len());
    }
    // h2 indexed fields as it went, so the table was in use across requests.
    assert!(grew[0] > 0, "{grew:?}");
    assert!(
        server.continuations > 0,
        "the big request took CONTINUATION frames"
    );
    drop(responses);
    connection.abort();
}

/// A response's status and headers, and the header block fields our encoder gets.
fn response_fields(response: &Response<()>) -> Fields {
    let mut fields: Fields = vec![(b":status".to_vec(), response.status().as_str().into())];
    for (name, value) in response.headers() {
        fields.push((name.as_str().into(), value.as_bytes().to_vec()));
    }
    fields
}

fn responses() -> Vec<Response<()>> {
    let mut responses = Vec::new();
    for i in 0..5 {
        let status = if i == 3 { 204 } else { 200 };
        let mut builder = Response::builder()
            .status(status)
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .header("x-accel-buffering", "no")
            .header("access-control-allow-origin", "https://app.example.com")
            .header("vary", "origin")
            .header("vary", "accept-encoding")
            .header("date", format!("Mon, 21 Oct 2013 20:13:{:02} GMT", 20 + i))
            .header("set-cookie", format!("seen={i}"));
        if i == 3 {
            builder = builder.header("content-length", "0");
        }
        if i == 4 {
            builder = builder.header("x-long", "y".repeat(1000));
        }
        responses.push(builder.body(()).unwrap());
    }
    responses
}

async fn h2_reads_our_responses(client_header_table_size: Option<u32>) {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let mut builder = h2::client::Builder::new();
    if let Some(size) = client_header_table_size {
        builder.header_table_size(size);
    }
    let (send_request, connection) = timeout(WAIT, builder.handshake::<_, bytes::Bytes>(client_io))
        .await
        .expect("handshake in time")
        .unwrap();
    let connection = tokio::spawn(connection);
    let mut server = RawServer::accept(server_io).await;

    let mut encoder = Encoder::new();
    let mut table_size_set = false;
    for (i, response) in responses().into_iter().enumerate() {
        let mut ready = timeout(WAIT, send_request.clone().ready())
            .await
            .expect("ready in time")
            .unwrap();
        let request = Request::get(format!("https://events.example.com/{i}"))
            .body(())
            .unwrap();
        let (pending, _) = ready.send_request(request, true).unwrap();
        let (stream_id, _) = server.next_header_block().await;
        if let (Some(size), false) = (server.client_header_table_size, table_size_set) {
            encoder.set_max_table_size(size);
            table_size_set = true;
        }
        let fields = response_fields(&response);
        let mut block = Vec::new();
        encoder.encode(fields.iter().map(|(n, v)| (&n[..], &v[..])), &mut block);
        if i == 0 && client_header_table_size == Some(256) {
            assert_eq!(block[..3], [0x3f, 0xe1, 0x01], "a size update to 256 first");
        }
        server
            .write_frame(HEADERS, END_HEADERS | END_STREAM, stream_id, &block)
            .await;
        let received = timeout(WAIT, pending)
            .await
            .expect("the response in time")
            .unwrap();
        assert_eq!(received.status(), response.status(), "response {i}");
        assert_eq!(headers(received.headers()), headers(response.headers()));
        if i > 0 && client_header_table_size.is_none() {
            // Seven fields repeat at a byte each; the rest are the date, the cookie, a length.
            assert!(
                block.len() < 60 + if i == 4 { 1000 } else { 0 },
                "{}",
                block.len()
            );
        }
    }
    assert_eq!(client_header_table_size, server.client_header_table_size);
    connection.abort();
}

/// A header map as a list, in its iteration order (by name, then each name's values).
fn headers(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    map.iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect()
}

#[tokio::test]
async fn h2_reads_the_responses_of_our_encoder() {
    h2_reads_our_responses(None).await;
}

#[tokio::test]
async fn h2_reads_our_responses_with_a_smaller_table() {
    // Our encoder's first block starts with a size update to 256, then evicts as it goes.
    h2_reads_our_responses(Some(256)).await;
}
