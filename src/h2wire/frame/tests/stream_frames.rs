//! Decoding the frames of a stream: DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE and
//! CONTINUATION, from bytes laid out by hand.

use bytes::Bytes;

use super::*;

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
