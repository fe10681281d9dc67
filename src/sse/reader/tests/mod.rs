//! Tests of the SSE reader against the spec's parsing rules, including the cases the
//! parsers it replaces asserted (the client's decoder, the relay's `EventBoundary`, the
//! fan-out's `event_end` and `UpstreamFields`).

mod independent;
mod ported;

use super::*;

/// Large enough for every test stream but the size-limit ones.
const MAX: usize = 1 << 16;

/// Reads `chunks` as one stream, to the end: every block, `finish`'s included.
fn read_chunks(chunks: &[&[u8]]) -> Vec<Block> {
    let mut reader = SseReader::new(MAX);
    let mut blocks = Vec::new();
    for chunk in chunks {
        reader.push(chunk);
        while let Some(block) = reader.next_block().unwrap() {
            blocks.push(block);
        }
    }
    while let Some(block) = reader.finish().unwrap() {
        blocks.push(block);
    }
    blocks
}

fn read(input: &[u8]) -> Vec<Block> {
    read_chunks(&[input])
}

fn raws(blocks: &[Block]) -> Vec<&[u8]> {
    blocks.iter().map(|b| &b.raw()[..]).collect()
}

/// The fields of the only block of `input`.
fn fields(input: &[u8]) -> Fields {
    let blocks = read(input);
    assert_eq!(blocks.len(), 1, "{:?}", raws(&blocks));
    blocks[0].fields()
}

fn data(input: &[u8]) -> Option<String> {
    fields(input).data
}

/// The events a client dispatches for `input`.
fn events(input: &[u8]) -> Vec<MessageEvent> {
    let mut dispatcher = Dispatcher::default();
    read(input)
        .iter()
        .filter_map(|b| dispatcher.dispatch(b.fields()))
        .collect()
}

fn boundary_after(chunks: &[&str]) -> bool {
    let mut reader = SseReader::new(MAX);
    for chunk in chunks {
        reader.push(chunk.as_bytes());
        while reader.next_block().unwrap().is_some() {}
    }
    reader.at_boundary()
}

#[test]
fn lf_crlf_and_cr_all_end_lines() {
    for input in [
        &b"data: a\n\n"[..],
        b"data: a\r\n\r\n",
        b"data: a\r\r",
        b"data: a\r\n\n",
        b"data: a\n\r",
    ] {
        let blocks = read(input);
        assert_eq!(raws(&blocks), [input], "{input:?}");
        assert_eq!(blocks[0].fields().data.as_deref(), Some("a"), "{input:?}");
    }
    assert_eq!(
        data(b"data: a\r\ndata: b\rdata: c\ndata: d\r\r\n").as_deref(),
        Some("a\nb\nc\nd")
    );
}

#[test]
fn a_final_cr_waits_for_the_next_byte() {
    let mut reader = SseReader::new(MAX);
    reader.push(b"data: a\r\r");
    assert_eq!(
        reader.next_block().unwrap(),
        None,
        "the CR may be half a CRLF"
    );
    reader.push(b"\n");
    let block = reader.next_block().unwrap().unwrap();
    assert_eq!(
        &block.raw()[..],
        b"data: a\r\r\n",
        "the LF belongs to the block"
    );
    assert_eq!(reader.next_block().unwrap(), None);

    reader.push(b"data: b\r\r");
    assert_eq!(reader.next_block().unwrap(), None);
    reader.push(b"data: c");
    let block = reader.next_block().unwrap().unwrap();
    assert_eq!(
        &block.raw()[..],
        b"data: b\r\r",
        "anything but LF ends the wait"
    );
    assert_eq!(reader.next_block().unwrap(), None);
}

#[test]
fn a_cr_split_from_its_lf_is_one_line_end() {
    let blocks = read_chunks(&[b"data: a\r", b"\n\r", b"\n", b"data: b\n\n"]);
    assert_eq!(raws(&blocks), [&b"data: a\r\n\r\n"[..], b"data: b\n\n"]);
    // CR, LF in the next chunk, is one line end, not a line end and a blank line.
    let blocks = read_chunks(&[b"data: a\r", b"\ndata: b\r", b"\n\r\n"]);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].fields().data.as_deref(), Some("a\nb"));
}

#[test]
fn finish_ends_a_final_cr_and_discards_an_unfinished_event() {
    assert_eq!(raws(&read(b"data: a\n\r")), [&b"data: a\n\r"[..]]);
    assert_eq!(raws(&read(b"data: a\r\r")), [&b"data: a\r\r"[..]]);
    // The spec dispatches no event that the end of the stream cut short.
    assert!(read(b"data: a\n").is_empty());
    assert!(read(b"data: a\r").is_empty());
    assert!(read(b"data: a").is_empty());
    assert_eq!(raws(&read(b"data: a\n\ndata: b\n")), [&b"data: a\n\n"[..]]);
}

#[test]
fn the_bom_is_ignored_once_at_the_very_start() {
    let blocks = read(b"\xEF\xBB\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\n");
    assert_eq!(
        raws(&blocks),
        [&b"data: a\n\n"[..], b"\xEF\xBB\xBFdata: b\n\n"],
        "the first block's bytes leave the BOM out"
    );
    assert_eq!(blocks[0].fields().data.as_deref(), Some("a"));
    // The second BOM is part of the field name, so the field is unknown.
    assert_eq!(blocks[1].fields(), Fields::default());

    let split = read_chunks(&[b"\xEF", b"\xBB", b"\xBF", b"data: a\n\n"]);
    assert_eq!(raws(&split), [&b"data: a\n\n"[..]]);
    let twice = read(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n");
    assert_eq!(twice[0].fields().data, None, "only one BOM is ignored");
    // Bytes that only start like a BOM are kept.
    let almost = read_chunks(&[b"\xEF\xBB", b"x: 1\n\n"]);
    assert_eq!(raws(&almost), [&b"\xEF\xBBx: 1\n\n"[..]]);
    assert_eq!(raws(&read(b"\xEF\n\n")), [&b"\xEF\n\n"[..]]);
}

#[test]
fn comments_are_neither_fields_nor_events() {
    let blocks = read(b": hello\n:data: x\n\n");
    assert_eq!(blocks[0].fields(), Fields::default());
    assert_eq!(
        blocks[0].lines().collect::<Vec<_>>(),
        [Line::Comment(b" hello"), Line::Comment(b"data: x")]
    );
    assert!(events(b": ping\n\n").is_empty());
}

#[test]
fn a_line_without_colon_is_a_field_with_an_empty_value() {
    assert_eq!(data(b"data\n\n").as_deref(), Some(""));
    assert_eq!(data(b"data\ndata\n\n").as_deref(), Some("\n"));
    assert_eq!(fields(b"id\n\n").id.as_deref(), Some(""));
    assert_eq!(fields(b"event\n\n").event.as_deref(), Some(""));
}

#[test]
fn one_space_after_the_colon_is_dropped() {
    assert_eq!(data(b"data:x\n\n").as_deref(), Some("x"));
    assert_eq!(data(b"data: x\n\n").as_deref(), Some("x"));
    assert_eq!(data(b"data:  x \n\n").as_deref(), Some(" x "));
    assert_eq!(data(b"data:\tx\n\n").as_deref(), Some("\tx"));
    assert_eq!(
        data(b"data: a: b\n\n").as_deref(),
        Some("a: b"),
        "the first colon"
    );
}

#[test]
fn data_lines_are_joined_with_lf() {
    assert_eq!(
        data(b"data: a\ndata: b\ndata: c\n\n").as_deref(),
        Some("a\nb\nc")
    );
    assert_eq!(
        data(b"data: a\nid: 1\ndata: b\n\n").as_deref(),
        Some("a\nb")
    );
    assert_eq!(data(b"data: a\ndata:\n\n").as_deref(), Some("a\n"));
    assert_eq!(data(b"data:\ndata: a\n\n").as_deref(), Some("\na"));
    assert_eq!(data(b"id: 1\n\n"), None, "no data field: no data");
}

#[test]
fn an_empty_data_line_makes_an_event_with_empty_data() {
    let events = events(b"data:\n\ndata\n\n");
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.data.is_empty()));
}

#[test]
fn an_id_with_nul_is_ignored() {
    assert_eq!(fields(b"id: a\0b\n\n").id, None);
    assert_eq!(
        fields(b"id: 1\nid: a\0b\n\n").id.as_deref(),
        Some("1"),
        "the earlier id stays"
    );
    assert_eq!(fields(b"id: 1\nid: 2\n\n").id.as_deref(), Some("2"));
    assert_eq!(
        fields(b"data: a\0b\n\n").data.as_deref(),
        Some("a\0b"),
        "NUL is fine in data"
    );
}

#[test]
fn retry_takes_ascii_digits_only() {
    let retry = |value: &str| fields(format!("retry: {value}\n\n").as_bytes()).retry;
    assert_eq!(retry("1500"), Some(1500));
    assert_eq!(retry("0"), Some(0));
    assert_eq!(retry("007"), Some(7));
    assert_eq!(retry("18446744073709551615"), Some(u64::MAX));
    for ignored in [
        "",
        "15s",
        "1.5",
        "+5",
        "-1",
        " 5",
        "5 ",
        "1_000",
        "\u{0663}", // ARABIC-INDIC DIGIT THREE: a digit, but not ASCII
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        assert_eq!(retry(ignored), None, "{ignored:?}");
    }
    assert_eq!(fields(b"retry\n\n").retry, None);
    assert_eq!(fields(b"retry:7\n\n").retry, Some(7));
    assert_eq!(
        fields(b"retry: 5\nretry: x\n\n").retry,
        Some(5),
        "an ignored field changes nothing"
    );
    assert_eq!(fields(b"retry: 5\nretry: 6\n\n").retry, Some(6));
}

#[test]
fn unknown_fields_are_ignored_and_names_are_case_sensitive() {
    assert_eq!(
        fields(b"foo: bar\nDATA: x\nData: y\n data: z\nid : 1\n\n"),
        Fields::default()
    );
}

#[test]
fn the_last_event_field_names_the_type() {
    assert_eq!(
        fields(b"event: a\nevent: b\ndata\n\n").event.as_deref(),
        Some("b")
    );
}

#[test]
fn dispatch_defaults_to_message_and_carries_the_last_event_id() {
    let events = events(
        b"id: 1\n\n\
          data: a\n\n\
          event: tick\nid: 2\nretry: 10\ndata: b\n\n\
          event:\ndata: c\n\n\
          id\ndata: d\n\n",
    );
    let summary: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.last_event_id.as_str(),
                e.event_type.as_str(),
                e.data.as_str(),
                e.retry,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("1", "message", "a", None),
            ("2", "tick", "b", Some(10)),
            ("2", "message", "c", None),
            ("", "message", "d", None),
        ]
    );
}

#[test]
fn blocks_without_data_dispatch_nothing_but_set_the_last_event_id() {
    let mut dispatcher = Dispatcher::default();
    for input in [
        &b": comment\n\n"[..],
        b"event: x\n\n",
        b"retry: 5\n\n",
        b"\n",
        b"id: 7\n\n",
    ] {
        let blocks = read(input);
        assert_eq!(dispatcher.dispatch(blocks[0].fields()), None, "{input:?}");
    }
    assert_eq!(dispatcher.last_event_id(), "7");
    // The event type does not carry over from a block without data.
    let event = dispatcher.dispatch(fields(b"data: x\n\n")).unwrap();
    assert_eq!(
        (event.last_event_id.as_str(), event.event_type.as_str()),
        ("7", "message")
    );
}

#[test]
fn a_lone_blank_line_is_a_block_of_its_own() {
    assert_eq!(
        raws(&read(b"\ndata: a\n\n\n\r\n")),
        [&b"\n"[..], b"data: a\n\n", b"\n", b"\r\n"]
    );
    assert_eq!(events(b"\n\n\r\r").len(), 0);
}

/// Blocks of a stream that uses every line end, a BOM, comments, multi-byte characters and
/// invalid UTF-8, cut into two and three chunks at every position, and byte by byte.
#[test]
fn any_chunking_gives_the_same_blocks() {
    let stream: &[u8] = b"\xEF\xBB\xBF: hello\r\n\r\n\
        id: 1\revent: tick\rdata: caf\xC3\xA9 \xE2\x98\x83\r\r\
        data\n\n\
        data: bad \xff \xE2\x98\r\nretry: 42\n\n\n\
        : tail\r\n\r\n\
        id: 2\ndata: x\r\r\
        data: cut";
    let whole = read(stream);
    assert_eq!(whole.len(), 7);
    // The blocks put together are the stream, but for its BOM and the unfinished event.
    let joined: Vec<u8> = whole.iter().flat_map(|b| b.raw().to_vec()).collect();
    assert_eq!(joined, stream[3..stream.len() - b"data: cut".len()]);

    let same = |blocks: Vec<Block>, how: &str| {
        assert_eq!(raws(&blocks), raws(&whole), "{how}");
        let parsed: Vec<Fields> = blocks.iter().map(Block::fields).collect();
        let expected: Vec<Fields> = whole.iter().map(Block::fields).collect();
        assert_eq!(parsed, expected, "{how}");
    };
    for i in 0..=stream.len() {
        for j in i..=stream.len() {
            let chunks = [&stream[..i], &stream[i..j], &stream[j..]];
            same(read_chunks(&chunks), &format!("cut at {i} and {j}"));
        }
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    same(read_chunks(&bytes), "byte by byte");
}

#[test]
fn a_block_longer_than_the_limit_fails() {
    let block = b"data: 0123456789\n\n"; // 18 bytes
    for max in [17, 18] {
        let mut reader = SseReader::new(max);
        reader.push(block);
        let result = reader.next_block().map(|b| b.map(Block::into_raw));
        if max == 18 {
            assert_eq!(result, Ok(Some(Bytes::from_static(block))), "at the limit");
        } else {
            assert_eq!(
                result,
                Err(BlockTooLarge { limit: 17 }),
                "complete but too long"
            );
        }
    }

    // The verdict does not depend on the chunking: an unfinished block fails as soon as it
    // is longer than the limit.
    for cut in 0..=block.len() {
        let mut reader = SseReader::new(17);
        reader.push(&block[..cut]);
        let first = reader.next_block();
        reader.push(&block[cut..]);
        let second = reader.next_block();
        assert!(first.is_err() || second.is_err(), "cut at {cut}");
    }
    let mut reader = SseReader::new(17);
    reader.push(b"data: 012345678901"); // 18 bytes, and no line end yet
    assert_eq!(reader.next_block(), Err(BlockTooLarge { limit: 17 }));
    // The failure sticks, and later input is not buffered.
    reader.push(b"\n\ndata: a\n\n");
    assert_eq!(reader.next_block(), Err(BlockTooLarge { limit: 17 }));
    assert_eq!(reader.finish(), Err(BlockTooLarge { limit: 17 }));
    assert!(!reader.at_boundary());
    assert_eq!(reader.unfinished_retry(), None);

    // Earlier blocks come out before the failure; one within the limit still passes.
    let mut reader = SseReader::new(17);
    reader.push(b"data: a\n\ndata: 0123456789ab");
    assert!(reader.next_block().unwrap().is_some());
    assert!(reader.next_block().is_err());
    assert_eq!(
        BlockTooLarge { limit: 17 }.to_string(),
        "event block longer than 17 bytes"
    );
}

#[test]
fn a_final_cr_counts_toward_the_limit_once_its_block_is_known() {
    // "data: 01234567\n\r" is 16 bytes: within 16 until an LF makes it 17.
    let mut reader = SseReader::new(16);
    reader.push(b"data: 01234567\n\r");
    assert_eq!(reader.next_block(), Ok(None));
    reader.push(b"x");
    assert!(reader.next_block().unwrap().is_some());
    let mut reader = SseReader::new(16);
    reader.push(b"data: 01234567\n\r");
    assert_eq!(reader.next_block(), Ok(None));
    reader.push(b"\n");
    assert!(reader.next_block().is_err());
}

#[test]
fn invalid_utf8_is_replaced_and_the_bytes_kept() {
    let blocks = read(b"data: a\xffb\nid: \xC0\x80\nevent: \xE2\x98\n\n");
    assert_eq!(
        &blocks[0].raw()[..],
        b"data: a\xffb\nid: \xC0\x80\nevent: \xE2\x98\n\n"
    );
    let fields = blocks[0].fields();
    assert_eq!(fields.data.as_deref(), Some("a\u{fffd}b"));
    assert_eq!(fields.id.as_deref(), Some("\u{fffd}\u{fffd}"));
    assert_eq!(
        fields.event.as_deref(),
        Some("\u{fffd}"),
        "a sequence cut by the line end"
    );
    assert_eq!(
        data(b"\xffdata: x\n\n"),
        None,
        "an invalid name is no known name"
    );
}

#[test]
fn multibyte_characters_split_across_chunks_stay_whole() {
    let input = "data: ☃ café 🦀\n\n".as_bytes();
    for cut in 0..=input.len() {
        let blocks = read_chunks(&[&input[..cut], &input[cut..]]);
        assert_eq!(
            blocks[0].fields().data.as_deref(),
            Some("☃ café 🦀"),
            "cut at {cut}"
        );
    }
}

#[test]
fn lines_are_fields_and_comments_undecoded() {
    let blocks = read(b"data: a\xff\r\n:c\rid\nretry:  5\n\n");
    assert_eq!(
        blocks[0].lines().collect::<Vec<_>>(),
        [
            Line::Field {
                name: b"data",
                value: b"a\xff"
            },
            Line::Comment(b"c"),
            Line::Field {
                name: b"id",
                value: b""
            },
            Line::Field {
                name: b"retry",
                value: b" 5"
            },
        ]
    );
}

#[test]
fn retry_of_an_unfinished_event_still_counts() {
    let unfinished = |chunks: &[&[u8]]| {
        let mut reader = SseReader::new(MAX);
        for chunk in chunks {
            reader.push(chunk);
            while reader.next_block().unwrap().is_some() {}
        }
        while reader.finish().unwrap().is_some() {}
        reader.unfinished_retry()
    };
    assert_eq!(unfinished(&[b"retry: 10\ndata: x\n"]), Some(10));
    assert_eq!(
        unfinished(&[b"retry: 10\nretry: 20\r", b"\ndata"]),
        Some(20)
    );
    assert_eq!(
        unfinished(&[b"retry: 7\r"]),
        Some(7),
        "the stream is over: CR ends the line"
    );
    assert_eq!(
        unfinished(&[b"retry: 10"]),
        None,
        "a line the stream cut short"
    );
    assert_eq!(unfinished(&[b"retry: x\n"]), None);
    assert_eq!(
        unfinished(&[b"retry: 10\n\ndata: x\n"]),
        None,
        "a finished block's retry is its own"
    );
    assert_eq!(unfinished(&[b"\xEF\xBB"]), None);
}
