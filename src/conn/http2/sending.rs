//! A response on its way: its body, and its turn in a pass (what the body has, written as
//! DATA frames as far as the stream's and the connection's windows and the peer's frame
//! size let it).

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use http_body::Body;

use super::wake::StreamWaker;
use crate::{
    h2wire::{
        frame::{self, ErrorCode},
        hpack::Encoder,
    },
    http::{BoxError, ResponseBody},
    stall::StallMark,
};

/// Frames one stream may send in one pass before the others get their turn: a stream
/// catching up on a backlog does not delay the connection's other streams.
const FRAMES_PER_PASS: usize = 8;

/// A response whose head is sent and whose body is on its way.
pub(super) struct Sending {
    pub body: ResponseBody,
    pub waker: Arc<StreamWaker>,
    /// `waker` as the body's task waker.
    task_waker: Waker,
    /// Held back by a client that opens no window: the connection's stall watch cuts it.
    mark: StallMark,
    /// What `mark` and the body were last told: a turn touches them (another allocation
    /// each, cold by the time a batch is served) only when the hold changes.
    held: bool,
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
    /// Where an event stream's frames are taken before they are written (kept for its
    /// capacity).
    pub parts: &'a mut Vec<Bytes>,
    /// Set when a stream wrote and stays open (an event stream, a relayed body): more is
    /// likely to follow, which is what a batch is for. A complete answer (a publish's)
    /// writes and ends in one turn.
    pub wrote_ongoing: &'a mut bool,
}

/// How a stream's turn ended.
pub(super) enum Turn {
    /// Waiting for its body, or its window (the stream's own: a WINDOW_UPDATE wakes it).
    Open,
    /// Waiting for the connection's window.
    BlockedOnConnection,
    /// The response ended.
    Ended,
}

impl Sending {
    pub fn new(body: ResponseBody, waker: Arc<StreamWaker>, mark: StallMark) -> Self {
        Self {
            body,
            task_waker: Waker::from(waker.clone()),
            waker,
            mark,
            held: false,
            pending: None,
        }
    }

    /// Loads the record, and nothing else (see `Streams::touch`).
    pub fn touch(&self) {
        std::hint::black_box(self.held);
    }

    pub fn hold(&mut self) {
        if std::mem::replace(&mut self.held, true) {
            return;
        }
        self.mark.held();
        if let ResponseBody::Events(events) = &mut self.body {
            events.set_held(true);
        }
    }

    pub fn release(&mut self) {
        if !std::mem::replace(&mut self.held, false) {
            return;
        }
        self.mark.waiting();
        if let ResponseBody::Events(events) = &mut self.body {
            events.set_held(false);
        }
    }

    /// Sends what the body has, as the windows allow: `send_window` is stream `id`'s.
    pub fn turn(&mut self, id: u32, send_window: &mut i64, out: &mut Out<'_>) -> Turn {
        for _ in 0..FRAMES_PER_PASS {
            if let Some((rest, end)) = self.pending.take() {
                match send_data(id, send_window, rest, end, out) {
                    Some(rest) => {
                        self.pending = Some((rest, end));
                        self.hold();
                        return blocked_on(*send_window, out);
                    }
                    None if end => return Turn::Ended,
                    None => continue,
                }
            }
            if *send_window <= 0 || *out.connection_window <= 0 {
                self.hold();
                return blocked_on(*send_window, out);
            }
            self.release();
            let mut cx = Context::from_waker(&self.task_waker);
            let polled = match &mut self.body {
                // An event stream's frames are written as they were queued, without being
                // joined first (see `SseBody::poll_chunks`).
                ResponseBody::Events(events) => {
                    out.parts.clear();
                    match events.poll_chunks(&mut cx, out.parts) {
                        Poll::Ready(Some(Ok(()))) => Polled::Parts,
                        Poll::Ready(Some(Err(e))) => Polled::Failed(e.into()),
                        Poll::Ready(None) => Polled::Done,
                        Poll::Pending => Polled::Pending,
                    }
                }
                body => match Pin::new(body).poll_frame(&mut cx) {
                    Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                        Ok(data) => Polled::Data(data),
                        Err(frame) => match frame.into_trailers() {
                            Ok(trailers) => Polled::Trailers(trailers),
                            // A frame of a kind HTTP/2 has no use for.
                            Err(_) => continue,
                        },
                    },
                    Poll::Ready(Some(Err(e))) => Polled::Failed(e),
                    Poll::Ready(None) => Polled::Done,
                    Poll::Pending => Polled::Pending,
                },
            };
            let end = self.body.is_end_stream();
            match polled {
                Polled::Parts => {
                    if let Some(rest) = send_parts(id, send_window, end, out) {
                        self.pending = Some((rest, end));
                    } else if end {
                        return Turn::Ended;
                    }
                }
                Polled::Data(data) => {
                    if data.is_empty() && !end {
                        continue;
                    }
                    if let Some(rest) = send_data(id, send_window, data, end, out) {
                        self.pending = Some((rest, end));
                    } else if end {
                        return Turn::Ended;
                    }
                }
                Polled::Trailers(trailers) => {
                    let mut block = Vec::new();
                    out.encoder.encode(
                        trailers
                            .iter()
                            .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes())),
                        &mut block,
                    );
                    frame::write_headers(out.buf, id, &block, true, out.max_frame_size);
                    return Turn::Ended;
                }
                Polled::Failed(e) => {
                    // The client learns the end was not a clean one (as with hyper); what
                    // the body sent before leaves first, in the same write.
                    tracing::debug!(error = %e, "response body failed; resetting the stream");
                    frame::write_rst_stream(out.buf, id, ErrorCode::INTERNAL_ERROR);
                    return Turn::Ended;
                }
                Polled::Done => {
                    if matches!(&self.body, ResponseBody::Events(events) if events.failed()) {
                        frame::write_rst_stream(out.buf, id, ErrorCode::INTERNAL_ERROR);
                    } else {
                        frame::write_data(out.buf, id, &[], true);
                    }
                    return Turn::Ended;
                }
                Polled::Pending => return Turn::Open,
            }
        }
        // More to send: another turn after the other streams, at once even while the
        // connection batches (a stream replaying its backlog is not held to 8 frames per
        // batch).
        self.waker.queue();
        *out.again = true;
        Turn::Open
    }
}

/// What one poll of a response body gave.
enum Polled {
    /// An event stream's frames, in `Out::parts`.
    Parts,
    Data(Bytes),
    Trailers(http::HeaderMap),
    Failed(BoxError),
    Done,
    Pending,
}

/// Writes the event stream's frames in `out.parts` as one DATA frame when the windows and
/// the frame size let all of them out (the usual case); otherwise joins them and writes
/// what is allowed, returning the rest, as [`send_data`].
fn send_parts(id: u32, stream_window: &mut i64, end: bool, out: &mut Out<'_>) -> Option<Bytes> {
    let len: usize = out.parts.iter().map(Bytes::len).sum();
    if len == 0 && !end {
        return None;
    }
    if len <= allowed(*stream_window, out) {
        frame::write_data_parts(out.buf, id, out.parts, end);
        *stream_window -= len as i64;
        *out.connection_window -= len as i64;
        return None;
    }
    let joined: Bytes = match &out.parts[..] {
        [one] => one.clone(),
        parts => parts.concat().into(),
    };
    send_data(id, stream_window, joined, end, out)
}

/// What the windows and the peer's frame size let one DATA frame carry now.
fn allowed(stream_window: i64, out: &Out<'_>) -> usize {
    stream_window
        .min(*out.connection_window)
        .min(i64::from(out.max_frame_size))
        .max(0) as usize
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
        let allowed = allowed(*stream_window, out);
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

    /// `send_parts` into a fresh buffer, with the given windows.
    fn parts_sent(parts: &[&'static [u8]], window: i64) -> (Vec<u8>, Option<Bytes>, i64) {
        let (mut buf, mut connection_window, mut stream_window) = (Vec::new(), window, window);
        let mut scratch: Vec<Bytes> = parts.iter().map(|p| Bytes::from_static(p)).collect();
        let (mut encoder, mut again) = (Encoder::new(), false);
        let mut out = Out {
            buf: &mut buf,
            connection_window: &mut connection_window,
            max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            encoder: &mut encoder,
            again: &mut again,
            high_water: usize::MAX,
            parts: &mut scratch,
            wrote_ongoing: &mut false,
        };
        let rest = send_parts(1, &mut stream_window, false, &mut out);
        assert_eq!(stream_window, connection_window);
        (buf, rest, stream_window)
    }

    #[test]
    fn an_event_streams_parts_leave_as_one_frame_when_the_window_allows() {
        let (buf, rest, window) = parts_sent(&[b"data: a\n\n", b"data: b\n\n"], 100);
        let mut expected = Vec::new();
        frame::write_data(&mut expected, 1, b"data: a\n\ndata: b\n\n", false);
        assert_eq!((buf, rest, window), (expected, None, 82));
    }

    #[test]
    fn parts_beyond_the_window_are_joined_and_the_rest_kept() {
        let (buf, rest, window) = parts_sent(&[b"data: a\n\n", b"data: b\n\n"], 12);
        let mut expected = Vec::new();
        frame::write_data(&mut expected, 1, b"data: a\n\ndat", false);
        assert_eq!(buf, expected);
        assert_eq!(rest.as_deref(), Some(&b"a: b\n\n"[..]));
        assert_eq!(window, 0);
    }
}
