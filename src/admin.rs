//! The admin listener: Prometheus `/metrics`, liveness `/healthz` and readiness `/readyz`,
//! on a socket of its own (plain HTTP/1.1), so public traffic never reaches it and a
//! scrape never competes with the public connection limit.
//!
//! Imports only [`metrics`](crate::metrics); only the server imports it.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /metrics` | every metric, OpenMetrics text |
//! | `GET /healthz` | 200 while the process serves (liveness) |
//! | `GET /readyz` | 200 when every listener is bound, the certificates are loaded and (cluster) the shared log was read lately; 503 from the moment the drain starts |
//!
//! With a token configured, every route answers 401 unless the request carries
//! `Authorization: Bearer <token>`.

use std::{
    convert::Infallible,
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::Semaphore, task::JoinSet};

use crate::metrics::{Metrics, CONTENT_TYPE};

/// Admin connections open at once: a few scrapers and probes, never a crowd.
const MAX_CONNECTIONS: usize = 64;
/// Deadline for an admin request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A check `/readyz` makes besides the server's own flags: `Err` names what is not ready.
pub type ReadyCheck = Box<dyn Fn() -> Result<(), &'static str> + Send + Sync>;

/// What `/readyz` reports. The server sets the flags; checks are added before serving.
pub struct Readiness {
    listening: AtomicBool,
    certificates: AtomicBool,
    draining: AtomicBool,
    checks: Vec<ReadyCheck>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("listening", &self.listening)
            .field("certificates", &self.certificates)
            .field("draining", &self.draining)
            .finish_non_exhaustive()
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    /// Not ready: nothing bound, no certificate, not draining.
    pub fn new() -> Self {
        Self {
            listening: AtomicBool::new(false),
            certificates: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            checks: Vec::new(),
        }
    }

    /// Adds a check (before the readiness is shared).
    pub fn with_check(mut self, check: ReadyCheck) -> Self {
        self.checks.push(check);
        self
    }

    /// The public listeners accept connections.
    pub fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Release);
    }

    /// The served certificates are loaded (a reload that fails may set it false).
    pub fn set_certificates(&self, loaded: bool) {
        self.certificates.store(loaded, Ordering::Release);
    }

    /// The drain started: never ready again.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// `Ok` when ready, or what is not.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::Acquire) {
            return Err("draining");
        }
        if !self.listening.load(Ordering::Acquire) {
            return Err("listeners not accepting");
        }
        if !self.certificates.load(Ordering::Acquire) {
            return Err("certificates not loaded");
        }
        self.checks.iter().try_for_each(|check| check())
    }
}

/// What the admin routes answer from.
#[derive(Debug)]
pub struct Admin {
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    token: Option<String>,
}

impl Admin {
    /// Routes over `metrics` and `readiness`; `token`, when set, is required.
    pub fn new(metrics: Arc<Metrics>, readiness: Arc<Readiness>, token: Option<String>) -> Self {
        Self {
            metrics,
            readiness,
            token,
        }
    }

    /// Serves `listener` until `shutdown` completes; open admin connections are closed then.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut conns = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
                // Reap finished connections so the set stays small.
                Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, most likely: public traffic has them; wait.
                    tracing::debug!(error = %e, "admin: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                tracing::debug!(%peer, "admin: too many connections; closing");
                continue;
            };
            let admin = self.clone();
            conns.spawn(async move {
                let service = service_fn(move |req| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(admin.handle(&req)) }
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    tracing::debug!(%peer, error = %e, "admin: connection closed with error");
                }
                drop(permit);
            });
        }
    }

    /// Answers one admin request.
    pub fn handle(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        if !self.authorized(req) {
            let mut response = text(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"ssegate-admin\""),
            );
            return response;
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD\n");
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match req.uri().path() {
            "/metrics" => {
                let mut response = Response::new(Full::new(Bytes::from(self.metrics.encode())));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(CONTENT_TYPE),
                );
                response
            }
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/readyz" => match self.readiness.check() {
                Ok(()) => text(StatusCode::OK, "ready\n"),
                Err(why) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {why}\n"),
                ),
            },
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    fn authorized<B>(&self, req: &Request<B>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes()))
    }
}

/// Compares without an early exit, so the time taken says nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.into())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_listening_with_certificates_and_not_draining() {
        let readiness = Readiness::new();
        assert_eq!(readiness.check(), Err("listeners not accepting"));
        readiness.set_listening(true);
        assert_eq!(readiness.check(), Err("certificates not loaded"));
        readiness.set_certificates(true);
        assert_eq!(readiness.check(), Ok(()));
        readiness.start_draining();
        assert_eq!(readiness.check(), Err("draining"));
    }

    #[test]
    fn a_failing_check_makes_it_unready() {
        let readiness = Readiness::new().with_check(Box::new(|| Err("shared log unreachable")));
        readiness.set_listening(true);
        readiness.set_certificates(true);
        assert_eq!(readiness.check(), Err("shared log unreachable"));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abcdef", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abcdeg"));
        assert!(!constant_time_eq(b"abc", b"abcdef"));
    }
}
