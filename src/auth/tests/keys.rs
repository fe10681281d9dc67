//! Verification keys: each key type (RSA, EC, Ed25519 PEM; PEM files; JWK Sets with `kid`
//! selection and `alg` restriction) and the rules on building keys.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::*;

// --- Token validation: each key type ---

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

// --- JWK Sets ---

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

// --- Building keys ---

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
