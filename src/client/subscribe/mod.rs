//! `ssegate subscribe`: follow an event stream the way a browser's `EventSource` does.
//!
//! A dead server that never closes the connection is left to TCP and HTTP/2 to notice:
//! the SSE body has no idle deadline, because a quiet topic is not a dead one.

use std::error::Error;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::BodyExt;

use super::conn::Connector;
use super::response::status_error;
use super::target::Target;
use super::{ClientError, ClientOptions};
use crate::sse::{Dispatcher, MessageEvent, SseReader};

/// Reconnection time until the server sends a `retry:` field (the spec leaves the default
/// to the client; browsers use a few seconds).
pub const DEFAULT_RETRY: Duration = Duration::from_secs(3);

/// Longest wait between failed attempts, unless the server's `retry` is longer still.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Shortest wait after a failure, so that `retry: 0` cannot make a failing server a busy
/// loop. Clean ends still honour `retry: 0`: the server asked for it.
const MIN_FAILURE_DELAY: Duration = Duration::from_millis(100);

/// The `Last-Event-ID` request header.
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// Longest event block accepted, in bytes on the wire: the stream must not fill memory,
/// and this leaves room for any event a server means to send (16 times ssegate's own
/// default largest event).
const MAX_EVENT_BYTES: usize = 16 << 20;

/// Options of [`subscribe()`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Resume after this id: sent as `Last-Event-ID` on the first request.
    pub last_event_id: Option<String>,
    /// Return `Ok` after this many events.
    pub max_events: Option<u64>,
    /// Give up after this many reconnections in a row that fail (connection refused, TLS
    /// error, 5xx, ...): `Some(0)` gives up on the first failure. A stream that was
    /// established and then ended is not a failure, and resets the count.
    pub max_reconnects: Option<u32>,
}

/// One event as received, after the SSE parsing rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEvent {
    /// The last event id seen on this connection (SSE ids carry over to later events
    /// without one); empty when the server sent none.
    pub id: String,
    /// The event type: `message` when the server did not name one.
    pub event: String,
    /// The data lines, joined with `\n`.
    pub data: String,
    /// The `retry` field sent with this event, if any.
    pub retry: Option<Duration>,
}

impl From<MessageEvent> for ReceivedEvent {
    fn from(event: MessageEvent) -> Self {
        Self {
            id: event.last_event_id,
            event: event.event_type,
            data: event.data,
            retry: event.retry.map(Duration::from_millis),
        }
    }
}

/// Formats one event for the CLI's output the way it would appear in an event stream:
/// `id:` (when there is one), `event:`, `retry:` (when sent), one `data:` line per data
/// line, then a blank line. The output of a subscription is thus itself an event stream.
pub fn format_event(ev: &ReceivedEvent) -> String {
    let mut out = String::with_capacity(ev.id.len() + ev.event.len() + ev.data.len() + 32);
    if !ev.id.is_empty() {
        out.push_str("id: ");
        out.push_str(&ev.id);
        out.push('\n');
    }
    out.push_str("event: ");
    out.push_str(&ev.event);
    out.push('\n');
    if let Some(retry) = ev.retry {
        out.push_str(&format!("retry: {}\n", retry.as_millis()));
    }
    for line in ev.data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// Subscribes to an SSE URL and calls `on_event` for every event (comments are not
/// events).
///
/// When the stream ends or breaks, it reconnects after the server's `retry` (default
/// [`DEFAULT_RETRY`]), sending the id of the last event received that had one as
/// `Last-Event-ID`. Failed attempts back off exponentially from `retry`, with jitter, up to
/// [`MAX_BACKOFF`]; an established stream resets the backoff.
///
/// Returns `Ok` after `max_events` events or when the server answers 204 (the SSE way to
/// say "stop reconnecting"). Returns an error for a 3xx or a 4xx other than 408 and 429
/// (retrying the same request cannot help; redirects are not followed), for an event
/// larger than 16 MiB ([`ClientError::EventTooLarge`]: reconnecting would fetch it again),
/// and [`ClientError::ReconnectsExhausted`] after `max_reconnects` failed reconnections in
/// a row. Other statuses, a content type other than `text/event-stream`, and connection
/// errors are retried.
pub async fn subscribe(
    url: &Uri,
    opts: &SubscribeOptions,
    client: &ClientOptions,
    on_event: impl FnMut(&ReceivedEvent),
) -> Result<(), ClientError> {
    subscribe_with(url, opts, client, DEFAULT_RETRY, on_event).await
}

/// [`subscribe()`] with the initial reconnection time as a parameter, for tests.
async fn subscribe_with(
    url: &Uri,
    opts: &SubscribeOptions,
    client: &ClientOptions,
    initial_retry: Duration,
    mut on_event: impl FnMut(&ReceivedEvent),
) -> Result<(), ClientError> {
    let target = Target::parse(url)?;
    let connector = Connector::new(client, &target)?;
    let mut progress = Progress {
        last_id: opts.last_event_id.clone().filter(|id| !id.is_empty()),
        delivered: 0,
        max_events: opts.max_events,
        retry: initial_retry,
    };
    let mut failures: u32 = 0;
    while !progress.done() {
        let outcome = attempt(&connector, &target, &mut progress, &mut on_event).await;
        let retry = progress.retry;
        let delay = match outcome {
            Outcome::Stop => return Ok(()),
            Outcome::Fatal(error) => return Err(error),
            Outcome::Ended(error) => {
                failures = 0;
                let last_event_id = progress.last_id.as_deref().unwrap_or("");
                match error {
                    Some(error) => tracing::warn!(
                        error = %chain(&error),
                        delay_ms = duration_ms(retry),
                        last_event_id,
                        "event stream broke; reconnecting"
                    ),
                    None => tracing::info!(
                        delay_ms = duration_ms(retry),
                        last_event_id,
                        "the server ended the event stream; reconnecting"
                    ),
                }
                retry
            }
            Outcome::Failed(error) => {
                failures = failures.saturating_add(1);
                if opts.max_reconnects.is_some_and(|max| failures > max) {
                    return Err(ClientError::ReconnectsExhausted {
                        attempts: failures,
                        last: Box::new(error),
                    });
                }
                let delay = backoff(retry, failures);
                tracing::warn!(
                    error = %chain(&error),
                    failures,
                    delay_ms = duration_ms(delay),
                    "subscription attempt failed; retrying"
                );
                delay
            }
        };
        tokio::time::sleep(delay).await;
    }
    Ok(())
}

/// What a subscription carries from one connection to the next.
struct Progress {
    /// Sent as `Last-Event-ID`: the spec's "last event ID string", set by every block with
    /// an `id` field, with data or without; an empty `id:` clears it (the server asks for a
    /// resumption without id).
    last_id: Option<String>,
    delivered: u64,
    max_events: Option<u64>,
    /// The reconnection time, set by every valid `retry` field, with data or without.
    retry: Duration,
}

impl Progress {
    fn done(&self) -> bool {
        self.max_events.is_some_and(|max| self.delivered >= max)
    }

    /// Takes the blocks `reader` has complete (at the end of the body, `end`, also the one
    /// a final CR held back) and hands their events to `on_event`. Returns how the attempt
    /// ends when it must end here: `max_events` delivered, or an event too large.
    fn deliver(
        &mut self,
        reader: &mut SseReader,
        end: bool,
        dispatcher: &mut Dispatcher,
        on_event: &mut impl FnMut(&ReceivedEvent),
    ) -> Option<Outcome> {
        loop {
            let block = if end {
                reader.finish()
            } else {
                reader.next_block()
            };
            let block = match block {
                Ok(Some(block)) => block,
                Ok(None) => break,
                Err(error) => return Some(Outcome::Fatal(ClientError::EventTooLarge(error))),
            };
            let fields = block.fields();
            if let Some(ms) = fields.retry {
                self.retry = Duration::from_millis(ms);
            }
            if let Some(id) = &fields.id {
                self.last_id = Some(id.clone()).filter(|id| !id.is_empty());
            }
            if let Some(event) = dispatcher.dispatch(fields) {
                on_event(&ReceivedEvent::from(event));
                self.delivered += 1;
                if self.done() {
                    return Some(Outcome::Stop);
                }
            }
        }
        if end {
            // The spec applies `retry` as soon as its line is read, even in an event the
            // end of the stream cut short.
            if let Some(ms) = reader.unfinished_retry() {
                self.retry = Duration::from_millis(ms);
            }
        }
        None
    }
}

/// How one connection attempt ended.
enum Outcome {
    /// Stop without error: 204, or `max_events` reached.
    Stop,
    /// The stream was established, then ended (with the error that broke it, if any).
    Ended(Option<ClientError>),
    /// No stream was established; worth retrying.
    Failed(ClientError),
    /// Retrying cannot help: no stream was established, or its event was too large.
    Fatal(ClientError),
}

async fn attempt(
    connector: &Connector,
    target: &Target,
    progress: &mut Progress,
    on_event: &mut impl FnMut(&ReceivedEvent),
) -> Outcome {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(id) = &progress.last_id {
        // from_bytes, not from_str: ids may be any UTF-8, sent as opaque octets.
        match HeaderValue::from_bytes(id.as_bytes()) {
            Ok(value) => {
                headers.insert(LAST_EVENT_ID, value);
            }
            Err(_) => tracing::warn!(id, "the last event id cannot be sent as a header"),
        }
    }
    let response = match connector
        .request(target, Method::GET, headers, Bytes::new())
        .await
    {
        Ok(response) => response,
        Err(error) => return Outcome::Failed(error),
    };
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return Outcome::Stop;
    }
    if status != StatusCode::OK {
        let error = status_error(response).await;
        return if is_fatal(status) {
            Outcome::Fatal(error)
        } else {
            Outcome::Failed(error)
        };
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default();
    if !is_event_stream(&content_type) {
        return Outcome::Failed(ClientError::NotEventStream { content_type });
    }
    tracing::info!(
        uri = %target.uri(),
        version = ?response.version(),
        last_event_id = progress.last_id.as_deref().unwrap_or(""),
        "subscribed"
    );

    // One reader and one dispatcher per connection: an unfinished event does not carry
    // over, and `ReceivedEvent::id` is the last id seen on this connection.
    let mut reader = SseReader::new(MAX_EVENT_BYTES);
    let mut dispatcher = Dispatcher::default();
    let mut body = response.into_body();
    let broken = loop {
        let frame = match body.frame().await {
            None => break None,
            Some(Err(source)) => {
                break Some(ClientError::Http {
                    phase: "event stream",
                    source,
                })
            }
            Some(Ok(frame)) => frame,
        };
        // Trailers carry no events.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        reader.push(&data);
        if let Some(outcome) = progress.deliver(&mut reader, false, &mut dispatcher, on_event) {
            return outcome;
        }
    };
    // A stream that broke ends like one that closed: what is complete still counts.
    if let Some(outcome) = progress.deliver(&mut reader, true, &mut dispatcher, on_event) {
        return outcome;
    }
    Outcome::Ended(broken)
}

/// Statuses for which retrying the same request cannot help: redirects (not followed) and
/// client errors, except 408 (timeout) and 429 (too many requests), which ask for a retry.
fn is_fatal(status: StatusCode) -> bool {
    status.is_redirection()
        || (status.is_client_error()
            && status != StatusCode::REQUEST_TIMEOUT
            && status != StatusCode::TOO_MANY_REQUESTS)
}

/// `text/event-stream`, in any case, with or without parameters.
fn is_event_stream(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// The wait after `failures` failed attempts in a row: `retry` doubled per failure, capped
/// at [`MAX_BACKOFF`] (or `retry` if longer), then "equal jitter": half of it fixed, half
/// random, so clients that lost the server together do not come back together.
fn backoff(retry: Duration, failures: u32) -> Duration {
    let base = retry.max(MIN_FAILURE_DELAY);
    let cap = MAX_BACKOFF.max(base);
    let doublings = failures.saturating_sub(1).min(16);
    let delay = base.saturating_mul(1 << doublings).min(cap);
    let half = delay / 2;
    half + half.mul_f64(fastrand::f64())
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// An error and its sources on one line, for log messages.
fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
