//! The response body type shared by every route: a complete body, an event stream, or a
//! body relayed from elsewhere. It names no producer: event streams are an [`SseBody`] over
//! any [`EventSource`] (a hub subscription, a Mercure stream, a shared or relayed upstream
//! stream), and relayed bodies are boxed.
//!
//! The event stream is one allocation: `Box<SseBody<dyn EventSource>>` is unsized in its
//! last field, so a `Box<SseBody<Subscription>>` coerces into it without boxing the
//! subscription again.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{combinators::UnsyncBoxBody, Full};

use crate::sse::{EventSource, SseBody};

/// Errors of relayed bodies: the upstream's, or a deadline.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body.
#[derive(Debug)]
pub enum ResponseBody {
    /// A complete body.
    Full(Full<Bytes>),
    /// An event stream: heartbeats, limits and the end of the stream around a source.
    Events(Box<SseBody<dyn EventSource>>),
    /// A body relayed as it arrives (the gateway's upstream responses).
    Relay(UnsyncBoxBody<Bytes, BoxError>),
}

impl ResponseBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Full::new(bytes.into()))
    }

    /// No body.
    pub fn empty() -> Self {
        Self::Full(Full::new(Bytes::new()))
    }

    /// An event stream.
    pub fn events<S: EventSource>(body: SseBody<S>) -> Self {
        Self::Events(Box::new(body))
    }

    /// A relayed body.
    pub fn relay<B>(body: B) -> Self
    where
        B: Body<Data = Bytes, Error = BoxError> + Send + 'static,
    {
        Self::Relay(UnsyncBoxBody::new(body))
    }
}

fn never(e: Infallible) -> BoxError {
    match e {}
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Full(full) => Pin::new(full).poll_frame(cx).map_err(never),
            Self::Events(sse) => Pin::new(sse.as_mut())
                .poll_frame(cx)
                .map_err(|e| Box::new(e) as BoxError),
            Self::Relay(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(full) => full.is_end_stream(),
            Self::Events(sse) => sse.is_end_stream(),
            Self::Relay(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(full) => full.size_hint(),
            Self::Events(sse) => sse.size_hint(),
            Self::Relay(body) => body.size_hint(),
        }
    }
}
