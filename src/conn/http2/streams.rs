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
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use http_body::Body;
use slab::Slab;
use tokio::time::{Instant, Sleep};

use super::{
    request_body::{BodyError, Shared},
    wake::{StreamWaker, Wakeups},
};
use crate::{
    h2wire::{
        frame::{self, ErrorCode},
        hpack::Encoder,
    },
    http::ResponseBody,
    stall::StallMark,
};

/// Frames one stream may send in one pass before the others get their turn: a stream
/// catching up on a backlog does not delay the connection's other streams.
const FRAMES_PER_PASS: usize = 8;

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

/// A response whose head is sent and whose body is on its way.
pub(super) struct Sending {
    body: ResponseBody,
    waker: Arc<StreamWaker>,
    task_waker: Waker,
    /// Held back by a client that opens no window: the connection's stall watch cuts it.
    mark: StallMark,
    /// The rest of a frame the window did not let out, and whether the body ended with it.
    pending: Option<(Bytes, bool)>,
}

/// Where a pass writes.
pub(super) struct Out<'a> {
    pub buf: &'a mut Vec<u8>,
    pub connection_window: &'a mut i64,
    /// The client's SETTINGS_MAX_FRAME_SIZE.
    pub max_frame_size: u32,
    pub encoder: &'a mut Encoder,
    /// Set when a stream has more to send than one pass takes: the connection takes
    /// another turn at once.
    pub again: &'a mut bool,
    /// Above this many buffered bytes, streams wait for the socket before they send more.
    pub high_water: usize,
}

/// How a stream's turn ended.
enum Turn {
    /// Waiting for its body, or its window (the stream's own: a WINDOW_UPDATE wakes it).
    Open,
    /// Waiting for the connection's window.
    BlockedOnConnection,
    /// The response ended.
    Ended,
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
        }
        let Some(stream) = self.slots.get_mut(key) else {
            return;
        };
        let waker = StreamWaker::new(key, self.wakeups.clone());
        let task_waker = Waker::from(waker.clone());
        waker.queue();
        stream.response = Response::Sending(Box::new(Sending {
            body,
            waker,
            task_waker,
            mark,
            pending: None,
        }));
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
        for &key in &pass {
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
            match stream.turn(out) {
                Turn::Open => {}
                Turn::BlockedOnConnection => self.blocked.push(key),
                Turn::Ended => {
                    stream.response = Response::Done;
                    self.remove_if_closed(key);
                }
            }
        }
        pass.clear();
        self.pass = pass;
    }
}

impl Sending {
    fn hold(&mut self) {
        self.mark.held();
        if let ResponseBody::Events(events) = &mut self.body {
            events.set_held(true);
        }
    }

    fn release(&mut self) {
        self.mark.waiting();
        if let ResponseBody::Events(events) = &mut self.body {
            events.set_held(false);
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

    /// Sends what the body has, as the windows allow.
    fn turn(&mut self, out: &mut Out<'_>) -> Turn {
        let id = self.id;
        let Response::Sending(sending) = &mut self.response else {
            return Turn::Open;
        };
        for _ in 0..FRAMES_PER_PASS {
            if let Some((rest, end)) = sending.pending.take() {
                match send_data(id, &mut self.send_window, rest, end, out) {
                    Some(rest) => {
                        sending.pending = Some((rest, end));
                        sending.hold();
                        return blocked_on(self.send_window, out);
                    }
                    None if end => return Turn::Ended,
                    None => continue,
                }
            }
            if self.send_window <= 0 || *out.connection_window <= 0 {
                sending.hold();
                return blocked_on(self.send_window, out);
            }
            sending.release();
            let mut cx = Context::from_waker(&sending.task_waker);
            match Pin::new(&mut sending.body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let end = sending.body.is_end_stream();
                        if data.is_empty() && !end {
                            continue;
                        }
                        if let Some(rest) = send_data(id, &mut self.send_window, data, end, out) {
                            sending.pending = Some((rest, end));
                        } else if end {
                            return Turn::Ended;
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            let mut block = Vec::new();
                            out.encoder.encode(
                                trailers.iter().map(|(name, value)| {
                                    (name.as_str().as_bytes(), value.as_bytes())
                                }),
                                &mut block,
                            );
                            frame::write_headers(out.buf, id, &block, true, out.max_frame_size);
                            return Turn::Ended;
                        }
                    }
                },
                Poll::Ready(Some(Err(e))) => {
                    // The client learns the end was not a clean one (as with hyper); what
                    // the body sent before leaves first, in the same write.
                    tracing::debug!(error = %e, "response body failed; resetting the stream");
                    frame::write_rst_stream(out.buf, id, ErrorCode::INTERNAL_ERROR);
                    return Turn::Ended;
                }
                Poll::Ready(None) => {
                    if matches!(&sending.body, ResponseBody::Events(events) if events.failed()) {
                        frame::write_rst_stream(out.buf, id, ErrorCode::INTERNAL_ERROR);
                    } else {
                        frame::write_data(out.buf, id, &[], true);
                    }
                    return Turn::Ended;
                }
                Poll::Pending => return Turn::Open,
            }
        }
        // More to send: another turn after the other streams, at once even while the
        // connection batches (a stream replaying its backlog is not held to 8 frames per
        // batch).
        sending.waker.queue();
        *out.again = true;
        Turn::Open
    }
}

fn blocked_on(stream_window: i64, out: &Out<'_>) -> Turn {
    if stream_window > 0 && *out.connection_window <= 0 {
        Turn::BlockedOnConnection
    } else {
        Turn::Open
    }
}

/// Writes `data` as DATA frames as far as the windows and the frame size allow; returns
/// what is left.
fn send_data(
    id: u32,
    stream_window: &mut i64,
    mut data: Bytes,
    end: bool,
    out: &mut Out<'_>,
) -> Option<Bytes> {
    loop {
        let allowed = (*stream_window)
            .min(*out.connection_window)
            .min(i64::from(out.max_frame_size))
            .max(0) as usize;
        if data.len() <= allowed {
            frame::write_data(out.buf, id, &data, end);
            *stream_window -= data.len() as i64;
            *out.connection_window -= data.len() as i64;
            return None;
        }
        if allowed == 0 {
            return Some(data);
        }
        let head = data.split_to(allowed);
        frame::write_data(out.buf, id, &head, false);
        *stream_window -= allowed as i64;
        *out.connection_window -= allowed as i64;
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
