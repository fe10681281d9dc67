//! The attack bench: for each HTTP/2 or connection abuse, a canary's publish-to-deliver
//! latency and losses without and with the attack, the server's peak RSS and its RSS 5 s
//! after the attackers left, and how the attacker was stopped. The attack tests
//! (`tests/integration/attacks/`) assert the behaviour; this prints the speed figures,
//! which are not asserted anywhere.
//!
//! ```text
//! cargo build --release && cargo bench --bench attacks -- [--server target/release/ssegate]
//!     [--only NAME] [--seconds 10] [--baseline-seconds 5] [--attack-elsewhere]
//!     [--churn-rate CYCLES_PER_SECOND] [--attacker-idle]
//! ```
//!
//! The churn attacker runs as fast as 32 concurrent cycles go unless `--churn-rate` paces it.
//! `--attacker-idle` runs the attackers' threads in the `SCHED_IDLE` class (with `chrt`,
//! util-linux): they only get CPU the server and the canary leave, as an attacker on
//! another machine takes none of this one's (the kernel's work for their packets remains).
//!
//! `--attack-elsewhere` is the control: the attacker hits a second server process while the
//! canary keeps talking to the first. On a machine whose cores the load generator shares,
//! it tells what the attack costs the machine (CPU, the kernel's TCP work for loopback
//! connections) apart from how the server treats the canary.
//!
//! Each attack gets a fresh server (its defaults, but `write_stall_timeout_secs = 10` so the
//! zero-window run fits), run as a child process so its memory is its own. The attack code
//! is the tests' own, included from `tests/integration/support/`.

#![allow(clippy::unwrap_used)]

#[path = "../tests/integration/support/attackers.rs"]
mod attackers;
#[path = "../tests/integration/support/canary.rs"]
mod canary;
#[path = "../tests/integration/support/frames.rs"]
mod frames;
#[path = "../tests/integration/support/process.rs"]
mod process;

use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use attackers::{Flood, RssSampler};
use canary::{Canary, CanaryReport};
use futures_util::{future::join_all, stream, StreamExt};
use process::ServerProcess;
use ssegate::config::RawConfig;
use tokio::runtime::Handle;

const CANARY_INTERVAL: Duration = Duration::from_millis(20);
const ATTACKS: &[&str] = &[
    "rapid-reset",
    "continuation-unended",
    "continuation-flood",
    "ping-flood",
    "settings-flood",
    "zero-window",
    "slowloris-http1",
    "slowloris-h2",
    "tls-handshake-stall",
    "churn",
    "stream-limit",
];

struct Options {
    server: PathBuf,
    only: Option<String>,
    attack_time: Duration,
    baseline_time: Duration,
    attack_elsewhere: bool,
    /// Churn cycles started per second; `None`: as fast as they complete.
    churn_rate: Option<u32>,
    attacker_idle: bool,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        server: PathBuf::from("target/release/ssegate"),
        only: None,
        attack_time: Duration::from_secs(10),
        baseline_time: Duration::from_secs(5),
        attack_elsewhere: false,
        churn_rate: None,
        attacker_idle: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--server" => options.server = value()?.into(),
            "--only" => options.only = Some(value()?),
            "--seconds" => {
                options.attack_time =
                    Duration::from_secs(value()?.parse().map_err(|_| "--seconds")?)
            }
            "--baseline-seconds" => {
                options.baseline_time =
                    Duration::from_secs(value()?.parse().map_err(|_| "--baseline-seconds")?)
            }
            "--attack-elsewhere" => options.attack_elsewhere = true,
            "--attacker-idle" => options.attacker_idle = true,
            "--churn-rate" => {
                let rate: u32 = value()?.parse().map_err(|_| "--churn-rate")?;
                options.churn_rate = Some(rate.max(10));
            }
            // cargo bench passes this to every bench binary.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if let Some(only) = &options.only {
        if !ATTACKS.contains(&only.as_str()) {
            return Err(format!("--only: one of {}", ATTACKS.join(", ")));
        }
    }
    if !options.server.exists() {
        return Err(format!(
            "{} not found: run `cargo build --release` first",
            options.server.display()
        ));
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("attacks: {e}");
            return ExitCode::from(64);
        }
    };
    let mut attackers = tokio::runtime::Builder::new_multi_thread();
    if options.attacker_idle {
        attackers.on_thread_start(idle_priority);
    }
    let runtime = attackers.enable_all().build().expect("runtime");
    // The canary on a runtime of its own thread: its latency must be the server's, not the
    // wait behind the attackers' tasks in this process's queues.
    let canary_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("canary")
        .enable_all()
        .build()
        .expect("canary runtime");
    let canaries = canary_runtime.handle();
    if options.attacker_idle {
        // The attacks run in `block_on`, on this thread (after the canary's thread started:
        // threads inherit the class of the thread that creates them).
        idle_priority();
    }
    runtime.block_on(async {
        if options.attack_elsewhere {
            println!("Control run: each attack hits a second server; RSS and the attacker's treatment are that server's, the canary's latency is the first's.\n");
        }
        println!(
            "| attack | canary p50 / p99 / max without (ms) | with attack (ms) | lost without / with | RSS baseline → peak → 5 s after (MiB) | how the attacker was stopped |"
        );
        println!("|---|---|---|---|---|---|");
        for attack in ATTACKS {
            if options.only.as_deref().is_some_and(|o| o != *attack) {
                continue;
            }
            let row = run(&options, attack, canaries).await;
            println!("{row}");
        }
    });
    ExitCode::SUCCESS
}

/// Puts the calling thread in the `SCHED_IDLE` class (`chrt` from util-linux, so this crate
/// stays free of `unsafe`); on failure the run goes on at normal priority, and says so.
fn idle_priority() {
    let thread = std::fs::read_link("/proc/thread-self").ok();
    let tid = thread
        .as_ref()
        .and_then(|path| path.file_name())
        .map(|tid| tid.to_owned());
    let done = tid.is_some_and(|tid| {
        std::process::Command::new("chrt")
            .args(["--idle", "--pid", "0"])
            .arg(tid)
            .status()
            .is_ok_and(|status| status.success())
    });
    if !done {
        eprintln!(
            "attacks: could not put an attacker thread in SCHED_IDLE (chrt); normal priority"
        );
    }
}

fn config(raw: &mut RawConfig) {
    raw.server.write_stall_timeout_secs = 10.0;
}

async fn run(options: &Options, attack: &str, canaries: &Handle) -> String {
    let server = ServerProcess::start(&options.server, config).await;
    let tls = server.tls_config();
    let start = || {
        let canary = Canary::start(server.tls_addr, tls.clone(), "canary", CANARY_INTERVAL);
        canaries.spawn(canary)
    };
    let baseline = start().await.expect("canary starts");
    tokio::time::sleep(options.baseline_time).await;
    let without = canaries
        .spawn(baseline.finish())
        .await
        .expect("canary report");
    // The attacked server: the canary's own, or a second one for the control.
    let elsewhere = if options.attack_elsewhere {
        Some(ServerProcess::start(&options.server, config).await)
    } else {
        None
    };
    let target = elsewhere.as_ref().unwrap_or(&server);
    let rss_before = target.rss_kib();
    let sampler = RssSampler::start(target.pid);
    let canary = start().await.expect("canary starts");
    let treatment = attack_for(target, attack, options).await;
    let with = canaries
        .spawn(canary.finish())
        .await
        .expect("canary report");
    let peak = sampler.peak_kib().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = target.rss_kib();
    if let Some(elsewhere) = elsewhere {
        elsewhere.stop().await;
    }
    server.stop().await;
    format!(
        "| {attack} | {} | {} | {} / {} | {:.1} → {:.1} → {:.1} | {treatment} |",
        latency(&without),
        latency(&with),
        lost(&without),
        lost(&with),
        mib(rss_before),
        mib(peak),
        mib(after)
    )
}

fn latency(r: &CanaryReport) -> String {
    let ms = |us: u64| us as f64 / 1000.0;
    format!(
        "{:.1} / {:.1} / {:.1}",
        ms(r.percentile_us(50.0)),
        ms(r.percentile_us(99.0)),
        ms(r.percentile_us(100.0))
    )
}

fn lost(r: &CanaryReport) -> String {
    let mut text = format!("{} of {}", r.lost + r.out_of_order, r.published);
    if r.publish_failures > 0 || r.stream_error.is_some() {
        text.push_str(&format!(
            " ({} publish failures, stream: {:?})",
            r.publish_failures, r.stream_error
        ));
    }
    text
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Runs `attack` for about `time` (attacks that end by themselves are repeated) and says
/// how the server treated the attacker.
async fn attack_for(server: &ServerProcess, attack: &str, options: &Options) -> String {
    let started = Instant::now();
    let until = started + options.attack_time;
    match attack {
        "rapid-reset" => {
            let mut endings = Vec::new();
            let mut streams = 0u64;
            while Instant::now() < until {
                let (seen, sent) = attackers::rapid_reset(server, 100_000).await;
                streams += u64::from(sent);
                endings.push(ending(&seen));
            }
            format!(
                "{} connections, {streams} HEADERS+RST_STREAM: {}",
                endings.len(),
                summary(&endings)
            )
        }
        "continuation-unended" => {
            let seen = attackers::unended_header_block(server, Duration::from_secs(30)).await;
            format!(
                "{} after {:.1} s (header_read_timeout_secs = 10)",
                ending(&seen),
                seen.ended_after().unwrap_or_default().as_secs_f64()
            )
        }
        "continuation-flood" => {
            let mut endings = Vec::new();
            let mut frames = 0;
            while Instant::now() < until {
                let (seen, sent) = attackers::continuation_flood(server, 16, 1_000_000).await;
                frames += sent;
                endings.push(ending(&seen));
            }
            format!(
                "{} connections, {frames} CONTINUATION frames: {}",
                endings.len(),
                summary(&endings)
            )
        }
        "ping-flood" | "settings-flood" => {
            let flood = if attack == "ping-flood" {
                Flood::Ping
            } else {
                Flood::Settings
            };
            let floods =
                (0..4).map(|_| attackers::control_flood(server, flood, options.attack_time * 4));
            let results = join_all(floods).await;
            let cuts: Vec<String> = results
                .iter()
                .map(|(cut, _)| cut.map_or("never".into(), |c| format!("{:.1} s", c.as_secs_f64())))
                .collect();
            let frames: u64 = results.iter().map(|(_, sent)| sent).sum();
            format!(
                "4 connections, {frames} frames written, then the server stopped reading; closed after {} (write_stall_timeout_secs = 10)",
                cuts.join(", ")
            )
        }
        "zero-window" => {
            let session = attackers::zero_window(server, 200, 10).await;
            let publishing = attackers::publish_round_robin(server, "zero-window-", 10, 200, 1024);
            let accepted = publishing.await;
            let seen = session.wait_for_end(Duration::from_secs(60)).await;
            format!(
                "200 streams at window 0, {accepted} events published to them: {} after {:.1} s (write_stall_timeout_secs = 10)",
                ending(&seen),
                seen.ended_after().unwrap_or_default().as_secs_f64()
            )
        }
        "slowloris-http1" | "slowloris-h2" => {
            let http1 = attack == "slowloris-http1";
            let request = attackers::h2_request();
            let mut attackers_ = Vec::new();
            for _ in 0..500 {
                let started = Instant::now();
                let io: Box<dyn attackers::Io> = if http1 {
                    Box::new(server.tls(true).await)
                } else {
                    let mut io = attackers::h2_tls(server).await;
                    frames::start(&mut io, &[]).await.unwrap();
                    io
                };
                let bytes: &[u8] = if http1 {
                    attackers::HTTP1_REQUEST
                } else {
                    &request
                };
                let bytes = bytes.to_vec();
                attackers_.push(async move {
                    attackers::trickle(
                        io,
                        started,
                        &bytes,
                        Duration::from_millis(500),
                        Duration::from_secs(60),
                    )
                    .await
                });
            }
            cut_summary(join_all(attackers_).await, "header_read_timeout_secs = 10")
        }
        "tls-handshake-stall" => {
            let stalls =
                (0..500).map(|_| attackers::stalled_handshake(server, Duration::from_secs(60)));
            cut_summary(join_all(stalls).await, "tls_handshake_timeout_secs = 10")
        }
        "churn" => {
            let mut cycles = 0u64;
            let mut ok = 0u64;
            // Paced: a tenth of the rate every 100 ms; unpaced: batches of 1,000 back to back.
            let batch = options.churn_rate.map_or(1000, |rate| u64::from(rate / 10));
            let mut pace = tokio::time::interval(Duration::from_millis(100));
            pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while Instant::now() < until {
                if options.churn_rate.is_some() {
                    pace.tick().await;
                }
                ok += stream::iter(cycles..cycles + batch)
                    .map(|n| attackers::churn_cycle(server, n % 10 == 0, n))
                    .buffer_unordered(32)
                    .filter(|ok| std::future::ready(*ok))
                    .count()
                    .await as u64;
                cycles += batch;
            }
            let secs = started.elapsed().as_secs_f64();
            format!(
                "{cycles} connect/subscribe/close cycles ({:.0}/s, 1 in 10 over TLS), {ok} subscribed; FDs after: {}",
                cycles as f64 / secs,
                server.open_fds()
            )
        }
        "stream-limit" => {
            let mut refused = 0;
            let mut responses = 0;
            let mut endings = Vec::new();
            let mut connections = 0;
            while Instant::now() < until {
                let (session, seen) =
                    attackers::open_streams(server, 600, Duration::from_secs(20)).await;
                refused += seen.resets_with(frames::code::REFUSED_STREAM);
                responses += seen.responses;
                if let Some(e) = seen.ending() {
                    endings.push(e.to_string());
                }
                connections += 1;
                drop(session);
            }
            format!(
                "{connections} connections × 600 streams (limit 512): {responses} served, {refused} REFUSED_STREAM, connection errors: {}",
                if endings.is_empty() { "none".into() } else { endings.join(", ") }
            )
        }
        other => unreachable!("{other} is in ATTACKS"),
    }
}

fn ending(seen: &attackers::Seen) -> String {
    seen.ending().map_or("still open".into(), |e| e.to_string())
}

/// "3× GOAWAY(ENHANCE_YOUR_CALM)" for a list of endings.
fn summary(endings: &[String]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for e in endings {
        *counts.entry(e).or_default() += 1;
    }
    counts
        .iter()
        .map(|(e, n)| format!("{n}× {e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn cut_summary(cuts: Vec<Option<Duration>>, setting: &str) -> String {
    let mut times: Vec<f64> = cuts.iter().flatten().map(|d| d.as_secs_f64()).collect();
    times.sort_by(f64::total_cmp);
    let never = cuts.len() - times.len();
    format!(
        "{} connections closed after {:.1}–{:.1} s, {never} never ({setting})",
        times.len(),
        times.first().copied().unwrap_or(0.0),
        times.last().copied().unwrap_or(0.0)
    )
}
