//! A subscriber's side of the hub: replay from the history, then live events from its
//! mailbox; unsubscribing on drop.

use std::{
    sync::{atomic::Ordering, Arc},
    task::{Context, Poll},
};

use bytes::Bytes;

use super::{
    mailbox::CloseReason,
    selection::{Subscriber, UpdateView},
    Hub, Next, Resume,
};

/// A subscriber's registration. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    pub(super) hub: Arc<Hub>,
    pub(super) subscriber: Arc<Subscriber>,
    pub(super) replay: Option<Replay>,
    pub(super) resume: Resume,
}

/// The part of the history still to replay: sequence numbers `next..end`. Live events
/// start at `end`, so the two never overlap.
#[derive(Debug)]
pub(super) struct Replay {
    pub(super) next: u64,
    pub(super) end: u64,
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

    /// Appends up to `max` frames to `out`: first the replay from the history, then live
    /// events from the mailbox. Pending (with the waker registered) when there is nothing.
    pub fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        out: &mut Vec<Bytes>,
    ) -> Poll<Next> {
        if self.replay.is_some() {
            if let Some(next) = self.take_replay(max, out) {
                return Poll::Ready(next);
            }
        }
        let polled = self.subscriber.mailbox.poll_take(cx, max, out);
        if let Poll::Ready(Next::Closed(CloseReason::Overflow)) = polled {
            self.hub.stats.overflows.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }

    /// Reads the next replay batch under the hub lock. `None` once the replay is done.
    fn take_replay(&mut self, max: usize, out: &mut Vec<Bytes>) -> Option<Next> {
        let replay = self.replay.as_mut()?;
        let state = self.hub.lock();
        let oldest = state.history.oldest_seq().unwrap_or(replay.end);
        if replay.next < oldest.min(replay.end) {
            // Evicted while this subscriber was reading the replay: say so, then go on
            // from what is left.
            replay.next = oldest.min(replay.end);
            return Some(Next::HistoryGap);
        }
        let start_len = out.len();
        while replay.next < replay.end && out.len() - start_len < max {
            let Some(event) = state.history.get(replay.next) else {
                break;
            };
            replay.next += 1;
            let view = UpdateView::new(&event.topics, event.private);
            if self.subscriber.selection.wants(&view) {
                out.push(event.frame.clone());
            }
        }
        let done = replay.next >= replay.end;
        drop(state);
        if done {
            self.replay = None;
        }
        if out.len() > start_len {
            Some(Next::Frames)
        } else {
            None
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.subscriber);
        self.hub.stats.active.fetch_sub(1, Ordering::Relaxed);
    }
}
