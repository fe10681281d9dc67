//! The server's observability wiring: what the metrics and `/readyz` read from the other
//! parts (certificate expiry, fan-out and cluster state at scrape time), the admin
//! listener's task, and the shutdown future that turns `/readyz` 503 before the drain.

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    acme::AcmeStatus,
    admin::{Admin, Readiness},
    client_limit::ConnectionsPerClient,
    cluster::RedisLog,
    config::Config,
    gateway::Gateway,
    http::PublishLimits,
    hub::Hub,
    metrics::{Limit, Metrics},
    tls::CertStore,
};

/// Keeps the certificate expiry gauges current: read from what is served at each scrape,
/// so reloads and renewals show without anyone telling the metrics. Labels are the
/// configured files' names (bounded by the configuration), `local` for the generated
/// certificate (`local_cert`) and `acme`.
pub(super) fn record_expiry(
    metrics: &Arc<Metrics>,
    certificates: &Arc<CertStore>,
    local_cert: Option<PathBuf>,
    acme: Option<Arc<std::sync::Mutex<AcmeStatus>>>,
) {
    let record = {
        let metrics = Arc::downgrade(metrics);
        let certificates = certificates.clone();
        move || {
            let Some(metrics) = metrics.upgrade() else {
                return;
            };
            for state in certificates.states() {
                let name = if local_cert.as_ref() == Some(&state.cert) {
                    "local".to_owned()
                } else {
                    state
                        .cert
                        .file_name()
                        .map_or_else(|| "cert".into(), |n| n.to_string_lossy().into_owned())
                };
                metrics.certificate_expires(&name, state.not_after);
            }
            let issued = acme
                .as_ref()
                .and_then(|status| status.lock().unwrap_or_else(|e| e.into_inner()).not_after);
            if let Some(not_after) = issued {
                metrics.certificate_expires("acme", not_after);
            }
        }
    };
    record();
    metrics.on_scrape(record);
}

/// Counts the limits' refusals and the hub's catch-ups in `metrics` at each scrape, from
/// their own counts: the refusing and delivering paths pay nothing for it.
pub(super) fn count_at_scrape(
    metrics: &Arc<Metrics>,
    connections: Arc<ConnectionsPerClient>,
    publishes: Arc<PublishLimits>,
    hub: Arc<Hub>,
) {
    let weak = Arc::downgrade(metrics);
    metrics.on_scrape(move || {
        if let Some(metrics) = weak.upgrade() {
            metrics.limit_refusals_are(Limit::ConnectionsPerClient, connections.refused());
            metrics.limit_refusals_are(Limit::PublishRate, publishes.refused());
            let stats = hub.stats();
            metrics.limit_refusals_are(Limit::Subscribers, stats.refused_subscriptions);
            metrics.catch_ups_are(stats.catch_ups);
        }
    });
}

/// Makes `/readyz` and the reachability gauge follow the cluster log's consumer.
pub(super) fn watch_cluster(metrics: &Metrics, readiness: Readiness, log: &RedisLog) -> Readiness {
    let reachable = Arc::new(log.reachability());
    let check = reachable.clone();
    let gauge = metrics.cluster().log_reachable;
    metrics.on_scrape(move || {
        gauge.set(i64::from(reachable().is_ok()));
    });
    readiness.with_check(Box::new(move || check()))
}

/// Connects the hub and the gateway to `metrics`.
pub(super) fn wire(metrics: &Arc<Metrics>, config: &Config, hub: &Hub, gateway: &Arc<Gateway>) {
    // Without the admin listener nobody can read the metrics: the delivery path then
    // counts nothing (what `--no-admin` measures against).
    if config.admin.listen.is_some() {
        hub.set_latency_probe(metrics.latency_probe());
    }
    for route in &config.routes {
        metrics.add_route(&route.metric_label());
    }
    let gateway = gateway.clone();
    // Weak: the hook lives in the registry the metrics own.
    let weak = Arc::downgrade(metrics);
    metrics.on_scrape(move || {
        if let Some(metrics) = weak.upgrade() {
            let (upstreams, subscribers) = gateway.fanout_counts();
            metrics.set_fanout(upstreams, subscribers);
        }
    });
}

/// The admin listener's task, serving until [`AdminTask::stop`].
pub(super) struct AdminTask {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl AdminTask {
    /// Serves `listener` with `metrics`, `readiness` and the optional `token`.
    pub(super) fn start(
        listener: TcpListener,
        metrics: Arc<Metrics>,
        readiness: Arc<Readiness>,
        token: Option<String>,
    ) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let admin = Arc::new(Admin::new(metrics, readiness, token));
        let task = tokio::spawn(admin.serve(listener, async move {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    /// Stops serving and waits for the task.
    pub(super) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// `shutdown`, then `/readyz` 503 at once (before any GOAWAY: load balancers stop sending
/// new clients first), then `delay` more of accepting, until they have noticed.
pub(super) async fn unready_first(
    shutdown: impl Future<Output = ()>,
    readiness: Arc<Readiness>,
    delay: Duration,
) {
    shutdown.await;
    readiness.start_draining();
    if !delay.is_zero() {
        tracing::info!(?delay, "shutting down: not ready; draining after the delay");
        tokio::time::sleep(delay).await;
    }
}
