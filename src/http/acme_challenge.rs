//! Answers to an ACME CA's http-01 validations (RFC 8555 section 8.3): while an order is
//! pending, `GET /.well-known/acme-challenge/{token}` returns the token's key authorization.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use http::{header, Response, StatusCode};

use super::ResponseBody;

/// The path prefix the CA asks under.
pub const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// The pending http-01 tokens and their key authorizations.
#[derive(Debug, Default)]
pub struct Http01Challenges {
    tokens: Mutex<HashMap<String, String>>,
}

impl Http01Challenges {
    /// Answers `token` with `key_authorization` until [`remove`](Self::remove).
    pub fn insert(&self, token: String, key_authorization: String) {
        self.lock().insert(token, key_authorization);
    }

    /// Stops answering `token`.
    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    /// The response for `path` if it is a challenge path: the key authorization, or `404`
    /// for a token nobody asked for.
    pub fn respond(&self, path: &str) -> Option<Response<ResponseBody>> {
        let token = path.strip_prefix(ACME_CHALLENGE_PREFIX)?;
        let Some(key_authorization) = self.lock().get(token).cloned() else {
            let mut response = Response::new(ResponseBody::empty());
            *response.status_mut() = StatusCode::NOT_FOUND;
            return Some(response);
        };
        let mut response = Response::new(ResponseBody::full(key_authorization));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/octet-stream"),
        );
        Some(response)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}
