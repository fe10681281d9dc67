//! The Mercure protocol hub (draft-dunglas-mercure-08, with the pre-1.0 `topic` selectors
//! most deployed clients still send).
//!
//! - [`matcher`]: topic matchers (`exact`, `urlpattern`, the `*` wildcard, pre-1.0 URI
//!   templates) and the parsing of the subscription query parameters that carry them.
//! - [`auth`]: access tokens: where a request carries one, their validation (JWT access
//!   tokens with `authorization_details`, and pre-1.0 `mercure` claims), the grants they
//!   carry, and the RFC 6750 error responses.

pub mod auth;
pub mod matcher;
