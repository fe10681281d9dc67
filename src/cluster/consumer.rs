//! Each node's one consumer loop: a blocking `XREAD` on the stream, on a connection of its
//! own, handing every event to the node's router in stream order. When the Sentinels name a
//! new master, it reconnects there and goes on from the same position.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use redis::{aio::ConnectionManager, Value};

use super::{
    connection::Connections,
    entry::{entries, stream_id, LogEntry},
    lock, Keys, Shared, BLOCK, DELIVERY_CHUNK, PAGE,
};
use crate::{
    hub::{Cursor, Router},
    metrics::ClusterMetrics,
};

/// Reads the stream from `after` for as long as the node runs, handing each event to the
/// router in stream order. Redis going away pauses it; it goes on from the same position.
pub(super) async fn consume(
    connections: Arc<Connections>,
    keys: Arc<Keys>,
    mut after: Option<Cursor>,
    router: Arc<Router>,
    state: Arc<Mutex<Shared>>,
    node: String,
    metrics: ClusterMetrics,
) {
    let mut failures: u32 = 0;
    let mut reader: Option<ConnectionManager> = None;
    let mut master = connections.master();
    loop {
        if failures > 0 {
            let delay = Duration::from_millis(50u64 << failures.min(5));
            tokio::time::sleep(delay).await;
        }
        // A blocking XREAD holds its connection: the consumer has one of its own, to the
        // master the other connections lead to.
        let conn = match &mut reader {
            Some(conn) => conn,
            None => match connections.blocking(BLOCK).await {
                Ok(fresh) => reader.insert(fresh),
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(%node, error = %e, "cluster: cannot connect the log's reader");
                    connections.failed();
                    continue;
                }
            },
        };
        let from = after.map_or_else(|| "0-0".to_owned(), stream_id);
        let mut xread = redis::cmd("XREAD");
        xread
            .arg("COUNT")
            .arg(PAGE)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&keys.stream)
            .arg(&from);
        let reply: Option<Result<Value, _>> = tokio::select! {
            reply = xread.query_async(conn) => Some(reply),
            _ = master.changed() => None,
        };
        let Some(reply) = reply else {
            // The Sentinels named a new master: read there, from the same position.
            reader = None;
            continue;
        };
        let reply = match reply {
            Ok(reply) => {
                failures = 0;
                lock(&state).last_read = Some(Instant::now());
                reply
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(%node, error = %e, "cluster: reading the shared log failed");
                connections.failed();
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
            if let Some(last) = chunk.last() {
                metrics.consumer_lag.set(lag_secs(last.cursor));
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

/// Seconds from the entry's id time (Redis's clock, when it took the entry) to now (this
/// node's clock); clocks apart by more than the lag show as 0.
fn lag_secs(cursor: Cursor) -> f64 {
    let id_ms = (cursor.raw() >> 64) as u64;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    now_ms.saturating_sub(id_ms) as f64 / 1000.0
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
