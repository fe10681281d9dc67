//! Verification keys and the issuers they belong to: loading HMAC secrets, PEM public keys
//! and JWK Sets, and the algorithms each key may verify (so that no token can choose an
//! algorithm of another family for a key: no algorithm confusion).

use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use super::error::KeyError;

/// RFC 7518 section 3.2: an HMAC key must be at least as long as the hash output.
const MIN_HMAC_SECRET: usize = 32;

/// A trusted issuer: its identifier, compared exactly with the token's `iss`, and the keys
/// that may sign its tokens. Tokens are verified only with the keys of the issuer they name,
/// never with a pool spanning issuers (draft section "Token Validation").
#[derive(Debug, Clone)]
pub struct Issuer {
    /// The issuer identifier: an authorization server's issuer or a self-issuing
    /// publisher's stable identifier (for example its URL).
    pub iss: String,
    /// The keys that verify this issuer's tokens.
    pub keys: Vec<Key>,
}

/// One verification key, its optional key ID and the algorithms it accepts.
#[derive(Clone)]
pub struct Key {
    kid: Option<String>,
    decoding: DecodingKey,
    algorithms: Vec<Algorithm>,
}

impl Key {
    /// An HMAC secret (HS256; also HS384 and HS512 when the secret is 48 or 64 bytes long).
    /// Secrets shorter than 32 bytes are refused.
    pub fn hmac(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_HMAC_SECRET {
            return Err(KeyError::WeakSecret(secret.len()));
        }
        let mut algorithms = vec![Algorithm::HS256];
        if secret.len() >= 48 {
            algorithms.push(Algorithm::HS384);
        }
        if secret.len() >= 64 {
            algorithms.push(Algorithm::HS512);
        }
        Ok(Self {
            kid: None,
            decoding: DecodingKey::from_secret(secret),
            algorithms,
        })
    }

    /// A public key in PEM text: RSA (RS256/384/512, PS256/384/512), EC (ES256, ES384) or
    /// Ed25519 (EdDSA). The kind is read from the key itself.
    pub fn public_pem(pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let pem = pem.as_ref();
        // The PEM parser would also take a private key; a hub must never be configured with
        // one, so refuse anything but a public key block.
        let text = String::from_utf8_lossy(pem);
        if !text.contains("-----BEGIN PUBLIC KEY-----")
            && !text.contains("-----BEGIN RSA PUBLIC KEY-----")
        {
            return Err(KeyError::Pem("expected a PUBLIC KEY block".into()));
        }
        let decoding = DecodingKey::from_rsa_pem(pem)
            .or_else(|_| DecodingKey::from_ec_pem(pem))
            .or_else(|_| DecodingKey::from_ed_pem(pem))
            .map_err(|e| KeyError::Pem(e.to_string()))?;
        let algorithms = decoding.family().algorithms().to_vec();
        Ok(Self {
            kid: None,
            decoding,
            algorithms,
        })
    }

    /// A public key read from a PEM file; see [`Key::public_pem`].
    pub fn public_pem_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        Self::public_pem(read(path.as_ref())?)
    }

    /// A key from one JWK (RFC 7517). Its `kid` is kept; its `alg`, when present, restricts
    /// it to that one algorithm; an EC key accepts only its curve's algorithm.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let decoding = DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Jwk(e.to_string()))?;
        let mut algorithms = match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return Err(KeyError::Jwk("unsupported elliptic curve".into())),
            },
            AlgorithmParameters::OctetKey(_) => {
                let len = decoding.as_bytes().len();
                if len < MIN_HMAC_SECRET {
                    return Err(KeyError::WeakSecret(len));
                }
                decoding.family().algorithms().to_vec()
            }
            _ => decoding.family().algorithms().to_vec(),
        };
        if let Some(alg) = jwk.common.key_algorithm {
            let alg: Algorithm = alg
                .to_string()
                .parse()
                .map_err(|_| KeyError::Jwk(format!("unsupported alg {alg}")))?;
            if !algorithms.contains(&alg) {
                return Err(KeyError::AlgorithmMismatch(alg));
            }
            algorithms = vec![alg];
        }
        Ok(Self {
            kid: jwk.common.key_id.clone(),
            decoding,
            algorithms,
        })
    }

    /// The signature keys of a JWK Set document (`{"keys": [...]}`). Keys marked for
    /// encryption (`"use": "enc"`) and keys of kinds this hub cannot verify with are skipped;
    /// a set that yields no key at all is an error.
    pub fn from_jwks_json(json: &str) -> Result<Vec<Self>, KeyError> {
        #[derive(serde::Deserialize)]
        struct Set {
            keys: Vec<serde_json::Value>,
        }
        let set: Set = serde_json::from_str(json).map_err(|e| KeyError::Jwk(e.to_string()))?;
        let mut keys = Vec::with_capacity(set.keys.len());
        for value in set.keys {
            // One unusable entry (an encryption key, an unknown curve) must not make the whole
            // set unusable: authorization servers publish such keys alongside signing keys.
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                tracing::debug!("skipping a JWK of an unsupported kind");
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            match Self::from_jwk(&jwk) {
                Ok(key) => keys.push(key),
                Err(e) => tracing::debug!(error = %e, "skipping a JWK"),
            }
        }
        if keys.is_empty() {
            return Err(KeyError::Jwk("the set has no usable signature key".into()));
        }
        Ok(keys)
    }

    /// The signature keys of a JWK Set file; see [`Key::from_jwks_json`].
    pub fn from_jwks_file(path: impl AsRef<Path>) -> Result<Vec<Self>, KeyError> {
        let bytes = read(path.as_ref())?;
        Self::from_jwks_json(&String::from_utf8_lossy(&bytes))
    }

    /// Sets the key ID that a token's `kid` header selects this key by.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Restricts the key to `algorithms`, which must all belong to its family.
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Result<Self, KeyError> {
        let family = self.decoding.family();
        if let Some(bad) = algorithms.iter().find(|a| !family.algorithms().contains(a)) {
            return Err(KeyError::AlgorithmMismatch(*bad));
        }
        self.algorithms = algorithms.to_vec();
        Ok(self)
    }

    /// The key ID, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithms this key verifies.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The algorithm family of the key (HMAC, RSA, EC or Ed).
    pub fn family(&self) -> AlgorithmFamily {
        self.decoding.family()
    }

    pub(super) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

impl std::fmt::Debug for Key {
    // Never print key material, not even a public key: HMAC secrets live here too.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("family", &self.decoding.family())
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    crate::files::read(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })
}
