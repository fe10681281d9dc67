//! [`MemoryLog`]: the embedded default [`Log`]. Events are numbered by one in-process
//! sequence and kept in a bounded [`History`]; an append is numbered, handed to the router
//! and retained under one short lock, so publishers on every thread see one order and the
//! router is handed events in it; the fan-out to subscribers runs after that lock.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{SystemTime, UNIX_EPOCH},
};

use super::{
    history::{History, ResumeFrom, StoredEvent},
    log::{
        AppendFuture, Appended, Cursor, Entry, Log, LogStats, LookupFuture, NewEvent, Read,
        ReadFuture, Wants,
    },
    PublishError, Router,
};
use crate::sse::event::prepend_id;

/// The in-memory log: one node's history, lost on restart.
#[derive(Debug)]
pub struct MemoryLog {
    numbered: Mutex<Numbered>,
    router: Arc<Router>,
}

impl MemoryLog {
    /// An empty log delivering to `router`. Ids start at the current time in microseconds,
    /// so the ids of a restarted hub are above those of its previous run and an old
    /// `Last-Event-ID` is reported as a gap instead of matching an unrelated event.
    pub fn new(max_events: usize, max_bytes: usize, router: Arc<Router>) -> Self {
        let first_seq = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2));
        Self::starting_at(max_events, max_bytes, router, first_seq)
    }

    /// An empty log whose first event gets `first_seq` (tests pick small ids).
    pub fn starting_at(
        max_events: usize,
        max_bytes: usize,
        router: Arc<Router>,
        first_seq: u64,
    ) -> Self {
        Self {
            numbered: Mutex::new(Numbered::new(max_events, max_bytes, first_seq)),
            router,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Numbered> {
        // Every critical section leaves the state consistent before anything that could
        // panic (allocation aside), so a poisoned lock is still usable.
        self.numbered.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append_now(&self, event: NewEvent) -> Result<Appended, PublishError> {
        let (cursor, id, fan_out) = {
            let mut numbered = self.lock();
            let (cursor, id, stored) = numbered.number(event)?;
            // Handed to the router and retained under the lock that numbered it: the router
            // sees cursors in order, and readers take this lock too, so a subscriber whose
            // hand-over point is this event finds it in the history.
            let fan_out =
                self.router
                    .enqueue(cursor, &id, &stored.topics, stored.private, &stored.frame);
            numbered.retain(stored);
            (cursor, id, fan_out)
        };
        // The fan-out to subscribers runs here, after the lock: publishes to other topics
        // are numbered (and fan out on other threads) meanwhile.
        drop(fan_out);
        Ok(Appended { cursor, id })
    }
}

impl Log for MemoryLog {
    fn append(&self, event: NewEvent) -> AppendFuture {
        Box::pin(std::future::ready(self.append_now(event)))
    }

    fn read(&self, after: Option<Cursor>, until: Cursor, max: usize, wants: &Wants) -> ReadFuture {
        // Read now, under the lock; the future only hands the batch over.
        Box::pin(std::future::ready(
            self.lock().read(after, until, max, wants),
        ))
    }

    fn lookup(&self, id: &str) -> LookupFuture {
        Box::pin(std::future::ready(self.lock().lookup(id)))
    }

    fn oldest(&self) -> Option<Cursor> {
        self.lock().history.oldest_seq().map(seq_cursor)
    }

    fn stats(&self) -> LogStats {
        let numbered = self.lock();
        LogStats {
            events: numbered.history.len(),
            bytes: numbered.history.bytes(),
        }
    }
}

/// A history whose events are numbered by one sequence: the state behind [`MemoryLog`]'s
/// lock, and the storage of any log that numbers events itself. Cursors are the numbers.
#[derive(Debug)]
pub(super) struct Numbered {
    next_seq: u64,
    pub(super) history: History,
}

impl Numbered {
    pub(super) fn new(max_events: usize, max_bytes: usize, first_seq: u64) -> Self {
        Self {
            next_seq: first_seq,
            history: History::new(max_events, max_bytes),
        }
    }

    /// Numbers an event and encodes its frame; [`Numbered::retain`] keeps it.
    pub(super) fn number(
        &mut self,
        event: NewEvent,
    ) -> Result<(Cursor, Arc<str>, StoredEvent), PublishError> {
        let NewEvent {
            topics,
            private,
            id,
            unique_id,
            body,
        } = event;
        if let Some(id) = id.as_ref().filter(|_| unique_id) {
            if self.history.has_custom_id(id) {
                return Err(PublishError::DuplicateId(id.clone()));
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let chosen = id.is_some();
        let id: Arc<str> = match id {
            Some(id) => Arc::from(id),
            None => Arc::from(seq.to_string()),
        };
        let frame = prepend_id(&id, &body);
        let stored = StoredEvent {
            seq,
            custom_id: chosen.then(|| Box::from(&*id)),
            topics,
            private,
            frame,
        };
        Ok((seq_cursor(seq), id, stored))
    }

    /// Keeps a numbered event, in number order.
    pub(super) fn retain(&mut self, stored: StoredEvent) {
        self.history.push(stored);
    }

    pub(super) fn read(
        &self,
        after: Option<Cursor>,
        until: Cursor,
        max: usize,
        wants: &Wants,
    ) -> Read {
        let until = cursor_seq(until);
        let oldest = self.history.oldest_seq().unwrap_or(self.next_seq);
        let mut next = match after {
            Some(after) => cursor_seq(after).saturating_add(1),
            None => oldest,
        };
        if next < oldest.min(until.saturating_add(1)) {
            // Evicted before the reader got there: say so, and go on from what is left.
            return Read {
                frames: Vec::new(),
                gap: true,
                next: oldest.checked_sub(1).map(seq_cursor),
                done: false,
            };
        }
        let mut frames = Vec::new();
        while next <= until && frames.len() < max {
            let Some(event) = self.history.get(next) else {
                break;
            };
            let entry = Entry {
                cursor: seq_cursor(next),
                topics: &event.topics,
                private: event.private,
                frame: &event.frame,
            };
            if wants(&entry) {
                frames.push(event.frame.clone());
            }
            next += 1;
        }
        Read {
            frames,
            gap: false,
            next: next.checked_sub(1).map(seq_cursor),
            done: next > until,
        }
    }

    pub(super) fn lookup(&self, id: &str) -> Option<Cursor> {
        match self.history.resume_from(id, self.next_seq) {
            ResumeFrom::Exact(next) => next.checked_sub(1).map(seq_cursor),
            ResumeFrom::Gap(_) => None,
        }
    }
}

fn seq_cursor(seq: u64) -> Cursor {
    Cursor::from_raw(u128::from(seq))
}

fn cursor_seq(cursor: Cursor) -> u64 {
    // Only cursors of this numbering come back here; they hold a u64.
    u64::try_from(cursor.raw()).unwrap_or(u64::MAX)
}
