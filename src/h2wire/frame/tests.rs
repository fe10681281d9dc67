//! Decoding tests build their bytes by hand from RFC 9113's layouts (section 4.1 and the
//! frame's own section), never with the writers under test; the writers' tests compare
//! against such bytes too.

use bytes::{Bytes, BytesMut};

use super::*;

mod peer;
mod properties;

/// A frame laid out by hand (RFC 9113 section 4.1): 24-bit length, type, flags, then the
/// stream identifier with whatever reserved bit `stream_id` carries.
fn raw(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    assert!(len < 1 << 24);
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn decode(bytes: &[u8]) -> Result<Option<Frame>, FrameError> {
    FrameReader::new().decode(&mut BytesMut::from(bytes))
}

/// The one valid frame `bytes` holds, all of it consumed.
fn decode_one(bytes: &[u8]) -> Frame {
    let mut buf = BytesMut::from(bytes);
    let frame = FrameReader::new().decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty(), "{} bytes left", buf.len());
    frame
}

#[track_caller]
fn connection_error(bytes: &[u8]) -> ErrorCode {
    match decode(bytes) {
        Err(FrameError::Connection { code, .. }) => code,
        other => panic!("expected a connection error, got {other:?}"),
    }
}

#[track_caller]
fn stream_error(bytes: &[u8]) -> (u32, ErrorCode) {
    match decode(bytes) {
        Err(FrameError::Stream {
            stream_id, code, ..
        }) => (stream_id, code),
        other => panic!("expected a stream error, got {other:?}"),
    }
}

const PROTOCOL: ErrorCode = ErrorCode::PROTOCOL_ERROR;
const FRAME_SIZE: ErrorCode = ErrorCode::FRAME_SIZE_ERROR;
const RESERVED: u32 = 1 << 31;

// The header and the reader.

#[test]
fn a_header_reads_24_bit_lengths_and_ignores_the_reserved_bit() {
    let header = FrameHeader::parse(&[0xab, 0xcd, 0xef, 0x42, 0x99, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        header,
        FrameHeader {
            length: 0xab_cdef,
            kind: 0x42,
            flags: 0x99,
            stream_id: 0x7fff_ffff,
        }
    );
}

#[test]
fn a_header_is_written_with_the_reserved_bit_clear() {
    let mut out = Vec::new();
    FrameHeader {
        length: 0x01_0203,
        kind: 4,
        flags: 5,
        stream_id: RESERVED | 7,
    }
    .write(&mut out);
    assert_eq!(out, [1, 2, 3, 4, 5, 0, 0, 0, 7]);
}

#[test]
fn an_incomplete_frame_is_waited_for_and_nothing_is_consumed() {
    let whole = raw(kind::PING, 0, 0, b"12345678");
    let reader = FrameReader::new();
    for cut in 0..whole.len() {
        let mut buf = BytesMut::from(&whole[..cut]);
        assert_eq!(reader.decode(&mut buf), Ok(None), "cut at {cut}");
        assert_eq!(buf.len(), cut);
    }
}

#[test]
fn frames_are_taken_off_the_buffer_one_at_a_time() {
    let mut bytes = raw(kind::PING, 0, 0, b"first!!!");
    bytes.extend(raw(kind::PING, flag::ACK, 0, b"second!!"));
    bytes.extend(&raw(kind::DATA, 0, 1, b"third")[..4]);
    let mut buf = BytesMut::from(&bytes[..]);
    let reader = FrameReader::new();
    assert_eq!(
        reader.decode(&mut buf),
        Ok(Some(Frame::Ping {
            ack: false,
            payload: *b"first!!!"
        }))
    );
    assert_eq!(
        reader.decode(&mut buf),
        Ok(Some(Frame::Ping {
            ack: true,
            payload: *b"second!!"
        }))
    );
    assert_eq!(reader.decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 4);
}

#[test]
fn a_frame_over_the_max_frame_size_fails_on_its_header_alone() {
    let header = raw(kind::DATA, 0, 1, &[0; 16_385]);
    let mut buf = BytesMut::from(&header[..HEADER_LEN]);
    assert_eq!(
        FrameReader::new().decode(&mut buf),
        Err(FrameError::Connection {
            code: FRAME_SIZE,
            reason: "frame longer than SETTINGS_MAX_FRAME_SIZE",
        })
    );
    assert_eq!(buf.len(), HEADER_LEN, "nothing consumed");
    // Of every type, on any stream.
    assert_eq!(connection_error(&raw(0xee, 0, 0, &[0; 16_385])), FRAME_SIZE);
}

#[test]
fn a_frame_of_exactly_the_max_frame_size_is_read() {
    let frame = decode_one(&raw(kind::DATA, 0, 1, &[7; 16_384]));
    assert!(matches!(
        frame,
        Frame::Data {
            flow_len: 16_384,
            ..
        }
    ));
}

#[test]
fn a_larger_max_frame_size_admits_larger_frames() {
    let mut reader = FrameReader::default();
    reader.set_max_frame_size(1 << 20);
    let bytes = raw(kind::DATA, 0, 1, &[7; 1 << 20]);
    let frame = reader.decode(&mut BytesMut::from(&bytes[..])).unwrap();
    assert!(matches!(frame, Some(Frame::Data { flow_len, .. }) if flow_len == 1 << 20));
    let too_long = raw(kind::DATA, 0, 1, &[7; (1 << 20) + 1]);
    assert!(reader.decode(&mut BytesMut::from(&too_long[..])).is_err());
}

#[test]
fn a_max_frame_size_below_the_minimum_is_clamped_to_it() {
    let mut reader = FrameReader::new();
    reader.set_max_frame_size(100);
    let bytes = raw(kind::DATA, 0, 1, &[7; 16_384]);
    assert!(reader.decode(&mut BytesMut::from(&bytes[..])).is_ok());
}

#[test]
fn an_unknown_frame_type_is_skipped_whole() {
    let mut bytes = raw(0x0b, 0xff, RESERVED | 5, b"whatever it says");
    bytes.extend(raw(kind::PING, 0, 0, b"after it"));
    let mut buf = BytesMut::from(&bytes[..]);
    let reader = FrameReader::new();
    assert_eq!(
        reader.decode(&mut buf),
        Ok(Some(Frame::Unknown {
            kind: 0x0b,
            stream_id: 5
        }))
    );
    assert!(matches!(
        reader.decode(&mut buf),
        Ok(Some(Frame::Ping { .. }))
    ));
}

#[test]
fn a_stream_error_consumes_its_frame_and_the_next_frame_reads() {
    let mut bytes = raw(kind::PRIORITY, 0, 3, &[0, 0, 0, 1]);
    bytes.extend(raw(kind::PING, 0, 0, b"12345678"));
    let mut buf = BytesMut::from(&bytes[..]);
    let reader = FrameReader::new();
    assert!(matches!(
        reader.decode(&mut buf),
        Err(FrameError::Stream { stream_id: 3, .. })
    ));
    assert!(matches!(
        reader.decode(&mut buf),
        Ok(Some(Frame::Ping { .. }))
    ));
}

#[test]
fn payloads_share_the_read_buffer() {
    let bytes = raw(kind::DATA, 0, 1, b"no copy");
    let mut buf = BytesMut::from(&bytes[..]);
    let start = buf.as_ptr() as usize;
    let Ok(Some(Frame::Data { data, .. })) = FrameReader::new().decode(&mut buf) else {
        panic!("a DATA frame");
    };
    assert_eq!(data.as_ptr() as usize, start + HEADER_LEN);
}

// DATA (section 6.1).

#[test]
fn data_is_read_with_its_flags() {
    assert_eq!(
        decode_one(&raw(kind::DATA, flag::END_STREAM, RESERVED | 1, b"hello")),
        Frame::Data {
            stream_id: 1,
            end_stream: true,
            data: Bytes::from_static(b"hello"),
            flow_len: 5,
        }
    );
}

#[test]
fn data_flags_data_does_not_define_are_ignored() {
    let frame = decode_one(&raw(kind::DATA, 0xf6, 1, b"x"));
    assert!(matches!(frame, Frame::Data { end_stream: false, ref data, .. } if data == "x"));
}

#[test]
fn padded_data_loses_its_padding_but_flow_control_counts_it() {
    let mut payload = vec![3];
    payload.extend(b"body");
    payload.extend([0; 3]);
    assert_eq!(
        decode_one(&raw(kind::DATA, flag::PADDED, 1, &payload)),
        Frame::Data {
            stream_id: 1,
            end_stream: false,
            data: Bytes::from_static(b"body"),
            flow_len: 8,
        }
    );
}

#[test]
fn padding_may_fill_all_of_a_data_payload() {
    let frame = decode_one(&raw(kind::DATA, flag::PADDED, 1, &[4, 0, 0, 0, 0]));
    assert!(matches!(frame, Frame::Data { ref data, flow_len: 5, .. } if data.is_empty()));
    let frame = decode_one(&raw(kind::DATA, flag::PADDED, 1, &[0]));
    assert!(matches!(frame, Frame::Data { ref data, flow_len: 1, .. } if data.is_empty()));
}

#[test]
fn data_padding_as_long_as_the_payload_is_a_protocol_error() {
    assert_eq!(
        connection_error(&raw(kind::DATA, flag::PADDED, 1, &[5, 0, 0, 0, 0])),
        PROTOCOL
    );
    assert_eq!(
        connection_error(&raw(kind::DATA, flag::PADDED, 1, &[1])),
        PROTOCOL
    );
}

#[test]
fn padded_data_without_a_pad_length_is_a_frame_size_error() {
    assert_eq!(
        connection_error(&raw(kind::DATA, flag::PADDED, 1, &[])),
        FRAME_SIZE
    );
}

#[test]
fn data_on_stream_0_is_a_protocol_error() {
    assert_eq!(connection_error(&raw(kind::DATA, 0, 0, b"x")), PROTOCOL);
}

// HEADERS (section 6.2).

#[test]
fn headers_are_read_with_their_flags() {
    let flags = flag::END_STREAM | flag::END_HEADERS;
    assert_eq!(
        decode_one(&raw(kind::HEADERS, flags, 1, b"\x82\x86")),
        Frame::Headers {
            stream_id: 1,
            end_stream: true,
            end_headers: true,
            priority: None,
            fragment: Bytes::from_static(b"\x82\x86"),
        }
    );
    let frame = decode_one(&raw(kind::HEADERS, 0, 1, b"\x82"));
    assert!(matches!(
        frame,
        Frame::Headers {
            end_stream: false,
            end_headers: false,
            ..
        }
    ));
}

#[test]
fn headers_with_padding_and_priority_yield_the_bare_fragment() {
    // Pad Length, E + dependency, weight, fragment, padding.
    let mut payload = vec![2, 0x80, 0, 0, 3, 15];
    payload.extend(b"\x82\x86");
    payload.extend([0, 0]);
    let flags = flag::PADDED | flag::PRIORITY | flag::END_HEADERS;
    assert_eq!(
        decode_one(&raw(kind::HEADERS, flags, 5, &payload)),
        Frame::Headers {
            stream_id: 5,
            end_stream: false,
            end_headers: true,
            priority: Some(Priority {
                dependency: 3,
                exclusive: true,
                weight: 15,
            }),
            fragment: Bytes::from_static(b"\x82\x86"),
        }
    );
}

#[test]
fn headers_on_stream_0_are_a_protocol_error() {
    assert_eq!(
        connection_error(&raw(kind::HEADERS, flag::END_HEADERS, 0, b"\x82")),
        PROTOCOL
    );
}

#[test]
fn headers_too_short_for_their_priority_are_a_frame_size_error() {
    assert_eq!(
        connection_error(&raw(kind::HEADERS, flag::PRIORITY, 1, &[0, 0, 0, 3])),
        FRAME_SIZE
    );
    let flags = flag::PRIORITY | flag::PADDED;
    assert_eq!(
        connection_error(&raw(kind::HEADERS, flags, 1, &[0, 0, 0, 0, 3])),
        FRAME_SIZE
    );
}

#[test]
fn headers_padding_longer_than_the_fragment_room_is_a_protocol_error() {
    // 4 bytes after the priority fields, 5 of padding.
    let payload = [5, 0, 0, 0, 3, 15, 0, 0, 0, 0];
    let flags = flag::PRIORITY | flag::PADDED;
    assert_eq!(
        connection_error(&raw(kind::HEADERS, flags, 1, &payload)),
        PROTOCOL
    );
    // 4 of padding is all the room, and fine.
    let payload = [4, 0, 0, 0, 3, 15, 0, 0, 0, 0];
    let frame = decode_one(&raw(kind::HEADERS, flags, 1, &payload));
    assert!(matches!(frame, Frame::Headers { ref fragment, .. } if fragment.is_empty()));
}

#[test]
fn headers_depending_on_their_own_stream_end_the_connection() {
    // A stream error by section 5.3.1, escalated: see `read::headers`.
    let payload = [0, 0, 0, 7, 15, 0x82];
    assert_eq!(
        connection_error(&raw(kind::HEADERS, flag::PRIORITY, 7, &payload)),
        PROTOCOL
    );
}

// PRIORITY (section 6.3).

#[test]
fn priority_is_read() {
    assert_eq!(
        decode_one(&raw(kind::PRIORITY, 0, 3, &[0, 0, 0, 1, 255])),
        Frame::Priority {
            stream_id: 3,
            priority: Priority {
                dependency: 1,
                exclusive: false,
                weight: 255,
            },
        }
    );
}

#[test]
fn priority_on_stream_0_is_a_protocol_error() {
    assert_eq!(
        connection_error(&raw(kind::PRIORITY, 0, 0, &[0, 0, 0, 1, 0])),
        PROTOCOL
    );
}

#[test]
fn priority_of_another_length_than_5_is_a_stream_frame_size_error() {
    for payload in [&[0, 0, 0, 1][..], &[0, 0, 0, 1, 0, 0]] {
        assert_eq!(
            stream_error(&raw(kind::PRIORITY, 0, 3, payload)),
            (3, FRAME_SIZE)
        );
    }
}

#[test]
fn priority_on_its_own_stream_is_a_stream_protocol_error() {
    assert_eq!(
        stream_error(&raw(kind::PRIORITY, 0, 3, &[0x80, 0, 0, 3, 0])),
        (3, PROTOCOL)
    );
}

// RST_STREAM (section 6.4).

#[test]
fn rst_stream_is_read_with_any_code() {
    assert_eq!(
        decode_one(&raw(kind::RST_STREAM, 0, 9, &[0, 0, 0, 8])),
        Frame::RstStream {
            stream_id: 9,
            code: ErrorCode::CANCEL,
        }
    );
    assert_eq!(
        decode_one(&raw(kind::RST_STREAM, 0, 9, &[0xde, 0xad, 0xbe, 0xef])),
        Frame::RstStream {
            stream_id: 9,
            code: ErrorCode(0xdead_beef),
        }
    );
}

#[test]
fn rst_stream_on_stream_0_is_a_protocol_error() {
    assert_eq!(
        connection_error(&raw(kind::RST_STREAM, 0, 0, &[0, 0, 0, 8])),
        PROTOCOL
    );
}

#[test]
fn rst_stream_of_another_length_than_4_is_a_frame_size_error() {
    for payload in [&[0, 0, 8][..], &[0, 0, 0, 8, 0]] {
        assert_eq!(
            connection_error(&raw(kind::RST_STREAM, 0, 1, payload)),
            FRAME_SIZE
        );
    }
}

// SETTINGS (section 6.5).

fn setting(id: u16, value: u32) -> Vec<u8> {
    let mut entry = id.to_be_bytes().to_vec();
    entry.extend(value.to_be_bytes());
    entry
}

fn settings_frame(entries: &[(u16, u32)]) -> Vec<u8> {
    let payload: Vec<u8> = entries.iter().flat_map(|&(i, v)| setting(i, v)).collect();
    raw(kind::SETTINGS, 0, 0, &payload)
}

#[test]
fn settings_are_read_by_identifier() {
    let bytes = settings_frame(&[
        (0x1, 4096),
        (0x2, 0),
        (0x3, 100),
        (0x4, 1 << 20),
        (0x5, 1 << 15),
        (0x6, 8192),
        (0x8, 1),
    ]);
    assert_eq!(
        decode_one(&bytes),
        Frame::Settings(Settings {
            header_table_size: Some(4096),
            enable_push: Some(false),
            max_concurrent_streams: Some(100),
            initial_window_size: Some(1 << 20),
            max_frame_size: Some(1 << 15),
            max_header_list_size: Some(8192),
            enable_connect_protocol: Some(true),
        })
    );
}

#[test]
fn empty_settings_are_read() {
    assert_eq!(
        decode_one(&settings_frame(&[])),
        Frame::Settings(Settings::default())
    );
}

#[test]
fn unknown_settings_are_ignored() {
    // 0x7 is unassigned, 0x9 is RFC 9218's, 0xffff anything.
    let bytes = settings_frame(&[(0x7, 5), (0x9, 1), (0xffff, u32::MAX), (0x3, 10)]);
    assert_eq!(
        decode_one(&bytes),
        Frame::Settings(Settings {
            max_concurrent_streams: Some(10),
            ..Settings::default()
        })
    );
}

#[test]
fn the_last_of_a_repeated_setting_wins() {
    let bytes = settings_frame(&[(0x4, 10), (0x1, 0), (0x4, 20)]);
    assert_eq!(
        decode_one(&bytes),
        Frame::Settings(Settings {
            header_table_size: Some(0),
            initial_window_size: Some(20),
            ..Settings::default()
        })
    );
}

#[test]
fn a_settings_ack_is_read_and_ignores_other_flags() {
    assert_eq!(
        decode_one(&raw(kind::SETTINGS, flag::ACK | 0xf0, 0, &[])),
        Frame::SettingsAck
    );
}

#[test]
fn a_settings_ack_with_a_payload_is_a_frame_size_error() {
    assert_eq!(
        connection_error(&raw(kind::SETTINGS, flag::ACK, 0, &setting(0x3, 1))),
        FRAME_SIZE
    );
}

#[test]
fn settings_on_a_stream_are_a_protocol_error() {
    assert_eq!(connection_error(&raw(kind::SETTINGS, 0, 1, &[])), PROTOCOL);
    assert_eq!(
        connection_error(&raw(kind::SETTINGS, flag::ACK, 1, &[])),
        PROTOCOL
    );
}

#[test]
fn settings_not_a_multiple_of_6_bytes_are_a_frame_size_error() {
    let mut payload = setting(0x3, 1);
    payload.push(0);
    assert_eq!(
        connection_error(&raw(kind::SETTINGS, 0, 0, &payload)),
        FRAME_SIZE
    );
}

#[test]
fn enable_push_and_enable_connect_protocol_other_than_0_or_1_are_protocol_errors() {
    for id in [0x2, 0x8] {
        assert_eq!(connection_error(&settings_frame(&[(id, 2)])), PROTOCOL);
        assert_eq!(
            connection_error(&settings_frame(&[(id, u32::MAX)])),
            PROTOCOL
        );
    }
}

#[test]
fn an_initial_window_over_the_largest_window_is_a_flow_control_error() {
    assert_eq!(
        connection_error(&settings_frame(&[(0x4, MAX_WINDOW + 1)])),
        ErrorCode::FLOW_CONTROL_ERROR
    );
    let frame = decode_one(&settings_frame(&[(0x4, MAX_WINDOW)]));
    assert!(matches!(
        frame,
        Frame::Settings(Settings {
            initial_window_size: Some(MAX_WINDOW),
            ..
        })
    ));
}

#[test]
fn a_max_frame_size_outside_its_range_is_a_protocol_error() {
    for bad in [0, 16_383, 1 << 24, u32::MAX] {
        assert_eq!(connection_error(&settings_frame(&[(0x5, bad)])), PROTOCOL);
    }
    for good in [16_384, (1 << 24) - 1] {
        assert!(decode(&settings_frame(&[(0x5, good)])).is_ok());
    }
}

// PUSH_PROMISE (section 6.6).

#[test]
fn push_promise_is_read_without_padding_or_reserved_bit() {
    let mut payload = vec![1, 0x80, 0, 0, 2];
    payload.extend(b"\x82");
    payload.push(0);
    let flags = flag::PADDED | flag::END_HEADERS;
    assert_eq!(
        decode_one(&raw(kind::PUSH_PROMISE, flags, 1, &payload)),
        Frame::PushPromise {
            stream_id: 1,
            promised_stream_id: 2,
            end_headers: true,
            fragment: Bytes::from_static(b"\x82"),
        }
    );
}

#[test]
fn push_promise_on_stream_0_is_a_protocol_error() {
    assert_eq!(
        connection_error(&raw(kind::PUSH_PROMISE, 0, 0, &[0, 0, 0, 2])),
        PROTOCOL
    );
}

#[test]
fn push_promise_too_short_for_its_promised_stream_is_a_frame_size_error() {
    assert_eq!(
        connection_error(&raw(kind::PUSH_PROMISE, 0, 1, &[0, 0, 2])),
        FRAME_SIZE
    );
}

#[test]
fn push_promise_padding_over_the_fragment_room_is_a_protocol_error() {
    assert_eq!(
        connection_error(&raw(kind::PUSH_PROMISE, flag::PADDED, 1, &[1, 0, 0, 0, 2])),
        PROTOCOL
    );
}

// PING (section 6.7).

#[test]
fn ping_and_its_ack_are_read() {
    assert_eq!(
        decode_one(&raw(kind::PING, 0, 0, b"\x00\x01\x02\x03\x04\x05\x06\x07")),
        Frame::Ping {
            ack: false,
            payload: [0, 1, 2, 3, 4, 5, 6, 7],
        }
    );
    assert_eq!(
        decode_one(&raw(kind::PING, flag::ACK, 0, b"pingpong")),
        Frame::Ping {
            ack: true,
            payload: *b"pingpong",
        }
    );
}

#[test]
fn ping_on_a_stream_is_a_protocol_error() {
    assert_eq!(
        connection_error(&raw(kind::PING, 0, 1, b"pingpong")),
        PROTOCOL
    );
}

#[test]
fn ping_of_another_length_than_8_is_a_frame_size_error() {
    for payload in [&b"1234567"[..], b"123456789", b""] {
        assert_eq!(
            connection_error(&raw(kind::PING, 0, 0, payload)),
            FRAME_SIZE
        );
    }
}

// GOAWAY (section 6.8).

#[test]
fn goaway_is_read_with_its_debug_data() {
    let mut payload = vec![0x80, 0, 0, 9, 0, 0, 0, 0xb];
    payload.extend(b"calm down");
    assert_eq!(
        decode_one(&raw(kind::GOAWAY, 0, 0, &payload)),
        Frame::GoAway {
            last_stream_id: 9,
            code: ErrorCode::ENHANCE_YOUR_CALM,
            debug_data: Bytes::from_static(b"calm down"),
        }
    );
}

#[test]
fn goaway_on_a_stream_is_a_protocol_error() {
    assert_eq!(
        connection_error(&raw(kind::GOAWAY, 0, 1, &[0; 8])),
        PROTOCOL
    );
}

#[test]
fn goaway_shorter_than_8_bytes_is_a_frame_size_error() {
    assert_eq!(
        connection_error(&raw(kind::GOAWAY, 0, 0, &[0; 7])),
        FRAME_SIZE
    );
}

// WINDOW_UPDATE (section 6.9).

#[test]
fn window_updates_are_read_for_streams_and_the_connection() {
    assert_eq!(
        decode_one(&raw(kind::WINDOW_UPDATE, 0, 0, &[0x80, 0, 0, 1])),
        Frame::WindowUpdate {
            stream_id: 0,
            increment: 1,
        }
    );
    assert_eq!(
        decode_one(&raw(kind::WINDOW_UPDATE, 0, 3, &[0x7f, 0xff, 0xff, 0xff])),
        Frame::WindowUpdate {
            stream_id: 3,
            increment: MAX_WINDOW,
        }
    );
}

#[test]
fn a_zero_increment_is_a_stream_error_on_a_stream() {
    // The reserved bit does not make it non-zero.
    assert_eq!(
        stream_error(&raw(kind::WINDOW_UPDATE, 0, 3, &[0x80, 0, 0, 0])),
        (3, PROTOCOL)
    );
}

#[test]
fn a_zero_increment_is_a_connection_error_on_stream_0() {
    assert_eq!(
        connection_error(&raw(kind::WINDOW_UPDATE, 0, 0, &[0, 0, 0, 0])),
        PROTOCOL
    );
}

#[test]
fn window_update_of_another_length_than_4_is_a_frame_size_error() {
    for stream_id in [0, 3] {
        for payload in [&[0, 0, 1][..], &[0, 0, 0, 1, 0]] {
            assert_eq!(
                connection_error(&raw(kind::WINDOW_UPDATE, 0, stream_id, payload)),
                FRAME_SIZE
            );
        }
    }
}

// CONTINUATION (section 6.10).

#[test]
fn continuation_is_read() {
    assert_eq!(
        decode_one(&raw(kind::CONTINUATION, flag::END_HEADERS, 1, b"\x86")),
        Frame::Continuation {
            stream_id: 1,
            end_headers: true,
            fragment: Bytes::from_static(b"\x86"),
        }
    );
}

#[test]
fn continuation_on_stream_0_is_a_protocol_error() {
    assert_eq!(
        connection_error(&raw(kind::CONTINUATION, 0, 0, b"\x86")),
        PROTOCOL
    );
}

// Error codes.

#[test]
fn error_codes_print_their_names_or_their_numbers() {
    assert_eq!(ErrorCode::NO_ERROR.to_string(), "NO_ERROR");
    assert_eq!(
        ErrorCode::HTTP_1_1_REQUIRED.to_string(),
        "HTTP_1_1_REQUIRED"
    );
    assert_eq!(format!("{:?}", ErrorCode::CANCEL), "CANCEL");
    assert_eq!(ErrorCode(0xe).to_string(), "0xe");
    assert_eq!(format!("{:?}", ErrorCode(u32::MAX)), "0xffffffff");
}

#[test]
fn error_codes_have_the_rfc_values() {
    let codes = [
        ErrorCode::NO_ERROR,
        ErrorCode::PROTOCOL_ERROR,
        ErrorCode::INTERNAL_ERROR,
        ErrorCode::FLOW_CONTROL_ERROR,
        ErrorCode::SETTINGS_TIMEOUT,
        ErrorCode::STREAM_CLOSED,
        ErrorCode::FRAME_SIZE_ERROR,
        ErrorCode::REFUSED_STREAM,
        ErrorCode::CANCEL,
        ErrorCode::COMPRESSION_ERROR,
        ErrorCode::CONNECT_ERROR,
        ErrorCode::ENHANCE_YOUR_CALM,
        ErrorCode::INADEQUATE_SECURITY,
        ErrorCode::HTTP_1_1_REQUIRED,
    ];
    for (value, code) in codes.into_iter().enumerate() {
        assert_eq!(code.0 as usize, value, "{code}");
    }
}

#[test]
fn frame_errors_say_code_and_reason() {
    let error = decode(&raw(kind::PING, 0, 1, b"pingpong")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "connection error PROTOCOL_ERROR: PING on a stream"
    );
    let error = decode(&raw(kind::PRIORITY, 0, 3, &[0])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "stream 3 error FRAME_SIZE_ERROR: PRIORITY payload is not 5 bytes"
    );
}

// The writers, against the RFC's layouts.

#[test]
fn data_is_written_as_the_rfc_lays_it_out() {
    let mut out = Vec::new();
    write_data(&mut out, 3, b"body", true);
    write_data(&mut out, 3, b"", false);
    let mut expected = raw(kind::DATA, flag::END_STREAM, 3, b"body");
    expected.extend(raw(kind::DATA, 0, 3, b""));
    assert_eq!(out, expected);
}

#[test]
fn a_small_header_block_is_one_headers_frame() {
    let mut out = Vec::new();
    write_headers(&mut out, 1, b"\x88", true, DEFAULT_MAX_FRAME_SIZE);
    let flags = flag::END_STREAM | flag::END_HEADERS;
    assert_eq!(out, raw(kind::HEADERS, flags, 1, b"\x88"));
}

#[test]
fn an_empty_header_block_is_one_empty_headers_frame() {
    let mut out = Vec::new();
    write_headers(&mut out, 1, b"", false, DEFAULT_MAX_FRAME_SIZE);
    assert_eq!(out, raw(kind::HEADERS, flag::END_HEADERS, 1, b""));
}

#[test]
fn a_large_header_block_continues_in_continuation_frames() {
    let block: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
    let mut out = Vec::new();
    write_headers(&mut out, 5, &block, true, DEFAULT_MAX_FRAME_SIZE);
    // END_STREAM on HEADERS only (section 8.1), END_HEADERS on the last frame only.
    let mut expected = raw(kind::HEADERS, flag::END_STREAM, 5, &block[..16_384]);
    expected.extend(raw(kind::CONTINUATION, 0, 5, &block[16_384..32_768]));
    expected.extend(raw(
        kind::CONTINUATION,
        flag::END_HEADERS,
        5,
        &block[32_768..],
    ));
    assert_eq!(out, expected);
}

#[test]
fn a_header_block_of_exactly_the_max_frame_size_needs_no_continuation() {
    let block = vec![0x88; 16_384];
    let mut out = Vec::new();
    write_headers(&mut out, 1, &block, false, 0);
    assert_eq!(out, raw(kind::HEADERS, flag::END_HEADERS, 1, &block));
}

#[test]
fn settings_are_written_in_identifier_order() {
    let mut out = Vec::new();
    write_settings(
        &mut out,
        &Settings {
            enable_connect_protocol: Some(true),
            max_frame_size: Some(1 << 15),
            header_table_size: Some(0),
            enable_push: Some(false),
            ..Settings::default()
        },
    );
    assert_eq!(
        out,
        settings_frame(&[(0x1, 0), (0x2, 0), (0x5, 1 << 15), (0x8, 1)])
    );
    out.clear();
    write_settings(&mut out, &Settings::default());
    assert_eq!(out, settings_frame(&[]));
}

#[test]
fn the_small_frames_are_written_as_the_rfc_lays_them_out() {
    let mut out = Vec::new();
    write_settings_ack(&mut out);
    assert_eq!(out, raw(kind::SETTINGS, flag::ACK, 0, &[]));
    out.clear();
    write_ping(&mut out, true, *b"pingpong");
    assert_eq!(out, raw(kind::PING, flag::ACK, 0, b"pingpong"));
    out.clear();
    write_rst_stream(&mut out, 7, ErrorCode::REFUSED_STREAM);
    assert_eq!(out, raw(kind::RST_STREAM, 0, 7, &[0, 0, 0, 7]));
    out.clear();
    write_window_update(&mut out, 0, 0x0102_0304);
    assert_eq!(out, raw(kind::WINDOW_UPDATE, 0, 0, &[1, 2, 3, 4]));
    out.clear();
    write_goaway(&mut out, 11, ErrorCode::NO_ERROR, b"bye");
    assert_eq!(
        out,
        raw(kind::GOAWAY, 0, 0, b"\x00\x00\x00\x0b\x00\x00\x00\x00bye")
    );
}

#[test]
fn goaway_debug_data_is_cut_to_fit_any_peer() {
    let mut out = Vec::new();
    write_goaway(&mut out, 1, ErrorCode::INTERNAL_ERROR, &[b'x'; 20_000]);
    assert_eq!(out.len(), HEADER_LEN + DEFAULT_MAX_FRAME_SIZE as usize);
    let Frame::GoAway { debug_data, .. } = decode_one(&out) else {
        panic!("a GOAWAY");
    };
    assert_eq!(debug_data.len(), 16_376);
}
