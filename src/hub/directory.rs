//! What each node of a cluster announces to the others, and what they all announce: the
//! Mercure hub keeps one record per active subscription here, so that its subscription API
//! lists the subscribers of every node. A node's records disappear with it (they expire
//! when it stops refreshing them).

use std::{fmt, future::Future, pin::Pin, sync::Arc};

/// A future returned by [`Directory::list`].
pub type ListFuture = Pin<Box<dyn Future<Output = Option<Vec<(String, String)>>> + Send>>;

/// Records shared by the nodes of a cluster, by key.
pub trait Directory: fmt::Debug + Send + Sync + 'static {
    /// Announces this node's record under `key` (written in the background).
    fn put(&self, key: Arc<str>, value: String);

    /// Withdraws this node's record under `key` (in the background).
    fn remove(&self, key: Arc<str>);

    /// Every live node's records, this node's included; `None` when the directory cannot
    /// be read now (the caller falls back to this node's own).
    fn list(&self) -> ListFuture;
}
