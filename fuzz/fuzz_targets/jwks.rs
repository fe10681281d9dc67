//! The verification key readers: JWK Set documents (a `jwks_file`, or fetched from an
//! authorization server's `jwks_uri`, a remote party) and PEM public keys. The first input
//! byte picks the reader.
//!
//! Besides not panicking: a set that loads has at least one key, and every key accepts at
//! least one algorithm.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssegate::auth::Key;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let keys = if mode % 2 == 0 {
        // As a `jwks_file` is read: UTF-8 with replacement (a fetched set must be valid
        // UTF-8, a subset of these inputs).
        match Key::from_jwks_json(&String::from_utf8_lossy(rest)) {
            Ok(keys) => keys,
            Err(_) => return,
        }
    } else {
        match Key::public_pem(rest) {
            Ok(key) => vec![key],
            Err(_) => return,
        }
    };
    assert!(!keys.is_empty());
    for key in &keys {
        assert!(!key.algorithms().is_empty(), "a key that verifies nothing");
        let _ = key.kid();
    }
});
