//! The decoder against RFC 7541's examples (Appendix C) and hand-built bad blocks, and the
//! integer codec. The encoder's policy and round trips are in `encoder`, the tests against
//! the `h2` crate in `peer`.

use proptest::prelude::*;

use super::{decoder::decode_integer, encoder::encode_integer, DecodeError, Decoder, Encoder};

mod encoder;
mod peer;

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

pub(super) fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn fields(list: &[(&str, &str)]) -> Fields {
    list.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn decode(decoder: &mut Decoder, block: &[u8]) -> Result<Fields, DecodeError> {
    let mut out = Vec::new();
    decoder
        .decode(block, usize::MAX, |n, v| out.push((n.to_vec(), v.to_vec())))
        .map(|()| out)
}

fn encode(encoder: &mut Encoder, list: &Fields) -> Vec<u8> {
    let mut out = Vec::new();
    encoder.encode(list.iter().map(|(n, v)| (&n[..], &v[..])), &mut out);
    out
}

/// The dynamic table's entries, newest first.
fn table_entries(decoder: &Decoder) -> Fields {
    let table = decoder.table();
    (0..table.len())
        .map(|i| {
            let (n, v) = table.field(62 + i).unwrap();
            (n.to_vec(), v.to_vec())
        })
        .collect()
}

/// One block of an Appendix C sequence: its hex dump, the decoded list, and the dynamic
/// table after it (entries newest first, and its size).
struct Step<'a> {
    block: &'a str,
    list: &'a [(&'a str, &'a str)],
    table: &'a [(&'a str, &'a str)],
    table_size: usize,
}

fn check_sequence(max_table_size: u32, steps: &[Step]) {
    let mut decoder = Decoder::new(max_table_size);
    for (i, step) in steps.iter().enumerate() {
        let list = decode(&mut decoder, &hex(step.block)).unwrap();
        assert_eq!(list, fields(step.list), "block {}", i + 1);
        assert_eq!(
            table_entries(&decoder),
            fields(step.table),
            "block {}",
            i + 1
        );
        assert_eq!(decoder.table().size(), step.table_size, "block {}", i + 1);
    }
}

#[test]
fn c1_integers_encode_and_decode() {
    // C.1.1: 10 on a 5-bit prefix; C.1.2: 1337 on a 5-bit prefix; C.1.3: 42 on 8 bits.
    for (value, prefix_bits, bytes) in [
        (10, 5, &[0x0a][..]),
        (1337, 5, &[0x1f, 0x9a, 0x0a][..]),
        (42, 8, &[0x2a][..]),
    ] {
        let mut out = Vec::new();
        encode_integer(value, prefix_bits, 0, &mut out);
        assert_eq!(out, bytes, "{value}");
        let mut flagged = bytes.to_vec();
        if prefix_bits < 8 {
            // The bits above the prefix belong to the representation, not the integer.
            flagged[0] |= 0xff << prefix_bits;
        }
        let mut input = &flagged[..];
        assert_eq!(decode_integer(&mut input, prefix_bits), Ok(value as u32));
        assert!(input.is_empty());
    }
}

#[test]
fn c2_field_representations() {
    // C.2.1: literal with indexing.
    check_sequence(
        4096,
        &[Step {
            block: "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
            list: &[("custom-key", "custom-header")],
            table: &[("custom-key", "custom-header")],
            table_size: 55,
        }],
    );
    // C.2.2: literal without indexing; C.2.3: never indexed; C.2.4: indexed.
    for (block, list) in [
        (
            "040c 2f73 616d 706c 652f 7061 7468",
            (":path", "/sample/path"),
        ),
        (
            "1008 7061 7373 776f 7264 0673 6563 7265 74",
            ("password", "secret"),
        ),
        ("82", (":method", "GET")),
    ] {
        check_sequence(
            4096,
            &[Step {
                block,
                list: &[list],
                table: &[],
                table_size: 0,
            }],
        );
    }
}

const REQUEST_1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQUEST_2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQUEST_3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const REQUEST_TABLE_1: &[(&str, &str)] = &[(":authority", "www.example.com")];
const REQUEST_TABLE_2: &[(&str, &str)] = &[
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];
const REQUEST_TABLE_3: &[(&str, &str)] = &[
    ("custom-key", "custom-value"),
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];

fn request_steps<'a>(blocks: [&'a str; 3]) -> [Step<'a>; 3] {
    [
        Step {
            block: blocks[0],
            list: REQUEST_1,
            table: REQUEST_TABLE_1,
            table_size: 57,
        },
        Step {
            block: blocks[1],
            list: REQUEST_2,
            table: REQUEST_TABLE_2,
            table_size: 110,
        },
        Step {
            block: blocks[2],
            list: REQUEST_3,
            table: REQUEST_TABLE_3,
            table_size: 164,
        },
    ]
}

#[test]
fn c3_requests_without_huffman() {
    check_sequence(
        4096,
        &request_steps([
            "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "8286 84be 5808 6e6f 2d63 6163 6865",
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        ]),
    );
}

#[test]
fn c4_requests_with_huffman() {
    check_sequence(
        4096,
        &request_steps([
            "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            "8286 84be 5886 a8eb 1064 9cbf",
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        ]),
    );
}

const SET_COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const DATE_1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE_2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOCATION: &str = "https://www.example.com";

fn response_steps<'a>(blocks: [&'a str; 3]) -> [Step<'a>; 3] {
    [
        Step {
            block: blocks[0],
            list: &[
                (":status", "302"),
                ("cache-control", "private"),
                ("date", DATE_1),
                ("location", LOCATION),
            ],
            table: &[
                ("location", LOCATION),
                ("date", DATE_1),
                ("cache-control", "private"),
                (":status", "302"),
            ],
            table_size: 222,
        },
        Step {
            block: blocks[1],
            list: &[
                (":status", "307"),
                ("cache-control", "private"),
                ("date", DATE_1),
                ("location", LOCATION),
            ],
            table: &[
                (":status", "307"),
                ("location", LOCATION),
                ("date", DATE_1),
                ("cache-control", "private"),
            ],
            table_size: 222,
        },
        Step {
            block: blocks[2],
            list: &[
                (":status", "200"),
                ("cache-control", "private"),
                ("date", DATE_2),
                ("location", LOCATION),
                ("content-encoding", "gzip"),
                ("set-cookie", SET_COOKIE),
            ],
            table: &[
                ("set-cookie", SET_COOKIE),
                ("content-encoding", "gzip"),
                ("date", DATE_2),
            ],
            table_size: 215,
        },
    ]
}

#[test]
fn c5_responses_without_huffman_evict() {
    check_sequence(
        256,
        &response_steps([
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
             2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
             6c65 2e63 6f6d",
            "4803 3330 37c1 c0bf",
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
             54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
             5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
             3d31",
        ]),
    );
}

#[test]
fn c6_responses_with_huffman_evict() {
    check_sequence(
        256,
        &response_steps([
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            "4883 640e ffc1 c0bf",
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
             77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ]),
    );
}

#[test]
fn integers_past_u32_are_refused() {
    // 127 + (2^35 - 1): five continuation bytes, too large.
    let mut input = &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f][..];
    assert_eq!(
        decode_integer(&mut input, 7),
        Err(DecodeError::IntegerOverflow)
    );
    // u32::MAX itself fits: 31 + 0xffff_ffe0.
    let mut out = Vec::new();
    encode_integer(u32::MAX as usize, 5, 0, &mut out);
    assert_eq!(decode_integer(&mut &out[..], 5), Ok(u32::MAX));
}

#[test]
fn over_long_integers_are_refused() {
    // 31 + 0, padded with continuation bytes that add nothing.
    let mut input = &[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00][..];
    assert_eq!(
        decode_integer(&mut input, 5),
        Err(DecodeError::IntegerOverflow)
    );
    // Four of them are still within five bytes: accepted, as the RFC's decoder would.
    let mut input = &[0x1f, 0x80, 0x80, 0x80, 0x80, 0x00][..];
    assert_eq!(decode_integer(&mut input, 5), Ok(31));
}

#[test]
fn index_zero_is_refused() {
    let mut decoder = Decoder::new(4096);
    assert_eq!(
        decode(&mut decoder, &[0x80]),
        Err(DecodeError::InvalidIndex(0))
    );
}

#[test]
fn indices_past_the_tables_are_refused() {
    let mut decoder = Decoder::new(4096);
    // Indexed field 62 with an empty dynamic table.
    assert_eq!(
        decode(&mut decoder, &[0xbe]),
        Err(DecodeError::InvalidIndex(62))
    );
    // A literal's name at index 62.
    assert_eq!(
        decode(&mut decoder, &[0x7e, 0x01, b'a']),
        Err(DecodeError::InvalidIndex(62))
    );
    // One entry: 62 is valid, 63 is not.
    decode(&mut decoder, &[0x40, 0x01, b'a', 0x01, b'b']).unwrap();
    assert_eq!(
        decode(&mut decoder, &[0xbe]).unwrap(),
        fields(&[("a", "b")])
    );
    assert_eq!(
        decode(&mut decoder, &[0xbf]),
        Err(DecodeError::InvalidIndex(63))
    );
}

#[test]
fn blocks_that_end_inside_a_field_are_refused() {
    for block in [
        &[0xff][..],                   // an integer's continuation is missing
        &[0x44][..],                   // a value is missing
        &[0x40, 0x05, b'a'][..],       // a name runs past the block
        &[0x44, 0x81][..],             // a Huffman value runs past the block
        &[0x82, 0x00, 0x01, b'a'][..], // a literal name with no value
    ] {
        let mut decoder = Decoder::new(4096);
        assert_eq!(
            decode(&mut decoder, block),
            Err(DecodeError::Truncated),
            "{block:02x?}"
        );
    }
}

#[test]
fn invalid_huffman_is_refused() {
    for value in [
        &[0x81, 0xff][..],                   // 8 bits of padding
        &[0x81, 0x06][..],                   // "0" then padding 110
        &[0x84, 0xff, 0xff, 0xff, 0xff][..], // EOS
    ] {
        let mut block = vec![0x04];
        block.extend_from_slice(value);
        let mut decoder = Decoder::new(4096);
        assert_eq!(
            decode(&mut decoder, &block),
            Err(DecodeError::InvalidHuffman),
            "{block:02x?}"
        );
    }
}

#[test]
fn table_size_updates_above_the_advertised_size_are_refused() {
    let mut decoder = Decoder::new(4096);
    // 4097 = 31 + 0x62 + (0x1f << 7).
    assert_eq!(
        decode(&mut decoder, &[0x3f, 0xe2, 0x1f]),
        Err(DecodeError::TableSizeUpdateTooLarge(4097))
    );
    // 4096 itself is allowed.
    assert_eq!(decode(&mut decoder, &[0x3f, 0xe1, 0x1f]), Ok(Vec::new()));
}

#[test]
fn table_size_updates_after_a_field_are_refused() {
    let mut decoder = Decoder::new(4096);
    assert_eq!(
        decode(&mut decoder, &[0x82, 0x20]),
        Err(DecodeError::TableSizeUpdateNotFirst)
    );
}

#[test]
fn table_size_updates_at_the_start_shrink_the_table() {
    let mut decoder = Decoder::new(4096);
    decode(&mut decoder, &hex("400a 6375 7374 6f6d 2d6b 6579 0161")).unwrap();
    assert_eq!(decoder.table().len(), 1);
    // Down to 0 (evicting all), back to 4096, then a field.
    assert_eq!(
        decode(&mut decoder, &[0x20, 0x3f, 0xe1, 0x1f, 0x82]).unwrap(),
        fields(&[(":method", "GET")])
    );
    assert_eq!(decoder.table().len(), 0);
    assert_eq!(decoder.table().max_size(), 4096);
}

#[test]
fn an_entry_larger_than_the_table_empties_it() {
    let mut decoder = Decoder::new(4096);
    // Table of 64 bytes; "a: b" (34) fits, a 40-byte value (45 + 32) does not.
    decode(&mut decoder, &[0x3f, 0x21, 0x40, 0x01, b'a', 0x01, b'b']).unwrap();
    assert_eq!(decoder.table().len(), 1);
    let mut block = vec![0x40, 0x04];
    block.extend_from_slice(b"name");
    block.push(40);
    block.extend_from_slice(&[b'x'; 40]);
    let list = decode(&mut decoder, &block).unwrap();
    assert_eq!(list[0].1.len(), 40);
    assert_eq!((decoder.table().len(), decoder.table().size()), (0, 0));
}

#[test]
fn a_list_past_the_limit_stops_emitting_but_keeps_the_table_in_step() {
    let mut encoder = Encoder::new();
    let big = fields(&[
        (":status", "200"),
        ("x-first", "1"),
        ("x-second", "2"),
        ("x-third", "3"),
    ]);
    let mut decoder = Decoder::new(4096);
    // :status (7 + 3 + 32) and x-first (7 + 1 + 32) fit in 90; x-second does not.
    let mut emitted = Vec::new();
    let result = decoder.decode(&encode(&mut encoder, &big), 90, |n, v| {
        emitted.push((n.to_vec(), v.to_vec()))
    });
    assert_eq!(result, Err(DecodeError::ListTooLarge));
    assert!(!DecodeError::ListTooLarge.is_compression_error());
    assert_eq!(emitted, big[..2]);
    // The next block refers to entries added past the limit; the decoder has them.
    assert_eq!(
        decode(&mut decoder, &encode(&mut encoder, &big)).unwrap(),
        big
    );
}

#[test]
fn every_other_error_is_a_compression_error() {
    for error in [
        DecodeError::InvalidIndex(0),
        DecodeError::IntegerOverflow,
        DecodeError::Truncated,
        DecodeError::InvalidHuffman,
        DecodeError::TableSizeUpdateTooLarge(1),
        DecodeError::TableSizeUpdateNotFirst,
    ] {
        assert!(error.is_compression_error(), "{error}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn integers_come_back(value in 0..=u32::MAX, prefix_bits in 1u8..=8, flags in any::<u8>()) {
        let flags = if prefix_bits == 8 { 0 } else { flags & (0xff << prefix_bits) };
        let mut out = Vec::new();
        encode_integer(value as usize, prefix_bits, flags, &mut out);
        prop_assert_eq!(out[0] & !(u8::MAX >> (8 - prefix_bits)), flags);
        let mut input = &out[..];
        prop_assert_eq!(decode_integer(&mut input, prefix_bits), Ok(value));
        prop_assert!(input.is_empty());
    }

    #[test]
    fn decoding_any_bytes_does_not_panic(
        block in prop::collection::vec(any::<u8>(), 0..64),
        max_table_size in 0u32..8192,
    ) {
        let mut decoder = Decoder::new(max_table_size);
        let _ = decoder.decode(&block, 4096, |_, _| {});
        prop_assert!(decoder.table().size() <= max_table_size as usize);
    }
}
