//! The log: where published events are ordered, kept for replay and found again by id. The
//! hub appends to a [`Log`]; the log hands every appended event, in log order, to the
//! [`Router`](super::Router) for delivery to the subscribers of this node.
//!
//! The log decides order and ids; the router never does. That is the seam where a log
//! shared by several nodes goes: appending, reading and looking up may each complete later
//! (on another task, after a round trip), and delivery may happen later still, as long as
//! every event is readable from the log before the router is handed it, and the router is
//! handed events in cursor order. The subscriber's hand-over from replay to live events
//! relies on exactly that.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use bytes::Bytes;

use super::PublishError;

/// The position of an event in a log. Events are totally ordered by cursor; what a cursor
/// holds is the log's business (a sequence number, a stream entry id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    // Two halves rather than a `u128`, which is aligned to 16 bytes: every subscriber's
    // mailbox keeps one, and the alignment padded it by 16 bytes. Compared high half first,
    // so the order is the `u128`'s.
    high: u64,
    low: u64,
}

impl Cursor {
    /// A cursor from a log's own representation, which must order events as the log does.
    pub const fn from_raw(raw: u128) -> Self {
        Self {
            high: (raw >> 64) as u64,
            low: raw as u64,
        }
    }

    /// The log's representation of this cursor.
    pub const fn raw(self) -> u128 {
        ((self.high as u128) << 64) | self.low as u128
    }
}

/// An event to append: encoded once, before the log is involved.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The canonical topic first, then alternates.
    pub topics: Box<[Arc<str>]>,
    /// Private updates reach only subscribers whose filter accepts them.
    pub private: bool,
    /// The publisher's id, already checked; `None` lets the log choose one.
    pub id: Option<String>,
    /// Refuse `id` when a retained event already carries it ([`PublishError::DuplicateId`]);
    /// otherwise the id may repeat, and then names its earliest retained event.
    pub unique_id: bool,
    /// The encoded event without its `id:` line, which the log prepends once it knows the id.
    pub body: Bytes,
}

/// What an append returns once the event is in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The event's position.
    pub cursor: Cursor,
    /// The event's id (the publisher's, or the one the log chose).
    pub id: Arc<str>,
}

/// A retained event as a reader sees it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Its position.
    pub cursor: Cursor,
    /// Its topics, canonical first.
    pub topics: &'a [Arc<str>],
    /// Whether it is private.
    pub private: bool,
    /// The encoded event, `id:` line included: the very bytes live subscribers got.
    pub frame: &'a Bytes,
}

/// What a [`Log::read`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read {
    /// The frames of the events the reader wanted, oldest first.
    pub frames: Vec<Bytes>,
    /// Events after the requested cursor are no longer retained: nothing was read, and
    /// reading on from [`Read::next`] starts at the oldest retained event.
    pub gap: bool,
    /// Where the next read starts (pass it as `after`).
    pub next: Option<Cursor>,
    /// Every event up to `until` was examined.
    pub done: bool,
}

/// Which events a reader wants: its selection, and whether it may read private ones. Called
/// by the log on each event it examines (under its lock, for an in-memory log).
pub type Wants = Arc<dyn Fn(&Entry<'_>) -> bool + Send + Sync>;

/// Counters a log reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Events retained for replay.
    pub events: usize,
    /// Bytes of encoded events retained.
    pub bytes: usize,
}

/// A future returned by [`Log::append`]. `'static`, so that a publication can complete on
/// its own task (a subscription event published as a stream closes).
pub type AppendFuture = Pin<Box<dyn Future<Output = Result<Appended, PublishError>> + Send>>;

/// A future returned by [`Log::read`]; a subscription holds it across polls.
pub type ReadFuture = Pin<Box<dyn Future<Output = Read> + Send>>;

/// A future returned by [`Log::lookup`].
pub type LookupFuture = Pin<Box<dyn Future<Output = Option<Cursor>> + Send>>;

/// An ordered, bounded record of events: append, read after a cursor, find by id.
pub trait Log: fmt::Debug + Send + Sync + 'static {
    /// Appends an event: assigns its cursor and (unless the publisher chose one) its id,
    /// retains it, and hands it to the router, in log order, once it is readable.
    fn append(&self, event: NewEvent) -> AppendFuture;

    /// Reads retained events with `after < cursor <= until` (from the oldest retained when
    /// `after` is `None`), oldest first, until `wants` has accepted `max` of them; returns
    /// the accepted frames. `max` 0 reads nothing and only tells whether events after
    /// `after` were lost.
    fn read(&self, after: Option<Cursor>, until: Cursor, max: usize, wants: &Wants) -> ReadFuture;

    /// The cursor of the event an id names: for an id publishers reused, its earliest
    /// retained event. `None` for an id this log does not know (never seen, or evicted).
    fn lookup(&self, id: &str) -> LookupFuture;

    /// The cursor of the oldest retained event, if any.
    fn oldest(&self) -> Option<Cursor>;

    /// What the log retains now.
    fn stats(&self) -> LogStats;
}
