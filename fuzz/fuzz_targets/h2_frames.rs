//! The HTTP/2 frame reader, on what a client sends (its preface, if the input starts with
//! one, is skipped as the connection skips it): frame after frame, as a connection reads
//! them, until a connection error or the end of the input.
//!
//! Besides not panicking: every read takes nothing or one whole frame off the buffer (the
//! length its header declares), and every frame that has a writer, written again, reads
//! back the same, but for what the writers do not send (padding, priority fields).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ssegate::h2wire::frame::{
    write_data, write_goaway, write_headers, write_ping, write_rst_stream, write_settings,
    write_settings_ack, write_window_update, Frame, FrameError, FrameHeader, FrameReader,
    DEFAULT_MAX_FRAME_SIZE, HEADER_LEN, PREFACE,
};

fuzz_target!(|input: &[u8]| {
    let reader = FrameReader::new();
    let mut buf = BytesMut::from(input.strip_prefix(PREFACE).unwrap_or(input));
    loop {
        let before = buf.len();
        let declared = buf
            .first_chunk::<HEADER_LEN>()
            .map(|head| HEADER_LEN + FrameHeader::parse(head).length as usize);
        let result = reader.decode(&mut buf);
        let consumed = before - buf.len();
        match result {
            Ok(None) => {
                assert_eq!(consumed, 0);
                assert!(declared.is_none_or(|whole| whole > before));
                return;
            }
            Ok(Some(frame)) => {
                assert_eq!(Some(consumed), declared, "{frame:?}");
                write_again(&reader, frame);
            }
            Err(error @ FrameError::Stream { .. }) => {
                assert_eq!(Some(consumed), declared, "{error}");
            }
            Err(error @ FrameError::Connection { .. }) => {
                assert!(consumed == 0 || Some(consumed) == declared, "{error}");
                return;
            }
        }
    }
});

/// Writes `frame` with its writer, if it has one, and reads it back.
fn write_again(reader: &FrameReader, frame: Frame) {
    let mut out = Vec::new();
    // What the writers cannot say: padding (DATA's flow_len then counts the data alone),
    // HEADERS' priority fields, and a header block left open (one whole block is written).
    let expected = match frame {
        Frame::Data {
            stream_id,
            end_stream,
            data,
            ..
        } => {
            write_data(&mut out, stream_id, &data, end_stream);
            Frame::Data {
                stream_id,
                end_stream,
                flow_len: data.len() as u32,
                data,
            }
        }
        Frame::Headers {
            stream_id,
            end_stream,
            fragment,
            ..
        } => {
            write_headers(
                &mut out,
                stream_id,
                &fragment,
                end_stream,
                DEFAULT_MAX_FRAME_SIZE,
            );
            Frame::Headers {
                stream_id,
                end_stream,
                end_headers: true,
                priority: None,
                fragment,
            }
        }
        Frame::Settings(settings) => {
            write_settings(&mut out, &settings);
            Frame::Settings(settings)
        }
        Frame::SettingsAck => {
            write_settings_ack(&mut out);
            Frame::SettingsAck
        }
        Frame::Ping { ack, payload } => {
            write_ping(&mut out, ack, payload);
            Frame::Ping { ack, payload }
        }
        Frame::GoAway {
            last_stream_id,
            code,
            debug_data,
        } => {
            write_goaway(&mut out, last_stream_id, code, &debug_data);
            Frame::GoAway {
                last_stream_id,
                code,
                debug_data,
            }
        }
        Frame::RstStream { stream_id, code } => {
            write_rst_stream(&mut out, stream_id, code);
            Frame::RstStream { stream_id, code }
        }
        Frame::WindowUpdate {
            stream_id,
            increment,
        } => {
            write_window_update(&mut out, stream_id, increment);
            Frame::WindowUpdate {
                stream_id,
                increment,
            }
        }
        Frame::Priority { .. }
        | Frame::PushPromise { .. }
        | Frame::Continuation { .. }
        | Frame::Unknown { .. } => return,
    };
    let mut again = BytesMut::from(&out[..]);
    assert_eq!(reader.decode(&mut again), Ok(Some(expected)));
    assert!(again.is_empty(), "{} bytes left of {out:?}", again.len());
}
