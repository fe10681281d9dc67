//! The claims the hub reads from verified tokens, typed strictly: a time claim of the wrong
//! JSON type is a malformed token, never an absent claim (the type confusion of
//! CVE-2026-25537 in the JWT library's own checks, which are not used).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The claims of a 1.0 access token that the hub reads. Duplicate claims fail to parse.
#[derive(Deserialize)]
pub(super) struct AccessClaims {
    #[serde(default)]
    pub(super) iss: Option<String>,
    #[serde(default)]
    pub(super) aud: Option<Audience>,
    #[serde(default, deserialize_with = "present_date")]
    pub(super) exp: Option<NumericDate>,
    #[serde(default, deserialize_with = "present_date")]
    pub(super) nbf: Option<NumericDate>,
    #[serde(default, deserialize_with = "present_date")]
    pub(super) iat: Option<NumericDate>,
    #[serde(default)]
    pub(super) sub: Option<String>,
    #[serde(default)]
    pub(super) client_id: Option<String>,
    #[serde(default)]
    pub(super) jti: Option<String>,
    #[serde(default)]
    pub(super) authorization_details: Option<Value>,
}

/// The claims of a pre-1.0 token that the hub reads.
#[derive(Deserialize)]
pub(super) struct LegacyClaims {
    #[serde(default, deserialize_with = "present_date")]
    pub(super) exp: Option<NumericDate>,
    #[serde(default, deserialize_with = "present_date")]
    pub(super) nbf: Option<NumericDate>,
    #[serde(default, deserialize_with = "present_date")]
    pub(super) iat: Option<NumericDate>,
    #[serde(default)]
    pub(super) mercure: Option<Value>,
}

#[derive(Deserialize)]
pub(super) struct LegacyMercureClaim {
    #[serde(default)]
    pub(super) publish: Option<Vec<String>>,
    #[serde(default)]
    pub(super) subscribe: Option<Vec<String>>,
    #[serde(default)]
    pub(super) payload: Option<Value>,
}

/// RFC 7519 `aud`: one string or an array of strings.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(super) fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}

/// RFC 7519 NumericDate, truncated to whole seconds. Only a JSON number parses: a string or
/// `null` in a time claim is a malformed token, never an absent claim.
#[derive(Debug, Clone, Copy)]
pub(super) struct NumericDate(pub(super) u64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        if let Some(secs) = n.as_u64() {
            return Ok(Self(secs));
        }
        match n.as_f64() {
            Some(f) if f.is_finite() && f >= 0.0 => Ok(Self(f as u64)),
            _ => Err(serde::de::Error::custom(
                "a NumericDate must be a non-negative number",
            )),
        }
    }
}

pub(super) fn present_date<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<NumericDate>, D::Error> {
    NumericDate::deserialize(d).map(Some)
}
