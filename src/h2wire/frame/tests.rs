//! Decoding tests build their bytes by hand from RFC 9113's layouts (section 4.1 and the
//! frame's own section), never with the writers under test; the writers' tests compare
//! against such bytes too.

use bytes::BytesMut;

use super::*;

mod control_frames;
mod peer;
mod properties;
mod stream_frames;
mod writers;

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

fn setting(id: u16, value: u32) -> Vec<u8> {
    let mut entry = id.to_be_bytes().to_vec();
    entry.extend(value.to_be_bytes());
    entry
}

fn settings_frame(entries: &[(u16, u32)]) -> Vec<u8> {
    let payload: Vec<u8> = entries.iter().flat_map(|&(i, v)| setting(i, v)).collect();
    raw(kind::SETTINGS, 0, 0, &payload)
}

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
