//! The response body type shared by every route: a complete body, or an SSE stream. An enum
//! instead of a boxed trait object: no allocation per response and no dynamic dispatch on
//! the hot path of event delivery.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;

use crate::{
    gateway::{
        fanout::SharedSubscription,
        relay::{BoxError, SseRelayBody, TimedBody},
    },
    mercure::MercureStream,
    sse::SseBody,
};

/// A response body.
#[derive(Debug)]
pub enum ResponseBody {
    /// A complete body.
    Full(Full<Bytes>),
    /// An event stream of the hub.
    Sse(Box<SseBody>),
    /// An upstream body relayed under the route's deadlines.
    Relay(Box<TimedBody>),
    /// An upstream event stream relayed with heartbeats.
    SseRelay(Box<SseRelayBody>),
    /// A shared upstream event stream (gateway fan-out).
    Shared(Box<SseBody<SharedSubscription>>),
    /// A Mercure subscription.
    Mercure(Box<SseBody<MercureStream>>),
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
            Self::Sse(sse) => Pin::new(sse.as_mut()).poll_frame(cx).map_err(never),
            Self::Relay(body) => Pin::new(body.as_mut()).poll_frame(cx),
            Self::SseRelay(body) => Pin::new(body.as_mut()).poll_frame(cx),
            Self::Shared(sse) => Pin::new(sse.as_mut()).poll_frame(cx).map_err(never),
            Self::Mercure(sse) => Pin::new(sse.as_mut()).poll_frame(cx).map_err(never),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(full) => full.is_end_stream(),
            Self::Sse(sse) => sse.is_end_stream(),
            Self::Relay(body) => body.is_end_stream(),
            Self::SseRelay(body) => body.is_end_stream(),
            Self::Shared(sse) => sse.is_end_stream(),
            Self::Mercure(sse) => sse.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(full) => full.size_hint(),
            Self::Sse(sse) => sse.size_hint(),
            Self::Relay(body) => body.size_hint(),
            Self::SseRelay(body) => body.size_hint(),
            Self::Shared(sse) => sse.size_hint(),
            Self::Mercure(sse) => sse.size_hint(),
        }
    }
}
