//! The task behind a shared stream: it reads the upstream, splits it into whole events and
//! queues each to every subscriber, and reconnects after the upstream's `retry` (backing off
//! on repeated failures) with the last id it saw, for as long as anyone listens.

use std::{sync::Arc, task::Waker, time::Duration};

use bytes::Bytes;
use http::{header, request, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};

use super::{end_stream, lock, Head, Registry, SharedStream, DEFAULT_RETRY, MAX_BACKOFF};
use crate::{
    gateway::{
        error_chain,
        headers::{self, strip_hop_by_hop},
        is_event_stream,
        relay::MAX_EVENT_BYTES,
    },
    sse::{reader::SseReader, CloseReason},
};

/// Reads the upstream for as long as anyone listens, reconnecting after failures.
pub(super) async fn run_upstream(
    registry: Arc<Registry>,
    shared: Arc<SharedStream>,
    parts: request::Parts,
) {
    let mut last_id = parts
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut retry = DEFAULT_RETRY;
    let mut failures: u32 = 0;
    loop {
        let mut request = Request::new(
            Empty::<Bytes>::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *request.method_mut() = Method::GET;
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        request.headers_mut().remove("last-event-id");
        if let Some(id) = last_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            request.headers_mut().insert("last-event-id", id);
        }
        let answer =
            tokio::time::timeout(registry.header_timeout, registry.client.request(request)).await;
        let response = match answer {
            Err(_) => {
                tracing::warn!(route = %registry.label, "shared stream: no response headers in time");
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(route = %registry.label, error = %error_chain(&e), "shared stream: upstream request failed");
                None
            }
            Ok(Ok(response)) => Some(response),
        };
        if let Some(response) = response {
            let status = response.status();
            if status == StatusCode::NO_CONTENT || status.is_client_error() {
                // The upstream says stop (the SSE spec's 204, or a refused request).
                tracing::info!(route = %registry.label, %status, "shared stream ended by upstream");
                end_stream(
                    &shared,
                    Head::Failed(status, "upstream refused the stream"),
                    CloseReason::Ended,
                );
                return;
            }
            if status == StatusCode::OK && is_event_stream(response.headers()) {
                let (mut head, body) = response.into_parts();
                strip_hop_by_hop(&mut head.headers, false);
                head.headers.remove(header::CONTENT_LENGTH);
                head.headers
                    .insert("x-accel-buffering", HeaderValue::from_static("no"));
                headers::append_via(&mut head.headers, head.version);
                shared.head.send_if_modified(|h| {
                    let first = matches!(h, Head::Pending);
                    if first {
                        *h = Head::Streaming(head.headers.clone());
                    }
                    first
                });
                failures = 0;
                relay_events(&registry, &shared, body, &mut last_id, &mut retry).await;
            } else {
                tracing::warn!(route = %registry.label, %status, "shared stream: upstream answered without a stream");
            }
        }
        if matches!(*shared.head.borrow(), Head::Pending) && failures == 0 {
            // Nobody has a stream yet: the first subscribers get the failure now.
            end_stream(
                &shared,
                Head::Failed(StatusCode::BAD_GATEWAY, "upstream unavailable"),
                CloseReason::Ended,
            );
            return;
        }
        failures = failures.saturating_add(1);
        let backoff = retry
            .saturating_mul(1 << failures.min(5).saturating_sub(1))
            .min(MAX_BACKOFF.max(retry));
        let jittered = backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
        tracing::debug!(route = %registry.label, ?jittered, "shared stream: reconnecting");
        tokio::time::sleep(jittered).await;
    }
}

/// Splits the upstream body into whole events and queues each to every subscriber, until
/// the upstream ends, fails, sends an event too large to hold, or stays silent past the
/// route's idle deadline (a half-open connection sends nothing and never closes).
async fn relay_events(
    registry: &Registry,
    shared: &SharedStream,
    mut body: hyper::body::Incoming,
    last_id: &mut Option<String>,
    retry: &mut Duration,
) {
    let mut reader = SseReader::new(MAX_EVENT_BYTES);
    loop {
        let next = body.frame();
        let frame = match registry.idle_timeout {
            Some(idle) => match tokio::time::timeout(idle, next).await {
                Ok(frame) => frame,
                Err(_) => {
                    tracing::warn!(route = %registry.label, ?idle, "shared stream: upstream silent; reconnecting");
                    return;
                }
            },
            None => next.await,
        };
        let frame = match frame {
            None => return,
            Some(Err(e)) => {
                tracing::debug!(route = %registry.label, error = %e, "shared stream: upstream body failed");
                return;
            }
            Some(Ok(frame)) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        reader.push(&data);
        loop {
            let block = match reader.next_block() {
                Ok(Some(block)) => block,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(route = %registry.label, error = %e, "shared stream: upstream event too large; reconnecting");
                    return;
                }
            };
            let fields = block.fields();
            if let Some(ms) = fields.retry {
                *retry = Duration::from_millis(ms);
            }
            if fields.id.is_some() {
                last_id.clone_from(&fields.id);
            }
            if fields.data.is_none() {
                // Comments (upstream heartbeats) and bare field updates are not events;
                // every subscriber gets its own heartbeats.
                continue;
            }
            broadcast(registry, shared, fields.id, block.into_raw());
        }
    }
}

fn broadcast(registry: &Registry, shared: &SharedStream, id: Option<String>, frame: Bytes) {
    let wakers: Vec<Waker> = {
        let mut state = lock(&shared.state);
        if registry.replay > 0 {
            state.recent.push_back((id, frame.clone()));
            if state.recent.len() > registry.replay {
                if let Some((Some(gone), _)) = state.recent.pop_front() {
                    state.anchor = Some(gone);
                }
            }
        } else if id.is_some() {
            state.anchor = id;
        }
        state
            .subscribers
            .iter()
            .filter_map(|m| m.push(&frame))
            .collect()
    };
    for waker in wakers {
        waker.wake();
    }
}
