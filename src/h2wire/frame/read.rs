//! One frame's payload, decoded and checked by its type (RFC 9113 section 6). Every
//! "MUST treat as a connection/stream error" the RFC puts on a single frame is here;
//! unknown flags are ignored (section 4.1).

use bytes::{Buf, Bytes};

use super::{
    flag, kind, setting, ErrorCode, Frame, FrameError, FrameHeader, Priority, Settings,
    DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT, MAX_WINDOW, STREAM_ID_MASK,
};

/// Decodes the frame `header` introduces from its whole `payload`.
pub(super) fn frame(header: &FrameHeader, payload: Bytes) -> Result<Frame, FrameError> {
    match header.kind {
        kind::DATA => data(header, payload),
        kind::HEADERS => headers(header, payload),
        kind::PRIORITY => priority(header, &payload),
        kind::RST_STREAM => rst_stream(header, &payload),
        kind::SETTINGS => settings(header, &payload),
        kind::PUSH_PROMISE => push_promise(header, payload),
        kind::PING => ping(header, &payload),
        kind::GOAWAY => goaway(header, payload),
        kind::WINDOW_UPDATE => window_update(header, &payload),
        kind::CONTINUATION => continuation(header, payload),
        kind => Ok(Frame::Unknown {
            kind,
            stream_id: header.stream_id,
        }),
    }
}

fn data(header: &FrameHeader, mut payload: Bytes) -> Result<Frame, FrameError> {
    on_a_stream(header, "DATA on stream 0")?;
    strip_padding(header, &mut payload, 0)?;
    Ok(Frame::Data {
        stream_id: header.stream_id,
        end_stream: has(header, flag::END_STREAM),
        data: payload,
        // Flow control counts the whole payload, padding included (section 6.1).
        flow_len: header.length,
    })
}

fn headers(header: &FrameHeader, mut payload: Bytes) -> Result<Frame, FrameError> {
    on_a_stream(header, "HEADERS on stream 0")?;
    let with_priority = has(header, flag::PRIORITY);
    strip_padding(header, &mut payload, if with_priority { 5 } else { 0 })?;
    let mut priority = None;
    if with_priority {
        let fields = take::<5>(&mut payload).ok_or(too_short("HEADERS priority fields"))?;
        let fields = priority_fields(fields);
        // Section 5.3.1 makes this a stream error. A connection error instead (section 5.4
        // allows it): the frame carries a field block, and dropping it undecoded would
        // leave our HPACK table behind the peer's (section 4.3) and orphan any
        // CONTINUATION that follows.
        if fields.dependency == header.stream_id {
            return Err(connection(
                ErrorCode::PROTOCOL_ERROR,
                "HEADERS makes its stream depend on itself",
            ));
        }
        priority = Some(fields);
    }
    Ok(Frame::Headers {
        stream_id: header.stream_id,
        end_stream: has(header, flag::END_STREAM),
        end_headers: has(header, flag::END_HEADERS),
        priority,
        fragment: payload,
    })
}

fn priority(header: &FrameHeader, payload: &[u8]) -> Result<Frame, FrameError> {
    on_a_stream(header, "PRIORITY on stream 0")?;
    let Ok(&fields) = <&[u8; 5]>::try_from(payload) else {
        return Err(FrameError::Stream {
            stream_id: header.stream_id,
            code: ErrorCode::FRAME_SIZE_ERROR,
            reason: "PRIORITY payload is not 5 bytes",
        });
    };
    let priority = priority_fields(fields);
    if priority.dependency == header.stream_id {
        return Err(FrameError::Stream {
            stream_id: header.stream_id,
            code: ErrorCode::PROTOCOL_ERROR,
            reason: "PRIORITY makes its stream depend on itself",
        });
    }
    Ok(Frame::Priority {
        stream_id: header.stream_id,
        priority,
    })
}

fn rst_stream(header: &FrameHeader, payload: &[u8]) -> Result<Frame, FrameError> {
    on_a_stream(header, "RST_STREAM on stream 0")?;
    let code = exactly::<4>(payload, "RST_STREAM payload is not 4 bytes")?;
    Ok(Frame::RstStream {
        stream_id: header.stream_id,
        code: ErrorCode(u32::from_be_bytes(code)),
    })
}

fn settings(header: &FrameHeader, payload: &[u8]) -> Result<Frame, FrameError> {
    on_the_connection(header, "SETTINGS on a stream")?;
    if has(header, flag::ACK) {
        if !payload.is_empty() {
            return Err(connection(
                ErrorCode::FRAME_SIZE_ERROR,
                "SETTINGS ACK with a payload",
            ));
        }
        return Ok(Frame::SettingsAck);
    }
    let (entries, rest) = payload.as_chunks::<6>();
    if !rest.is_empty() {
        return Err(connection(
            ErrorCode::FRAME_SIZE_ERROR,
            "SETTINGS payload is not a multiple of 6 bytes",
        ));
    }
    let mut settings = Settings::default();
    for &[i0, i1, v0, v1, v2, v3] in entries {
        let value = u32::from_be_bytes([v0, v1, v2, v3]);
        match u16::from_be_bytes([i0, i1]) {
            setting::HEADER_TABLE_SIZE => settings.header_table_size = Some(value),
            setting::ENABLE_PUSH => {
                settings.enable_push = Some(flag_value(value, "SETTINGS_ENABLE_PUSH not 0 or 1")?)
            }
            setting::MAX_CONCURRENT_STREAMS => settings.max_concurrent_streams = Some(value),
            setting::INITIAL_WINDOW_SIZE => {
                if value > MAX_WINDOW {
                    return Err(connection(
                        ErrorCode::FLOW_CONTROL_ERROR,
                        "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1",
                    ));
                }
                settings.initial_window_size = Some(value);
            }
            setting::MAX_FRAME_SIZE => {
                if !(DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(&value) {
                    return Err(connection(
                        ErrorCode::PROTOCOL_ERROR,
                        "SETTINGS_MAX_FRAME_SIZE outside 2^14..=2^24-1",
                    ));
                }
                settings.max_frame_size = Some(value);
            }
            setting::MAX_HEADER_LIST_SIZE => settings.max_header_list_size = Some(value),
            setting::ENABLE_CONNECT_PROTOCOL => {
                settings.enable_connect_protocol = Some(flag_value(
                    value,
                    "SETTINGS_ENABLE_CONNECT_PROTOCOL not 0 or 1",
                )?)
            }
            // Section 6.5.2: an unknown or unsupported identifier MUST be ignored.
            _ => {}
        }
    }
    Ok(Frame::Settings(settings))
}

fn push_promise(header: &FrameHeader, mut payload: Bytes) -> Result<Frame, FrameError> {
    on_a_stream(header, "PUSH_PROMISE on stream 0")?;
    strip_padding(header, &mut payload, 4)?;
    let promised = take::<4>(&mut payload).ok_or(too_short("PUSH_PROMISE promised stream"))?;
    Ok(Frame::PushPromise {
        stream_id: header.stream_id,
        promised_stream_id: u32::from_be_bytes(promised) & STREAM_ID_MASK,
        end_headers: has(header, flag::END_HEADERS),
        fragment: payload,
    })
}

fn ping(header: &FrameHeader, payload: &[u8]) -> Result<Frame, FrameError> {
    on_the_connection(header, "PING on a stream")?;
    let payload = exactly::<8>(payload, "PING payload is not 8 bytes")?;
    Ok(Frame::Ping {
        ack: has(header, flag::ACK),
        payload,
    })
}

fn goaway(header: &FrameHeader, mut payload: Bytes) -> Result<Frame, FrameError> {
    on_the_connection(header, "GOAWAY on a stream")?;
    let fields = take::<8>(&mut payload).ok_or(too_short("GOAWAY shorter than 8 bytes"))?;
    let [s0, s1, s2, s3, c0, c1, c2, c3] = fields;
    Ok(Frame::GoAway {
        last_stream_id: u32::from_be_bytes([s0, s1, s2, s3]) & STREAM_ID_MASK,
        code: ErrorCode(u32::from_be_bytes([c0, c1, c2, c3])),
        debug_data: payload,
    })
}

fn window_update(header: &FrameHeader, payload: &[u8]) -> Result<Frame, FrameError> {
    let increment = exactly::<4>(payload, "WINDOW_UPDATE payload is not 4 bytes")?;
    let increment = u32::from_be_bytes(increment) & STREAM_ID_MASK;
    if increment == 0 {
        let reason = "WINDOW_UPDATE with an increment of 0";
        return Err(match header.stream_id {
            0 => connection(ErrorCode::PROTOCOL_ERROR, reason),
            stream_id => FrameError::Stream {
                stream_id,
                code: ErrorCode::PROTOCOL_ERROR,
                reason,
            },
        });
    }
    Ok(Frame::WindowUpdate {
        stream_id: header.stream_id,
        increment,
    })
}

fn continuation(header: &FrameHeader, payload: Bytes) -> Result<Frame, FrameError> {
    on_a_stream(header, "CONTINUATION on stream 0")?;
    Ok(Frame::Continuation {
        stream_id: header.stream_id,
        end_headers: has(header, flag::END_HEADERS),
        fragment: payload,
    })
}

/// With the PADDED flag, takes the Pad Length byte off the front of `payload` and the
/// padding off its end, leaving the `fixed` bytes of fields that follow Pad Length and the
/// data or fragment. Padding longer than what is left for those is a connection
/// PROTOCOL_ERROR (sections 6.1, 6.2, 6.6); a payload too short for its fields is a
/// FRAME_SIZE_ERROR (section 4.2).
fn strip_padding(
    header: &FrameHeader,
    payload: &mut Bytes,
    fixed: usize,
) -> Result<(), FrameError> {
    if !has(header, flag::PADDED) {
        return Ok(());
    }
    let [pad_len] = take::<1>(payload).ok_or(too_short("Pad Length missing"))?;
    let room = payload
        .len()
        .checked_sub(fixed)
        .ok_or(too_short("payload shorter than its fields"))?;
    let pad_len = usize::from(pad_len);
    if pad_len > room {
        return Err(connection(
            ErrorCode::PROTOCOL_ERROR,
            "padding longer than the payload",
        ));
    }
    payload.truncate(payload.len() - pad_len);
    Ok(())
}

fn priority_fields(fields: [u8; 5]) -> Priority {
    let [d0, d1, d2, d3, weight] = fields;
    let word = u32::from_be_bytes([d0, d1, d2, d3]);
    Priority {
        dependency: word & STREAM_ID_MASK,
        exclusive: word & !STREAM_ID_MASK != 0,
        weight,
    }
}

/// Takes `N` bytes off the front of `payload`, or `None` if it is shorter.
fn take<const N: usize>(payload: &mut Bytes) -> Option<[u8; N]> {
    let fields = *payload.first_chunk::<N>()?;
    payload.advance(N);
    Some(fields)
}

/// The payload of a frame type with a fixed length; any other length is a connection
/// FRAME_SIZE_ERROR.
fn exactly<const N: usize>(payload: &[u8], reason: &'static str) -> Result<[u8; N], FrameError> {
    <[u8; N]>::try_from(payload).map_err(|_| connection(ErrorCode::FRAME_SIZE_ERROR, reason))
}

fn flag_value(value: u32, reason: &'static str) -> Result<bool, FrameError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(connection(ErrorCode::PROTOCOL_ERROR, reason)),
    }
}

fn on_a_stream(header: &FrameHeader, reason: &'static str) -> Result<(), FrameError> {
    match header.stream_id {
        0 => Err(connection(ErrorCode::PROTOCOL_ERROR, reason)),
        _ => Ok(()),
    }
}

fn on_the_connection(header: &FrameHeader, reason: &'static str) -> Result<(), FrameError> {
    match header.stream_id {
        0 => Ok(()),
        _ => Err(connection(ErrorCode::PROTOCOL_ERROR, reason)),
    }
}

fn has(header: &FrameHeader, flag: u8) -> bool {
    header.flags & flag != 0
}

fn too_short(reason: &'static str) -> FrameError {
    connection(ErrorCode::FRAME_SIZE_ERROR, reason)
}

fn connection(code: ErrorCode, reason: &'static str) -> FrameError {
    FrameError::Connection { code, reason }
}
