//! The cases the parsers the reader replaced asserted: the relay's `EventBoundary`, the
//! fan-out's `event_end` and `UpstreamFields`, the client's `StreamDecoder`.

use super::*;

// Ported from the relay's `EventBoundary`.

#[test]
fn boundaries_follow_blank_lines_only() {
    assert!(boundary_after(&[]));
    assert!(boundary_after(&["data: a\n\n"]));
    assert!(!boundary_after(&["data: a\n"]));
    assert!(!boundary_after(&["data: a\n\ndata"]));
    assert!(boundary_after(&["data: a\r\n\r\n"]));
    assert!(boundary_after(&["data: a\r\r"]));
    assert!(boundary_after(&[": comment\n\n"]));
}

#[test]
fn boundaries_survive_any_chunking() {
    assert!(boundary_after(&["da", "ta: a", "\n", "\n"]));
    assert!(
        boundary_after(&["data: a\r\n\r"]),
        "a CR alone ends the blank line"
    );
    assert!(boundary_after(&["data: a\r\n\r", "\n"]));
    assert!(!boundary_after(&["data: a\r", "\n", "id: 1"]));
}

#[test]
fn boundaries_do_not_depend_on_taking_blocks() {
    for (input, expected) in [
        (&b""[..], true),
        (b"data: a\n\n", true),
        (b"data: a\n\ndata: b\n\n", true),
        (b"data: a\n\ndata: b\n", false),
        (b"data: a\r\n", false),
        (b"data: a\r", false),
        (b"data: a\r\r\n", true),
        (b"data: a\n\r\n", true),
        (b"\r\n", true),
        (b"\r", true),
        (b"\xEF\xBB", false),
        (b"\xEF\xBB\xBF", true),
        (b"\xEF\xBB\xBF\n", true),
    ] {
        let mut reader = SseReader::new(MAX);
        reader.push(input);
        assert_eq!(reader.at_boundary(), expected, "{input:?} untaken");
        while reader.next_block().unwrap().is_some() {}
        assert_eq!(reader.at_boundary(), expected, "{input:?} taken");
    }
}

// Ported from the fan-out's `event_end` and `UpstreamFields`.

#[test]
fn events_end_after_their_blank_line() {
    let first_len = |input: &[u8]| {
        let mut reader = SseReader::new(MAX);
        reader.push(input);
        reader.next_block().unwrap().map(|b| b.raw().len())
    };
    assert_eq!(first_len(b"data: a\n\ndata: b"), Some(9));
    assert_eq!(first_len(b"data: a\r\n\r\nx"), Some(11));
    assert_eq!(
        first_len(b"data: a\r\r"),
        None,
        "the last CR may be half a CRLF"
    );
    assert_eq!(first_len(b"data: a\r\rx"), Some(9));
    assert_eq!(first_len(b"data: a\n"), None);
    assert_eq!(first_len(b": ping\n\n"), Some(8));
}

#[test]
fn fields_are_read_like_the_spec_parser() {
    let f = fields(b"id: 7\nretry: 1500\ndata: x\n\n");
    assert_eq!(
        (f.id.as_deref(), f.retry, f.data.as_deref()),
        (Some("7"), Some(1500), Some("x"))
    );
    let comment = fields(b": keep-alive\n\n");
    assert!(comment.data.is_none() && comment.id.is_none());
    let bare = fields(b"data\nid:x\n\n");
    assert_eq!(
        (bare.id.as_deref(), bare.data.as_deref()),
        (Some("x"), Some(""))
    );
}

// Ported from the client's `StreamDecoder`.

#[test]
fn retry_is_read_from_blocks_without_data_and_across_chunks() {
    let blocks = read_chunks(&[
        b"\xef\xbb\xbfretry: 1",
        b"5\r",
        b"\r",
        b"retry:20\r\n\r\n",
        b"data: retry: 5\n\n",
        b"retry: 5s\nretry: \nretry\n\n",
        b"retry: 99999999999999999999999\n\n",
        format!("retry: 1{}\n\n", "0".repeat(100)).as_bytes(),
    ]);
    let retries: Vec<Option<u64>> = blocks.iter().map(|b| b.fields().retry).collect();
    assert_eq!(
        retries,
        [Some(15), Some(20), None, None, None, None],
        "BOM, split value, CR; no space; data; not digits; overflow; long"
    );
}

#[test]
fn utf8_split_across_chunks_is_kept_whole() {
    let snowman = "☃".as_bytes();
    let blocks = read_chunks(&[
        b"data: ",
        &snowman[..1],
        &snowman[1..],
        b"\n\ndata: a\xffb\xe2\x98",
        b"x\n\n",
    ]);
    let data: Vec<_> = blocks.iter().map(|b| b.fields().data).collect();
    assert_eq!(
        data,
        [Some("☃".to_owned()), Some("a\u{fffd}b\u{fffd}x".to_owned())]
    );
}
