//! HTTP/2 served with the project's own framing ([`crate::h2wire`]), one task per
//! connection and no per-stream task, lock or buffer beyond what a stream needs.
//!
//! The connection's task reads frames, hands each request to the router (publish, Mercure,
//! the gateway, the demo page, a subscription's setup: polled once in the connection's
//! turn, then on a task of its own if it waits), and sends every response itself: the
//! router's answer is taken at once or comes back over a channel, the connection writes
//! its head and keeps its body in the stream table ([`streams`]), and when bodies
//! have data (an event reaching several subscribers of the connection), their DATA frames
//! are written into one buffer in one pass and leave in one write. Request bodies go the
//! other way through a small shared queue ([`request_body`]), their window given back as
//! the router reads them.
//!
//! What `h2` did and the connection now does itself: the settings exchange, flow control
//! both ways, `max_concurrent_streams` (REFUSED_STREAM beyond it), header blocks bounded in
//! size and in CONTINUATION frames, keep-alive PINGs, GOAWAY on drain, and the answers to
//! floods: a client that sends PINGs or SETTINGS without reading their answers is no
//! longer read once the answers pile up (the write-stall timeout then cuts it), and one
//! that cancels requests as it sends them gets GOAWAY(ENHANCE_YOUR_CALM).

mod batch;
mod keepalive;
mod recv;
mod request;
mod request_body;
mod respond;
mod response;
mod sending;
mod streams;
mod wake;

use std::{
    future::Future,
    io,
    mem::MaybeUninit,
    pin::Pin,
    sync::{atomic::AtomicBool, Arc},
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use http::Request;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::mpsc,
};

use crate::{
    config::Http2Config,
    h2wire::{
        frame::{self, ErrorCode, FrameReader, Settings},
        hpack::{Decoder, Encoder, DEFAULT_TABLE_SIZE},
    },
    http::{ConnInfo, TrustedProxies},
    router::App,
    stall::StallWatch,
};
use batch::Batch;
use keepalive::KeepAlive;
use recv::EarlyResets;
use request_body::Credits;
pub use request_body::RequestBody;
use respond::Answer;
use sending::Out;
use streams::Streams;

/// Requests a connection hands to the router per turn. A client that opens hundreds of
/// streams in one write would otherwise have all of them handled (or queued as tasks) at
/// once, and every other connection's work (an event for another subscriber) would wait
/// behind all of them; in batches, it waits behind one batch.
const ACCEPTS_PER_TURN: usize = 32;

/// Bytes read per turn: a turn decodes at most this much before it writes.
const READ_PER_TURN: usize = 16 << 10;

/// Bytes asked of the transport per read.
const READ_CHUNK: usize = 4 << 10;

/// Above this many bytes waiting to be written, the connection stops reading (the answers
/// to a client's PINGs and SETTINGS pile up only as far as this) and streams wait.
const HIGH_WATER: usize = 64 << 10;

/// A write buffer larger than this is released once written, so an idle connection does
/// not keep a burst's buffer.
const KEEP_CAPACITY: usize = 16 << 10;

/// Streams the connection may reset for the client's errors (malformed requests, flow
/// control) before it ends the connection with GOAWAY(ENHANCE_YOUR_CALM): `h2`'s limit.
const STREAM_ERRORS_MAX: u32 = 1024;

/// Why a connection ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum Http2Error {
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The client broke the protocol; the connection sent GOAWAY with `code`.
    #[error("protocol error {code}: {reason}")]
    Protocol {
        code: ErrorCode,
        reason: &'static str,
    },
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

/// One HTTP/2 connection, from the preface to its end.
pub(super) struct Http2Connection<I> {
    io: I,
    conn: Box<Conn>,
}

/// Everything but the transport.
struct Conn {
    config: Http2Config,
    requests: Requests,
    /// Bytes of the client's preface still to come.
    preface_left: usize,
    /// The client's first SETTINGS came.
    got_settings: bool,
    /// The client acknowledged ours.
    settings_acked: bool,
    read_buf: BytesMut,
    eof: bool,
    out: Vec<u8>,
    /// Event frames on their way into `out` (see `sending::Out::parts`).
    parts: Vec<Bytes>,
    written: usize,
    reader: FrameReader,
    decoder: Decoder,
    encoder: Encoder,
    peer_initial_window: u32,
    peer_max_frame_size: u32,
    send_window: i64,
    recv_window: i64,
    /// Connection window the readers consumed, not yet given back.
    recv_owed: u32,
    streams: Streams,
    credits: Arc<Credits>,
    /// The highest stream id the client opened.
    last_id: u32,
    block: Option<recv::Block>,
    /// False once no more requests are taken (GOAWAY sent or received).
    accepting: bool,
    /// A graceful shutdown started.
    draining: bool,
    peer_goaway: bool,
    /// The connection is over once `out` is written: how it ended.
    closing: Option<Result<(), Http2Error>>,
    answers_tx: mpsc::UnboundedSender<Box<Answer>>,
    answers: mpsc::UnboundedReceiver<Box<Answer>>,
    keepalive: Option<KeepAlive>,
    early_resets: EarlyResets,
    stream_errors: u32,
    /// Requests decoded this turn, dispatched at its end (one cancelled meanwhile never
    /// starts).
    new_requests: Vec<(usize, u32, Request<RequestBody>)>,
    /// The write coalescing window's batches of streams' data.
    batch: Batch,
}

impl<I> Http2Connection<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Serves `io` (whose peer chose `h2`) with `config`'s settings. Our SETTINGS are the
    /// first thing written. A connection whose streams wrote in a turn serves the streams
    /// woken within `batch_window` after it in one turn at its end (zero: each at once).
    pub fn new(io: I, config: &Http2Config, requests: Requests, batch_window: Duration) -> Self {
        let mut out = Vec::new();
        frame::write_settings(
            &mut out,
            &Settings {
                max_concurrent_streams: Some(config.max_concurrent_streams),
                initial_window_size: Some(config.initial_stream_window),
                max_header_list_size: Some(config.max_header_list_size),
                ..Settings::default()
            },
        );
        let connection_window = config.initial_connection_window.max(frame::DEFAULT_WINDOW);
        if connection_window > frame::DEFAULT_WINDOW {
            frame::write_window_update(&mut out, 0, connection_window - frame::DEFAULT_WINDOW);
        }
        let keepalive = config
            .keepalive_interval
            .map(|interval| KeepAlive::new(interval, config.keepalive_timeout));
        let (answers_tx, answers) = mpsc::unbounded_channel();
        let streams = Streams::new();
        let credits = Credits::new(streams.wakeups().connection());
        Self {
            io,
            conn: Box::new(Conn {
                config: config.clone(),
                requests,
                preface_left: frame::PREFACE.len(),
                got_settings: false,
                settings_acked: false,
                read_buf: BytesMut::new(),
                eof: false,
                out,
                parts: Vec::new(),
                written: 0,
                reader: FrameReader::new(),
                decoder: Decoder::new(DEFAULT_TABLE_SIZE),
                encoder: Encoder::new(),
                peer_initial_window: frame::DEFAULT_WINDOW,
                peer_max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
                send_window: i64::from(frame::DEFAULT_WINDOW),
                recv_window: i64::from(connection_window),
                recv_owed: 0,
                streams,
                credits,
                last_id: 0,
                block: None,
                accepting: true,
                draining: false,
                peer_goaway: false,
                closing: None,
                answers_tx,
                answers,
                keepalive,
                early_resets: EarlyResets::default(),
                stream_errors: 0,
                new_requests: Vec::new(),
                batch: Batch::new(batch_window),
            }),
        }
    }

    /// Closes the connection after a GOAWAY (NO_ERROR) once it is written, open streams or
    /// not. Returns whether there is a GOAWAY to write (none before the client's preface).
    pub fn give_up(mut self: Pin<&mut Self>) -> bool {
        let conn = &mut self.conn;
        if conn.closing.is_some() {
            return true;
        }
        if conn.preface_left > 0 {
            conn.closing = Some(Ok(()));
            conn.out.clear();
            conn.written = 0;
            return false;
        }
        frame::write_goaway(&mut conn.out, conn.last_id, ErrorCode::NO_ERROR, &[]);
        conn.accepting = false;
        conn.closing = Some(Ok(()));
        true
    }

    /// Sends GOAWAY: no new request is accepted, and the open streams may end.
    pub fn graceful_shutdown(mut self: Pin<&mut Self>) {
        let conn = &mut self.conn;
        if conn.draining || conn.closing.is_some() {
            return;
        }
        conn.draining = true;
        conn.accepting = false;
        if conn.preface_left > 0 {
            // Nothing was asked on it yet: nothing to finish.
            conn.closing = Some(Ok(()));
            return;
        }
        frame::write_goaway(&mut conn.out, conn.last_id, ErrorCode::NO_ERROR, &[]);
        conn.streams.wakeups().wake_connection();
    }
}

impl<I> Future for Http2Connection<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Output = Result<(), Http2Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Self { io, conn } = &mut *self;
        let io = Pin::new(io);
        conn.poll_turn(io, cx)
    }
}

impl Conn {
    fn poll_turn<I: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        mut io: Pin<&mut I>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Http2Error>> {
        self.streams.wakeups().register(cx.waker());
        if self.closing.is_none() {
            // Reads what came (unless the answers wait for the socket)...
            if self.pending_out() <= HIGH_WATER {
                if let Err(e) = self.poll_read(io.as_mut(), cx) {
                    return Poll::Ready(Err(e.into()));
                }
            }
            if self.eof {
                tracing::debug!("the client closed the connection");
                return Poll::Ready(Ok(()));
            }
            self.dispatch_new_requests(cx);
            // ... takes the router's answers and the window readers gave back...
            self.take_answers(cx);
            self.give_back_windows();
            // ... lets every woken stream write (in batches while the connection is busy)...
            self.batch.poll_end(cx, self.streams.wakeups());
            // Only streams' data is worth batching: a turn that only sends heartbeats (the
            // connection's own clock queued them) or complete answers (a publisher's
            // connection) starts no batch, and no timer that would wake the worker for
            // nothing.
            let woken = self.streams.wakeups().any_ready();
            self.streams.poll_heartbeats(cx);
            let wrote_ongoing = self.poll_streams(cx);
            self.batch
                .start(cx, self.streams.wakeups(), woken && wrote_ongoing);
            if let Some(keepalive) = &mut self.keepalive {
                if keepalive.poll(cx, &mut self.out).is_err() {
                    tracing::debug!("no answer to a keep-alive PING; closing");
                    frame::write_goaway(&mut self.out, self.last_id, ErrorCode::NO_ERROR, &[]);
                    self.closing = Some(Err(Http2Error::KeepAliveTimedOut));
                }
            }
            if self.closing.is_none()
                && (self.draining || self.peer_goaway)
                && self.streams.is_empty()
            {
                self.closing = Some(Ok(()));
            }
        }
        // ... and writes it all.
        match self.poll_write(io.as_mut(), cx) {
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            Poll::Ready(Ok(())) if self.closing.is_some() => {
                // Best effort: TLS's close_notify, and the FIN.
                if io.as_mut().poll_shutdown(cx).is_pending() {
                    return Poll::Pending;
                }
                return Poll::Ready(self.closing.take().unwrap_or(Ok(())));
            }
            _ => {}
        }
        Poll::Pending
    }

    /// Bytes written into the buffer, not yet to the transport.
    fn pending_out(&self) -> usize {
        self.out.len() - self.written
    }

    /// Reads and handles frames, at most [`READ_PER_TURN`] bytes and [`ACCEPTS_PER_TURN`]
    /// requests; asks for another turn when it stopped at either.
    fn poll_read<I: AsyncRead>(
        &mut self,
        mut io: Pin<&mut I>,
        cx: &mut Context<'_>,
    ) -> io::Result<()> {
        let mut read = 0;
        loop {
            // What is already buffered first.
            self.handle_frames();
            if self.closing.is_some() {
                return Ok(());
            }
            if self.new_requests.len() >= ACCEPTS_PER_TURN || read >= READ_PER_TURN {
                cx.waker().wake_by_ref();
                return Ok(());
            }
            // Most turns find nothing to read (a stream's data woke the connection): the
            // chunk is on the stack, uninitialised, so such a turn allocates and clears
            // nothing; what came is copied into the read buffer.
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut buf = ReadBuf::uninit(&mut chunk);
            let polled = io.as_mut().poll_read(cx, &mut buf);
            let n = buf.filled().len();
            self.read_buf.extend_from_slice(buf.filled());
            match polled {
                Poll::Ready(Ok(())) if n == 0 => {
                    self.eof = true;
                    return Ok(());
                }
                Poll::Ready(Ok(())) => read += n,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {
                    if self.read_buf.is_empty() && self.read_buf.capacity() > 0 {
                        // An idle connection keeps no read buffer.
                        self.read_buf = BytesMut::new();
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Decodes and handles the frames in the read buffer, until a whole frame is missing or
    /// the turn has taken enough requests.
    fn handle_frames(&mut self) {
        if self.preface_left > 0 && !self.check_preface() {
            return;
        }
        while self.closing.is_none() && self.new_requests.len() < ACCEPTS_PER_TURN {
            match self.reader.decode(&mut self.read_buf) {
                Ok(Some(frame)) => {
                    if let Err((code, reason)) = self.on_frame(frame) {
                        self.fail(code, reason);
                    }
                }
                Ok(None) => return,
                Err(frame::FrameError::Connection { code, reason }) => self.fail(code, reason),
                Err(frame::FrameError::Stream {
                    stream_id,
                    code,
                    reason,
                }) => {
                    tracing::debug!(stream = stream_id, %code, reason, "stream error");
                    self.reset(stream_id, code);
                }
            }
        }
    }

    /// Checks the client's preface as it arrives; false while it is incomplete or wrong.
    fn check_preface(&mut self) -> bool {
        let expected = &frame::PREFACE[frame::PREFACE.len() - self.preface_left..];
        let n = self.read_buf.len().min(expected.len());
        if self.read_buf[..n] != expected[..n] {
            tracing::debug!("not an HTTP/2 connection preface");
            self.closing = Some(Err(Http2Error::Protocol {
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "not an HTTP/2 connection preface",
            }));
            // Nothing more is written to a client that does not speak HTTP/2.
            self.out.clear();
            self.written = 0;
            return false;
        }
        let _ = self.read_buf.split_to(n);
        self.preface_left -= n;
        self.preface_left == 0
    }

    /// Ends the connection for the client's error: GOAWAY(code), then close.
    fn fail(&mut self, code: ErrorCode, reason: &'static str) {
        if self.closing.is_some() {
            return;
        }
        tracing::debug!(%code, reason, "connection error; closing");
        frame::write_goaway(&mut self.out, self.last_id, code, reason.as_bytes());
        self.accepting = false;
        self.closing = Some(Err(Http2Error::Protocol { code, reason }));
    }

    /// Resets a stream for the client's error, and forgets it.
    fn reset(&mut self, id: u32, code: ErrorCode) {
        frame::write_rst_stream(&mut self.out, id, code);
        if let Some(key) = self.streams.key(id) {
            self.streams.remove(key);
        }
        self.new_requests
            .retain(|(_, request_id, _)| *request_id != id);
        if code != ErrorCode::REFUSED_STREAM && code != ErrorCode::NO_ERROR {
            self.stream_errors += 1;
            if self.stream_errors > STREAM_ERRORS_MAX {
                self.fail(ErrorCode::ENHANCE_YOUR_CALM, "too many stream errors");
            }
        }
    }

    /// Lets every woken stream write its frames; a stream with more than a pass takes
    /// gets another turn at once.
    fn poll_streams(&mut self, cx: &mut Context<'_>) -> bool {
        let (mut again, mut wrote_ongoing) = (false, false);
        let mut out = Out {
            buf: &mut self.out,
            connection_window: &mut self.send_window,
            max_frame_size: self.peer_max_frame_size,
            encoder: &mut self.encoder,
            high_water: HIGH_WATER,
            again: &mut again,
            parts: &mut self.parts,
            wrote_ongoing: &mut wrote_ongoing,
        };
        self.streams.poll_ready(&mut out);
        if again {
            cx.waker().wake_by_ref();
        }
        wrote_ongoing
    }

    /// Writes the buffer out; Ready(Ok) once all of it is written and flushed.
    fn poll_write<I: AsyncWrite>(
        &mut self,
        mut io: Pin<&mut I>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.written < self.out.len() {
            match io.as_mut().poll_write(cx, &self.out[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.out.capacity() > KEEP_CAPACITY {
            self.out = Vec::new();
        } else {
            self.out.clear();
        }
        self.written = 0;
        io.as_mut().poll_flush(cx)
    }
}
