//! Response bodies relayed from an upstream, chunk by chunk as they arrive (never
//! buffered): event streams get heartbeats inserted between events when the upstream is
//! silent; other bodies get the route's idle and total deadlines.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::sse::event::HEARTBEAT_COMMENT;

/// Errors of relayed bodies: the upstream's, or a deadline.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A deadline of a relayed body passed.
#[derive(Debug, thiserror::Error)]
#[error("upstream body {0} timeout")]
pub struct BodyTimeout(&'static str);

/// A non-SSE upstream body under the route's idle and total deadlines. When one passes the
/// body fails, which aborts the response (the client sees a truncated body, not a short
/// one that looks complete).
#[derive(Debug)]
pub struct TimedBody {
    inner: Incoming,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    total: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    /// Relays `inner`; `total_deadline` is the end of the whole exchange.
    pub fn new(inner: Incoming, idle: Option<Duration>, total_deadline: Option<Instant>) -> Self {
        Self {
            inner,
            idle: idle.map(|d| (d, Box::pin(tokio::time::sleep(d)))),
            total: total_deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            if let Some((d, timer)) = &mut this.idle {
                timer.as_mut().reset(Instant::now() + *d);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if let Some((_, timer)) = &mut this.idle {
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(BodyTimeout("idle").into())));
            }
        }
        if let Some(timer) = &mut this.total {
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(BodyTimeout("total").into())));
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Tracks where an event stream's bytes are: a comment may only be inserted where a new
/// line starts after a blank line, or it would land inside an event.
#[derive(Debug, Clone, Copy)]
pub struct EventBoundary {
    line_len: usize,
    after_cr: bool,
    at_boundary: bool,
}

impl Default for EventBoundary {
    fn default() -> Self {
        Self {
            line_len: 0,
            after_cr: false,
            at_boundary: true,
        }
    }
}

impl EventBoundary {
    /// Follows `bytes` (CR, LF and CRLF all end lines, as in the SSE parser).
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    self.at_boundary = self.line_len == 0;
                    self.line_len = 0;
                }
                _ => {
                    self.line_len += 1;
                    self.at_boundary = false;
                }
            }
        }
    }

    /// True between events. A trailing CR that ended a blank line counts: should an LF
    /// follow the inserted comment, it is one more blank line, which dispatches nothing.
    pub fn at_boundary(&self) -> bool {
        self.at_boundary
    }
}

/// An upstream event stream relayed as it arrives, with a heartbeat comment inserted when
/// the upstream was silent for the interval and the stream is between events. No idle or
/// total deadline applies.
#[derive(Debug)]
pub struct SseRelayBody {
    inner: Incoming,
    interval: Duration,
    timer: Pin<Box<Sleep>>,
    boundary: EventBoundary,
}

impl SseRelayBody {
    /// Relays `inner` with heartbeats every `interval` of silence.
    pub fn new(inner: Incoming, interval: Duration) -> Self {
        Self {
            inner,
            interval,
            timer: Box::pin(tokio::time::sleep(interval)),
            boundary: EventBoundary::default(),
        }
    }
}

impl Body for SseRelayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            if let Some(Ok(frame)) = &frame {
                if let Some(data) = frame.data_ref() {
                    this.boundary.feed(data);
                }
            }
            let next = Instant::now() + this.interval;
            this.timer.as_mut().reset(next);
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        while this.timer.as_mut().poll(cx).is_ready() {
            let next = Instant::now() + this.interval;
            this.timer.as_mut().reset(next);
            if this.boundary.at_boundary() {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(HEARTBEAT_COMMENT)))));
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boundary_after(chunks: &[&str]) -> bool {
        let mut b = EventBoundary::default();
        for c in chunks {
            b.feed(c.as_bytes());
        }
        b.at_boundary()
    }

    #[test]
    fn boundaries_follow_blank_lines_only() {
        assert!(boundary_after(&[]));
        assert!(boundary_after(&["data: a\n\n"]));
        assert!(!boundary_after(&["data: a\n"]));
        assert!(!boundary_after(&["data: a\n\ndata"]));
        assert!(boundary_after(&["data: a\r\n\r\n"]));
        assert!(boundary_after(&["data: a\r\r"]));
        assert!(boundary_after(&[": comment\n\n"]));
    }

    #[test]
    fn boundaries_survive_any_chunking() {
        assert!(boundary_after(&["da", "ta: a", "\n", "\n"]));
        assert!(
            boundary_after(&["data: a\r\n\r"]),
            "a CR alone ends the blank line"
        );
        assert!(boundary_after(&["data: a\r\n\r", "\n"]));
        assert!(!boundary_after(&["data: a\r", "\n", "id: 1"]));
    }
}
