//! Prepares an event stream's raw bytes for eventsource-stream 0.2.

use std::time::Duration;

/// Longest `retry:` line that [`StreamDecoder`] looks at; 20 digits already overflow.
const MAX_RETRY_LINE: usize = 64;

/// Prepares the raw body for eventsource-stream 0.2, which needs help twice:
///
/// - it reports `retry` only on events that carry data, and drops blocks without data,
///   so a lone `retry: 10000` block (the usual way to set it) would be lost; the spec
///   applies the field as soon as it is parsed, so this scans for it;
/// - invalid UTF-8 stalls it for good (the bad bytes stay at the head of its buffer,
///   which then grows without bound), while the spec decodes with U+FFFD replacement,
///   so this decodes first.
#[derive(Debug, Default)]
pub(super) struct StreamDecoder {
    /// The start of a UTF-8 sequence cut by the chunk boundary (at most 3 bytes).
    utf8_tail: Vec<u8>,
    /// The current line, kept only up to [`MAX_RETRY_LINE`] bytes.
    line: Vec<u8>,
    line_too_long: bool,
    /// The previous chunk ended with CR: an LF starting this one ends no new line.
    after_cr: bool,
    /// A first line was seen, so no byte order mark can follow.
    started: bool,
}

impl StreamDecoder {
    /// Decodes one chunk; returns its text and the last `retry` value it completed.
    pub(super) fn feed(&mut self, chunk: &[u8]) -> (String, Option<Duration>) {
        let text = self.decode(chunk);
        let retry = self.scan(&text);
        (text, retry)
    }

    fn decode(&mut self, chunk: &[u8]) -> String {
        let mut bytes = std::mem::take(&mut self.utf8_tail);
        bytes.extend_from_slice(chunk);
        let mut text = String::with_capacity(bytes.len());
        let mut rest = bytes.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    break;
                }
                Err(error) => {
                    let (valid, invalid) = rest.split_at(error.valid_up_to());
                    // Valid by construction, so this borrows and replaces nothing.
                    text.push_str(&String::from_utf8_lossy(valid));
                    match error.error_len() {
                        Some(len) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &invalid[len..];
                        }
                        None => {
                            // An incomplete sequence at the end: the next chunk completes it.
                            self.utf8_tail = invalid.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        text
    }

    fn scan(&mut self, text: &str) -> Option<Duration> {
        let mut found = None;
        for &byte in text.as_bytes() {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    found = self.end_line().or(found);
                }
                _ if self.line.len() < MAX_RETRY_LINE => self.line.push(byte),
                _ => self.line_too_long = true,
            }
        }
        found
    }

    fn end_line(&mut self) -> Option<Duration> {
        let first = !std::mem::replace(&mut self.started, true);
        let mut line = self.line.as_slice();
        if first {
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        let retry = if self.line_too_long {
            None
        } else {
            parse_retry(line)
        };
        self.line.clear();
        self.line_too_long = false;
        retry
    }
}

/// The value of a `retry:` line: ASCII digits only, else the line is ignored (spec).
fn parse_retry(line: &[u8]) -> Option<Duration> {
    let value = line.strip_prefix(b"retry:")?;
    let value = value.strip_prefix(b" ").unwrap_or(value);
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let ms = std::str::from_utf8(value).ok()?.parse().ok()?;
    Some(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_is_read_from_blocks_without_data_and_across_chunks() {
        let mut decoder = StreamDecoder::default();
        assert_eq!(decoder.feed(b"\xef\xbb\xbfretry: 1").1, None);
        assert_eq!(
            decoder.feed(b"5\r").1,
            Some(Duration::from_millis(15)),
            "BOM, split value, CR"
        );
        assert_eq!(
            decoder.feed(b"\nretry:20\r\n").1,
            Some(Duration::from_millis(20))
        );
        assert_eq!(decoder.feed(b"data: retry: 5\n\n").1, None);
        assert_eq!(decoder.feed(b"retry: 5s\nretry: \nretry\n").1, None);
        assert_eq!(decoder.feed(b"retry: 99999999999999999999999\n").1, None);
        let long = format!("retry: 1{}\n", "0".repeat(100));
        assert_eq!(decoder.feed(long.as_bytes()).1, None);
    }

    #[test]
    fn utf8_split_across_chunks_is_kept_whole() {
        let mut decoder = StreamDecoder::default();
        let snowman = "☃".as_bytes();
        assert_eq!(decoder.feed(&snowman[..1]).0, "");
        assert_eq!(decoder.feed(&snowman[1..]).0, "☃");
        assert_eq!(decoder.feed(b"a\xffb\xe2\x98").0, "a\u{fffd}b");
        assert_eq!(decoder.feed(b"x").0, "\u{fffd}x");
    }
}
