//! Subscribers: one task per HTTP/2 connection drives all of that connection's streams.
//!
//! Why not a task per stream: the tool shares two cores with the server, so it has to be
//! lean. When a read brings DATA for many streams of a connection, h2 wakes each of
//! them; with the stream futures in one `FuturesUnordered`, those wakes only queue the
//! futures, and one run of the connection's task polls them all, instead of one trip
//! through the scheduler per stream. Each stream future lives for the whole run, so
//! nothing is allocated per event.

use std::future::poll_fn;
use std::ops::Range;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use h2::client::ResponseFuture;
use http::{header, Method, Request, StatusCode};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use crate::net::Target;
use crate::sse::{Payload, SseParser};
use crate::state::{Shared, StreamState};
use crate::stats::unix_nanos;

/// What every connection task needs to know.
pub struct Plan {
    pub target: Arc<Target>,
    /// Subscribe URI per topic.
    pub uris: Arc<[http::Uri]>,
    /// Bounds concurrent TCP + TLS handshakes, so a thousand connections do not all
    /// time out together on a busy box.
    pub handshakes: Arc<Semaphore>,
    /// Streams not answered by then are given up on (a server that allows fewer
    /// concurrent streams per connection than asked for never answers the rest).
    pub establish_by: Instant,
}

/// Open one connection, then the streams `streams` on it (stream `i` subscribes to topic
/// `i % topics`), and drive them until `stop` fires.
pub async fn run_connection(
    ctx: Arc<Shared>,
    plan: Arc<Plan>,
    streams: Range<usize>,
    mut stop: watch::Receiver<bool>,
) {
    let connected = {
        let _permit = plan.handshakes.acquire().await;
        let on_error = {
            let ctx = ctx.clone();
            move |e: h2::Error| ctx.h2_error("subscriber connection", &e)
        };
        plan.target.connect(on_error).await
    };
    let mut send_request = match connected {
        Ok(send_request) => send_request,
        Err(e) => {
            ctx.connection_error("subscriber connect", &format!("{e:#}"));
            streams.for_each(|i| ctx.slots[i].fail(0));
            return;
        }
    };

    let topics = plan.uris.len();
    let mut open = FuturesUnordered::new();
    let mut next = streams.start;
    // Open the streams one by one as h2 allows (it holds back a request while the
    // server's concurrency limit is reached), driving the already open ones meanwhile.
    while next < streams.end {
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            ready = poll_fn(|cx| send_request.poll_ready(cx)) => {
                if let Err(e) = ready {
                    ctx.h2_error("opening streams", &e);
                    break;
                }
                let (index, topic) = (next, next % topics);
                next += 1;
                match send_request.send_request(subscribe_request(&plan.uris[topic]), true) {
                    Ok((response, _)) => open.push(drive_stream(&ctx, index, topic, response)),
                    Err(e) => {
                        ctx.h2_error("opening a stream", &e);
                        ctx.slots[index].fail(0);
                    }
                }
            }
            Some(()) = open.next(), if !open.is_empty() => {}
            () = tokio::time::sleep_until(plan.establish_by) => {
                eprintln!(
                    "load: gave up opening {} streams on a connection; the server allows {} \
                     concurrent streams per connection",
                    streams.end - next,
                    send_request.current_max_send_streams(),
                );
                break;
            }
        }
    }
    (next..streams.end).for_each(|i| ctx.slots[i].fail(0));

    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            done = open.next() => if done.is_none() {
                // Every stream has ended; hold the connection until the run is over.
                let _ = stop.changed().await;
                break;
            },
        }
    }
    // Dropping the streams resets them (CANCEL) and dropping `send_request` then lets h2
    // close the connection.
}

fn subscribe_request(uri: &http::Uri) -> Request<()> {
    let mut request = Request::new(());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    // nchan serves its eventsource subscriber only to clients that accept it.
    headers.insert(
        header::ACCEPT,
        header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    request
}

/// One subscriber stream: wait for the response, then parse events until the stream or
/// the run ends, keeping the stream's slot up to date.
async fn drive_stream(ctx: &Shared, index: usize, topic: usize, response: ResponseFuture) {
    let slot = &ctx.slots[index];
    let response = match response.await {
        Ok(response) => response,
        Err(e) => {
            ctx.h2_error("subscribe request", &e);
            slot.fail(0);
            return;
        }
    };
    if response.status() != StatusCode::OK {
        ctx.connection_error("subscribe refused", &response.status());
        slot.fail(response.status().as_u16());
        return;
    }
    // The publisher numbers an event before sending it, so every event numbered `start`
    // or later is sent after this point, after the server answered this subscription:
    // those are owed. Earlier ones may or may not arrive.
    let start = ctx.next_seq[topic].load(Relaxed);
    slot.start_seq.store(start, Relaxed);
    slot.set_state(StreamState::Established);

    let mut body = response.into_body();
    let mut parser = SseParser::default();
    let (run, topic_id) = (ctx.run, topic as u64);
    let mut seen = Seen::new();
    let (mut received, mut duplicates, mut reordered) = (0u64, 0u64, 0u64);
    while let Some(chunk) = body.data().await {
        let chunk: Bytes = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                if !ctx.stopping.load(Relaxed) {
                    ctx.h2_error("subscriber stream", &e);
                    slot.set_state(StreamState::Ended);
                }
                return;
            }
        };
        // Hand the window back at once, or the server stalls once it has sent 1 MiB.
        let _ = body.flow_control().release_capacity(chunk.len());

        // One clock reading per DATA frame: the events in it arrived together.
        let now = unix_nanos();
        let window = (
            ctx.window_start_ns.load(Relaxed),
            ctx.window_end_ns.load(Relaxed),
        );
        let (mut delivered, mut measured, mut foreign) = (0, 0, 0);
        let comments = parser.comments;
        parser.feed(&chunk, |data| {
            let Some(event) = Payload::parse(data).filter(|p| p.run == run && p.topic == topic_id)
            else {
                foreign += 1;
                return;
            };
            delivered += 1;
            // Events published before the stream was established are a bonus, not owed.
            if event.seq >= start {
                match seen.arrive(event.seq) {
                    Arrival::InOrder => received += 1,
                    Arrival::Reordered => {
                        received += 1;
                        reordered += 1;
                    }
                    Arrival::Duplicate => duplicates += 1,
                }
            }
            if (window.0..window.1).contains(&event.sent_ns) {
                measured += 1;
                ctx.latency.record(now.saturating_sub(event.sent_ns) / 1000);
            }
        });
        slot.received.store(received, Relaxed);
        slot.duplicates.store(duplicates, Relaxed);
        slot.reordered.store(reordered, Relaxed);
        if delivered > 0 {
            ctx.delivered.fetch_add(delivered, Relaxed);
        }
        if measured > 0 {
            ctx.measured.fetch_add(measured, Relaxed);
        }
        if foreign > 0 {
            ctx.foreign.fetch_add(foreign, Relaxed);
        }
        if parser.comments > comments {
            ctx.heartbeats
                .fetch_add(parser.comments - comments, Relaxed);
        }
    }
    if !ctx.stopping.load(Relaxed) {
        slot.set_state(StreamState::Ended);
    }
}

/// Sequence numbers remembered per stream to tell repeats from late arrivals: the
/// highest seen and which of the `SEEN_WINDOW` below it arrived (a ring of bits, 512 B).
const SEEN_WINDOW: u64 = 4096;

/// How an event's sequence number relates to those already received.
enum Arrival {
    /// Higher than any before (possibly after a gap).
    InOrder,
    /// Lower than one already received, and new.
    Reordered,
    /// Already received; also an event older than the window, which cannot be told apart.
    Duplicate,
}

struct Seen {
    bits: Box<[u64]>,
    high: Option<u64>,
}

impl Seen {
    fn new() -> Seen {
        Seen {
            bits: vec![0; (SEEN_WINDOW / 64) as usize].into_boxed_slice(),
            high: None,
        }
    }

    fn arrive(&mut self, seq: u64) -> Arrival {
        match self.high {
            Some(high) if seq <= high => {
                if high - seq >= SEEN_WINDOW || self.test_and_set(seq) {
                    Arrival::Duplicate
                } else {
                    Arrival::Reordered
                }
            }
            high => {
                // The ring slots of the numbers skipped over now stand for those numbers:
                // clear them (all of them after a gap wider than the window).
                let from = high.map_or(seq, |h| h + 1);
                if seq - from >= SEEN_WINDOW {
                    self.bits.fill(0);
                } else {
                    (from..seq).for_each(|s| self.clear(s));
                }
                self.clear(seq);
                self.test_and_set(seq);
                self.high = Some(seq);
                Arrival::InOrder
            }
        }
    }

    fn test_and_set(&mut self, seq: u64) -> bool {
        let (word, bit) = (((seq % SEEN_WINDOW) / 64) as usize, seq % 64);
        let was = self.bits[word] & (1 << bit) != 0;
        self.bits[word] |= 1 << bit;
        was
    }

    fn clear(&mut self, seq: u64) {
        let (word, bit) = (((seq % SEEN_WINDOW) / 64) as usize, seq % 64);
        self.bits[word] &= !(1 << bit);
    }
}

/// Checks of the repeat/reorder bookkeeping, run by `--self-test`.
pub fn self_test() -> Result<(), String> {
    let mut seen = Seen::new();
    let arrivals = [
        (5, "in order"),
        (6, "in order"),
        (9, "in order"),
        (7, "reordered"),
        (7, "duplicate"),
        (9, "duplicate"),
        (8, "reordered"),
        (9 + SEEN_WINDOW, "in order"),
        (10, "reordered"), // the oldest number still in the window
        (3, "duplicate"),  // older than the window: cannot tell, counted as a repeat
        (11 + SEEN_WINDOW, "in order"),
        (10 + SEEN_WINDOW, "reordered"),
    ];
    for (seq, want) in arrivals {
        let got = match seen.arrive(seq) {
            Arrival::InOrder => "in order",
            Arrival::Reordered => "reordered",
            Arrival::Duplicate => "duplicate",
        };
        if got != want {
            return Err(format!("sequence {seq}: {got}, want {want}"));
        }
    }
    Ok(())
}
