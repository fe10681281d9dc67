//! Failover: how long the clients of a node killed with SIGKILL take to resume on another
//! node of the cluster, and whether they lose or repeat anything.
//!
//! ```text
//! cargo bench --bench failover -- --doomed https://127.0.0.1:8461 \
//!     --survivor https://127.0.0.1:8462 --kill-pid "$PID" --streams 1000 --conns 10
//! ```
//!
//! The streams (all on one topic) open on the doomed node; a publisher posts numbered
//! events to the survivor at `--rate`; after `--kill-after` seconds the doomed node gets
//! SIGKILL. Each connection whose node died opens a new one to the survivor and resumes each
//! of its streams with the `Last-Event-ID` it last saw, as a browser's EventSource does
//! (without its retry delay). A stream has resumed once the survivor answered it and its
//! first event after the kill arrived. Reported: the time from the kill until the last
//! stream resumed, per-stream percentiles, and the events lost and repeated over the run.
//! Events are read with ssegate's own SSE reader.

#[path = "load/net.rs"]
mod net;

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use clap::Parser;
use h2::client::SendRequest;
use http::{Method, Request, StatusCode};
use ssegate::sse::SseReader;

use crate::net::Target;

/// Measure how the clients of a killed node resume on another.
#[derive(Parser, Debug)]
struct Args {
    /// The node whose clients are measured, and which is killed.
    #[arg(long)]
    doomed: String,
    /// The node the clients resume on, and the publisher talks to.
    #[arg(long)]
    survivor: String,
    /// The doomed node's process id (it receives SIGKILL).
    #[arg(long)]
    kill_pid: u32,
    /// Streams on the doomed node, all on one topic.
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// HTTP/2 connections the streams are spread over.
    #[arg(long, default_value_t = 10)]
    conns: usize,
    /// Events published per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds from the start of publishing to the kill.
    #[arg(long, default_value_t = 3.0)]
    kill_after: f64,
    /// Seconds of publishing after the kill.
    #[arg(long, default_value_t = 5.0)]
    after: f64,
    /// Topic.
    #[arg(long, default_value = "failover")]
    topic: String,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// What one stream saw.
#[derive(Debug, Default, Clone)]
struct Tally {
    last_id: Option<String>,
    seqs: Vec<u64>,
    /// When the first event after the kill arrived, resumed on the survivor.
    resumed_at: Option<Instant>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let doomed = Arc::new(Target::new(&args.doomed, true, None).await?);
    let survivor = Arc::new(Target::new(&args.survivor, true, None).await?);
    let path = format!("/events/{}", args.topic);
    let tallies: Arc<Vec<Mutex<Tally>>> =
        Arc::new((0..args.streams).map(|_| Mutex::default()).collect());
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::default();

    let mut connections = Vec::new();
    for c in 0..args.conns {
        let block = c * args.streams / args.conns..(c + 1) * args.streams / args.conns;
        let send = doomed
            .connect(|_| {})
            .await
            .context("connecting to the doomed node")?;
        connections.push(tokio::spawn(drive_connection(
            send,
            block,
            doomed.clone(),
            survivor.clone(),
            path.clone(),
            tallies.clone(),
            killed_at.clone(),
        )));
    }
    // Let every stream be answered before publishing.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut publisher = survivor.connect(|_| {}).await?;
    let total = ((args.kill_after + args.after) * args.rate) as u64;
    let every = Duration::from_secs_f64(1.0 / args.rate);
    let started = Instant::now();
    let kill_at = started + Duration::from_secs_f64(args.kill_after);
    for seq in 0..total {
        if killed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
            && Instant::now() >= kill_at
        {
            let status = std::process::Command::new("kill")
                .args(["-KILL", &args.kill_pid.to_string()])
                .status()?;
            if !status.success() {
                bail!("could not kill {}", args.kill_pid);
            }
            *killed_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
        publish(&mut publisher, &survivor, &path, seq).await?;
        tokio::time::sleep_until((started + every * (seq as u32 + 1)).into()).await;
    }
    // Late events and late resumptions.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for connection in connections {
        connection.abort();
    }

    let Some(killed) = *killed_at.lock().unwrap_or_else(PoisonError::into_inner) else {
        bail!("the run ended before the kill: raise --after");
    };
    let mut resume_ms: Vec<f64> = Vec::new();
    let (mut lost, mut repeated, mut unresumed) = (0u64, 0u64, 0usize);
    for tally in tallies.iter() {
        let tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
        match tally.resumed_at {
            Some(at) => resume_ms.push(at.duration_since(killed).as_secs_f64() * 1e3),
            None => unresumed += 1,
        }
        let Some(&first) = tally.seqs.first() else {
            continue;
        };
        let mut seen = std::collections::BTreeSet::new();
        for &seq in &tally.seqs {
            if !seen.insert(seq) {
                repeated += 1;
            }
        }
        lost += (first..total).filter(|s| !seen.contains(s)).count() as u64;
    }
    resume_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| -> f64 {
        if resume_ms.is_empty() {
            return f64::NAN;
        }
        resume_ms[((resume_ms.len() - 1) as f64 * p).round() as usize]
    };
    println!(
        "failover: {} streams on {} connections, {} events at {}/s, SIGKILL after {} s",
        args.streams, args.conns, total, args.rate, args.kill_after
    );
    println!(
        "  resumed {} of {} (not resumed {unresumed}); from the kill to the first event on the survivor: p50 {:.0} ms, p99 {:.0} ms, last {:.0} ms",
        resume_ms.len(),
        args.streams,
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!("  events lost {lost}, repeated {repeated} (over every stream, from its first event)");
    Ok(())
}

async fn publish(
    send: &mut SendRequest<Bytes>,
    target: &Target,
    path: &str,
    seq: u64,
) -> Result<()> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(target.uri(path)?)
        .body(())?;
    let mut ready = send.clone().ready().await?;
    let (response, mut body) = ready.send_request(request, false)?;
    body.send_data(Bytes::from(seq.to_string()), true)?;
    let response = response.await?;
    if response.status() != StatusCode::OK {
        bail!("publish answered {}", response.status());
    }
    Ok(())
}

/// Drives the streams `block` on one connection; when its node dies, resumes each of them
/// on the survivor from its last id.
async fn drive_connection(
    send: SendRequest<Bytes>,
    block: std::ops::Range<usize>,
    doomed: Arc<Target>,
    survivor: Arc<Target>,
    path: String,
    tallies: Arc<Vec<Mutex<Tally>>>,
    killed_at: Arc<Mutex<Option<Instant>>>,
) {
    let mut target = doomed;
    let mut send = send;
    loop {
        let streams = block.clone().map(|i| {
            let last_id = tallies[i]
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .last_id
                .clone();
            let resuming = !Arc::ptr_eq(&target, &survivor) || last_id.is_some();
            read_stream(
                send.clone(),
                target.clone(),
                path.clone(),
                last_id.filter(|_| resuming),
                i,
                tallies.clone(),
                killed_at.clone(),
            )
        });
        let ended = futures_util::future::join_all(streams).await;
        if ended.iter().all(|r| r.is_ok()) && Arc::ptr_eq(&target, &survivor) {
            return;
        }
        // The node is gone (or refused): the same streams, on the survivor.
        target = survivor.clone();
        match survivor.connect(|_| {}).await {
            Ok(again) => send = again,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Reads one stream until it ends; `Err` when it broke (its node died).
async fn read_stream(
    send: SendRequest<Bytes>,
    target: Arc<Target>,
    path: String,
    last_id: Option<String>,
    index: usize,
    tallies: Arc<Vec<Mutex<Tally>>>,
    killed_at: Arc<Mutex<Option<Instant>>>,
) -> Result<()> {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(target.uri(&path)?)
        .header("accept", "text/event-stream");
    if let Some(id) = &last_id {
        request = request.header("last-event-id", id.as_str());
    }
    let mut ready = send.ready().await?;
    let (response, _) = ready.send_request(request.body(())?, true)?;
    let response = response.await?;
    if response.status() != StatusCode::OK {
        bail!("subscribe answered {}", response.status());
    }
    let mut body = response.into_body();
    let mut reader = SseReader::new(1 << 20);
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        reader.push(&chunk);
        while let Some(block) = reader.next_block()? {
            let fields = block.fields();
            let Some(data) = fields.data else {
                continue;
            };
            let Ok(seq) = data.parse::<u64>() else {
                continue;
            };
            let mut tally = tallies[index]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            tally.seqs.push(seq);
            if fields.id.is_some() {
                tally.last_id = fields.id;
            }
            let killed = *killed_at.lock().unwrap_or_else(PoisonError::into_inner);
            if tally.resumed_at.is_none() && last_id.is_some() && killed.is_some() {
                tally.resumed_at = Some(Instant::now());
            }
        }
    }
    bail!("the stream ended")
}
