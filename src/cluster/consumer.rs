//! Each node's one consumer loop: a blocking `XREAD` on the stream, on a connection of its
//! own, handing every event to the node's router in stream order.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use redis::{aio::ConnectionManager, Value};

use super::{
    entry::{entries, stream_id, LogEntry},
    lock, Keys, Shared, BLOCK, DELIVERY_CHUNK, PAGE,
};
use crate::hub::{Cursor, Router};

/// Reads the stream from `after` for as long as the node runs, handing each event to the
/// router in stream order. Redis going away pauses it; it goes on from the same position.
pub(super) async fn consume(
    mut conn: ConnectionManager,
    keys: Arc<Keys>,
    mut after: Option<Cursor>,
    router: Arc<Router>,
    state: Arc<Mutex<Shared>>,
    node: String,
) {
    let mut failures: u32 = 0;
    loop {
        let from = after.map_or_else(|| "0-0".to_owned(), stream_id);
        let reply: Result<Value, _> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(PAGE)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&keys.stream)
            .arg(&from)
            .query_async(&mut conn)
            .await;
        let reply = match reply {
            Ok(reply) => {
                failures = 0;
                reply
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let delay = Duration::from_millis(50u64 << failures.min(5));
                tracing::warn!(%node, error = %e, retry_in = ?delay, "cluster: reading the shared log failed");
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        // XREAD answers [[stream, [entries]]], or nil when nothing came in time.
        let Some(list) = xread_entries(&reply) else {
            continue;
        };
        for chunk in entries(list).chunks(DELIVERY_CHUNK) {
            for entry in chunk {
                deliver(&router, entry);
                after = Some(entry.cursor);
            }
            // Catching up, a node reads full pages: hand them over a chunk at a time and let
            // the streams fed send in between, so that a subscriber that keeps up is not
            // ended as too slow because its node fell behind.
            tokio::task::yield_now().await;
        }
        {
            let mut shared = lock(&state);
            if after > shared.tail {
                shared.tail = after;
            }
        }
    }
}

fn xread_entries(reply: &Value) -> Option<&Value> {
    match reply {
        Value::Array(streams) => match streams.first()? {
            Value::Array(pair) => pair.get(1),
            _ => None,
        },
        Value::Map(streams) => streams.first().map(|(_, entries)| entries),
        _ => None,
    }
}

fn deliver(router: &Router, entry: &LogEntry) {
    let frame = entry.frame();
    router.deliver(
        entry.cursor,
        &entry.id,
        &entry.topics,
        entry.private,
        &frame,
    );
}
