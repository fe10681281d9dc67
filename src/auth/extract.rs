//! Where a request carries its access token (draft section "Presenting the Access Token";
//! pre-1.0 section "Authorization"), and the RFC 6750 syntax checks on it.

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, Uri};

use super::error::AuthError;
use super::validate::is_at_jwt;

/// The cookie name the draft recommends for 1.0 hubs.
pub const DEFAULT_COOKIE: &str = "__Secure-mercure_access_token";

/// The cookie name of pre-1.0 hubs.
pub const LEGACY_COOKIE: &str = "mercureAuthorization";

/// The pre-1.0 query parameter carrying the token (never accepted for 1.0 tokens).
pub const LEGACY_QUERY_PARAM: &str = "authorization";

/// Where a presented token came from. A hub must defend cookie-authenticated requests
/// against CSRF (check `Origin`/`Referer` on publish), so callers need to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer`.
    Header,
    /// The access token cookie.
    Cookie,
    /// The pre-1.0 `authorization` query parameter.
    Query,
}

/// A token as presented by the client, not yet validated.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedToken {
    /// The token text.
    pub token: String,
    /// Where it came from.
    pub source: TokenSource,
}

impl std::fmt::Debug for PresentedToken {
    // A bearer token is a credential: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedToken")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The token of a 1.0 request: the `Authorization: Bearer` header if there is one (any
/// cookie is then ignored, as the draft requires), otherwise the cookie `cookie_name`
/// ([`DEFAULT_COOKIE`] unless configured). The URL query is never looked at.
///
/// An `Authorization` header with another scheme (say `Basic`, for a proxy in front) is not
/// a bearer token and does not hide the cookie. A malformed bearer credential, several
/// `Authorization` headers, or an empty bearer token is [`AuthError::InvalidRequest`]. An
/// empty cookie counts as no cookie; of several cookies of that name the first is used
/// (RFC 6265 orders the most specific path first).
pub fn bearer_from_headers(
    headers: &HeaderMap,
    cookie_name: &str,
) -> Result<Option<PresentedToken>, AuthError> {
    if let Some(token) = header_token(headers)? {
        return Ok(Some(token));
    }
    cookie_token(headers, cookie_name)
}

/// The token of a pre-1.0 request: the `Authorization: Bearer` header wins, then the
/// `authorization` query parameter, then the cookie `cookie_name` ([`LEGACY_COOKIE`] unless
/// configured). Several `authorization` parameters, or one carrying a 1.0 access token
/// (`typ: at+jwt`), are [`AuthError::InvalidRequest`].
pub fn legacy_token_from_request(
    uri: &Uri,
    headers: &HeaderMap,
    cookie_name: &str,
) -> Result<Option<PresentedToken>, AuthError> {
    if let Some(token) = header_token(headers)? {
        return Ok(Some(token));
    }
    let mut from_query = None;
    for (name, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if name == LEGACY_QUERY_PARAM {
            if from_query.is_some() {
                return Err(AuthError::InvalidRequest(
                    "several authorization parameters",
                ));
            }
            from_query = Some(value.into_owned());
        }
    }
    if let Some(token) = from_query {
        if !is_token68(&token) {
            return Err(AuthError::InvalidRequest("malformed access token"));
        }
        // The parameter carries pre-1.0 tokens only: a 1.0 access token never travels in
        // the URL, compatibility mode or not (draft "Presenting the Access Token", RFC 9700).
        if is_access_token(&token) {
            return Err(AuthError::InvalidRequest(
                "an access token must not be sent in the URL",
            ));
        }
        return Ok(Some(PresentedToken {
            token,
            source: TokenSource::Query,
        }));
    }
    cookie_token(headers, cookie_name)
}

/// The `Authorization: Bearer` token, the presentation that always wins.
fn header_token(headers: &HeaderMap) -> Result<Option<PresentedToken>, AuthError> {
    Ok(bearer_header(headers)?.map(|token| PresentedToken {
        token,
        source: TokenSource::Header,
    }))
}

/// The token of cookie `name`, the presentation of last resort.
fn cookie_token(headers: &HeaderMap, name: &str) -> Result<Option<PresentedToken>, AuthError> {
    Ok(cookie(headers, name)?.map(|token| PresentedToken {
        token,
        source: TokenSource::Cookie,
    }))
}

/// The bearer token of the `Authorization` header, `None` when there is no header or it
/// uses another scheme.
fn bearer_header(headers: &HeaderMap) -> Result<Option<String>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest("several Authorization headers"));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::InvalidRequest("malformed Authorization header"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Ok(None);
    }
    // RFC 6750 section 2.1: credentials = "Bearer" 1*SP b64token.
    let token = rest.trim_start_matches(' ');
    if !is_token68(token) {
        return Err(AuthError::InvalidRequest("malformed bearer token"));
    }
    Ok(Some(token.to_owned()))
}

/// The value of cookie `name` across all `Cookie` headers (HTTP/2 may split them).
fn cookie(headers: &HeaderMap, name: &str) -> Result<Option<String>, AuthError> {
    for value in headers.get_all(COOKIE) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for pair in value.split(';') {
            let Some((n, v)) = pair.trim().split_once('=') else {
                continue;
            };
            if n.trim() != name {
                continue;
            }
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            if v.is_empty() {
                return Ok(None);
            }
            if !is_token68(v) {
                return Err(AuthError::InvalidRequest("malformed access token cookie"));
            }
            return Ok(Some(v.to_owned()));
        }
    }
    Ok(None)
}

/// Whether `token` is a JWT whose header says it is a 1.0 access token (`typ: at+jwt`).
pub fn is_access_token(token: &str) -> bool {
    jsonwebtoken::decode_header(token)
        .ok()
        .and_then(|header| header.typ)
        .is_some_and(|typ| is_at_jwt(&typ))
}

/// RFC 6750 b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}
