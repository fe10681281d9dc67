//! Prometheus metrics: one [`Metrics`] per server, built at startup around its own
//! registry (no global one, so several servers in one process count apart) and handed down
//! to the parts that count.
//!
//! A leaf: imports nothing of the crate. Everything else may import it.
//!
//! The hot path is a delivery (an event written to one stream, ~3 µs of CPU): what it pays
//! is a relaxed atomic add per batch of frames on a counter resolved once per front door at
//! startup ([`StreamMetrics`]), and one relaxed load for the sampled latency
//! ([`LatencyProbe`]). Label lookups (a hash and a read lock) happen once per connection,
//! stream, publication or upstream request, never per delivery. Gauges that describe state
//! owned elsewhere (fan-out upstreams, the cluster's reachability) are read when scraped,
//! through hooks ([`Metrics::on_scrape`]).

mod handles;
pub mod labels;
mod probe;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use prometheus_client::{
    encoding::text::encode,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::{Registry, Unit},
};

pub use handles::{ClusterMetrics, ConnGuard, StreamMetrics};
use labels::{
    status_label, CertLabels, ConnLabels, DoorLabels, EndLabels, HandshakeLabels, LimitLabels,
    ListenerLabels, PublishErrorLabels, RenewalLabels, ReplayLabels, RouteLabels, TokenLabels,
    PUBLISH_STATUSES,
};
pub use labels::{
    FrontDoor, HandshakeFailure, Limit, Listener, Protocol, RenewalOutcome, ReplayOutcome,
    StreamEnd, TokenRejection,
};
pub use probe::LatencyProbe;

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A floating-point gauge (seconds, timestamps).
pub type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// A gauge read from its owner when scraped.
type ScrapeHook = Box<dyn Fn() + Send + Sync>;

/// Every metric of one server. Shared as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    hooks: Mutex<Vec<ScrapeHook>>,
    accepted: Family<ListenerLabels, Counter>,
    conns_opened: Family<ConnLabels, Counter>,
    conns_active: Family<ConnLabels, Gauge>,
    handshake_failures: Family<HandshakeLabels, Counter>,
    streams_active: Family<DoorLabels, Gauge>,
    streams_opened: Family<DoorLabels, Counter>,
    stream_ends: Family<EndLabels, Counter>,
    delivered: Family<DoorLabels, Counter>,
    replays: Family<ReplayLabels, Counter>,
    probe: Arc<LatencyProbe>,
    published: Family<DoorLabels, Counter>,
    publish_errors: Family<PublishErrorLabels, Counter>,
    upstream_requests: Family<RouteLabels, Counter>,
    upstream_errors: Family<RouteLabels, Counter>,
    upstream_latency: LatencyFamily,
    fanout_upstreams: Gauge,
    fanout_subscribers: Gauge,
    token_rejections: Family<TokenLabels, Counter>,
    cert_expiry: Family<CertLabels, Gauge>,
    acme_renewals: Family<RenewalLabels, Counter>,
    limit_refusals: Family<LimitLabels, Counter>,
    catch_ups: Counter,
    cluster: ClusterMetrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh registry with every family registered (at zero); the cluster's only with
    /// `cluster`, so a node without `[cluster]` does not show them.
    pub fn new(cluster: bool) -> Arc<Self> {
        let mut registry = Registry::with_prefix("ssegate");
        let accepted = Family::default();
        registry.register(
            "connections_accepted",
            "TCP connections accepted, by listener (before any handshake)",
            Family::clone(&accepted),
        );
        let conns_opened = Family::default();
        registry.register(
            "connections_opened",
            "Connections that reached HTTP, by listener and protocol (h1, h2)",
            Family::clone(&conns_opened),
        );
        let conns_active = Family::default();
        registry.register(
            "connections_active",
            "Connections open now that reached HTTP, by listener and protocol",
            Family::clone(&conns_active),
        );
        let handshake_failures = Family::default();
        registry.register(
            "tls_handshake_failures",
            "Connections that never reached HTTP: TLS handshake timeout or error, or a bad PROXY header",
            Family::clone(&handshake_failures),
        );
        let streams_active = Family::default();
        registry.register(
            "streams_active",
            "Event streams open now, by front door (events, mercure, gateway)",
            Family::clone(&streams_active),
        );
        let streams_opened = Family::default();
        registry.register(
            "streams_opened",
            "Event streams opened, by front door",
            Family::clone(&streams_opened),
        );
        let stream_ends = Family::default();
        registry.register(
            "stream_endings",
            "Event streams ended, by front door and reason (overflow = slow consumer)",
            Family::clone(&stream_ends),
        );
        let delivered = Family::default();
        registry.register(
            "events_delivered",
            "Events written to streams (one per event per stream), by front door",
            Family::clone(&delivered),
        );
        let replays = Family::default();
        registry.register(
            "replays",
            "Streams that resumed from a Last-Event-ID, by outcome (complete, or gap: events may be missing)",
            Family::clone(&replays),
        );
        let latency = Histogram::new(exponential_buckets(0.000_05, 2.0, 18));
        registry.register_with_unit(
            "delivery_latency",
            "Publish-to-write latency, sampled: one event at a time is timed from the log handing it to this node's router until the first stream writes it (see LatencyProbe)",
            Unit::Seconds,
            latency.clone(),
        );
        let published = Family::default();
        registry.register(
            "events_published",
            "Events accepted for publication on this node, by front door (events, mercure)",
            Family::clone(&published),
        );
        let publish_errors = Family::default();
        registry.register(
            "publish_errors",
            "Publications refused, by front door and status code (a fixed set, else other)",
            Family::clone(&publish_errors),
        );
        let upstream_requests = Family::default();
        registry.register(
            "gateway_upstream_requests",
            "Requests forwarded by a gateway route, by route name",
            Family::clone(&upstream_requests),
        );
        let upstream_errors = Family::default();
        registry.register(
            "gateway_upstream_errors",
            "Forwarded requests the upstream did not answer (the gateway answered 502 or 504), by route",
            Family::clone(&upstream_errors),
        );
        let upstream_latency: LatencyFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_5, 2.0, 16)));
        registry.register_with_unit(
            "gateway_upstream_latency",
            "Time from a forwarded request to the upstream's response head, by route",
            Unit::Seconds,
            upstream_latency.clone(),
        );
        let fanout_upstreams = Gauge::default();
        registry.register(
            "fanout_upstreams",
            "Shared upstream streams open now (gateway fan-out)",
            fanout_upstreams.clone(),
        );
        let fanout_subscribers = Gauge::default();
        registry.register(
            "fanout_subscribers",
            "Clients on shared upstream streams now (gateway fan-out)",
            fanout_subscribers.clone(),
        );
        let token_rejections = Family::default();
        registry.register(
            "mercure_token_rejections",
            "Mercure requests refused for their access token, by reason (a fixed set)",
            Family::clone(&token_rejections),
        );
        let cert_expiry = Family::default();
        registry.register_with_unit(
            "certificate_expiry_timestamp",
            "When each served certificate expires (Unix time), by certificate file name or local",
            Unit::Seconds,
            Family::clone(&cert_expiry),
        );
        let acme_renewals = Family::default();
        registry.register(
            "acme_renewals",
            "ACME certificate renewals, by outcome (see Metrics::acme_renewal)",
            Family::clone(&acme_renewals),
        );
        let limit_refusals = Family::default();
        registry.register(
            "limit_refusals",
            "Clients refused by a limit: connections closed at accept (connections_per_client), \
             publishes answered 429 (publish_rate), subscriptions answered 503 (subscribers)",
            Family::clone(&limit_refusals),
        );
        let catch_ups = Counter::default();
        registry.register(
            "stream_catch_ups",
            "Times a stream's queue filled while its client took everything written (the server \
             fell behind): the events it missed were read from the log instead of the stream \
             ending as an overflow",
            catch_ups.clone(),
        );
        let cluster_metrics = ClusterMetrics {
            append_latency: Histogram::new(exponential_buckets(0.000_1, 2.0, 16)),
            consumer_lag: FloatGauge::default(),
            log_reachable: Gauge::default(),
        };
        if cluster {
            register_cluster(&mut registry, &cluster_metrics);
        }
        let metrics = Self {
            registry,
            hooks: Mutex::new(Vec::new()),
            accepted,
            conns_opened,
            conns_active,
            handshake_failures,
            streams_active,
            streams_opened,
            stream_ends,
            delivered,
            replays,
            probe: Arc::new(LatencyProbe::new(latency)),
            published,
            publish_errors,
            upstream_requests,
            upstream_errors,
            upstream_latency,
            fanout_upstreams,
            fanout_subscribers,
            token_rejections,
            cert_expiry,
            acme_renewals,
            limit_refusals,
            catch_ups,
            cluster: cluster_metrics,
        };
        metrics.create_series();
        Arc::new(metrics)
    }

    /// Creates every series of the closed label sets at zero: a family shows in the scrape
    /// before its first event (an empty family is not written at all), and `rate()` sees
    /// the first increase.
    fn create_series(&self) {
        for listener in [Listener::Tls, Listener::Plaintext] {
            let _ = self.accepted.get_or_create(&ListenerLabels { listener });
            for protocol in [Protocol::H1, Protocol::H2] {
                let labels = ConnLabels { listener, protocol };
                let _ = self.conns_opened.get_or_create(&labels);
                let _ = self.conns_active.get_or_create(&labels);
            }
        }
        for reason in [
            HandshakeFailure::Timeout,
            HandshakeFailure::Error,
            HandshakeFailure::ProxyHeader,
        ] {
            let _ = self
                .handshake_failures
                .get_or_create(&HandshakeLabels { reason });
        }
        for front_door in [FrontDoor::Events, FrontDoor::Mercure] {
            let _ = self.published.get_or_create(&DoorLabels { front_door });
            for status in PUBLISH_STATUSES {
                let status = status_label(status);
                let _ = self
                    .publish_errors
                    .get_or_create(&PublishErrorLabels { front_door, status });
            }
        }
        for reason in TokenRejection::ALL {
            let _ = self.token_rejections.get_or_create(&TokenLabels { reason });
        }
        for outcome in [RenewalOutcome::Success, RenewalOutcome::Failure] {
            let _ = self.acme_renewals.get_or_create(&RenewalLabels { outcome });
        }
        for limit in [
            Limit::ConnectionsPerClient,
            Limit::PublishRate,
            Limit::Subscribers,
        ] {
            let _ = self.limit_refusals.get_or_create(&LimitLabels { limit });
        }
    }

    /// Creates a gateway route's series at zero (its name comes from the configuration).
    pub fn add_route(&self, route: &str) {
        let labels = RouteLabels {
            route: route.to_owned(),
        };
        let _ = self.upstream_requests.get_or_create(&labels);
        let _ = self.upstream_errors.get_or_create(&labels);
        let _ = self.upstream_latency.get_or_create(&labels);
    }

    /// The OpenMetrics text of every metric, after running the scrape hooks.
    pub fn encode(&self) -> String {
        for hook in self.lock_hooks().iter() {
            hook();
        }
        let mut out = String::with_capacity(16 << 10);
        // Writing into a String cannot fail; an error would be a bug in an encoder, and a
        // partial scrape is still better than none.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Runs `hook` before each scrape, to set gauges from state owned elsewhere.
    pub fn on_scrape(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.lock_hooks().push(Box::new(hook));
    }

    fn lock_hooks(&self) -> std::sync::MutexGuard<'_, Vec<ScrapeHook>> {
        self.hooks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A TCP connection was accepted on `listener`.
    pub fn accepted(&self, listener: Listener) {
        let _ = self
            .accepted
            .get_or_create(&ListenerLabels { listener })
            .inc();
    }

    /// A connection reached HTTP: counted opened, and active until the guard drops.
    pub fn connection(&self, listener: Listener, protocol: Protocol) -> ConnGuard {
        let labels = ConnLabels { listener, protocol };
        let _ = self.conns_opened.get_or_create(&labels).inc();
        let active = self.conns_active.get_or_create_owned(&labels);
        active.inc();
        ConnGuard { active }
    }

    /// A connection never reached HTTP.
    pub fn handshake_failed(&self, reason: HandshakeFailure) {
        let _ = self
            .handshake_failures
            .get_or_create(&HandshakeLabels { reason })
            .inc();
    }

    /// The handles of `front_door`'s streams (resolve once, share with every stream).
    pub fn streams(&self, front_door: FrontDoor) -> Arc<StreamMetrics> {
        let door = DoorLabels { front_door };
        let end = |reason| {
            self.stream_ends
                .get_or_create_owned(&EndLabels { front_door, reason })
        };
        let replay = |outcome| {
            self.replays.get_or_create_owned(&ReplayLabels {
                front_door,
                outcome,
            })
        };
        Arc::new(StreamMetrics {
            active: self.streams_active.get_or_create_owned(&door),
            opened: self.streams_opened.get_or_create_owned(&door),
            delivered: self.delivered.get_or_create_owned(&door),
            ends: StreamEnd::ALL.map(end),
            complete: replay(ReplayOutcome::Complete),
            gap: replay(ReplayOutcome::Gap),
            probe: self.probe.clone(),
        })
    }

    /// The probe the hub's router arms once per event.
    pub fn latency_probe(&self) -> Arc<LatencyProbe> {
        self.probe.clone()
    }

    /// A publication was answered with `status`: counted published (2xx) or refused.
    pub fn publish_answered(&self, front_door: FrontDoor, status: u16) {
        if (200..300).contains(&status) {
            self.published
                .get_or_create(&DoorLabels { front_door })
                .inc();
        } else if status >= 400 {
            let labels = PublishErrorLabels {
                front_door,
                status: status_label(status),
            };
            self.publish_errors.get_or_create(&labels).inc();
        }
    }

    /// A gateway route forwarded a request; `status` is what the client got, `elapsed` the
    /// time to the response head.
    pub fn upstream_answered(&self, route: &str, status: u16, elapsed: Duration) {
        let labels = RouteLabels {
            route: route.to_owned(),
        };
        self.upstream_requests.get_or_create(&labels).inc();
        // 502 and 504 are the gateway's own answers when the upstream fails or is late.
        if status == 502 || status == 504 {
            self.upstream_errors.get_or_create(&labels).inc();
        }
        self.upstream_latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the fan-out gauges (from a scrape hook).
    pub fn set_fanout(&self, upstreams: usize, subscribers: usize) {
        self.fanout_upstreams
            .set(i64::try_from(upstreams).unwrap_or(i64::MAX));
        self.fanout_subscribers
            .set(i64::try_from(subscribers).unwrap_or(i64::MAX));
    }

    /// The Mercure hub refused a token.
    pub fn token_rejected(&self, reason: TokenRejection) {
        self.token_rejections
            .get_or_create(&TokenLabels { reason })
            .inc();
    }

    /// Records when `certificate` (a file name, or `local`) expires. Call again when a
    /// certificate is reloaded or renewed.
    pub fn certificate_expires(&self, certificate: &str, not_after: SystemTime) {
        let secs = not_after
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.cert_expiry
            .get_or_create(&CertLabels {
                certificate: certificate.to_owned(),
            })
            .set(secs);
    }

    /// The hook for ACME: call once per renewal attempt with its outcome.
    pub fn acme_renewal(&self, outcome: RenewalOutcome) {
        self.acme_renewals
            .get_or_create(&RenewalLabels { outcome })
            .inc();
    }

    /// Brings the count of `limit`'s refusals up to `total` (the limits keep their own
    /// counts; this is read at scrape time, so the refusing paths pay nothing).
    pub fn limit_refusals_are(&self, limit: Limit, total: u64) {
        let counter = self.limit_refusals.get_or_create(&LimitLabels { limit });
        let seen = counter.get();
        if total > seen {
            counter.inc_by(total - seen);
        }
    }

    /// Brings the count of catch-ups up to the hub's `total` (read at scrape time).
    pub fn catch_ups_are(&self, total: u64) {
        let seen = self.catch_ups.get();
        if total > seen {
            self.catch_ups.inc_by(total - seen);
        }
    }

    /// The cluster's handles (registered only when the server was built with a cluster).
    pub fn cluster(&self) -> ClusterMetrics {
        self.cluster.clone()
    }
}

fn register_cluster(registry: &mut Registry, c: &ClusterMetrics) {
    registry.register_with_unit(
        "cluster_append_latency",
        "Time for the shared log (Redis) to take an append",
        Unit::Seconds,
        c.append_latency.clone(),
    );
    registry.register_with_unit(
        "cluster_consumer_lag",
        "Time between an entry's id time in the shared log and this node reading it, for the last entry read",
        Unit::Seconds,
        c.consumer_lag.clone(),
    );
    registry.register(
        "cluster_log_reachable",
        "1 when this node's consumer read the shared log within the last seconds, else 0",
        c.log_reachable.clone(),
    );
}
