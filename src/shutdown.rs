//! Graceful drain of connections: tell every connection to finish (GOAWAY on HTTP/2,
//! `Connection: close` after the current response on HTTP/1.1), wait until they are gone,
//! and close whatever is left when the deadline passes.
//!
//! Imports nothing of the crate; the server and the connection driver share it.
//!
//! Each connection holds a [`DrainWatch`]; the server knows all of them are gone when the
//! last one's `mpsc::Sender` is dropped (the mini-redis pattern). hyper-util's
//! `GracefulShutdown` is not used because it only accepts hyper's own connection types,
//! and an upgradeable HTTP/1.1 connection is not one of them.

use std::{future::Future, pin::Pin, time::Duration};

use tokio::sync::{mpsc, watch};

/// The server's side of draining.
#[derive(Debug)]
pub struct Drain {
    draining: watch::Sender<bool>,
    force: watch::Sender<bool>,
    alive: mpsc::Sender<()>,
    gone: mpsc::Receiver<()>,
}

/// A connection's side of draining.
#[derive(Debug, Clone)]
pub struct DrainWatch {
    draining: watch::Receiver<bool>,
    force: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

/// How long a connection given up on may still write its goodbye (an HTTP/2 GOAWAY): a
/// peer that reads nothing does not keep it open.
pub const GOODBYE_GRACE: Duration = Duration::from_secs(1);

/// Why [`DrainWatch::serve`] stopped driving a connection.
#[derive(Debug)]
pub enum Served<E> {
    /// The connection finished by itself (or after draining).
    Done(Result<(), E>),
    /// It was still open at the drain deadline and was closed.
    Forced,
    /// The `idle` future completed first (no request in time).
    Idle,
}

impl<E> Served<E> {
    /// Converts the connection's error.
    pub fn map_err<F>(self, f: impl FnOnce(E) -> F) -> Served<F> {
        match self {
            Self::Done(res) => Served::Done(res.map_err(f)),
            Self::Forced => Served::Forced,
            Self::Idle => Served::Idle,
        }
    }
}

impl Default for Drain {
    fn default() -> Self {
        Self::new()
    }
}

impl Drain {
    /// Nothing draining yet.
    pub fn new() -> Self {
        let (draining, _) = watch::channel(false);
        let (force, _) = watch::channel(false);
        let (alive, gone) = mpsc::channel(1);
        Self {
            draining,
            force,
            alive,
            gone,
        }
    }

    /// The handle a new connection keeps for its lifetime.
    pub fn watcher(&self) -> DrainWatch {
        DrainWatch {
            draining: self.draining.subscribe(),
            force: self.force.subscribe(),
            _alive: self.alive.clone(),
        }
    }

    /// Starts draining at once, then runs `then` (e.g. ending event streams), and waits
    /// until every connection is gone or `deadline` passes. Returns false when the deadline
    /// closed connections.
    pub async fn drain(self, deadline: Duration, then: impl FnOnce()) -> bool {
        let Self {
            draining,
            force,
            alive,
            mut gone,
        } = self;
        let _ = draining.send(true);
        drop(alive);
        then();
        // `recv` yields `None` once every connection has dropped its sender.
        if tokio::time::timeout(deadline, gone.recv()).await.is_ok() {
            return true;
        }
        let _ = force.send(true);
        false
    }
}

impl DrainWatch {
    /// Runs `fut` to its end, or returns `None` as soon as draining starts (for a
    /// connection that has not begun serving yet, e.g. still telling its protocol).
    pub async fn unless_draining<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::select! {
            out = fut => Some(out),
            _ = self.draining.wait_for(|d| *d) => None,
        }
    }

    /// Drives `conn` to its end: calls `shutdown` on it once draining starts and keeps
    /// driving it while it finishes; drops it at the deadline, or when `idle` completes,
    /// after calling `give_up` on it: when that returns true (a goodbye such as a GOAWAY
    /// is on its way), the connection is driven up to [`GOODBYE_GRACE`] longer.
    pub async fn serve<C, E>(
        mut self,
        conn: C,
        shutdown: impl FnOnce(Pin<&mut C>),
        idle: impl Future<Output = ()>,
        give_up: impl FnOnce(Pin<&mut C>) -> bool,
    ) -> Served<E>
    where
        C: Future<Output = Result<(), E>>,
    {
        tokio::pin!(conn);
        tokio::pin!(idle);
        let mut shutdown = Some(shutdown);
        loop {
            tokio::select! {
                res = conn.as_mut() => return Served::Done(res),
                _ = self.force.wait_for(|f| *f) => return Served::Forced,
                () = idle.as_mut() => break,
                _ = self.draining.wait_for(|d| *d), if shutdown.is_some() => {
                    if let Some(shutdown) = shutdown.take() {
                        shutdown(conn.as_mut());
                    }
                }
            }
        }
        // `idle` completed (outside the select: its watch futures are not `Send`).
        if give_up(conn.as_mut()) {
            let _ = tokio::time::timeout(GOODBYE_GRACE, conn.as_mut()).await;
        }
        Served::Idle
    }
}
