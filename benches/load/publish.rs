//! The publisher: one task paces publish requests at the target rate and cycles the
//! topics round-robin; topic `k` is published over connection `k % pub_conns`.

use std::future::poll_fn;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use h2::client::{ResponseFuture, SendRequest};
use http::{header, Method, Request, StatusCode};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use crate::net::Target;
use crate::sse::Payload;
use crate::state::Shared;
use crate::stats::unix_nanos;

/// How long a publish may take before it counts as failed.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// After a stall, catch up on at most this much of the backlog; older ticks are dropped
/// (and counted), so a frozen server is not then flooded.
const MAX_BACKLOG: Duration = Duration::from_secs(1);

/// What to publish.
pub struct PublishPlan {
    /// Publish URI per topic.
    pub uris: Vec<http::Uri>,
    pub method: Method,
    /// Events per second, over all topics.
    pub rate: f64,
    /// Bytes of padding after the payload.
    pub pad: usize,
    /// Mercure form publication: the `topic` field per topic (the payload goes in `data`).
    pub form_topics: Option<Vec<String>>,
    /// Extra request headers.
    pub headers: http::HeaderMap,
}

/// What the publisher saw, beyond the counters in [`Shared`].
#[derive(Debug, Default)]
pub struct PublishOutcome {
    /// Events not sent because the publisher fell more than [`MAX_BACKLOG`] behind.
    pub dropped_behind: u64,
    /// Ticks on which no connection could take another request (all at the server's
    /// concurrent stream limit, or reconnecting).
    pub stalled_ticks: u64,
    /// Connections replaced after the server closed them (nginx closes a connection
    /// after `keepalive_requests` requests) or they failed.
    pub reconnects: u64,
}

/// Open a publisher connection.
pub async fn connect(ctx: &Arc<Shared>, target: &Target) -> anyhow::Result<SendRequest<Bytes>> {
    let ctx = ctx.clone();
    target
        .connect(move |e| ctx.h2_error("publisher connection", &e))
        .await
}

/// Publish until `stop` fires, then wait for the answers still outstanding.
pub async fn run_publisher(
    ctx: Arc<Shared>,
    target: Arc<Target>,
    conns: Vec<SendRequest<Bytes>>,
    plan: PublishPlan,
    mut stop: watch::Receiver<bool>,
) -> PublishOutcome {
    let mut outcome = PublishOutcome::default();
    let topics = plan.uris.len();
    let max_backlog = (plan.rate * MAX_BACKLOG.as_secs_f64()).max(1.0) as u64;
    // The interval only wakes the pacer; how many events are due is computed from the
    // elapsed time (`due`), so a late wake-up sends the events it owes in one go and the
    // rate holds. `Skip` then avoids a string of back-to-back wake-ups after a stall that
    // `Burst` would fire, each finding nothing more due. Ticks faster than the 1 ms timer
    // resolution would not be kept anyway: above 1,000 events/s each tick sends several.
    let period = Duration::from_secs_f64(1.0 / plan.rate).max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let started = Instant::now();
    let mut credited = 0u64;
    let mut published = 0u64;
    // `None` while a connection is being replaced.
    let mut conns: Vec<Option<SendRequest<Bytes>>> = conns.into_iter().map(Some).collect();
    let mut reconnecting_now = vec![false; conns.len()];
    let mut reconnecting = FuturesUnordered::new();
    let mut in_flight = FuturesUnordered::new();

    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some((topic, seq, result)) = in_flight.next() => {
                settle(&ctx, topic, seq, result);
            }
            Some((index, conn)) = reconnecting.next() => {
                conns[index] = Some(conn);
                reconnecting_now[index] = false;
                outcome.reconnects += 1;
            }
            _ = ticker.tick() => {
                let due = (started.elapsed().as_secs_f64() * plan.rate) as u64;
                if due > credited + max_backlog {
                    outcome.dropped_behind += due - credited - max_backlog;
                    credited = due - max_backlog;
                }
                while credited < due {
                    let topic = (published % topics as u64) as usize;
                    // Each topic keeps to one connection: requests on one connection
                    // reach the server in order, so a topic's events are published in
                    // sequence (spread over connections, they would race each other).
                    let index = topic % conns.len();
                    let Some(conn) = ready(&ctx, &mut conns[index]).await else {
                        if conns[index].is_none() && !reconnecting_now[index] {
                            reconnecting_now[index] = true;
                            reconnecting.push(reconnect(&ctx, &target, index));
                        }
                        // Stays due for the next tick.
                        outcome.stalled_ticks += 1;
                        break;
                    };
                    credited += 1;
                    published += 1;
                    // Bumped before the request exists: a subscriber established after
                    // this point does not expect this event (see `drive_stream`).
                    let seq = ctx.next_seq[topic].fetch_add(1, Relaxed);
                    ctx.published.fetch_add(1, Relaxed);
                    let event = Payload {
                        run: ctx.run,
                        topic: topic as u64,
                        seq,
                        sent_ns: unix_nanos(),
                    };
                    match send(conn, &plan, topic, event.encode(plan.pad)) {
                        Ok(response) => in_flight.push(answer(topic, seq, response)),
                        Err(e) => settle(&ctx, topic, seq, Err(e)),
                    }
                }
            }
        }
    }

    // Publishing has stopped; collect the answers still on their way (each has its own
    // deadline, so this ends within PUBLISH_TIMEOUT).
    while let Some((topic, seq, result)) = in_flight.next().await {
        settle(&ctx, topic, seq, result);
    }
    outcome
}

/// Replace publisher connection `index`, retrying every 500 ms.
async fn reconnect(
    ctx: &Arc<Shared>,
    target: &Target,
    index: usize,
) -> (usize, SendRequest<Bytes>) {
    loop {
        match connect(ctx, target).await {
            Ok(conn) => return (index, conn),
            Err(e) => {
                ctx.connection_error("reconnecting the publisher", &format!("{e:#}"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// The connection if it can open a stream now. Polled once without waiting: the waker
/// registered when it cannot wakes the pacer early, which is harmless. A connection h2
/// reports as closed is taken out (`None`) for the caller to replace.
async fn ready<'a>(
    ctx: &Shared,
    slot: &'a mut Option<SendRequest<Bytes>>,
) -> Option<&'a mut SendRequest<Bytes>> {
    let conn = slot.as_mut()?;
    match poll_fn(|cx| Poll::Ready(conn.poll_ready(cx))).await {
        Poll::Ready(Ok(())) => slot.as_mut(),
        Poll::Ready(Err(e)) => {
            ctx.h2_error("publisher connection", &e);
            *slot = None;
            None
        }
        Poll::Pending => None,
    }
}

fn send(
    conn: &mut SendRequest<Bytes>,
    plan: &PublishPlan,
    topic: usize,
    body: Vec<u8>,
) -> Result<ResponseFuture, String> {
    let mut request = Request::new(());
    *request.method_mut() = plan.method.clone();
    *request.uri_mut() = plan.uris[topic].clone();
    let headers = request.headers_mut();
    headers.clone_from(&plan.headers);
    let (body, content_type) = match &plan.form_topics {
        Some(topics) => {
            let data = String::from_utf8_lossy(&body);
            let form = form_urlencoded::Serializer::new(String::new())
                .append_pair("topic", &topics[topic])
                .append_pair("data", &data)
                .finish();
            (form.into_bytes(), "application/x-www-form-urlencoded")
        }
        None => (body, "text/plain"),
    };
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from(body.len()),
    );
    let (response, mut stream) = conn
        .send_request(request, false)
        .map_err(|e| e.to_string())?;
    // The body is never empty (the payload is at least "R T S N"), and h2 buffers it
    // whatever the flow control window: it is tiny.
    stream
        .send_data(Bytes::from(body), true)
        .map_err(|e| e.to_string())?;
    Ok(response)
}

/// Wait for a publish's answer and read its body (nchan sends channel info), giving
/// the flow control window back.
async fn answer(
    topic: usize,
    seq: u64,
    response: ResponseFuture,
) -> (usize, u64, Result<StatusCode, String>) {
    let result = tokio::time::timeout(PUBLISH_TIMEOUT, async {
        let response = response.await?;
        let status = response.status();
        let mut body = response.into_body();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        Ok::<_, h2::Error>(status)
    })
    .await;
    let result = match result {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {PUBLISH_TIMEOUT:?}")),
    };
    (topic, seq, result)
}

/// Count a publish's outcome; a failed one is not expected by any subscriber.
fn settle(ctx: &Shared, topic: usize, seq: u64, result: Result<StatusCode, String>) {
    let error = match result {
        Ok(status) if status.is_success() => {
            ctx.publish_ok.fetch_add(1, Relaxed);
            return;
        }
        Ok(status) => format!("status {status}"),
        Err(e) => e,
    };
    if ctx.publish_errors.fetch_add(1, Relaxed) < 5 {
        eprintln!("load: publish to topic {topic} failed: {error}");
    }
    if let Ok(mut failed) = ctx.failed.lock() {
        failed.push((topic as u32, seq));
    }
}
