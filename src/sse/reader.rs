//! The one reader of the SSE wire format, after the WHATWG HTML "Server-sent events"
//! section ("Parsing an event stream", "Interpreting an event stream").
//!
//! Three layers, each usable alone:
//!
//! - [`SseReader`] splits a byte stream into event blocks (the lines up to and including a
//!   blank line). Each [`Block`] is the upstream's exact bytes, split off the reader's buffer
//!   without copying, so a relay or a fan-out can forward it as it came. It also says where
//!   a comment may be inserted ([`SseReader::at_boundary`]).
//! - [`Block::fields`] parses a block's fields (allocating); [`Block::lines`] walks them
//!   without allocating, for callers that need one field only.
//! - [`Dispatcher`] keeps the state a client carries from block to block (the last event
//!   ID buffer) and turns blocks into [`MessageEvent`]s.
//!
//! Text is decoded as UTF-8 with U+FFFD replacement, line by line. Line ends (CR, LF) and
//! the field separators (`:`, space) are ASCII, and bytes of a multi-byte sequence never
//! are, so parsing the bytes first and decoding each value after gives exactly what
//! decoding the whole stream first would; a sequence split across chunks is whole again in
//! the buffer before any of it is decoded.

use std::borrow::Cow;

use bytes::{Buf, Bytes, BytesMut};
use memchr::{memchr, memchr2, memrchr2};

/// The UTF-8 byte order mark, ignored once at the very start of a stream (the spec's
/// "UTF-8 decode" strips it).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The event type of events without an `event` field (or with an empty one).
const DEFAULT_EVENT_TYPE: &str = "message";

/// Splits an event stream into [`Block`]s.
///
/// Feed it with [`push`](Self::push), take blocks with [`next_block`](Self::next_block)
/// until it returns `Ok(None)`, and at the end of the input call
/// [`finish`](Self::finish) the same way. A reader follows one stream: use a new one for
/// the next connection.
///
/// The search for line ends looks at every input byte once: it resumes where the previous
/// call stopped (only a CR at the very end of the input is looked at again, when the next
/// byte tells whether it is half of a CRLF). Fields are parsed apart, on demand
/// ([`Block::fields`]), so a caller that only forwards blocks never pays for them.
#[derive(Debug)]
pub struct SseReader {
    /// Input not yet returned in a block. It always starts at a block boundary, so the
    /// offsets below are relative to the block being read.
    buf: BytesMut,
    /// Start of the line being scanned.
    line_start: usize,
    /// Where the scan for the end of that line resumes: `buf[line_start..pos]` holds no
    /// CR or LF.
    pos: usize,
    max_block_bytes: usize,
    /// Nothing but a prefix of the byte order mark has arrived yet, so whether the stream
    /// starts with one is still open.
    at_start: bool,
    /// A block was too large; the stream cannot be followed any further.
    failed: bool,
}

/// A block grew past the reader's limit: the stream is abandoned rather than buffered
/// without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event block longer than {limit} bytes")]
pub struct BlockTooLarge {
    /// The limit the reader was created with.
    pub limit: usize,
}

impl SseReader {
    /// A reader that fails, with [`BlockTooLarge`], on any block longer than
    /// `max_block_bytes` (counting its line ends and its final blank line).
    pub fn new(max_block_bytes: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            line_start: 0,
            pos: 0,
            max_block_bytes,
            at_start: true,
            failed: false,
        }
    }

    /// Appends a chunk of the stream; any chunking works, even within a line ending or a
    /// multi-byte character. After a [`BlockTooLarge`] the input is dropped, so memory stays
    /// bounded even if the caller keeps reading.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.failed {
            return;
        }
        self.buf.extend_from_slice(chunk);
        if self.at_start {
            let seen = self.buf.len().min(BOM.len());
            if self.buf[..seen] != BOM[..seen] {
                self.at_start = false;
            } else if seen == BOM.len() {
                // No block has begun (next_block waits while at_start), so no offset moves.
                self.buf.advance(BOM.len());
                self.at_start = false;
            }
        }
    }

    /// The next complete block, or `Ok(None)` until more input arrives.
    ///
    /// A CR at the very end of the input does not end its line yet: it may be the first half
    /// of a CRLF, and the LF belongs to the block. So a stream that ends its lines with CR
    /// alone has each event handed over when the next byte arrives (or at
    /// [`finish`](Self::finish)). Blocks are the same whatever the chunking.
    ///
    /// Fails once the block being read is longer than the limit; from then on every call
    /// fails the same way.
    pub fn next_block(&mut self) -> Result<Option<Block>, BlockTooLarge> {
        self.take_block(false)
    }

    /// [`next_block`](Self::next_block) at the end of the input: a CR at the very end is a
    /// whole line end. Call it until it returns `Ok(None)`; what is still buffered then is
    /// an event the input cut short, which the spec discards (it never dispatches an
    /// incomplete event). Its `retry` still counts: see
    /// [`unfinished_retry`](Self::unfinished_retry).
    pub fn finish(&mut self) -> Result<Option<Block>, BlockTooLarge> {
        self.take_block(true)
    }

    /// True when the input so far ends between two events, where a relay may insert a
    /// comment (a heartbeat) without landing inside an event. Complete blocks not yet taken
    /// do not matter, so this holds whether or not `next_block` was called.
    ///
    /// A final CR that ended a blank line counts as a boundary although
    /// [`next_block`](Self::next_block) holds its block back: should an LF follow the
    /// inserted comment, a downstream parser reads it as one more blank line, which
    /// dispatches nothing.
    pub fn at_boundary(&self) -> bool {
        if self.failed {
            return false;
        }
        let buf = &self.buf[..];
        // Drop the last line end (CRLF, LF or CR); the input is between events when what
        // precedes it is empty (the buffer starts at a boundary) or ends a line too.
        let before = if buf.ends_with(b"\r\n") {
            &buf[..buf.len() - 2]
        } else {
            match buf.split_last() {
                Some((b'\r' | b'\n', before)) => before,
                // A BOM prefix, or a line under way; or nothing at all.
                _ => return buf.is_empty(),
            }
        };
        matches!(before.last(), None | Some(b'\r' | b'\n'))
    }

    /// The last valid `retry` among the complete lines of the block being read (after
    /// [`finish`](Self::finish) returned `Ok(None)`: the event the input cut short). The
    /// spec applies `retry` as soon as its line is read, while the rest of a block waits
    /// for its blank line; a client whose stream ended or broke should apply this one, and
    /// discard the rest of the event.
    pub fn unfinished_retry(&self) -> Option<u64> {
        if self.failed || self.at_start {
            return None;
        }
        // The line after the last CR or LF is incomplete and ignored; a final CR counts as a
        // line end, since the stream is over.
        let complete = memrchr2(b'\n', b'\r', &self.buf).map_or(0, |eol| eol + 1);
        Lines::new(&self.buf[..complete])
            .filter_map(|line| match line {
                Line::Field {
                    name: b"retry",
                    value,
                } => parse_retry(value),
                _ => None,
            })
            .last()
    }

    fn take_block(&mut self, eof: bool) -> Result<Option<Block>, BlockTooLarge> {
        if self.failed {
            return Err(self.too_large());
        }
        if self.at_start {
            // Fewer than three bytes, all a BOM prefix: no line has ended yet.
            return Ok(None);
        }
        while let Some(found) = memchr2(b'\n', b'\r', &self.buf[self.pos..]) {
            let eol = self.pos + found;
            let line_end = if self.buf[eol] == b'\n' {
                eol + 1
            } else {
                match self.buf.get(eol + 1) {
                    Some(b'\n') => eol + 2,
                    Some(_) => eol + 1,
                    None if eof => eol + 1,
                    None => {
                        // Half a CRLF, maybe: look at this CR again with the next byte.
                        self.pos = eol;
                        return self.check_size();
                    }
                }
            };
            if eol > self.line_start {
                self.line_start = line_end;
                self.pos = line_end;
                continue;
            }
            // A blank line: the block ends after it.
            if line_end > self.max_block_bytes {
                return Err(self.fail());
            }
            self.line_start = 0;
            self.pos = 0;
            let raw = self.buf.split_to(line_end).freeze();
            return Ok(Some(Block { raw }));
        }
        self.pos = self.buf.len();
        self.check_size()
    }

    /// No complete block is buffered: fails if the one under way is already too long, which
    /// gives the same verdict as checking the complete block, whatever the chunking.
    fn check_size(&mut self) -> Result<Option<Block>, BlockTooLarge> {
        if self.buf.len() > self.max_block_bytes {
            return Err(self.fail());
        }
        Ok(None)
    }

    fn fail(&mut self) -> BlockTooLarge {
        self.failed = true;
        self.buf = BytesMut::new();
        self.too_large()
    }

    fn too_large(&self) -> BlockTooLarge {
        BlockTooLarge {
            limit: self.max_block_bytes,
        }
    }
}

/// One event block as it came on the wire: its lines (fields and comments) and the blank
/// line that ends it. A stream's byte order mark is never part of a block, so a block is
/// understood the same wherever it is forwarded.
///
/// A blank line right after another is a block of its own (just that line end): it
/// dispatches nothing, but keeping it means the blocks of a stream put together are the
/// stream, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Always a whole block: only [`SseReader`] makes blocks.
    raw: Bytes,
}

impl Block {
    /// The block's bytes, exactly as received, line ends included.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The block's bytes, for forwarding.
    pub fn into_raw(self) -> Bytes {
        self.raw
    }

    /// Parses the block's fields (each call parses again).
    pub fn fields(&self) -> Fields {
        let mut fields = Fields::default();
        for line in self.lines() {
            let Line::Field { name, value } = line else {
                continue;
            };
            match name {
                b"data" => match &mut fields.data {
                    // The spec appends value and LF per line, then drops the final LF.
                    Some(data) => {
                        data.push('\n');
                        data.push_str(&decode(value));
                    }
                    None => fields.data = Some(decode(value).into_owned()),
                },
                b"event" => fields.event = Some(decode(value).into_owned()),
                b"id" if memchr(0, value).is_none() => fields.id = Some(decode(value).into_owned()),
                b"retry" => fields.retry = parse_retry(value).or(fields.retry),
                _ => {}
            }
        }
        fields
    }

    /// The block's fields and comments, in order and undecoded, without allocating.
    pub fn lines(&self) -> Lines<'_> {
        Lines::new(&self.raw)
    }
}

/// The fields of one received block, as the spec's parser leaves them at the blank line.
/// (Not [`super::EventFields`], which are the hub's own outgoing fields.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// The last `event` field's value (possibly empty, which dispatch reads as `message`).
    pub event: Option<String>,
    /// The `data` fields' values joined with `\n` (the spec's data buffer without its
    /// final LF), or `None` when the block has no `data` field: the spec dispatches no
    /// event then. A lone `data` or `data:` line makes `Some("")`, an event with empty data.
    pub data: Option<String>,
    /// The last `id` field's value without NUL (fields with NUL are ignored). `Some("")`
    /// is an explicit reset of the last event ID, which `None` is not.
    pub id: Option<String>,
    /// The last valid `retry` field: ASCII digits only, fitting in a `u64`, in milliseconds.
    pub retry: Option<u64>,
}

/// One line of a block, undecoded (see [`Block::lines`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// `name:value` with one space after the colon dropped, or `name` alone (no colon),
    /// whose value is empty.
    Field {
        /// The field name (`data`, `event`, `id`, `retry`, or one to ignore).
        name: &'a [u8],
        /// The field value.
        value: &'a [u8],
    },
    /// A line starting with `:`; what follows the colon.
    Comment(&'a [u8]),
}

/// The lines of a block, from [`Block::lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        let rest = self.rest;
        let (line, after) = match memchr2(b'\n', b'\r', rest) {
            Some(eol) if rest[eol] == b'\r' && rest.get(eol + 1) == Some(&b'\n') => {
                (&rest[..eol], &rest[eol + 2..])
            }
            Some(eol) => (&rest[..eol], &rest[eol + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        // Within a block, only the last line is empty: the blank line that ends it.
        if line.is_empty() {
            self.rest = &[];
            return None;
        }
        self.rest = after;
        Some(match memchr(b':', line) {
            Some(0) => Line::Comment(&line[1..]),
            Some(colon) => {
                let value = &line[colon + 1..];
                Line::Field {
                    name: &line[..colon],
                    value: value.strip_prefix(b" ").unwrap_or(value),
                }
            }
            None => Line::Field {
                name: line,
                value: &[],
            },
        })
    }
}

/// The client side of the spec's dispatch: the last event ID buffer, which carries from
/// block to block, and the turning of a block into an event.
#[derive(Debug, Clone, Default)]
pub struct Dispatcher {
    last_event_id: String,
}

/// An event as a browser's `EventSource` dispatches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    /// The last event ID buffer at dispatch: this block's `id`, else the last one before it
    /// (possibly in a block without data); empty when none was seen.
    pub last_event_id: String,
    /// The event type: `message` unless the block had a non-empty `event` field.
    pub event_type: String,
    /// The data lines joined with `\n`.
    pub data: String,
    /// The `retry` sent in this event's block, if any. Not part of the browser's event;
    /// kept for clients that show it (the reconnection time is the caller's to apply, from
    /// [`Fields::retry`] of every block, since blocks without data set it too).
    pub retry: Option<u64>,
}

impl Dispatcher {
    /// The last event ID buffer: the last `id` received, empty when none was (or when the
    /// last one was empty).
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Ends a block: its `id`, if any, replaces the last event ID (even when the block has
    /// no data, as the spec sets it before looking at the data); then the event, or `None`
    /// when the block had no `data` field.
    pub fn dispatch(&mut self, fields: Fields) -> Option<MessageEvent> {
        if let Some(id) = fields.id {
            self.last_event_id = id;
        }
        let data = fields.data?;
        let event_type = fields
            .event
            .filter(|event| !event.is_empty())
            .unwrap_or_else(|| DEFAULT_EVENT_TYPE.to_owned());
        Some(MessageEvent {
            last_event_id: self.last_event_id.clone(),
            event_type,
            data,
            retry: fields.retry,
        })
    }
}

/// Decodes a value as UTF-8, replacing invalid sequences with U+FFFD (borrowed when valid).
fn decode(value: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(value)
}

/// A `retry` value: ASCII digits only (not even a sign), fitting in a `u64`; else the spec
/// ignores the field.
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |ms, &byte| {
        if !byte.is_ascii_digit() {
            return None;
        }
        ms.checked_mul(10)?.checked_add(u64::from(byte - b'0'))
    })
}

#[cfg(test)]
mod tests;
