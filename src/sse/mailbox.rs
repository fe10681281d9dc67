//! A subscriber's mailbox: the bounded queue between a producer (the hub's router, or the
//! gateway's fan-out, which push encoded frames) and the subscriber's response body (which
//! takes them when the connection can send).

use std::{
    collections::VecDeque,
    sync::{Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

use bytes::Bytes;

use super::{CloseReason, Next};

/// The queue capacity an emptied mailbox keeps (the smallest a `VecDeque` of frames
/// allocates): a stream that receives an event now and then does not allocate each time,
/// and one that caught up after a burst does not keep the burst's capacity.
const KEEP_CAPACITY: usize = 4;

/// The queue plus the waker of the body waiting on it. A plain mutex: it is held for a
/// push or a drain, never across an await, and the two sides rarely contend.
///
/// `K` orders events for [`Mailbox::push_event`]: the hub uses its log's cursor, so that an
/// update reaching a subscriber through several index entries arrives once, and a subscriber
/// that resumed from a cursor is never handed an event at or before it.
#[derive(Debug)]
pub struct Mailbox<K = u64> {
    inner: Mutex<Inner<K>>,
    capacity: usize,
}

#[derive(Debug)]
struct Inner<K> {
    queue: VecDeque<Bytes>,
    waker: Option<Waker>,
    closed: Option<CloseReason>,
    /// Key of the last event queued by [`Mailbox::push_event`] (or the floor it started at).
    last_key: Option<K>,
}

impl<K: Copy + Ord> Mailbox<K> {
    /// An empty mailbox holding at most `capacity` frames.
    pub fn new(capacity: usize) -> Self {
        Self::starting_after(capacity, None)
    }

    /// An empty mailbox that refuses events keyed at or before `floor` in
    /// [`Mailbox::push_event`]: they are the ones its subscriber already has.
    pub fn starting_after(capacity: usize, floor: Option<K>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                waker: None,
                closed: None,
                last_key: floor,
            }),
            capacity: capacity.max(1),
        }
    }

    /// Queues a frame and returns the waker to wake once the caller has released its own
    /// locks. A full queue closes the mailbox with [`CloseReason::Overflow`]: the publisher
    /// never waits for a slow subscriber, and the memory a subscriber holds stays bounded.
    pub fn push(&self, frame: &Bytes) -> Option<Waker> {
        let mut inner = self.lock();
        if inner.closed.is_some() {
            return None;
        }
        if inner.queue.len() >= self.capacity {
            inner.closed = Some(CloseReason::Overflow);
        } else {
            inner.queue.push_back(frame.clone());
        }
        inner.waker.take()
    }

    /// Like [`Mailbox::push`], once per event: an update with several topics reaches a
    /// subscriber of several of them through several index entries, and must arrive once.
    /// Keys must rise from one event to the next. Returns whether the frame was taken, and
    /// the waker to wake.
    pub fn push_event(&self, key: K, frame: &Bytes) -> (bool, Option<Waker>) {
        let mut inner = self.lock();
        if inner.closed.is_some() || inner.last_key.is_some_and(|last| last >= key) {
            return (false, None);
        }
        inner.last_key = Some(key);
        if inner.queue.len() >= self.capacity {
            inner.closed = Some(CloseReason::Overflow);
        } else {
            inner.queue.push_back(frame.clone());
        }
        (true, inner.waker.take())
    }

    /// Refuses, from now on, events keyed at or before `floor` (see
    /// [`Mailbox::starting_after`]).
    pub fn raise_floor(&self, floor: K) {
        let mut inner = self.lock();
        if inner.last_key.is_none_or(|last| last < floor) {
            inner.last_key = Some(floor);
        }
    }

    /// Closes the mailbox; frames already queued are still delivered before the end.
    pub fn close(&self, reason: CloseReason) -> Option<Waker> {
        let mut inner = self.lock();
        inner.closed.get_or_insert(reason);
        inner.waker.take()
    }

    /// Moves up to `max` queued frames into `out` ([`Next::Frames`]), says the mailbox is
    /// closed and empty ([`Next::Closed`]), or registers the waker when there is nothing.
    pub fn poll_take(&self, cx: &mut Context<'_>, max: usize, out: &mut Vec<Bytes>) -> Poll<Next> {
        let mut inner = self.lock();
        if !inner.queue.is_empty() {
            let n = inner.queue.len().min(max);
            out.extend(inner.queue.drain(..n));
            if inner.queue.is_empty() && inner.queue.capacity() > KEEP_CAPACITY {
                // A burst's queue is not kept for the stream's life: tens of thousands of
                // streams that once caught up would each hold their peak.
                inner.queue = VecDeque::new();
            }
            return Poll::Ready(Next::Frames);
        }
        if let Some(reason) = inner.closed {
            return Poll::Ready(Next::Closed(reason));
        }
        match &inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => inner.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The queue's capacity, to check what an emptied mailbox keeps.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.lock().queue.capacity()
    }

    /// The number of frames waiting.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// True when no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K>> {
        // A panic while holding this lock cannot leave the queue inconsistent (every
        // critical section is a single push, drain or flag write), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    #[test]
    fn overflow_closes_after_the_queued_frames() {
        let mailbox = Mailbox::<u64>::new(2);
        for i in 0..3u8 {
            mailbox.push(&Bytes::from(vec![i]));
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        assert!(matches!(
            mailbox.poll_take(&mut cx, 10, &mut out),
            Poll::Ready(Next::Frames)
        ));
        assert_eq!(out, vec![Bytes::from(vec![0]), Bytes::from(vec![1])]);
        assert!(matches!(
            mailbox.poll_take(&mut cx, 10, &mut out),
            Poll::Ready(Next::Closed(CloseReason::Overflow))
        ));
    }

    #[test]
    fn an_emptied_mailbox_gives_back_a_bursts_capacity() {
        let mailbox = Mailbox::<u64>::new(1_000);
        let mut cx = Context::from_waker(Waker::noop());
        for burst in [1, 500] {
            for i in 0..burst {
                mailbox.push(&Bytes::from(vec![i as u8]));
            }
            let mut out = Vec::new();
            while mailbox.poll_take(&mut cx, 64, &mut out).is_ready() {}
            assert_eq!(out.len(), burst);
            assert!(mailbox.capacity() <= KEEP_CAPACITY, "after {burst}");
        }
    }

    #[test]
    fn empty_open_mailbox_is_pending() {
        let mailbox = Mailbox::<u64>::new(2);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(mailbox.poll_take(&mut cx, 10, &mut Vec::new()).is_pending());
        assert!(
            mailbox.push(&Bytes::from_static(b"x")).is_some(),
            "waker handed back"
        );
    }
}
