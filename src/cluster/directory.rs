//! The cluster's [`Directory`] on Redis: each node's records in a hash of its own,
//! `{prefix}:dir:{instance}`, that expires unless the node refreshes it, and the live
//! instances in a sorted set by last refresh, `{prefix}:dir-nodes`. A node that crashes
//! stops refreshing: its records are gone from every listing within [`RECORD_TTL`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::sync::mpsc;

use super::connection::Connections;
use crate::hub::{Directory, ListFuture};

/// How long a node's records outlive its last refresh.
pub const RECORD_TTL: Duration = Duration::from_secs(30);
/// How often a node refreshes its records.
const REFRESH: Duration = Duration::from_secs(10);

/// This node's side of the directory.
#[derive(Debug)]
pub struct RedisDirectory {
    connections: Arc<Connections>,
    nodes_key: Arc<str>,
    prefix: Arc<str>,
    timeout: Duration,
    /// This node's records: written again after Redis lost them (a restart).
    own: Arc<Mutex<HashMap<Arc<str>, String>>>,
    changes: mpsc::UnboundedSender<Change>,
}

#[derive(Debug)]
enum Change {
    Put(Arc<str>, String),
    Remove(Arc<str>),
}

impl RedisDirectory {
    /// Starts this node's writer: changes as they come, and a refresh every [`REFRESH`].
    pub(super) fn start(connections: Arc<Connections>, prefix: &str, timeout: Duration) -> Self {
        let instance = uuid::Uuid::new_v4();
        let own_key: Arc<str> = Arc::from(format!("{prefix}:dir:{instance}"));
        let nodes_key: Arc<str> = Arc::from(format!("{prefix}:dir-nodes"));
        let own = Arc::new(Mutex::new(HashMap::new()));
        let (changes, inbox) = mpsc::unbounded_channel();
        tokio::spawn(write(
            connections.clone(),
            own_key,
            nodes_key.clone(),
            own.clone(),
            inbox,
        ));
        Self {
            connections,
            nodes_key,
            prefix: Arc::from(prefix),
            timeout,
            own,
            changes,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The writer: applies changes in order, refreshes the hash's expiry and the node's entry in
/// the node set, and rewrites every record when Redis lost them. Failures are retried by the
/// next change or refresh; the directory is advisory, the log is not.
async fn write(
    connections: Arc<Connections>,
    own_key: Arc<str>,
    nodes_key: Arc<str>,
    own: Arc<Mutex<HashMap<Arc<str>, String>>>,
    mut inbox: mpsc::UnboundedReceiver<Change>,
) {
    let mut refresh = tokio::time::interval(REFRESH);
    let ttl_ms = RECORD_TTL.as_millis() as u64;
    loop {
        let mut pipe = redis::pipe();
        tokio::select! {
            change = inbox.recv() => match change {
                None => return,
                Some(Change::Put(key, value)) => {
                    pipe.hset(&*own_key, &*key, value).ignore();
                }
                Some(Change::Remove(key)) => {
                    pipe.hdel(&*own_key, &*key).ignore();
                }
            },
            _ = refresh.tick() => {
                // One transaction: a reader never sees the hash emptied and not yet refilled.
                pipe.atomic();
                let records: Vec<(Arc<str>, String)> =
                    lock(&own).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                pipe.del(&*own_key).ignore();
                for (key, value) in records {
                    pipe.hset(&*own_key, &*key, value).ignore();
                }
                // Forget nodes that stopped refreshing long ago.
                pipe.cmd("ZREMRANGEBYSCORE")
                    .arg(&*nodes_key)
                    .arg("-inf")
                    .arg(now_ms().saturating_sub(2 * ttl_ms))
                    .ignore();
            }
        }
        pipe.pexpire(&*own_key, ttl_ms as i64).ignore();
        pipe.zadd(&*nodes_key, &*own_key, now_ms()).ignore();
        if let Err(e) = pipe.query_async::<()>(&mut connections.commands()).await {
            tracing::debug!(error = %e, "cluster: the subscription directory could not be written");
            connections.failed();
        }
    }
}

impl Directory for RedisDirectory {
    fn put(&self, key: Arc<str>, value: String) {
        lock(&self.own).insert(key.clone(), value.clone());
        let _ = self.changes.send(Change::Put(key, value));
    }

    fn remove(&self, key: Arc<str>) {
        lock(&self.own).remove(&key);
        let _ = self.changes.send(Change::Remove(key));
    }

    fn list(&self) -> ListFuture {
        let connections = self.connections.clone();
        let mut conn = connections.commands();
        let nodes_key = self.nodes_key.clone();
        let prefix = self.prefix.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let read = async {
                let since = now_ms().saturating_sub(RECORD_TTL.as_millis() as u64);
                let nodes: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                    .arg(&*nodes_key)
                    .arg(since)
                    .arg("+inf")
                    .query_async(&mut conn)
                    .await?;
                let mut pipe = redis::pipe();
                for node in nodes.iter().filter(|n| n.starts_with(&*prefix)) {
                    pipe.hgetall(node);
                }
                let hashes: Vec<HashMap<String, String>> = pipe.query_async(&mut conn).await?;
                Ok::<_, redis::RedisError>(hashes.into_iter().flatten().collect::<Vec<_>>())
            };
            match tokio::time::timeout(timeout, read).await {
                Ok(Ok(records)) => Some(records),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cluster: the subscription directory could not be read");
                    connections.failed();
                    None
                }
                Err(_) => None,
            }
        })
    }
}
