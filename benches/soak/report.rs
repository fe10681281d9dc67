//! The figures of a soak run, the verdict, and their text form.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use super::plan::Plan;
use super::process::Usage;
use super::run::usage_line;
use super::subscribe::{lock, Source, Subscriber, SubscriberCounters, Transport};

/// Problems quoted in the report, over all subscribers.
const MAX_PROBLEMS: usize = 12;

#[derive(Debug, Default)]
pub struct Report {
    pub server_pid: u32,
    pub duration: Duration,
    pub elapsed: Duration,
    pub hub_h2_streams: usize,
    pub hub_h1_streams: usize,
    pub stallers: usize,
    pub gateway_direct: usize,
    pub gateway_fanout: usize,
    pub h2_connections: usize,
    pub topics: usize,
    pub hot_topics: usize,
    pub history_max_events: usize,
    pub subscriber_queue: usize,
    pub prefilled: u64,
    pub published: u64,
    pub publish_errors: u64,
    pub last_publish_error: Option<String>,
    pub hub_deliveries: u64,
    pub gateway_deliveries: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub out_of_order_ids: u64,
    pub malformed: u64,
    pub history_gaps: u64,
    pub replays_complete: u64,
    pub reconnects_client_dropped: u64,
    pub reconnects_server_ended: u64,
    pub reconnects_broken: u64,
    pub failed_attempts: u64,
    pub last_failure: Option<String>,
    pub stalls: u64,
    pub stall_secs: f64,
    pub connections_cut: u64,
    pub upstream_restarts: u64,
    /// Subscribers that got no event at all.
    pub silent_subscribers: usize,
    /// Hub subscribers still short of the last event when the calm phase gave up.
    pub not_caught_up: usize,
    pub catch_up: Duration,
    pub settle: Duration,
    pub usage_start: Usage,
    pub usage_before: Usage,
    pub usage_peak: Usage,
    pub usage_half_time: Usage,
    pub usage_chaos_end: Usage,
    pub usage_clients_gone: Usage,
    pub usage_after: Usage,
    /// How far above the baseline the server may stay once clients left.
    pub rss_slack_kib: u64,
    pub fd_slack: u64,
    pub problems: Vec<String>,
    pub server_log: String,
}

impl Report {
    pub fn new(plan: &Plan, server_pid: u32) -> Report {
        Report {
            server_pid,
            duration: plan.duration,
            hub_h2_streams: plan.h2_streams,
            hub_h1_streams: plan.h1_streams,
            stallers: plan.stallers,
            gateway_direct: plan.gateway_direct,
            gateway_fanout: plan.gateway_fanout,
            topics: plan.topics,
            hot_topics: plan.hot_topics,
            history_max_events: plan.server.history_max_events,
            subscriber_queue: plan.server.subscriber_queue,
            rss_slack_kib: plan.rss_slack_mib * 1024,
            fd_slack: plan.fd_slack,
            ..Report::default()
        }
    }

    /// Descriptors within `fd_slack` of the baseline and memory within `rss_slack`.
    pub fn back_to_baseline(&self) -> bool {
        self.fds_back() && self.rss_back()
    }

    fn fds_back(&self) -> bool {
        self.usage_after.fds <= self.usage_before.fds + self.fd_slack
    }

    fn rss_back(&self) -> bool {
        self.usage_after.rss_kib <= self.usage_before.rss_kib + self.rss_slack_kib
    }

    /// Notes where a subscriber that did not catch up stands.
    pub fn note_behind(&mut self, sub: &Subscriber, finals: &[u64]) {
        if self.problems.len() >= MAX_PROBLEMS {
            return;
        }
        let Source::Hub { topics } = &sub.source else {
            return;
        };
        let check = sub.check();
        let positions: Vec<String> = topics
            .iter()
            .map(|&t| {
                format!(
                    "topic {t} at {:?} of {}",
                    check.next_of(t),
                    finals[t as usize]
                )
            })
            .collect();
        self.problems.push(format!(
            "subscriber {} behind ({}, last id {:?}, {}): {}",
            sub.index,
            transport_name(&sub.transport),
            check.last_id,
            lock(&sub.doing),
            positions.join(", ")
        ));
    }

    /// Sums what the subscribers saw.
    pub fn gather(&mut self, subscribers: &[Arc<Subscriber>], counters: &SubscriberCounters) {
        for sub in subscribers {
            let check = sub.check();
            match sub.source {
                Source::Hub { .. } => self.hub_deliveries += check.delivered,
                Source::Gateway { .. } => self.gateway_deliveries += check.delivered,
            }
            self.lost += check.lost;
            self.duplicates += check.duplicates;
            self.out_of_order_ids += check.out_of_order_ids;
            self.malformed += check.malformed;
            if check.delivered == 0 {
                self.silent_subscribers += 1;
            }
            for problem in &check.problems {
                if self.problems.len() < MAX_PROBLEMS {
                    let transport = transport_name(&sub.transport);
                    self.problems.push(format!(
                        "subscriber {} ({transport} {:?}): {problem}",
                        sub.index, sub.source
                    ));
                }
            }
        }
        let r = &counters.reconnects;
        self.reconnects_client_dropped = r.client_dropped.load(Relaxed);
        self.reconnects_server_ended = r.server_ended.load(Relaxed);
        self.reconnects_broken = r.broken.load(Relaxed);
        self.failed_attempts = counters.failed_attempts.load(Relaxed);
        self.last_failure = lock(&counters.last_failure).clone();
        self.stalls = counters.stalls.load(Relaxed);
        self.stall_secs = counters.stall_millis.load(Relaxed) as f64 / 1000.0;
        self.history_gaps = counters.history_gaps.load(Relaxed);
        self.replays_complete = counters.replays_complete.load(Relaxed);
    }

    /// Everything that makes the run a failure; empty for a pass.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let mut fail = |bad: bool, text: String| {
            if bad {
                failures.push(text);
            }
        };
        fail(self.lost > 0, format!("{} events lost", self.lost));
        fail(
            self.duplicates > 0,
            format!("{} events duplicated", self.duplicates),
        );
        fail(
            self.history_gaps > 0,
            format!(
                "{} resumptions answered with a history gap (the history did not cover them)",
                self.history_gaps
            ),
        );
        fail(
            self.out_of_order_ids > 0,
            format!("{} hub ids did not grow", self.out_of_order_ids),
        );
        fail(
            self.malformed > 0,
            format!("{} malformed events", self.malformed),
        );
        fail(
            self.publish_errors > 0,
            format!(
                "{} publishes failed (last: {:?})",
                self.publish_errors, self.last_publish_error
            ),
        );
        fail(
            self.not_caught_up > 0,
            format!(
                "{} hub subscribers never reached the last event of their topics",
                self.not_caught_up
            ),
        );
        fail(
            self.silent_subscribers > 0,
            format!("{} subscribers received no event", self.silent_subscribers),
        );
        fail(
            !self.fds_back(),
            format!(
                "descriptors did not come back: {} after, {} before (slack {})",
                self.usage_after.fds, self.usage_before.fds, self.fd_slack
            ),
        );
        fail(
            !self.rss_back(),
            format!(
                "memory did not come back: RSS {:.1} MiB after, {:.1} MiB before (slack {} MiB)",
                mib(self.usage_after.rss_kib),
                mib(self.usage_before.rss_kib),
                self.rss_slack_kib / 1024
            ),
        );
        failures
    }
}

fn transport_name(transport: &Transport) -> &'static str {
    match transport {
        Transport::H2(_) => "h2",
        Transport::H1 => "http/1.1",
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let streams =
            self.hub_h2_streams + self.hub_h1_streams + self.gateway_direct + self.gateway_fanout;
        writeln!(f, "soak report (server pid {})", self.server_pid)?;
        writeln!(
            f,
            "  run             {:.0} s of chaos, {:.0} s in all; catch-up {:.1} s, settle {:.1} s",
            self.duration.as_secs_f64(),
            self.elapsed.as_secs_f64(),
            self.catch_up.as_secs_f64(),
            self.settle.as_secs_f64()
        )?;
        writeln!(
            f,
            "  streams         {streams}: hub {} h2 ({} stallers) + {} HTTP/1.1; gateway {} direct + {} shared; {} h2 connections",
            self.hub_h2_streams, self.stallers, self.hub_h1_streams,
            self.gateway_direct, self.gateway_fanout, self.h2_connections
        )?;
        writeln!(
            f,
            "  hub             {} topics + {} hot; history {} events; subscriber queue {}",
            self.topics, self.hot_topics, self.history_max_events, self.subscriber_queue
        )?;
        writeln!(
            f,
            "  events          {} published (+{} prefill), {} publish errors",
            self.published, self.prefilled, self.publish_errors
        )?;
        writeln!(
            f,
            "  deliveries      {} hub, {} gateway",
            self.hub_deliveries, self.gateway_deliveries
        )?;
        writeln!(
            f,
            "  reconnects      {} client dropped, {} server ended (slow consumer), {} broken (connection cut, upstream restart); {} failed attempts",
            self.reconnects_client_dropped, self.reconnects_server_ended, self.reconnects_broken,
            self.failed_attempts
        )?;
        writeln!(
            f,
            "  chaos           {} stalls ({:.0} s), {} h2 connections cut, {} upstream restarts",
            self.stalls, self.stall_secs, self.connections_cut, self.upstream_restarts
        )?;
        writeln!(
            f,
            "  resumptions     {} complete, {} history gaps",
            self.replays_complete, self.history_gaps
        )?;
        writeln!(
            f,
            "  checks          lost={} duplicates={} ids-not-growing={} malformed={} silent={} not-caught-up={}",
            self.lost, self.duplicates, self.out_of_order_ids, self.malformed,
            self.silent_subscribers, self.not_caught_up
        )?;
        writeln!(f, "  server start    {}", usage_line(self.usage_start))?;
        writeln!(f, "  before          {}", usage_line(self.usage_before))?;
        writeln!(f, "  chaos half-time {}", usage_line(self.usage_half_time))?;
        writeln!(f, "  chaos end       {}", usage_line(self.usage_chaos_end))?;
        writeln!(f, "  peak            {}", usage_line(self.usage_peak))?;
        writeln!(
            f,
            "  clients gone    {}",
            usage_line(self.usage_clients_gone)
        )?;
        writeln!(f, "  after           {}", usage_line(self.usage_after))?;
        if let Some(failure) = &self.last_failure {
            writeln!(f, "  last failed attempt: {failure}")?;
        }
        for problem in &self.problems {
            writeln!(f, "  problem: {problem}")?;
        }
        let failures = self.failures();
        if failures.is_empty() {
            writeln!(f, "  verdict         PASS")?;
        } else {
            writeln!(f, "  verdict         FAIL")?;
            for failure in failures {
                writeln!(f, "    - {failure}")?;
            }
            if !self.server_log.is_empty() {
                writeln!(f, "  server log (tail):\n{}", self.server_log)?;
            }
        }
        Ok(())
    }
}
