//! Writers of the frames a server sends: each appends whole frames to `out`, never padded
//! (padding hides lengths, which an event stream does not need).

use super::{
    flag, kind, setting, ErrorCode, FrameHeader, Settings, DEFAULT_MAX_FRAME_SIZE,
    MAX_FRAME_SIZE_LIMIT, MAX_WINDOW,
};

/// Appends a DATA frame. The caller respects the peer's max frame size: `data` must be at
/// most that long. Panics on data over [`MAX_FRAME_SIZE_LIMIT`], which no frame can carry.
pub fn write_data(out: &mut Vec<u8>, stream_id: u32, data: &[u8], end_stream: bool) {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    frame_header(out, data.len(), kind::DATA, flags, stream_id);
    out.extend_from_slice(data);
}

/// Appends one DATA frame carrying `parts` back to back: parts made apart (a subscriber's
/// queued events) are copied once, into `out`, and never joined first. The same length
/// rule as [`write_data`] holds for their sum.
pub fn write_data_parts<P: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    stream_id: u32,
    parts: &[P],
    end_stream: bool,
) {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    let length = parts.iter().map(|part| part.as_ref().len()).sum();
    frame_header(out, length, kind::DATA, flags, stream_id);
    for part in parts {
        out.extend_from_slice(part.as_ref());
    }
}

/// Appends a header block as HEADERS + as many CONTINUATION frames as `max_frame_size`
/// (the peer's SETTINGS_MAX_FRAME_SIZE) needs; they go out back to back, as the RFC wants
/// (section 6.10). A size outside the range a peer may advertise is clamped into it.
pub fn write_headers(
    out: &mut Vec<u8>,
    stream_id: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
) {
    // The clamp keeps the chunks non-empty, so the loop below ends.
    let max = max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT) as usize;
    let (first, mut rest) = block.split_at(block.len().min(max));
    let mut flags = if end_stream { flag::END_STREAM } else { 0 };
    if rest.is_empty() {
        flags |= flag::END_HEADERS;
    }
    frame_header(out, first.len(), kind::HEADERS, flags, stream_id);
    out.extend_from_slice(first);
    while !rest.is_empty() {
        let (chunk, after) = rest.split_at(rest.len().min(max));
        rest = after;
        let flags = if rest.is_empty() {
            flag::END_HEADERS
        } else {
            0
        };
        frame_header(out, chunk.len(), kind::CONTINUATION, flags, stream_id);
        out.extend_from_slice(chunk);
    }
}

/// Appends a SETTINGS frame with the values present in `settings`, in identifier order.
/// Values are written as given: the caller sends only what the RFC allows.
pub fn write_settings(out: &mut Vec<u8>, settings: &Settings) {
    let entries = [
        (setting::HEADER_TABLE_SIZE, settings.header_table_size),
        (setting::ENABLE_PUSH, settings.enable_push.map(u32::from)),
        (
            setting::MAX_CONCURRENT_STREAMS,
            settings.max_concurrent_streams,
        ),
        (setting::INITIAL_WINDOW_SIZE, settings.initial_window_size),
        (setting::MAX_FRAME_SIZE, settings.max_frame_size),
        (setting::MAX_HEADER_LIST_SIZE, settings.max_header_list_size),
        (
            setting::ENABLE_CONNECT_PROTOCOL,
            settings.enable_connect_protocol.map(u32::from),
        ),
    ];
    let present = entries.iter().filter(|(_, value)| value.is_some()).count();
    frame_header(out, present * 6, kind::SETTINGS, 0, 0);
    for (id, value) in entries {
        if let Some(value) = value {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

/// Appends the acknowledgement of the peer's SETTINGS.
pub fn write_settings_ack(out: &mut Vec<u8>) {
    frame_header(out, 0, kind::SETTINGS, flag::ACK, 0);
}

/// Appends a PING, or with `ack` the answer to one (which echoes its payload).
pub fn write_ping(out: &mut Vec<u8>, ack: bool, payload: [u8; 8]) {
    let flags = if ack { flag::ACK } else { 0 };
    frame_header(out, payload.len(), kind::PING, flags, 0);
    out.extend_from_slice(&payload);
}

/// Appends a GOAWAY. `debug_data` is cut to what fits a frame of
/// [`DEFAULT_MAX_FRAME_SIZE`], which every peer accepts: it is only diagnostics, and the
/// writer does not know the peer's actual limit.
pub fn write_goaway(out: &mut Vec<u8>, last_stream_id: u32, code: ErrorCode, debug_data: &[u8]) {
    let room = DEFAULT_MAX_FRAME_SIZE as usize - 8;
    let debug_data = &debug_data[..debug_data.len().min(room)];
    frame_header(out, 8 + debug_data.len(), kind::GOAWAY, 0, 0);
    out.extend_from_slice(&last_stream_id.to_be_bytes());
    out.extend_from_slice(&code.0.to_be_bytes());
    out.extend_from_slice(debug_data);
}

/// Appends an RST_STREAM.
pub fn write_rst_stream(out: &mut Vec<u8>, stream_id: u32, code: ErrorCode) {
    frame_header(out, 4, kind::RST_STREAM, 0, stream_id);
    out.extend_from_slice(&code.0.to_be_bytes());
}

/// Appends a WINDOW_UPDATE for a stream, or for the connection on stream 0. `increment`
/// must be within `1..=`[`MAX_WINDOW`]: the peer refuses 0.
pub fn write_window_update(out: &mut Vec<u8>, stream_id: u32, increment: u32) {
    debug_assert!(
        (1..=MAX_WINDOW).contains(&increment),
        "increment {increment}"
    );
    frame_header(out, 4, kind::WINDOW_UPDATE, 0, stream_id);
    out.extend_from_slice(&increment.to_be_bytes());
}

fn frame_header(out: &mut Vec<u8>, length: usize, kind: u8, flags: u8, stream_id: u32) {
    // A longer payload cannot be framed: its length would wrap, and the peer would read
    // the rest of it as frames of their own. A caller's bug, never the network's.
    assert!(
        length <= MAX_FRAME_SIZE_LIMIT as usize,
        "a frame payload of {length} bytes"
    );
    FrameHeader {
        length: length as u32,
        kind,
        flags,
        stream_id,
    }
    .write(out);
}
