//! The handles the parts count with, resolved from the registry once: a stream's, a
//! connection's, the cluster log's. Holding one costs no lookup when counting.

use std::sync::Arc;

use bytes::Bytes;
use prometheus_client::metrics::{counter::Counter, gauge::Gauge, histogram::Histogram};

use super::{FloatGauge, LatencyProbe, ReplayOutcome, StreamEnd};

/// What the cluster log reports: handed to it by the server (the cluster imports only this
/// leaf, never the edge).
#[derive(Debug, Clone)]
pub struct ClusterMetrics {
    /// Seconds from sending an append to Redis answering it.
    pub append_latency: Histogram,
    /// Seconds between an entry's id time (when Redis took it) and this node's consumer
    /// handing it to the router, for the last entry read.
    pub consumer_lag: FloatGauge,
    /// 1 when the consumer had an answer from the log within the last 5 s, else 0.
    pub log_reachable: Gauge,
}

/// The handles one front door's streams count with, resolved once at startup: the hot path
/// never looks a label up.
#[derive(Debug)]
pub struct StreamMetrics {
    pub(super) active: Gauge,
    pub(super) opened: Counter,
    pub(super) delivered: Counter,
    pub(super) ends: [Counter; StreamEnd::ALL.len()],
    pub(super) complete: Counter,
    pub(super) gap: Counter,
    pub(super) probe: Arc<LatencyProbe>,
}

/// An open connection of a known protocol: counted active until dropped.
#[derive(Debug)]
pub struct ConnGuard {
    pub(super) active: Gauge,
}

impl StreamMetrics {
    /// A stream opened; `replay` says how its resumption went, if it resumed.
    pub fn opened(&self, replay: Option<ReplayOutcome>) {
        self.opened.inc();
        self.active.inc();
        match replay {
            Some(ReplayOutcome::Complete) => self.complete.inc(),
            Some(ReplayOutcome::Gap) => self.gap.inc(),
            None => 0,
        };
    }

    /// `frames` are about to be written: one relaxed add, one relaxed load.
    #[inline]
    pub fn delivered(&self, frames: &[Bytes]) {
        self.delivered.inc_by(frames.len() as u64);
        self.probe.check(frames);
    }

    /// A stream ended for `reason`.
    pub fn ended(&self, reason: StreamEnd) {
        self.active.dec();
        let index = StreamEnd::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or_default();
        self.ends[index].inc();
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.active.dec();
    }
}
