//! An independent peer: the `h2` crate as a client, over an in-memory pipe, reads what the
//! writers write and writes what the reader reads. The server side is this codec and a
//! script, no connection engine: one HPACK byte stands in for a response header block.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, DuplexStream},
    time::timeout,
};

use super::super::*;

/// Bounds every wait: a codec bug shows as a failure, never as a hung test.
const WAIT: Duration = Duration::from_secs(5);

/// `:status: 200` as a header block: entry 8 of HPACK's static table (RFC 7541 appendix
/// A), sent as an indexed field (section 6.1: the top bit, then the index).
const STATUS_200: &[u8] = &[0x80 | 8];

/// The server's end of the pipe: bytes read so far, and every frame decoded from them.
struct Server {
    io: DuplexStream,
    buf: BytesMut,
    frames: Vec<Frame>,
}

impl Server {
    /// Reads and decodes until `done` holds for the frames read so far.
    async fn read_until(&mut self, done: impl Fn(&[Frame]) -> bool) {
        let reader = FrameReader::new();
        let read = async {
            loop {
                while let Some(frame) = reader.decode(&mut self.buf).expect("h2's frames decode") {
                    self.frames.push(frame);
                }
                if done(&self.frames) {
                    return;
                }
                let n = self.io.read_buf(&mut self.buf).await.expect("a read");
                assert_ne!(n, 0, "the client closed; frames: {:?}", self.frames);
            }
        };
        timeout(WAIT, read)
            .await
            .unwrap_or_else(|_| panic!("waited for the client; frames: {:?}", self.frames));
    }

    async fn send(&mut self, bytes: &[u8]) {
        timeout(WAIT, self.io.write_all(bytes))
            .await
            .expect("the client reads")
            .expect("a write");
    }
}

#[tokio::test]
async fn an_h2_client_and_the_codec_understand_each_other() {
    let (client_io, server_io) = tokio::io::duplex(1 << 16);
    let (send_request, mut connection) = timeout(WAIT, h2::client::handshake(client_io))
        .await
        .unwrap()
        .unwrap();
    let mut ping_pong = connection.ping_pong().unwrap();
    let connection = tokio::spawn(connection);
    let mut send_request = timeout(WAIT, send_request.ready()).await.unwrap().unwrap();
    let request = http::Request::post("https://example.com/upload")
        .body(())
        .unwrap();
    let (response, mut request_body) = send_request.send_request(request, false).unwrap();
    request_body
        .send_data(Bytes::from_static(b"the request body"), true)
        .unwrap();

    // The client's preface, SETTINGS, maybe a WINDOW_UPDATE, and the request.
    let mut server = Server {
        io: server_io,
        buf: BytesMut::new(),
        frames: Vec::new(),
    };
    let mut preface = [0; PREFACE.len()];
    timeout(WAIT, server.io.read_exact(&mut preface))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&preface, PREFACE);
    server
        .read_until(|frames| {
            frames.iter().any(|f| {
                matches!(
                    f,
                    Frame::Data {
                        end_stream: true,
                        ..
                    }
                )
            })
        })
        .await;
    let frames = std::mem::take(&mut server.frames);
    assert!(matches!(frames[0], Frame::Settings(_)), "{frames:?}");
    let mut body = Vec::new();
    let mut headers = 0;
    for frame in &frames[1..] {
        match frame {
            Frame::WindowUpdate { .. } => {}
            Frame::Headers {
                stream_id: 1,
                end_stream: false,
                end_headers: true,
                fragment,
                ..
            } => {
                assert!(!fragment.is_empty());
                headers += 1;
            }
            Frame::Data {
                stream_id: 1, data, ..
            } => body.extend_from_slice(data),
            other => panic!("unexpected {other:?} in {frames:?}"),
        }
    }
    assert_eq!(headers, 1, "{frames:?}");
    assert_eq!(body, b"the request body");

    // Our SETTINGS (the server's first frame), the ack of theirs, a PING, more window,
    // and a response: as h2 reads them, every writer but GOAWAY's and RST_STREAM's.
    let mut out = Vec::new();
    write_settings(
        &mut out,
        &Settings {
            header_table_size: Some(4096),
            enable_push: Some(false),
            max_concurrent_streams: Some(100),
            initial_window_size: Some(1 << 20),
            max_frame_size: Some(1 << 15),
            max_header_list_size: Some(16 << 10),
            enable_connect_protocol: Some(true),
        },
    );
    write_settings_ack(&mut out);
    write_ping(&mut out, false, *b"codec ok");
    write_window_update(&mut out, 0, 1 << 20);
    write_headers(&mut out, 1, STATUS_200, false, DEFAULT_MAX_FRAME_SIZE);
    write_data(&mut out, 1, b"the response body", true);
    server.send(&out).await;

    let response = timeout(WAIT, response)
        .await
        .expect("a response in time")
        .expect("a response, not an error");
    assert_eq!(response.status(), http::StatusCode::OK);
    let mut response_body = response.into_body();
    let chunk = timeout(WAIT, response_body.data())
        .await
        .unwrap()
        .expect("a body")
        .expect("a body, not an error");
    assert_eq!(chunk, "the response body");
    assert!(response_body.is_end_stream());

    // The client acknowledges our SETTINGS and answers our PING.
    server
        .read_until(|frames| {
            frames.contains(&Frame::SettingsAck)
                && frames.contains(&Frame::Ping {
                    ack: true,
                    payload: *b"codec ok",
                })
        })
        .await;
    server.frames.clear();

    // And accepts our answer to its own PING.
    let ping = tokio::spawn(async move { ping_pong.ping(h2::Ping::opaque()).await });
    server
        .read_until(|frames| {
            frames
                .iter()
                .any(|f| matches!(f, Frame::Ping { ack: false, .. }))
        })
        .await;
    let Some(&Frame::Ping { payload, .. }) = server.frames.last() else {
        panic!("a PING: {:?}", server.frames);
    };
    server.frames.clear();
    let mut out = Vec::new();
    write_ping(&mut out, true, payload);
    server.send(&out).await;
    timeout(WAIT, ping)
        .await
        .expect("the pong in time")
        .unwrap()
        .expect("the pong accepted");

    // A second request, refused.
    let mut send_request = timeout(WAIT, send_request.ready()).await.unwrap().unwrap();
    let request = http::Request::get("https://example.com/events")
        .body(())
        .unwrap();
    let (refused, _) = send_request.send_request(request, true).unwrap();
    server
        .read_until(|frames| {
            frames.iter().any(|f| {
                matches!(
                    f,
                    Frame::Headers {
                        stream_id: 3,
                        end_stream: true,
                        ..
                    }
                )
            })
        })
        .await;
    let mut out = Vec::new();
    write_rst_stream(&mut out, 3, ErrorCode::REFUSED_STREAM);
    server.send(&out).await;
    let error = timeout(WAIT, refused)
        .await
        .expect("the refusal in time")
        .unwrap_err();
    assert_eq!(error.reason(), Some(h2::Reason::REFUSED_STREAM), "{error}");

    // Then the end: the client takes GOAWAY as one (the pipe stays open, so only the
    // frame can end the connection), and opens no stream after it.
    let mut out = Vec::new();
    write_goaway(&mut out, 3, ErrorCode::NO_ERROR, b"that is all");
    server.send(&out).await;
    let ended = timeout(WAIT, connection)
        .await
        .expect("GOAWAY ends the connection")
        .unwrap();
    assert!(ended.is_ok(), "{ended:?}");
    let request = http::Request::get("https://example.com/late")
        .body(())
        .unwrap();
    assert!(send_request.send_request(request, true).is_err());
    drop(server);
}
