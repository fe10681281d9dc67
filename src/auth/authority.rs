//! What a token-validating hub answers to the other front doors, and the RFC 6750 answer to
//! a refused token that every front door sends alike.

use http::{header, Response};

use super::{AuthError, PresentedToken};
use crate::http::{error, ResponseBody};

/// A hub that validates access tokens, asked by another front door whether a token may
/// publish (the native API asks the Mercure hub). Behind a trait so that neither front door
/// imports the other.
pub trait PublishAuthority: std::fmt::Debug + Send + Sync {
    /// The namespace `topic` falls in when it is reserved for the authority's own events
    /// (whatever the token): such topics are refused.
    fn reserved_namespace(&self, topic: &str) -> Option<String>;

    /// Validates `token`: whether it grants publishing to `topic`.
    fn grants_publish(&self, token: &PresentedToken, topic: &str) -> Result<bool, AuthError>;

    /// The protected resource metadata URL that challenges name.
    fn metadata_url(&self) -> &str;
}

/// The RFC 6750 answer to an authorization failure: the status, the `WWW-Authenticate:
/// Bearer` challenge pointing at `metadata_url`, and a message that says no more than the
/// challenge does (Mercure draft: "Error Responses").
pub fn challenge_response(e: &AuthError, metadata_url: &str) -> Response<ResponseBody> {
    let (status, challenge) = e.www_authenticate(metadata_url);
    let message = match e {
        AuthError::InvalidToken(_) => "the access token is invalid".to_owned(),
        other => other.to_string(),
    };
    let mut response = error(status, message);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    response
}
