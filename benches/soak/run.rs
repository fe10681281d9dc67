//! A soak run, phase by phase:
//!
//! 1. start the upstream and the server (a child process), read its baseline usage;
//! 2. prefill: publish the hub's whole history (`history_max_events`), so that memory held
//!    by the history is in the baseline and every subscriber can start with a
//!    `Last-Event-ID` (the last prefill id): from then on each must see every event of its
//!    topics, from the first one after that id to the last one published;
//! 3. open every stream and wait until each has had its first answer;
//! 4. chaos for `duration`: publishers publish; subscribers drop streams at random and
//!    reconnect with `Last-Event-ID`, stallers stop reading (the slow-consumer policy may
//!    end their streams); HTTP/2 connections are cut; the gateway's upstream is killed and
//!    started again;
//! 5. calm: publishing stops, no more drops or stalls; wait until every hub subscriber has
//!    reached the last event of each of its topics;
//! 6. every client leaves; wait for the server's descriptors and memory to come back, and
//!    read them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{sleep, Instant};

use super::conn::{Connector, H2Slot};
use super::plan::{make_subscribers, publishers, Plan};
use super::process::{ServerProcess, Upstream, Usage};
use super::publish::{publish_one, run_publisher, PublishCounters, Published};
use super::report::Report;
use super::subscribe::{
    lock, run_subscriber, Phase, Source, Subscriber, SubscriberContext, Transport,
};

/// Runs the plan; the report says what happened. Errors are for set-up failures (the server
/// or upstream would not start, the server crashed).
pub async fn run(plan: &Plan) -> Result<Report> {
    let started = Instant::now();
    let mut upstream = Upstream::start(&plan.python, &plan.upstream_app_dir).await?;
    let mut server = ServerProcess::start(&plan.binary, &plan.server, upstream.addr).await?;
    let connector = Arc::new(Connector::new(server.addr, &server.ca)?);
    let run = plan.seed;
    let mut report = Report::new(plan, server.pid());
    report.usage_start = server.usage()?;

    // Prefill the history; the baseline is a server with a full history and no client.
    let all_topics = plan.topics + plan.hot_topics;
    let published: Published = Arc::new((0..all_topics).map(|_| AtomicU64::new(0)).collect());
    let anchor = prefill(plan, &connector, run, &published).await?;
    let prefilled: Vec<u64> = published.iter().map(|p| p.load(Relaxed)).collect();
    report.prefilled = prefilled.iter().sum();
    sleep(Duration::from_secs(1)).await;
    report.usage_before = server.usage()?;
    eprintln!(
        "soak: server pid {} on {}; prefilled {} events; before: {}",
        server.pid(),
        server.addr,
        report.prefilled,
        usage_line(report.usage_before)
    );

    let subscribers = make_subscribers(plan, &prefilled, &anchor);
    let slots: Vec<Arc<H2Slot>> = subscribers
        .iter()
        .filter_map(|s| match &s.transport {
            Transport::H2(slot) => Some(slot.clone()),
            Transport::H1 => None,
        })
        .fold(Vec::new(), |mut slots, slot| {
            if !slots.iter().any(|s: &Arc<H2Slot>| Arc::ptr_eq(s, &slot)) {
                slots.push(slot);
            }
            slots
        });
    report.h2_connections = slots.len();
    let ctx = Arc::new(SubscriberContext {
        connector: connector.clone(),
        run,
        chaos: plan.chaos.clone(),
        counters: Default::default(),
    });
    let (phase_tx, phase) = watch::channel(Phase::Chaos);
    let mut tasks = JoinSet::new();
    for sub in &subscribers {
        tasks.spawn(run_subscriber(sub.clone(), ctx.clone(), phase.clone()));
    }
    let deadline = Instant::now() + plan.catch_up_timeout;
    while (ctx.counters.established.load(Relaxed) as usize) < subscribers.len() {
        if Instant::now() >= deadline {
            bail!(
                "only {} of {} streams opened within {:?}; last failure: {:?}",
                ctx.counters.established.load(Relaxed),
                subscribers.len(),
                plan.catch_up_timeout,
                lock(&ctx.counters.last_failure)
            );
        }
        server.check_alive()?;
        sleep(Duration::from_millis(200)).await;
    }
    report.usage_peak = report.usage_before.max(server.usage()?);
    eprintln!(
        "soak: {} streams open; chaos for {:?}",
        subscribers.len(),
        plan.duration
    );

    // Chaos.
    let publish_counters = Arc::new(PublishCounters::default());
    let mut publisher_tasks = JoinSet::new();
    for publisher in publishers(plan) {
        publisher_tasks.spawn(run_publisher(
            publisher,
            connector.clone(),
            run,
            published.clone(),
            publish_counters.clone(),
            phase.clone(),
        ));
    }
    let chaos_end = Instant::now() + plan.duration;
    // Memory at half time and at the end of the chaos: a leak keeps growing through the
    // second half, memory merely kept by the allocator levels off.
    let mut half_time = Some(Instant::now() + plan.duration / 2);
    let mut rng = fastrand::Rng::with_seed(run);
    let mut next_cut = Instant::now() + exponential(&mut rng, plan.cut_every);
    let mut next_restart = Instant::now() + plan.upstream_restart_every;
    let mut next_progress = Instant::now() + Duration::from_secs(30);
    while Instant::now() < chaos_end {
        sleep(Duration::from_millis(500)).await;
        server.check_alive()?;
        let usage = server.usage()?;
        report.usage_peak = report.usage_peak.max(usage);
        let now = Instant::now();
        if half_time.is_some_and(|at| now >= at) {
            report.usage_half_time = usage;
            half_time = None;
        }
        if now >= next_cut && !slots.is_empty() {
            if slots[rng.usize(..slots.len())].cut().await {
                report.connections_cut += 1;
            }
            next_cut = now + exponential(&mut rng, plan.cut_every);
        }
        if now >= next_restart && now + plan.upstream_down < chaos_end {
            upstream.restart(plan.upstream_down).await?;
            next_restart = Instant::now() + plan.upstream_restart_every;
        }
        if now >= next_progress {
            eprintln!(
                "soak: {:>4} s: published {}, reconnects {}, server {}",
                started.elapsed().as_secs(),
                publish_counters.published.load(Relaxed),
                ctx.counters.reconnects.client_dropped.load(Relaxed)
                    + ctx.counters.reconnects.server_ended.load(Relaxed)
                    + ctx.counters.reconnects.broken.load(Relaxed),
                usage_line(server.usage()?)
            );
            next_progress = now + Duration::from_secs(30);
        }
    }
    report.upstream_restarts = upstream.restarts;
    report.usage_chaos_end = server.usage()?;

    // Calm: wait until every hub subscriber has the last event of each of its topics.
    phase_tx.send_replace(Phase::Calm);
    let catch_up_started = Instant::now();
    // A publish in flight when the phase changed still counts: the last events are the
    // ones numbered once every publisher has returned.
    while publisher_tasks.join_next().await.is_some() {}
    let finals: Vec<u64> = published.iter().map(|p| p.load(Relaxed)).collect();
    loop {
        let behind = subscribers
            .iter()
            .filter(|s| !caught_up(s, &finals))
            .count();
        if behind == 0 {
            break;
        }
        if catch_up_started.elapsed() >= plan.catch_up_timeout {
            report.not_caught_up = behind;
            for sub in subscribers.iter().filter(|s| !caught_up(s, &finals)) {
                report.note_behind(sub, &finals);
            }
            break;
        }
        server.check_alive()?;
        report.usage_peak = report.usage_peak.max(server.usage()?);
        sleep(Duration::from_millis(200)).await;
    }
    report.catch_up = catch_up_started.elapsed();

    // Every client leaves.
    phase_tx.send_replace(Phase::Stop);
    for slot in &slots {
        slot.close().await;
    }
    while tasks.join_next().await.is_some() {}
    report.usage_clients_gone = server.usage()?;
    let settle_started = Instant::now();
    loop {
        sleep(Duration::from_secs(1)).await;
        server.check_alive()?;
        let usage = server.usage()?;
        report.usage_after = usage;
        if report.back_to_baseline() || settle_started.elapsed() >= plan.settle_timeout {
            break;
        }
    }
    report.settle = settle_started.elapsed();

    report.published = publish_counters.published.load(Relaxed);
    report.publish_errors = publish_counters.errors.load(Relaxed);
    report.last_publish_error = lock(&publish_counters.last_error).clone();
    report.gather(&subscribers, &ctx.counters);
    report.server_log = server.log_tail();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Publishes `history_max_events` events over all topics in the proportions of the run,
/// four at a time; the id of the last one.
async fn prefill(
    plan: &Plan,
    connector: &Arc<Connector>,
    run: u64,
    published: &Published,
) -> Result<String> {
    let total = plan.server.history_max_events;
    let parallel = 4;
    let mut tasks = JoinSet::new();
    for lane in 0..parallel {
        let connector = connector.clone();
        let published = published.clone();
        let plan = plan.clone();
        tasks.spawn(async move {
            let connection = connector.http2().await?;
            // Lane `l` owns the topics congruent to `l`, so each topic's numbers stay in
            // publish order.
            let owned: Vec<(u64, usize)> = (0..plan.topics + plan.hot_topics)
                .filter(|t| t % parallel == lane)
                .map(|t| {
                    (
                        t as u64,
                        if t < plan.topics {
                            plan.pad
                        } else {
                            plan.hot_pad
                        },
                    )
                })
                .collect();
            let mut last = None;
            for i in 0..total.div_ceil(parallel) {
                if owned.is_empty() {
                    break;
                }
                let (topic, pad) = owned[i % owned.len()];
                let id = publish_one(&connection, &connector, run, topic, pad, &published)
                    .await
                    .context("prefill publish")?;
                last = Some(id);
            }
            connection.cut();
            anyhow::Ok(last)
        });
    }
    let mut anchor: Option<String> = None;
    while let Some(joined) = tasks.join_next().await {
        if let Some(id) = joined.context("prefill task")?? {
            // Ids grow: the largest is the last event of the history.
            let newer = match &anchor {
                Some(a) => id.parse::<u64>().ok() > a.parse::<u64>().ok(),
                None => true,
            };
            if newer {
                anchor = Some(id);
            }
        }
    }
    anchor.context("prefill published nothing")
}

/// True when a hub subscriber has every event published on its topics (gateway streams
/// have no last event: true).
fn caught_up(sub: &Subscriber, finals: &[u64]) -> bool {
    match &sub.source {
        Source::Hub { topics } => {
            let check = sub.check();
            topics
                .iter()
                .all(|&t| check.next_of(t) == Some(finals[t as usize]))
        }
        Source::Gateway { .. } => true,
    }
}

fn exponential(rng: &mut fastrand::Rng, mean: Duration) -> Duration {
    mean.mul_f64(-rng.f64().max(1e-9).ln()).min(mean * 10)
}

/// `RSS 12.3 MiB (anon 4.5 MiB), 17 fds`.
pub fn usage_line(usage: Usage) -> String {
    format!(
        "RSS {:.1} MiB (anon {:.1} MiB), {} fds",
        usage.rss_kib as f64 / 1024.0,
        usage.anon_kib as f64 / 1024.0,
        usage.fds
    )
}
