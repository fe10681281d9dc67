//! HTTP/2 keep-alive PINGs.

use std::{future::Future, pin::Pin, task::Context, time::Duration};

use tokio::time::{Instant, Sleep};

use crate::h2wire::frame;

/// HTTP/2 keep-alive: a PING every interval, and the connection closed when the peer does
/// not answer within the timeout. A peer that stopped reading cannot answer, so this also
/// ends connections whose every stream stalled.
pub(super) struct KeepAlive {
    interval: Duration,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    awaiting: Option<[u8; 8]>,
}

impl KeepAlive {
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Self {
            interval,
            timeout,
            timer: Box::pin(tokio::time::sleep(interval)),
            awaiting: None,
        }
    }

    /// Sends a PING when due; Err when the last one went unanswered.
    pub fn poll(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>) -> Result<(), ()> {
        if self.timer.as_mut().poll(cx).is_pending() {
            return Ok(());
        }
        if self.awaiting.is_some() {
            return Err(());
        }
        let payload = fastrand::u64(..).to_be_bytes();
        frame::write_ping(out, false, payload);
        self.awaiting = Some(payload);
        self.timer.as_mut().reset(Instant::now() + self.timeout);
        // Registers the timer for its new deadline.
        let _ = self.timer.as_mut().poll(cx);
        Ok(())
    }

    pub fn pong(&mut self, payload: [u8; 8]) {
        if self.awaiting == Some(payload) {
            self.awaiting = None;
            self.timer.as_mut().reset(Instant::now() + self.interval);
        }
    }
}
