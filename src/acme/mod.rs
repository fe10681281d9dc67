//! Automatic HTTPS: a certificate for `[tls.acme]`'s domains from an ACME CA (RFC 8555),
//! obtained at start when there is none, renewed ahead of its expiry, and swapped into the
//! listener's [`CertStore`] without dropping a connection. Meanwhile the listener serves the
//! last certificate (from storage) or its default one: a slow CA never keeps it from
//! starting.
//!
//! Imports `tls` (the store it fills), `http` (the http-01 answers) and `config`; only the
//! server's assembly imports it.

mod error;
mod issue;
mod storage;

use std::{
    hash::{BuildHasher, Hasher},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime},
};

pub use error::AcmeError;

use crate::{
    config::AcmeConfig,
    http::Http01Challenges,
    metrics::{Metrics, RenewalOutcome},
    tls::{days_left, CertStore, Loaded},
};

/// Longest wait between two attempts after failures.
const MAX_RETRY: Duration = Duration::from_secs(3600);

/// What the ACME manager has done, for tests, logs and metrics.
#[derive(Debug, Clone, Default)]
pub struct AcmeStatus {
    /// Certificates obtained (the first one and renewals).
    pub issued: u64,
    /// Attempts that failed.
    pub failed: u64,
    /// The last failure, with the CA's problem document when it sent one.
    pub last_error: Option<String>,
    /// When the certificate served now expires.
    pub not_after: Option<SystemTime>,
}

/// Obtains and renews the certificate; runs until aborted.
#[derive(Debug)]
pub struct AcmeManager {
    config: AcmeConfig,
    store: Arc<CertStore>,
    http01: Arc<Http01Challenges>,
    status: Arc<Mutex<AcmeStatus>>,
    metrics: Option<Arc<Metrics>>,
}

impl AcmeManager {
    /// A manager filling `store`, answering http-01 validations through `http01`. A
    /// certificate kept in storage from an earlier run is served at once.
    pub fn new(config: AcmeConfig, store: Arc<CertStore>, http01: Arc<Http01Challenges>) -> Self {
        let manager = Self {
            config,
            store,
            http01,
            status: Arc::default(),
            metrics: None,
        };
        match storage::load_certificate(&manager.config) {
            Ok(Some(loaded)) => {
                tracing::info!(
                    domains = ?manager.config.domains,
                    "acme: serving the certificate kept in storage until it is renewed"
                );
                manager.serve(loaded);
            }
            Ok(None) => tracing::info!(
                domains = ?manager.config.domains,
                "acme: no certificate yet; serving the default one until the CA issues it"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "acme: the stored certificate cannot be used; obtaining a new one")
            }
        }
        manager
    }

    /// Counts its outcomes in `metrics` (`ssegate_acme_renewals_total`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// What it has done so far.
    pub fn status(&self) -> Arc<Mutex<AcmeStatus>> {
        self.status.clone()
    }

    /// Renews whenever due, for as long as the task runs.
    pub async fn run(self) {
        let mut failures: u32 = 0;
        let mut earliest = tokio::time::Instant::now();
        loop {
            let due = self.due();
            let wait = due
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            let at = (tokio::time::Instant::now() + wait).max(earliest);
            tokio::time::sleep_until(at).await;
            match issue::obtain(&self.config, &self.store, &self.http01).await {
                Ok(loaded) => {
                    failures = 0;
                    tracing::info!(
                        domains = ?self.config.domains,
                        expires_in_days = days_left(loaded.not_after),
                        "acme: new certificate; serving it to new connections"
                    );
                    self.lock_status().issued += 1;
                    self.count(RenewalOutcome::Success);
                    self.serve(loaded);
                    earliest = tokio::time::Instant::now() + self.config.retry;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = jitter(
                        self.config
                            .retry
                            .saturating_mul(1 << failures.saturating_sub(1).min(16))
                            .min(MAX_RETRY),
                    );
                    tracing::error!(
                        domains = ?self.config.domains,
                        error = %e,
                        retry_in = ?wait,
                        "acme: could not obtain a certificate"
                    );
                    self.count(RenewalOutcome::Failure);
                    {
                        let mut status = self.lock_status();
                        status.failed += 1;
                        status.last_error = Some(e.to_string());
                    }
                    earliest = tokio::time::Instant::now() + wait;
                }
            }
        }
    }

    /// When the served certificate is due for renewal (now if there is none).
    fn due(&self) -> SystemTime {
        let Some(current) = self.store.managed(&self.config.domains[0]) else {
            return SystemTime::now();
        };
        let lifetime = current
            .not_after
            .duration_since(current.not_before)
            .unwrap_or_default();
        let margin = self.config.renew_before.unwrap_or(lifetime / 3);
        // Spread renewals of many servers over a little of the margin.
        current
            .not_after
            .checked_sub(margin + jitter(margin / 20))
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    fn serve(&self, loaded: Loaded) {
        self.lock_status().not_after = Some(loaded.not_after);
        self.store.set_managed(&self.config.domains, loaded);
    }

    fn count(&self, outcome: RenewalOutcome) {
        if let Some(metrics) = &self.metrics {
            metrics.acme_renewal(outcome);
        }
    }

    fn lock_status(&self) -> MutexGuard<'_, AcmeStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `wait` less up to a tenth, at random, so that servers started together spread out.
fn jitter(wait: Duration) -> Duration {
    // A randomly keyed SipHash of nothing: random enough to spread timers, no extra crate.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    wait.saturating_sub(wait.mul_f64((random % 1000) as f64 / 10_000.0))
}
