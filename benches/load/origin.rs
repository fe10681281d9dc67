//! The origin: a small SSE server for measuring reverse proxies (gateway mode).
//!
//! `GET .../{prefix}{k}` (any path whose last segment names topic `k`) streams topic `k`
//! over HTTP/1.1 or h2c (prior knowledge; the protocol is sniffed from the preface). A
//! ticker publishes `rate` events/s round-robin over the topics; each event is encoded
//! once (`id: SEQ` and the tool's [`Payload`] as data) and the same `Bytes` is queued to
//! every open stream of its topic. A request with `Last-Event-ID: N` first gets the
//! topic's kept events after `N` (the last [`REPLAY`]), then the live ones.
//!
//! It runs on a thread of its own with a single-threaded runtime, so its CPU time can be
//! told apart from the subscribers' (`/proc/self/task/TID/stat`). In the load tool
//! (`--origin`) it shares the run's [`Shared`] state: it numbers events with the same
//! per-topic counters the publisher would bump, so loss accounting works unchanged.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use crate::sse::Payload;
use crate::state::Shared;
use crate::stats::{cpu_ticks, unix_nanos, CLK_TCK};

/// Events kept per topic for `Last-Event-ID` resumption.
const REPLAY: usize = 1024;
/// Events queued per stream; a stream this far behind is ended (and counted) rather than
/// let grow: the origin must stay bounded with 10k slow proxy connections.
const STREAM_QUEUE: usize = 1024;
/// The ticker drops (and counts) what it owes beyond this much backlog after a stall.
const MAX_BACKLOG: Duration = Duration::from_secs(1);
/// Concurrent h2c streams per connection (direct runs put 100 on each).
const H2_MAX_STREAMS: u32 = 1000;
/// Sent first on every stream, so the response headers leave at once through any proxy
/// that would otherwise hold them until the first body byte.
const GREETING: &[u8] = b": origin\n\n";

/// What to serve.
#[derive(Debug, Clone)]
pub struct OriginPlan {
    pub topics: usize,
    pub topic_prefix: String,
    /// Events per second over all topics.
    pub rate: f64,
    /// Bytes of padding in each event's data.
    pub pad: usize,
}

/// Counters of the origin, over its whole life.
#[derive(Debug, Default)]
pub struct OriginCounters {
    pub connections: AtomicU64,
    pub connections_open: AtomicU64,
    pub connections_peak: AtomicU64,
    pub streams: AtomicU64,
    pub streams_open: AtomicU64,
    pub streams_peak: AtomicU64,
    /// Streams opened with a `Last-Event-ID`.
    pub resumed: AtomicU64,
    /// Streams ended because their queue was full.
    pub slow_dropped: AtomicU64,
    /// Events not published because the ticker fell more than [`MAX_BACKLOG`] behind.
    pub dropped_behind: AtomicU64,
}

/// The figures of [`OriginCounters`] for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OriginReport {
    pub listen: String,
    /// TCP connections accepted, and most open at once: one per client stream when the
    /// proxy in front does not share upstream streams.
    pub connections: u64,
    pub connections_peak: u64,
    /// Streams (requests for a topic) opened, and most open at once.
    pub streams: u64,
    pub streams_peak: u64,
    pub resumed: u64,
    pub slow_dropped: u64,
    pub dropped_behind: u64,
    /// The origin thread's CPU seconds in the measured window.
    pub cpu_s: Option<f64>,
}

/// A running origin; [`Origin::shutdown`] stops it and joins its thread.
pub struct Origin {
    addr: SocketAddr,
    counters: Arc<OriginCounters>,
    publishing: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    /// `/proc/self/task/TID`, for the thread's CPU time.
    task: Option<String>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Origin {
    /// Bind `listen` and start serving on a new thread. Events are published only while
    /// [`Origin::set_publishing`] says so.
    pub fn start(listen: SocketAddr, ctx: Arc<Shared>, plan: OriginPlan) -> Result<Origin> {
        // Bound here, before the thread exists, so that a port in use is an error now.
        let listener = std::net::TcpListener::bind(listen)
            .with_context(|| format!("origin: cannot listen on {listen}"))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(OriginCounters::default());
        let (publishing, publishing_rx) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let (task_tx, task_rx) = std::sync::mpsc::channel();
        let state = Arc::new(State::new(ctx, plan, counters.clone()));
        let thread = std::thread::Builder::new()
            .name("origin".into())
            .spawn(move || {
                // "PID/task/TID": this thread's own /proc entry.
                let task = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|p| p.to_str().map(str::to_owned));
                let _ = task_tx.send(task);
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        eprintln!("load: origin: cannot start its runtime: {e}");
                        return;
                    }
                };
                runtime.block_on(serve(listener, state, publishing_rx, stop_rx));
                // Dropping the runtime drops every connection task: the streams end.
            })
            .context("origin: cannot start its thread")?;
        let task = task_rx.recv().ok().flatten();
        eprintln!("load: origin listening on {addr} (HTTP/1.1 and h2c)");
        Ok(Origin {
            addr,
            counters,
            publishing,
            stop,
            task,
            thread: Some(thread),
        })
    }

    pub fn set_publishing(&self, on: bool) {
        let _ = self.publishing.send(on);
    }

    /// CPU seconds of the origin's thread so far (`None` if `/proc` does not say).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let task = self.task.as_deref()?;
        cpu_ticks(task).ok().map(|ticks| ticks as f64 / CLK_TCK)
    }

    pub fn report(&self, cpu_s: Option<f64>) -> OriginReport {
        let c = &self.counters;
        OriginReport {
            listen: self.addr.to_string(),
            connections: c.connections.load(Relaxed),
            connections_peak: c.connections_peak.load(Relaxed),
            streams: c.streams.load(Relaxed),
            streams_peak: c.streams_peak.load(Relaxed),
            resumed: c.resumed.load(Relaxed),
            slow_dropped: c.slow_dropped.load(Relaxed),
            dropped_behind: c.dropped_behind.load(Relaxed),
            cpu_s,
        }
    }

    pub fn counters(&self) -> &OriginCounters {
        &self.counters
    }

    /// Stop accepting, end every stream and join the thread.
    pub fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the connection tasks and the ticker share.
struct State {
    ctx: Arc<Shared>,
    plan: OriginPlan,
    counters: Arc<OriginCounters>,
    topics: Box<[Mutex<Topic>]>,
}

/// One topic's open streams and recent events.
#[derive(Default)]
struct Topic {
    streams: Vec<mpsc::Sender<Bytes>>,
    /// `(seq, encoded event)`, oldest first, at most [`REPLAY`].
    recent: VecDeque<(u64, Bytes)>,
}

impl State {
    fn new(ctx: Arc<Shared>, plan: OriginPlan, counters: Arc<OriginCounters>) -> State {
        let topics = (0..plan.topics)
            .map(|_| Mutex::new(Topic::default()))
            .collect();
        State {
            ctx,
            plan,
            counters,
            topics,
        }
    }

    fn topic(&self, k: usize) -> MutexGuard<'_, Topic> {
        // A panic while holding the lock cannot leave a Topic inconsistent in a way that
        // matters to a load tool; keep serving.
        self.topics[k].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The topic a request path names: its last segment is `{prefix}{k}`.
    fn topic_of(&self, path: &str) -> Option<usize> {
        let name = path.rsplit('/').next()?;
        let k: usize = name.strip_prefix(&self.plan.topic_prefix)?.parse().ok()?;
        (k < self.plan.topics).then_some(k)
    }

    fn handle(&self, req: &Request<Incoming>) -> Response<OriginBody> {
        if req.method() != Method::GET {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
        }
        let Some(k) = self.topic_of(req.uri().path()) else {
            return plain(StatusCode::NOT_FOUND, "no such topic\n");
        };
        let last_id: Option<u64> = req
            .headers()
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        // Never fails: the channel is new and has room.
        let _ = tx.try_send(Bytes::from_static(GREETING));
        {
            // Replay and registration under the topic's lock: the ticker cannot publish
            // in between, so a resumed stream misses and repeats nothing.
            let mut topic = self.topic(k);
            if let Some(last) = last_id {
                self.counters.resumed.fetch_add(1, Relaxed);
                for (_, event) in topic.recent.iter().filter(|(seq, _)| *seq > last) {
                    if tx.try_send(event.clone()).is_err() {
                        break;
                    }
                }
            }
            topic.streams.push(tx);
        }
        let c = &self.counters;
        c.streams.fetch_add(1, Relaxed);
        let open = c.streams_open.fetch_add(1, Relaxed) + 1;
        c.streams_peak.fetch_max(open, Relaxed);
        let mut response = Response::new(Either::Left(FeedBody {
            rx,
            counters: self.counters.clone(),
        }));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }

    /// Publish one event to topic `k`: number it, encode it once, queue it everywhere.
    fn publish(&self, k: usize) {
        let mut topic = self.topic(k);
        // Numbered under the lock, after every stream registered so far: a subscriber
        // that saw its response before this number was taken is in `streams` (the loss
        // accounting in `subscribe::drive_stream` relies on it).
        let seq = self.ctx.next_seq[k].fetch_add(1, Relaxed);
        self.ctx.published.fetch_add(1, Relaxed);
        self.ctx.publish_ok.fetch_add(1, Relaxed);
        let payload = Payload {
            run: self.ctx.run,
            topic: k as u64,
            seq,
            sent_ns: unix_nanos(),
        };
        let data = payload.encode(self.plan.pad);
        let mut frame = Vec::with_capacity(data.len() + 32);
        frame.extend_from_slice(format!("id: {seq}\ndata: ").as_bytes());
        frame.extend_from_slice(&data);
        frame.extend_from_slice(b"\n\n");
        let frame = Bytes::from(frame);
        if topic.recent.len() == REPLAY {
            topic.recent.pop_front();
        }
        topic.recent.push_back((seq, frame.clone()));
        let slow = &self.counters.slow_dropped;
        topic.streams.retain(|tx| match tx.try_send(frame.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                // Dropping the sender ends the stream once its queue is read.
                slow.fetch_add(1, Relaxed);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }
}

type OriginBody = Either<FeedBody, Full<Bytes>>;

fn plain(status: StatusCode, text: &'static str) -> Response<OriginBody> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from_static(
        text.as_bytes(),
    ))));
    *response.status_mut() = status;
    response
}

/// One stream's body: the events queued for it, as they come.
struct FeedBody {
    rx: mpsc::Receiver<Bytes>,
    counters: Arc<OriginCounters>,
}

impl Body for FeedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        // Every queued item is a non-empty event or the greeting, never an empty chunk
        // (PERFORMANCE.md: h2 clients close after 100 empty DATA frames).
        self.rx
            .poll_recv(cx)
            .map(|event| event.map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        false
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for FeedBody {
    fn drop(&mut self) {
        self.counters.streams_open.fetch_sub(1, Relaxed);
    }
}

/// Accept connections until `stop`, and run the ticker while `publishing` is on.
async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    publishing: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("load: origin: {e}");
            return;
        }
    };
    tokio::spawn(run_ticker(state.clone(), publishing));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(H2_MAX_STREAMS);
    let builder = Arc::new(builder);
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of fds, most likely: back off rather than spin or give up.
                eprintln!("load: origin: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let c = &state.counters;
        c.connections.fetch_add(1, Relaxed);
        let open = c.connections_open.fetch_add(1, Relaxed) + 1;
        c.connections_peak.fetch_max(open, Relaxed);
        let state = state.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let service = {
                let state = state.clone();
                service_fn(move |req| {
                    let response = state.handle(&req);
                    async move { Ok::<_, Infallible>(response) }
                })
            };
            // Peers resetting is their business; the counters say what matters.
            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
            state.counters.connections_open.fetch_sub(1, Relaxed);
        });
    }
}

/// Publish at the plan's rate while `publishing` is on, round-robin over the topics.
async fn run_ticker(state: Arc<State>, mut publishing: watch::Receiver<bool>) {
    let rate = state.plan.rate;
    let topics = state.plan.topics as u64;
    let max_backlog = (rate * MAX_BACKLOG.as_secs_f64()).max(1.0) as u64;
    // As in the publisher: the interval only wakes the pacer, and how many events are due
    // is computed from the elapsed time, so a late wake-up catches up and the rate holds.
    let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_millis(1));
    let mut next = 0u64;
    loop {
        if publishing.wait_for(|on| *on).await.is_err() {
            return;
        }
        let started = Instant::now();
        let mut credited = 0u64;
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                changed = publishing.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if !*publishing.borrow() {
                        break;
                    }
                }
                _ = ticker.tick() => {
                    let due = (started.elapsed().as_secs_f64() * rate) as u64;
                    if due > credited + max_backlog {
                        let behind = due - credited - max_backlog;
                        state.counters.dropped_behind.fetch_add(behind, Relaxed);
                        credited = due - max_backlog;
                    }
                    while credited < due {
                        credited += 1;
                        state.publish((next % topics) as usize);
                        next += 1;
                    }
                }
            }
        }
    }
}

/// `load origin`: serve until interrupted, printing what the origin saw every 5 s.
pub fn run_standalone(listen: SocketAddr, plan: OriginPlan) -> Result<()> {
    let ctx = Arc::new(Shared::new(0, plan.topics));
    let origin = Origin::start(listen, ctx.clone(), plan)?;
    origin.set_publishing(true);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        every.tick().await;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = every.tick() => {
                    let c = origin.counters();
                    eprintln!(
                        "load: origin: published {}, connections {} open (peak {}), \
                         streams {} open (peak {}), slow-dropped {}",
                        ctx.published.load(Relaxed),
                        c.connections_open.load(Relaxed),
                        c.connections_peak.load(Relaxed),
                        c.streams_open.load(Relaxed),
                        c.streams_peak.load(Relaxed),
                        c.slow_dropped.load(Relaxed),
                    );
                }
            }
        }
    });
    origin.shutdown();
    Ok(())
}
