//! HTTP/2 frames (RFC 9113 sections 4 and 6): read one at a time off a buffer into a
//! [`Frame`], with every check the RFC puts on a single frame, and written into a
//! `Vec<u8>`.
//!
//! What needs more than one frame to judge (stream states, a header block split over
//! CONTINUATION frames, flow-control windows, when SETTINGS are acknowledged, who may send
//! PUSH_PROMISE) is the connection's business: a frame that passes here is well formed,
//! not necessarily welcome.

use std::fmt;

use bytes::{Bytes, BytesMut};

mod read;
mod write;

pub use write::{
    write_data, write_data_parts, write_goaway, write_headers, write_ping, write_rst_stream,
    write_settings, write_settings_ack, write_window_update,
};

/// What a client sends before its first frame (RFC 9113 section 3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Every frame starts with a header of this many bytes (RFC 9113 section 4.1).
pub const HEADER_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE until a peer says otherwise, and the least it may say.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// The most SETTINGS_MAX_FRAME_SIZE may be: what the 24-bit length field holds.
pub const MAX_FRAME_SIZE_LIMIT: u32 = (1 << 24) - 1;
/// A flow-control window's size until SETTINGS_INITIAL_WINDOW_SIZE or WINDOW_UPDATE
/// changes it (RFC 9113 section 6.9.2).
pub const DEFAULT_WINDOW: u32 = 65_535;
/// The largest flow-control window (RFC 9113 section 6.9.1).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;

/// The stream identifier's 31 bits; the top bit is reserved and ignored on receipt.
const STREAM_ID_MASK: u32 = (1 << 31) - 1;

/// Frame types (RFC 9113 section 6).
mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags. The same bit means different things on different types, hence one name
/// per meaning.
mod flag {
    /// DATA, HEADERS.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING.
    pub const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE.
    pub const PADDED: u8 = 0x8;
    /// HEADERS.
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS identifiers (RFC 9113 section 6.5.2; RFC 8441 section 3).
mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
}

/// An error code (RFC 9113 section 7): a newtype, since peers may send codes we do not
/// know, and those must be carried, not refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Graceful shutdown, or no error at all.
    pub const NO_ERROR: Self = Self(0x0);
    /// The peer broke the protocol in a way no more specific code covers.
    pub const PROTOCOL_ERROR: Self = Self(0x1);
    /// An unexpected failure inside the endpoint.
    pub const INTERNAL_ERROR: Self = Self(0x2);
    /// The peer broke flow control.
    pub const FLOW_CONTROL_ERROR: Self = Self(0x3);
    /// SETTINGS went unacknowledged too long.
    pub const SETTINGS_TIMEOUT: Self = Self(0x4);
    /// A frame arrived on a half-closed stream.
    pub const STREAM_CLOSED: Self = Self(0x5);
    /// A frame had the wrong size.
    pub const FRAME_SIZE_ERROR: Self = Self(0x6);
    /// The stream was refused before any processing: safe to retry.
    pub const REFUSED_STREAM: Self = Self(0x7);
    /// The stream is no longer needed.
    pub const CANCEL: Self = Self(0x8);
    /// The field-compression context cannot be kept.
    pub const COMPRESSION_ERROR: Self = Self(0x9);
    /// A CONNECT tunnel's connection was reset or closed abnormally.
    pub const CONNECT_ERROR: Self = Self(0xa);
    /// The peer may be generating excessive load.
    pub const ENHANCE_YOUR_CALM: Self = Self(0xb);
    /// The transport does not meet minimum security requirements.
    pub const INADEQUATE_SECURITY: Self = Self(0xc);
    /// HTTP/1.1 is required instead.
    pub const HTTP_1_1_REQUIRED: Self = Self(0xd);

    fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        NAMES.get(usize::try_from(self.0).ok()?).copied()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A stream's priority as HEADERS and PRIORITY frames carry it (RFC 9113 section 5.3.2).
/// RFC 9113 deprecates the scheme; the fields are still parsed, since a frame carrying them
/// must still be read and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// The stream this one depends on (0: the root).
    pub dependency: u32,
    /// Whether the dependency is exclusive.
    pub exclusive: bool,
    /// The wire value: the weight minus one (0 means weight 1, 255 weight 256).
    pub weight: u8,
}

/// A SETTINGS frame's values; `None` = not present. Unknown identifiers are ignored
/// (RFC 9113 section 6.5.2). When an identifier repeats, the last value wins, as
/// processing them in order (section 6.5.3) would leave it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// SETTINGS_HEADER_TABLE_SIZE (0x1): the HPACK dynamic table the sender's decoder keeps.
    pub header_table_size: Option<u32>,
    /// SETTINGS_ENABLE_PUSH (0x2).
    pub enable_push: Option<bool>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS (0x3): streams the sender lets its peer open.
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE (0x4): every stream's starting send window, at most
    /// [`MAX_WINDOW`].
    pub initial_window_size: Option<u32>,
    /// SETTINGS_MAX_FRAME_SIZE (0x5): the largest payload the sender accepts, within
    /// [`DEFAULT_MAX_FRAME_SIZE`]`..=`[`MAX_FRAME_SIZE_LIMIT`].
    pub max_frame_size: Option<u32>,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (0x6): advisory.
    pub max_header_list_size: Option<u32>,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8, RFC 8441): extended CONNECT.
    pub enable_connect_protocol: Option<bool>,
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// `data` without padding; `flow_len` = the whole payload length incl. padding and pad
    /// length byte (what flow control counts, RFC 9113 section 6.9).
    Data {
        stream_id: u32,
        end_stream: bool,
        data: Bytes,
        flow_len: u32,
    },
    /// The start of a header block; `fragment` is without padding and priority fields.
    Headers {
        stream_id: u32,
        end_stream: bool,
        end_headers: bool,
        priority: Option<Priority>,
        fragment: Bytes,
    },
    /// A PRIORITY frame.
    Priority { stream_id: u32, priority: Priority },
    /// A stream reset.
    RstStream { stream_id: u32, code: ErrorCode },
    /// SETTINGS that want an acknowledgement.
    Settings(Settings),
    /// The acknowledgement of our SETTINGS.
    SettingsAck,
    /// A promised stream; only a server may send one (the connection checks that).
    PushPromise {
        stream_id: u32,
        promised_stream_id: u32,
        end_headers: bool,
        fragment: Bytes,
    },
    /// A PING, or with `ack` the answer to one.
    Ping { ack: bool, payload: [u8; 8] },
    /// The peer is shutting the connection down.
    GoAway {
        last_stream_id: u32,
        code: ErrorCode,
        debug_data: Bytes,
    },
    /// More send window, for a stream or (stream 0) the connection; `increment` is never 0.
    WindowUpdate { stream_id: u32, increment: u32 },
    /// The rest of a header block begun by HEADERS or PUSH_PROMISE.
    Continuation {
        stream_id: u32,
        end_headers: bool,
        fragment: Bytes,
    },
    /// A frame type this codec does not know: to be ignored (RFC 9113 section 4.1, 5.5).
    /// Its payload has been skipped.
    Unknown { kind: u8, stream_id: u32 },
}

/// What is wrong with a frame, and how the RFC says to answer it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The connection ends with GOAWAY(code).
    #[error("connection error {code}: {reason}")]
    Connection {
        code: ErrorCode,
        reason: &'static str,
    },
    /// Only the stream is reset with RST_STREAM(code); the frame is otherwise dropped.
    #[error("stream {stream_id} error {code}: {reason}")]
    Stream {
        stream_id: u32,
        code: ErrorCode,
        reason: &'static str,
    },
}

/// The 9 bytes before every frame's payload (RFC 9113 section 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The payload's length: 24 bits.
    pub length: u32,
    /// The frame type.
    pub kind: u8,
    /// Flags; which bits mean something depends on `kind`.
    pub flags: u8,
    /// The stream, reserved bit cleared.
    pub stream_id: u32,
}

impl FrameHeader {
    /// Reads a header. Every 9 bytes are one: what they say is checked per frame type.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Self {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *bytes;
        Self {
            length: u32::from_be_bytes([0, l0, l1, l2]),
            kind,
            flags,
            stream_id: u32::from_be_bytes([s0, s1, s2, s3]) & STREAM_ID_MASK,
        }
    }

    /// Appends the header to `out`, the reserved bit sent as 0. `length` must fit 24 bits.
    pub fn write(&self, out: &mut Vec<u8>) {
        debug_assert!(self.length <= MAX_FRAME_SIZE_LIMIT, "{self:?}");
        let [_, l0, l1, l2] = self.length.to_be_bytes();
        out.extend_from_slice(&[l0, l1, l2, self.kind, self.flags]);
        out.extend_from_slice(&(self.stream_id & STREAM_ID_MASK).to_be_bytes());
    }
}

/// Decodes frames from a read buffer.
#[derive(Clone, Copy, Debug)]
pub struct FrameReader {
    max_frame_size: u32,
}

impl FrameReader {
    /// A reader that accepts frames up to [`DEFAULT_MAX_FRAME_SIZE`].
    pub fn new() -> Self {
        Self {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
        }
    }

    /// The SETTINGS_MAX_FRAME_SIZE we advertised: longer frames are refused. A size
    /// outside the range the RFC allows to advertise is clamped into it.
    pub fn set_max_frame_size(&mut self, size: u32) {
        self.max_frame_size = size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT);
    }

    /// Takes one whole frame off the front of `buf` and decodes it: `Ok(None)` when `buf`
    /// does not hold a whole frame yet (nothing is consumed). A frame whose declared length
    /// is over the max frame size is a FRAME_SIZE_ERROR connection error as soon as its
    /// header is in (its payload is never waited for, and nothing is consumed). Any other
    /// error, stream or connection, consumes the frame's bytes. Payload `Bytes` are split
    /// off `buf` (no copy).
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let header = FrameHeader::parse(head);
        // Every frame type counts here, as a connection error (RFC 9113 section 4.2): a
        // peer that ignores our limit on one stream is not one to keep talking to, and an
        // oversized DATA frame dropped as a stream error would still owe flow control.
        if header.length > self.max_frame_size {
            return Err(FrameError::Connection {
                code: ErrorCode::FRAME_SIZE_ERROR,
                reason: "frame longer than SETTINGS_MAX_FRAME_SIZE",
            });
        }
        // At most MAX_FRAME_SIZE_LIMIT + 9, which fits any usize this builds for.
        let frame_len = HEADER_LEN + header.length as usize;
        if buf.len() < frame_len {
            return Ok(None);
        }
        let payload = buf.split_to(frame_len).split_off(HEADER_LEN).freeze();
        read::frame(&header, payload).map(Some)
    }
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
