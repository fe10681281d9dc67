//! The writers, against the RFC's layouts.

use super::*;

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
fn parts_are_written_as_one_data_frame() {
    let mut out = Vec::new();
    write_data_parts(
        &mut out,
        5,
        &[&b"data: 1\n\n"[..], b"", b"data: 2\n\n"],
        false,
    );
    assert_eq!(out, raw(kind::DATA, 0, 5, b"data: 1\n\ndata: 2\n\n"));
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
