//! Properties of the codec: what the writers produce reads back the same, any bytes at all
//! leave the reader standing with a whole frame or nothing consumed, and how a stream is
//! cut into reads changes nothing.

use bytes::BytesMut;
use proptest::prelude::*;

use super::super::*;
use super::raw;

/// A frame as the writers take it, and what reading it back must give.
#[derive(Clone, Debug)]
enum Written {
    Data {
        stream_id: u32,
        data: Vec<u8>,
        end_stream: bool,
    },
    /// A block that fits one frame; split blocks have their own property.
    Headers {
        stream_id: u32,
        block: Vec<u8>,
        end_stream: bool,
    },
    Settings(Settings),
    SettingsAck,
    Ping {
        ack: bool,
        payload: [u8; 8],
    },
    GoAway {
        last_stream_id: u32,
        code: ErrorCode,
        debug_data: Vec<u8>,
    },
    RstStream {
        stream_id: u32,
        code: ErrorCode,
    },
    WindowUpdate {
        stream_id: u32,
        increment: u32,
    },
}

impl Written {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Data {
                stream_id,
                data,
                end_stream,
            } => write_data(out, *stream_id, data, *end_stream),
            Self::Headers {
                stream_id,
                block,
                end_stream,
            } => write_headers(out, *stream_id, block, *end_stream, DEFAULT_MAX_FRAME_SIZE),
            Self::Settings(settings) => write_settings(out, settings),
            Self::SettingsAck => write_settings_ack(out),
            Self::Ping { ack, payload } => write_ping(out, *ack, *payload),
            Self::GoAway {
                last_stream_id,
                code,
                debug_data,
            } => write_goaway(out, *last_stream_id, *code, debug_data),
            Self::RstStream { stream_id, code } => write_rst_stream(out, *stream_id, *code),
            Self::WindowUpdate {
                stream_id,
                increment,
            } => write_window_update(out, *stream_id, *increment),
        }
    }

    fn expected(&self) -> Frame {
        match self.clone() {
            Self::Data {
                stream_id,
                data,
                end_stream,
            } => Frame::Data {
                stream_id,
                end_stream,
                flow_len: data.len() as u32,
                data: data.into(),
            },
            Self::Headers {
                stream_id,
                block,
                end_stream,
            } => Frame::Headers {
                stream_id,
                end_stream,
                end_headers: true,
                priority: None,
                fragment: block.into(),
            },
            Self::Settings(settings) => Frame::Settings(settings),
            Self::SettingsAck => Frame::SettingsAck,
            Self::Ping { ack, payload } => Frame::Ping { ack, payload },
            Self::GoAway {
                last_stream_id,
                code,
                debug_data,
            } => Frame::GoAway {
                last_stream_id,
                code,
                debug_data: debug_data.into(),
            },
            Self::RstStream { stream_id, code } => Frame::RstStream { stream_id, code },
            Self::WindowUpdate {
                stream_id,
                increment,
            } => Frame::WindowUpdate {
                stream_id,
                increment,
            },
        }
    }
}

fn stream_id() -> impl Strategy<Value = u32> {
    prop_oneof![1..=9u32, 1..=MAX_WINDOW]
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![0..=0xdu32, any::<u32>()].prop_map(ErrorCode)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..64),
        1 => prop::collection::vec(any::<u8>(), 0..=max),
    ]
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        (
            prop::option::of(any::<u32>()),
            prop::option::of(any::<bool>()),
            prop::option::of(any::<u32>()),
            prop::option::of(0..=MAX_WINDOW),
        ),
        (
            prop::option::of(DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT),
            prop::option::of(any::<u32>()),
            prop::option::of(any::<bool>()),
        ),
    )
        .prop_map(
            |(
                (header_table_size, enable_push, max_concurrent_streams, initial_window_size),
                (max_frame_size, max_header_list_size, enable_connect_protocol),
            )| Settings {
                header_table_size,
                enable_push,
                max_concurrent_streams,
                initial_window_size,
                max_frame_size,
                max_header_list_size,
                enable_connect_protocol,
            },
        )
}

fn written() -> impl Strategy<Value = Written> {
    let max = DEFAULT_MAX_FRAME_SIZE as usize;
    prop_oneof![
        (stream_id(), bytes(max), any::<bool>()).prop_map(|(stream_id, data, end_stream)| {
            Written::Data {
                stream_id,
                data,
                end_stream,
            }
        }),
        (stream_id(), bytes(max), any::<bool>()).prop_map(|(stream_id, block, end_stream)| {
            Written::Headers {
                stream_id,
                block,
                end_stream,
            }
        }),
        settings().prop_map(Written::Settings),
        Just(Written::SettingsAck),
        (any::<bool>(), any::<[u8; 8]>()).prop_map(|(ack, payload)| Written::Ping { ack, payload }),
        (0..=MAX_WINDOW, error_code(), bytes(max - 8)).prop_map(
            |(last_stream_id, code, debug_data)| Written::GoAway {
                last_stream_id,
                code,
                debug_data,
            }
        ),
        (stream_id(), error_code())
            .prop_map(|(stream_id, code)| Written::RstStream { stream_id, code }),
        (0..=MAX_WINDOW, 1..=MAX_WINDOW).prop_map(|(stream_id, increment)| {
            Written::WindowUpdate {
                stream_id,
                increment,
            }
        }),
    ]
}

/// A header block of up to four frames' worth. Its bytes are a hash of their position
/// (generating 70 kB byte by byte is slow), so a fragment lost, repeated or out of place
/// shows.
fn header_block() -> impl Strategy<Value = Vec<u8>> {
    (0..70_000u32, any::<u32>()).prop_map(|(len, seed)| {
        (0..len)
            .map(|i| ((i.wrapping_mul(0x9e37_79b1) ^ seed) >> 24) as u8)
            .collect()
    })
}

/// Frames and junk: headers of every known type and some unknown ones, with any flags,
/// stream and payload, and a length that is mostly right; or bytes with no structure.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    let framed = (
        0..12u8,
        any::<u8>(),
        prop_oneof![Just(0u32), 1..4u32, any::<u32>()],
        prop::collection::vec(any::<u8>(), 0..24),
        prop_oneof![4 => Just(None), 1 => any::<u8>().prop_map(Some)],
    )
        .prop_map(|(kind, flags, stream_id, payload, wrong_len)| {
            let mut bytes = raw(kind, flags, stream_id, &payload);
            if let Some(len) = wrong_len {
                bytes[2] = len;
            }
            bytes
        });
    prop_oneof![
        prop::collection::vec(framed, 0..6).prop_map(|frames| frames.concat()),
        prop::collection::vec(any::<u8>(), 0..80),
    ]
}

/// What a connection would make of `chunks` arriving one after another: every result up
/// to the first connection error (after which it would stop reading).
fn read_all(chunks: &[&[u8]]) -> Vec<Result<Frame, FrameError>> {
    let reader = FrameReader::new();
    let mut buf = BytesMut::new();
    let mut results = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match reader.decode(&mut buf) {
                Ok(None) => break,
                Ok(Some(frame)) => results.push(Ok(frame)),
                Err(error @ FrameError::Stream { .. }) => results.push(Err(error)),
                Err(error @ FrameError::Connection { .. }) => {
                    results.push(Err(error));
                    return results;
                }
            }
        }
    }
    results
}

fn bytewise(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.chunks(1).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn what_the_writers_write_reads_back_the_same(frames in prop::collection::vec(written(), 1..8)) {
        let mut out = Vec::new();
        for frame in &frames {
            frame.write(&mut out);
        }
        let expected: Vec<_> = frames.iter().map(|f| Ok(f.expected())).collect();
        prop_assert_eq!(read_all(&[&out]), expected);
    }

    #[test]
    fn a_header_block_is_split_at_the_max_frame_size_and_reassembles(
        block in header_block(),
        max_frame_size in prop_oneof![Just(DEFAULT_MAX_FRAME_SIZE), DEFAULT_MAX_FRAME_SIZE..40_000],
        stream_id in stream_id(),
        end_stream in any::<bool>(),
    ) {
        let mut out = Vec::new();
        write_headers(&mut out, stream_id, &block, end_stream, max_frame_size);
        let mut reader = FrameReader::new();
        reader.set_max_frame_size(max_frame_size);
        let mut buf = BytesMut::from(&out[..]);
        let mut frames = Vec::new();
        while let Some(frame) = reader.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(frames.len(), block.len().div_ceil(max_frame_size as usize).max(1));
        let mut reassembled = Vec::new();
        let last = frames.len() - 1;
        for (i, frame) in frames.into_iter().enumerate() {
            let (id, end_headers, fragment) = match frame {
                Frame::Headers { stream_id, end_stream: es, end_headers, priority: None, fragment }
                    if i == 0 =>
                {
                    prop_assert_eq!(es, end_stream);
                    (stream_id, end_headers, fragment)
                }
                Frame::Continuation { stream_id, end_headers, fragment } if i > 0 => {
                    (stream_id, end_headers, fragment)
                }
                other => return Err(TestCaseError::fail(format!("frame {i}: {other:?}"))),
            };
            prop_assert_eq!(id, stream_id);
            prop_assert_eq!(end_headers, i == last);
            reassembled.extend_from_slice(&fragment);
        }
        prop_assert_eq!(reassembled, block);
    }

    #[test]
    fn any_bytes_leave_a_whole_frame_consumed_or_nothing(bytes in noise()) {
        let reader = FrameReader::new();
        let mut buf = BytesMut::from(&bytes[..]);
        loop {
            let before = buf.len();
            let declared = buf
                .first_chunk::<HEADER_LEN>()
                .map(|head| HEADER_LEN + FrameHeader::parse(head).length as usize);
            let result = reader.decode(&mut buf);
            let consumed = before - buf.len();
            match result {
                Ok(None) => {
                    prop_assert_eq!(consumed, 0);
                    prop_assert!(declared.is_none_or(|whole| whole > before));
                    break;
                }
                Ok(Some(_)) | Err(FrameError::Stream { .. }) => {
                    prop_assert_eq!(Some(consumed), declared);
                }
                Err(FrameError::Connection { .. }) => {
                    prop_assert!(consumed == 0 || Some(consumed) == declared);
                    break;
                }
            }
        }
    }

    #[test]
    fn a_stream_read_a_byte_at_a_time_reads_as_it_does_whole(bytes in noise()) {
        prop_assert_eq!(read_all(&bytewise(&bytes)), read_all(&[&bytes]));
    }

    #[test]
    fn written_frames_read_a_byte_at_a_time_read_as_they_do_whole(
        frames in prop::collection::vec(written(), 1..6),
    ) {
        let mut out = Vec::new();
        for frame in &frames {
            frame.write(&mut out);
        }
        let whole = read_all(&[&out]);
        prop_assert_eq!(whole.len(), frames.len());
        prop_assert_eq!(read_all(&bytewise(&out)), whole);
    }
}

#[test]
fn a_mixed_stream_read_a_byte_at_a_time_yields_the_same_frames() {
    // Hand-laid frames of every type, padded and unpadded, one stream error among them.
    let mut bytes = raw(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
    bytes.extend(raw(kind::SETTINGS, flag::ACK, 0, &[]));
    bytes.extend(raw(kind::WINDOW_UPDATE, 0, 0, &[0, 1, 0, 0]));
    bytes.extend(raw(
        kind::HEADERS,
        flag::PRIORITY,
        1,
        &[0, 0, 0, 0, 7, 0x82],
    ));
    bytes.extend(raw(kind::CONTINUATION, flag::END_HEADERS, 1, &[0x86]));
    bytes.extend(raw(kind::DATA, flag::PADDED, 1, &[2, b'h', b'i', 0, 0]));
    bytes.extend(raw(kind::PRIORITY, 0, 1, &[0, 0, 0, 1, 0]));
    bytes.extend(raw(kind::DATA, flag::END_STREAM, 1, b"!"));
    bytes.extend(raw(
        kind::PUSH_PROMISE,
        flag::END_HEADERS,
        1,
        &[0, 0, 0, 2, 0x82],
    ));
    bytes.extend(raw(0x42, 0, 0, b"an extension"));
    bytes.extend(raw(kind::RST_STREAM, 0, 1, &[0, 0, 0, 8]));
    bytes.extend(raw(kind::PING, 0, 0, b"pingpong"));
    bytes.extend(raw(kind::GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0]));
    let whole = read_all(&[&bytes]);
    assert_eq!(whole.len(), 13);
    assert_eq!(whole.iter().filter(|r| r.is_err()).count(), 1, "{whole:?}");
    assert_eq!(read_all(&bytewise(&bytes)), whole);
}
