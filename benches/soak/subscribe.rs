//! One logical subscriber: it subscribes, reads and checks events, and whenever its stream
//! ends (it dropped it on purpose, the server ended it, the connection broke) subscribes
//! again with the last id it saw as `Last-Event-ID`, as a browser's EventSource does.
//! While the run is in its chaos phase it also drops its stream at random times and, if it
//! is a staller, stops reading for a while.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::{bail, Result};
use eventsource_stream::EventStream;
use futures_util::StreamExt as _;
use http::StatusCode;
use http_body_util::BodyExt as _;
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, Instant};

use super::check::StreamCheck;
use super::conn::{subscribe_request, ConnectionGuard, Connector, H2Slot};

/// The hub's answer header saying how a `Last-Event-ID` resumption went.
const REPLAY_HEADER: &str = "ssegate-replay";
/// The event the hub sends first when it could not replay everything after the id.
const GAP_EVENT: &str = "ssegate-gap";

/// Where the run is: chaos (random drops and stalls), calm (none; streams that are down
/// come back and catch up), stop (every subscriber leaves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Chaos,
    Calm,
    Stop,
}

/// What a subscriber reads.
#[derive(Debug, Clone)]
pub enum Source {
    /// The hub: `/events/{topic}`, or `/events?topic=..&topic=..` for several.
    Hub { topics: Vec<u64> },
    /// A gateway route to the sse-starlette upstream (its path and query).
    Gateway { path: String },
}

/// How a subscriber reaches the server.
pub enum Transport {
    /// A stream on its group's shared HTTP/2 connection.
    H2(Arc<H2Slot>),
    /// A connection of its own, HTTP/1.1.
    H1,
}

/// The random behaviour of subscribers during the chaos phase.
#[derive(Debug, Clone)]
pub struct Chaos {
    /// Mean time a stream is kept before the client drops it (exponentially distributed).
    pub mean_lifetime: Duration,
    /// Mean time between a staller's stalls.
    pub stall_every: Duration,
    /// A stall lasts between these.
    pub stall_min: Duration,
    pub stall_max: Duration,
}

/// Why a stream ended and the subscriber reconnected.
#[derive(Debug, Default)]
pub struct Reconnects {
    /// The client dropped its stream on purpose (random disconnect).
    pub client_dropped: AtomicU64,
    /// The server ended the stream cleanly: its slow-consumer policy, mostly.
    pub server_ended: AtomicU64,
    /// The stream broke: its connection was cut, or the gateway's upstream died.
    pub broken: AtomicU64,
}

/// Counters shared by all subscribers.
#[derive(Debug, Default)]
pub struct SubscriberCounters {
    pub reconnects: Reconnects,
    /// Subscribe attempts that got no stream (connect error, timeout, non-200 such as the
    /// gateway's 502 while its upstream is down).
    pub failed_attempts: AtomicU64,
    pub stalls: AtomicU64,
    pub stall_millis: AtomicU64,
    /// Resumptions the hub answered `complete`.
    pub replays_complete: AtomicU64,
    /// Resumptions the hub answered with a gap (`ssegate-replay: gap` or a gap event): the
    /// history did not cover the reconnect. Each is a failure of the run.
    pub history_gaps: AtomicU64,
    /// Subscribers that have had a stream at least once.
    pub established: AtomicU64,
    /// The latest failed attempt, for the report.
    pub last_failure: Mutex<Option<String>>,
}

/// One logical subscriber and what it has seen.
pub struct Subscriber {
    pub index: u64,
    pub source: Source,
    pub transport: Transport,
    pub stalls: bool,
    pub check: Mutex<StreamCheck>,
    /// What its task is doing, for the report on subscribers that fell behind.
    pub doing: Mutex<&'static str>,
}

impl Subscriber {
    fn path(&self) -> String {
        match &self.source {
            Source::Hub { topics } if topics.len() == 1 => {
                format!("/events/{}", topic_name(topics[0]))
            }
            Source::Hub { topics } => {
                let query: Vec<String> = topics
                    .iter()
                    .map(|t| format!("topic={}", topic_name(*t)))
                    .collect();
                format!("/events?{}", query.join("&"))
            }
            Source::Gateway { path } => path.clone(),
        }
    }

    pub fn check(&self) -> MutexGuard<'_, StreamCheck> {
        lock(&self.check)
    }

    fn doing(&self, what: &'static str) {
        *lock(&self.doing) = what;
    }
}

/// The name of topic `k`.
pub fn topic_name(k: u64) -> String {
    format!("soak-{k}")
}

/// Everything a subscriber task needs besides itself.
pub struct SubscriberContext {
    pub connector: Arc<Connector>,
    pub run: u64,
    pub chaos: Chaos,
    pub counters: SubscriberCounters,
}

/// Subscribes and resubscribes until the phase is [`Phase::Stop`].
pub async fn run_subscriber(
    sub: Arc<Subscriber>,
    ctx: Arc<SubscriberContext>,
    mut phase: watch::Receiver<Phase>,
) {
    let mut rng = fastrand::Rng::with_seed(ctx.run ^ sub.index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut ever_established = false;
    loop {
        if *phase.borrow() == Phase::Stop {
            return;
        }
        let last_id = sub.check().last_id.clone();
        sub.doing("subscribing");
        let opened = tokio::select! {
            opened = open(&sub, &ctx, last_id.as_deref()) => opened,
            _ = phase.wait_for(|p| *p == Phase::Stop) => return,
        };
        let (response, _guard) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                ctx.counters.failed_attempts.fetch_add(1, Relaxed);
                *lock(&ctx.counters.last_failure) = Some(format!("{}: {e:#}", sub.path()));
                sub.doing("waiting to retry");
                pause(&mut phase, rng.u64(250..1000)).await;
                continue;
            }
        };
        if !ever_established {
            ever_established = true;
            ctx.counters.established.fetch_add(1, Relaxed);
        }
        if let (Source::Hub { .. }, Some(id)) = (&sub.source, last_id.as_deref()) {
            let replay = response
                .headers()
                .get(REPLAY_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(none)");
            if replay == "complete" {
                ctx.counters.replays_complete.fetch_add(1, Relaxed);
            } else {
                ctx.counters.history_gaps.fetch_add(1, Relaxed);
                sub.check().problem(format!(
                    "resume after {id} answered {REPLAY_HEADER}: {replay}"
                ));
            }
        }
        let mut events = EventStream::new(response.into_body().into_data_stream());
        sub.doing("reading");
        let now = Instant::now();
        let chaos = *phase.borrow() == Phase::Chaos;
        let drop_at = chaos.then(|| now + exponential(&mut rng, ctx.chaos.mean_lifetime));
        let mut stall_at =
            (chaos && sub.stalls).then(|| now + exponential(&mut rng, ctx.chaos.stall_every));
        let ended = loop {
            tokio::select! {
                biased;
                changed = phase.changed() => {
                    if changed.is_err() || *phase.borrow() == Phase::Stop {
                        return;
                    }
                    // Calm: keep the stream, start no new stall.
                    stall_at = None;
                }
                _ = until(drop_at), if *phase.borrow() == Phase::Chaos => {
                    break &ctx.counters.reconnects.client_dropped;
                }
                _ = until(stall_at), if *phase.borrow() == Phase::Chaos => {
                    let millis = rng.u64(
                        ctx.chaos.stall_min.as_millis() as u64..=ctx.chaos.stall_max.as_millis() as u64,
                    );
                    ctx.counters.stalls.fetch_add(1, Relaxed);
                    ctx.counters.stall_millis.fetch_add(millis, Relaxed);
                    // Not polling the body leaves its data unread: the stream's window stays
                    // closed and the server's queue for this subscriber fills.
                    sub.doing("stalled");
                    if !pause(&mut phase, millis).await {
                        return;
                    }
                    sub.doing("reading");
                    stall_at = Some(Instant::now() + exponential(&mut rng, ctx.chaos.stall_every));
                }
                event = events.next() => match event {
                    None => break &ctx.counters.reconnects.server_ended,
                    Some(Err(_)) => break &ctx.counters.reconnects.broken,
                    Some(Ok(event)) => {
                        let mut check = sub.check();
                        if event.event == GAP_EVENT {
                            ctx.counters.history_gaps.fetch_add(1, Relaxed);
                            check.problem(format!("{GAP_EVENT} event: {}", event.data));
                        } else {
                            match &sub.source {
                                Source::Hub { .. } => check.hub_event(ctx.run, &event.id, &event.data),
                                Source::Gateway { .. } => check.upstream_event(&event.id, &event.data),
                            }
                        }
                    }
                },
            }
        };
        ended.fetch_add(1, Relaxed);
        drop(events);
        sub.doing("pausing before reconnecting");
        pause(&mut phase, rng.u64(50..500)).await;
    }
}

/// Opens the subscriber's stream: the response head of a 200.
async fn open(
    sub: &Subscriber,
    ctx: &SubscriberContext,
    last_id: Option<&str>,
) -> Result<(
    http::Response<hyper::body::Incoming>,
    Option<ConnectionGuard>,
)> {
    let request = subscribe_request(&ctx.connector, &sub.path(), last_id)?;
    let (response, guard) = match &sub.transport {
        Transport::H2(slot) => {
            let connection = slot.get(&ctx.connector).await?;
            (connection.request(request).await?, None)
        }
        Transport::H1 => {
            let (response, guard) = ctx.connector.http1_request(request).await?;
            (response, Some(guard))
        }
    };
    if response.status() != StatusCode::OK {
        bail!("status {}", response.status());
    }
    Ok((response, guard))
}

/// Sleeps `millis`, or less if the run stops; false if it stopped.
async fn pause(phase: &mut watch::Receiver<Phase>, millis: u64) -> bool {
    tokio::select! {
        _ = sleep(Duration::from_millis(millis)) => true,
        _ = phase.wait_for(|p| *p == Phase::Stop) => false,
    }
}

/// Sleeps until `at`, or forever without one.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// An exponentially distributed duration with this mean: drops and stalls arrive as a
/// Poisson process, not in lockstep.
fn exponential(rng: &mut fastrand::Rng, mean: Duration) -> Duration {
    let uniform = rng.f64().max(1e-9);
    mean.mul_f64(-uniform.ln()).min(mean * 10)
}

/// Locks a mutex; a panicked holder (a bug the run reports anyway) leaves data still worth
/// reading.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
