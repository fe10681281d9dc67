//! HTTP/2 and connection abuse, one test per attack (issue 11): each runs the server as a
//! child process, keeps a well-behaved canary (a subscriber and a publisher on their own
//! connections) going through the attack, and asserts that the canary lost nothing, how
//! the offender was treated, that the server's memory stayed under a stated bound, and
//! that memory and file descriptors came back near their baseline once the attackers left.
//!
//! Latency under attack is a speed figure, so it is not asserted here: `benches/attacks.rs`
//! prints the canary's percentiles with and without each attack.

mod churn;
mod continuation;
mod control_floods;
mod rapid_reset;
mod slowloris;
mod stream_limit;
mod zero_window;

use std::{path::Path, time::Duration};

use ssegate::config::RawConfig;

use crate::support::{
    attackers::RssSampler,
    canary::{Canary, CanaryReport},
    process::ServerProcess,
};

/// How often the canary publishes.
const CANARY_INTERVAL: Duration = Duration::from_millis(20);

/// How far above its baseline the server's RSS may stay once the attackers are gone: what
/// allocator caches and the runtime's grown tables keep, not what an attack added.
const RECOVERY_SLACK_KIB: u64 = 4 << 10;

/// How long the server has to come back to its baseline after an attack.
const RECOVERY_PATIENCE: Duration = Duration::from_secs(10);

/// A server under attack, with its canary and memory sampler running.
pub struct Arena {
    pub server: ServerProcess,
    canary: Canary,
    sampler: RssSampler,
    pub baseline_kib: u64,
    pub baseline_fds: usize,
}

impl Arena {
    /// Starts the server with `tweak` applied to its configuration, then the canary, and
    /// takes the baseline.
    pub async fn start(tweak: impl FnOnce(&mut RawConfig)) -> Self {
        let binary = Path::new(env!("CARGO_BIN_EXE_ssegate"));
        let server = ServerProcess::start(binary, tweak).await;
        let canary = Canary::start(
            server.tls_addr,
            server.tls_config(),
            "canary",
            CANARY_INTERVAL,
        )
        .await;
        // The baseline includes the canary's own connections and a few deliveries.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let baseline_kib = server.rss_kib();
        let baseline_fds = server.open_fds();
        let sampler = RssSampler::start(server.pid);
        Self {
            server,
            canary,
            sampler,
            baseline_kib,
            baseline_fds,
        }
    }

    /// Call once the attackers are gone: asserts that the canary got every event in order,
    /// that the RSS peak stayed under `peak_bound_mib`, and that RSS and open file
    /// descriptors came back near the baseline. Returns the canary's report and the peak.
    pub async fn finish(mut self, attack: &str, peak_bound_mib: u64) -> (CanaryReport, u64) {
        assert!(
            self.server.is_running(),
            "the server died during {attack}:\n{}",
            self.server.log()
        );
        let report = self.canary.finish().await;
        let peak_kib = self.sampler.peak_kib().await;
        eprintln!(
            "{attack}: canary {} events, p50 {} µs, p99 {} µs, max {} µs; RSS baseline {} KiB, \
             peak {peak_kib} KiB",
            report.received,
            report.percentile_us(50.0),
            report.percentile_us(99.0),
            report.percentile_us(100.0),
            self.baseline_kib
        );
        report.assert_complete(attack);
        assert!(
            peak_kib < peak_bound_mib << 10,
            "{attack}: RSS peaked at {peak_kib} KiB, over the bound of {peak_bound_mib} MiB \
             (baseline {} KiB)",
            self.baseline_kib
        );
        let deadline = tokio::time::Instant::now() + RECOVERY_PATIENCE;
        loop {
            let (rss, fds) = (self.server.rss_kib(), self.server.open_fds());
            // The canary's two connections are closed by now.
            if rss <= self.baseline_kib + RECOVERY_SLACK_KIB && fds <= self.baseline_fds {
                eprintln!("{attack}: RSS back to {rss} KiB, {fds} file descriptors");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{attack}: {RECOVERY_PATIENCE:?} after the attack, RSS is {rss} KiB (baseline \
                 {} KiB, peak {peak_kib} KiB) and {fds} file descriptors are open (baseline {})",
                self.baseline_kib,
                self.baseline_fds
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (report, peak_kib)
    }
}
