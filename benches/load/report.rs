//! The figures of one run: a table for people, one JSON line for scripts.

use std::fmt::Write as _;

use serde::Serialize;

use crate::origin::OriginReport;
use crate::stats::Percentiles;

/// Everything a run measured. Server figures are `None` without `--server-pid`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub label: String,
    pub url: String,
    pub sub_path: String,
    pub pub_path: String,
    /// The workload asked for.
    pub streams: usize,
    pub conns: usize,
    pub topics: usize,
    pub rate: f64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub pub_conns: usize,
    pub threads: usize,

    /// Streams that got `200` and headers.
    pub streams_established: u64,
    /// Streams refused, reset or unanswered (by `--establish-timeout`) before being established.
    pub streams_failed: u64,
    /// Streams the server ended (or reset) after establishing them, before the run was over.
    pub streams_ended: u64,
    /// Seconds from the first connection attempt until every stream was settled.
    pub establish_s: f64,
    pub conn_errors: u64,
    /// Connections the server closed gracefully (GOAWAY, NO_ERROR).
    pub goaways: u64,

    /// Publish requests sent inside the measured window, and their rate.
    pub published: u64,
    pub publish_rate: f64,
    /// Failed publish requests over the whole run (warm-up included).
    pub publish_errors: u64,
    /// Events skipped because the publisher fell more than 1 s behind.
    pub publish_dropped: u64,
    /// Publisher connections replaced after the server closed them.
    pub publish_reconnects: u64,
    /// Pacer ticks on which an event was due but its connection could not take another
    /// request (at the server's concurrent stream limit, or reconnecting).
    pub publish_stalls: u64,

    /// Deliveries of events sent inside the window, and per second of window.
    pub deliveries: u64,
    pub deliveries_per_s: f64,
    /// Publish-to-deliver latency of those deliveries.
    pub latency: Percentiles,

    /// Over the whole publishing phase, for established streams: events owed (published
    /// to the stream's topic after it was established), events missing after the drain
    /// grace period, streams missing any, and repeats.
    pub expected: u64,
    pub lost: u64,
    pub streams_with_loss: u64,
    pub duplicates: u64,
    /// Distinct events that arrived after one with a higher sequence number.
    pub reordered: u64,
    /// Events that were not this run's payload for the stream's topic.
    pub foreign: u64,
    /// Comment lines (heartbeats) received over the whole run.
    pub heartbeats: u64,

    pub server_pids: Vec<u32>,
    pub server_rss_before_kib: Option<u64>,
    pub server_rss_after_kib: Option<u64>,
    /// (after - before) / established streams, VmRSS summed over the server's processes.
    pub server_rss_per_stream_kib: Option<f64>,
    /// The same for RssAnon (private memory only; VmRSS also counts shared memory pages).
    pub server_anon_per_stream_kib: Option<f64>,
    /// Server user + system CPU seconds during the measured window.
    pub server_cpu_s: Option<f64>,
    pub server_cpu_us_per_delivery: Option<f64>,
    /// This tool's CPU seconds during the window.
    pub client_cpu_s: f64,
    /// The machine's busy CPU seconds during the window (`/proc/stat`), and the part of
    /// them that is softirq (loopback TCP of both ends). On a VM these need not add up
    /// with the per-process figures.
    pub machine_busy_s: f64,
    pub machine_softirq_s: f64,
    /// CPU seconds of all other processes (not the server's pids, not this tool) during
    /// the window: a noise indicator, large when something else ran on the box.
    pub other_cpu_s: f64,
    /// Clock ticks per second assumed for `/proc/PID/stat`.
    pub clk_tck: f64,
    /// Gateway mode (`--origin`): what the in-process origin saw. `client_cpu_s` then
    /// excludes the origin's thread, whose CPU is `origin.cpu_s`.
    pub origin: Option<OriginReport>,
}

impl Report {
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let title = if self.label.is_empty() {
            "load"
        } else {
            &self.label
        };
        // Writing to a String cannot fail.
        let _ = self.write_table(&mut out, title);
        out
    }

    fn write_table(&self, out: &mut String, title: &str) -> std::fmt::Result {
        let ms = |us: u64| us as f64 / 1000.0;
        writeln!(
            out,
            "== {title}: {} streams over {} connections, {} topics, {} events/s for {} s \
             (warm-up {} s) against {}",
            self.streams,
            self.conns,
            self.topics,
            self.rate,
            self.duration_s,
            self.warmup_s,
            self.url
        )?;
        writeln!(
            out,
            "  streams established   {} of {} in {:.1} s (failed {}, ended early {}, \
             connection errors {}, GOAWAYs {})",
            self.streams_established,
            self.streams,
            self.establish_s,
            self.streams_failed,
            self.streams_ended,
            self.conn_errors,
            self.goaways
        )?;
        writeln!(
            out,
            "  published             {} in window = {:.1}/s (errors {}, dropped behind {}, \
             stalls {}, reconnects {})",
            self.published,
            self.publish_rate,
            self.publish_errors,
            self.publish_dropped,
            self.publish_stalls,
            self.publish_reconnects
        )?;
        writeln!(
            out,
            "  deliveries            {} = {:.0}/s",
            self.deliveries, self.deliveries_per_s
        )?;
        let l = &self.latency;
        writeln!(
            out,
            "  latency ms            p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  \
             (mean {:.2})",
            ms(l.p50_us),
            ms(l.p90_us),
            ms(l.p99_us),
            ms(l.p999_us),
            ms(l.max_us),
            l.mean_us / 1000.0
        )?;
        writeln!(
            out,
            "  lost                  {} of {} owed ({} streams); duplicates {}; reordered {}; \
             foreign {}; comments (heartbeats) {}",
            self.lost,
            self.expected,
            self.streams_with_loss,
            self.duplicates,
            self.reordered,
            self.foreign,
            self.heartbeats
        )?;
        match (
            self.server_rss_before_kib,
            self.server_rss_after_kib,
            self.server_rss_per_stream_kib,
            self.server_anon_per_stream_kib,
        ) {
            (Some(before), Some(after), Some(per_stream), Some(anon)) => writeln!(
                out,
                "  server memory         VmRSS {:.1} -> {:.1} MiB = {per_stream:.2} KiB/stream \
                 (RssAnon {anon:.2} KiB/stream), pids {:?}",
                before as f64 / 1024.0,
                after as f64 / 1024.0,
                self.server_pids
            )?,
            _ => writeln!(out, "  server memory         (no --server-pid)")?,
        }
        if let (Some(cpu), Some(per_delivery)) =
            (self.server_cpu_s, self.server_cpu_us_per_delivery)
        {
            writeln!(
                out,
                "  server CPU            {cpu:.2} s in window = {:.2} cores, \
                 {per_delivery:.2} µs/delivery (CLK_TCK assumed {})",
                cpu / self.duration_s,
                self.clk_tck
            )?;
        }
        if let Some(o) = &self.origin {
            writeln!(
                out,
                "  origin                {}: {} connections (peak {} open), {} streams \
                 (peak {}), resumed {}, slow-dropped {}, dropped behind {}",
                o.listen,
                o.connections,
                o.connections_peak,
                o.streams,
                o.streams_peak,
                o.resumed,
                o.slow_dropped,
                o.dropped_behind
            )?;
            if let Some(cpu) = o.cpu_s {
                writeln!(
                    out,
                    "  origin CPU            {cpu:.2} s in window = {:.2} cores",
                    cpu / self.duration_s
                )?;
            }
        }
        writeln!(
            out,
            "  client CPU            {:.2} s in window = {:.2} cores ({} runtime thread(s))",
            self.client_cpu_s,
            self.client_cpu_s / self.duration_s,
            self.threads
        )?;
        let other = self.other_cpu_s / self.duration_s;
        writeln!(
            out,
            "  machine CPU           {:.2} cores busy (softirq {:.2}); other processes \
             {other:.2} cores{}",
            self.machine_busy_s / self.duration_s,
            self.machine_softirq_s / self.duration_s,
            if other > 0.1 {
                "  << the box was not quiet: figures are noisy"
            } else {
                ""
            }
        )
    }
}
