//! Access token validation, rule by rule: `typ`, `aud`, `iss`, the time claims, the
//! signature, the algorithm allowlist, header extensions, and malformed or oversized tokens.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use super::*;

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
