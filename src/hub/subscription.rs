//! A subscriber's side of the hub: replay from the log up to the hand-over point, then live
//! events from its mailbox; unregistering on drop.

use std::{
    sync::{atomic::Ordering, Arc},
    task::{Context, Poll},
};

use bytes::Bytes;

use super::{
    log::Cursor,
    selection::{Subscriber, UpdateView},
    Hub,
};
use crate::sse::{CloseReason, EventSource, Next, Resume};

/// A subscriber's registration. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    pub(super) hub: Arc<Hub>,
    pub(super) subscriber: Arc<Subscriber>,
    pub(super) replay: Option<Replay>,
    pub(super) resume: Resume,
}

/// The part of the log still to replay: events after `after` up to `until`, the hand-over
/// point. Live events start after `until`, so the two never overlap.
#[derive(Debug)]
pub(super) struct Replay {
    pub(super) after: Option<Cursor>,
    pub(super) until: Cursor,
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

    /// Reads the next replay batch from the log. `None` once the replay is done.
    fn take_replay(&mut self, max: usize, out: &mut Vec<Bytes>) -> Option<Next> {
        let replay = self.replay.as_mut()?;
        let selection = &self.subscriber.selection;
        let start_len = out.len();
        let read = self
            .hub
            .log
            .read(replay.after, replay.until, max, &mut |entry| {
                let wanted = selection.wants(&UpdateView::new(entry.topics, entry.private));
                if wanted {
                    out.push(entry.frame.clone());
                }
                wanted
            });
        if read.next.is_some() {
            replay.after = read.next;
        }
        if read.gap {
            // Evicted while this subscriber was reading the replay: say so, then go on
            // from what is left.
            return Some(Next::HistoryGap);
        }
        if read.done {
            self.replay = None;
        }
        (out.len() > start_len).then_some(Next::Frames)
    }
}

impl EventSource for Subscription {
    fn poll_next(&mut self, cx: &mut Context<'_>, max: usize, out: &mut Vec<Bytes>) -> Poll<Next> {
        Subscription::poll_next(self, cx, max, out)
    }

    fn resume(&self) -> &Resume {
        &self.resume
    }

    fn describe(&self) -> String {
        format!("topics {:?}", self.topics())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.router.unregister(&self.subscriber);
        self.hub.stats.active.fetch_sub(1, Ordering::Relaxed);
    }
}
