//! Error responses: the status and the RFC 6750 `WWW-Authenticate` challenge of each
//! [`AuthError`].

use http::header::AUTHORIZATION;
use http::StatusCode;

use super::*;

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
