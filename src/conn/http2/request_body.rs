//! A request body the connection receives and the request's task reads.
//!
//! The connection pushes each DATA frame's bytes here and the reader takes them; what the
//! reader took is given back to the client as flow-control window (stream and connection)
//! by the connection, so what waits here is bounded by the stream's window. A reader that
//! went away (the router answered without reading the body) takes nothing more: the
//! connection drops further data and gives its window back at once.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

/// The bodies whose readers took data (or left) since the connection last looked: it owes
/// the client their window.
#[derive(Debug)]
pub(super) struct Credits {
    bodies: Mutex<Vec<Arc<Shared>>>,
    connection: Arc<AtomicWaker>,
}

impl Credits {
    pub fn new(connection: Arc<AtomicWaker>) -> Arc<Self> {
        Arc::new(Self {
            bodies: Mutex::new(Vec::new()),
            connection,
        })
    }

    fn push(&self, body: Arc<Shared>) {
        self.bodies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(body);
        self.connection.wake();
    }

    /// Takes the bodies reported since the last call.
    pub fn take(&self) -> Vec<Arc<Shared>> {
        let mut bodies = self.bodies.lock().unwrap_or_else(|e| e.into_inner());
        if bodies.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut *bodies)
    }
}

/// Why a request body ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The client reset the stream, or the connection ended, before the body's end.
    #[error("the request body was cut off (stream reset or connection closed)")]
    Cut,
    /// More or less data than the request's `content-length` said.
    #[error("the request body does not match its content-length")]
    LengthMismatch,
}

/// What the connection and the reader share.
#[derive(Debug)]
pub(super) struct Shared {
    state: Mutex<State>,
    /// The stream's key in the connection's table, for the window it gives back.
    pub key: usize,
    /// The stream's id: the key may name another stream by the time the window is given.
    pub id: u32,
    credits: Arc<Credits>,
}

#[derive(Debug, Default)]
struct State {
    chunks: VecDeque<Bytes>,
    /// Set once the body is over: its trailers (if any), or how it was cut.
    end: Option<Result<Option<HeaderMap>, BodyError>>,
    reader: Option<Waker>,
    /// Bytes the reader took that the connection has not given back yet.
    taken: u32,
    /// The reader is gone.
    dropped: bool,
}

impl Shared {
    pub fn new(key: usize, id: u32, credits: Arc<Credits>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            key,
            id,
            credits,
        })
    }

    /// Hands `data` to the reader; false when the reader is gone (the caller gives the
    /// window back itself).
    pub fn push(&self, data: Bytes) -> bool {
        let mut state = self.lock();
        if state.dropped {
            return false;
        }
        if !data.is_empty() {
            state.chunks.push_back(data);
        }
        if let Some(reader) = state.reader.take() {
            reader.wake();
        }
        true
    }

    /// Ends the body: cleanly with its trailers, or cut.
    pub fn finish(&self, end: Result<Option<HeaderMap>, BodyError>) {
        let mut state = self.lock();
        if state.end.is_none() {
            state.end = Some(end);
        }
        if let Some(reader) = state.reader.take() {
            reader.wake();
        }
    }

    /// Whether the reader is gone.
    pub fn is_dropped(&self) -> bool {
        self.lock().dropped
    }

    /// Takes what the reader consumed since the last call (window to give back).
    pub fn take_consumed(&self) -> u32 {
        std::mem::take(&mut self.lock().taken)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each critical section is a push or a pop: a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The request body as the router reads it.
#[derive(Debug)]
pub struct RequestBody {
    shared: Option<Arc<Shared>>,
    content_length: Option<u64>,
    read: u64,
}

impl RequestBody {
    /// A request that came with END_STREAM on its HEADERS.
    pub(super) fn empty() -> Self {
        Self {
            shared: None,
            content_length: Some(0),
            read: 0,
        }
    }

    pub(super) fn new(shared: Arc<Shared>, content_length: Option<u64>) -> Self {
        Self {
            shared: Some(shared),
            content_length,
            read: 0,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        let Some(shared) = &this.shared else {
            return Poll::Ready(None);
        };
        let mut state = shared.lock();
        if let Some(data) = state.chunks.pop_front() {
            let len = data.len() as u32;
            let first_credit = state.taken == 0;
            state.taken = state.taken.saturating_add(len);
            drop(state);
            if first_credit {
                shared.credits.push(shared.clone());
            }
            this.read += u64::from(len);
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        match state.end.take() {
            Some(Ok(Some(trailers))) => {
                state.end = Some(Ok(None));
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Some(Ok(None)) => {
                state.end = Some(Ok(None));
                drop(state);
                this.shared = None;
                Poll::Ready(None)
            }
            Some(Err(e)) => {
                state.end = Some(Err(e));
                Poll::Ready(Some(Err(e)))
            }
            None => {
                state.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.shared {
            None => true,
            Some(shared) => {
                let state = shared.lock();
                state.chunks.is_empty() && matches!(state.end, Some(Ok(None)))
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.content_length {
            Some(length) => SizeHint::with_exact(length.saturating_sub(self.read)),
            None => SizeHint::default(),
        }
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let mut state = shared.lock();
            state.dropped = true;
            // What waits here was never taken: its window goes back too.
            let waiting: usize = state.chunks.drain(..).map(|c| c.len()).sum();
            state.taken = state.taken.saturating_add(waiting as u32);
            let unfinished = state.end.is_none();
            let credit = state.taken > 0;
            drop(state);
            // The connection gives the window back, and resets a stream whose body is
            // still coming once its response is sent.
            if credit || unfinished {
                shared.credits.push(shared.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::Poll;

    use bytes::Bytes;
    use futures_util::task::AtomicWaker;
    use http_body::Body;

    use super::*;

    fn open(content_length: Option<u64>) -> (Arc<Shared>, Arc<Credits>, RequestBody) {
        let credits = Credits::new(Arc::new(AtomicWaker::new()));
        let shared = Shared::new(0, 1, credits.clone());
        let body = RequestBody::new(shared.clone(), content_length);
        (shared, credits, body)
    }

    fn poll(body: &mut RequestBody) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(body).poll_frame(&mut cx)
    }

    #[test]
    fn what_the_reader_takes_is_owed_back_to_the_client_once() {
        let (shared, credits, mut body) = open(Some(5));
        assert!(poll(&mut body).is_pending());
        assert!(shared.push(Bytes::from_static(b"ab")));
        assert!(shared.push(Bytes::from_static(b"cde")));
        assert_eq!(body.size_hint().exact(), Some(5));
        let Poll::Ready(Some(Ok(frame))) = poll(&mut body) else {
            panic!("data");
        };
        assert_eq!(frame.into_data().ok(), Some(Bytes::from_static(b"ab")));
        assert_eq!(body.size_hint().exact(), Some(3));
        assert!(matches!(poll(&mut body), Poll::Ready(Some(Ok(_)))));
        // One report for both takes: the connection collects the sum.
        let reported = credits.take();
        assert_eq!(reported.len(), 1);
        assert_eq!(reported[0].take_consumed(), 5);
        assert_eq!(shared.take_consumed(), 0);
        shared.finish(Ok(None));
        assert!(body.is_end_stream());
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
    }

    #[test]
    fn trailers_come_after_the_data_and_a_cut_is_an_error() {
        let (shared, _credits, mut body) = open(None);
        let mut trailers = HeaderMap::new();
        trailers.insert("x-sum", "1".parse().expect("value"));
        assert!(shared.push(Bytes::from_static(b"x")));
        shared.finish(Ok(Some(trailers)));
        assert!(matches!(poll(&mut body), Poll::Ready(Some(Ok(f))) if f.is_data()));
        assert!(matches!(poll(&mut body), Poll::Ready(Some(Ok(f))) if f.is_trailers()));
        assert!(matches!(poll(&mut body), Poll::Ready(None)));

        let (shared, _credits, mut body) = open(None);
        shared.finish(Err(BodyError::Cut));
        assert!(matches!(
            poll(&mut body),
            Poll::Ready(Some(Err(BodyError::Cut)))
        ));
    }

    #[test]
    fn a_reader_that_leaves_gives_back_what_waited_and_takes_nothing_more() {
        let (shared, credits, body) = open(None);
        assert!(shared.push(Bytes::from_static(b"unread")));
        drop(body);
        assert!(shared.is_dropped());
        let reported = credits.take();
        assert_eq!(reported.len(), 1, "the connection hears of it");
        assert_eq!(reported[0].take_consumed(), 6);
        assert!(
            !shared.push(Bytes::from_static(b"more")),
            "refused: its window is the caller's to give"
        );
    }
}
