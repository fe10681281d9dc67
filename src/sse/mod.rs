//! Server-sent events on the wire and the streams that carry them: encoding of events and
//! comments ([`event`]), the one reader of the wire format ([`reader`], shared by the
//! gateway's relay and fan-out and by the client; a received block keeps the sender's exact
//! bytes, so it can be forwarded), the bounded queue
//! between a producer and a subscriber ([`mailbox`]), and the response body that streams a
//! source of events to one client ([`stream`]).
//!
//! Encoding follows the WHATWG HTML "Server-sent events" section: every event is encoded
//! once, when it is published, and the same [`bytes::Bytes`] is shared by every subscriber.
//!
//! Owns the stream types every producer speaks ([`EventSource`], [`Next`], [`Resume`],
//! [`CloseReason`]); imports nothing of the hub, the gateway or Mercure, which implement
//! [`EventSource`] for their own streams.

pub mod event;
pub mod mailbox;
pub mod reader;
pub mod stream;

use std::task::{Context, Poll};

use bytes::Bytes;

pub use event::{EventFields, FieldError};
pub use mailbox::Mailbox;
pub use reader::{Block, BlockTooLarge, Dispatcher, Fields, MessageEvent, SseReader};
pub use stream::{EndReason, SourceFailed, SseBody, StreamLimits};

/// Where an [`SseBody`] takes its events from: a hub subscription, a Mercure stream, or a
/// shared or relayed upstream stream of the gateway.
pub trait EventSource: std::fmt::Debug + Send + Unpin + 'static {
    /// Appends up to `max` encoded frames to `out`, or registers the waker.
    fn poll_next(&mut self, cx: &mut Context<'_>, max: usize, out: &mut Vec<Bytes>) -> Poll<Next>;
    /// How the replay relates to the requested `Last-Event-ID`.
    fn resume(&self) -> &Resume;
    /// What the stream carries, for logs.
    fn describe(&self) -> String;
    /// Whether the connection holds the stream back: the client's window is closed or its
    /// socket takes nothing. A source whose queue fills while this is false knows the
    /// server fell behind, not the client ([`Mailbox::catching_up`]).
    fn set_held(&self, _held: bool) {}
    /// The same, guessed from the outside: the transport has not asked for the next frame
    /// since it was handed the last (HTTP/1.1, where hyper tells nothing else). A guess
    /// counts only once it has lasted longer than the server's own write batching can hold
    /// a transport back.
    fn set_held_inferred(&self, held: bool) {
        self.set_held(held);
    }
    /// Loads the state [`EventSource::poll_next`] reads first, and nothing else: a caller
    /// about to poll many streams touches them all beforehand, so that their cache misses
    /// overlap instead of coming one after the other (see `conn::http2::streams`).
    fn touch(&self) {}
}

/// How a subscription's replay relates to the `Last-Event-ID` it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// No `Last-Event-ID`: live events only.
    Live,
    /// Every event after the requested id is replayed.
    Complete,
    /// The id is unknown or older than the history: everything retained is replayed, and
    /// events may have been missed.
    Gap,
}

/// What a source yields next.
#[derive(Debug)]
pub enum Next {
    /// Frames were appended to the caller's buffer.
    Frames,
    /// Events were evicted from the history before the replay reached them.
    HistoryGap,
    /// The stream is over (after every queued frame was taken).
    Closed(CloseReason),
}

/// Why a source closed its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The subscriber did not keep up: its queue was full when an event arrived. Its
    /// stream ends so the client reconnects and resumes from the history.
    Overflow,
    /// The server is shutting down.
    Shutdown,
    /// The source of the events ended the stream (an upstream's end, such as 204).
    Ended,
    /// The source failed (a relayed upstream broke off): the stream is cut, not ended, so
    /// the client cannot take what it got for a complete response.
    Failed,
}
