//! Replay from the stream: `XRANGE` pages after a cursor, with the check that nothing after
//! it was lost.

use std::sync::Mutex;

use redis::{aio::ConnectionManager, Value};

use super::{
    entry::{self, entries, stream_id},
    lock, Keys, Shared, PAGE,
};
use crate::hub::{Cursor, Read, Wants};

/// A replay that Redis could not serve: reported as a gap from where it stood, so the client
/// is told it may have missed events rather than waiting forever.
pub(super) fn unreadable(after: Option<Cursor>) -> Read {
    Read {
        frames: Vec::new(),
        gap: true,
        next: after,
        done: true,
    }
}

/// One replay batch: the gap check against what the stream has trimmed, then pages of
/// `XRANGE` until `max` wanted events or `until`.
pub(super) async fn read_range(
    conn: &mut ConnectionManager,
    keys: &Keys,
    after: Option<Cursor>,
    until: Cursor,
    max: usize,
    wants: &Wants,
    state: &Mutex<Shared>,
) -> Result<Read, redis::RedisError> {
    let info: Value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(&keys.stream)
        .query_async(conn)
        .await?;
    let (length, first, max_deleted) = entry::stream_info(&info);
    {
        let mut shared = lock(state);
        shared.length = length;
        shared.oldest = first;
    }
    if let Some(after) = after.filter(|&a| a < until) {
        // Everything after `after` is still in the stream when `after` is at or past the
        // first retained entry, or is itself the newest entry trimmed. Otherwise entries
        // after it are gone: trimmed, or lost with a Redis that restarted without its data
        // (the stream then has no record of `after` at all).
        // (No stream id lies strictly between a cursor and the next one up.)
        let complete = match first {
            Some(first) => after.raw() + 1 >= first.raw() || max_deleted == Some(after),
            None => false,
        };
        if !complete {
            // Say so, and go on from what is left: right before the first retained entry,
            // or, with nothing retained, at the end of the replay.
            let next = first.map_or(until, |f| Cursor::from_raw(f.raw() - 1));
            return Ok(Read {
                frames: Vec::new(),
                gap: true,
                next: Some(next),
                done: false,
            });
        }
    }
    let mut next = after;
    let mut frames = Vec::new();
    if max == 0 || next >= Some(until) {
        return Ok(Read {
            frames,
            gap: false,
            next,
            done: next >= Some(until),
        });
    }
    loop {
        let start = next.map_or_else(|| "-".to_owned(), |c| format!("({}", stream_id(c)));
        let page: Value = redis::cmd("XRANGE")
            .arg(&keys.stream)
            .arg(&start)
            .arg(stream_id(until))
            .arg("COUNT")
            .arg(PAGE)
            .query_async(conn)
            .await?;
        let page = entries(&page);
        let full = page.len() == PAGE;
        for entry in &page {
            next = Some(entry.cursor);
            let frame = entry.frame();
            if wants(&entry.as_entry(&frame)) {
                frames.push(frame);
                if frames.len() >= max {
                    return Ok(Read {
                        frames,
                        gap: false,
                        next,
                        done: next >= Some(until),
                    });
                }
            }
        }
        if !full {
            return Ok(Read {
                frames,
                gap: false,
                next: Some(until).max(next),
                done: true,
            });
        }
    }
}
