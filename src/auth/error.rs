//! The errors of the authorization module and their mapping to RFC 6750 challenges: which
//! status code and which `WWW-Authenticate: Bearer` header a failure is reported with (draft
//! section "Error Responses").

use http::{HeaderValue, StatusCode};

/// The realm named in every challenge. RFC 6750 makes it optional and opaque; one fixed
/// value keeps the challenges of all hub endpoints alike.
pub const REALM: &str = "mercure";

/// The `error_description` sent with `invalid_token`. It is the same for every failure: the
/// draft recommends not telling a client whether its token was expired, forged or mis-scoped.
/// The precise reason stays in [`TokenError`], for logs.
const INVALID_TOKEN_DESCRIPTION: &str = "the access token is invalid";

/// Why a request is not authorized. Each variant is one RFC 6750 outcome; see
/// [`AuthError::www_authenticate`] for the response it maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The operation needs a token and none was presented: 401 without an error code.
    #[error("no access token was presented")]
    MissingToken,
    /// A token was presented and failed validation: 401 `invalid_token`.
    #[error("invalid access token: {0}")]
    InvalidToken(#[from] TokenError),
    /// A valid token does not grant the operation: 403 `insufficient_scope`.
    #[error("the access token does not grant this operation")]
    InsufficientScope,
    /// The token or the way it was presented is malformed: 400 `invalid_request`.
    #[error("malformed token presentation: {0}")]
    InvalidRequest(&'static str),
}

/// Why a presented token was rejected. Reported to the client only as `invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is not a well-formed JWS compact serialization, or its header or claims
    /// are not valid JSON of the expected shape (this includes `alg: none`).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The token is longer than the configured maximum.
    #[error("token longer than {0} bytes")]
    TooLarge(usize),
    /// The header `typ` is absent or is not `at+jwt`.
    #[error("token type is not at+jwt")]
    WrongType,
    /// The header lists `crit` extensions, none of which this hub understands.
    #[error("token header has critical extensions")]
    CriticalHeader,
    /// The `iss` claim is absent or names no trusted issuer.
    #[error("issuer is not trusted")]
    UntrustedIssuer,
    /// The header `alg` is not on the allowlist, or no key of the issuer accepts it.
    #[error("algorithm is not accepted")]
    DisallowedAlgorithm,
    /// No key of the issuer verified the signature.
    #[error("signature verification failed")]
    BadSignature,
    /// The `aud` claim is absent or does not contain the hub's resource identifier.
    #[error("audience does not include this hub")]
    WrongAudience,
    /// The `exp` claim is absent.
    #[error("token has no expiry")]
    MissingExpiry,
    /// The `exp` claim is in the past (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// The `nbf` claim is in the future (beyond the leeway).
    #[error("token is not valid yet")]
    NotYetValid,
    /// The `iat` claim is in the future (beyond the leeway).
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// The `authorization_details` claim, or a Mercure authorization detail in it, does not
    /// parse or validate, or exceeds a limit; partial acceptance is forbidden.
    #[error("invalid authorization details: {0}")]
    AuthorizationDetails(String),
    /// The pre-1.0 `mercure` claim has the wrong shape.
    #[error("invalid mercure claim: {0}")]
    LegacyClaim(String),
    /// The validator has no keys for pre-1.0 tokens.
    #[error("pre-1.0 tokens are not accepted")]
    LegacyDisabled,
}

/// Why a key could not be loaded from configuration.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading a key file failed.
    #[error("reading {path}")]
    Io {
        /// The file that could not be read.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An HMAC secret is shorter than the 32 bytes RFC 7518 section 3.2 requires for HS256.
    #[error("HMAC secret is {0} bytes; at least 32 are required")]
    WeakSecret(usize),
    /// The PEM text is not an RSA, EC or Ed25519 public key.
    #[error("not a PEM public key (RSA, EC or Ed25519): {0}")]
    Pem(String),
    /// The JWK or JWK Set could not be used.
    #[error("invalid JWK: {0}")]
    Jwk(String),
    /// A JWK Set URL is unusable or fetching it failed.
    #[error("fetching JWK Set: {0}")]
    Fetch(String),
    /// An algorithm was requested that does not belong to the key's family.
    #[error("algorithm {0:?} does not fit this key")]
    AlgorithmMismatch(jsonwebtoken::Algorithm),
}

impl AuthError {
    /// The HTTP status this failure is reported with: 401, 403 or 400.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope => StatusCode::FORBIDDEN,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The status and the `WWW-Authenticate: Bearer` challenge for this failure.
    ///
    /// `resource_metadata_url` is the URL of the hub's protected resource metadata (RFC 9728);
    /// the draft asks for it on every challenge, not only the no-token one. Pass `""` to omit
    /// it. A URL that cannot appear in a quoted string of a header value is omitted too.
    pub fn www_authenticate(&self, resource_metadata_url: &str) -> (StatusCode, HeaderValue) {
        let mut challenge = format!("Bearer realm=\"{REALM}\"");
        match self {
            // RFC 6750 section 3.1: no error code when the request had no token at all.
            Self::MissingToken => {}
            Self::InvalidToken(_) => {
                challenge.push_str(", error=\"invalid_token\", error_description=\"");
                challenge.push_str(INVALID_TOKEN_DESCRIPTION);
                challenge.push('"');
            }
            Self::InsufficientScope => challenge.push_str(", error=\"insufficient_scope\""),
            Self::InvalidRequest(why) => {
                challenge.push_str(", error=\"invalid_request\", error_description=\"");
                challenge.push_str(&quote_escape(why));
                challenge.push('"');
            }
        }
        let base_len = challenge.len();
        if !resource_metadata_url.is_empty() {
            challenge.push_str(", resource_metadata=\"");
            challenge.push_str(&quote_escape(resource_metadata_url));
            challenge.push('"');
        }
        let value = HeaderValue::from_str(&challenge)
            .or_else(|_| HeaderValue::from_str(&challenge[..base_len]))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"mercure\""));
        (self.status(), value)
    }
}

/// Escapes `"` and `\` for an RFC 9110 quoted-string.
fn quote_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
