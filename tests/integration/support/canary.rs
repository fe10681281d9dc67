//! A well-behaved client on its own connections, run while an attack goes on: a subscriber
//! on one HTTP/2 connection and a paced publisher on another. Every event carries its
//! sequence number and its send time, so the subscriber tells losses, reorderings and the
//! publish-to-deliver latency.
//!
//! Self-contained (no `crate::` paths): the attack bench includes this file too.

#![allow(dead_code)]

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::{pki_types::ServerName, ClientConfig};
use tokio::{net::TcpStream, sync::watch, task::JoinHandle};
use tokio_rustls::TlsConnector;

/// How long the subscriber waits for the last published event once publishing stopped.
const DRAIN: Duration = Duration::from_secs(20);

/// What the canary saw.
#[derive(Debug, Clone, Default)]
pub struct CanaryReport {
    /// Events published (acknowledged with 200).
    pub published: u64,
    /// Publish requests that failed.
    pub publish_failures: u64,
    /// Events received, in order.
    pub received: u64,
    /// Published events never received.
    pub lost: u64,
    /// Events that arrived out of order or twice.
    pub out_of_order: u64,
    /// Publish-to-deliver latency of every received event, in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// Why the subscriber's stream ended early, if it did.
    pub stream_error: Option<String>,
}

impl CanaryReport {
    /// The `p`-th percentile latency (0 to 100), in microseconds.
    pub fn percentile_us(&self, p: f64) -> u64 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        self.latencies_us[rank.min(self.latencies_us.len() - 1)]
    }

    /// Panics unless every published event arrived, in order, and publishing never failed.
    pub fn assert_complete(&self, during: &str) {
        assert!(
            self.published > 0,
            "the canary published nothing during {during}: {self:?}"
        );
        assert_eq!(
            (
                self.lost,
                self.out_of_order,
                self.publish_failures,
                &self.stream_error
            ),
            (0, 0, 0, &None),
            "the canary was disturbed during {during}: {} published, {} received",
            self.published,
            self.received
        );
        assert_eq!(self.received, self.published, "during {during}");
    }
}

/// A running canary; [`Canary::finish`] stops it and reports.
pub struct Canary {
    stop: watch::Sender<Option<u64>>,
    publisher: JoinHandle<(u64, u64)>,
    subscriber: JoinHandle<CanaryReport>,
}

impl Canary {
    /// Subscribes to `topic` over HTTP/2 at `addr`, then publishes to it every `interval`
    /// from a second connection.
    pub async fn start(
        addr: SocketAddr,
        tls: Arc<ClientConfig>,
        topic: &str,
        interval: Duration,
    ) -> Self {
        let path = format!("/events/{topic}");
        let epoch = Instant::now();
        let mut sub = h2_connect(addr, tls.clone()).await;
        let response = sub
            .send_request(get(&path))
            .await
            .expect("canary subscribes");
        assert_eq!(response.status(), StatusCode::OK, "canary subscription");
        let body = response.into_body();
        let (stop, stopped) = watch::channel(None::<u64>);
        let subscriber = tokio::spawn(read_events(body, epoch, stopped.clone(), sub));
        let mut publisher_conn = h2_connect(addr, tls).await;
        let publisher = tokio::spawn(async move {
            let mut stopped = stopped;
            let mut published = 0u64;
            let mut failures = 0u64;
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stopped.changed() => break,
                }
                let data = format!("{} {}", published, epoch.elapsed().as_micros());
                let ok = async {
                    publisher_conn.ready().await.ok()?;
                    let response = publisher_conn.send_request(post(&path, data)).await.ok()?;
                    let ok = response.status() == StatusCode::OK;
                    response.into_body().collect().await.ok()?;
                    Some(ok)
                };
                match tokio::time::timeout(DRAIN, ok).await {
                    Ok(Some(true)) => published += 1,
                    _ => {
                        failures += 1;
                        // Sequence numbers stay dense over successful publishes only, so a
                        // failed publish is not counted as a loss twice.
                        if failures > 10 {
                            break;
                        }
                    }
                }
            }
            (published, failures)
        });
        Self {
            stop,
            publisher,
            subscriber,
        }
    }

    /// Stops publishing, waits for the last event (or the drain deadline) and reports.
    pub async fn finish(self) -> CanaryReport {
        let _ = self.stop.send(Some(u64::MAX));
        let (published, failures) = self.publisher.await.expect("publisher task");
        let _ = self.stop.send(Some(published));
        let mut report = self.subscriber.await.expect("subscriber task");
        report.published = published;
        report.publish_failures = failures;
        report.lost = published.saturating_sub(report.received);
        report.latencies_us.sort_unstable();
        report
    }
}

/// Reads the canary's stream until `stopped` names a count that has been received.
async fn read_events(
    mut body: hyper::body::Incoming,
    epoch: Instant,
    mut stopped: watch::Receiver<Option<u64>>,
    _conn: SendRequest<Full<Bytes>>,
) -> CanaryReport {
    let mut report = CanaryReport::default();
    let mut buf = BytesMut::new();
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    loop {
        if let Some(total) = *stopped.borrow() {
            if total != u64::MAX && report.received >= total {
                return report;
            }
            drain_deadline.get_or_insert_with(|| tokio::time::Instant::now() + DRAIN);
        }
        let deadline = drain_deadline.unwrap_or_else(|| tokio::time::Instant::now() + DRAIN * 100);
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = stopped.changed() => continue,
            _ = tokio::time::sleep_until(deadline) => return report,
        };
        let data = match frame {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Some(Err(e)) => {
                report.stream_error = Some(e.to_string());
                return report;
            }
            None => {
                report.stream_error = Some("the stream ended".into());
                return report;
            }
        };
        buf.extend_from_slice(&data);
        let now = epoch.elapsed().as_micros() as u64;
        while let Some(end) = find(&buf, b"\n\n") {
            let event = buf.split_to(end + 2);
            let Some(payload) = event[..]
                .split(|b| *b == b'\n')
                .find_map(|line| line.strip_prefix(b"data: "))
            else {
                continue; // a heartbeat comment
            };
            let text = String::from_utf8_lossy(payload);
            let mut parts = text.split(' ');
            let seq: u64 = parts
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(u64::MAX);
            let sent: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(now);
            if seq == report.received {
                report.received += 1;
                report.latencies_us.push(now.saturating_sub(sent));
            } else {
                report.out_of_order += 1;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .uri(format!("https://localhost{path}"))
        .body(Full::new(Bytes::new()))
        .expect("request")
}

fn post(path: &str, data: String) -> Request<Full<Bytes>> {
    Request::builder()
        .method("POST")
        .uri(format!("https://localhost{path}"))
        .body(Full::new(Bytes::from(data)))
        .expect("request")
}

/// A verified HTTP/2 connection over TLS, driven by its own task.
pub async fn h2_connect(addr: SocketAddr, tls: Arc<ClientConfig>) -> SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(addr).await.expect("canary connects");
    tcp.set_nodelay(true).expect("nodelay");
    let name = ServerName::try_from("localhost").expect("server name");
    let stream = TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .expect("canary TLS handshake");
    let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(stream))
        .await
        .expect("canary h2 handshake");
    tokio::spawn(conn);
    send
}
