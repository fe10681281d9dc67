//! Token validation: the [`Validator`] configuration and the draft's "Token Validation"
//! profile of RFC 9068 and RFC 8725 for 1.0 access tokens, and the looser rules of pre-1.0
//! tokens.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::claims::{AccessClaims, LegacyClaims, LegacyMercureClaim, NumericDate};
use super::details::DetailRules;
pub use super::details::{Limits, SelectorCheck, MERCURE_DETAIL_TYPE};
use super::error::{AuthError, TokenError};
use super::grants::{Grants, LegacyGrants};
use super::jwks::RemoteJwks;
use super::key::{Issuer, Key};

/// The algorithms accepted unless configured otherwise: every algorithm the JWT library
/// implements, none of them weak. `none` is not among them and cannot be added.
pub const DEFAULT_ALGORITHMS: &[Algorithm] = &[
    Algorithm::EdDSA,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
];

/// The leeway on `exp`, `nbf` and `iat` unless configured otherwise, for clock skew.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Validates access tokens for one hub: its resource identifier, its trusted issuers and
/// their keys, and the keys of pre-1.0 tokens. Build one per role if publishers and
/// subscribers use different keys.
#[derive(Clone)]
pub struct Validator {
    issuers: Vec<Issuer>,
    audience: String,
    leeway: Duration,
    algorithms: Vec<Algorithm>,
    matcher_types: Vec<String>,
    limits: Limits,
    legacy_keys: Vec<Key>,
    remote: Vec<(String, Arc<RemoteJwks>)>,
    selector_check: Option<SelectorCheck>,
}

impl Validator {
    /// A validator for the hub whose resource identifier (the value tokens must carry in
    /// `aud`, by default the hub's canonical URL) is `audience`, trusting `issuers`.
    pub fn new(audience: impl Into<String>, issuers: Vec<Issuer>) -> Self {
        Self {
            issuers,
            audience: audience.into(),
            leeway: DEFAULT_LEEWAY,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            matcher_types: vec!["exact".to_owned(), "urlpattern".to_owned()],
            limits: Limits::default(),
            legacy_keys: Vec::new(),
            remote: Vec::new(),
            selector_check: None,
        }
    }

    /// Sets the clock-skew leeway applied to `exp`, `nbf` and `iat`.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Restricts the accepted algorithms (the draft's explicit allowlist). A token must use
    /// an algorithm that is both on this list and accepted by the key that verifies it.
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// Sets the matcher types the hub supports (default `exact` and `urlpattern`). A token
    /// naming any other `match_type` is rejected.
    pub fn with_matcher_types<S: Into<String>>(
        mut self,
        types: impl IntoIterator<Item = S>,
    ) -> Self {
        self.matcher_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the token limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Accepts pre-1.0 tokens signed by `keys` in [`Validator::validate_legacy`]. Pre-1.0
    /// tokens name no issuer, so these keys are not bound to one.
    pub fn with_legacy_keys(mut self, keys: Vec<Key>) -> Self {
        self.legacy_keys = keys;
        self
    }

    /// Trusts `iss` with the keys of `jwks` as well (and only `iss`: its keys verify no other
    /// issuer's tokens). The keys are read at each validation, so refreshes apply at once;
    /// until the first successful fetch the issuer has no keys and its tokens are refused.
    pub fn with_remote_jwks(mut self, iss: impl Into<String>, jwks: Arc<RemoteJwks>) -> Self {
        self.remote.push((iss.into(), jwks));
        self
    }

    /// Runs `check` on every non-wildcard selector of every token, so that matcher-specific
    /// failures (a `urlpattern` that does not compile) reject the token.
    pub fn with_selector_check(mut self, check: SelectorCheck) -> Self {
        self.selector_check = Some(check);
        self
    }

    /// The hub's resource identifier.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Validates a 1.0 JWT access token at time `now` and returns what it grants.
    ///
    /// In order: size; header `typ` is `at+jwt` (or `application/at+jwt`, case-insensitive);
    /// no `crit`; `alg` on the allowlist; `iss` names a trusted issuer; the signature verifies
    /// with one of that issuer's keys accepting `alg` (a `kid` narrows the keys tried when a
    /// key carries it); `aud` contains the resource identifier; `exp` present and not past;
    /// `nbf` and `iat` not in the future (all three with the leeway); the Mercure
    /// authorization details parse. Every failure is [`AuthError::InvalidToken`].
    pub fn validate(&self, token: &str, now: SystemTime) -> Result<Grants, AuthError> {
        let now = unix_seconds(now);
        let header = self.header(token)?;
        if !header.typ.as_deref().is_some_and(is_at_jwt) {
            return Err(TokenError::WrongType.into());
        }
        // Only to pick the issuer's keys: nothing else is read before the signature verifies.
        #[derive(Deserialize)]
        struct UnverifiedIssuer {
            #[serde(default)]
            iss: Option<String>,
        }
        let unverified: UnverifiedIssuer = jsonwebtoken::dangerous::insecure_decode(token)
            .map_err(|e| TokenError::Malformed(e.to_string()))?
            .claims;
        let iss = unverified.iss.ok_or(TokenError::UntrustedIssuer)?;
        let configured = self.issuers.iter().filter(|i| i.iss == iss);
        let fetched: Vec<Arc<Vec<Key>>> = self
            .remote
            .iter()
            .filter(|(i, _)| *i == iss)
            .map(|(_, jwks)| jwks.keys())
            .collect();
        let keys: Vec<&Key> = configured
            .flat_map(|i| i.keys.iter())
            .chain(fetched.iter().flat_map(|k| k.iter()))
            .collect();
        let trusted = self.issuers.iter().any(|i| i.iss == iss) || !fetched.is_empty();
        if !trusted {
            return Err(TokenError::UntrustedIssuer.into());
        }
        let claims: AccessClaims = verify(token, &header, &keys)?;

        if claims.iss.as_deref() != Some(iss.as_str()) {
            return Err(TokenError::UntrustedIssuer.into());
        }
        if !claims.aud.is_some_and(|aud| aud.contains(&self.audience)) {
            return Err(TokenError::WrongAudience.into());
        }
        let exp = claims.exp.ok_or(TokenError::MissingExpiry)?;
        self.check_times(now, Some(exp), claims.nbf, claims.iat)?;
        let rules = DetailRules {
            limits: &self.limits,
            matcher_types: &self.matcher_types,
            selector_check: self.selector_check.as_ref(),
        };
        let details = rules.parse(claims.authorization_details)?;
        Ok(Grants {
            issuer: iss,
            subject: claims.sub,
            client_id: claims.client_id,
            token_id: claims.jti,
            expires_at: exp.0,
            details,
        })
    }

    /// Validates a pre-1.0 token at time `now`: any JWS signed by one of the legacy keys (no
    /// `typ`, `iss` or `aud` requirement), `exp` and `nbf` enforced when present, and its
    /// `mercure` claim (`publish`, `subscribe`: arrays of selectors; `payload`: any JSON).
    pub fn validate_legacy(&self, token: &str, now: SystemTime) -> Result<LegacyGrants, AuthError> {
        if self.legacy_keys.is_empty() {
            return Err(TokenError::LegacyDisabled.into());
        }
        let now = unix_seconds(now);
        let header = self.header(token)?;
        let keys: Vec<&Key> = self.legacy_keys.iter().collect();
        let claims: LegacyClaims = verify(token, &header, &keys)?;
        self.check_times(now, claims.exp, claims.nbf, claims.iat)?;
        let mut grants = match claims.mercure {
            None => LegacyGrants::default(),
            Some(value) => {
                let claim: LegacyMercureClaim = serde_json::from_value(value)
                    .map_err(|e| TokenError::LegacyClaim(e.to_string()))?;
                LegacyGrants {
                    publish: claim.publish.unwrap_or_default(),
                    subscribe: claim.subscribe.unwrap_or_default(),
                    payload: claim.payload,
                    expires_at: None,
                }
            }
        };
        grants.expires_at = claims.exp.map(|e| e.0);
        Ok(grants)
    }

    /// The checks common to both token kinds that need only the header.
    fn header(&self, token: &str) -> Result<Header, TokenError> {
        if token.len() > self.limits.max_token_bytes {
            return Err(TokenError::TooLarge(self.limits.max_token_bytes));
        }
        // An unknown `alg`, `none` included, fails to parse here.
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        // RFC 7515 section 4.1.11: extensions listed in `crit` must be understood; we know none.
        if header.crit.is_some() {
            return Err(TokenError::CriticalHeader);
        }
        if !self.algorithms.contains(&header.alg) {
            return Err(TokenError::DisallowedAlgorithm);
        }
        Ok(header)
    }

    fn check_times(
        &self,
        now: u64,
        exp: Option<NumericDate>,
        nbf: Option<NumericDate>,
        iat: Option<NumericDate>,
    ) -> Result<(), TokenError> {
        let leeway = self.leeway.as_secs();
        if exp.is_some_and(|exp| now >= exp.0.saturating_add(leeway)) {
            return Err(TokenError::Expired);
        }
        if nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf.0) {
            return Err(TokenError::NotYetValid);
        }
        if iat.is_some_and(|iat| now.saturating_add(leeway) < iat.0) {
            return Err(TokenError::IssuedInFuture);
        }
        Ok(())
    }
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("audience", &self.audience)
            .field("issuers", &self.issuers)
            .field("leeway", &self.leeway)
            .field("algorithms", &self.algorithms)
            .field("matcher_types", &self.matcher_types)
            .field("limits", &self.limits)
            .field("legacy_keys", &self.legacy_keys)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// `typ` per RFC 7515 section 4.1.9: a media type compared case-insensitively, with the
/// `application/` prefix optional.
pub(super) fn is_at_jwt(typ: &str) -> bool {
    let typ = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    typ.eq_ignore_ascii_case("at+jwt")
}

/// Verifies the signature with the first of `keys` that accepts the token's `alg` and
/// verifies it, and deserializes the claims. When the token has a `kid` that some key
/// carries, only those keys are tried; otherwise keys without a `kid` are (or all keys,
/// for a token without `kid`). Keys come only from configuration: `jwk`, `jku` and `x5u`
/// header parameters are never used.
fn verify<T: DeserializeOwned>(
    token: &str,
    header: &Header,
    keys: &[&Key],
) -> Result<T, TokenError> {
    let by_alg: Vec<&Key> = keys
        .iter()
        .copied()
        .filter(|k| k.algorithms().contains(&header.alg))
        .collect();
    if by_alg.is_empty() {
        return Err(TokenError::DisallowedAlgorithm);
    }
    let kid = header.kid.as_deref();
    let candidates: Vec<&Key> = match kid {
        Some(kid) if by_alg.iter().any(|k| k.kid() == Some(kid)) => by_alg
            .into_iter()
            .filter(|k| k.kid() == Some(kid))
            .collect(),
        Some(_) => by_alg.into_iter().filter(|k| k.kid().is_none()).collect(),
        None => by_alg,
    };
    // Claims are checked by the caller, against an injectable clock and without the library's
    // lenient handling of mistyped claims; the library only verifies the signature.
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    for key in candidates {
        match jsonwebtoken::decode::<T>(token, key.decoding(), &validation) {
            Ok(data) => return Ok(data.claims),
            // A key of the right family but another curve or size reports a key error.
            Err(e) if is_key_mismatch(e.kind()) => continue,
            Err(e) => return Err(TokenError::Malformed(e.to_string())),
        }
    }
    Err(TokenError::BadSignature)
}

fn is_key_mismatch(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InvalidSignature
            | ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::Signing(_)
            | ErrorKind::Provider(_)
    )
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
