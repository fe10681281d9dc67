//! HTTP/2 keep-alive: a PING every interval, and the connection closed when the peer does not
//! answer within the timeout. A peer that stopped reading cannot answer, so this also ends
//! connections whose every stream stalled.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use h2::{Ping, PingPong};
use tokio::time::{Instant, Sleep};

/// The keep-alive state of one connection.
pub(super) struct KeepAlive {
    ping_pong: PingPong,
    interval: Duration,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    awaiting_pong: bool,
}

/// The peer did not answer a PING in time.
#[derive(Debug, Clone, Copy)]
pub(super) struct TimedOut;

impl KeepAlive {
    /// Keep-alive with `ping_pong` (taken from the connection), or none without an interval.
    pub fn new(
        ping_pong: Option<PingPong>,
        interval: Option<Duration>,
        timeout: Duration,
    ) -> Option<Self> {
        let (ping_pong, interval) = (ping_pong?, interval?);
        Some(Self {
            ping_pong,
            interval,
            timeout,
            timer: Box::pin(tokio::time::sleep(interval)),
            awaiting_pong: false,
        })
    }

    /// Sends PINGs when due and checks the answers.
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Result<(), TimedOut> {
        loop {
            if self.awaiting_pong {
                match self.ping_pong.poll_pong(cx) {
                    Poll::Ready(Ok(_)) => {
                        self.awaiting_pong = false;
                        self.timer.as_mut().reset(Instant::now() + self.interval);
                        continue;
                    }
                    // The connection is closing: its own end is reported elsewhere.
                    Poll::Ready(Err(_)) => return Ok(()),
                    Poll::Pending => {}
                }
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            if self.awaiting_pong {
                return Err(TimedOut);
            }
            if self.ping_pong.send_ping(Ping::opaque()).is_err() {
                return Ok(());
            }
            self.awaiting_pong = true;
            self.timer.as_mut().reset(Instant::now() + self.timeout);
        }
    }
}
