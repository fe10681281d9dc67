//! The Huffman code of RFC 7541 Appendix B, for string literals (section 5.2).
//!
//! The code is canonical: codes of one length are consecutive, in symbol order, and each
//! length starts where the previous one ended, shifted left. So the 257 code lengths below
//! determine every code, and both tables are computed from them at compile time; the tests
//! check codes against the hex listed in Appendix B.
//!
//! Decoding walks the bits one at a time, keeping the code read so far and the first code of
//! its length: a symbol is found as soon as the code falls inside its length's range. That
//! is a few operations per bit, with no 4 KiB state table to get wrong; header strings are
//! short, so it is not worth more.

use thiserror::Error;

/// Symbol 256, end of string: never encoded, and an error inside a string (section 5.2).
const EOS: usize = 256;

/// The longest code (EOS, and some rare bytes).
const MAX_CODE_LEN: usize = 30;

/// The length in bits of each symbol's code, bytes 0 to 255 then EOS (Appendix B).
const CODE_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0x00
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 0x10
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // ' ' to '/'
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // '0' to '?'
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // '@' to 'O'
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 'P' to '_'
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // '`' to 'o'
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 'p' to 0x7f
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 0x80
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 0x90
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 0xa0
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 0xb0
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 0xc0
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 0xd0
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 0xe0
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 0xf0
    30, // EOS
];

/// Each symbol's code, right-aligned.
const CODES: [u32; 257] = canonical_codes();

/// How many codes each length has (index: length in bits).
const COUNT_BY_LENGTH: [u32; MAX_CODE_LEN + 1] = count_by_length();

/// The symbols in code order (by length, then symbol): the symbol of the `k`th code of
/// length `n` is at `COUNT_BY_LENGTH[..n].sum() + k`.
const SYMBOLS_IN_CODE_ORDER: [u16; 257] = symbols_in_code_order();

/// A Huffman-coded string that is not one (section 5.2): a code for EOS, padding longer
/// than 7 bits, or padding that is not the most significant bits of EOS (all ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("invalid Huffman-coded string")]
pub struct InvalidHuffman;

/// Appends the Huffman code of `input` to `out`, padded with ones to a whole byte.
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(encoded_len(input));
    // Bits not yet written, in the low `pending_bits` bits (at most 7 + 30 of them).
    let mut pending: u64 = 0;
    let mut pending_bits: u32 = 0;
    for &byte in input {
        let symbol = usize::from(byte);
        pending = (pending << CODE_LENGTHS[symbol]) | u64::from(CODES[symbol]);
        pending_bits += u32::from(CODE_LENGTHS[symbol]);
        while pending_bits >= 8 {
            pending_bits -= 8;
            out.push((pending >> pending_bits) as u8);
        }
    }
    if pending_bits > 0 {
        let padding = 8 - pending_bits;
        out.push(((pending << padding) as u8) | (0xff >> pending_bits));
    }
}

/// The length in bytes of `input`'s Huffman code, padding included.
pub fn encoded_len(input: &[u8]) -> usize {
    let bits: u64 = input
        .iter()
        .map(|&b| u64::from(CODE_LENGTHS[usize::from(b)]))
        .sum();
    // At most 30 bits a byte: the byte count is less than four times the input's length.
    usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX)
}

/// Appends the bytes that `input`, a Huffman code, stands for to `out`.
pub fn decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), InvalidHuffman> {
    // The shortest code has 5 bits.
    out.reserve(input.len().saturating_mul(8) / 5);
    // The bits of the symbol being read, and the canonical bookkeeping of their length:
    // the first code of that length, and the position of its symbol in code order.
    let mut code: u32 = 0;
    let mut len: usize = 0;
    let mut first: u32 = 0;
    let mut position: usize = 0;
    let mut all_ones = true;
    for &byte in input {
        for shift in (0..8).rev() {
            let bit = u32::from((byte >> shift) & 1);
            code |= bit;
            len += 1;
            all_ones &= bit == 1;
            let count = COUNT_BY_LENGTH[len];
            // Invariant: code >= first, since a code past its length's range stays past it
            // when both are shifted.
            if code - first < count {
                let index = position + (code - first) as usize;
                let symbol = usize::from(SYMBOLS_IN_CODE_ORDER[index]);
                if symbol == EOS {
                    return Err(InvalidHuffman);
                }
                out.push(symbol as u8);
                (code, len, first, position, all_ones) = (0, 0, 0, 0, true);
            } else {
                if len == MAX_CODE_LEN {
                    // Unreachable with a complete code like this one, but cheap to refuse.
                    return Err(InvalidHuffman);
                }
                position += count as usize;
                first = (first + count) << 1;
                code <<= 1;
            }
        }
    }
    // What is left is padding: the start of EOS (all ones), and shorter than a byte.
    if len > 7 || !all_ones {
        return Err(InvalidHuffman);
    }
    Ok(())
}

const fn canonical_codes() -> [u32; 257] {
    let mut codes = [0; 257];
    let mut next: u32 = 0;
    let mut len = 1;
    while len <= MAX_CODE_LEN {
        let mut symbol = 0;
        while symbol < 257 {
            if CODE_LENGTHS[symbol] as usize == len {
                codes[symbol] = next;
                next += 1;
            }
            symbol += 1;
        }
        next <<= 1;
        len += 1;
    }
    codes
}

const fn count_by_length() -> [u32; MAX_CODE_LEN + 1] {
    let mut counts = [0; MAX_CODE_LEN + 1];
    let mut symbol = 0;
    while symbol < 257 {
        counts[CODE_LENGTHS[symbol] as usize] += 1;
        symbol += 1;
    }
    counts
}

const fn symbols_in_code_order() -> [u16; 257] {
    let mut symbols = [0; 257];
    let mut next = 0;
    let mut len = 1;
    while len <= MAX_CODE_LEN {
        let mut symbol = 0;
        while symbol < 257 {
            if CODE_LENGTHS[symbol] as usize == len {
                symbols[next] = symbol as u16;
                next += 1;
            }
            symbol += 1;
        }
        len += 1;
    }
    symbols
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::tests::hex;
    use super::*;

    fn encoded(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(input, &mut out);
        out
    }

    fn decoded(input: &[u8]) -> Result<Vec<u8>, InvalidHuffman> {
        let mut out = Vec::new();
        decode(input, &mut out).map(|()| out)
    }

    #[test]
    fn codes_from_the_lengths_are_appendix_b_codes() {
        // (symbol, code as hex, length) as listed in Appendix B, from every length range.
        let listed: [(usize, u32, u8); 16] = [
            (0, 0x1ff8, 13),
            (1, 0x7fffd8, 23),
            (9, 0xffffea, 24),
            (10, 0x3ffffffc, 30),
            (b' ' as usize, 0x14, 6),
            (b'0' as usize, 0x0, 5),
            (b':' as usize, 0x5c, 7),
            (b'<' as usize, 0x7ffc, 15),
            (b'\\' as usize, 0x7fff0, 19),
            (b'a' as usize, 0x3, 5),
            (b'z' as usize, 0x7b, 7),
            (127, 0xffffffc, 28),
            (128, 0xfffe6, 20),
            (199, 0x1ffffec, 25),
            (255, 0x3ffffee, 26),
            (EOS, 0x3fffffff, 30),
        ];
        for (symbol, code, len) in listed {
            assert_eq!(
                (CODES[symbol], CODE_LENGTHS[symbol]),
                (code, len),
                "symbol {symbol}"
            );
        }
    }

    #[test]
    fn the_code_is_complete() {
        // Kraft's sum is exactly one: every bit string starts with a code, so decoding
        // never runs past 30 bits.
        let sum: u64 = CODE_LENGTHS.iter().map(|&l| 1u64 << (30 - l)).sum();
        assert_eq!(sum, 1 << 30);
    }

    #[test]
    fn appendix_c_strings_encode_and_decode() {
        let examples: [(&str, &[u8]); 9] = [
            ("f1e3 c2e5 f23a 6ba0 ab90 f4ff", b"www.example.com"),
            ("a8eb 1064 9cbf", b"no-cache"),
            ("25a8 49e9 5ba9 7d7f", b"custom-key"),
            ("25a8 49e9 5bb8 e8b4 bf", b"custom-value"),
            ("6402", b"302"),
            ("aec3 771a 4b", b"private"),
            (
                "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
                b"Mon, 21 Oct 2013 20:13:21 GMT",
            ),
            (
                "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
                b"https://www.example.com",
            ),
            (
                "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
                 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
        ];
        for (code, text) in examples {
            assert_eq!(
                encoded(text),
                hex(code),
                "{}",
                String::from_utf8_lossy(text)
            );
            assert_eq!(encoded_len(text), hex(code).len());
            assert_eq!(decoded(&hex(code)).unwrap(), text);
        }
    }

    #[test]
    fn the_empty_string_is_empty() {
        assert_eq!(encoded(b""), b"");
        assert_eq!(decoded(b""), Ok(Vec::new()));
    }

    #[test]
    fn padding_of_a_whole_byte_is_refused() {
        // "0" is 00000: three bits of padding make a byte; a byte more of ones is too long.
        assert_eq!(decoded(&[0b0000_0111]), Ok(b"0".to_vec()));
        assert_eq!(decoded(&[0b0000_0111, 0xff]), Err(InvalidHuffman));
        assert_eq!(decoded(&[0xff]), Err(InvalidHuffman));
    }

    #[test]
    fn padding_that_is_not_all_ones_is_refused() {
        assert_eq!(decoded(&[0b0000_0110]), Err(InvalidHuffman));
        assert_eq!(decoded(&[0b0000_0011]), Err(InvalidHuffman));
    }

    #[test]
    fn eos_inside_a_string_is_refused() {
        // EOS is 30 ones; two more bits of ones pad it to four bytes.
        assert_eq!(decoded(&[0xff; 4]), Err(InvalidHuffman));
        // After a symbol, too: "0" then EOS then padding.
        assert_eq!(
            decoded(&[0b0000_0111, 0xff, 0xff, 0xff, 0b1110_0000]),
            Err(InvalidHuffman)
        );
    }

    proptest! {
        #[test]
        fn any_bytes_come_back(input in prop::collection::vec(any::<u8>(), 0..200)) {
            let code = encoded(&input);
            prop_assert_eq!(code.len(), encoded_len(&input));
            prop_assert_eq!(decoded(&code), Ok(input));
        }

        #[test]
        fn decoding_any_bytes_does_not_panic(input in prop::collection::vec(any::<u8>(), 0..64)) {
            // When it succeeds, the result encodes back to the same bytes: the padding
            // rules leave one valid code per string.
            if let Ok(text) = decoded(&input) {
                prop_assert_eq!(encoded(&text), input);
            }
        }
    }
}
