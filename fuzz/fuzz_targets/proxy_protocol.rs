//! The PROXY protocol header reader (versions 1 and 2), on the bytes a load balancer
//! sends first. Besides not panicking: a header is never longer than the input nor than
//! the specification allows, a version 1 header ends at its CRLF, and a header read again
//! from its own bytes alone gives the same result (nothing after it was needed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssegate::fuzzing::{proxy_protocol_header, ProxyHeader};

/// Version 2: 16 fixed bytes and at most 2048 of addresses and TLVs.
const V2_MAX_HEADER: usize = 16 + 2048;
/// Version 1: at most 107 bytes, CRLF included.
const V1_MAX_HEADER: usize = 107;

fuzz_target!(|input: &[u8]| {
    let Ok((header, consumed)) = proxy_protocol_header(input) else {
        return;
    };
    assert!(consumed <= input.len());
    let bytes = &input[..consumed];
    if bytes.starts_with(b"PROXY ") {
        assert!(consumed <= V1_MAX_HEADER, "v1 header of {consumed} bytes");
        assert!(bytes.ends_with(b"\r\n"));
        assert_eq!(memchr_count(bytes, b'\n'), 1, "a v1 header is one line");
    } else {
        assert!(consumed <= V2_MAX_HEADER, "v2 header of {consumed} bytes");
    }
    let again = proxy_protocol_header(bytes).expect("a header's own bytes read again");
    assert_eq!(again, (header, consumed));
    if let ProxyHeader::Proxied {
        source,
        destination,
    } = header
    {
        assert_eq!(source.is_ipv4(), destination.is_ipv4());
    }
});

fn memchr_count(bytes: &[u8], byte: u8) -> usize {
    bytes.iter().filter(|&&b| b == byte).count()
}
