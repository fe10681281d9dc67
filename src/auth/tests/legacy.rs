//! Pre-1.0 tokens: the `mercure` claim, validated with the legacy keys only.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

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
