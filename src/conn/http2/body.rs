//! The ordinary side of an HTTP/2 exchange served with the `h2` crate: the request body as
//! an [`http_body::Body`] for the router, and a response that is not an event stream
//! (publish answers, Mercure, the gateway's relayed bodies, the demo page) sent from the
//! request's own task.

use std::{
    future::poll_fn,
    pin::Pin,
    task::{ready, Context, Poll},
    time::SystemTime,
};

use bytes::Bytes;
use h2::{server::SendResponse, Reason, RecvStream, SendStream};
use http::{
    header::{HeaderName, CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING, UPGRADE},
    HeaderMap, HeaderValue, Response, StatusCode,
};
use http_body::{Body, Frame, SizeHint};

use crate::{http::ResponseBody, stall::StallMark};

/// A request body read from an `h2` stream. Each chunk read is given back to the peer's
/// flow-control window at once: the router bounds what it buffers itself.
#[derive(Debug)]
pub struct RequestBody {
    recv: RecvStream,
    data_done: bool,
    content_length: Option<u64>,
}

impl RequestBody {
    pub fn new(recv: RecvStream, headers: &HeaderMap) -> Self {
        let content_length = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Self {
            recv,
            data_done: false,
            content_length,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let this = &mut *self;
        if !this.data_done {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Cannot fail for a stream that just received this much.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => this.data_done = true,
            }
        }
        match ready!(this.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.content_length {
            Some(length) if !self.data_done => SizeHint::with_exact(length),
            _ => SizeHint::default(),
        }
    }
}

/// Headers HTTP/2 forbids (RFC 9113, section 8.2.2): `h2` refuses a response carrying one.
const CONNECTION_SPECIFIC: [HeaderName; 5] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    TRANSFER_ENCODING,
    UPGRADE,
];

/// The response head as hyper would send it: a `date`, a `content-length` for a body of
/// known size (none for 204 and 304), and no connection-specific header.
pub fn head(response: &mut Response<ResponseBody>) {
    let status = response.status();
    let size = response.body().size_hint().exact();
    let headers = response.headers_mut();
    for name in &CONNECTION_SPECIFIC {
        headers.remove(name);
    }
    if !headers.contains_key(DATE) {
        if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())) {
            headers.insert(DATE, date);
        }
    }
    if status != StatusCode::NO_CONTENT && status != StatusCode::NOT_MODIFIED {
        if let Some(size) = size {
            if !headers.contains_key(CONTENT_LENGTH) {
                headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
            }
        }
    }
}

/// Sends `response` on its stream and its body after it, as the window allows; resets the
/// stream when the body fails. Returns when the response is sent or the client left.
pub async fn respond(
    mut respond: SendResponse<Bytes>,
    response: Response<ResponseBody>,
    head_only: bool,
    mark: StallMark,
) {
    let (parts, body) = response.into_parts();
    let end = head_only || body.is_end_stream();
    let send = match respond.send_response(Response::from_parts(parts, ()), end) {
        Ok(send) => send,
        Err(e) => {
            tracing::debug!(error = %e, "could not send a response head");
            return;
        }
    };
    if end {
        return;
    }
    let mut pipe = Pipe { send, body, mark };
    if let Err(BodyFailed) = poll_fn(|cx| pipe.poll(cx)).await {
        // A reset drops what h2 still holds for the stream: the connection writes the head
        // and the data before the failure first.
        tokio::task::yield_now().await;
        pipe.send.send_reset(Reason::INTERNAL_ERROR);
    }
}

/// The response body failed: the stream is to be reset.
struct BodyFailed;

/// The stream is gone: reset by the client, or its connection closed.
#[derive(Debug, Clone, Copy)]
pub struct Gone;

/// A response body on its way to an `h2` stream.
struct Pipe {
    send: SendStream<Bytes>,
    body: ResponseBody,
    /// Held back by a client that opens no window: the connection's stall watch cuts it.
    mark: StallMark,
}

impl Pipe {
    /// `Ready(Ok)` when the body is sent or the stream is gone.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BodyFailed>> {
        loop {
            match send_capacity(&mut self.send, cx) {
                Err(Gone) => return Poll::Ready(Ok(())),
                Ok(Poll::Pending) => {
                    self.mark.held();
                    return Poll::Pending;
                }
                Ok(Poll::Ready(())) => self.mark.waiting(),
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let end = self.body.is_end_stream();
                        if self.send.send_data(data, end).is_err() || end {
                            return Poll::Ready(Ok(()));
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            let _ = self.send.send_trailers(trailers);
                        }
                        return Poll::Ready(Ok(()));
                    }
                },
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "response body failed; resetting the stream");
                    return Poll::Ready(Err(BodyFailed));
                }
                None => {
                    let _ = self.send.send_data(Bytes::new(), true);
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

/// Waits until the stream may take data (at least one byte of window), as hyper does before
/// pulling a frame from a body: a stream without window keeps its data where it was made
/// (a subscriber's bounded queue), not in the connection's send buffer.
pub fn send_capacity(send: &mut SendStream<Bytes>, cx: &mut Context<'_>) -> Result<Poll<()>, Gone> {
    if has_window(send) {
        // Registers for a reset while the body has nothing to send.
        return match send.poll_reset(cx) {
            Poll::Ready(_) => Err(Gone),
            Poll::Pending => Ok(Poll::Ready(())),
        };
    }
    match send.poll_capacity(cx) {
        Poll::Ready(Some(Ok(_))) => Ok(Poll::Ready(())),
        Poll::Ready(Some(Err(_)) | None) => Err(Gone),
        Poll::Pending => match send.poll_reset(cx) {
            Poll::Ready(_) => Err(Gone),
            Poll::Pending => Ok(Poll::Pending),
        },
    }
}

/// Whether the stream has at least one byte of window beyond the data it already handed to
/// `h2` (reserving that byte asks `h2` to assign it).
pub fn has_window(send: &mut SendStream<Bytes>) -> bool {
    send.reserve_capacity(1);
    send.capacity() > 0
}
