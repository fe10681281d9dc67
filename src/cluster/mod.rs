//! Cluster mode: the hub's [`Log`] on Redis Streams, shared by every node. A publish on any
//! node is appended to one stream (the id comes from Redis), each node's single consumer loop
//! reads the stream in order and hands every event to its own router, and a client resuming
//! on any node replays from the stream. History lives in Redis, bounded by `MAXLEN ~`.
//!
//! Imports the hub (the `Log` trait and the router it delivers to), `sse` encoding and
//! `config`; only the server's assembly imports it.
//!
//! Keys (`{prefix}` is `cluster.key_prefix`): `{prefix}:log`, the stream; `{prefix}:ids`, a
//! publisher-chosen id to its stream entry; `{prefix}:ids-by-time`, those ids by time, to
//! forget the ones the stream no longer holds. One stream gives one total order over every
//! topic, which keeps a multi-topic subscription's cursor a single position.

mod connection;
mod consumer;
mod directory;
mod entry;
mod replay;

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use redis::{Script, Value};
use tokio::task::AbortHandle;

use crate::{
    config::ClusterConfig,
    hub::{
        AppendFuture, Appended, Cursor, Log, LogStats, LookupFuture, NewEvent, PublishError,
        ReadFuture, Router, Wants,
    },
    metrics::ClusterMetrics,
};
use connection::Connections;
use consumer::consume;
pub use directory::{RedisDirectory, RECORD_TTL};
use entry::{cursor_of, entries, generated_id};
use replay::{read_range, unreadable};

/// Entries one consumer read or one replay page takes at most.
const PAGE: usize = 512;
/// Entries delivered between two yields of the consumer: well under a subscriber's queue
/// (`hub.subscriber_queue`, 256 by default).
const DELIVERY_CHUNK: usize = 32;
/// How long the consumer's `XREAD` blocks before it asks again.
const BLOCK: Duration = Duration::from_secs(1);
/// No successful read for this long: the log is taken for unreachable (`/readyz`).
const UNREACHABLE_AFTER: Duration = Duration::from_secs(5);

/// Why the cluster log could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the shared log at {url}")]
pub struct ClusterError {
    url: String,
    source: redis::RedisError,
}

/// The shared log on Redis Streams.
pub struct RedisLog {
    connections: Arc<Connections>,
    wait_replicas: u32,
    prefix: String,
    keys: Arc<Keys>,
    max_len: usize,
    timeout: Duration,
    script: Arc<Script>,
    state: Arc<Mutex<Shared>>,
    consumer: AbortHandle,
    /// Follows a Sentinel failover; none without Sentinel.
    watcher: Option<AbortHandle>,
    metrics: ClusterMetrics,
}

#[derive(Debug)]
struct Keys {
    stream: String,
    ids: String,
    by_time: String,
}

/// What the consumer has seen: the newest cursor (ids past it are unknown) and counters
/// for `stats`, which cannot wait for Redis.
#[derive(Debug, Default)]
struct Shared {
    tail: Option<Cursor>,
    oldest: Option<Cursor>,
    length: usize,
    /// When the consumer last had an answer from Redis.
    last_read: Option<Instant>,
}

impl std::fmt::Debug for RedisLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLog")
            .field("stream", &self.keys.stream)
            .finish_non_exhaustive()
    }
}

impl RedisLog {
    /// Connects, finds the stream's tail, points `router` at it (everything up to it is
    /// replayed from Redis, everything after it is delivered live) and starts the consumer.
    pub async fn connect(
        config: &ClusterConfig,
        router: Arc<Router>,
        metrics: ClusterMetrics,
    ) -> Result<Self, ClusterError> {
        let url = config.redis_url.to_string();
        let fail = |source| ClusterError {
            url: url.clone(),
            source,
        };
        let (connections, watcher) = Connections::open(config).await.map_err(fail)?;
        let prefix = &config.key_prefix;
        let keys = Arc::new(Keys {
            stream: format!("{prefix}:log"),
            ids: format!("{prefix}:ids"),
            by_time: format!("{prefix}:ids-by-time"),
        });
        let last: Value = redis::cmd("XREVRANGE")
            .arg(&keys.stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut connections.commands())
            .await
            .map_err(fail)?;
        let tail = entries(&last).last().map(|e| e.cursor);
        if let Some(tail) = tail {
            router.start_after(tail);
        }
        let state = Arc::new(Mutex::new(Shared {
            tail,
            // Redis just answered.
            last_read: Some(Instant::now()),
            ..Shared::default()
        }));
        let consumer = tokio::spawn(consume(
            connections.clone(),
            keys.clone(),
            tail,
            router,
            state.clone(),
            config.node_name.clone(),
            metrics.clone(),
        ))
        .abort_handle();
        let watcher = watcher.map(|watch| tokio::spawn(watch).abort_handle());
        tracing::info!(node = %config.node_name, stream = %keys.stream, "cluster: shared log on Redis");
        Ok(Self {
            connections,
            wait_replicas: config.wait_replicas,
            prefix: prefix.clone(),
            keys,
            max_len: config.history_max_events,
            timeout: config.timeout,
            script: Arc::new(Script::new(include_str!("append.lua"))),
            state,
            consumer,
            watcher,
            metrics,
        })
    }

    /// Whether the log is reachable, for `/readyz`: the consumer's blocking read returns at
    /// least every `BLOCK` while Redis answers, so no read for [`UNREACHABLE_AFTER`] means
    /// it does not.
    pub fn reachability(&self) -> impl Fn() -> Result<(), &'static str> + Send + Sync + 'static {
        let state = self.state.clone();
        move || match lock(&state).last_read {
            Some(at) if at.elapsed() < UNREACHABLE_AFTER => Ok(()),
            _ => Err("shared log unreachable"),
        }
    }
}

impl RedisLog {
    /// The cluster's directory of records (the Mercure subscriptions of every node), on
    /// this log's connection.
    pub fn directory(&self) -> RedisDirectory {
        RedisDirectory::start(self.connections.clone(), &self.prefix, self.timeout)
    }
}

impl Drop for RedisLog {
    fn drop(&mut self) {
        self.consumer.abort();
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
    }
}

/// Waits (Redis `WAIT`, on the connection that wrote) until `replicas` replicas hold every
/// write made so far on `conn`, or the deadline. Short of it, the publish is a `503`: the
/// event is in the log, but a failover could lose it, so it is not acknowledged.
async fn replicated(
    conn: &mut redis::aio::ConnectionManager,
    replicas: u32,
    deadline: tokio::time::Instant,
) -> Result<(), PublishError> {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let mut wait = redis::cmd("WAIT");
    wait.arg(replicas).arg(left.as_millis().max(1) as u64);
    let wait = wait.query_async::<u32>(conn);
    match tokio::time::timeout(left + BLOCK, wait).await {
        Ok(Ok(acked)) if acked >= replicas => Ok(()),
        Ok(Ok(acked)) => {
            tracing::warn!(
                acked,
                wanted = replicas,
                "cluster: too few replicas hold the event in time"
            );
            Err(PublishError::Unavailable)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cluster: waiting for the replicas failed");
            Err(PublishError::Unavailable)
        }
        Err(_) => {
            tracing::warn!("cluster: the master did not answer WAIT in time");
            Err(PublishError::Unavailable)
        }
    }
}

fn lock(state: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Log for RedisLog {
    fn append(&self, event: NewEvent) -> AppendFuture {
        let connections = self.connections.clone();
        let mut conn = connections.appends();
        let wait_replicas = self.wait_replicas;
        let script = self.script.clone();
        let keys = self.keys.clone();
        let max_len = self.max_len;
        let timeout = self.timeout;
        let state = self.state.clone();
        let append_latency = self.metrics.append_latency.clone();
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let started = Instant::now();
            let added = match &event.id {
                // The common case needs no id bookkeeping: one XADD, not a script (the
                // script costs Redis several times the CPU of the XADD it runs).
                None => {
                    let mut xadd = redis::cmd("XADD");
                    xadd.arg(&keys.stream)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(max_len)
                        .arg("*")
                        .arg("p")
                        .arg(if event.private { "1" } else { "0" })
                        .arg("b")
                        .arg(event.body.as_ref());
                    for topic in event.topics.iter() {
                        xadd.arg("t").arg(topic.as_bytes());
                    }
                    tokio::time::timeout(timeout, xadd.query_async::<String>(&mut conn)).await
                }
                Some(id) => {
                    let mut invocation = script.prepare_invoke();
                    invocation
                        .key(&keys.stream)
                        .key(&keys.ids)
                        .key(&keys.by_time)
                        .arg(max_len)
                        .arg(id.as_str())
                        .arg(if event.unique_id { "1" } else { "0" })
                        .arg(if event.private { "1" } else { "0" })
                        .arg(event.body.as_ref());
                    for topic in event.topics.iter() {
                        invocation.arg(topic.as_bytes());
                    }
                    tokio::time::timeout(timeout, invocation.invoke_async::<String>(&mut conn))
                        .await
                }
            };
            append_latency.observe(started.elapsed().as_secs_f64());
            let id = match added {
                Ok(Ok(id)) => id,
                Ok(Err(e)) if e.code() == Some("DUPLICATE") => {
                    return Err(PublishError::DuplicateId(event.id.unwrap_or_default()))
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cluster: appending to the shared log failed");
                    connections.failed();
                    return Err(PublishError::Unavailable);
                }
                Err(_) => {
                    tracing::warn!(?timeout, "cluster: the shared log did not answer in time");
                    connections.failed();
                    return Err(PublishError::Unavailable);
                }
            };
            let Some(cursor) = cursor_of(&id) else {
                tracing::warn!(%id, "cluster: Redis answered an id that is not a stream id");
                return Err(PublishError::Unavailable);
            };
            {
                let mut shared = lock(&state);
                if Some(cursor) > shared.tail {
                    shared.tail = Some(cursor);
                }
            }
            if wait_replicas > 0 {
                replicated(&mut conn, wait_replicas, deadline).await?;
            }
            let id = match event.id {
                Some(id) => Arc::from(id),
                None => generated_id(cursor),
            };
            Ok(Appended { cursor, id })
        })
    }

    fn read(&self, after: Option<Cursor>, until: Cursor, max: usize, wants: &Wants) -> ReadFuture {
        let connections = self.connections.clone();
        let mut conn = connections.commands();
        let keys = self.keys.clone();
        let wants = wants.clone();
        let timeout = self.timeout;
        let state = self.state.clone();
        Box::pin(async move {
            let read = read_range(&mut conn, &keys, after, until, max, &wants, &state);
            match tokio::time::timeout(timeout, read).await {
                Ok(Ok(read)) => read,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cluster: replay from the shared log failed");
                    connections.failed();
                    unreadable(after)
                }
                Err(_) => {
                    tracing::warn!(?timeout, "cluster: replay from the shared log timed out");
                    connections.failed();
                    unreadable(after)
                }
            }
        })
    }

    fn lookup(&self, id: &str) -> LookupFuture {
        let connections = self.connections.clone();
        let mut conn = connections.commands();
        let keys = self.keys.clone();
        let id = id.to_owned();
        let timeout = self.timeout;
        let tail = lock(&self.state).tail;
        Box::pin(async move {
            if let Some(cursor) = entry::parse_generated_id(&id) {
                // The log's own ids name their position, retained or not; past the tail is
                // a future nobody was told about.
                return (Some(cursor) <= tail).then_some(cursor);
            }
            let find = async {
                let at: Option<String> = redis::cmd("HGET")
                    .arg(&keys.ids)
                    .arg(&id)
                    .query_async(&mut conn)
                    .await?;
                let Some(at) = at else {
                    return Ok(None);
                };
                let entry: Value = redis::cmd("XRANGE")
                    .arg(&keys.stream)
                    .arg(&at)
                    .arg(&at)
                    .query_async(&mut conn)
                    .await?;
                Ok::<_, redis::RedisError>(entries(&entry).first().map(|e| e.cursor))
            };
            match tokio::time::timeout(timeout, find).await {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cluster: looking up an id failed");
                    connections.failed();
                    None
                }
                Err(_) => {
                    connections.failed();
                    None
                }
            }
        })
    }

    fn oldest(&self) -> Option<Cursor> {
        lock(&self.state).oldest
    }

    fn stats(&self) -> LogStats {
        LogStats {
            events: lock(&self.state).length,
            bytes: 0,
        }
    }
}
