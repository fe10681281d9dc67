//! The load tool: many SSE streams over few HTTP/2 connections, a paced publisher, and
//! the figures that compare SSE servers (see /work/shared/PERFORMANCE.md).
//!
//! ```text
//! cargo bench --bench load -- --url https://127.0.0.1:8443 \
//!     --streams 10000 --conns 100 --topics 100 --rate 1000 --duration 20 \
//!     --server-pid "$(pgrep -x ssegate)" --label ssegate --json
//! ```
//!
//! A run: connect the publisher; read the server's memory; open the streams (in contiguous
//! blocks per connection; stream `i` subscribes to topic `load-t{i % topics}`) and
//! wait until each is established or failed; idle `--settle` seconds and read the
//! memory again; publish for `--warmup` then `--duration` seconds (only the latter is
//! measured); wait up to `--drain` seconds for late events; report.
//!
//! Every event carries `RUN TOPIC SEQ SENT_UNIX_NANOS`: latency is measured on arrival
//! against the sender's clock (same host), and per-topic sequence numbers expose losses
//! and repeats.
//!
//! Gateway mode (`--origin ADDR`): the tool also runs an SSE origin on ADDR (HTTP/1.1
//! and h2c, on a thread of its own) that publishes the events itself, and the streams
//! subscribe at `--url`: the origin directly, or a reverse proxy in front of it. No
//! publish requests are made; `--server-pid` names the proxy's processes.
//!
//! ```text
//! cargo bench --bench load -- --origin 127.0.0.1:9100 --url https://127.0.0.1:8443 \
//!     --sub-path '/feed/{topic}' --streams 10000 --conns 100 --topics 1 --rate 10 \
//!     --server-pid "$PROXY_PID" --label proxy --json
//! cargo bench --bench load -- origin --listen 127.0.0.1:9100 --rate 10 --topics 1   # origin only
//! ```
//!
//! Layout: `load/net.rs` (URL, TLS, HTTP/2 handshake), `load/subscribe.rs` (one task per
//! connection driving its streams), `load/publish.rs` (the paced publisher),
//! `load/origin.rs` (the SSE origin of gateway mode), `load/sse.rs` (parser and payload),
//! `load/state.rs` (shared counters and per-stream slots), `load/stats.rs` (histogram,
//! `/proc`), `load/report.rs` (table and JSON).

#[path = "load/net.rs"]
mod net;
#[path = "load/origin.rs"]
mod origin;
#[path = "load/publish.rs"]
mod publish;
#[path = "load/report.rs"]
mod report;
#[path = "load/sse.rs"]
mod sse;
#[path = "load/state.rs"]
mod state;
#[path = "load/stats.rs"]
mod stats;
#[path = "load/subscribe.rs"]
mod subscribe;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context as _, Result};
use clap::Parser;
use tokio::sync::{watch, Semaphore};
use tokio::time::{sleep, Instant};

use crate::net::Target;
use crate::origin::{Origin, OriginPlan};
use crate::publish::{run_publisher, PublishOutcome, PublishPlan};
use crate::report::Report;
use crate::state::{Shared, StreamState};
use crate::stats::{
    cpu_seconds, machine_cpu, own_cpu_seconds, rss_sum, unix_nanos, MachineCpu, OtherProcesses,
    CLK_TCK,
};
use crate::subscribe::{run_connection, Plan};

/// Exit code for a bad command line or configuration (sysexits EX_USAGE).
const EXIT_USAGE: u8 = 64;
/// The fd soft limit asked for: connections are few (streams are multiplexed), but a
/// run may open hundreds.
const NOFILE: u64 = 20_000;
/// Concurrent TCP + TLS handshakes while connecting the subscribers.
const PARALLEL_HANDSHAKES: usize = 32;

/// Load an SSE server over HTTP/2: N streams on C connections, T topics, a paced publisher.
#[derive(Parser, Debug)]
#[command(name = "load", version, about, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Server base URL: https (TLS, ALPN h2) or http (h2c with prior knowledge).
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    url: String,
    /// Subscribe path; `{topic}` is replaced by the topic name.
    #[arg(long, default_value = "/events/{topic}")]
    sub_path: String,
    /// Publish path; `{topic}` is replaced (nchan: `/pub?id={topic}`).
    #[arg(long, default_value = "/events/{topic}")]
    pub_path: String,
    /// Publish request method.
    #[arg(long, default_value = "POST")]
    pub_method: String,
    /// Subscriber streams.
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// HTTP/2 connections the streams are spread over (in contiguous blocks).
    #[arg(long, default_value_t = 100)]
    conns: usize,
    /// Topics; stream i subscribes to topic i % topics.
    #[arg(long, default_value_t = 100)]
    topics: usize,
    /// Topic names are this prefix and the topic number.
    #[arg(long, default_value = "load-t")]
    topic_prefix: String,
    /// Events published per second (all topics together, round-robin).
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Seconds of measured publishing.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Seconds of publishing before the measured window (counted for losses only).
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Seconds to wait after publishing for events still on their way.
    #[arg(long, default_value_t = 2.0)]
    drain: f64,
    /// Seconds to idle after the streams are established, before reading server memory.
    #[arg(long, default_value_t = 1.0)]
    settle: f64,
    /// Seconds allowed for establishing all streams.
    #[arg(long, default_value_t = 60.0)]
    establish_timeout: f64,
    /// Publisher HTTP/2 connections; requests are spread over them round-robin.
    #[arg(long, default_value_t = 4)]
    pub_conns: usize,
    /// Bytes of padding added to each event's data.
    #[arg(long, default_value_t = 0)]
    pad: usize,
    /// Gateway mode: run an SSE origin on this address (HTTP/1.1 and h2c, `GET
    /// .../{topic}`) that publishes --rate events/s itself; the streams subscribe at --url
    /// (the origin, or a proxy in front of it). No publish requests are sent.
    #[arg(long, value_name = "ADDR")]
    origin: Option<SocketAddr>,
    /// Server process to measure (memory, CPU); repeat for several (nginx master + workers).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Tokio worker threads; 1 leaves the other core of a 2-core box to the server.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Do not verify the server certificate (always the case for loopback addresses
    /// unless --cacert is given).
    #[arg(long)]
    insecure: bool,
    /// Verify the server certificate against this CA (PEM).
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Name of this run in the report.
    #[arg(long, default_value = "")]
    label: String,
    /// Also print the report as one JSON line (the last line of stdout).
    #[arg(long)]
    json: bool,
    /// Check the SSE parser and exit.
    #[arg(long)]
    self_test: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Run the gateway mode's SSE origin alone until interrupted, e.g. to try a proxy by
    /// hand. Measured runs use `--origin` instead: the loss accounting needs the origin's
    /// sequence numbers in the same process.
    Origin(OriginArgs),
}

#[derive(clap::Args, Debug)]
struct OriginArgs {
    /// Listen address (HTTP/1.1 and h2c).
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: SocketAddr,
    /// Events per second, all topics together, round-robin.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Topics; `GET .../{topic-prefix}{k}` streams topic k.
    #[arg(long, default_value_t = 1)]
    topics: usize,
    #[arg(long, default_value = "load-t")]
    topic_prefix: String,
    /// Bytes of padding added to each event's data.
    #[arg(long, default_value_t = 0)]
    pad: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

impl Args {
    /// Reject what would make the run meaningless, before any connection is made.
    fn validate(&self) -> Result<()> {
        ensure!(self.streams > 0, "--streams must be at least 1");
        ensure!(
            (1..=self.streams).contains(&self.conns),
            "--conns must be between 1 and --streams"
        );
        ensure!(self.topics > 0, "--topics must be at least 1");
        ensure!(self.pub_conns > 0, "--pub-conns must be at least 1");
        ensure!(self.threads > 0, "--threads must be at least 1");
        ensure!(
            self.rate.is_finite() && self.rate > 0.0,
            "--rate must be positive"
        );
        for (name, secs) in [
            ("--duration", self.duration),
            ("--warmup", self.warmup),
            ("--drain", self.drain),
            ("--settle", self.settle),
            ("--establish-timeout", self.establish_timeout),
        ] {
            ensure!(
                (0.0..1e6).contains(&secs),
                "{name} must be a number of seconds"
            );
        }
        ensure!(self.duration > 0.0, "--duration must be positive");
        for (name, path) in [
            ("--sub-path", &self.sub_path),
            ("--pub-path", &self.pub_path),
        ] {
            ensure!(
                path.starts_with('/') && path.contains("{topic}"),
                "{name} must start with / and contain {{topic}}"
            );
        }
        // Unreserved URI characters only: the name goes into paths and query strings as is.
        ensure!(
            self.topic_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b)),
            "--topic-prefix may only hold A-Z a-z 0-9 . _ ~ -"
        );
        http::Method::from_bytes(self.pub_method.as_bytes())
            .with_context(|| format!("bad --pub-method {:?}", self.pub_method))?;
        Ok(())
    }
}

fn main() -> ExitCode {
    // A bare `cargo bench` runs every bench target with just `--bench`; there is no
    // server to load then, so say how to use the tool instead of failing.
    if std::env::args().skip(1).eq(["--bench"]) {
        eprintln!("load: a load tool, not a benchmark; run `cargo bench --bench load -- --help`");
        return ExitCode::SUCCESS;
    }
    let args = Args::parse();
    if let Some(Command::Origin(origin)) = &args.command {
        return run_origin(origin);
    }
    if args.self_test {
        return match sse::self_test().and_then(|()| subscribe::self_test()) {
            Ok(()) => {
                println!("load: self-test passed");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("load: self-test failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = args.validate() {
        eprintln!("load: {e:#}");
        return ExitCode::from(EXIT_USAGE);
    }
    // In gateway mode the origin may hold one connection per stream (a proxy that does
    // not share upstream streams), on top of the subscribers' own.
    let origin_fds = args.origin.map_or(0, |_| args.streams);
    let fds = args.conns + args.pub_conns + 64 + origin_fds;
    match rlimit::increase_nofile_limit(NOFILE) {
        Ok(limit) if limit < fds as u64 => {
            eprintln!("load: warning: the fd limit is {limit}, too low for {fds} sockets");
        }
        Ok(_) => {}
        Err(e) => eprintln!("load: warning: cannot raise the fd limit: {e}"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(&args));
    // Connection tasks may still be closing; they have nothing left to report.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(report) => {
            print!("{}", report.table());
            if args.json {
                println!("{}", report.json());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `load origin`.
fn run_origin(args: &OriginArgs) -> ExitCode {
    let plan = OriginPlan {
        topics: args.topics,
        topic_prefix: args.topic_prefix.clone(),
        rate: args.rate,
        pad: args.pad,
    };
    if args.topics == 0 || !(args.rate.is_finite() && args.rate > 0.0) {
        eprintln!("load: --topics must be at least 1 and --rate positive");
        return ExitCode::from(EXIT_USAGE);
    }
    if let Err(e) = rlimit::increase_nofile_limit(NOFILE) {
        eprintln!("load: warning: cannot raise the fd limit: {e}");
    }
    match origin::run_standalone(args.listen, plan) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<Report> {
    let target = Arc::new(Target::new(&args.url, args.insecure, args.cacert.as_deref()).await?);
    let names: Vec<String> = (0..args.topics)
        .map(|k| format!("{}{k}", args.topic_prefix))
        .collect();
    let uris = |template: &str| -> Result<Vec<http::Uri>> {
        names
            .iter()
            .map(|name| target.uri(&template.replace("{topic}", name)))
            .collect()
    };
    let sub_uris: Arc<[http::Uri]> = uris(&args.sub_path)?.into();
    let pub_uris = uris(&args.pub_path)?;
    let ctx = Arc::new(Shared::new(args.streams, args.topics));
    let pids = &args.server_pids;
    eprintln!(
        "load: run {}: {} streams over {} connections, {} topics, {} events/s for {} s",
        ctx.run, args.streams, args.conns, args.topics, args.rate, args.duration
    );

    let origin = match args.origin {
        Some(listen) => Some(Origin::start(
            listen,
            ctx.clone(),
            OriginPlan {
                topics: args.topics,
                topic_prefix: args.topic_prefix.clone(),
                rate: args.rate,
                pad: args.pad,
            },
        )?),
        None => None,
    };
    // The publisher's connections come first, so that they are not counted in the
    // memory per stream. The origin publishes without any.
    let pub_conn_count = if origin.is_some() { 0 } else { args.pub_conns };
    let mut pub_conns = Vec::with_capacity(pub_conn_count);
    for _ in 0..pub_conn_count {
        pub_conns.push(
            publish::connect(&ctx, &target)
                .await
                .context("connecting the publisher")?,
        );
    }
    let rss_before = for_server(pids, rss_sum)?;

    let plan = Arc::new(Plan {
        target: target.clone(),
        uris: sub_uris,
        handshakes: Arc::new(Semaphore::new(PARALLEL_HANDSHAKES)),
        establish_by: Instant::now() + Duration::from_secs_f64(args.establish_timeout),
    });
    let (stop, stop_rx) = watch::channel(false);
    let (connections, establish_s) = open_streams(args, &ctx, plan, stop_rx).await;
    let (established, failed) = count_streams(&ctx);
    eprintln!("load: {established} streams established, {failed} failed, in {establish_s:.1} s");
    if established == 0 {
        ctx.stopping.store(true, Relaxed);
        let _ = stop.send(true);
        bail!("no stream could be established");
    }
    sleep(Duration::from_secs_f64(args.settle)).await;
    let rss_after = for_server(pids, rss_sum)?;

    let (stop_publisher, stop_publisher_rx) = watch::channel(false);
    let publisher = match &origin {
        Some(origin) => {
            origin.set_publishing(true);
            None
        }
        None => Some(tokio::spawn(run_publisher(
            ctx.clone(),
            target.clone(),
            pub_conns,
            PublishPlan {
                uris: pub_uris,
                method: http::Method::from_bytes(args.pub_method.as_bytes())?,
                rate: args.rate,
                pad: args.pad,
            },
            stop_publisher_rx,
        ))),
    };
    sleep(Duration::from_secs_f64(args.warmup)).await;
    let window = measure_window(args, &ctx, origin.as_ref()).await?;
    let _ = stop_publisher.send(true);
    let publish_outcome = match (publisher, &origin) {
        (Some(publisher), _) => publisher.await.context("the publisher task failed")?,
        (None, Some(origin)) => {
            origin.set_publishing(false);
            PublishOutcome {
                dropped_behind: origin.counters().dropped_behind.load(Relaxed),
                ..PublishOutcome::default()
            }
        }
        (None, None) => PublishOutcome::default(),
    };

    // Drain: wait for the events still owed, up to the grace period.
    let drain_until = Instant::now() + Duration::from_secs_f64(args.drain);
    let mut losses = Losses::count(&ctx, args.topics);
    while losses.lost > 0 && Instant::now() < drain_until {
        sleep(Duration::from_millis(50)).await;
        losses = Losses::count(&ctx, args.topics);
    }
    ctx.stopping.store(true, Relaxed);
    let _ = stop.send(true);
    for connection in connections {
        let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
    }
    let origin_report = origin.map(|origin| {
        let report = origin.report(window.origin_cpu_s);
        // Joins the origin's thread, which drops thousands of connections: not on a
        // runtime worker's time.
        tokio::task::block_in_place(|| origin.shutdown());
        report
    });

    let (established, _) = count_streams(&ctx);
    let deliveries = ctx.measured.load(Relaxed);
    let per_stream = |after: u64, before: u64| (after as f64 - before as f64) / established as f64;
    Ok(Report {
        label: args.label.clone(),
        url: args.url.clone(),
        sub_path: args.sub_path.clone(),
        pub_path: if args.origin.is_some() {
            "(origin)".into()
        } else {
            args.pub_path.clone()
        },
        streams: args.streams,
        conns: args.conns,
        topics: args.topics,
        rate: args.rate,
        duration_s: args.duration,
        warmup_s: args.warmup,
        pub_conns: pub_conn_count,
        threads: args.threads,
        streams_established: established,
        // Streams still unanswered count as failed.
        streams_failed: args.streams as u64 - established,
        streams_ended: ended_count(&ctx),
        establish_s,
        conn_errors: ctx.conn_errors.load(Relaxed),
        goaways: ctx.goaways.load(Relaxed),
        published: window.published,
        publish_rate: window.published as f64 / window.secs,
        publish_errors: ctx.publish_errors.load(Relaxed),
        publish_dropped: publish_outcome.dropped_behind,
        publish_reconnects: publish_outcome.reconnects,
        publish_stalls: publish_outcome.stalled_ticks,
        deliveries,
        deliveries_per_s: deliveries as f64 / window.secs,
        latency: ctx.latency.percentiles(),
        expected: losses.expected,
        lost: losses.lost,
        streams_with_loss: losses.streams,
        duplicates: losses.duplicates,
        reordered: losses.reordered,
        foreign: ctx.foreign.load(Relaxed),
        heartbeats: ctx.heartbeats.load(Relaxed),
        server_pids: pids.clone(),
        server_rss_before_kib: rss_before.map(|r| r.total_kib),
        server_rss_after_kib: rss_after.map(|r| r.total_kib),
        server_rss_per_stream_kib: rss_before
            .zip(rss_after)
            .map(|(b, a)| per_stream(a.total_kib, b.total_kib)),
        server_anon_per_stream_kib: rss_before
            .zip(rss_after)
            .map(|(b, a)| per_stream(a.anon_kib, b.anon_kib)),
        server_cpu_s: window.server_cpu_s,
        server_cpu_us_per_delivery: window
            .server_cpu_s
            .filter(|_| deliveries > 0)
            .map(|cpu| cpu * 1e6 / deliveries as f64),
        client_cpu_s: window.client_cpu_s,
        machine_busy_s: window.machine.busy_s,
        machine_softirq_s: window.machine.softirq_s,
        other_cpu_s: window.other_cpu_s,
        clk_tck: CLK_TCK,
        origin: origin_report,
    })
}

/// `measure(pids)` if the server's pids are known.
fn for_server<T>(pids: &[u32], measure: impl FnOnce(&[u32]) -> Result<T>) -> Result<Option<T>> {
    if pids.is_empty() {
        Ok(None)
    } else {
        measure(pids).map(Some)
    }
}

/// Spawn the connection tasks (connection `c` carries the contiguous block of streams
/// `[c * streams / conns, (c + 1) * streams / conns)`) and wait until every stream is
/// established or has failed, or the deadline passes. Returns the tasks and the seconds
/// that took.
async fn open_streams(
    args: &Args,
    ctx: &Arc<Shared>,
    plan: Arc<Plan>,
    stop: watch::Receiver<bool>,
) -> (Vec<tokio::task::JoinHandle<()>>, f64) {
    let opened = Instant::now();
    let connections = (0..args.conns)
        .map(|c| {
            let block = c * args.streams / args.conns..(c + 1) * args.streams / args.conns;
            tokio::spawn(run_connection(
                ctx.clone(),
                plan.clone(),
                block,
                stop.clone(),
            ))
        })
        .collect();
    let mut last_progress = Instant::now();
    loop {
        let (established, failed) = count_streams(ctx);
        if established + failed == args.streams as u64 || Instant::now() > plan.establish_by {
            break;
        }
        if last_progress.elapsed() >= Duration::from_secs(2) {
            last_progress = Instant::now();
            eprintln!(
                "load: {established} of {} streams established ({failed} failed)",
                args.streams
            );
        }
        sleep(Duration::from_millis(20)).await;
    }
    (connections, opened.elapsed().as_secs_f64())
}

/// What the measured window saw, beyond the shared counters.
struct WindowFigures {
    secs: f64,
    /// Publish requests sent in the window.
    published: u64,
    server_cpu_s: Option<f64>,
    /// The tool's CPU, the origin's thread excluded.
    client_cpu_s: f64,
    origin_cpu_s: Option<f64>,
    machine: MachineCpu,
    other_cpu_s: f64,
}

/// Open the measured window, print progress every 5 s until `--duration` is over, and
/// close it. Deliveries count towards it by their event's send time (see `Shared`).
async fn measure_window(
    args: &Args,
    ctx: &Shared,
    origin: Option<&Origin>,
) -> Result<WindowFigures> {
    let pids = &args.server_pids;
    let server_cpu_before = for_server(pids, cpu_seconds)?;
    let origin_cpu_before = origin.and_then(Origin::cpu_seconds);
    let client_cpu_before = own_cpu_seconds();
    let machine_before = machine_cpu()?;
    let others_before = OtherProcesses::snapshot(pids);
    let published_before = ctx.published.load(Relaxed);
    ctx.window_start_ns.store(unix_nanos(), Relaxed);
    let started = Instant::now();

    let window = Duration::from_secs_f64(args.duration);
    let (mut shown_at, mut shown_delivered) = (started, ctx.delivered.load(Relaxed));
    while started.elapsed() < window {
        let left = window.saturating_sub(started.elapsed());
        sleep(left.min(Duration::from_secs(5))).await;
        let delivered = ctx.delivered.load(Relaxed);
        eprintln!(
            "load: {:>4.0} s: published {}, {:.0} deliveries/s",
            started.elapsed().as_secs_f64(),
            ctx.published.load(Relaxed) - published_before,
            (delivered - shown_delivered) as f64 / shown_at.elapsed().as_secs_f64()
        );
        (shown_at, shown_delivered) = (Instant::now(), delivered);
    }

    ctx.window_end_ns.store(unix_nanos(), Relaxed);
    let secs = started.elapsed().as_secs_f64();
    let origin_cpu_s = origin
        .and_then(Origin::cpu_seconds)
        .zip(origin_cpu_before)
        .map(|(after, before)| after - before);
    Ok(WindowFigures {
        secs,
        published: ctx.published.load(Relaxed) - published_before,
        server_cpu_s: match server_cpu_before {
            Some(before) => Some(cpu_seconds(pids)? - before),
            None => None,
        },
        client_cpu_s: own_cpu_seconds() - client_cpu_before - origin_cpu_s.unwrap_or(0.0),
        origin_cpu_s,
        machine: machine_cpu()? - machine_before,
        other_cpu_s: OtherProcesses::snapshot(pids).seconds_since(&others_before),
    })
}

/// Streams established (still or then ended) and failed; pending ones count as failed
/// once the caller has stopped waiting.
fn count_streams(ctx: &Shared) -> (u64, u64) {
    let (mut established, mut failed) = (0, 0);
    for slot in ctx.slots.iter() {
        match slot.state() {
            StreamState::Established | StreamState::Ended => established += 1,
            StreamState::Failed => failed += 1,
            StreamState::Pending => {}
        }
    }
    (established, failed)
}

fn ended_count(ctx: &Shared) -> u64 {
    ctx.slots
        .iter()
        .filter(|slot| slot.state() == StreamState::Ended)
        .count() as u64
}

/// Events owed to and missing from the established streams.
struct Losses {
    expected: u64,
    lost: u64,
    streams: u64,
    duplicates: u64,
    reordered: u64,
}

impl Losses {
    fn count(ctx: &Shared, topics: usize) -> Losses {
        let mut failed = ctx.failed.lock().map(|f| f.clone()).unwrap_or_default();
        failed.sort_unstable();
        let mut losses = Losses {
            expected: 0,
            lost: 0,
            streams: 0,
            duplicates: 0,
            reordered: 0,
        };
        for (index, slot) in ctx.slots.iter().enumerate() {
            if !matches!(slot.state(), StreamState::Established | StreamState::Ended) {
                continue;
            }
            let expected = ctx.expected(slot, index % topics, &failed);
            // More received than owed happens when a publish that timed out did arrive.
            let lost = expected.saturating_sub(slot.received.load(Relaxed));
            losses.expected += expected;
            losses.lost += lost;
            losses.streams += u64::from(lost > 0);
            losses.duplicates += slot.duplicates.load(Relaxed);
            losses.reordered += slot.reordered.load(Relaxed);
        }
        losses
    }
}
