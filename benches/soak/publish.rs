//! Publishers: each owns some topics and publishes to them in turn at a steady rate over
//! an HTTP/2 connection of its own, awaiting each answer, so a topic's events reach the hub
//! in sequence order. Sequence numbers are per topic, from 0, and count accepted events.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::check::payload;
use super::conn::{deadline, Connector, H2Connection};
use super::subscribe::{lock, topic_name, Phase};

/// Counters shared by the publishers.
#[derive(Debug, Default)]
pub struct PublishCounters {
    /// Events the hub accepted (200).
    pub published: AtomicU64,
    /// Publishes that failed: whether the hub kept the event is unknown, so each one is a
    /// failure of the run (a loss or a surprise event may follow).
    pub errors: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// One publisher: its topics and their next sequence numbers (shared with the run, which
/// reads the final counts).
pub struct Publisher {
    pub topics: Vec<u64>,
    /// Events per second over its topics.
    pub rate: f64,
    /// Padding bytes per event.
    pub pad: usize,
}

/// The per-topic count of accepted events: after the run, the sequence every subscriber
/// of the topic must have reached.
pub type Published = Arc<Vec<AtomicU64>>;

/// Publishes one event on `topic` with the next sequence number; the hub's id on success.
pub async fn publish_one(
    connection: &H2Connection,
    connector: &Connector,
    run: u64,
    topic: u64,
    pad: usize,
    published: &Published,
) -> Result<String> {
    let seq = published[topic as usize].load(Relaxed);
    let body = payload(run, topic, seq, pad);
    let request = Request::post(format!(
        "https://{}/events/{}",
        connector.authority,
        topic_name(topic)
    ))
    .header(http::header::CONTENT_TYPE, "text/plain")
    .body(Full::new(Bytes::from(body)))?;
    let response = connection.request(request).await?;
    let status = response.status();
    let body = deadline("publish answer", response.into_body().collect())
        .await??
        .to_bytes();
    if status != StatusCode::OK {
        bail!(
            "publish to {}: {status} {}",
            topic_name(topic),
            String::from_utf8_lossy(&body)
        );
    }
    // Only an accepted event takes its number: the next one reuses a refused number.
    published[topic as usize].fetch_add(1, Relaxed);
    let answer: serde_json::Value =
        serde_json::from_slice(&body).context("publish answer is not JSON")?;
    answer["id"]
        .as_str()
        .map(str::to_owned)
        .context("publish answer has no id")
}

/// Publishes at the publisher's rate until the phase leaves [`Phase::Chaos`].
pub async fn run_publisher(
    publisher: Publisher,
    connector: Arc<Connector>,
    run: u64,
    published: Published,
    counters: Arc<PublishCounters>,
    mut phase: watch::Receiver<Phase>,
) {
    let connection = match connector.http2().await {
        Ok(connection) => connection,
        Err(e) => {
            counters.errors.fetch_add(1, Relaxed);
            *lock(&counters.last_error) = Some(format!("publisher connect: {e:#}"));
            return;
        }
    };
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / publisher.rate));
    // Behind schedule (a busy machine), publish late rather than in a burst.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for &topic in publisher.topics.iter().cycle() {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = phase.wait_for(|p| *p != Phase::Chaos) => return,
        }
        let outcome = publish_one(
            &connection,
            &connector,
            run,
            topic,
            publisher.pad,
            &published,
        );
        if let Err(e) = outcome.await {
            counters.errors.fetch_add(1, Relaxed);
            *lock(&counters.last_error) = Some(format!("{e:#}"));
        } else {
            counters.published.fetch_add(1, Relaxed);
        }
    }
}
