//! Who may publish on the native API (`POST /events/{topic}`): when publishing requires
//! authorization (`hub.publish_auth`), the request's `Authorization: Bearer` token must be
//! one of the configured static tokens, or an access token the Mercure hub accepts that
//! grants `publish` on the topic. Failures are answered as RFC 6750 says.

use std::sync::Arc;

use http::{HeaderMap, Response, StatusCode};

use crate::{
    auth::{
        bearer_from_headers, challenge_response, AuthError, PublishAuthority, TokenError,
        TokenSource,
    },
    http::{error, PublishLimits, ResponseBody},
};

/// The native API's publish check.
pub struct PublishGuard {
    required: bool,
    static_tokens: Vec<String>,
    authority: Option<Arc<dyn PublishAuthority>>,
    limits: Arc<PublishLimits>,
}

impl std::fmt::Debug for PublishGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishGuard")
            .field("required", &self.required)
            .field("static_tokens", &self.static_tokens.len())
            .finish_non_exhaustive()
    }
}

impl PublishGuard {
    /// A guard; `required` false lets every publication through.
    pub fn new(
        required: bool,
        static_tokens: Vec<String>,
        authority: Option<Arc<dyn PublishAuthority>>,
    ) -> Self {
        Self {
            required,
            static_tokens,
            authority,
            limits: Arc::new(PublishLimits::none()),
        }
    }

    /// Also holds publishers to `limits` (`429` over them).
    pub fn with_limits(mut self, limits: Arc<PublishLimits>) -> Self {
        self.limits = limits;
        self
    }

    /// Anyone may publish.
    pub fn open() -> Self {
        Self::new(false, Vec::new(), None)
    }

    /// Whether publishing needs a token.
    pub fn required(&self) -> bool {
        self.required
    }

    /// `Ok` when a publication to `topic` with these request headers may proceed; otherwise
    /// the 400, 401 or 403 answer.
    ///
    /// A topic in the Mercure hub's reserved namespace is refused first, token or not (the
    /// draft's rule for its own publish endpoint): native updates reach Mercure subscribers,
    /// and a native topic such as `mercure/subscriptions/x` resolves, against the default
    /// hub URL, to a subscription events topic that URL-pattern subscribers would match.
    #[allow(clippy::result_large_err)] // the error is the response itself, built once
    pub fn check(
        &self,
        client: Option<std::net::IpAddr>,
        headers: &HeaderMap,
        topic: &str,
    ) -> Result<(), Response<ResponseBody>> {
        // First: a refused flood costs no token verification.
        self.limits.check(client, headers)?;
        if let Some(namespace) = self
            .authority
            .as_ref()
            .and_then(|a| a.reserved_namespace(topic))
        {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("topic {topic:?} is in the Mercure hub's reserved namespace {namespace}"),
            ));
        }
        if !self.required {
            return Ok(());
        }
        let token = match bearer_from_headers(headers, "") {
            // Cookies are not accepted here: the native API has no CSRF defence for them.
            Ok(Some(token)) if token.source == TokenSource::Header => token,
            Ok(_) => return Err(self.challenge(&AuthError::MissingToken)),
            Err(e) => return Err(self.challenge(&e)),
        };
        if self
            .static_tokens
            .iter()
            .any(|known| constant_time_eq(known.as_bytes(), token.token.as_bytes()))
        {
            return Ok(());
        }
        let Some(authority) = &self.authority else {
            return Err(self.challenge(&AuthError::InvalidToken(TokenError::BadSignature)));
        };
        match authority.grants_publish(&token, topic) {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.challenge(&AuthError::InsufficientScope)),
            Err(e) => Err(self.challenge(&e)),
        }
    }

    fn challenge(&self, e: &AuthError) -> Response<ResponseBody> {
        let metadata = self.authority.as_ref().map_or("", |a| a.metadata_url());
        challenge_response(e, metadata)
    }
}

/// Compares secrets in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
