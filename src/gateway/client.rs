//! Pooled upstream clients: one hyper-util client per route, speaking HTTP/1.1, h2c or TLS
//! (h2 or HTTP/1.1 by ALPN), with the route's connect deadline.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client, ResponseFuture},
    rt::{TokioExecutor, TokioTimer},
};
use rustls::{pki_types::pem::PemObject, pki_types::CertificateDer, ClientConfig, RootCertStore};

use crate::config::{RouteConfig, UpstreamProto};

/// The body type of requests sent upstream.
pub type UpstreamBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a route's client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// The CA file cannot be read or holds no usable certificate.
    #[error("cannot use CA file {path} for route {route}: {reason}")]
    Ca {
        /// The route's path.
        route: String,
        /// The CA file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// A pooled client for one route's upstream.
#[derive(Clone)]
pub enum UpstreamClient {
    /// `http://` and `h2c://` upstreams.
    Plain(Client<HttpConnector, UpstreamBody>),
    /// `https://` upstreams.
    Tls(Client<HttpsConnector<HttpConnector>, UpstreamBody>),
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain(_) => "UpstreamClient::Plain",
            Self::Tls(_) => "UpstreamClient::Tls",
        })
    }
}

/// Idle time before the kernel probes an upstream connection, the time between probes, and
/// how many unanswered probes close it: a dead peer is noticed within about a minute.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);
const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const TCP_KEEPALIVE_RETRIES: u32 = 3;

impl UpstreamClient {
    /// Builds the client for `route`.
    pub fn new(route: &RouteConfig) -> Result<Self, ClientBuildError> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(route.connect_timeout));
        http.set_nodelay(true);
        // HTTP/1.1 has no PING: without TCP keepalive a half-open upstream connection (the
        // peer gone without a FIN) is never noticed by the kernel. Probes start after this
        // much silence; the fan-out's own idle deadline catches a live but silent peer.
        http.set_keepalive(Some(TCP_KEEPALIVE));
        http.set_keepalive_interval(Some(TCP_KEEPALIVE_INTERVAL));
        http.set_keepalive_retries(Some(TCP_KEEPALIVE_RETRIES));
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            // Dead h2 upstreams are detected like dead clients: by unanswered PINGs.
            .http2_keep_alive_interval(Duration::from_secs(30))
            .http2_keep_alive_timeout(Duration::from_secs(20));
        Ok(match route.proto {
            UpstreamProto::Http1 => Self::Plain(builder.build(http)),
            UpstreamProto::H2c => {
                builder.http2_only(true);
                Self::Plain(builder.build(http))
            }
            UpstreamProto::Https => {
                http.enforce_http(false);
                let tls = tls_config(route)?;
                let https = HttpsConnectorBuilder::new()
                    .with_tls_config(tls)
                    .https_only()
                    .enable_http1()
                    .enable_http2()
                    .wrap_connector(http);
                Self::Tls(builder.build(https))
            }
        })
    }

    /// Sends a request (its URI is the upstream's absolute URI).
    pub fn request(&self, req: Request<UpstreamBody>) -> ResponseFuture {
        match self {
            Self::Plain(client) => client.request(req),
            Self::Tls(client) => client.request(req),
        }
    }
}

/// The response type upstream requests resolve to.
pub type UpstreamResponse = Response<Incoming>;

fn tls_config(route: &RouteConfig) -> Result<ClientConfig, ClientBuildError> {
    let mut roots = RootCertStore::empty();
    match &route.ca {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let bad = |reason: String| ClientBuildError::Ca {
                route: route.path.clone(),
                path: path.clone(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no CERTIFICATE block".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| bad(e.to_string()))?;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientBuildError::Ca {
            route: route.path.clone(),
            path: route.ca.clone().unwrap_or_default(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
