//! Real upstream servers for the gateway tests: a hyper server on loopback that speaks
//! HTTP/1.1 or h2c ([`Upstream`]), and raw TCP servers that misbehave on purpose
//! ([`BadUpstream`]). Nothing here imitates ssegate; these are the backends it proxies.
//!
//! Routes of [`Upstream`]:
//! - `GET /sse?count=N&interval_ms=M&retry=R&id_prefix=P&split=1` and `GET /sse?idle=1`:
//!   a numbered event stream that resumes after `Last-Event-ID` (see [`sse`]).
//! - `GET /feed?retry=R`: events given to [`Upstream::publish`], with `Last-Event-ID` replay.
//! - `ANY /echo/...`: the request as the upstream saw it, as JSON.
//! - `ANY /stream-echo`: the request body streamed back frame by frame, as it arrives.
//! - `GET /status/{code}`, `GET /sse-status/{code}`: that status.
//! - `GET /slow-headers?delay_ms=M`, `GET /slow-body?chunks=N&delay_ms=M`.
//! - `GET /chunked-trailers`: a chunked body and an `x-checksum` trailer.
//! - `GET /ws` with `Upgrade: websocket`: a WebSocket echo server.

mod bad;
mod routes;
mod sse;
mod ws;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, Version};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::{
    net::{TcpListener, TcpSocket, TcpStream},
    sync::{mpsc, watch},
    task::JoinHandle,
};

pub use bad::{BadKind, BadUpstream};
use routes::{full, num};

use super::{Client, PATIENCE};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every response body the upstream sends.
type Body = UnsyncBoxBody<Bytes, BoxError>;

/// The protocol an [`Upstream`] speaks on its plaintext listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamProto {
    /// HTTP/1.1 only (with upgrades, for `/ws`).
    Http1,
    /// HTTP/2 with prior knowledge, no TLS.
    H2c,
}

impl UpstreamProto {
    /// The URL scheme the gateway configuration uses for this protocol: `http` or `h2c`.
    pub fn scheme(self) -> &'static str {
        match self {
            UpstreamProto::Http1 => "http",
            UpstreamProto::H2c => "h2c",
        }
    }
}

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    /// The whole body; empty for the streaming routes (`/sse`, `/feed`, `/ws`, `/stream-echo`),
    /// whose bodies are not read into the record.
    pub body: Bytes,
    /// Which accepted connection carried it, counting from 1 (connection reuse shows here).
    pub connection: u64,
}

/// A running upstream. Dropping it stops it (asynchronously); [`Upstream::stop`] waits.
pub struct Upstream {
    addr: SocketAddr,
    proto: UpstreamProto,
    state: Arc<State>,
    run: Option<Run>,
}

/// What the routes share; it outlives a [`Upstream::restart`].
struct State {
    requests: Mutex<Vec<RecordedRequest>>,
    connections: AtomicU64,
    sse_requests: AtomicUsize,
    open_streams: AtomicUsize,
    feed: sse::Feed,
}

/// One listening period, between start and stop.
struct Run {
    shutdown: watch::Sender<bool>,
    accept: JoinHandle<()>,
    /// Yields `None` once every task of this run (connections, h2 streams, WebSockets) ended.
    done: mpsc::Receiver<()>,
}

/// Spawns the tasks of one run: each ends when the run stops and holds `done` until then.
#[derive(Clone)]
struct Tasks {
    shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
}

impl Upstream {
    /// An upstream on an ephemeral loopback port.
    pub async fn start(proto: UpstreamProto) -> Self {
        Self::start_on(proto, 0).await
    }

    /// An upstream on `127.0.0.1:port` (0: ephemeral), e.g. the port of one just stopped.
    pub async fn start_on(proto: UpstreamProto, port: u16) -> Self {
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            connections: AtomicU64::new(0),
            sse_requests: AtomicUsize::new(0),
            open_streams: AtomicUsize::new(0),
            feed: sse::Feed::new(),
        });
        let (addr, run) = Run::start(port, proto, state.clone()).await;
        Self {
            addr,
            proto,
            state,
            run: Some(run),
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The protocol it speaks.
    pub fn proto(&self) -> UpstreamProto {
        self.proto
    }

    /// The base URL as a gateway route names it: `http://127.0.0.1:PORT` or `h2c://…`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.proto.scheme(), self.addr)
    }

    /// A new connection to it in its protocol, for requesting it directly.
    pub async fn client(&self) -> Client {
        connect(self.addr, self.proto).await
    }

    /// Closes the listener and every open connection at once, as a crash would (no GOAWAY,
    /// no final chunk), and waits until all of them are gone. Idempotent.
    pub async fn stop(&mut self) {
        if let Some(run) = self.run.take() {
            run.stop().await;
        }
    }

    /// Stops, then listens again on the same port with the same protocol, keeping the
    /// recorded requests, the counters and the `/feed` history (a restart with its storage).
    pub async fn restart(&mut self) {
        self.stop().await;
        let (addr, run) = Run::start(self.addr.port(), self.proto, self.state.clone()).await;
        self.addr = addr;
        self.run = Some(run);
    }

    /// Every request received so far, in arrival order (bodies once fully read).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// How many `/sse` and `/feed` requests arrived so far.
    pub fn sse_requests(&self) -> usize {
        self.state.sse_requests.load(Ordering::SeqCst)
    }

    /// How many `/sse` and `/feed` response bodies are alive right now.
    pub fn open_streams(&self) -> usize {
        self.state.open_streams.load(Ordering::SeqCst)
    }

    /// Sends `data` to every open `/feed` stream and keeps it for replay; returns its id
    /// (1, 2, …). Multi-line data becomes several `data:` lines.
    pub fn publish(&self, data: &str) -> u64 {
        self.state.feed.publish(data)
    }

    /// Waits (up to [`PATIENCE`]) until `open_streams() == n`.
    pub async fn wait_open_streams(&self, n: usize) {
        self.wait_until(&format!("{n} open streams"), || self.open_streams() == n)
            .await;
    }

    /// Waits (up to [`PATIENCE`]) until `sse_requests() >= n`.
    pub async fn wait_sse_requests(&self, n: usize) {
        self.wait_until(&format!("{n} SSE requests"), || self.sse_requests() >= n)
            .await;
    }

    async fn wait_until(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "upstream {}: waited {PATIENCE:?} for {what}; open streams {}, SSE requests {}",
                self.addr,
                self.open_streams(),
                self.sse_requests()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(run) = &self.run {
            // Every task of the run selects on this; the listener goes with the accept task.
            let _ = run.shutdown.send(true);
        }
    }
}

impl Run {
    async fn start(port: u16, proto: UpstreamProto, state: Arc<State>) -> (SocketAddr, Run) {
        let listener = bind(port);
        let addr = listener.local_addr().expect("local addr");
        let (tasks, shutdown, done) = Tasks::new();
        let accept = tokio::spawn(accept_loop(listener, proto, state, tasks));
        let run = Run {
            shutdown,
            accept,
            done,
        };
        (addr, run)
    }

    async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let stopped = async {
            let _ = (&mut self.accept).await;
            while self.done.recv().await.is_some() {}
        };
        tokio::time::timeout(PATIENCE, stopped)
            .await
            .expect("upstream tasks end after stop");
    }
}

impl Tasks {
    fn new() -> (Self, watch::Sender<bool>, mpsc::Receiver<()>) {
        let (shutdown_tx, shutdown) = watch::channel(false);
        let (done, done_rx) = mpsc::channel(1);
        (Self { shutdown, done }, shutdown_tx, done_rx)
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut shutdown = self.shutdown.clone();
        let done = self.done.clone();
        tokio::spawn(async move {
            let _done = done;
            tokio::select! {
                _ = task => {}
                // Also true when the `Upstream` was dropped: the sender is gone.
                () = stopped(&mut shutdown) => {}
            }
        });
    }
}

/// Resolves once the run is told to stop, or its `Upstream` is gone (the sender dropped).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// hyper spawns each h2 stream through this, so stopping ends streams as well.
impl<F> hyper::rt::Executor<F> for Tasks
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        self.spawn(async move {
            fut.await;
        });
    }
}

/// Binds with `SO_REUSEADDR` so a restart on the port of a stopped upstream succeeds
/// while its old connections sit in TIME_WAIT.
fn bind(port: u16) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .unwrap_or_else(|e| panic!("bind 127.0.0.1:{port}: {e}"));
    socket.listen(1024).expect("listen")
}

async fn accept_loop(listener: TcpListener, proto: UpstreamProto, state: Arc<State>, tasks: Tasks) {
    let mut shutdown = tasks.shutdown.clone();
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                // EMFILE and friends: back off rather than spin or die.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => return,
        };
        let _ = tcp.set_nodelay(true);
        let connection = state.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let service = {
            let (state, tasks) = (state.clone(), tasks.clone());
            service_fn(move |req| routes::route(state.clone(), tasks.clone(), connection, req))
        };
        let io = TokioIo::new(tcp);
        match proto {
            UpstreamProto::Http1 => tasks.spawn(async move {
                let conn = http1::Builder::new().serve_connection(io, service);
                let _ = conn.with_upgrades().await;
            }),
            UpstreamProto::H2c => {
                let conn = http2::Builder::new(tasks.clone()).serve_connection(io, service);
                tasks.spawn(async move {
                    let _ = conn.await;
                });
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not hide the recorded requests from the others.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts a live SSE body in `open_streams` until dropped.
struct StreamGuard(Arc<State>);

impl StreamGuard {
    fn new(state: &Arc<State>) -> Self {
        state.sse_requests.fetch_add(1, Ordering::SeqCst);
        state.open_streams.fetch_add(1, Ordering::SeqCst);
        Self(state.clone())
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A plaintext client connection to `addr` speaking `proto`.
pub async fn connect(addr: SocketAddr, proto: UpstreamProto) -> Client {
    let tcp = TcpStream::connect(addr).await.expect("connect to upstream");
    tcp.set_nodelay(true).expect("nodelay");
    let io = TokioIo::new(tcp);
    match proto {
        UpstreamProto::Http1 => {
            let (send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .expect("http1 handshake");
            tokio::spawn(conn.with_upgrades());
            Client::H1(send)
        }
        UpstreamProto::H2c => {
            let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .expect("h2c handshake");
            tokio::spawn(conn);
            Client::H2(send, format!("http://{addr}"))
        }
    }
}
