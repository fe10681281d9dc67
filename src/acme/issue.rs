//! One certificate from the CA: the account (created once, then reused), an order for the
//! domains, the challenges answered (tls-alpn-01 on the TLS listener, or http-01 on the
//! plaintext one), the order finalized with a new key, the chain stored.

use std::sync::Arc;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use rustls::{
    crypto::ring::default_provider,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    sign::CertifiedKey,
};

use super::{error::AcmeError, storage};
use crate::{
    config::{AcmeChallenge, AcmeConfig},
    http::Http01Challenges,
    tls::{CertStore, Loaded},
};

/// Obtains a certificate for `config.domains`, answering the challenges through `store`
/// (tls-alpn-01) or `http01`, and stores it.
pub(super) async fn obtain(
    config: &AcmeConfig,
    store: &CertStore,
    http01: &Http01Challenges,
) -> Result<Loaded, AcmeError> {
    let account = account(config).await?;
    let identifiers: Vec<Identifier> = config
        .domains
        .iter()
        .map(|d| Identifier::Dns(d.clone()))
        .collect();
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let mut answered = Answered::new(store, http01);
    {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(AcmeError::Refused {
                        status: format!("{other:?} (authorization)"),
                        problems: String::new(),
                    })
                }
            }
            let domain = authorization.identifier().to_string();
            let kind = match config.challenge {
                AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
                AcmeChallenge::Http01 => ChallengeType::Http01,
            };
            let mut challenge =
                authorization
                    .challenge(kind.clone())
                    .ok_or_else(|| AcmeError::NoChallenge {
                        challenge: challenge_name(config.challenge),
                        domain: domain.clone(),
                    })?;
            let key_authorization = challenge.key_authorization();
            match config.challenge {
                AcmeChallenge::TlsAlpn01 => {
                    let certificate =
                        validation_certificate(&domain, key_authorization.digest().as_ref())?;
                    answered.tls_alpn(&domain, certificate);
                }
                AcmeChallenge::Http01 => {
                    answered.http(
                        challenge.token.clone(),
                        key_authorization.as_str().to_owned(),
                    );
                }
            }
            challenge.set_ready().await?;
        }
    }
    let status = order.poll_ready(&RetryPolicy::new()).await?;
    if status != OrderStatus::Ready {
        return Err(refusal(&mut order, status).await);
    }
    drop(answered);
    let key_pem = order.finalize().await?;
    let chain_pem = order.poll_certificate(&RetryPolicy::new()).await?;
    storage::store_certificate(config, &chain_pem, &key_pem)
}

/// The account: the stored one, or a new one (stored for the next runs).
async fn account(config: &AcmeConfig) -> Result<Account, AcmeError> {
    let builder = || match &config.ca {
        Some(ca) => Account::builder_with_root(ca),
        None => Account::builder(),
    };
    if let Some(credentials) = storage::load_account(config)? {
        return Ok(builder()?.from_credentials(credentials).await?);
    }
    let contact: Vec<&str> = config.contact.iter().map(String::as_str).collect();
    let new = NewAccount {
        contact: &contact,
        // Obtaining certificates at all means accepting the CA's terms, as Caddy does.
        terms_of_service_agreed: true,
        only_return_existing: false,
    };
    let (account, credentials) = builder()?
        .create(&new, config.directory_url.clone(), None)
        .await?;
    storage::store_account(config, &credentials)?;
    tracing::info!(directory = %config.directory_url, "acme: new account");
    Ok(account)
}

/// The order's problem and those of its challenges, for the log.
async fn refusal(order: &mut instant_acme::Order, status: OrderStatus) -> AcmeError {
    let mut problems = Vec::new();
    if let Ok(state) = order.refresh().await {
        if let Some(problem) = &state.error {
            problems.push(problem.to_string());
        }
    }
    let mut authorizations = order.authorizations();
    while let Some(Ok(authorization)) = authorizations.next().await {
        for challenge in &authorization.challenges {
            if let Some(problem) = &challenge.error {
                problems.push(format!("{}: {problem}", authorization.identifier()));
            }
        }
    }
    AcmeError::Refused {
        status: format!("{status:?}"),
        problems: problems.join("; "),
    }
}

/// The self-signed certificate RFC 8737 asks for: the domain, and the key authorization's
/// digest in the critical acmeIdentifier extension.
fn validation_certificate(domain: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, AcmeError> {
    let failed = |reason: String| AcmeError::ValidationCertificate {
        domain: domain.to_owned(),
        reason,
    };
    let key = rcgen::KeyPair::generate().map_err(|e| failed(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()])
        .map_err(|e| failed(e.to_string()))?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let cert = params
        .self_signed(&key)
        .map_err(|e| failed(e.to_string()))?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    // Not `from_der`: its check parses the certificate with webpki, which refuses the
    // critical acmeIdentifier extension; the key was made for this certificate just above.
    let signing_key = default_provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| failed(e.to_string()))?;
    let certified = CertifiedKey::new(vec![CertificateDer::from(cert.der().to_vec())], signing_key);
    Ok(Arc::new(certified))
}

fn challenge_name(challenge: AcmeChallenge) -> &'static str {
    match challenge {
        AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
        AcmeChallenge::Http01 => "http-01",
    }
}

/// The challenges answered for one order, withdrawn when it is dropped (done or failed).
struct Answered<'a> {
    store: &'a CertStore,
    http01: &'a Http01Challenges,
    domains: Vec<String>,
    tokens: Vec<String>,
}

impl<'a> Answered<'a> {
    fn new(store: &'a CertStore, http01: &'a Http01Challenges) -> Self {
        Self {
            store,
            http01,
            domains: Vec::new(),
            tokens: Vec::new(),
        }
    }

    fn tls_alpn(&mut self, domain: &str, certificate: Arc<CertifiedKey>) {
        self.store.set_challenge(domain, Some(certificate));
        self.domains.push(domain.to_owned());
    }

    fn http(&mut self, token: String, key_authorization: String) {
        self.http01.insert(token.clone(), key_authorization);
        self.tokens.push(token);
    }
}

impl Drop for Answered<'_> {
    fn drop(&mut self) {
        for domain in &self.domains {
            self.store.set_challenge(domain, None);
        }
        for token in &self.tokens {
            self.http01.remove(token);
        }
    }
}
