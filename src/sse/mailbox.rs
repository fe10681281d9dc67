//! A subscriber's mailbox: the bounded queue between a producer (the hub's router, or the
//! gateway's fan-out, which push encoded frames) and the subscriber's response body (which
//! takes them when the connection can send).
//!
//! A full queue means one of two things. Either the client does not take what is written
//! (its flow-control window is closed or its socket is full: the connection says so with
//! [`Mailbox::set_held`]), and the stream ends so that memory stays bounded (the
//! slow-consumer policy); or the client takes everything and the server itself fell behind
//! (a burst, a busy core), and ending the stream would punish a client for the server's
//! lag. A mailbox made [`Mailbox::catching_up`] tells the two apart: in the second case it
//! stops queuing and remembers which events it dropped, and its reader reads them from the
//! log it came from ([`Taken::Behind`]) before taking live events again.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU32, Ordering},
        Mutex, MutexGuard, OnceLock,
    },
    task::{Context, Poll, Waker},
    time::Instant,
};

use bytes::Bytes;

use super::{CloseReason, Next};

/// [`Mailbox::held`]: not held back.
const NOT_HELD: u32 = 0;
/// [`Mailbox::held`]: held back, as the connection says.
const HELD: u32 = u32::MAX;

/// How long an inferred hold must last to count (see [`Mailbox::set_held_inferred`]):
/// more than the longest write batching window (`server.write_coalesce_ms`, at most 100).
const INFERRED_GRACE_MS: u32 = 250;

/// Milliseconds since the first call, wrapping, never [`NOT_HELD`] or [`HELD`]. Read only
/// when a hold is guessed or a full queue must tell a slow client from a slow server.
fn coarse_ms() -> u32 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let ms = EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u32;
    ms.clamp(1, u32::MAX - 1)
}

/// The deque capacity an emptied mailbox keeps (the smallest a `VecDeque` of frames
/// allocates): a busy stream does not allocate at every event, and one that caught up after
/// a burst does not keep the burst's capacity.
const KEEP_CAPACITY: usize = 4;

/// A mailbox's frames. Most mailboxes hold none or one at a time (a stream that receives an
/// event now and then is polled before the next one comes): one frame is kept inline, and a
/// deque is allocated only once frames pile up. An idle stream that once received an event
/// then holds no queue storage (a deque's first block is 128 bytes).
#[derive(Debug, Default)]
enum Frames {
    #[default]
    Empty,
    One(Bytes),
    Many(VecDeque<Bytes>),
}

impl Frames {
    fn len(&self) -> usize {
        match self {
            Frames::Empty => 0,
            Frames::One(_) => 1,
            Frames::Many(deque) => deque.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a frame; a deque that is already there takes it in place (the usual case
    /// of a busy stream, on the delivery path).
    fn push(&mut self, frame: Bytes) {
        match self {
            Frames::Many(deque) => deque.push_back(frame),
            Frames::Empty => *self = Frames::One(frame),
            Frames::One(_) => {
                if let Frames::One(first) = std::mem::take(self) {
                    *self = Frames::Many(VecDeque::from([first, frame]));
                }
            }
        }
    }

    /// Moves up to `max` (at least one) frames into `out`.
    fn take_into(&mut self, max: usize, out: &mut Vec<Bytes>) {
        match self {
            Frames::Empty => {}
            Frames::One(_) => {
                if let Frames::One(frame) = std::mem::take(self) {
                    out.push(frame);
                }
            }
            Frames::Many(deque) => {
                let n = deque.len().min(max.max(1));
                out.extend(deque.drain(..n));
                // A burst's deque is not kept for the stream's life: tens of thousands of
                // streams that once caught up would each hold their peak.
                if deque.is_empty() && deque.capacity() > KEEP_CAPACITY {
                    *self = Frames::Empty;
                }
            }
        }
    }

    /// The storage the frames take besides the mailbox itself.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        match self {
            Frames::Many(deque) => deque.capacity(),
            Frames::Empty | Frames::One(_) => 0,
        }
    }
}

/// The queue plus the waker of the body waiting on it. A plain mutex: it is held for a
/// push or a drain, never across an await, and the two sides rarely contend.
///
/// `K` orders events for [`Mailbox::push_event`]: the hub uses its log's cursor, so that an
/// update reaching a subscriber through several index entries arrives once, and a subscriber
/// that resumed from a cursor is never handed an event at or before it.
#[derive(Debug)]
pub struct Mailbox<K = u64> {
    inner: Mutex<Inner<K>>,
    /// Frames queued at most (a `u32`: with the flags beside it, the mailbox stays in a
    /// smaller allocation class).
    capacity: u32,
    /// The connection holds the stream back: the client's window is closed or the socket
    /// takes nothing (see the module's notes). [`NOT_HELD`], [`HELD`], or since when (in
    /// [`coarse_ms`]) the transport seems to.
    held: AtomicU32,
}

/// Events dropped from a [`Mailbox::catching_up`] mailbox while its queue was full: every
/// event keyed after `after`, up to and including `through`, is to be read from the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag<K> {
    /// The key of the last event queued before the first one dropped.
    pub after: K,
    /// The key of the last event dropped.
    pub through: K,
}

/// What [`Mailbox::poll_take_or_lag`] found.
#[derive(Debug)]
pub enum Taken<K> {
    /// As [`Mailbox::poll_take`].
    Next(Next),
    /// The queue is empty and events were dropped while it was full: the reader reads them
    /// from the log before it takes the live events queued from now on.
    Behind(Lag<K>),
}

#[derive(Debug)]
struct Inner<K> {
    queue: Frames,
    waker: Option<Waker>,
    closed: Option<CloseReason>,
    /// Key of the last event queued by [`Mailbox::push_event`] (or the floor it started at).
    last_key: Option<K>,
    /// Events dropped while the server was behind (only in a catching-up mailbox). Boxed:
    /// rare, and two hub cursors inline would grow every subscriber by 40 bytes.
    lag: Option<Box<Lag<K>>>,
    /// A full queue while the client takes data becomes a [`Lag`] instead of an overflow.
    /// (Under the lock, beside `closed`, where it takes no room of its own.)
    catch_up: bool,
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
                queue: Frames::Empty,
                waker: None,
                closed: None,
                last_key: floor,
                lag: None,
                catch_up: false,
            }),
            capacity: u32::try_from(capacity).unwrap_or(u32::MAX).max(1),
            held: AtomicU32::new(NOT_HELD),
        }
    }

    /// Makes a full queue a [`Lag`] rather than an overflow while the client is not held
    /// back (see the module's notes). Only for producers whose events can be read again by
    /// key (the hub's log); `push` never lags.
    pub fn catching_up(mut self) -> Self {
        self.inner
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .catch_up = true;
        self
    }

    /// Says whether the connection holds the stream back (the client's window is closed,
    /// or its socket takes nothing). The response body calls it only on a change.
    pub fn set_held(&self, held: bool) {
        let state = if held { HELD } else { NOT_HELD };
        self.held.store(state, Ordering::Relaxed);
    }

    /// Says the transport seems to hold the stream back, from now (`true`), or took what it
    /// was given (`false`). Unlike [`Mailbox::set_held`], the stream counts as held only
    /// once this has lasted [`INFERRED_GRACE_MS`]: an HTTP/1.1 connection stops asking for
    /// frames while its own write batching holds the flush (up to 100 ms), and a client
    /// that reads everything must not be ended as slow for the server's own delay.
    pub fn set_held_inferred(&self, held: bool) {
        if held {
            let _ = self.held.compare_exchange(
                NOT_HELD,
                coarse_ms(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        } else {
            self.held.store(NOT_HELD, Ordering::Relaxed);
        }
    }

    fn is_held(&self) -> bool {
        match self.held.load(Ordering::Relaxed) {
            NOT_HELD => false,
            HELD => true,
            since => coarse_ms().wrapping_sub(since) >= INFERRED_GRACE_MS,
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
        if inner.queue.len() >= self.capacity as usize {
            inner.closed = Some(CloseReason::Overflow);
        } else {
            inner.queue.push(frame.clone());
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
        let previous = inner.last_key.replace(key);
        if let Some(lag) = &mut inner.lag {
            // Behind already: this one is read from the log with the others, in order.
            lag.through = key;
        } else if inner.queue.len() < self.capacity as usize {
            inner.queue.push(frame.clone());
        } else {
            match previous {
                Some(after) if inner.catch_up && !self.is_held() => {
                    inner.lag = Some(Box::new(Lag {
                        after,
                        through: key,
                    }));
                }
                _ => inner.closed = Some(CloseReason::Overflow),
            }
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

    /// Closes the mailbox and drops what it holds: its reader cannot take those frames
    /// without a gap before them.
    pub fn abandon(&self, reason: CloseReason) {
        let mut inner = self.lock();
        inner.closed.get_or_insert(reason);
        inner.queue = Frames::Empty;
        inner.lag = None;
    }

    /// Moves up to `max` queued frames into `out` ([`Next::Frames`]), says the mailbox is
    /// closed and empty ([`Next::Closed`]), or registers the waker when there is nothing.
    /// For a mailbox that never lags (a [`Taken::Behind`] would end the stream as an
    /// overflow).
    pub fn poll_take(&self, cx: &mut Context<'_>, max: usize, out: &mut Vec<Bytes>) -> Poll<Next> {
        self.poll_take_or_lag(cx, max, out)
            .map(|taken| match taken {
                Taken::Next(next) => next,
                Taken::Behind(_) => Next::Closed(CloseReason::Overflow),
            })
    }

    /// As [`Mailbox::poll_take`], and once the queue is empty, the events dropped while the
    /// server was behind ([`Taken::Behind`]). Live events queue again from then on.
    pub fn poll_take_or_lag(
        &self,
        cx: &mut Context<'_>,
        max: usize,
        out: &mut Vec<Bytes>,
    ) -> Poll<Taken<K>> {
        let mut inner = self.lock();
        if !inner.queue.is_empty() {
            inner.queue.take_into(max, out);
            return Poll::Ready(Taken::Next(Next::Frames));
        }
        if let Some(lag) = inner.lag.take() {
            return Poll::Ready(Taken::Behind(*lag));
        }
        if let Some(reason) = inner.closed {
            return Poll::Ready(Taken::Next(Next::Closed(reason)));
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

    /// Loads a field beside the lock and the queue, without taking the lock (see
    /// [`crate::sse::EventSource::touch`]).
    pub fn touch(&self) {
        std::hint::black_box(self.capacity);
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

    fn take(mailbox: &Mailbox<u64>) -> Poll<Taken<u64>> {
        let mut cx = Context::from_waker(Waker::noop());
        mailbox.poll_take_or_lag(&mut cx, 10, &mut Vec::new())
    }

    #[test]
    fn a_catching_up_mailbox_lags_while_the_client_takes_data() {
        let mailbox = Mailbox::<u64>::new(2).catching_up();
        for key in 1..=5 {
            assert!(mailbox.push_event(key, &Bytes::from_static(b"x")).0);
        }
        assert!(matches!(
            take(&mailbox),
            Poll::Ready(Taken::Next(Next::Frames))
        ));
        // Keyed 3 to 5 were dropped: the reader reads them from the log.
        assert!(matches!(
            take(&mailbox),
            Poll::Ready(Taken::Behind(Lag {
                after: 2,
                through: 5
            }))
        ));
        // Live again, with nothing at or before the lag.
        assert!(!mailbox.push_event(5, &Bytes::from_static(b"x")).0);
        mailbox.push_event(6, &Bytes::from_static(b"6"));
        let mut out = Vec::new();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(mailbox.poll_take_or_lag(&mut cx, 10, &mut out).is_ready());
        assert_eq!(out, vec![Bytes::from_static(b"6")]);
        assert!(take(&mailbox).is_pending());
    }

    #[test]
    fn a_held_client_overflows_even_when_catching_up() {
        let mailbox = Mailbox::<u64>::new(2).catching_up();
        mailbox.set_held(true);
        for key in 1..=3 {
            mailbox.push_event(key, &Bytes::from_static(b"x"));
        }
        assert!(matches!(
            take(&mailbox),
            Poll::Ready(Taken::Next(Next::Frames))
        ));
        assert!(matches!(
            take(&mailbox),
            Poll::Ready(Taken::Next(Next::Closed(CloseReason::Overflow)))
        ));
    }

    #[test]
    fn a_guessed_hold_counts_only_once_it_outlasts_the_write_batching() {
        // Fills a two-frame queue with three events, takes the two, and says what the
        // third became.
        let after_full = |mailbox: &Mailbox<u64>| {
            for key in 1..=3 {
                mailbox.push_event(key, &Bytes::from_static(b"x"));
            }
            assert!(matches!(
                take(mailbox),
                Poll::Ready(Taken::Next(Next::Frames))
            ));
            take(mailbox)
        };
        // Guessed just now: the server's own batching may be why, so the server is behind.
        let fresh = Mailbox::<u64>::new(2).catching_up();
        fresh.set_held_inferred(true);
        assert!(matches!(after_full(&fresh), Poll::Ready(Taken::Behind(_))));
        // Guessed for longer than any batching window: the client is slow.
        let old = Mailbox::<u64>::new(2).catching_up();
        old.set_held_inferred(true);
        std::thread::sleep(std::time::Duration::from_millis(
            u64::from(INFERRED_GRACE_MS) + 20,
        ));
        // A later guess keeps the hold's start.
        old.set_held_inferred(true);
        assert!(matches!(
            after_full(&old),
            Poll::Ready(Taken::Next(Next::Closed(CloseReason::Overflow)))
        ));
        // Taken: not held any more.
        let taken = Mailbox::<u64>::new(2).catching_up();
        taken.set_held_inferred(true);
        taken.set_held_inferred(false);
        assert!(matches!(after_full(&taken), Poll::Ready(Taken::Behind(_))));
    }

    #[test]
    fn an_abandoned_mailbox_drops_what_it_holds() {
        let mailbox = Mailbox::<u64>::new(4).catching_up();
        mailbox.push_event(1, &Bytes::from_static(b"x"));
        mailbox.abandon(CloseReason::Overflow);
        assert!(!mailbox.push_event(2, &Bytes::from_static(b"x")).0);
        assert!(matches!(
            take(&mailbox),
            Poll::Ready(Taken::Next(Next::Closed(CloseReason::Overflow)))
        ));
    }

    #[test]
    fn one_frame_at_a_time_needs_no_queue_storage() {
        let mailbox = Mailbox::<u64>::new(8);
        let mut cx = Context::from_waker(Waker::noop());
        for i in 0..3u8 {
            mailbox.push(&Bytes::from(vec![i]));
            assert_eq!(mailbox.capacity(), 0, "one frame is kept inline");
            let mut out = Vec::new();
            assert!(mailbox.poll_take(&mut cx, 64, &mut out).is_ready());
            assert_eq!(out, vec![Bytes::from(vec![i])]);
        }
        // Two or more pile up in a deque, taken in order.
        for i in 0..3u8 {
            mailbox.push(&Bytes::from(vec![i]));
        }
        let mut out = Vec::new();
        assert!(mailbox.poll_take(&mut cx, 2, &mut out).is_ready());
        assert!(mailbox.poll_take(&mut cx, 2, &mut out).is_ready());
        assert_eq!(
            out,
            (0..3u8).map(|i| Bytes::from(vec![i])).collect::<Vec<_>>()
        );
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
