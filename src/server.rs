//! The server: binds the listeners, runs the accept loop, and drains on shutdown.
//!
//! The assembly: the one module that imports every part, and that nothing imports.
//!
//! Accepting never fails the server: an accept error (out of file descriptors, a peer that
//! reset before accept) is logged and retried after a short back-off. Each connection runs
//! in its own task, spawned before the TLS handshake so a slow client never holds up the
//! loop, and holds a permit of the connection limit.

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tokio_rustls::TlsAcceptor;

use crate::{
    acme::{AcmeManager, AcmeStatus},
    admin::Readiness,
    auth::{KeyError, PublishAuthority},
    certs,
    cluster::{ClusterError, RedisLog},
    config::{CertificateFiles, Config, TlsConfig, TlsSource},
    conn::{self, ConnContext, Transport},
    gateway::{client::ClientBuildError, Gateway},
    http::{Http01Challenges, PublishLimits},
    hub::{Directory, Hub, Router},
    mercure::Mercure,
    metrics::Metrics,
    native::{NativeApi, NativeConfig, PublishGuard},
    router::App,
    shutdown::Drain,
    tls::{self, CertStore},
    workers::{OpenConnections, Workers},
};
use observe::{record_expiry, unready_first, watch_cluster, AdminTask};

mod observe;

/// Descriptors kept besides the client connections: listeners, upstream connections of
/// the gateway, certificate and config files, the cluster's Redis connections.
const FD_HEADROOM: u64 = 1_024;

/// How often the info-level summary line is logged.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The local certificates could not be created or read.
    #[error(transparent)]
    Certs(#[from] certs::CertError),
    /// The certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// rustls refused the TLS settings.
    #[error("cannot set up TLS")]
    TlsSetup(#[source] rustls::Error),
    /// A gateway route's upstream client cannot be built.
    #[error(transparent)]
    Gateway(#[from] ClientBuildError),
    /// A Mercure key source cannot be set up.
    #[error("mercure")]
    Mercure(#[from] KeyError),
    /// The shared log (`[cluster]`) cannot be reached.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The connection workers' threads could not be started.
    #[error("cannot start the connection workers")]
    Workers(#[source] std::io::Error),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The listener's certificates: the default one (the configured files, or the local
/// certificate, generated when missing) and those chosen by server name.
fn load_certificates(config: &TlsConfig) -> Result<CertStore, ServerError> {
    let default = match &config.default {
        TlsSource::Files { cert, key } => CertificateFiles {
            cert: cert.clone(),
            key: key.clone(),
            hosts: Vec::new(),
        },
        TlsSource::Local { dir, hosts } => {
            let local = certs::ensure_local_certs(dir, hosts)?;
            if local.ca_created || local.server_issued {
                tracing::info!(
                    ca = %local.paths.ca_cert.display(),
                    cert = %local.paths.server_cert.display(),
                    "generated local certificates; trust the CA to avoid browser warnings (`ssegate cert` prints how)"
                );
            }
            tracing::info!(
                ca = %local.paths.ca_cert.display(),
                cert = %local.paths.server_cert.display(),
                key = %local.paths.server_key.display(),
                "using local certificate"
            );
            CertificateFiles {
                cert: local.paths.server_cert,
                key: local.paths.server_key,
                hosts: Vec::new(),
            }
        }
    };
    Ok(CertStore::load(default, &config.certificates)?)
}

/// A server whose listeners are bound: ready to [`run`](Server::run).
pub struct Server {
    workers: Workers,
    gateway: Arc<Gateway>,
    tls_listener: TcpListener,
    plaintext_listener: Option<TcpListener>,
    acceptor: TlsAcceptor,
    certificates: Arc<CertStore>,
    acme: Option<(AcmeManager, Arc<Http01Challenges>)>,
    publish_limits: Arc<PublishLimits>,
    hub: Arc<Hub>,
    mercure: Option<Arc<Mercure>>,
    config: Config,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    admin_listener: Option<TcpListener>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("tls_addr", &self.tls_addr())
            .field("plaintext_addr", &self.plaintext_addr())
            .field("admin_addr", &self.admin_addr())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Loads (or generates) the certificate and binds the listeners.
    pub async fn bind(config: Config) -> Result<Self, ServerError> {
        let metrics = Metrics::new(config.cluster.is_some());
        let mut readiness = Readiness::new();
        let certificates = Arc::new(load_certificates(&config.tls)?);
        let tls_config = tls::server_config(certificates.clone()).map_err(ServerError::TlsSetup)?;
        let acme = config.tls.acme.clone().map(|acme| {
            let http01 = Arc::new(Http01Challenges::default());
            let manager = AcmeManager::new(acme, certificates.clone(), http01.clone())
                .with_metrics(metrics.clone());
            (manager, http01)
        });
        let local_cert = match &config.tls.default {
            TlsSource::Local { dir, .. } => Some(certs::CertPaths::in_dir(dir).server_cert),
            TlsSource::Files { .. } => None,
        };
        record_expiry(
            &metrics,
            &certificates,
            local_cert,
            acme.as_ref().map(|(m, _)| m.status()),
        );
        let gateway = Arc::new(Gateway::new(
            config.routes.clone(),
            config.heartbeat_interval,
        )?);
        let tls_listener = bind(config.server.listen).await?;
        let plaintext_listener = match config.server.plaintext_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let admin_listener = match config.admin.listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let (hub, directory) = match &config.cluster {
            Some(cluster) => {
                let router = Arc::new(Router::new());
                let log = RedisLog::connect(cluster, router.clone(), metrics.cluster()).await?;
                readiness = watch_cluster(&metrics, readiness, &log);
                let directory: Arc<dyn Directory> = Arc::new(log.directory());
                let hub = Hub::with_parts(config.hub.clone(), router, Arc::new(log));
                (hub, Some(directory))
            }
            None => (Hub::new(config.hub.clone()), None),
        };
        let publish_limits = Arc::new(PublishLimits::new(
            config.publish_auth.rate_per_client,
            config.publish_auth.rate_per_token,
        ));
        let mercure = match &config.mercure {
            Some(mercure_config) => {
                let tls_port = tls_listener.local_addr().map_or(0, |a| a.port());
                let shared = crate::mercure::ServerSettings {
                    heartbeat_interval: config.heartbeat_interval,
                    max_body_bytes: config.server.max_body_bytes,
                    body_read_timeout: config.server.body_read_timeout,
                    publish_requires_auth: config.publish_requires_auth(),
                    directory,
                    publish_limits: publish_limits.clone(),
                    metrics: Some(metrics.clone()),
                };
                let mercure = Mercure::new(mercure_config.clone(), hub.clone(), tls_port, shared)?;
                Some(Arc::new(mercure))
            }
            None => None,
        };
        observe::wire(&metrics, &config, &hub, &gateway);
        // Connections are served on threads of their own (see `workers`); the caller's
        // runtime only accepts them.
        let workers = Workers::start(config.server.workers).map_err(ServerError::Workers)?;
        tracing::debug!(workers = workers.len(), "connection workers started");
        readiness.set_certificates(true);
        Ok(Self {
            workers,
            gateway,
            tls_listener,
            plaintext_listener,
            acceptor: TlsAcceptor::from(tls_config),
            certificates,
            acme,
            publish_limits,
            hub,
            mercure,
            config,
            metrics,
            readiness: Arc::new(readiness),
            admin_listener,
        })
    }

    /// The bound admin address, if the admin listener is enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// This server's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The bound TLS address (useful with port 0).
    pub fn tls_addr(&self) -> SocketAddr {
        self.tls_listener
            .local_addr()
            .unwrap_or(self.config.server.listen)
    }

    /// The bound plaintext address, if any.
    pub fn plaintext_addr(&self) -> Option<SocketAddr> {
        self.plaintext_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The hub this server serves.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The certificates the TLS listener serves: [`CertStore::reload`] (or
    /// [`tls::log_reload`]) swaps in new files for new connections, as SIGHUP does.
    pub fn certificates(&self) -> &Arc<CertStore> {
        &self.certificates
    }

    /// What automatic HTTPS (`[tls.acme]`) has done, if it is configured.
    pub fn acme_status(&self) -> Option<Arc<std::sync::Mutex<AcmeStatus>>> {
        self.acme.as_ref().map(|(manager, _)| manager.status())
    }

    /// Serves until `shutdown` completes, then drains: stops accepting, sends GOAWAY (or
    /// closes idle HTTP/1.1 connections), ends every event stream so clients reconnect
    /// elsewhere, and waits for connections to close, at most the configured
    /// `shutdown_timeout`; connections still open then are closed.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Self {
            workers,
            gateway,
            tls_listener,
            plaintext_listener,
            acceptor,
            certificates,
            acme,
            publish_limits,
            hub,
            mercure,
            config,
            metrics,
            readiness,
            admin_listener,
        } = self;
        let (acme, http01) = acme.unzip();
        let publish_guard = PublishGuard::new(
            config.publish_requires_auth(),
            config.publish_auth.static_tokens.clone(),
            mercure.clone().map(|m| m as Arc<dyn PublishAuthority>),
        )
        .with_limits(publish_limits.clone());
        log_publish_policy(&config, mercure.as_deref());
        let key_refresh = mercure
            .as_ref()
            .map(|m| m.spawn_key_refresh())
            .unwrap_or_default();
        let native = config.hub_path.clone().map(|path| {
            let native_config = NativeConfig {
                path,
                heartbeat_interval: config.heartbeat_interval,
                max_body_bytes: config.server.max_body_bytes,
                body_read_timeout: config.server.body_read_timeout,
                reserved_event_type: mercure.is_some().then_some(crate::mercure::RESERVED_TYPE),
            };
            NativeApi::new(hub.clone(), native_config, publish_guard)
        });
        let app = App::new(hub.clone())
            .with_native(native)
            .with_mercure(mercure)
            .with_gateway(Some(gateway.clone()))
            .with_demo(config.demo)
            .with_acme(http01)
            .with_public_healthz(config.admin.public_healthz);
        let app = match admin_listener {
            Some(_) => app.with_metrics(metrics.clone()),
            None => app,
        };
        let drain = Drain::new();
        let ctx = Arc::new(ConnContext::new(app, acceptor, &config, metrics.clone()));
        observe::count_at_scrape(
            &metrics,
            ctx.connections_per_client().clone(),
            publish_limits,
            hub.clone(),
        );
        let permits = Arc::new(Semaphore::new(config.server.max_connections));
        let accepted = AtomicU64::new(0);
        tracing::info!(
            tls = %tls_listener.local_addr().map_or("?".into(), |a| a.to_string()),
            plaintext = %plaintext_listener
                .as_ref()
                .and_then(|l| l.local_addr().ok())
                .map_or("off".into(), |a| a.to_string()),
            admin = %admin_listener
                .as_ref()
                .and_then(|l| l.local_addr().ok())
                .map_or("off".into(), |a| a.to_string()),
            "listening"
        );
        let admin_task = admin_listener.map(|listener| {
            let token = config.admin.token.clone();
            AdminTask::start(listener, metrics.clone(), readiness.clone(), token)
        });
        readiness.set_listening(true);
        // New connections are still accepted for `admin.unready_delay_secs` after /readyz
        // turned 503.
        let shutdown = unready_first(shutdown, readiness.clone(), config.admin.unready_delay);
        tokio::pin!(shutdown);
        let mut backoff = AcceptBackoff::default();
        // Connections being served: not the semaphore's count, which includes the slot the
        // accept loop holds while it waits for the next one.
        let summary = tokio::spawn(log_summaries(hub.clone(), workers.open_connections()));
        let acme = acme.map(|manager| tokio::spawn(manager.run()));
        let certificate_watch = config
            .tls
            .watch_interval
            .map(|interval| tokio::spawn(tls::watch(certificates, interval)));
        loop {
            let permit = tokio::select! {
                () = &mut shutdown => break,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let accepted_conn = tokio::select! {
                () = &mut shutdown => break,
                res = tls_listener.accept() => res.map(|(s, a)| (s, a, Transport::Tls)),
                res = accept_optional(plaintext_listener.as_ref()) => {
                    res.map(|(s, a)| (s, a, Transport::Plaintext))
                }
            };
            match accepted_conn {
                Ok((stream, peer, transport)) => {
                    backoff.reset();
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let ctx = ctx.clone();
                    let watcher = drain.watcher();
                    let handed = workers.serve(stream, move |stream| async move {
                        conn::serve(ctx, watcher, stream, peer, transport).await;
                        drop(permit);
                    });
                    if let Err(e) = handed {
                        tracing::debug!(client.addr = %peer, error = %e, "connection lost at accept");
                    }
                }
                Err(e) => {
                    drop(permit);
                    let delay = backoff.next();
                    tracing::warn!(error = %e, retry_in = ?delay, "accept failed");
                    tokio::time::sleep(delay).await;
                }
            }
        }
        drop(tls_listener);
        drop(plaintext_listener);
        summary.abort();
        for task in [certificate_watch, acme].into_iter().flatten() {
            task.abort();
        }
        for task in key_refresh {
            task.abort();
        }

        tracing::info!("shutting down: draining connections");
        // GOAWAY (and HTTP/1.1 close) first, then the streams end (the hub's, and the
        // gateway's relayed and shared ones): clients reconnect to another server instead
        // of this one.
        let deadline = config.server.shutdown_timeout;
        let end_streams = || {
            hub.shutdown();
            gateway.shutdown();
        };
        if !drain.drain(deadline, end_streams).await {
            tracing::warn!(
                ?deadline,
                "shutdown deadline reached; closed the remaining connections"
            );
        }
        // The admin listener answered (503 on /readyz) for the whole drain.
        if let Some(admin) = admin_task {
            admin.stop().await;
        }
        let stats = hub.stats();
        tracing::info!(
            connections = accepted.load(Ordering::Relaxed),
            published = stats.published,
            subscriptions = stats.subscriptions,
            overflows = stats.overflows,
            catch_ups = stats.catch_ups,
            "server stopped"
        );
    }
}

/// Says at startup who may publish, and why: an operator must be able to tell from the log
/// whether a hub reachable from the network accepts anonymous publications.
fn log_publish_policy(config: &Config, mercure: Option<&Mercure>) {
    use crate::config::PublishAuthMode;
    let required = config.publish_requires_auth();
    let reason = match config.publish_auth.mode {
        PublishAuthMode::Required => "hub.publish_auth = \"required\"",
        PublishAuthMode::Open => "hub.publish_auth = \"open\"",
        PublishAuthMode::Auto if required => {
            "a listener is not loopback (hub.publish_auth = \"auto\")"
        }
        PublishAuthMode::Auto => "every listener is loopback (hub.publish_auth = \"auto\")",
    };
    let static_tokens = config.publish_auth.static_tokens.len();
    let token_keys = config.mercure.as_ref().is_some_and(|m| m.has_keys());
    if required {
        tracing::info!(
            static_tokens,
            access_token_keys = token_keys,
            "publishing requires authorization: {reason}"
        );
        if static_tokens == 0 && !token_keys {
            tracing::warn!("publishing requires authorization but no static token and no Mercure key is configured: nobody can publish");
        }
    } else if config.publish_auth.mode == PublishAuthMode::Open
        && (!config.server.listen.ip().is_loopback()
            || config
                .server
                .plaintext_listen
                .is_some_and(|a| !a.ip().is_loopback()))
    {
        tracing::warn!(
            "publishing is open to anyone who can reach a non-loopback listener: {reason}"
        );
    } else {
        tracing::info!("publishing is open (no authorization): {reason}");
    }
    if let Some(mercure) = mercure {
        tracing::info!(hub_url = %mercure.hub_url(), "mercure hub enabled");
    }
}

/// Logs a summary line at info every [`SUMMARY_INTERVAL`], for operators who do not run
/// at debug.
async fn log_summaries(hub: Arc<Hub>, open: OpenConnections) {
    let start = tokio::time::Instant::now() + SUMMARY_INTERVAL;
    let mut ticks = tokio::time::interval_at(start, SUMMARY_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let stats = hub.stats();
        tracing::info!(
            connections = open.total(),
            streams = stats.active_subscriptions,
            topics = stats.active_topics,
            published = stats.published,
            enqueued = stats.enqueued,
            overflows = stats.overflows,
            catch_ups = stats.catch_ups,
            "summary"
        );
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

async fn accept_optional(
    listener: Option<&TcpListener>,
) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Back-off after accept errors: resource exhaustion (EMFILE) clears only when connections
/// close, so retrying at once would spin.
#[derive(Debug, Default)]
struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    fn next(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        Duration::from_millis(5u64 << self.failures.min(8))
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Raises the soft limit on open files to the hard limit (systemd's `LimitNOFILE`): every
/// connection is one, and the default soft limit (1024) caps a server long before memory
/// does. Warns when even the hard limit is below what `max_connections` needs.
pub fn raise_fd_limit(max_connections: usize) -> u64 {
    let needed = (max_connections as u64).saturating_add(FD_HEADROOM);
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            if limit < needed {
                tracing::warn!(
                    fd_limit = limit,
                    needed,
                    "the open files limit is below server.max_connections plus headroom: \
                     connections will be refused at accept; raise the hard limit \
                     (LimitNOFILE) or lower server.max_connections"
                );
            }
            limit
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open files limit");
            0
        }
    }
}
