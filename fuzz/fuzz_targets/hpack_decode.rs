//! HPACK header blocks (RFC 7541) as a peer sends them on one connection. The first input
//! byte sets the decoders' table size (times 32, up to 8160 bytes); then each block is a
//! length byte and that many bytes, decoded in order by one decoder, so the dynamic table
//! carries over from block to block.
//!
//! Besides not panicking:
//! - A decoder with a small header list limit agrees with one without: the same error, or
//!   the same list, or (past the limit) the part of it that fits and `ListTooLarge`; and it
//!   stays in step with the peer after that (the blocks after it agree too).
//! - Every list accepted, encoded again by our encoder and decoded by a third decoder (both
//!   also kept across blocks), comes back the same, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssegate::h2wire::hpack::{DecodeError, Decoder, Encoder};

/// Small, so that the fuzzer reaches the list size limit often.
const MAX_LIST_SIZE: usize = 1024;

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fuzz_target!(|input: &[u8]| {
    let Some((&size, mut rest)) = input.split_first() else {
        return;
    };
    let table_size = u32::from(size) * 32;
    let mut limited = Decoder::new(table_size);
    let mut unlimited = Decoder::new(table_size);
    let mut encoder = Encoder::new();
    // The peer of our encoder advertises the same size: the first block says what it uses.
    encoder.set_max_table_size(table_size);
    let mut again = Decoder::new(table_size);
    while let Some((&len, tail)) = rest.split_first() {
        let (block, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;

        let (whole, whole_result) = decode(&mut unlimited, block, usize::MAX);
        let (part, part_result) = decode(&mut limited, block, MAX_LIST_SIZE);
        match whole_result {
            Err(e) => {
                assert!(e.is_compression_error());
                assert_eq!(part_result, Err(e));
                // The connection ends here: nothing after this block would be decoded.
                return;
            }
            Ok(()) if list_size(&whole) <= MAX_LIST_SIZE => {
                assert_eq!(part_result, Ok(()));
                assert_eq!(part, whole);
            }
            Ok(()) => {
                assert_eq!(part_result, Err(DecodeError::ListTooLarge));
                assert!(!DecodeError::ListTooLarge.is_compression_error());
                assert!(whole.starts_with(&part));
                let next = &whole[part.len()];
                assert!(list_size(&part) + next.0.len() + next.1.len() + 32 > MAX_LIST_SIZE);
            }
        }

        let mut encoded = Vec::new();
        encoder.encode(whole.iter().map(|(n, v)| (&n[..], &v[..])), &mut encoded);
        let (decoded, result) = decode(&mut again, &encoded, usize::MAX);
        assert_eq!(result, Ok(()), "our own encoding decodes");
        assert_eq!(decoded, whole);
    }
});

fn decode(
    decoder: &mut Decoder,
    block: &[u8],
    max_list_size: usize,
) -> (Fields, Result<(), DecodeError>) {
    let mut fields = Vec::new();
    let result = decoder.decode(block, max_list_size, |n, v| {
        fields.push((n.to_vec(), v.to_vec()))
    });
    (fields, result)
}

/// The size SETTINGS_MAX_HEADER_LIST_SIZE counts (RFC 9113 section 6.5.2).
fn list_size(fields: &Fields) -> usize {
    fields.iter().map(|(n, v)| n.len() + v.len() + 32).sum()
}
