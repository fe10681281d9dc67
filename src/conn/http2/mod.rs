//! HTTP/2 served with the `h2` crate directly, one task per connection.
//!
//! hyper runs every HTTP/2 stream as a task of its own, with a service future and a boxed
//! body pipe, and polls and frames each delivery separately. Here the connection's task
//! accepts the requests and hands each to the router on a task of its own (publish,
//! Mercure, the gateway and the demo page are answered from there, as with hyper); an
//! event stream's response comes back to the connection, which keeps it in its own table
//! ([`streams::EventStreams`]). When an event reaches several streams of the connection,
//! the connection polls them in one pass and `h2` writes their DATA frames in one flush.
//!
//! Observable behaviour stays hyper's: `max_concurrent_streams` and the windows are `h2`'s
//! settings, keep-alive PINGs close a connection whose peer stops answering, a graceful
//! shutdown sends GOAWAY and lets the open streams end, and responses carry `date` and,
//! for bodies of known size, `content-length`.

mod body;
mod budget;
mod keepalive;
mod streams;

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use h2::server::{Connection, Handshake, SendResponse};
use http::{Method, Request, Response};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
};
use tracing::Instrument;

use crate::{
    config::Http2Config,
    http::{ConnInfo, ResponseBody, TrustedProxies},
    router::App,
    sse::{EventSource, SseBody},
    stall::{StallMark, StallWatch},
};
use budget::{Budget, Budgeted};
use keepalive::KeepAlive;
use streams::EventStreams;

/// Requests a connection hands to the router per turn. A client that opens hundreds of
/// streams in one write would otherwise queue a task for each at once, and every other
/// connection's work (an event for another subscriber) would wait behind all of them; in
/// batches, it waits behind one batch.
const ACCEPTS_PER_POLL: usize = 32;

/// Event streams a connection opens per turn. Each queues two frames (the response head
/// and the opening comment) in `h2`'s send buffer until the turn's write, and that buffer's
/// slab never shrinks: a client that opens 100 streams at once would leave it at 256
/// slots (~23 KiB) for the connection's life. Opened in batches, between writes, it stays
/// at 64.
const OPENS_PER_POLL: usize = 16;

/// Requests a client may cancel before the connection even read them, per second, before
/// the connection is closed with GOAWAY(ENHANCE_YOUR_CALM): the rapid-reset attack
/// (CVE-2023-44487). `h2` counts such streams only while they wait in one read's batch
/// (20 at most), and the connection reads a little per turn (see [`budget`]), so it is
/// counted here, with `h2`'s limit. A browser cancels streams it has had for a while, not
/// ones it has just sent. (At 100, attackers got five times as many requests read before
/// the GOAWAY, and a canary's p99 doubled under the attack.)
const EARLY_RESETS_PER_SECOND: u32 = 20;

/// Why a connection ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum Http2Error {
    /// A protocol or I/O error.
    #[error(transparent)]
    Protocol(#[from] h2::Error),
    /// The peer did not answer a keep-alive PING in time.
    #[error("no answer to a keep-alive PING")]
    KeepAliveTimedOut,
}

/// What each request of a connection is given besides itself.
#[derive(Clone)]
pub(super) struct Requests {
    pub app: App,
    pub info: ConnInfo,
    pub trusted: TrustedProxies,
    /// Set at the first request (the first-request deadline's business).
    pub got_request: Arc<AtomicBool>,
    /// Where responses held back at a zero window are noticed (the caller cuts the
    /// connection when one stalls).
    pub stall: StallWatch,
}

/// An event stream's response, from the request's task back to the connection.
struct Handoff {
    respond: SendResponse<Bytes>,
    head: http::response::Parts,
    body: Box<SseBody<dyn EventSource>>,
    mark: StallMark,
}

/// One HTTP/2 connection, from the preface to its end.
pub(super) struct Http2Connection<I> {
    state: State<I>,
    config: Http2Config,
    requests: Requests,
    /// What the transport may still read this turn (see [`budget`]).
    budget: Budget,
}

enum State<I> {
    Handshaking(Pin<Box<Handshake<Budgeted<I>, Bytes>>>),
    Serving(Box<Serving<I>>),
    Done,
}

struct Serving<I> {
    conn: Connection<Budgeted<I>, Bytes>,
    /// False once `h2` accepts no more requests (GOAWAY sent or received).
    accepting: bool,
    /// A graceful shutdown started: requests that still arrive are refused.
    draining: bool,
    /// Boxed: the channel allocates its first block of 32 slots with the connection, and
    /// 32 handoffs by value are ~5 KiB a connection holds for life (a fifth of an idle one).
    handoffs_tx: mpsc::UnboundedSender<Box<Handoff>>,
    handoffs: mpsc::UnboundedReceiver<Box<Handoff>>,
    streams: EventStreams,
    keepalive: Option<KeepAlive>,
    early_resets: EarlyResets,
}

/// Requests the client cancelled before the connection read them, in the current second.
#[derive(Default)]
struct EarlyResets {
    since: Option<tokio::time::Instant>,
    count: u32,
}

impl EarlyResets {
    /// Counts one; false once the client is over [`EARLY_RESETS_PER_SECOND`].
    fn count(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        match self.since {
            Some(since) if now.duration_since(since) < std::time::Duration::from_secs(1) => {}
            _ => {
                self.since = Some(now);
                self.count = 0;
            }
        }
        self.count += 1;
        self.count <= EARLY_RESETS_PER_SECOND
    }
}

impl<I> Http2Connection<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Serves `io` (whose peer chose `h2`) with `config`'s settings.
    pub fn new(io: I, config: &Http2Config, requests: Requests) -> Self {
        let mut builder = h2::server::Builder::new();
        builder
            .max_concurrent_streams(config.max_concurrent_streams)
            .initial_window_size(config.initial_stream_window)
            .initial_connection_window_size(config.initial_connection_window)
            .max_header_list_size(config.max_header_list_size)
            .max_send_buffer_size(config.max_send_buf_size);
        let budget = Budget::default();
        let io = Budgeted::new(io, budget.clone());
        Self {
            state: State::Handshaking(Box::pin(builder.handshake(io))),
            config: config.clone(),
            requests,
            budget,
        }
    }

    /// Closes the connection after a GOAWAY (NO_ERROR; no stream was processed) once it is
    /// written, open streams or not. Returns whether there is a GOAWAY to write (none
    /// before the handshake ends).
    pub fn give_up(mut self: Pin<&mut Self>) -> bool {
        match &mut self.state {
            State::Serving(serving) => {
                serving.conn.abrupt_shutdown(h2::Reason::NO_ERROR);
                true
            }
            State::Handshaking(_) | State::Done => {
                self.state = State::Done;
                false
            }
        }
    }

    /// Sends GOAWAY: no new request is accepted, and the open streams may end.
    pub fn graceful_shutdown(mut self: Pin<&mut Self>) {
        match &mut self.state {
            State::Serving(serving) => {
                serving.draining = true;
                serving.conn.graceful_shutdown();
            }
            // Nothing was asked on it yet: nothing to finish.
            State::Handshaking(_) => self.state = State::Done,
            State::Done => {}
        }
    }
}

impl<I> Future for Http2Connection<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Output = Result<(), Http2Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.budget.refill();
        loop {
            match &mut this.state {
                State::Handshaking(handshake) => match handshake.as_mut().poll(cx) {
                    Poll::Ready(Ok(mut conn)) => {
                        let keepalive = KeepAlive::new(
                            conn.ping_pong(),
                            this.config.keepalive_interval,
                            this.config.keepalive_timeout,
                        );
                        let (handoffs_tx, handoffs) = mpsc::unbounded_channel();
                        this.state = State::Serving(Box::new(Serving {
                            conn,
                            accepting: true,
                            draining: false,
                            handoffs_tx,
                            handoffs,
                            streams: EventStreams::new(),
                            keepalive,
                            early_resets: EarlyResets::default(),
                        }));
                    }
                    Poll::Ready(Err(e)) => {
                        this.state = State::Done;
                        return Poll::Ready(Err(e.into()));
                    }
                    Poll::Pending => return Poll::Pending,
                },
                State::Serving(serving) => {
                    let polled = serving.poll(cx, &this.requests);
                    if polled.is_ready() {
                        this.state = State::Done;
                    }
                    return polled;
                }
                State::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<I> Serving<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn poll(&mut self, cx: &mut Context<'_>, requests: &Requests) -> Poll<Result<(), Http2Error>> {
        self.streams.ready().register(cx.waker());
        // Event streams whose response is ready, from their requests' tasks.
        let mut opened = 0;
        while let Poll::Ready(Some(handoff)) = self.handoffs.poll_recv(cx) {
            self.open(*handoff);
            opened += 1;
            if opened == OPENS_PER_POLL {
                // The rest after this turn's write (see OPENS_PER_POLL).
                cx.waker().wake_by_ref();
                break;
            }
        }
        // Every stream woken since the last pass (or due a heartbeat) writes into the send
        // buffer...
        self.streams.poll_heartbeats(cx);
        self.streams.poll_ready();
        if let Some(keepalive) = &mut self.keepalive {
            if keepalive.poll(cx).is_err() {
                tracing::debug!("no answer to a keep-alive PING; closing");
                self.conn.abrupt_shutdown(h2::Reason::NO_ERROR);
                return Poll::Ready(Err(Http2Error::KeepAliveTimedOut));
            }
        }
        // ... and the connection writes it all, then reads what came.
        let mut accepted = 0;
        while self.accepting {
            if accepted == ACCEPTS_PER_POLL {
                // Another turn after the tasks queued meanwhile (see ACCEPTS_PER_POLL).
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            accepted += 1;
            match self.conn.poll_accept(cx) {
                Poll::Ready(Some(Ok((request, mut respond)))) => {
                    // A no-op waker: the stream's own task registers when it waits.
                    let mut probe = Context::from_waker(std::task::Waker::noop());
                    if respond.poll_reset(&mut probe).is_ready() {
                        // Cancelled before it was read: nothing to answer, nothing to start.
                        if !self.early_resets.count() {
                            tracing::debug!("requests cancelled as they are sent; closing");
                            self.conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                            self.accepting = false;
                        }
                        continue;
                    }
                    self.dispatch(request, respond, requests)
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e.into())),
                Poll::Ready(None) => self.accepting = false,
                Poll::Pending => return Poll::Pending,
            }
        }
        self.conn.poll_closed(cx).map_err(Http2Error::from)
    }

    /// Hands a request to the router on a task of its own.
    fn dispatch(
        &mut self,
        request: Request<h2::RecvStream>,
        respond: SendResponse<Bytes>,
        requests: &Requests,
    ) {
        requests.got_request.store(true, Ordering::Relaxed);
        if self.draining {
            // h2's first GOAWAY names no last stream (it waits a PING round trip before
            // naming one), so a request sent meanwhile arrives: refused, the client may
            // retry it elsewhere knowing it was not processed.
            let mut respond = respond;
            respond.send_reset(h2::Reason::REFUSED_STREAM);
            return;
        }
        let (parts, recv) = request.into_parts();
        let body = body::RequestBody::new(recv, &parts.headers);
        let mut request = Request::from_parts(parts, body);
        let info = requests
            .info
            .for_request(request.headers(), &requests.trusted);
        request.extensions_mut().insert(info);
        let head_only = request.method() == Method::HEAD;
        let app = requests.app.clone();
        let handoffs = self.handoffs_tx.clone();
        let mark = requests.stall.mark();
        tokio::spawn(
            async move {
                let mut response = app.handle(request).await;
                body::head(&mut response);
                let (head, response_body) = response.into_parts();
                match response_body {
                    ResponseBody::Events(body) if !head_only => {
                        // The connection is gone when this fails: the stream goes with it.
                        let _ = handoffs.send(Box::new(Handoff {
                            respond,
                            head,
                            body,
                            mark,
                        }));
                    }
                    other => {
                        let response = Response::from_parts(head, other);
                        body::respond(respond, response, head_only, mark).await
                    }
                }
            }
            .in_current_span(),
        );
    }

    /// Sends an event stream's response head and takes the stream into the table.
    fn open(&mut self, handoff: Handoff) {
        let Handoff {
            mut respond,
            head,
            body,
            mark,
        } = handoff;
        match respond.send_response(Response::from_parts(head, ()), false) {
            Ok(send) => self.streams.insert(send, body, mark),
            // Reset by the client meanwhile: the body (and its subscription) goes.
            Err(e) => tracing::debug!(error = %e, "event stream gone before its response"),
        }
    }
}
