//! One measured run, phase by phase: connect the publisher, open the streams, settle, publish
//! through the warm-up and the measured window, drain, and gather the figures into a
//! [`Report`]. Also the accounting read from the shared state at the end: streams
//! established, failed and ended, and the events lost, repeated or reordered.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use tokio::sync::{watch, Semaphore};
use tokio::time::{sleep, Instant};

use crate::net::Target;
use crate::origin::{Origin, OriginPlan};
use crate::publish::{self, run_publisher, PublishOutcome, PublishPlan};
use crate::report::Report;
use crate::state::{Shared, StreamState};
use crate::stats::{
    cpu_seconds, machine_cpu, own_cpu_seconds, rss_sum, unix_nanos, MachineCpu, OtherProcesses,
    CLK_TCK,
};
use crate::subscribe::{run_connection, Plan};
use crate::Args;

/// Concurrent TCP + TLS handshakes while connecting the subscribers.
const PARALLEL_HANDSHAKES: usize = 32;

/// Run the load described by `args` (already validated) and report on it.
pub async fn run(args: &Args) -> Result<Report> {
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
    let pub_uris = uris(&args.pub_path)?;
    // One plan per subscribe target: --url, or each --sub-url (connections round-robin).
    let mut sub_targets = vec![target.clone()];
    if !args.sub_urls.is_empty() {
        sub_targets.clear();
        for url in &args.sub_urls {
            sub_targets.push(Arc::new(
                Target::new(url, args.insecure, args.cacert.as_deref()).await?,
            ));
        }
    }
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

    let handshakes = Arc::new(Semaphore::new(PARALLEL_HANDSHAKES));
    let establish_by = Instant::now() + Duration::from_secs_f64(args.establish_timeout);
    let mut plans = Vec::with_capacity(sub_targets.len());
    for sub_target in sub_targets {
        let uris: Vec<http::Uri> = names
            .iter()
            .map(|name| sub_target.uri(&args.sub_path.replace("{topic}", name)))
            .collect::<Result<_>>()?;
        plans.push(Arc::new(Plan {
            target: sub_target,
            uris: uris.into(),
            handshakes: handshakes.clone(),
            establish_by,
        }));
    }
    let (stop, stop_rx) = watch::channel(false);
    let (connections, establish_s) = open_streams(args, &ctx, &plans, stop_rx).await;
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
                form_topics: args.pub_form.as_ref().map(|template| {
                    (0..args.topics)
                        .map(|k| template.replace("{topic}", &format!("{}{k}", args.topic_prefix)))
                        .collect()
                }),
                headers: publish_headers(&args.pub_headers, args.pub_bearer_file.as_deref())?,
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
    plans: &[Arc<Plan>],
    stop: watch::Receiver<bool>,
) -> (Vec<tokio::task::JoinHandle<()>>, f64) {
    let establish_by = plans[0].establish_by;
    let opened = Instant::now();
    let connections = (0..args.conns)
        .map(|c| {
            let block = c * args.streams / args.conns..(c + 1) * args.streams / args.conns;
            tokio::spawn(run_connection(
                ctx.clone(),
                plans[c % plans.len()].clone(),
                block,
                stop.clone(),
            ))
        })
        .collect();
    let mut last_progress = Instant::now();
    loop {
        let (established, failed) = count_streams(ctx);
        if established + failed == args.streams as u64 || Instant::now() > establish_by {
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

/// `--pub-header name: value` arguments as a header map.
fn publish_headers(
    args: &[String],
    bearer_file: Option<&std::path::Path>,
) -> anyhow::Result<http::HeaderMap> {
    let mut headers = http::HeaderMap::new();
    if let Some(path) = bearer_file {
        let token = std::fs::read_to_string(path)
            .with_context(|| format!("reading --pub-bearer-file {}", path.display()))?;
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Bearer {}", token.trim()))?,
        );
    }
    for arg in args {
        let (name, value) = arg
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--pub-header {arg:?}: expected `name: value`"))?;
        headers.append(
            http::HeaderName::from_bytes(name.trim().as_bytes())?,
            http::HeaderValue::from_str(value.trim())?,
        );
    }
    Ok(headers)
}
