//! The exchange with the router: requests handed to it (on tasks of their own when they
//! wait), its answers taken back (heads written, bodies started), and the window of what
//! request bodies' readers consumed given back to the client.

use std::{
    future::Future,
    panic::{self, AssertUnwindSafe},
    sync::{atomic::Ordering, Arc},
    task::{Context, Poll},
};

use http::Method;
use tracing::Instrument;

use super::{response::complete_head, streams::Response as StreamResponse, Conn};
use crate::{
    h2wire::frame::{self, ErrorCode},
    http::ResponseBody,
    stall::StallMark,
};

/// Answers from the router a connection takes per turn (the same reasoning).
const ANSWERS_PER_TURN: usize = 32;

/// A response from a request's task back to the connection.
pub(super) struct Answer {
    key: usize,
    id: u32,
    head: http::response::Parts,
    body: ResponseBody,
    head_only: bool,
    mark: StallMark,
}

impl Conn {
    /// Hands this turn's requests to the router. Each is polled once here: one the router
    /// answers at once (a publish, a health check) is answered in this turn, with no task,
    /// no trip through the answers' channel and no second turn of the connection; one
    /// that waits (a stream's replay from the log, a relayed upstream) goes on a task of
    /// its own, which polls it again and so takes over its wakers.
    pub(super) fn dispatch_new_requests(&mut self, cx: &mut Context<'_>) {
        let mut new_requests = std::mem::take(&mut self.new_requests);
        for (key, id, mut request) in new_requests.drain(..) {
            self.requests.got_request.store(true, Ordering::Relaxed);
            let info = self
                .requests
                .info
                .for_request(request.headers(), &self.requests.trusted);
            request.extensions_mut().insert(info);
            let head_only = request.method() == Method::HEAD;
            let app = self.requests.app.clone();
            let mark = self.requests.stall.mark();
            let mut handling = Box::pin(
                async move {
                    let mut response = app.handle(request).await;
                    complete_head(&mut response);
                    let (head, body) = response.into_parts();
                    Answer {
                        key,
                        id,
                        head,
                        body,
                        head_only,
                        mark,
                    }
                }
                .in_current_span(),
            );
            // A panic in the router must not take the connection's other streams with it
            // (on a task of its own it would not).
            let polled = panic::catch_unwind(AssertUnwindSafe(|| handling.as_mut().poll(cx)));
            match polled {
                Ok(Poll::Ready(answer)) => self.answer(answer),
                Ok(Poll::Pending) => {
                    let answers = self.answers_tx.clone();
                    tokio::spawn(async move {
                        // The connection is gone when this fails: the response goes with it.
                        let _ = answers.send(Box::new(handling.await));
                    });
                }
                Err(_) => {
                    tracing::error!(stream = id, "the router panicked; resetting the stream");
                    if self.streams.get_mut(key).is_some_and(|s| s.id == id) {
                        frame::write_rst_stream(&mut self.out, id, ErrorCode::INTERNAL_ERROR);
                        self.streams.remove(key);
                    }
                }
            }
        }
        self.new_requests = new_requests;
    }

    /// Writes the heads of the router's answers and starts their bodies.
    pub(super) fn take_answers(&mut self, cx: &mut Context<'_>) {
        for _ in 0..ANSWERS_PER_TURN {
            let Poll::Ready(Some(answer)) = self.answers.poll_recv(cx) else {
                return;
            };
            self.answer(*answer);
        }
        // The rest after this turn's write.
        cx.waker().wake_by_ref();
    }

    fn answer(&mut self, answer: Answer) {
        let Answer {
            key,
            id,
            head,
            body,
            head_only,
            mark,
        } = answer;
        let Some(stream) = self.streams.get_mut(key).filter(|s| s.id == id) else {
            // Reset by the client meanwhile: the body (and its subscription) goes.
            return;
        };
        if !matches!(stream.response, StreamResponse::Waiting) {
            return;
        }
        let end = head_only || http_body::Body::is_end_stream(&body);
        let mut block = Vec::new();
        let status = head.status.as_str().as_bytes();
        self.encoder.encode(
            std::iter::once((&b":status"[..], status)).chain(
                head.headers
                    .iter()
                    .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes())),
            ),
            &mut block,
        );
        frame::write_headers(&mut self.out, id, &block, end, self.peer_max_frame_size);
        if end {
            stream.response = StreamResponse::Done;
            self.finish_response(key);
        } else {
            self.streams.start(key, body, mark);
        }
    }

    /// A response ended: the stream goes, unless the client still sends its request body
    /// to a reader (a reader that left gets the stream reset: nothing more is wanted).
    fn finish_response(&mut self, key: usize) {
        let Some(stream) = self.streams.get_mut(key) else {
            return;
        };
        if let Some(request) = &stream.request {
            if request.is_dropped() {
                let id = stream.id;
                frame::write_rst_stream(&mut self.out, id, ErrorCode::NO_ERROR);
                self.streams.remove(key);
                return;
            }
        }
        self.streams.remove_if_closed(key);
    }

    /// Gives back the window of what readers consumed: WINDOW_UPDATE per stream still
    /// sending its body, and for the connection once a quarter of its window is owed.
    pub(super) fn give_back_windows(&mut self) {
        for body in self.credits.take() {
            let consumed = body.take_consumed();
            self.recv_owed = self.recv_owed.saturating_add(consumed);
            let Some(stream) = self.streams.get_mut(body.key).filter(|s| s.id == body.id) else {
                continue;
            };
            // A request already complete: only the connection's window was owed.
            let Some(request) = &stream.request else {
                continue;
            };
            if !Arc::ptr_eq(request, &body) {
                continue;
            }
            let id = stream.id;
            if body.is_dropped() && matches!(stream.response, StreamResponse::Done) {
                frame::write_rst_stream(&mut self.out, id, ErrorCode::NO_ERROR);
                self.streams.remove(body.key);
                continue;
            }
            if consumed > 0 {
                stream.recv_window += i64::from(consumed);
                frame::write_window_update(&mut self.out, id, consumed);
            }
        }
        let window = self
            .config
            .initial_connection_window
            .max(frame::DEFAULT_WINDOW);
        if self.recv_owed > 0 && self.recv_owed >= window / 4 {
            frame::write_window_update(&mut self.out, 0, self.recv_owed);
            self.recv_window += i64::from(self.recv_owed);
            self.recv_owed = 0;
        }
    }
}
