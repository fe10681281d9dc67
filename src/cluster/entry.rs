//! Stream entries as the log stores them, and the positions of the stream as cursors.
//!
//! An entry's fields: `p` (`1` when private), `b` (the encoded event without its `id:`
//! line), `i` (the publisher's id, when it chose one), then one `t` per topic, canonical
//! first. A stream id `ms-seq` is the cursor `ms << 64 | seq`, so cursors order as the
//! stream does; the log's own event ids are that number in decimal (digits only, like the
//! in-memory log's, which the native API keeps for the hub).

use std::sync::Arc;

use bytes::Bytes;
use redis::Value;

use crate::{hub::Cursor, hub::Entry, sse::event::prepend_id};

/// One event read from the stream.
#[derive(Debug, Clone)]
pub(super) struct LogEntry {
    pub(super) cursor: Cursor,
    pub(super) id: Arc<str>,
    pub(super) topics: Box<[Arc<str>]>,
    pub(super) private: bool,
    body: Bytes,
}

impl LogEntry {
    /// The event on the wire: its `id:` line, then the body.
    pub(super) fn frame(&self) -> Bytes {
        prepend_id(&self.id, &self.body)
    }

    /// The entry as the hub's readers see it, with its `frame`.
    pub(super) fn as_entry<'a>(&'a self, frame: &'a Bytes) -> Entry<'a> {
        Entry {
            cursor: self.cursor,
            topics: &self.topics,
            private: self.private,
            frame,
        }
    }
}

/// The cursor of a stream id (`ms-seq`).
pub(super) fn cursor_of(id: &str) -> Option<Cursor> {
    let (ms, seq) = id.split_once('-')?;
    let ms: u64 = ms.parse().ok()?;
    let seq: u64 = seq.parse().ok()?;
    Some(Cursor::from_raw((u128::from(ms) << 64) | u128::from(seq)))
}

/// The stream id of a cursor.
pub(super) fn stream_id(cursor: Cursor) -> String {
    let raw = cursor.raw();
    format!("{}-{}", raw >> 64, raw & u128::from(u64::MAX))
}

/// The event id the log gives an event whose publisher chose none.
pub(super) fn generated_id(cursor: Cursor) -> Arc<str> {
    Arc::from(cursor.raw().to_string())
}

/// The cursor a generated id names; `None` for an id of another shape.
pub(super) fn parse_generated_id(id: &str) -> Option<Cursor> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse::<u128>().ok().map(Cursor::from_raw)
}

/// The entries of an `XRANGE`/`XREVRANGE` reply (or of one stream in `XREAD`'s). Entries
/// that do not parse are skipped with a warning: another writer's, or a newer format's.
pub(super) fn entries(reply: &Value) -> Vec<LogEntry> {
    let Value::Array(items) = reply else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let parsed = parse_entry(item);
            if parsed.is_none() {
                tracing::warn!(?item, "cluster: skipping a log entry that does not parse");
            }
            parsed
        })
        .collect()
}

fn parse_entry(item: &Value) -> Option<LogEntry> {
    let Value::Array(pair) = item else {
        return None;
    };
    let id = text(pair.first()?)?;
    let cursor = cursor_of(&id)?;
    let Value::Array(fields) = pair.get(1)? else {
        return None;
    };
    let (mut private, mut body, mut custom, mut topics) = (false, None, None, Vec::new());
    for field in fields.chunks(2) {
        let [name, value] = field else {
            return None;
        };
        match bytes(name)? {
            b"p" => private = bytes(value)? == b"1",
            b"b" => body = Some(Bytes::copy_from_slice(bytes(value)?)),
            b"i" => custom = Some(text(value)?),
            b"t" => topics.push(Arc::<str>::from(text(value)?)),
            _ => {}
        }
    }
    if topics.is_empty() {
        return None;
    }
    Some(LogEntry {
        cursor,
        id: custom.map_or_else(|| generated_id(cursor), Arc::from),
        topics: topics.into_boxed_slice(),
        private,
        body: body?,
    })
}

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    String::from_utf8(bytes(value)?.to_vec()).ok()
}

/// From `XINFO STREAM`: the length, the first entry's cursor and the newest cursor trimmed
/// away (anything at or before it may be gone).
pub(super) fn stream_info(reply: &Value) -> (usize, Option<Cursor>, Option<Cursor>) {
    let pairs: Vec<(&Value, &Value)> = match reply {
        Value::Array(flat) => flat
            .chunks(2)
            .filter_map(|p| match p {
                [k, v] => Some((k, v)),
                _ => None,
            })
            .collect(),
        Value::Map(map) => map.iter().map(|(k, v)| (k, v)).collect(),
        _ => Vec::new(),
    };
    let (mut length, mut first, mut deleted) = (0, None, None);
    for (key, value) in pairs {
        match bytes(key) {
            Some(b"length") => {
                if let Value::Int(n) = value {
                    length = usize::try_from(*n).unwrap_or(0);
                }
            }
            Some(b"first-entry") => first = parse_entry(value).map(|e| e.cursor),
            Some(b"max-deleted-entry-id") => {
                deleted = text(value)
                    .as_deref()
                    .and_then(cursor_of)
                    .filter(|c| c.raw() != 0);
            }
            _ => {}
        }
    }
    (length, first, deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_and_cursors_round_trip_in_order() {
        let a = cursor_of("1733456789012-0").unwrap();
        let b = cursor_of("1733456789012-1").unwrap();
        let c = cursor_of("1733456789013-0").unwrap();
        assert!(a < b && b < c);
        assert_eq!(stream_id(b), "1733456789012-1");
        assert_eq!(parse_generated_id(&generated_id(c)), Some(c));
        assert_eq!(cursor_of("12"), None);
        assert_eq!(parse_generated_id("12-0"), None);
    }

    #[test]
    fn entries_parse_their_fields() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("5-1"),
            Value::Array(vec![
                bulk("p"),
                bulk("1"),
                bulk("b"),
                bulk("data: x\n\n"),
                bulk("i"),
                bulk("order-1"),
                bulk("t"),
                bulk("a"),
                bulk("t"),
                bulk("b"),
            ]),
        ])]);
        let parsed = entries(&reply);
        assert_eq!(parsed.len(), 1);
        let entry = &parsed[0];
        assert_eq!(entry.cursor, cursor_of("5-1").unwrap());
        assert_eq!(&*entry.id, "order-1");
        assert_eq!(&*entry.topics, &[Arc::from("a"), Arc::from("b")]);
        assert!(entry.private);
        assert_eq!(&entry.frame()[..], b"id: order-1\ndata: x\n\n");
    }
}
