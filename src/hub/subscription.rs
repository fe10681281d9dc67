//! A subscriber's side of the hub: replay from the log up to the hand-over point, then live
//! events from its mailbox; unregistering on drop. When the server fell behind a client
//! that takes everything written, the mailbox drops events instead of ending the stream,
//! and the subscription reads them from the log too (a catch-up) before taking live events
//! again.

use std::{
    sync::{atomic::Ordering, Arc},
    task::{Context, Poll},
};

use bytes::Bytes;

use super::{
    log::{Cursor, ReadFuture, Wants},
    selection::{Subscriber, UpdateView},
    Hub,
};
use crate::sse::{
    mailbox::{Lag, Taken},
    CloseReason, EventSource, Next, Resume,
};

/// A subscriber's registration. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    pub(super) hub: Arc<Hub>,
    pub(super) subscriber: Arc<Subscriber>,
    /// Boxed: 80 bytes that live subscriptions (most of them) and finished replays would
    /// otherwise carry inline for the stream's life.
    pub(super) replay: Option<Box<Replay>>,
    pub(super) resume: Resume,
}

/// The part of the log still to replay: events after `after` up to `until`, the hand-over
/// point. Live events start after `until`, so the two never overlap.
pub(super) struct Replay {
    pub(super) after: Option<Cursor>,
    pub(super) until: Cursor,
    /// What the subscriber wants of the events read.
    pub(super) wants: Wants,
    /// The read under way, kept across polls (a remote log answers later).
    pub(super) reading: Option<ReadFuture>,
    /// A catch-up after the mailbox dropped events: events evicted before it read them are
    /// lost to this client, and its stream ends (the client resumes and is told of the gap).
    pub(super) catching_up: bool,
}

impl Replay {
    /// The replay of `subscriber`'s events after `after`, up to `until`.
    pub(super) fn new(subscriber: &Arc<Subscriber>, after: Option<Cursor>, until: Cursor) -> Self {
        let subscriber = subscriber.clone();
        let wants: Wants = Arc::new(move |entry| {
            subscriber
                .selection
                .wants(&UpdateView::new(entry.topics, entry.private))
        });
        Self {
            after,
            until,
            wants,
            reading: None,
            catching_up: false,
        }
    }

    /// The catch-up of the events `subscriber`'s mailbox dropped (see [`Lag`]).
    fn catch_up(subscriber: &Arc<Subscriber>, lag: Lag<Cursor>) -> Self {
        Self {
            catching_up: true,
            ..Self::new(subscriber, Some(lag.after), lag.through)
        }
    }
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("after", &self.after)
            .field("until", &self.until)
            .field("reading", &self.reading.is_some())
            .field("catching_up", &self.catching_up)
            .finish()
    }
}

impl Subscription {
    /// How the replay relates to the requested `Last-Event-ID`.
    pub fn resume(&self) -> &Resume {
        &self.resume
    }

    /// The exactly matched topics, sorted and without duplicates.
    pub fn topics(&self) -> &[Arc<str>] {
        &self.subscriber.selection.topics
    }

    /// Appends up to `max` frames to `out`: first the replay from the log, then live
    /// events from the mailbox. Pending (with the waker registered) when there is nothing.
    pub fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        out: &mut Vec<Bytes>,
    ) -> Poll<Next> {
        loop {
            if self.replay.is_some() {
                // Live events wait in the mailbox until the replay is over.
                if let Some(next) = self.poll_replay(cx, max, out) {
                    return next;
                }
            }
            match self.subscriber.mailbox.poll_take_or_lag(cx, max, out) {
                Poll::Ready(Taken::Behind(lag)) => {
                    self.hub.stats.catch_ups.fetch_add(1, Ordering::Relaxed);
                    self.replay = Some(Box::new(Replay::catch_up(&self.subscriber, lag)));
                }
                Poll::Ready(Taken::Next(next)) => {
                    if let Next::Closed(CloseReason::Overflow) = next {
                        self.hub.stats.overflows.fetch_add(1, Ordering::Relaxed);
                    }
                    return Poll::Ready(next);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Tells the mailbox whether the connection holds this stream back.
    pub fn set_held(&self, held: bool) {
        self.subscriber.mailbox.set_held(held);
    }

    /// Tells the mailbox that the transport seems to hold this stream back (see
    /// [`EventSource::set_held_inferred`]).
    pub fn set_held_inferred(&self, held: bool) {
        self.subscriber.mailbox.set_held_inferred(held);
    }

    /// Reads the next replay batch from the log. `None` once the replay is done (or a
    /// catch-up was abandoned: the mailbox then says how the stream ends).
    fn poll_replay(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        out: &mut Vec<Bytes>,
    ) -> Option<Poll<Next>> {
        loop {
            let replay = self.replay.as_mut()?;
            let reading = replay.reading.get_or_insert_with(|| {
                self.hub
                    .log
                    .read(replay.after, replay.until, max, &replay.wants)
            });
            let read = match reading.as_mut().poll(cx) {
                Poll::Pending => return Some(Poll::Pending),
                Poll::Ready(read) => read,
            };
            replay.reading = None;
            let progressed = read.next.is_some() && read.next != replay.after;
            if read.next.is_some() {
                replay.after = read.next;
            }
            if read.gap && replay.catching_up {
                // The server fell so far behind that the log evicted what this client was
                // owed: its stream ends, and resuming tells it of the gap.
                // Live events queued meanwhile come after the gap: delivering them would
                // move the client's last id past it, and its resumption would not see it.
                self.replay = None;
                self.subscriber.mailbox.abandon(CloseReason::Overflow);
                return None;
            }
            if read.gap {
                // Evicted while this subscriber was reading the replay: say so, then go on
                // from what is left.
                return Some(Poll::Ready(Next::HistoryGap));
            }
            if read.done || !progressed {
                self.replay = None;
            }
            if !read.frames.is_empty() {
                out.extend(read.frames);
                return Some(Poll::Ready(Next::Frames));
            }
        }
    }
}

impl EventSource for Subscription {
    fn poll_next(&mut self, cx: &mut Context<'_>, max: usize, out: &mut Vec<Bytes>) -> Poll<Next> {
        Subscription::poll_next(self, cx, max, out)
    }

    fn resume(&self) -> &Resume {
        &self.resume
    }

    fn set_held(&self, held: bool) {
        Subscription::set_held(self, held);
    }

    fn set_held_inferred(&self, held: bool) {
        Subscription::set_held_inferred(self, held);
    }

    fn describe(&self) -> String {
        format!("topics {:?}", self.topics())
    }

    fn touch(&self) {
        self.subscriber.mailbox.touch();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.router.unregister(&self.subscriber);
        self.hub.stats.active.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::*;
    use crate::sse::SseBody;

    /// What every idle stream holds for life, against the allocator's size classes (see
    /// PERFORMANCE.md, "Where an idle stream's memory goes"): a field more moves a record
    /// into the next class for a million streams at once.
    #[test]
    fn an_idle_streams_records_stay_within_their_size_classes() {
        // An `Arc` adds its two counts: 176 + 16 fills the 192-byte class.
        assert!(std::mem::size_of::<Subscriber>() <= 176);
        assert!(std::mem::size_of::<SseBody<Subscription>>() <= 112);
    }
}
