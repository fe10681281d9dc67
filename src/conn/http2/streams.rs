//! A connection's streams: what each still expects from the client (its request body) and
//! what it still sends (its response), with both directions' flow-control windows.
//!
//! Responses are sent by the connection itself, whatever their body: an event stream, a
//! complete body, a relayed one. A body's waker queues its stream's key and wakes the
//! connection ([`super::wake`]); the connection then polls exactly the woken streams in
//! one pass, each writing its DATA frames into the connection's write buffer, and writes
//! them all at once. A stream without window keeps what it has not sent where it was made
//! (a subscriber's bounded queue), plus at most the rest of one frame here.

use std::{
    collections::HashMap, future::Future, pin::Pin, sync::Arc, task::Context, time::Duration,
};

use slab::Slab;
use tokio::time::{Instant, Sleep};

use super::{
    request_body::{BodyError, Shared},
    sending::{Out, Sending, Turn},
    wake::{StreamWaker, Wakeups},
};
use crate::{http::ResponseBody, stall::StallMark};

/// Streams whose records a pass loads ahead of serving them (see [`Streams::touch`]): enough
/// to keep many cache misses in flight, few enough that the first are still in the cache
/// when they are served.
const TOUCH_AHEAD: usize = 32;

/// One stream of the connection.
pub(super) struct Stream {
    pub id: u32,
    /// What the client lets us send (may go below zero when it shrinks its windows).
    pub send_window: i64,
    /// What the client may still send us on this stream.
    pub recv_window: i64,
    /// The request body's other end, while the client still sends it.
    pub request: Option<Arc<Shared>>,
    /// What the request's `content-length` says is still to come.
    pub content_left: Option<u64>,
    pub response: Response,
}

/// The response side of a stream.
pub(super) enum Response {
    /// The router is still working on it.
    Waiting,
    Sending(Box<Sending>),
    /// Ended (END_STREAM or RST_STREAM sent).
    Done,
}

/// The connection's one heartbeat timer. It ticks at the shortest period of the
/// connection's streams, from a random phase so that connections do not tick together.
struct HeartbeatClock {
    every: Duration,
    timer: Pin<Box<Sleep>>,
}

/// The table.
pub(super) struct Streams {
    slots: Slab<Stream>,
    ids: HashMap<u32, usize>,
    wakeups: Arc<Wakeups>,
    /// Keys taken from `wakeups` for the current pass (kept for its capacity).
    pass: Vec<usize>,
    /// Streams the last pass did not reach because the socket was full.
    deferred: Vec<usize>,
    /// Streams waiting for the connection's window.
    blocked: Vec<usize>,
    heartbeats: Option<HeartbeatClock>,
}

impl Streams {
    pub fn new() -> Self {
        Self {
            slots: Slab::new(),
            ids: HashMap::new(),
            wakeups: Arc::new(Wakeups::default()),
            pass: Vec::new(),
            deferred: Vec::new(),
            blocked: Vec::new(),
            heartbeats: None,
        }
    }

    pub fn wakeups(&self) -> &Arc<Wakeups> {
        &self.wakeups
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The key a stream inserted next gets.
    pub fn next_key(&self) -> usize {
        self.slots.vacant_key()
    }

    pub fn insert(&mut self, stream: Stream) -> usize {
        let id = stream.id;
        let key = self.slots.insert(stream);
        self.ids.insert(id, key);
        key
    }

    pub fn key(&self, id: u32) -> Option<usize> {
        self.ids.get(&id).copied()
    }

    pub fn get_mut(&mut self, key: usize) -> Option<&mut Stream> {
        self.slots.get_mut(key)
    }

    pub fn by_id(&mut self, id: u32) -> Option<&mut Stream> {
        let key = *self.ids.get(&id)?;
        self.slots.get_mut(key)
    }

    /// Removes a stream; a request body still being received is cut.
    pub fn remove(&mut self, key: usize) {
        if let Some(stream) = self.slots.try_remove(key) {
            self.ids.remove(&stream.id);
        }
    }

    /// Removes the stream if both directions are over.
    pub fn remove_if_closed(&mut self, key: usize) {
        if let Some(stream) = self.slots.get(key) {
            if stream.request.is_none() && matches!(stream.response, Response::Done) {
                self.remove(key);
            }
        }
    }

    /// Every stream's key (for a change of the client's initial window, or the end).
    pub fn keys(&self) -> Vec<usize> {
        self.slots.iter().map(|(key, _)| key).collect()
    }

    /// Starts sending a response whose head was written: its body is polled in this turn's
    /// pass.
    pub fn start(&mut self, key: usize, mut body: ResponseBody, mark: StallMark) {
        if let ResponseBody::Events(events) = &mut body {
            let every = events.tick_from_connection();
            self.tick_every(every);
            // From now on the connection says when it holds the stream back (only on a
            // change: see `Sending::held`), and the body no longer guesses.
            events.set_held(false);
        }
        let Some(stream) = self.slots.get_mut(key) else {
            return;
        };
        let waker = StreamWaker::new(key, self.wakeups.clone());
        waker.queue();
        stream.response = Response::Sending(Box::new(Sending::new(body, waker, mark)));
    }

    /// Queues a stream whose window grew.
    pub fn wake(&mut self, key: usize) {
        if let Some(Stream {
            response: Response::Sending(sending),
            ..
        }) = self.slots.get(key)
        {
            sending.waker.queue();
        }
    }

    /// The connection's window grew: the streams that waited for it get their turn.
    pub fn wake_blocked(&mut self) {
        for key in std::mem::take(&mut self.blocked) {
            self.wake(key);
        }
    }

    /// Makes the heartbeat clock tick at least every `every`.
    fn tick_every(&mut self, every: Duration) {
        let now = Instant::now();
        match &mut self.heartbeats {
            None => {
                let first = now + every.mul_f64(fastrand::f64());
                self.heartbeats = Some(HeartbeatClock {
                    every,
                    timer: Box::pin(tokio::time::sleep_until(first)),
                });
            }
            Some(clock) if every < clock.every => {
                clock.every = every;
                if clock.timer.deadline() > now + every {
                    clock.timer.as_mut().reset(now + every);
                }
            }
            Some(_) => {}
        }
    }

    /// On a tick of the heartbeat clock, queues every event stream that has a heartbeat to
    /// send.
    pub fn poll_heartbeats(&mut self, cx: &mut Context<'_>) {
        let Some(clock) = &mut self.heartbeats else {
            return;
        };
        while clock.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            for (_, stream) in self.slots.iter_mut() {
                if let Response::Sending(sending) = &mut stream.response {
                    if let ResponseBody::Events(events) = &mut sending.body {
                        if events.heartbeat_tick(now) {
                            sending.waker.queue();
                        }
                    }
                }
            }
            clock.timer.as_mut().reset(now + clock.every);
        }
    }

    /// Polls every stream woken since the last pass; each writes what it has into `out`.
    pub fn poll_ready(&mut self, out: &mut Out<'_>) {
        let mut pass = std::mem::take(&mut self.pass);
        self.wakeups.take_ready(&mut pass);
        if !self.deferred.is_empty() {
            // Those the socket held back go first.
            pass.splice(0..0, self.deferred.drain(..));
        }
        for chunk in pass.chunks(TOUCH_AHEAD) {
            self.touch(chunk);
            for &key in chunk {
                let Some(stream) = self.slots.get_mut(key) else {
                    // Ended since it was woken.
                    continue;
                };
                let Response::Sending(sending) = &mut stream.response else {
                    continue;
                };
                if out.buf.len() > out.high_water {
                    // The socket takes less than the streams make: the rest wait for it, held
                    // back as by a closed window (their queues tell a slow client this way).
                    sending.hold();
                    if !self.deferred.contains(&key) {
                        self.deferred.push(key);
                    }
                    continue;
                }
                // Before polling: a wake from inside the poll queues the stream again.
                sending.waker.unqueue();
                let before = out.buf.len();
                let turn = stream.turn(out);
                if out.buf.len() > before && !matches!(turn, Turn::Ended) {
                    *out.wrote_ongoing = true;
                }
                match turn {
                    Turn::Open => {}
                    Turn::BlockedOnConnection => self.blocked.push(key),
                    Turn::Ended => {
                        stream.response = Response::Done;
                        self.remove_if_closed(key);
                    }
                }
            }
        }
        pass.clear();
        self.pass = pass;
    }
}

impl Streams {
    /// Loads the records a pass is about to serve, level by level: each stream's slot,
    /// then its response, its body, the body's source. A batch's streams were last touched
    /// milliseconds ago, and their records are cold by then; served one after the other,
    /// each stream would wait for four cache misses in turn, while the loads of one level
    /// here do not depend on each other and the processor keeps them in flight together.
    fn touch(&self, pass: &[usize]) {
        if pass.len() < 2 {
            return;
        }
        let sending = |key: usize| match self.slots.get(key) {
            Some(Stream {
                response: Response::Sending(sending),
                ..
            }) => Some(&**sending),
            _ => None,
        };
        let events = |key: usize| match sending(key).map(|sending| &sending.body) {
            Some(ResponseBody::Events(events)) => Some(&**events),
            _ => None,
        };
        for &key in pass {
            std::hint::black_box(self.slots.get(key).map(|stream| stream.id));
        }
        pass.iter()
            .filter_map(|&key| sending(key))
            .for_each(Sending::touch);
        for events in pass.iter().filter_map(|&key| events(key)) {
            events.touch();
        }
        for events in pass.iter().filter_map(|&key| events(key)) {
            events.touch_source();
        }
    }
}

impl Stream {
    /// The response's turn in a pass (see [`Sending::turn`]).
    fn turn(&mut self, out: &mut Out<'_>) -> Turn {
        match &mut self.response {
            Response::Sending(sending) => sending.turn(self.id, &mut self.send_window, out),
            Response::Waiting | Response::Done => Turn::Open,
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // Reset, or the connection ended: a reader still waiting learns the body was cut.
        if let Some(request) = self.request.take() {
            request.finish(Err(BodyError::Cut));
        }
    }
}

impl Stream {
    /// A fresh stream with the windows the settings give it.
    pub fn new(id: u32, send_window: u32, recv_window: u32) -> Self {
        Self {
            id,
            send_window: i64::from(send_window),
            recv_window: i64::from(recv_window),
            request: None,
            content_left: None,
            response: Response::Waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streams_records_stay_within_their_size_classes() {
        // What an idle event stream costs the connection (PERFORMANCE.md's budget): its
        // slot in the table, the boxed response state (the 128-byte class) and its waker.
        assert!(std::mem::size_of::<Stream>() <= 64);
        assert!(std::mem::size_of::<Sending>() <= 128);
        // An `Arc` adds its two counts: the 48-byte class.
        assert!(std::mem::size_of::<StreamWaker>() <= 32);
    }
}
