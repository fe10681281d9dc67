//! An incremental `text/event-stream` parser, and the payload the publisher embeds.
//!
//! Lines end in `\n` or `\r\n` (a lone `\r` is also a line end in the spec; no server
//! under test emits one, so it is not handled). Events end at a blank line; `data:`
//! lines are joined with `\n`; comment lines (`:`), the heartbeats, are counted and
//! dropped; other fields (`id`, `event`, `retry`) are ignored.

/// Per-stream parser state. Buffers are kept between events, so after the first event a
/// stream parses without allocating.
#[derive(Default)]
pub struct SseParser {
    /// The start of a line split across DATA frames.
    partial: Vec<u8>,
    /// The `data:` lines of the current event.
    data: Vec<u8>,
    has_data: bool,
    /// Comment lines seen (heartbeats).
    pub comments: u64,
}

impl SseParser {
    /// Parse `chunk`, calling `on_event` with the data of every event it completes.
    pub fn feed(&mut self, mut chunk: &[u8], mut on_event: impl FnMut(&[u8])) {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            let (line, rest) = (&chunk[..end], &chunk[end + 1..]);
            chunk = rest;
            if self.partial.is_empty() {
                self.line(line, &mut on_event);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole, &mut on_event);
                whole.clear();
                self.partial = whole;
            }
        }
        self.partial.extend_from_slice(chunk);
    }

    fn line(&mut self, line: &[u8], on_event: &mut impl FnMut(&[u8])) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if self.has_data {
                on_event(&self.data);
            }
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
    }
}

/// What the publisher puts in an event's data: `RUN TOPIC SEQ SENT_UNIX_NANOS`, then
/// optional padding after one more space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// Random per run: events left over from an earlier run on the same server are not
    /// counted.
    pub run: u64,
    pub topic: u64,
    /// Per-topic sequence number, from 0.
    pub seq: u64,
    pub sent_ns: u64,
}

impl Payload {
    pub fn encode(&self, pad: usize) -> Vec<u8> {
        let mut out = format!("{} {} {} {}", self.run, self.topic, self.seq, self.sent_ns);
        if pad > 0 {
            out.push(' ');
            out.push_str(&"x".repeat(pad));
        }
        out.into_bytes()
    }

    /// `None` for anything that is not a payload of this tool (a server's own events).
    pub fn parse(data: &[u8]) -> Option<Payload> {
        let mut fields = data.split(|&b| b == b' ');
        let mut next = || -> Option<u64> {
            let digits = fields.next()?;
            if digits.is_empty() || digits.len() > 20 {
                return None;
            }
            digits.iter().try_fold(0u64, |acc, &b| {
                let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
                acc.checked_mul(10)?.checked_add(u64::from(digit))
            })
        };
        Some(Payload {
            run: next()?,
            topic: next()?,
            seq: next()?,
            sent_ns: next()?,
        })
    }
}

/// Checks of the parser against the framings servers use, run by `--self-test`
/// (`harness = false` benches do not run `#[test]` functions).
pub fn self_test() -> Result<(), String> {
    fn events(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, u64) {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, |data| out.push(data.to_vec()));
        }
        (out, parser.comments)
    }
    let check = |name: &str, got: (Vec<Vec<u8>>, u64), want: (&[&[u8]], u64)| {
        let want_events: Vec<Vec<u8>> = want.0.iter().map(|e| e.to_vec()).collect();
        if got.0 == want_events && got.1 == want.1 {
            Ok(())
        } else {
            Err(format!(
                "{name}: got {got:?}, want {want_events:?} and {} comments",
                want.1
            ))
        }
    };
    // nchan: a greeting comment, `id:` before `data:`, comment heartbeats.
    check(
        "nchan framing",
        events(&[b":hi\n\nid: 1:0\ndata: 1 2 3 4\n\n:hb\n\n"]),
        (&[b"1 2 3 4"], 2),
    )?;
    check(
        "CRLF and multi-line data",
        events(&[b"event: x\r\ndata: a\r\ndata:b\r\n\r\n"]),
        (&[b"a\nb"], 0),
    )?;
    check(
        "split across frames, mid-line and between CR and LF",
        events(&[b"da", b"ta: 7 8", b" 9 10\r", b"\n", b"\r\n: ping\n", b"\n"]),
        (&[b"7 8 9 10"], 1),
    )?;
    check(
        "no event without data, and one per blank line",
        events(&[b"id: 5\n\ndata: x\n\n\n\ndata: y\n\n"]),
        (&[b"x", b"y"], 0),
    )?;
    let payload = Payload {
        run: 42,
        topic: 3,
        seq: 9,
        sent_ns: 1_700_000_000_123_456_789,
    };
    if Payload::parse(&payload.encode(5)) != Some(payload) {
        return Err("payload round trip with padding".into());
    }
    if Payload::parse(b"hello").is_some() || Payload::parse(b"1 2 3").is_some() {
        return Err("payload parse accepts foreign data".into());
    }
    Ok(())
}
