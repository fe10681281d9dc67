//! Mercure access tokens: the JWT reader of 1.0 tokens and of pre-1.0 tokens. The first
//! input byte picks what the rest is:
//!
//! - 0: a whole token, as presented in a header or cookie (its signature practically never
//!   verifies, so this covers the size limit, the header, `alg`, `kid` and `iss` lookup);
//! - 1: the claims of a 1.0 token (`typ: at+jwt`), signed with the trusted issuer's HMAC key
//!   so that the fuzzer reaches the claims, the times and the `authorization_details`;
//! - 2: the claims of a pre-1.0 token, signed with the legacy key (the `mercure` claim).
//!
//! A token that validates is then asked what it grants, as the hub asks it.
#![no_main]

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, UNIX_EPOCH},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use ssegate::{
    auth::{Issuer, Key, TopicSelector, Validator},
    mercure::matcher::{parse_legacy_selector, selector_matcher, MatcherLimits},
};
use url::Url;

const SECRET: &[u8] = b"a-fuzzing-secret-that-is-32-bytes-long";
const LEGACY_SECRET: &[u8] = b"a-legacy-fuzzing-secret-of-32-bytes!!";
const HUB: &str = "https://hub.example.com/.well-known/mercure";
const ISS: &str = "https://example.com";
/// 2026-01-01T00:00:00Z.
const NOW: u64 = 1_767_225_600;

const TOPICS: &[&str] = &[
    "https://example.com/books/1",
    "https://hub.example.com/users/7",
    "books/1",
    "",
];

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    static VALIDATOR: OnceLock<(Url, Validator)> = OnceLock::new();
    let (hub, validator) = VALIDATOR.get_or_init(|| {
        let hub = Url::parse(HUB).expect("a valid URL");
        (hub.clone(), validator(hub))
    });
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    match mode % 3 {
        0 => {
            let Ok(token) = std::str::from_utf8(rest) else {
                return;
            };
            let _ = validator.validate(token, now);
            let _ = validator.validate_legacy(token, now);
        }
        1 => {
            let token = sign(r#"{"alg":"HS256","typ":"at+jwt"}"#, rest, SECRET);
            if let Ok(grants) = validator.validate(&token, now) {
                assert_eq!(grants.issuer, ISS);
                assert!(grants.expires_at_time() > now - Duration::from_secs(3600));
                let matches = |selector: &TopicSelector, topic: &str| {
                    selector_matcher(
                        Some(&selector.match_type),
                        &selector.value,
                        hub,
                        &MatcherLimits::default(),
                    )
                    .is_ok_and(|m| m.matches(topic))
                };
                let _ = grants.can_publish(TOPICS.iter().copied(), matches);
                let _ = grants.can_receive(TOPICS.iter().copied(), matches);
                for topic in TOPICS {
                    let _ = grants.payload_for(topic, matches);
                }
            }
        }
        _ => {
            let token = sign(r#"{"alg":"HS256"}"#, rest, LEGACY_SECRET);
            if let Ok(grants) = validator.validate_legacy(&token, now) {
                let matches = |selector: &str, topic: &str| {
                    parse_legacy_selector(selector, &MatcherLimits::default())
                        .is_ok_and(|m| m.matches(topic))
                };
                let _ = grants.can_publish(TOPICS.iter().copied(), matches);
                let _ = grants.can_receive(TOPICS.iter().copied(), matches);
            }
        }
    }
});

/// The validator a Mercure hub at `hub` builds: one HMAC issuer, a legacy key, and the
/// token's selectors checked by the hub's matcher parser.
fn validator(hub: Url) -> Validator {
    let key = Key::hmac(SECRET).expect("a long enough secret");
    let legacy = Key::hmac(LEGACY_SECRET).expect("a long enough secret");
    let issuers = vec![Issuer {
        iss: ISS.to_owned(),
        keys: vec![key],
    }];
    Validator::new(HUB, issuers)
        .with_legacy_keys(vec![legacy])
        .with_selector_check(Arc::new(move |selector: &TopicSelector| {
            selector_matcher(
                Some(&selector.match_type),
                &selector.value,
                &hub,
                &MatcherLimits::default(),
            )
            .map(drop)
            .map_err(|e| e.to_string())
        }))
}

/// A compact JWS of `claims` (any bytes) under `header`, signed with HS256.
fn sign(header: &str, claims: &[u8], secret: &[u8]) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(
        signed.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("HMAC signing does not fail");
    format!("{signed}.{signature}")
}
