//! The stack's floor: the smallest pub/sub server a Rust engineer would write on the
//! stack ssegate is built on (tokio, hyper 1 with hyper-util's auto connection, rustls
//! through tokio-rustls, ALPN h2 and http/1.1), with nothing of ssegate's own.
//!
//! Issue 12 measures ssegate against it: what the stack costs as it is usually used, so
//! that ssegate's figures can be told apart from the stack's. `benches/compare.sh` runs it
//! side by side with ssegate and nchan (`SERVERS="floor ssegate"`), with the same load
//! tool and the same workload.
//!
//! - `GET /events/{topic}`: an SSE stream of the topic, a comment first (so that the
//!   headers leave at once), then every event published after it; a comment every
//!   `--heartbeat-interval` seconds at a random phase per stream.
//! - `POST /events/{topic}` (or `PUT`): the body is the event's data. The event is encoded
//!   once and the same `Bytes` goes to every subscriber through a tokio `broadcast`
//!   channel per topic; 204 answers it.
//! - A subscriber more than [`QUEUE`] events behind is ended (its `broadcast` receiver
//!   lagged), as a bounded server must.
//!
//! Each h2 stream is a hyper task with its own body, as with any hyper server. Under
//! `--cfg tokio_unstable` (set in `.cargo/config.toml`) the runtime's LIFO slot is
//! disabled, as ssegate's is; `--lifo-slot` keeps it (PERFORMANCE.md: about one write
//! per delivery then).
//!
//!     cargo bench --bench floor --no-run   # prints the executable
//!     <executable> --listen 127.0.0.1:8445 --cert-dir /tmp/floor-certs --heartbeat-interval 10

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use bytes::{Bytes, BytesMut};
use futures_util::stream;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Empty, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Events a subscriber may be behind before it is ended.
const QUEUE: usize = 1024;
/// Largest publish body.
const MAX_BODY: usize = 64 * 1024;
/// Concurrent streams per h2 connection: the load tool opens up to a few hundred.
const MAX_STREAMS: u32 = 1000;
const GREETING: &[u8] = b": floor\n\n";
const HEARTBEAT: &[u8] = b":\n\n";

type Body = BoxBody<Bytes, Infallible>;

struct Options {
    listen: SocketAddr,
    cert_dir: PathBuf,
    heartbeat: Duration,
    workers: Option<usize>,
    lifo_slot: bool,
}

fn parse_args() -> Result<Options> {
    let mut options = Options {
        listen: "127.0.0.1:8445".parse()?,
        cert_dir: PathBuf::from("certs/floor"),
        heartbeat: Duration::from_secs(10),
        workers: None,
        lifo_slot: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => options.listen = value()?.parse().context("--listen")?,
            "--cert-dir" => options.cert_dir = value()?.into(),
            "--heartbeat-interval" => {
                let secs: f64 = value()?.parse().context("--heartbeat-interval")?;
                if !(secs > 0.0 && secs.is_finite()) {
                    bail!("--heartbeat-interval must be a positive number of seconds");
                }
                options.heartbeat = Duration::from_secs_f64(secs);
            }
            "--workers" => options.workers = Some(value()?.parse().context("--workers")?),
            "--lifo-slot" => options.lifo_slot = true,
            // `cargo bench` passes this to every bench binary.
            "--bench" => {}
            "-h" | "--help" => {
                println!(
                    "floor [--listen ADDR] [--cert-dir DIR] [--heartbeat-interval SECS] \
                     [--workers N] [--lifo-slot]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    Ok(options)
}

fn main() -> Result<()> {
    let options = parse_args()?;
    // Many streams share a connection, but the 50k-stream workload still needs ~600 fds.
    rlimit::increase_nofile_limit(u64::MAX).context("raising the open files limit")?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(workers) = options.workers {
        runtime.worker_threads(workers);
    }
    #[cfg(tokio_unstable)]
    if !options.lifo_slot {
        runtime.disable_lifo_slot();
    }
    runtime.build()?.block_on(serve(options))
}

async fn serve(options: Options) -> Result<()> {
    let acceptor = TlsAcceptor::from(Arc::new(tls_config(&options.cert_dir)?));
    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    eprintln!("floor: listening on https://{}", listener.local_addr()?);
    let hub = Arc::new(Hub {
        topics: Mutex::new(HashMap::new()),
        heartbeat: options.heartbeat,
    });
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and the like: wait for connections to close.
                eprintln!("floor: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, hub) = (acceptor.clone(), hub.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |request| {
                let hub = hub.clone();
                async move { Ok::<_, Infallible>(hub.handle(request).await) }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(MAX_STREAMS);
            let _ = builder.serve_connection(TokioIo::new(tls), service).await;
        });
    }
}

struct Hub {
    topics: Mutex<HashMap<String, broadcast::Sender<Bytes>>>,
    heartbeat: Duration,
}

impl Hub {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let Some(topic) = request.uri().path().strip_prefix("/events/") else {
            return status(StatusCode::NOT_FOUND);
        };
        if topic.is_empty() {
            return status(StatusCode::NOT_FOUND);
        }
        let topic = topic.to_owned();
        match *request.method() {
            Method::GET => self.subscribe(&topic),
            Method::POST | Method::PUT => {
                let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(_) => return status(StatusCode::PAYLOAD_TOO_LARGE),
                };
                self.publish(&topic, &body);
                status(StatusCode::NO_CONTENT)
            }
            _ => status(StatusCode::METHOD_NOT_ALLOWED),
        }
    }

    fn sender(&self, topic: &str) -> broadcast::Sender<Bytes> {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        topics
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(QUEUE).0)
            .clone()
    }

    /// Encodes the event once; every subscriber gets the same bytes.
    fn publish(&self, topic: &str, data: &[u8]) {
        let mut event = BytesMut::with_capacity(data.len() + 16);
        for line in data.split(|&b| b == b'\n') {
            event.extend_from_slice(b"data: ");
            event.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
            event.extend_from_slice(b"\n");
        }
        event.extend_from_slice(b"\n");
        // No subscribers is not an error.
        let _ = self.sender(topic).send(event.freeze());
    }

    fn subscribe(&self, topic: &str) -> Response<Body> {
        let events = self.sender(topic).subscribe();
        let phase = self.heartbeat.mul_f64(fastrand::f64());
        let mut heartbeats = tokio::time::interval_at(Instant::now() + phase, self.heartbeat);
        heartbeats.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let frames = stream::unfold(
            (events, heartbeats, true),
            |(mut events, mut heartbeats, first)| async move {
                if first {
                    let greeting = Bytes::from_static(GREETING);
                    return Some((Ok(Frame::data(greeting)), (events, heartbeats, false)));
                }
                let chunk = tokio::select! {
                    received = events.recv() => match received {
                        Ok(event) => event,
                        // Too far behind, or the topic is gone: end the stream.
                        Err(RecvError::Lagged(_) | RecvError::Closed) => return None,
                    },
                    _ = heartbeats.tick() => Bytes::from_static(HEARTBEAT),
                };
                Some((Ok(Frame::data(chunk)), (events, heartbeats, false)))
            },
        );
        let mut response = Response::new(StreamBody::new(frames).boxed());
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Empty::new().boxed());
    *response.status_mut() = code;
    response
}

/// A self-signed certificate for 127.0.0.1 and localhost, made once in `dir`.
fn tls_config(dir: &std::path::Path) -> Result<ServerConfig> {
    let (cert_path, key_path) = (dir.join("cert.der"), dir.join("key.der"));
    if !cert_path.exists() || !key_path.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let made = rcgen::generate_simple_self_signed(names)?;
        std::fs::write(&cert_path, made.cert.der())?;
        std::fs::write(&key_path, made.key_pair.serialize_der())?;
    }
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    };
    let cert = CertificateDer::from(read(&cert_path)?);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(read(&key_path)?));
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .with_context(|| format!("the certificate in {}", dir.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
