//! Decoding the connection's control frames: SETTINGS, PING, GOAWAY and WINDOW_UPDATE, from
//! bytes laid out by hand.

use bytes::Bytes;

use super::*;

// SETTINGS (section 6.5).

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
