//! The Mercure protocol hub (draft-dunglas-mercure-08, and pre-1.0 clients in compatibility
//! mode), one more front door of the same [`Hub`] the native `/events` API uses: an update
//! published through either reaches the subscribers of both whose selections match.
//!
//! A front door: imports the hub, `auth`, `http`, `sse` and `config`; never another front
//! door, the router or the edge.
//!
//! - [`matcher`]: topic matchers (`exact`, `urlpattern`, the `*` wildcard, pre-1.0 URI
//!   templates) and the parsing of the subscription query parameters that carry them.
//! - [`auth`]: access tokens: where a request carries one, their validation (JWT access
//!   tokens with `authorization_details`, and pre-1.0 `mercure` claims), the grants they
//!   carry, and the RFC 6750 error responses.
//! - [`Mercure`] (here): the endpoints under the hub URL's path, and the token checks they
//!   share: subscription (`subscribe`), publication (`publish`), the subscription API and
//!   events (`subscriptions`), the protected resource metadata (`discovery`) and CORS (`cors`).

mod access;
mod client_limit;
mod cors;
mod discovery;
mod filter;
pub mod matcher;
mod publication;
#[cfg(feature = "fuzzing")]
pub use publication::Publication;
#[cfg(feature = "fuzzing")]
pub(crate) use publication::{parse_for_fuzzing, FormRules};
mod publish;
mod subscribe;
mod subscriptions;

use std::{sync::Arc, time::Duration, time::SystemTime};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use url::Url;

pub use access::Access;
pub use subscribe::MercureStream;

use crate::auth::{
    bearer_from_headers, challenge_response, legacy_token_from_request, AuthError, PresentedToken,
    PublishAuthority, RemoteJwks, TokenSource, Validator,
};
use crate::{
    config::MercureConfig,
    http::ResponseBody,
    http::{error, method_not_allowed, read_text_body, PublishLimits},
    hub::Directory,
    hub::Hub,
};
use matcher::{MatcherCache, MatcherLimits, DEFAULT_CACHE_CAPACITY};
use subscriptions::Registry;

/// The SSE event type the hub keeps for its own events (subscription events).
pub const RESERVED_TYPE: &str = "mercure";

/// The reserved cursor value asking for everything the hub retains.
pub const EARLIEST: &str = "earliest";

/// Settings the Mercure endpoints share with the rest of the server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Heartbeat interval of streams.
    pub heartbeat_interval: Duration,
    /// Largest publish body.
    pub max_body_bytes: usize,
    /// Deadline for reading a publish body.
    pub body_read_timeout: Duration,
    /// Publishing needs a token (`hub.publish_auth`).
    pub publish_requires_auth: bool,
    /// In a cluster, where the subscriptions of every node are recorded.
    pub directory: Option<Arc<dyn Directory>>,
    /// Publish rate limits, shared with the native API.
    pub publish_limits: Arc<PublishLimits>,
    /// Where refused tokens are counted.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// The Mercure hub's endpoints. One per server, shared by every connection.
pub struct Mercure {
    hub: Arc<Hub>,
    hub_url: Arc<Url>,
    /// The hub URL's path without a trailing `/`: where subscriptions and publications go.
    path: String,
    metadata_path: String,
    metadata_url: String,
    validator: Validator,
    remote_jwks: Vec<Arc<RemoteJwks>>,
    cache: Arc<MatcherCache>,
    limits: MatcherLimits,
    config: MercureConfig,
    shared: ServerSettings,
    registry: Option<Arc<Registry>>,
    client_limit: Option<Arc<client_limit::ClientLimit>>,
}

impl std::fmt::Debug for Mercure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mercure")
            .field("hub_url", &self.hub_url.as_str())
            .field("legacy", &self.config.legacy)
            .finish_non_exhaustive()
    }
}

/// Which protocol generation a request speaks, which decides where its token may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// draft-dunglas-mercure-08: header or cookie, never the URL.
    Current,
    /// Pre-1.0: header, `authorization` query parameter, or the pre-1.0 cookie.
    Legacy,
}

impl Mercure {
    /// The hub for `config`, serving `hub`. `tls_port` completes the default hub URL.
    pub fn new(
        config: MercureConfig,
        hub: Arc<Hub>,
        tls_port: u16,
        shared: ServerSettings,
    ) -> Result<Self, crate::auth::KeyError> {
        let hub_url = config.hub_url_for(tls_port);
        let path = hub_url.path().trim_end_matches('/').to_owned();
        let audience = config
            .audience
            .clone()
            .unwrap_or_else(|| hub_url.to_string());
        let limits = MatcherLimits::default();
        let cache = Arc::new(MatcherCache::new(
            hub_url.clone(),
            limits.clone(),
            DEFAULT_CACHE_CAPACITY,
        ));
        let check_cache = cache.clone();
        let mut validator = Validator::new(audience, config.issuers.clone())
            .with_leeway(config.leeway)
            .with_legacy_keys(config.legacy_keys.clone())
            .with_selector_check(Arc::new(move |selector| {
                check_cache
                    .selector_matcher(Some(&selector.match_type), &selector.value)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }));
        if !config.algorithms.is_empty() {
            validator = validator.with_algorithms(&config.algorithms);
        }
        let mut remote_jwks = Vec::new();
        for (iss, fetch) in &config.remote_jwks {
            let jwks = Arc::new(RemoteJwks::new(fetch.clone())?);
            validator = validator.with_remote_jwks(iss.clone(), jwks.clone());
            remote_jwks.push(jwks);
        }
        let metadata_path = format!("/.well-known/oauth-protected-resource{path}");
        let metadata_url = format!("{}{metadata_path}", hub_url.origin().ascii_serialization());
        let registry = config
            .subscriptions
            .then(|| Arc::new(Registry::new(hub.clone(), &path, shared.directory.clone())));
        let client_limit = (config.max_streams_per_client > 0).then(|| {
            Arc::new(client_limit::ClientLimit::new(
                config.max_streams_per_client,
            ))
        });
        Ok(Self {
            hub,
            hub_url: Arc::new(hub_url),
            path,
            metadata_path,
            metadata_url,
            validator,
            remote_jwks,
            cache,
            limits,
            config,
            shared,
            registry,
            client_limit,
        })
    }

    /// The hub URL.
    pub fn hub_url(&self) -> &Url {
        &self.hub_url
    }

    /// Starts refreshing the JWK Sets fetched by URL; abort the tasks to stop.
    pub fn spawn_key_refresh(&self) -> Vec<tokio::task::JoinHandle<()>> {
        self.remote_jwks
            .iter()
            .map(|jwks| jwks.spawn_refresh(std::future::pending()))
            .collect()
    }

    /// Whether `path` is one of the hub's: the hub URL's path and everything below it, and
    /// the protected resource metadata document.
    pub fn serves(&self, path: &str) -> bool {
        path == self.metadata_path
            || path
                .strip_prefix(self.path.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Answers a request for one of the paths [`Mercure::serves`]. Never fails: every error
    /// is a response.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let origin = cors::request_origin(req.headers());
        let is_preflight = req.method() == Method::OPTIONS;
        let mut response = if is_preflight {
            self.preflight(&req)
        } else {
            self.route(req).await
        };
        if let Some(origin) = origin {
            cors::decorate(&self.config.cors, &origin, &mut response);
        }
        response
    }

    async fn route<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path();
        if path == self.metadata_path {
            return match *req.method() {
                Method::GET | Method::HEAD => discovery::metadata(self),
                _ => method_not_allowed("GET, HEAD"),
            };
        }
        let rest = &path[self.path.len()..];
        if rest.is_empty() || rest == "/" {
            return match req.method().as_str() {
                "GET" | "QUERY" => self.subscribe(req).await,
                "POST" => self.publish(req).await,
                _ => method_not_allowed("GET, QUERY, POST"),
            };
        }
        if let (Some(registry), Some(api_path)) =
            (&self.registry, rest.strip_prefix("/subscriptions"))
        {
            if api_path.is_empty() || api_path.starts_with('/') {
                return match *req.method() {
                    Method::GET | Method::HEAD => self.subscription_api(&req, registry).await,
                    _ => method_not_allowed("GET, HEAD"),
                };
            }
        }
        error(StatusCode::NOT_FOUND, format!("no hub resource at {path}"))
    }

    fn preflight<B>(&self, req: &Request<B>) -> Response<ResponseBody> {
        let mut response = Response::new(ResponseBody::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        cors::preflight(&self.config.cors, req.headers(), &mut response);
        response
    }

    /// The token a request presents, if any, by the rules of its protocol generation.
    fn presented_token(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        protocol: Protocol,
    ) -> Result<Option<PresentedToken>, AuthError> {
        match protocol {
            Protocol::Current => bearer_from_headers(headers, &self.config.cookie_name),
            Protocol::Legacy => {
                let token =
                    legacy_token_from_request(uri, headers, &self.config.legacy_cookie_name)?;
                match token {
                    Some(token) => Ok(Some(token)),
                    None => bearer_from_headers(headers, &self.config.cookie_name),
                }
            }
        }
    }

    /// Validates a presented token: a JWT access token (`typ: at+jwt`) by the 1.0 rules; in
    /// compatibility mode, any other JWT by the pre-1.0 rules (the `mercure` claim).
    pub fn validate(&self, token: &PresentedToken) -> Result<Access, AuthError> {
        let now = SystemTime::now();
        if self.config.legacy && !crate::auth::is_access_token(&token.token) {
            let grants = self.validator.validate_legacy(&token.token, now)?;
            return Access::from_legacy(grants, &self.cache);
        }
        let grants = self.validator.validate(&token.token, now)?;
        Access::from_grants(grants, &self.cache)
    }

    /// Finds and validates the request's token. `Ok(None)`: no token was presented.
    fn authenticate(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        protocol: Protocol,
    ) -> Result<Option<(Access, TokenSource)>, AuthError> {
        let Some(token) = self.presented_token(uri, headers, protocol)? else {
            return Ok(None);
        };
        let access = self.validate(&token).inspect_err(|e| {
            tracing::debug!(error = %e, source = ?token.source, "access token refused");
        })?;
        Ok(Some((access, token.source)))
    }

    /// Reads a form-encoded body (a publication, or a QUERY subscription's parameters):
    /// 415 for another media type, then the size, time and UTF-8 checks of every body.
    async fn read_form<B>(
        &self,
        headers: &HeaderMap,
        body: B,
        what: &str,
    ) -> Result<String, Response<ResponseBody>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(subscribe::is_form_content_type);
        if !is_form {
            return Err(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("{what} must be application/x-www-form-urlencoded"),
            ));
        }
        let limit = self.shared.max_body_bytes;
        read_text_body(body, headers, limit, self.shared.body_read_timeout).await
    }

    /// The URL of the protected resource metadata document, named in every challenge.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    fn auth_error(&self, e: &AuthError) -> Response<ResponseBody> {
        if let Some(metrics) = &self.shared.metrics {
            metrics.token_rejected(rejection_reason(e));
        }
        challenge_response(e, &self.metadata_url)
    }
}

/// The fixed set of reasons a refused token is counted under.
fn rejection_reason(e: &AuthError) -> crate::metrics::TokenRejection {
    use crate::{auth::TokenError as T, metrics::TokenRejection as R};
    match e {
        AuthError::MissingToken => R::Missing,
        AuthError::InsufficientScope => R::Scope,
        AuthError::InvalidRequest(_) => R::Malformed,
        AuthError::InvalidToken(t) => match t {
            T::Malformed(_) | T::TooLarge(_) | T::WrongType | T::CriticalHeader => R::Malformed,
            T::Expired | T::NotYetValid | T::IssuedInFuture | T::MissingExpiry => R::Expired,
            T::DisallowedAlgorithm | T::BadSignature => R::Signature,
            T::UntrustedIssuer | T::WrongAudience => R::Issuer,
            T::AuthorizationDetails(_) | T::LegacyClaim(_) | T::LegacyDisabled => R::Claims,
        },
    }
}

impl PublishAuthority for Mercure {
    fn reserved_namespace(&self, topic: &str) -> Option<String> {
        self.in_reserved_namespace(topic)
            .then(|| self.hub_url.path().to_owned())
    }

    fn grants_publish(&self, token: &PresentedToken, topic: &str) -> Result<bool, AuthError> {
        self.validate(token)
            .map(|access| access.can_publish([topic]))
    }

    fn metadata_url(&self) -> &str {
        &self.metadata_url
    }
}

/// A request refused before anything was done: the status and the message for the client.
#[derive(Debug)]
struct Rejection {
    status: StatusCode,
    message: String,
}

impl Rejection {
    fn bad(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn too_large(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: message.into(),
        }
    }

    fn into_response(self) -> Response<ResponseBody> {
        error(self.status, self.message)
    }
}

/// `text/plain; charset=utf-8`, the publication answer's media type.
fn text_plain() -> HeaderValue {
    HeaderValue::from_static("text/plain; charset=utf-8")
}

/// A fresh random `urn:uuid:` identifier: update and subscriber ids that disclose nothing.
fn new_urn_uuid() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}
