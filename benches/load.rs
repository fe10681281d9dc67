//! The load tool: many SSE streams over few HTTP/2 connections, a paced publisher, and
//! the figures that compare SSE servers (see PERFORMANCE.md).
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
//! `/proc`), `load/run.rs` (the phases of a measured run, stream and loss accounting),
//! `load/report.rs` (table and JSON). This file owns the command line, its validation,
//! the exit codes and the runtime.

#[path = "load/net.rs"]
mod net;
#[path = "load/origin.rs"]
mod origin;
#[path = "load/publish.rs"]
mod publish;
#[path = "load/report.rs"]
mod report;
#[path = "load/run.rs"]
mod run;
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
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use clap::Parser;

use crate::origin::OriginPlan;

/// Exit code for a bad command line or configuration (sysexits EX_USAGE).
const EXIT_USAGE: u8 = 64;
/// The fd soft limit asked for: connections are few (streams are multiplexed), but a
/// run may open hundreds.
const NOFILE: u64 = 20_000;

/// Load an SSE server over HTTP/2: N streams on C connections, T topics, a paced publisher.
#[derive(Parser, Debug)]
#[command(name = "load", version, about, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Server base URL: https (TLS, ALPN h2) or http (h2c with prior knowledge).
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    url: String,
    /// Subscribe at these base URLs instead of --url, the connections spread over them
    /// round-robin (the nodes of a cluster); publishing stays on --url. Repeatable.
    #[arg(long = "sub-url", value_name = "URL")]
    sub_urls: Vec<String>,
    /// Subscribe path; `{topic}` is replaced by the topic name.
    #[arg(long, default_value = "/events/{topic}")]
    sub_path: String,
    /// Publish path; `{topic}` is replaced (nchan: `/pub?id={topic}`).
    #[arg(long, default_value = "/events/{topic}")]
    pub_path: String,
    /// Publish request method.
    #[arg(long, default_value = "POST")]
    pub_method: String,
    /// Publish as a Mercure form (`topic=...&data=PAYLOAD`, application/x-www-form-urlencoded)
    /// with this topic; `{topic}` is replaced by the topic name. Without it the body is the
    /// payload as text/plain.
    #[arg(long, value_name = "TOPIC")]
    pub_form: Option<String>,
    /// Extra header on publish requests, `name: value` (e.g. an Authorization bearer);
    /// repeatable.
    #[arg(long = "pub-header", value_name = "HEADER")]
    pub_headers: Vec<String>,
    /// Send `Authorization: Bearer <token>` with each publish, the token read from this file.
    #[arg(long, value_name = "FILE")]
    pub_bearer_file: Option<PathBuf>,
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
            // With --pub-form the topic travels in the form, not the path.
            let needs_topic = name == "--sub-path" || self.pub_form.is_none();
            ensure!(
                path.starts_with('/') && (path.contains("{topic}") || !needs_topic),
                "{name} must start with / and contain {{topic}}"
            );
        }
        if let Some(form) = &self.pub_form {
            ensure!(
                form.contains("{topic}"),
                "--pub-form must contain {{topic}}"
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
    let result = runtime.block_on(run::run(&args));
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
