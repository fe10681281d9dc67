//! The soak's CI variant: the soak tool's driver (`benches/soak/`, the same modules) for
//! 60 s with smaller counts, against the built `ssegate` binary in a child process.
//!
//! About a thousand streams come and go: random drops, cut HTTP/2 connections, stalled
//! readers that the slow-consumer policy ends, a gateway upstream killed and started again.
//! Afterwards no resuming client missed or repeated an event, no resumption was answered
//! with a history gap, every hub subscriber reached the last event of its topics, and the
//! server's descriptors came back to their baseline and its RSS to within a stated bound.
//! No timing is asserted: deadlines are liveness bounds only.

#[path = "../../benches/soak/check.rs"]
mod check;
#[path = "../../benches/soak/conn.rs"]
mod conn;
#[path = "../../benches/soak/plan.rs"]
mod plan;
#[path = "../../benches/soak/process.rs"]
mod process;
#[path = "../../benches/soak/publish.rs"]
mod publish;
#[path = "../../benches/soak/report.rs"]
mod report;
#[path = "../../benches/soak/run.rs"]
mod run;
// The load tool's `/proc` readers; the soak uses only the memory one.
#[allow(dead_code)]
#[path = "../../benches/load/stats.rs"]
mod stats;
#[path = "../../benches/soak/subscribe.rs"]
mod subscribe;

use std::path::PathBuf;
use std::time::Duration;

use plan::Plan;
use process::ServerSettings;
use subscribe::Chaos;

/// How far above its baseline the server's RSS may stay once every client has left. The
/// baseline already holds a full history (the run prefills it), so what remains is
/// allocator retention of the peak's per-connection and per-stream memory; generous, and
/// still far below what leaking the run's streams would keep.
const RSS_SLACK_MIB: u64 = 48;

fn ci_plan() -> Plan {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Plan {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_ssegate")),
        python: manifest.join("target/test-venv/bin/python3"),
        upstream_app_dir: manifest.join("tests/upstreams"),
        duration: Duration::from_secs(60),
        h2_streams: 1000,
        streams_per_connection: 200,
        h1_streams: 20,
        stallers: 20,
        two_topics_every: 10,
        topics: 8,
        rate: 40.0,
        pad: 64,
        hot_topics: 2,
        hot_rate: 40.0,
        hot_pad: 1024,
        publishers: 3,
        gateway_direct: 10,
        gateway_fanout: 40,
        fanout_keys: 2,
        upstream_interval: Duration::from_millis(200),
        chaos: Chaos {
            mean_lifetime: Duration::from_secs(20),
            stall_every: Duration::from_secs(8),
            // Long enough that the stalled stream's window, the server's send buffer and
            // its queue (64 events of 1 KiB at 40 events/s) fill, so the slow-consumer
            // policy ends some of these streams.
            stall_min: Duration::from_secs(5),
            stall_max: Duration::from_secs(10),
        },
        cut_every: Duration::from_secs(15),
        upstream_restart_every: Duration::from_secs(20),
        upstream_down: Duration::from_secs(2),
        server: ServerSettings {
            // 120 events/s in all: 10,000 events cover reconnect gaps of over a minute.
            history_max_events: 10_000,
            history_max_bytes: 256 << 20,
            subscriber_queue: 64,
            max_concurrent_streams: 256,
            fanout_replay: 2000,
        },
        catch_up_timeout: Duration::from_secs(90),
        settle_timeout: Duration::from_secs(30),
        rss_slack_mib: RSS_SLACK_MIB,
        fd_slack: 4,
        seed: fastrand::u64(1..u64::MAX >> 1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_of_churn_loses_and_repeats_nothing_and_the_server_gives_back_fds_and_memory() {
    let plan = ci_plan();
    let report = run::run(&plan).await.expect("the soak runs");
    println!("{report}");
    let failures = report.failures();
    assert!(failures.is_empty(), "soak failed: {failures:#?}\n{report}");
    // The chaos happened: a soak in which nothing reconnected proves nothing.
    assert!(
        report.reconnects_client_dropped > 0,
        "no client drop\n{report}"
    );
    assert!(
        report.reconnects_server_ended > 0,
        "no stream ended by the slow-consumer policy\n{report}"
    );
    assert!(
        report.reconnects_broken > 0,
        "no stream broken by a cut or restart\n{report}"
    );
    assert!(report.connections_cut > 0, "no connection cut\n{report}");
    assert!(
        report.upstream_restarts >= 2,
        "the upstream was not restarted twice\n{report}"
    );
    // Every first subscription resumes after the prefill; more are reconnections.
    let hub_streams = (plan.h2_streams + plan.h1_streams) as u64;
    assert!(
        report.replays_complete > hub_streams,
        "no reconnection resumed\n{report}"
    );
    assert!(
        report.gateway_deliveries > 0 && report.hub_deliveries > 0,
        "{report}"
    );
}
