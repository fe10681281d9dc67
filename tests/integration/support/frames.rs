//! A raw HTTP/2 client at frame level (RFC 9113), for the attack tests: it writes exactly
//! the frames a test asks for (including ones no well-behaved client would send) and reads
//! the server's frames back undecoded, except for what the tests assert on (type, flags,
//! stream, GOAWAY and RST_STREAM error codes).
//!
//! Header blocks are HPACK literals without indexing and without Huffman coding (RFC 7541
//! section 6.2.2), so no dynamic table is involved on the client's side.
//!
//! Self-contained (no `crate::` paths): the attack bench includes this file too.

#![allow(dead_code)]

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The client connection preface (RFC 9113 section 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types.
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
}

/// SETTINGS identifiers.
pub mod setting {
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
}

/// Error codes (RFC 9113 section 7).
pub mod code {
    pub const NO_ERROR: u32 = 0x0;
    pub const PROTOCOL_ERROR: u32 = 0x1;
    pub const FLOW_CONTROL_ERROR: u32 = 0x3;
    pub const FRAME_SIZE_ERROR: u32 = 0x6;
    pub const REFUSED_STREAM: u32 = 0x7;
    pub const CANCEL: u32 = 0x8;
    pub const COMPRESSION_ERROR: u32 = 0x9;
    pub const ENHANCE_YOUR_CALM: u32 = 0xb;

    /// The code's name, for messages.
    pub fn name(code: u32) -> &'static str {
        match code {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            _ => "unknown",
        }
    }
}

/// The largest frame payload a peer must accept without SETTINGS (RFC 9113 section 4.2);
/// the server never raises it for clients here.
const MAX_FRAME_PAYLOAD: usize = 16_384;

/// One frame as read from the server.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Bytes,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY frame.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            kind::RST_STREAM => 0,
            kind::GOAWAY => 4,
            _ => return None,
        };
        let bytes = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes(bytes.try_into().ok()?))
    }

    /// The last stream id of a GOAWAY frame.
    pub fn goaway_last_stream(&self) -> Option<u32> {
        if self.kind != kind::GOAWAY {
            return None;
        }
        let bytes = self.payload.get(..4)?;
        Some(u32::from_be_bytes(bytes.try_into().ok()?) & 0x7fff_ffff)
    }

    /// The `:status` of a response HEADERS frame, when the server encoded it as one of
    /// HPACK's static-table entries (hyper does for 200, 204, 206, 304, 400, 404, 500).
    pub fn static_status(&self) -> Option<u16> {
        if self.kind != kind::HEADERS {
            return None;
        }
        match self.payload.first()? {
            0x88 => Some(200),
            0x89 => Some(204),
            0x8a => Some(206),
            0x8b => Some(304),
            0x8c => Some(400),
            0x8d => Some(404),
            0x8e => Some(500),
            _ => None,
        }
    }

    pub fn is(&self, kind: u8) -> bool {
        self.kind == kind
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.kind {
            kind::DATA => "DATA",
            kind::HEADERS => "HEADERS",
            kind::RST_STREAM => "RST_STREAM",
            kind::SETTINGS => "SETTINGS",
            kind::PING => "PING",
            kind::GOAWAY => "GOAWAY",
            kind::WINDOW_UPDATE => "WINDOW_UPDATE",
            kind::CONTINUATION => "CONTINUATION",
            _ => "OTHER",
        };
        write!(f, "{name}(stream {}, flags {:#x}", self.stream, self.flags)?;
        if let Some(code) = self.error_code() {
            write!(f, ", {}", code::name(code))?;
        }
        write!(f, ")")
    }
}

/// Appends one frame to `buf`.
pub fn put_frame(buf: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    assert!(
        payload.len() <= MAX_FRAME_PAYLOAD,
        "frame payload too large"
    );
    let len = payload.len() as u32;
    buf.extend_from_slice(&len.to_be_bytes()[1..]);
    buf.push(kind);
    buf.push(flags);
    buf.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    buf.extend_from_slice(payload);
}

/// A SETTINGS frame with `values`.
pub fn put_settings(buf: &mut Vec<u8>, values: &[(u16, u32)]) {
    let mut payload = Vec::with_capacity(values.len() * 6);
    for (id, value) in values {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    put_frame(buf, kind::SETTINGS, 0, 0, &payload);
}

/// Acknowledges the server's SETTINGS.
pub fn put_settings_ack(buf: &mut Vec<u8>) {
    put_frame(buf, kind::SETTINGS, flag::ACK, 0, &[]);
}

/// HEADERS carrying `block` (a whole header block when `flags` has END_HEADERS).
pub fn put_headers(buf: &mut Vec<u8>, stream: u32, flags: u8, block: &[u8]) {
    put_frame(buf, kind::HEADERS, flags, stream, block);
}

/// CONTINUATION carrying `fragment`.
pub fn put_continuation(buf: &mut Vec<u8>, stream: u32, end_headers: bool, fragment: &[u8]) {
    let flags = if end_headers { flag::END_HEADERS } else { 0 };
    put_frame(buf, kind::CONTINUATION, flags, stream, fragment);
}

/// RST_STREAM with `code`.
pub fn put_rst_stream(buf: &mut Vec<u8>, stream: u32, code: u32) {
    put_frame(buf, kind::RST_STREAM, 0, stream, &code.to_be_bytes());
}

/// PING (or its ACK) with `opaque` data.
pub fn put_ping(buf: &mut Vec<u8>, ack: bool, opaque: [u8; 8]) {
    let flags = if ack { flag::ACK } else { 0 };
    put_frame(buf, kind::PING, flags, 0, &opaque);
}

/// WINDOW_UPDATE of `increment` on `stream` (0: the connection).
pub fn put_window_update(buf: &mut Vec<u8>, stream: u32, increment: u32) {
    put_frame(
        buf,
        kind::WINDOW_UPDATE,
        0,
        stream,
        &increment.to_be_bytes(),
    );
}

/// DATA on `stream`.
pub fn put_data(buf: &mut Vec<u8>, stream: u32, end_stream: bool, data: &[u8]) {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    put_frame(buf, kind::DATA, flags, stream, data);
}

/// A request header block: the pseudo-headers and then `extra` headers, every field an
/// HPACK literal without indexing with a literal name (no Huffman).
pub fn request_block(
    method: &str,
    scheme: &str,
    authority: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in [
        (":method", method),
        (":scheme", scheme),
        (":authority", authority),
        (":path", path),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    {
        put_literal(&mut block, name.as_bytes(), value.as_bytes());
    }
    block
}

/// One header field as an HPACK literal without indexing, new name (RFC 7541 6.2.2).
pub fn put_literal(block: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    block.push(0x00);
    put_string(block, name);
    put_string(block, value);
}

/// An HPACK string literal without Huffman coding (RFC 7541 5.2).
fn put_string(block: &mut Vec<u8>, s: &[u8]) {
    put_integer(block, 7, 0x00, s.len());
    block.extend_from_slice(s);
}

/// An HPACK integer with an `prefix`-bit prefix, `high` carrying the first byte's other
/// bits (RFC 7541 5.1).
fn put_integer(block: &mut Vec<u8>, prefix: u32, high: u8, value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        block.push(high | value as u8);
        return;
    }
    block.push(high | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        block.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    block.push(rest as u8);
}

/// Reads frames from the server's side of a connection.
pub struct FrameReader<R> {
    io: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(io: R) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(32 << 10),
        }
    }

    /// The next frame; `Ok(None)` once the server closed the connection cleanly. A frame
    /// larger than the default maximum is an error (the client never raises it).
    pub async fn next(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if len > MAX_FRAME_PAYLOAD {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("frame of {len} bytes"),
                    ));
                }
                if self.buf.len() >= 9 + len {
                    let head = self.buf.split_to(9);
                    let payload = self.buf.split_to(len).freeze();
                    let mut stream = &head[5..9];
                    return Ok(Some(Frame {
                        kind: head[3],
                        flags: head[4],
                        stream: stream.get_u32() & 0x7fff_ffff,
                        payload,
                    }));
                }
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(32 << 10);
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }
}

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A GOAWAY with this code arrived (the connection may have been closed after it).
    GoAway(u32),
    /// The connection was closed (EOF or reset) with no GOAWAY.
    Closed,
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::GoAway(c) => write!(f, "GOAWAY({})", code::name(*c)),
            Ending::Closed => write!(f, "connection closed"),
        }
    }
}

/// Starts a client connection: the preface and a SETTINGS frame with `settings`.
pub async fn start<W: AsyncWrite + Unpin>(io: &mut W, settings: &[(u16, u32)]) -> io::Result<()> {
    let mut buf = PREFACE.to_vec();
    put_settings(&mut buf, settings);
    io.write_all(&buf).await?;
    io.flush().await
}
