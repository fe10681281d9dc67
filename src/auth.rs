//! Mercure authorization: everything between a request's headers and the question "may this
//! client publish to, or receive, these topics?". The hub endpoints call it; it owns no
//! connection state and does no I/O beyond reading key files at configuration time.
//!
//! Imports only `http` (the challenge response); never a front door: the native API and
//! Mercure both call it.
//!
//! # How to use it
//!
//! At configuration time, build [`Key`]s (HMAC secret, PEM public key, JWK Set file), group
//! them per trusted [`Issuer`], and make a [`Validator`] with the hub's resource identifier
//! (its canonical URL by default) and, for pre-1.0 clients, legacy keys. An issuer whose keys
//! are published at a URL gets a [`RemoteJwks`] ([`Validator::with_remote_jwks`]), refreshed
//! by the task [`RemoteJwks::spawn_refresh`] starts.
//!
//! Per request:
//!
//! 1. [`bearer_from_headers`] (1.0) or [`legacy_token_from_request`] (pre-1.0) finds the
//!    token. Check the [`TokenSource`]: a cookie-borne token on a publish request needs the
//!    CSRF origin check the draft requires.
//! 2. [`Validator::validate`] or [`Validator::validate_legacy`] turns it into [`Grants`] or
//!    [`LegacyGrants`].
//! 3. The grants answer per topic, with the matcher module's `matches(selector, topic)`:
//!    [`Grants::can_publish`] (every topic), [`Grants::can_receive`] (at least one topic of a
//!    private update), [`Grants::payload_for`] (the subscription's payload). A subscriber's
//!    connection must be closed by [`Grants::expires_at`].
//! 4. Any failure is an [`AuthError`]; [`AuthError::www_authenticate`] gives the status and
//!    the RFC 6750 challenge. A token that validates but does not grant the operation is
//!    [`AuthError::InsufficientScope`], which the caller raises.
//!
//! A hub that validates tokens answers other front doors through [`PublishAuthority`] (the
//! native API asks the Mercure hub whether a token may publish), so that no front door
//! imports another.
//!
//! # What is not here
//!
//! Topic matching itself lives in the matcher module. Discovering an authorization server's
//! `jwks_uri` from its metadata (RFC 8414) is the caller's: [`RemoteJwks`] takes the URL.

mod authority;
mod claims;
mod details;
mod error;
mod extract;
mod grants;
mod jwks;
mod key;
mod validate;

pub use authority::{challenge_response, PublishAuthority};
pub use error::{AuthError, KeyError, TokenError, REALM};
pub use extract::{
    bearer_from_headers, is_access_token, is_token68, legacy_token_from_request, PresentedToken,
    TokenSource, DEFAULT_COOKIE, LEGACY_COOKIE, LEGACY_QUERY_PARAM,
};
pub(crate) use grants::granted_on_every;
pub use grants::{
    Action, Detail, Grants, LegacyGrants, TopicSelector, DEFAULT_MATCH_TYPE, WILDCARD,
};
/// Signature algorithms, re-exported so configuration code needs no direct dependency.
pub use jsonwebtoken::Algorithm;
pub use jwks::{JwksFetchConfig, RemoteJwks};
pub use key::{Issuer, Key};
pub use validate::{
    Limits, SelectorCheck, Validator, DEFAULT_ALGORITHMS, DEFAULT_LEEWAY, MERCURE_DETAIL_TYPE,
};

#[cfg(test)]
mod tests;
