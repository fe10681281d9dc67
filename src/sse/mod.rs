//! Server-sent events on the wire: encoding of events and comments ([`event`]) and the
//! response body that streams a subscription to one client ([`stream`]).
//!
//! Encoding follows the WHATWG HTML "Server-sent events" section: every event is encoded
//! once, when it is published, and the same [`bytes::Bytes`] is shared by every subscriber.

pub mod event;
pub mod stream;

use std::task::{Context, Poll};

use bytes::Bytes;

pub use event::{EventFields, FieldError};
pub use stream::{EndReason, SseBody, StreamLimits};

use crate::hub::{Next, Resume};

/// Where an [`SseBody`] takes its events from: a hub subscription, or a shared upstream
/// stream of the gateway.
pub trait EventSource: std::fmt::Debug + Send + Unpin + 'static {
    /// Appends up to `max` encoded frames to `out`, or registers the waker.
    fn poll_next(&mut self, cx: &mut Context<'_>, max: usize, out: &mut Vec<Bytes>) -> Poll<Next>;
    /// How the replay relates to the requested `Last-Event-ID`.
    fn resume(&self) -> &Resume;
    /// What the stream carries, for logs.
    fn describe(&self) -> String;
}

impl EventSource for crate::hub::Subscription {
    fn poll_next(&mut self, cx: &mut Context<'_>, max: usize, out: &mut Vec<Bytes>) -> Poll<Next> {
        crate::hub::Subscription::poll_next(self, cx, max, out)
    }

    fn resume(&self) -> &Resume {
        crate::hub::Subscription::resume(self)
    }

    fn describe(&self) -> String {
        let topics = self.topics();
        format!("topics {topics:?}")
    }
}
