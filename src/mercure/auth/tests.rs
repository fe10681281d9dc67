//! Tests of the authorization module: tokens are minted here with jsonwebtoken, signed with
//! an HMAC secret, a fixed throwaway RSA key, and ECDSA P-256 / Ed25519 keys generated per
//! test with rcgen.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

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

// --- Token validation: the happy paths ---

#[test]
fn draft_example_token_is_accepted_with_its_claims() {
    let grants = hs_validator()
        .validate(&hs_token(&claims()), now())
        .unwrap();
    assert_eq!(grants.issuer, ISS);
    assert_eq!(
        grants.subject.as_deref(),
        Some("urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6")
    );
    assert_eq!(grants.client_id.as_deref(), Some(ISS));
    assert_eq!(
        grants.token_id.as_deref(),
        Some("urn:uuid:e70ff8d7-59d5-4a92-b0b7-505e8f6d09fa")
    );
    assert_eq!(grants.expires_at, NOW + 3600);
    assert_eq!(grants.expires_at_time(), at(NOW + 3600));
    assert_eq!(
        grants.details,
        vec![Detail {
            actions: vec![Action::Subscribe],
            topics: vec![TopicSelector {
                match_type: "urlpattern".into(),
                value: "https://example.com/books/:id".into()
            }],
            payload: None,
        }]
    );
}

#[test]
fn rs256_token_verifies_with_rsa_public_pem() {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).unwrap();
    let issuer = Issuer {
        iss: ISS.into(),
        keys: vec![Key::public_pem(RSA_PUBLIC_PEM).unwrap()],
    };
    let validator = Validator::new(HUB, vec![issuer]);
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let token = mint(&at_jwt(alg), &claims(), &key);
        validator.validate(&token, now()).unwrap();
    }
}

#[test]
fn es256_token_verifies_with_ec_public_pem() {
    let (encoding, key) = ec_pair();
    let validator = Validator::new(
        HUB,
        vec![Issuer {
            iss: ISS.into(),
            keys: vec![key],
        }],
    );
    let token = mint(&at_jwt(Algorithm::ES256), &claims(), &encoding);
    validator.validate(&token, now()).unwrap();
}

#[test]
fn eddsa_token_verifies_with_ed25519_public_pem() {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let encoding = EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).unwrap();
    let key = Key::public_pem(pair.public_key_pem()).unwrap();
    assert_eq!(key.algorithms(), &[Algorithm::EdDSA]);
    let validator = Validator::new(
        HUB,
        vec![Issuer {
            iss: ISS.into(),
            keys: vec![key],
        }],
    );
    validator
        .validate(
            &mint(&at_jwt(Algorithm::EdDSA), &claims(), &encoding),
            now(),
        )
        .unwrap();
}

#[test]
fn pem_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rsa.pub.pem");
    std::fs::write(&path, RSA_PUBLIC_PEM).unwrap();
    let key = Key::public_pem_file(&path).unwrap();
    assert!(key.algorithms().contains(&Algorithm::RS256));
    assert!(matches!(
        Key::public_pem_file(dir.path().join("missing")),
        Err(KeyError::Io { .. })
    ));
}

// --- Token validation: each rule ---

#[test]
fn typ_must_be_at_jwt_in_any_case_with_optional_application_prefix() {
    let validator = hs_validator();
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+Jwt",
    ] {
        let mut header = at_jwt(Algorithm::HS256);
        header.typ = Some(typ.into());
        validator
            .validate(&mint(&header, &claims(), &hs_key()), now())
            .unwrap();
    }
    for typ in [
        Some("JWT"),
        Some("application/jwt"),
        Some("at+jwt2"),
        Some("xapplication/at+jwt"),
        None,
    ] {
        let mut header = at_jwt(Algorithm::HS256);
        header.typ = typ.map(Into::into);
        let result = validator.validate(&mint(&header, &claims(), &hs_key()), now());
        assert_eq!(token_error(result), TokenError::WrongType, "typ {typ:?}");
    }
}

#[test]
fn aud_must_contain_the_hub_resource_identifier() {
    let validator = hs_validator();
    let ok = with(claims(), "aud", json!(["https://other.example", HUB]));
    validator.validate(&hs_token(&ok), now()).unwrap();
    for aud in [
        json!("https://other.example"),
        json!(["https://other.example"]),
        json!([]),
    ] {
        let result = validator.validate(&hs_token(&with(claims(), "aud", aud)), now());
        assert_eq!(token_error(result), TokenError::WrongAudience);
    }
    let result = validator.validate(&hs_token(&without(claims(), "aud")), now());
    assert_eq!(token_error(result), TokenError::WrongAudience);
}

#[test]
fn iss_must_name_a_trusted_issuer() {
    let validator = hs_validator();
    let result = validator.validate(
        &hs_token(&with(claims(), "iss", json!("https://evil.example"))),
        now(),
    );
    assert_eq!(token_error(result), TokenError::UntrustedIssuer);
    let result = validator.validate(&hs_token(&without(claims(), "iss")), now());
    assert_eq!(token_error(result), TokenError::UntrustedIssuer);
}

#[test]
fn a_token_is_verified_only_with_the_keys_of_the_issuer_it_names() {
    let other_secret = b"another-secret-that-is-32-bytes-long";
    let validator = Validator::new(
        HUB,
        vec![
            Issuer {
                iss: ISS.into(),
                keys: vec![Key::hmac(SECRET).unwrap()],
            },
            Issuer {
                iss: "https://other.example".into(),
                keys: vec![Key::hmac(other_secret).unwrap()],
            },
        ],
    );
    // Signed by the other issuer's key but claiming ISS: no pooling across issuers.
    let forged = mint(
        &at_jwt(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(other_secret),
    );
    assert_eq!(
        token_error(validator.validate(&forged, now())),
        TokenError::BadSignature
    );
    let own = with(claims(), "iss", json!("https://other.example"));
    let token = mint(
        &at_jwt(Algorithm::HS256),
        &own,
        &EncodingKey::from_secret(other_secret),
    );
    assert_eq!(
        validator.validate(&token, now()).unwrap().issuer,
        "https://other.example"
    );
}

#[test]
fn exp_is_required() {
    let result = hs_validator().validate(&hs_token(&without(claims(), "exp")), now());
    assert_eq!(token_error(result), TokenError::MissingExpiry);
}

#[test]
fn exp_in_the_past_is_rejected_beyond_the_leeway() {
    let validator = hs_validator().with_leeway(Duration::from_secs(30));
    let token = hs_token(&claims());
    validator.validate(&token, at(NOW + 3600 + 29)).unwrap();
    assert_eq!(
        token_error(validator.validate(&token, at(NOW + 3600 + 30))),
        TokenError::Expired
    );
    let strict = hs_validator().with_leeway(Duration::ZERO);
    assert_eq!(
        token_error(strict.validate(&token, at(NOW + 3600))),
        TokenError::Expired
    );
}

#[test]
fn time_claims_of_the_wrong_type_are_malformed_not_absent() {
    // Regression for the type confusion of CVE-2026-25537: a string `nbf` must not be
    // treated as a missing one.
    let validator = hs_validator();
    for (name, value) in [
        ("nbf", json!("99999999999")),
        ("exp", json!("never")),
        ("iat", json!(null)),
        ("exp", json!(-1)),
    ] {
        let result = validator.validate(&hs_token(&with(claims(), name, value.clone())), now());
        assert!(
            matches!(token_error(result), TokenError::Malformed(_)),
            "{name}: {value}"
        );
    }
}

#[test]
fn fractional_exp_is_accepted() {
    let token = hs_token(&with(claims(), "exp", json!((NOW + 60) as f64 + 0.5)));
    assert_eq!(
        hs_validator().validate(&token, now()).unwrap().expires_at,
        NOW + 60
    );
}

#[test]
fn nbf_in_the_future_is_rejected() {
    let validator = hs_validator().with_leeway(Duration::from_secs(30));
    let token = hs_token(&with(claims(), "nbf", json!(NOW + 100)));
    assert_eq!(
        token_error(validator.validate(&token, now())),
        TokenError::NotYetValid
    );
    validator.validate(&token, at(NOW + 70)).unwrap();
}

#[test]
fn iat_in_the_future_is_rejected() {
    let token = hs_token(&with(claims(), "iat", json!(NOW + 3000)));
    assert_eq!(
        token_error(hs_validator().validate(&token, now())),
        TokenError::IssuedInFuture
    );
}

#[test]
fn tampered_payload_fails_the_signature() {
    let token = hs_token(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let other = hs_token(&with(claims(), "sub", json!("someone-else")));
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        other.split('.').nth(1).unwrap(),
        parts[2]
    );
    assert_eq!(
        token_error(hs_validator().validate(&forged, now())),
        TokenError::BadSignature
    );
    let wrong_key = mint(
        &at_jwt(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"not-the-right-secret-but-long-enough"),
    );
    assert_eq!(
        token_error(hs_validator().validate(&wrong_key, now())),
        TokenError::BadSignature
    );
}

#[test]
fn hs256_token_signed_with_the_rsa_public_key_is_refused() {
    // The classic algorithm confusion: an attacker uses the public PEM as an HMAC secret.
    let issuer = Issuer {
        iss: ISS.into(),
        keys: vec![Key::public_pem(RSA_PUBLIC_PEM).unwrap()],
    };
    let validator = Validator::new(HUB, vec![issuer]);
    let forged = mint(
        &at_jwt(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes()),
    );
    assert_eq!(
        token_error(validator.validate(&forged, now())),
        TokenError::DisallowedAlgorithm
    );
}

#[test]
fn rs256_token_is_refused_by_an_hmac_only_issuer() {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).unwrap();
    let token = mint(&at_jwt(Algorithm::RS256), &claims(), &key);
    assert_eq!(
        token_error(hs_validator().validate(&token, now())),
        TokenError::DisallowedAlgorithm
    );
}

#[test]
fn alg_none_is_refused() {
    let b64 = |v: &Value| b64url(v.to_string().as_bytes());
    let header = json!({"alg": "none", "typ": "at+jwt"});
    for token in [
        format!("{}.{}.", b64(&header), b64(&claims())),
        format!("{}.{}", b64(&header), b64(&claims())),
    ] {
        assert!(matches!(
            token_error(hs_validator().validate(&token, now())),
            TokenError::Malformed(_)
        ));
    }
}

#[test]
fn algorithms_outside_the_allowlist_are_refused() {
    let validator = hs_validator().with_algorithms(&[Algorithm::ES256]);
    assert_eq!(
        token_error(validator.validate(&hs_token(&claims()), now())),
        TokenError::DisallowedAlgorithm
    );
}

#[test]
fn hs384_needs_a_secret_long_enough() {
    let token = mint(&at_jwt(Algorithm::HS384), &claims(), &hs_key());
    assert_eq!(
        token_error(hs_validator().validate(&token, now())),
        TokenError::DisallowedAlgorithm
    );
}

#[test]
fn critical_header_extensions_are_refused() {
    let mut header = at_jwt(Algorithm::HS256);
    header.crit = Some(vec!["b64".into()]);
    let token = mint(&header, &claims(), &hs_key());
    assert_eq!(
        token_error(hs_validator().validate(&token, now())),
        TokenError::CriticalHeader
    );
}

#[test]
fn garbage_and_oversized_tokens_are_refused() {
    let validator = hs_validator();
    for token in ["", "abc", "a.b.c", "a.b.c.d"] {
        assert!(
            matches!(
                token_error(validator.validate(token, now())),
                TokenError::Malformed(_)
            ),
            "{token}"
        );
    }
    let small = hs_validator().with_limits(Limits {
        max_token_bytes: 64,
        ..Limits::default()
    });
    assert_eq!(
        token_error(small.validate(&hs_token(&claims()), now())),
        TokenError::TooLarge(64)
    );
}

#[test]
fn duplicate_claims_are_refused() {
    let b64 = |s: &str| b64url(s.as_bytes());
    let header = b64(r#"{"alg":"HS256","typ":"at+jwt"}"#);
    let payload = b64(&format!(
        r#"{{"iss":"{ISS}","aud":"{HUB}","exp":{},"exp":{}}}"#,
        NOW - 100,
        NOW + 100
    ));
    let message = format!("{header}.{payload}");
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &hs_key(), Algorithm::HS256).unwrap();
    let token = format!("{message}.{signature}");
    assert!(matches!(
        token_error(hs_validator().validate(&token, now())),
        TokenError::Malformed(_)
    ));
}

#[test]
fn kid_selects_among_jwks_keys() {
    let (enc1, _) = ec_pair();
    let (enc2, _) = ec_pair();
    let jwk = |enc: &EncodingKey, kid: &str| {
        let mut jwk = Jwk::from_encoding_key(enc, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.into());
        serde_json::to_value(jwk).unwrap()
    };
    let set = json!({"keys": [
        jwk(&enc1, "k1"),
        jwk(&enc2, "k2"),
        {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB", "kid": "enc"},
        {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521"},
    ]});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, set.to_string()).unwrap();
    let keys = Key::from_jwks_file(&path).unwrap();
    assert_eq!(
        keys.iter().map(|k| k.kid().unwrap()).collect::<Vec<_>>(),
        ["k1", "k2"]
    );
    let validator = Validator::new(
        HUB,
        vec![Issuer {
            iss: ISS.into(),
            keys,
        }],
    );

    let signed = |enc: &EncodingKey, kid: Option<&str>| {
        let mut header = at_jwt(Algorithm::ES256);
        header.kid = kid.map(Into::into);
        mint(&header, &claims(), enc)
    };
    validator
        .validate(&signed(&enc2, Some("k2")), now())
        .unwrap();
    validator
        .validate(&signed(&enc1, Some("k1")), now())
        .unwrap();
    // Without a kid every key of the issuer is tried.
    validator.validate(&signed(&enc2, None), now()).unwrap();
    // A kid selects its key only: signed by k2 but claiming k1 fails.
    assert_eq!(
        token_error(validator.validate(&signed(&enc2, Some("k1")), now())),
        TokenError::BadSignature
    );
    // An unknown kid finds no key (every key here has a kid).
    assert_eq!(
        token_error(validator.validate(&signed(&enc1, Some("k9")), now())),
        TokenError::BadSignature
    );
}

#[test]
fn an_unknown_kid_falls_back_to_keys_without_kid() {
    let validator = hs_validator();
    let mut header = at_jwt(Algorithm::HS256);
    header.kid = Some("rotated-2026".into());
    validator
        .validate(&mint(&header, &claims(), &hs_key()), now())
        .unwrap();
}

#[test]
fn jwk_alg_restricts_the_key() {
    let (enc, _) = ec_pair();
    let jwk = Jwk::from_encoding_key(&enc, Algorithm::ES256).unwrap();
    let key = Key::from_jwk(&jwk).unwrap();
    assert_eq!(key.algorithms(), &[Algorithm::ES256]);
    assert!(matches!(
        Key::from_jwks_json(
            r#"{"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]}"#
        ),
        Err(KeyError::Jwk(_))
    ));
}

// --- Keys ---

#[test]
fn short_hmac_secrets_are_refused() {
    assert!(matches!(
        Key::hmac(b"!ChangeMe!"),
        Err(KeyError::WeakSecret(10))
    ));
    assert_eq!(
        Key::hmac([7u8; 64]).unwrap().algorithms(),
        &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
    );
}

#[test]
fn key_algorithms_stay_within_the_family() {
    let rsa = Key::public_pem(RSA_PUBLIC_PEM).unwrap();
    assert!(matches!(
        rsa.clone().with_algorithms(&[Algorithm::HS256]),
        Err(KeyError::AlgorithmMismatch(Algorithm::HS256))
    ));
    assert_eq!(
        rsa.with_algorithms(&[Algorithm::RS256])
            .unwrap()
            .algorithms(),
        &[Algorithm::RS256]
    );
    assert!(matches!(
        Key::public_pem("not a pem"),
        Err(KeyError::Pem(_))
    ));
    assert!(matches!(
        Key::public_pem(RSA_PRIVATE_PEM),
        Err(KeyError::Pem(_))
    ));
}

#[test]
fn key_debug_does_not_show_key_material() {
    let debug = format!("{:?}", Key::hmac(SECRET).unwrap().with_kid("k"));
    assert!(!debug.contains("secret"), "{debug}");
    assert!(debug.contains("\"k\""), "{debug}");
}

// --- Authorization details ---

#[test]
fn several_details_are_kept_in_order_and_unknown_types_ignored() {
    let token = hs_token(&details(json!([
        {"type": "https://other.example/detail", "actions": "anything", "topics": 42},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["publish", "subscribe", "publish"], "topics": [{"match": "https://example.com/a"}]},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "*"}], "payload": {"k": 1}, "locations": ["x"]},
    ])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    assert_eq!(grants.details.len(), 2);
    assert_eq!(
        grants.details[0].actions,
        [Action::Publish, Action::Subscribe]
    );
    assert_eq!(grants.details[0].topics, [exact("https://example.com/a")]);
    assert_eq!(
        grants.details[1].payload,
        Some(json!({"k": 1}).as_object().unwrap().clone())
    );
}

#[test]
fn unknown_actions_grant_nothing_and_do_not_invalidate() {
    let token = hs_token(&details(json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["teleport"], "topics": [{"match": "*"}]},
    ])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    assert!(grants.details[0].actions.is_empty());
    assert!(!grants.can_publish(["https://example.com/a"], matches));
    assert!(!grants.can_receive(["https://example.com/a"], matches));
}

#[test]
fn a_token_without_details_grants_nothing() {
    let grants = hs_validator()
        .validate(
            &hs_token(&without(claims(), "authorization_details")),
            now(),
        )
        .unwrap();
    assert!(grants.details.is_empty());
    assert!(!grants.can_receive(["https://example.com/books/1"], matches));
}

#[test]
fn any_defective_mercure_detail_rejects_the_whole_token() {
    let t = MERCURE_DETAIL_TYPE;
    let topics = json!([{"match": "https://example.com/a"}]);
    let cases = [
        json!({"not": "an array"}),
        json!(["not an object"]),
        json!([{"actions": ["publish"], "topics": topics}]),
        json!([{"type": 7, "actions": ["publish"], "topics": topics}]),
        json!([{"type": t, "topics": topics}]),
        json!([{"type": t, "actions": [], "topics": topics}]),
        json!([{"type": t, "actions": "publish", "topics": topics}]),
        json!([{"type": t, "actions": ["publish", 3], "topics": topics}]),
        json!([{"type": t, "actions": ["publish"]}]),
        json!([{"type": t, "actions": ["publish"], "topics": []}]),
        json!([{"type": t, "actions": ["publish"], "topics": ["https://example.com/a"]}]),
        json!([{"type": t, "actions": ["publish"], "topics": [{"match_type": "exact"}]}]),
        json!([{"type": t, "actions": ["publish"], "topics": [{"match": ""}]}]),
        json!([{"type": t, "actions": ["publish"], "topics": [{"match": 5}]}]),
        json!([{"type": t, "actions": ["publish"], "topics": [{"match": "x", "match_type": "regex"}]}]),
        json!([{"type": t, "actions": ["publish"], "topics": [{"match": "x", "match_type": "Exact"}]}]),
        json!([{"type": t, "actions": ["publish"], "topics": [{"match": "x", "match_type": 1}]}]),
        json!([{"type": t, "actions": ["subscribe"], "topics": topics, "payload": "text"}]),
        // One good entry does not save a bad one: no partial acceptance.
        json!([{"type": t, "actions": ["publish"], "topics": topics}, {"type": t, "actions": ["publish"], "topics": []}]),
    ];
    for case in cases {
        let result = hs_validator().validate(&hs_token(&details(case.clone())), now());
        assert!(
            matches!(token_error(result), TokenError::AuthorizationDetails(_)),
            "{case}"
        );
    }
}

#[test]
fn match_type_defaults_to_exact_and_the_wildcard_ignores_it() {
    let token = hs_token(&details(json!([{
        "type": MERCURE_DETAIL_TYPE,
        "actions": ["publish"],
        "topics": [{"match": "https://example.com/a"}, {"match": "*", "match_type": "whatever"}]
    }])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    assert_eq!(grants.details[0].topics[0].match_type, DEFAULT_MATCH_TYPE);
    assert!(grants.can_publish(["https://example.com/anything"], |_, _| false));
}

#[test]
fn extra_matcher_types_can_be_enabled() {
    let token = hs_token(&details(json!([{
        "type": MERCURE_DETAIL_TYPE, "actions": ["publish"], "topics": [{"match": "x", "match_type": "glob"}]
    }])));
    assert!(hs_validator().validate(&token, now()).is_err());
    let validator = hs_validator().with_matcher_types(["exact", "urlpattern", "glob"]);
    assert_eq!(
        validator.validate(&token, now()).unwrap().details[0].topics[0].match_type,
        "glob"
    );
}

#[test]
fn detail_limits_are_enforced() {
    let limits = Limits {
        max_details: 1,
        max_topics_per_detail: 2,
        max_match_bytes: 10,
        ..Limits::default()
    };
    let validator = hs_validator().with_limits(limits);
    let entry = |topics: Value| json!({"type": MERCURE_DETAIL_TYPE, "actions": ["publish"], "topics": topics});
    let ok = json!([entry(json!([{"match": "a"}, {"match": "0123456789"}]))]);
    validator.validate(&hs_token(&details(ok)), now()).unwrap();
    for case in [
        json!([
            entry(json!([{"match": "a"}])),
            entry(json!([{"match": "b"}]))
        ]),
        json!([entry(
            json!([{"match": "a"}, {"match": "b"}, {"match": "c"}])
        )]),
        json!([entry(json!([{"match": "01234567890"}]))]),
    ] {
        let result = validator.validate(&hs_token(&details(case.clone())), now());
        assert!(
            matches!(token_error(result), TokenError::AuthorizationDetails(_)),
            "{case}"
        );
    }
}

#[test]
fn selector_check_failures_reject_the_token() {
    let validator = hs_validator().with_selector_check(std::sync::Arc::new(|s: &TopicSelector| {
        if s.match_type == "urlpattern" && s.value.contains('(') {
            Err("does not compile".to_owned())
        } else {
            Ok(())
        }
    }));
    validator.validate(&hs_token(&claims()), now()).unwrap();
    let bad = details(
        json!([{"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://e/(", "match_type": "urlpattern"}]}]),
    );
    assert!(matches!(
        token_error(validator.validate(&hs_token(&bad), now())),
        TokenError::AuthorizationDetails(_)
    ));
}

// --- Grants ---

#[test]
fn publishing_needs_every_topic_granted() {
    let token = hs_token(&details(json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["publish"], "topics": [{"match": "https://example.com/books/:id", "match_type": "urlpattern"}]},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://example.com/users/42/*", "match_type": "urlpattern"}]},
    ])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    assert!(grants.can_publish(
        ["https://example.com/books/1", "https://example.com/books/2"],
        matches
    ));
    assert!(!grants.can_publish(
        [
            "https://example.com/books/1",
            "https://example.com/users/42/books/1"
        ],
        matches
    ));
    assert!(!grants.can_publish([], matches));
    assert_eq!(grants.selectors(Action::Publish).count(), 1);
}

#[test]
fn a_private_update_is_received_when_any_topic_is_granted() {
    // The draft's alternate-topic example.
    let token = hs_token(&details(json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://example.com/users/42/*", "match_type": "urlpattern"}]},
    ])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    assert!(grants.can_receive(
        [
            "https://example.com/books/1",
            "https://example.com/users/42/books/1"
        ],
        matches
    ));
    assert!(!grants.can_receive(["https://example.com/books/1"], matches));
    assert!(!grants.can_publish(["https://example.com/users/42/books/1"], matches));
}

#[test]
fn payload_comes_from_the_first_matching_subscribe_detail() {
    // The draft's payload example.
    let token = hs_token(&details(json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://example.com/foo"}], "payload": {"custom1": "foo"}},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://example.com/bar/:id", "match_type": "urlpattern"}], "payload": {"custom2": "bar"}},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["publish"], "topics": [{"match": "*"}], "payload": {"publisher": true}},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "*"}], "payload": {"custom3": "default"}},
    ])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    let payload = |m: &str| {
        grants
            .payload_for(m, matches)
            .map(|p| Value::Object(p.clone()))
    };
    assert_eq!(
        payload("https://example.com/foo"),
        Some(json!({"custom1": "foo"}))
    );
    // The subscription's own urlpattern string, taken as a topic, matches itself.
    assert_eq!(
        payload("https://example.com/bar/:id"),
        Some(json!({"custom2": "bar"}))
    );
    assert_eq!(
        payload("https://example.com/other"),
        Some(json!({"custom3": "default"}))
    );
}

#[test]
fn the_first_matching_detail_decides_even_without_payload() {
    let token = hs_token(&details(json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://example.com/foo"}]},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "*"}], "payload": {"d": 1}},
    ])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    assert_eq!(grants.payload_for("https://example.com/foo", matches), None);
}

// --- Pre-1.0 tokens ---

fn legacy_validator() -> Validator {
    hs_validator().with_legacy_keys(vec![Key::hmac(SECRET).unwrap()])
}

fn legacy_token(claims: &Value) -> String {
    mint(&Header::new(Algorithm::HS256), claims, &hs_key())
}

#[test]
fn legacy_token_grants_its_mercure_claim() {
    let token = legacy_token(&json!({"mercure": {
        "publish": ["https://example.com/books/{id}"],
        "subscribe": ["*"],
        "payload": {"user": "https://example.com/users/1"}
    }}));
    let grants = legacy_validator().validate_legacy(&token, now()).unwrap();
    assert_eq!(grants.publish, ["https://example.com/books/{id}"]);
    assert_eq!(grants.subscribe, ["*"]);
    assert_eq!(
        grants.payload,
        Some(json!({"user": "https://example.com/users/1"}))
    );
    assert_eq!(grants.expires_at, None);
    assert!(grants.can_receive(["https://example.com/anything"], |_, _| false));
    let template = |s: &str, t: &str| {
        s == "https://example.com/books/{id}" && t.starts_with("https://example.com/books/")
    };
    assert!(grants.can_publish(["https://example.com/books/1"], template));
    assert!(!grants.can_publish(
        ["https://example.com/books/1", "https://example.com/x"],
        template
    ));
}

#[test]
fn legacy_token_needs_no_typ_iss_or_aud_but_exp_is_enforced() {
    let validator = legacy_validator();
    let grants = validator
        .validate_legacy(&legacy_token(&json!({"exp": NOW + 10})), now())
        .unwrap();
    assert_eq!(
        grants,
        LegacyGrants {
            expires_at: Some(NOW + 10),
            ..LegacyGrants::default()
        }
    );
    let expired = legacy_token(&json!({"exp": NOW - 100, "mercure": {"subscribe": ["*"]}}));
    assert_eq!(
        token_error(validator.validate_legacy(&expired, now())),
        TokenError::Expired
    );
    let early = legacy_token(&json!({"nbf": NOW + 100}));
    assert_eq!(
        token_error(validator.validate_legacy(&early, now())),
        TokenError::NotYetValid
    );
}

#[test]
fn legacy_token_signed_by_another_key_is_refused() {
    let token = mint(
        &Header::new(Algorithm::HS256),
        &json!({}),
        &EncodingKey::from_secret(b"some-other-secret-32-bytes-long!!"),
    );
    assert_eq!(
        token_error(legacy_validator().validate_legacy(&token, now())),
        TokenError::BadSignature
    );
}

#[test]
fn legacy_rs256_token_verifies() {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).unwrap();
    let validator = Validator::new(HUB, vec![])
        .with_legacy_keys(vec![Key::public_pem(RSA_PUBLIC_PEM).unwrap()]);
    let token = mint(
        &Header::new(Algorithm::RS256),
        &json!({"mercure": {"publish": ["*"]}}),
        &key,
    );
    assert_eq!(
        validator.validate_legacy(&token, now()).unwrap().publish,
        ["*"]
    );
}

#[test]
fn legacy_mercure_claim_of_the_wrong_shape_is_refused() {
    for claim in [
        json!("x"),
        json!({"publish": "*"}),
        json!({"subscribe": [1]}),
    ] {
        let token = legacy_token(&json!({"mercure": claim}));
        assert!(matches!(
            token_error(legacy_validator().validate_legacy(&token, now())),
            TokenError::LegacyClaim(_)
        ));
    }
}

#[test]
fn legacy_tokens_are_refused_without_legacy_keys() {
    let token = legacy_token(&json!({"mercure": {"publish": ["*"]}}));
    assert_eq!(
        token_error(hs_validator().validate_legacy(&token, now())),
        TokenError::LegacyDisabled
    );
}

#[test]
fn legacy_tokens_are_not_valid_1_0_tokens() {
    let token = legacy_token(&json!({"exp": NOW + 10, "mercure": {"publish": ["*"]}}));
    assert_eq!(
        token_error(legacy_validator().validate(&token, now())),
        TokenError::WrongType
    );
}

// --- Token extraction ---

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

#[test]
fn the_authorization_header_wins_over_the_cookie() {
    let map = headers(&[
        (AUTHORIZATION, "Bearer abc.def.ghi"),
        (COOKIE, "__Secure-mercure_access_token=cookie.tok.en"),
    ]);
    assert_eq!(
        bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(),
        presented("abc.def.ghi", TokenSource::Header)
    );
}

#[test]
fn the_cookie_is_used_without_an_authorization_header() {
    let map = headers(&[
        (COOKIE, "a=b"),
        (
            COOKIE,
            "theme=dark; __Secure-mercure_access_token=\"x.y.z\"; other=1",
        ),
    ]);
    assert_eq!(
        bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(),
        presented("x.y.z", TokenSource::Cookie)
    );
    let map = headers(&[(COOKIE, "hub2=x.y.z")]);
    assert_eq!(
        bearer_from_headers(&map, "hub2").unwrap(),
        presented("x.y.z", TokenSource::Cookie)
    );
    assert_eq!(bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(), None);
    let empty = headers(&[(COOKIE, "__Secure-mercure_access_token=")]);
    assert_eq!(bearer_from_headers(&empty, DEFAULT_COOKIE).unwrap(), None);
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let map = headers(&[(AUTHORIZATION, "bEaReR a.b.c")]);
    assert_eq!(
        bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(),
        presented("a.b.c", TokenSource::Header)
    );
}

#[test]
fn another_authorization_scheme_does_not_hide_the_cookie() {
    let map = headers(&[
        (AUTHORIZATION, "Basic dXNlcjpwYXNz"),
        (COOKIE, "__Secure-mercure_access_token=c.o.k"),
    ]);
    assert_eq!(
        bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(),
        presented("c.o.k", TokenSource::Cookie)
    );
    let map = headers(&[(AUTHORIZATION, "Basic dXNlcjpwYXNz")]);
    assert_eq!(bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(), None);
}

#[test]
fn malformed_presentations_are_invalid_requests() {
    for pairs in [
        vec![(AUTHORIZATION, "Bearer")],
        vec![(AUTHORIZATION, "Bearer ")],
        vec![(AUTHORIZATION, "Bearer a b")],
        vec![(AUTHORIZATION, "Bearer a,b")],
        vec![(AUTHORIZATION, "Bearer =abc")],
        vec![
            (AUTHORIZATION, "Bearer a.b.c"),
            (AUTHORIZATION, "Bearer d.e.f"),
        ],
        vec![(COOKIE, "__Secure-mercure_access_token=a b")],
    ] {
        let map = headers(&pairs);
        assert!(
            matches!(
                bearer_from_headers(&map, DEFAULT_COOKIE),
                Err(AuthError::InvalidRequest(_))
            ),
            "{pairs:?}"
        );
    }
    let map = headers(&[(AUTHORIZATION, "Bearer abc.def.gh==")]);
    assert_eq!(
        bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(),
        presented("abc.def.gh==", TokenSource::Header)
    );
}

#[test]
fn the_query_string_is_never_read_for_1_0() {
    // bearer_from_headers has no access to the URI at all; the legacy reader does.
    let uri: Uri = "/.well-known/mercure?topic=x&authorization=q.u.e"
        .parse()
        .unwrap();
    assert_eq!(
        bearer_from_headers(&HeaderMap::new(), DEFAULT_COOKIE).unwrap(),
        None
    );
    assert_eq!(
        legacy_token_from_request(&uri, &HeaderMap::new(), LEGACY_COOKIE).unwrap(),
        presented("q.u.e", TokenSource::Query)
    );
}

#[test]
fn legacy_precedence_is_header_then_query_then_cookie() {
    let uri: Uri = "/.well-known/mercure?topic=x&authorization=q.u.e"
        .parse()
        .unwrap();
    let plain: Uri = "/.well-known/mercure?topic=x".parse().unwrap();
    let all = headers(&[
        (AUTHORIZATION, "Bearer h.e.a"),
        (COOKIE, "mercureAuthorization=c.o.o"),
    ]);
    let cookie_only = headers(&[(COOKIE, "mercureAuthorization=c.o.o")]);
    assert_eq!(
        legacy_token_from_request(&uri, &all, LEGACY_COOKIE).unwrap(),
        presented("h.e.a", TokenSource::Header)
    );
    assert_eq!(
        legacy_token_from_request(&uri, &cookie_only, LEGACY_COOKIE).unwrap(),
        presented("q.u.e", TokenSource::Query)
    );
    assert_eq!(
        legacy_token_from_request(&plain, &cookie_only, LEGACY_COOKIE).unwrap(),
        presented("c.o.o", TokenSource::Cookie)
    );
    assert_eq!(
        legacy_token_from_request(&plain, &HeaderMap::new(), LEGACY_COOKIE).unwrap(),
        None
    );
    let twice: Uri = "/?authorization=a.b.c&authorization=d.e.f".parse().unwrap();
    assert!(matches!(
        legacy_token_from_request(&twice, &HeaderMap::new(), LEGACY_COOKIE),
        Err(AuthError::InvalidRequest(_))
    ));
}

#[test]
fn presented_token_debug_hides_the_token() {
    let debug = format!("{:?}", presented("secret.token.value", TokenSource::Header));
    assert!(!debug.contains("secret"), "{debug}");
}

// --- Error responses ---

const METADATA: &str =
    "https://hub.example.com/.well-known/oauth-protected-resource/.well-known/mercure";

fn challenge(error: &AuthError) -> (StatusCode, String) {
    let (status, value) = error.www_authenticate(METADATA);
    (status, value.to_str().unwrap().to_owned())
}

#[test]
fn missing_token_is_401_without_error_code() {
    let (status, value) = challenge(&AuthError::MissingToken);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        value,
        format!("Bearer realm=\"mercure\", resource_metadata=\"{METADATA}\"")
    );
}

#[test]
fn invalid_token_is_401_with_a_generic_description() {
    let (status, value) = challenge(&AuthError::InvalidToken(TokenError::Expired));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        value,
        format!("Bearer realm=\"mercure\", error=\"invalid_token\", error_description=\"the access token is invalid\", resource_metadata=\"{METADATA}\"")
    );
    // The reason is not disclosed: an expired and a forged token look the same.
    assert_eq!(
        challenge(&AuthError::InvalidToken(TokenError::BadSignature)).1,
        value
    );
}

#[test]
fn insufficient_scope_is_403() {
    let (status, value) = challenge(&AuthError::InsufficientScope);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(value, format!("Bearer realm=\"mercure\", error=\"insufficient_scope\", resource_metadata=\"{METADATA}\""));
}

#[test]
fn invalid_request_is_400() {
    let map = headers(&[(AUTHORIZATION, "Bearer a b")]);
    let error = bearer_from_headers(&map, DEFAULT_COOKIE).unwrap_err();
    let (status, value) = challenge(&error);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        value.starts_with(
            "Bearer realm=\"mercure\", error=\"invalid_request\", error_description=\""
        ),
        "{value}"
    );
    assert!(
        value.ends_with(&format!("resource_metadata=\"{METADATA}\"")),
        "{value}"
    );
}

#[test]
fn resource_metadata_is_optional_and_quoted_safely() {
    let (_, value) = AuthError::MissingToken.www_authenticate("");
    assert_eq!(value, "Bearer realm=\"mercure\"");
    let (_, value) = AuthError::InsufficientScope.www_authenticate("https://h/\"x\\");
    assert_eq!(value, "Bearer realm=\"mercure\", error=\"insufficient_scope\", resource_metadata=\"https://h/\\\"x\\\\\"");
    // A URL that cannot be a header value is dropped, not the whole challenge.
    let (status, value) = AuthError::MissingToken.www_authenticate("https://h/\n");
    assert_eq!(
        (status, value.to_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "Bearer realm=\"mercure\"")
    );
}

#[test]
fn validation_errors_map_to_invalid_token() {
    let error = hs_validator().validate("a.b.c", now()).unwrap_err();
    assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&error).1.contains("error=\"invalid_token\""));
}
