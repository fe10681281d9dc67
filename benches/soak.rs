//! The soak tool: the built `ssegate` binary as a child process, thousands of streams that
//! come and go for as long as asked, and the proof afterwards that no resuming client
//! missed or repeated an event and that the server gave back its descriptors and memory.
//!
//! ```text
//! cargo bench --bench soak -- --secs 600 --streams 4000
//! ```
//!
//! Hub streams (most over HTTP/2, some over HTTP/1.1, a few stallers on hot topics)
//! subscribe with `Last-Event-ID` and keep doing so whenever a stream ends: they drop
//! streams at random, the tool cuts HTTP/2 connections, stallers stop reading until the
//! server's slow-consumer policy ends their stream. Gateway streams go through routes to a
//! real SSE upstream (sse-starlette under uvicorn, from `target/test-venv`), which the tool
//! kills and starts again. The phases are in `soak/run.rs`; the checks in `soak/check.rs`.
//! The CI variant, `tests/integration/soak.rs`, runs the same driver for 60 s.
//!
//! Exit codes: 0 pass, 1 a check failed or the run could not be set up, 64 bad arguments.

#[path = "soak/check.rs"]
mod check;
#[path = "soak/conn.rs"]
mod conn;
#[path = "soak/plan.rs"]
mod plan;
#[path = "soak/process.rs"]
mod process;
#[path = "soak/publish.rs"]
mod publish;
#[path = "soak/report.rs"]
mod report;
#[path = "soak/run.rs"]
mod run;
// The load tool's `/proc` readers; the soak uses only the memory one.
#[allow(dead_code)]
#[path = "load/stats.rs"]
mod stats;
#[path = "soak/subscribe.rs"]
mod subscribe;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::plan::Plan;
use crate::process::ServerSettings;
use crate::subscribe::Chaos;

/// Exit code for a bad command line (sysexits EX_USAGE).
const EXIT_USAGE: u8 = 64;
/// The fd soft limit asked for: every HTTP/1.1 stream is a connection.
const NOFILE: u64 = 20_000;

/// Soak ssegate: streams that come and go, publishers, stalls, cut connections and a
/// restarting gateway upstream; then check every event arrived once, and the server's
/// memory and descriptors came back.
#[derive(Parser, Debug)]
#[command(name = "soak", about)]
struct Args {
    /// Seconds of chaos (publishing, drops, stalls, cuts, restarts).
    #[arg(long, default_value_t = 600)]
    secs: u64,
    /// Hub streams over HTTP/2 (stallers included).
    #[arg(long, default_value_t = 4000)]
    streams: usize,
    /// HTTP/2 streams per connection.
    #[arg(long, default_value_t = 200)]
    streams_per_conn: usize,
    /// Hub streams over HTTP/1.1, one connection each.
    #[arg(long, default_value_t = 100)]
    http1_streams: usize,
    /// HTTP/2 hub streams that stall now and then, on the hot topics.
    #[arg(long, default_value_t = 40)]
    stallers: usize,
    /// Ordinary topics.
    #[arg(long, default_value_t = 16)]
    topics: usize,
    /// Events per second over all ordinary topics.
    #[arg(long, default_value_t = 160.0)]
    rate: f64,
    /// Padding bytes per ordinary event.
    #[arg(long, default_value_t = 64)]
    pad: usize,
    /// Hot topics (the stallers'), each at --hot-rate events/s of --hot-pad bytes.
    #[arg(long, default_value_t = 2)]
    hot_topics: usize,
    #[arg(long, default_value_t = 40.0)]
    hot_rate: f64,
    #[arg(long, default_value_t = 1024)]
    hot_pad: usize,
    /// Publishers sharing the ordinary topics (one more per hot topic).
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// Gateway streams with an upstream request each, and sharing upstream requests.
    #[arg(long, default_value_t = 20)]
    gateway_direct: usize,
    #[arg(long, default_value_t = 100)]
    gateway_shared: usize,
    /// Mean seconds a stream is kept before the client drops it.
    #[arg(long, default_value_t = 60.0)]
    mean_lifetime: f64,
    /// Mean seconds between a staller's stalls, and their shortest and longest length.
    #[arg(long, default_value_t = 20.0)]
    stall_every: f64,
    #[arg(long, default_value_t = 1.0)]
    stall_min: f64,
    #[arg(long, default_value_t = 10.0)]
    stall_max: f64,
    /// Mean seconds between cuts of a random HTTP/2 connection.
    #[arg(long, default_value_t = 30.0)]
    cut_every: f64,
    /// Seconds between upstream restarts.
    #[arg(long, default_value_t = 30.0)]
    upstream_restart_every: f64,
    /// The hub's history (events); it must cover the longest reconnect gap.
    #[arg(long, default_value_t = 30_000)]
    history: usize,
    /// The hub's per-subscriber queue (events).
    #[arg(long, default_value_t = 64)]
    subscriber_queue: usize,
    /// MiB the server's RSS may stay above its baseline after the clients left.
    #[arg(long, default_value_t = 64)]
    rss_slack_mib: u64,
    /// Random seed (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// The Python with uvicorn and sse-starlette (default: target/test-venv's).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

impl Args {
    fn plan(&self) -> Result<Plan, String> {
        let secs = |name: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(format!("--{name} must be a positive number of seconds"))
            }
        };
        if self.topics == 0 || self.streams_per_conn == 0 {
            return Err("--topics and --streams-per-conn must be at least 1".into());
        }
        if self.stallers > self.streams {
            return Err("--stallers cannot exceed --streams".into());
        }
        if !(self.rate > 0.0 && self.hot_rate > 0.0) {
            return Err("--rate and --hot-rate must be positive".into());
        }
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        Ok(Plan {
            binary: PathBuf::from(env!("CARGO_BIN_EXE_ssegate")),
            python: self
                .python
                .clone()
                .unwrap_or_else(|| manifest.join("target/test-venv/bin/python3")),
            upstream_app_dir: manifest.join("tests/upstreams"),
            duration: Duration::from_secs(self.secs),
            h2_streams: self.streams,
            streams_per_connection: self.streams_per_conn,
            h1_streams: self.http1_streams,
            stallers: self.stallers,
            two_topics_every: 10,
            topics: self.topics,
            rate: self.rate,
            pad: self.pad,
            hot_topics: self.hot_topics,
            hot_rate: self.hot_rate,
            hot_pad: self.hot_pad,
            publishers: self.publishers,
            gateway_direct: self.gateway_direct,
            gateway_fanout: self.gateway_shared,
            fanout_keys: 2,
            upstream_interval: Duration::from_millis(200),
            chaos: Chaos {
                mean_lifetime: secs("mean-lifetime", self.mean_lifetime)?,
                stall_every: secs("stall-every", self.stall_every)?,
                stall_min: secs("stall-min", self.stall_min)?,
                stall_max: secs("stall-max", self.stall_max.max(self.stall_min))?,
            },
            cut_every: secs("cut-every", self.cut_every)?,
            upstream_restart_every: secs("upstream-restart-every", self.upstream_restart_every)?,
            upstream_down: Duration::from_secs(2),
            server: ServerSettings {
                history_max_events: self.history,
                history_max_bytes: 256 << 20,
                subscriber_queue: self.subscriber_queue,
                max_concurrent_streams: self.streams_per_conn.max(100) + 16,
                fanout_replay: 2000,
            },
            catch_up_timeout: Duration::from_secs(90),
            settle_timeout: Duration::from_secs(30),
            rss_slack_mib: self.rss_slack_mib,
            fd_slack: 4,
            seed: self.seed.unwrap_or_else(|| fastrand::u64(1..u64::MAX >> 1)),
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(e) = rlimit::increase_nofile_limit(NOFILE) {
        eprintln!("soak: warning: cannot raise the fd limit: {e}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("soak: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("soak: {plan:?}");
    let result = runtime.block_on(run::run(&plan));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(report) => {
            print!("{report}");
            if report.failures().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("soak: {e:#}");
            ExitCode::FAILURE
        }
    }
}
