//! Wire encoding of one server-sent event, and the comment frames used for the stream's
//! opening and its heartbeats.

use bytes::{BufMut, Bytes, BytesMut};

/// The first frame of every stream: flushed with the headers so the client's `open` event
/// fires before any event (browsers wait for the first byte of the body).
pub const OPEN_COMMENT: &[u8] = b": ssegate\n\n";

/// A heartbeat: a comment line that clients ignore but that keeps proxies and clients with
/// idle timeouts from closing the stream. Never empty: h2 clients count empty DATA frames
/// as abuse (PERFORMANCE.md).
pub const HEARTBEAT_COMMENT: &[u8] = b":\n\n";

/// Event type of the notice sent before a replay that could not start right after the
/// requested `Last-Event-ID` (unknown or evicted id): the client may have missed events.
pub const GAP_EVENT_TYPE: &str = "ssegate-gap";

/// The optional fields of an event, validated: none contains CR, LF or NUL, so no field
/// can inject another field into the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFields {
    event_type: Option<String>,
    retry_ms: Option<u64>,
}

/// A field value that cannot be sent on an event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` must not contain CR, LF or NUL")]
pub struct FieldError {
    /// The name of the offending field (`event` or `id`).
    pub field: &'static str,
}

impl EventFields {
    /// Fields with an event type (`None` or empty means the default `message` type) and a
    /// reconnection time in milliseconds.
    pub fn new(event_type: Option<String>, retry_ms: Option<u64>) -> Result<Self, FieldError> {
        let event_type = event_type.filter(|t| !t.is_empty());
        if let Some(t) = &event_type {
            check_field("event", t)?;
        }
        Ok(Self {
            event_type,
            retry_ms,
        })
    }
}

/// Checks that `value` can be the value of an SSE field (`id` or `event`): a CR or LF
/// would end the line and let the rest inject fields, and the spec ignores ids with NUL.
pub fn check_field(field: &'static str, value: &str) -> Result<(), FieldError> {
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(FieldError { field });
    }
    Ok(())
}

/// Encodes one event. `id` must have passed [`check_field`]. Each line of `data` (split on
/// CRLF, LF or CR, the three line endings the spec's parser accepts) becomes its own `data:`
/// line, so the client reassembles exactly the published text with LF between lines.
pub fn encode_event(id: &str, fields: &EventFields, data: &str) -> Bytes {
    prepend_id(id, &encode_body(fields, data))
}

/// Encodes everything of an event but its id. The hub assigns ids under its lock, so the
/// costly part (splitting and copying the data) is done before, and only
/// [`prepend_id`] runs under the lock.
pub fn encode_body(fields: &EventFields, data: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 32);
    if let Some(t) = &fields.event_type {
        put_field(&mut out, "event", t);
    }
    if let Some(ms) = fields.retry_ms {
        put_field(&mut out, "retry", &ms.to_string());
    }
    for line in split_lines(data) {
        put_field(&mut out, "data", line);
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// Completes a frame from [`encode_body`] with its `id:` line (field order is free in SSE).
pub fn prepend_id(id: &str, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(id.len() + 5 + body.len());
    put_field(&mut out, "id", id);
    out.put_slice(body);
    out.freeze()
}

/// Encodes an event that carries no id, so that it leaves the client's last event id as it
/// was (used for the gap notice).
pub fn encode_notice(event_type: &str, data: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + event_type.len() + 16);
    put_field(&mut out, "event", event_type);
    for line in split_lines(data) {
        put_field(&mut out, "data", line);
    }
    out.put_u8(b'\n');
    out.freeze()
}

fn put_field(out: &mut BytesMut, name: &str, value: &str) {
    out.put_slice(name.as_bytes());
    if value.is_empty() {
        // `data:` alone still dispatches an event with empty data; a trailing space would
        // be stripped by the parser anyway.
        out.put_u8(b':');
    } else {
        // One space after the colon: the parser strips exactly one, so a value that starts
        // with a space keeps it.
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
    }
    out.put_u8(b'\n');
}

/// Splits on CRLF, LF and CR. An empty string is one empty line (so an empty publish still
/// dispatches an event with empty data).
fn split_lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let s = rest?;
        match memchr::memchr2(b'\r', b'\n', s.as_bytes()) {
            None => {
                rest = None;
                Some(s)
            }
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
        }
    })
}

#[cfg(test)]
pub(crate) mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(data: &str) -> String {
        let bytes = encode_event("7", &EventFields::default(), data);
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn single_line_event_has_id_and_data() {
        assert_eq!(encode("hello"), "id: 7\ndata: hello\n\n");
    }

    #[test]
    fn every_line_ending_starts_a_new_data_line() {
        assert_eq!(
            encode("a\nb\r\nc\rd"),
            "id: 7\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
    }

    #[test]
    fn trailing_newline_keeps_an_empty_last_line() {
        assert_eq!(encode("a\n"), "id: 7\ndata: a\ndata:\n\n");
    }

    #[test]
    fn empty_data_is_still_an_event() {
        assert_eq!(encode(""), "id: 7\ndata:\n\n");
    }

    #[test]
    fn leading_space_in_data_survives_the_parser() {
        assert_eq!(encode(" x"), "id: 7\ndata:  x\n\n");
    }

    #[test]
    fn type_and_retry_are_encoded() {
        let fields = EventFields::new(Some("tick".into()), Some(2500)).unwrap();
        let bytes = encode_event("9", &fields, "x");
        assert_eq!(&bytes[..], b"id: 9\nevent: tick\nretry: 2500\ndata: x\n\n");
    }

    #[test]
    fn field_injection_is_rejected() {
        assert_eq!(
            EventFields::new(Some("a\ndata: evil".into()), None),
            Err(FieldError { field: "event" })
        );
        assert!(check_field("id", "1\r2").is_err());
        assert!(check_field("id", "1\u{0}2").is_err());
        assert!(check_field("id", "abc-1").is_ok());
    }

    #[test]
    fn notice_has_no_id() {
        let bytes = encode_notice(GAP_EVENT_TYPE, "{}");
        assert_eq!(&bytes[..], b"event: ssegate-gap\ndata: {}\n\n");
    }
}
