//! The encoder's policy (what it indexes, what it Huffman-codes, the size updates it
//! owes), and the encoder and decoder together on arbitrary header lists.

use proptest::prelude::*;

use super::{decode, encode, fields, Fields, DATE_1, DATE_2};
use crate::h2wire::hpack::{huffman, Decoder, Encoder, DEFAULT_TABLE_SIZE};

/// The head of an event-stream response, as ssegate sends it.
fn event_stream_response(date: &str) -> Fields {
    fields(&[
        (":status", "200"),
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
        ("x-accel-buffering", "no"),
        ("access-control-allow-origin", "https://app.example.com"),
        ("vary", "origin"),
        ("date", date),
    ])
}

#[test]
fn a_second_event_stream_response_costs_a_byte_a_field_but_the_date() {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
    let first = event_stream_response(DATE_1);
    let first_block = encode(&mut encoder, &first);
    assert_eq!(decode(&mut decoder, &first_block).unwrap(), first);
    let second = event_stream_response(DATE_2);
    let block = encode(&mut encoder, &second);
    assert_eq!(decode(&mut decoder, &block).unwrap(), second);
    // Six indexed fields, then the date: a literal without indexing, by the static name
    // index 33 (0x0f 0x12), its value Huffman-coded (0x96: 22 bytes).
    assert!(block[..6].iter().all(|&b| b & 0x80 != 0), "{block:02x?}");
    assert_eq!(block[6..9], [0x0f, 0x12, 0x96]);
    assert_eq!(block.len(), 9 + 22);
    // The date was not indexed: the table holds the five literals of the first response.
    assert_eq!(decoder.table().len(), 5);
}

#[test]
fn secrets_are_never_indexed() {
    let mut encoder = Encoder::new();
    let list = fields(&[("cookie", "session=1"), ("authorization", "Bearer x")]);
    let first = encode(&mut encoder, &list);
    // Never-indexed literals (0001), names by static index 32 and 23 (15 + 17, 15 + 8).
    assert_eq!(first[..2], [0x1f, 0x11]);
    let second = encode(&mut encoder, &list);
    assert_eq!(first, second, "nothing was added to the table");
    let mut decoder = Decoder::new(4096);
    assert_eq!(decode(&mut decoder, &first).unwrap(), list);
    assert_eq!(decoder.table().len(), 0);
}

#[test]
fn long_values_are_not_indexed() {
    let mut encoder = Encoder::new();
    let list = vec![(b"x-long".to_vec(), vec![b'a'; 300])];
    let first = encode(&mut encoder, &list);
    assert_eq!(
        first[0], 0x00,
        "a literal without indexing, by a literal name"
    );
    assert_eq!(encode(&mut encoder, &list), first);
}

#[test]
fn strings_are_huffman_coded_only_when_shorter() {
    let mut encoder = Encoder::new();
    // Letters code to 5 to 7 bits; bytes above 0x7f to 20 bits or more.
    let list = vec![
        (b"x-text".to_vec(), b"text/event-stream".to_vec()),
        (b"x-binary".to_vec(), vec![0xfe, 0xff, 0x80]),
    ];
    let block = encode(&mut encoder, &list);
    let mut expected = vec![0x40];
    for text in [&b"x-text"[..], b"text/event-stream"] {
        let len = huffman::encoded_len(text);
        assert!(len < text.len());
        expected.push(0x80 | len as u8);
        huffman::encode(text, &mut expected);
    }
    expected.extend_from_slice(&[0x40, 0x86]);
    huffman::encode(b"x-binary", &mut expected);
    expected.extend_from_slice(&[0x03, 0xfe, 0xff, 0x80]);
    assert_eq!(block, expected);
    assert_eq!(decode(&mut Decoder::new(4096), &block).unwrap(), list);
}

#[test]
fn a_table_that_shrank_and_grew_between_blocks_is_signalled_twice() {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    let list = fields(&[("x-custom", "1")]);
    decode(&mut decoder, &encode(&mut encoder, &list)).unwrap();
    encoder.set_max_table_size(0);
    encoder.set_max_table_size(8192);
    let block = encode(&mut encoder, &list);
    // 0, then 4096 (ours is never bigger), then the field as a new literal.
    assert_eq!(block[..4], [0x20, 0x3f, 0xe1, 0x1f]);
    assert_eq!(decode(&mut decoder, &block).unwrap(), list);
    assert_eq!(
        decoder.table().len(),
        1,
        "emptied, then the field added again"
    );
    // Nothing pending any more.
    assert_eq!(encode(&mut encoder, &list), [0xbe]);
}

#[test]
fn a_table_of_zero_indexes_nothing() {
    let mut encoder = Encoder::new();
    encoder.set_max_table_size(0);
    let list = fields(&[("x-custom", "1"), ("x-custom", "1")]);
    let block = encode(&mut encoder, &list);
    assert_eq!(block[0], 0x20);
    let mut decoder = Decoder::new(4096);
    assert_eq!(decode(&mut decoder, &block).unwrap(), list);
    assert_eq!(decoder.table().size(), 0);
}

/// A header name: mostly ones a server sends (so the tables get hits), some random.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(vec![
            ":status", "content-type", "cache-control", "date", "content-length", "etag",
            "set-cookie", "cookie", "authorization", "vary", "x-accel-buffering",
            "access-control-allow-origin", ":path", "location",
        ])
        .prop_map(|n| n.as_bytes().to_vec()),
        2 => "[a-z][a-z0-9-]{0,15}".prop_map(String::into_bytes),
    ]
}

/// A header value: any bytes, sometimes a repeated one, sometimes a long one.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(vec!["200", "no-cache", "text/event-stream", "", "*"])
            .prop_map(|v| v.as_bytes().to_vec()),
        4 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::collection::vec(any::<u8>(), 200..600),
    ]
}

fn blocks() -> impl Strategy<Value = Vec<(Option<u32>, Fields)>> {
    let list = prop::collection::vec((name(), value()), 0..12);
    let resize = prop::option::weighted(0.2, 0u32..8192);
    prop::collection::vec((resize, list), 1..10)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lists_come_back_in_order_block_after_block(blocks in blocks()) {
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::new(8192);
        for (resize, list) in blocks {
            if let Some(size) = resize {
                encoder.set_max_table_size(size);
            }
            let block = encode(&mut encoder, &list);
            prop_assert_eq!(decode(&mut decoder, &block)?, list);
            prop_assert!(decoder.table().size() <= decoder.table().max_size());
        }
    }
}
