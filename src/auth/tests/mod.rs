//! Tests of the authorization module: tokens are minted here with jsonwebtoken, signed with
//! an HMAC secret, a fixed throwaway RSA key, and ECDSA P-256 / Ed25519 keys generated per
//! test with rcgen.
//!
//! This file owns the shared fixtures: the keys, the hub and issuer names, the clock, claims
//! that pass every check, and the helpers that mint tokens and build requests. The tests
//! live in one submodule per concern.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

mod details;
mod errors;
mod extraction;
mod keys;
mod legacy;
mod validation;

/// A throwaway 2048-bit RSA key made for these tests only; it protects nothing.
const RSA_PRIVATE_PEM: &str = "\
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCGEp6bTcz7BU7c
/fj4996Yv5WZbdU7Sowa1b+IoDBLLVLDkp/7RLMalbVtpReBEf4tqJFK/IxOxMKf
GXwndf+T0YkZ3mp2Wg1t6jQyzVHtcoF6694uxMvZHbATKYEkJNvWKG6MTfJJHpL9
NL+oPotVkNkLPzQG7J69nc+RaHbsDtqVr2TNbBRHcfrd2JEMtl1VuDqfbXgTKzvV
LPE3UJN8SUEM1Pi//4J0iuPCdVJE4f7toeoV01/sk6hPUQqYIlp1QThHlmwV97cM
UYkzLv39KhElNgUrvpqJus2DcBx1bxzGWAmkDy6I4vrWG04ydw/Kt/I7KWHmuqNm
Uzra73+hAgMBAAECgf9zepYiLmDf1TKYJijMSLLx3hJ8lJ2U9CC4/GJ8y3zNQ7yF
t0UUp5eczlX2mrwj79t+eDKs49n1/oOjhc/qLTh1mYT9QxVv2yC2C4PqPe7TFk1w
ErjMj7UEzQ1bc+RHvXecfja5ommNkUgJz+VEhJp+mMRZa5bkX+paaBLgq5nCt8lc
o5HC5Vz7uVxb5ACvmU7z78XpOCr8KZgWlGRtS6tpRPRm6ICRuyeVUU2zUjt3/Ac8
r3b181e6yhPzKQx201qBW4+/Skl5FdaPb46qL4LholMnfV2FsweZbfiJiAuU/1xH
u6nOg9vQJp0QPx/zGol5B4RvaGlqdYspB7XbHFkCgYEAvH9dGQq0bMJO0tEmn0mq
uEf0+ARnM1UkNOefT+ImkyMavM2zsXnmVB2UqhKh/Sf/3pcSq02KjJKp7Ufsxfo+
DtAGlhFpM3wsDqnYi+fyVuw48eWZBOvmK+RtCwk5aO5lknJyEdT5h+OZimbzJBqd
zafh0kdeTAhHpFBYv4CeUPUCgYEAthXT07aRMmZFAaPp1TqCp1DQ7geWI/89gIqq
rYP3YssHx2KzGEeRqjOVadjlZ+7Fr3bRxLU59fjQ/hbJ22bj7ThuOHBmEft3tGf1
qQE7SYcx5gZb9l300PvYatxQulyceSu8PNeVv859xPAwp0DMgL3AqGkkFFUFVEfQ
1gr/GH0CgYEAk8vheVMVaPlpyI7Jk7e1LkztXNJHAM7PVtQN7BrMWC38NvGq5YtI
98dB26BEdzS3wRX/Q2XHLrWIm0377rdplT+zClOYgw/nk4/FBN3W/CS3+aMmud8l
WGEAxthytT3HUm591lGBXfUtXIGgPzzHYosx2yiuXTtYwRNmorD8cUkCgYEAnQNr
ezgGMsCvpr9yxxVCTwdIcsmF9ZqGrU5l6WRPshhDp/J7X2dvu6XppLGM+LeULj82
mfpwdaPOjByYiiJKT2gG25JI4h7HVYED/G18c2YqaCF5sZPJpWBWeadr0ZhEsdQ9
6PU6Q4DLQUShn8gn0KhP9qlbnFDIXKnk8n3fBX0CgYBf+affP+RY5F/+W139g0Ef
poCafp5+wwSO9V6fZ3SxTLpi+KQ0O3oJnc5GAH273RL3mxhaeqP8by3xOIN+QCpO
pjpbHAmOSDAQoi8+GYjJz3BH2RlaKRB9r99YhmDq2b9S0xFHg9FmAQnz+w44slfk
iTUxh9xh6AclLlbJRvcnkw==
-----END PRIVATE KEY-----
";

const RSA_PUBLIC_PEM: &str = "\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAhhKem03M+wVO3P34+Pfe
mL+VmW3VO0qMGtW/iKAwSy1Sw5Kf+0SzGpW1baUXgRH+LaiRSvyMTsTCnxl8J3X/
k9GJGd5qdloNbeo0Ms1R7XKBeuveLsTL2R2wEymBJCTb1ihujE3ySR6S/TS/qD6L
VZDZCz80BuyevZ3PkWh27A7ala9kzWwUR3H63diRDLZdVbg6n214Eys71SzxN1CT
fElBDNT4v/+CdIrjwnVSROH+7aHqFdNf7JOoT1EKmCJadUE4R5ZsFfe3DFGJMy79
/SoRJTYFK76aibrNg3AcdW8cxlgJpA8uiOL61htOMncPyrfyOylh5rqjZlM62u9/
oQIDAQAB
-----END PUBLIC KEY-----
";

const SECRET: &[u8] = b"a-test-secret-that-is-32-bytes-long!";
const HUB: &str = "https://hub.example.com/.well-known/mercure";
const ISS: &str = "https://example.com";
/// 2026-01-01T00:00:00Z; tokens are issued a little before and expire an hour after.
const NOW: u64 = 1_767_225_600;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn at_jwt(alg: Algorithm) -> Header {
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".into());
    header
}

fn mint(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).unwrap()
}

/// Unpadded base64url (RFC 4648 section 5), for hand-made tokens.
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn hs_key() -> EncodingKey {
    EncodingKey::from_secret(SECRET)
}

/// Claims that pass every check, granting subscribe on one URL pattern.
fn claims() -> Value {
    json!({
        "iss": ISS,
        "aud": HUB,
        "sub": "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6",
        "client_id": ISS,
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "jti": "urn:uuid:e70ff8d7-59d5-4a92-b0b7-505e8f6d09fa",
        "authorization_details": [{
            "type": MERCURE_DETAIL_TYPE,
            "actions": ["subscribe"],
            "topics": [{"match": "https://example.com/books/:id", "match_type": "urlpattern"}]
        }]
    })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

fn details(entries: Value) -> Value {
    with(claims(), "authorization_details", entries)
}

fn hs_validator() -> Validator {
    let issuer = Issuer {
        iss: ISS.into(),
        keys: vec![Key::hmac(SECRET).unwrap()],
    };
    Validator::new(HUB, vec![issuer])
}

fn hs_token(claims: &Value) -> String {
    mint(&at_jwt(Algorithm::HS256), claims, &hs_key())
}

fn token_error(result: Result<impl std::fmt::Debug, AuthError>) -> TokenError {
    match result {
        Err(AuthError::InvalidToken(e)) => e,
        other => panic!("expected invalid_token, got {other:?}"),
    }
}

fn ec_pair() -> (EncodingKey, Key) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let encoding = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
    let key = Key::public_pem(pair.public_key_pem()).unwrap();
    (encoding, key)
}

fn exact(value: &str) -> TopicSelector {
    TopicSelector {
        match_type: "exact".into(),
        value: value.into(),
    }
}

/// A stand-in for the matcher module: exact is byte equality, and `urlpattern` supports a
/// trailing `*` or `:id` only, which is all these tests need.
fn matches(selector: &TopicSelector, topic: &str) -> bool {
    match selector.match_type.as_str() {
        "exact" => selector.value == topic,
        "urlpattern" => {
            let v = &selector.value;
            if let Some(prefix) = v.strip_suffix('*') {
                topic.starts_with(prefix)
            } else if let Some(prefix) = v.strip_suffix(":id") {
                topic
                    .strip_prefix(prefix)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
                    || topic == v
            } else {
                v == topic
            }
        }
        _ => false,
    }
}

fn headers(pairs: &[(http::HeaderName, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(name.clone(), HeaderValue::from_str(value).unwrap());
    }
    map
}

fn presented(token: &str, source: TokenSource) -> Option<PresentedToken> {
    Some(PresentedToken {
        token: token.into(),
        source,
    })
}
