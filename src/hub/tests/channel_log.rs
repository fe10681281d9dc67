//! A second [`Log`]: appends travel through a channel to a task of their own, which numbers
//! and retains them, answers the publisher, and only then hands them to the router, as a
//! log shared by several nodes would (the answer and the delivery come back separately
//! from a remote engine). Delivery can be held back to open the window between an event
//! being readable and being delivered, where the replay-then-live hand-over must still
//! miss nothing and repeat nothing.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::super::{
    log::{
        AppendFuture, Appended, Cursor, Log, LogStats, LookupFuture, NewEvent, ReadFuture, Wants,
    },
    memory_log::Numbered,
    PublishError, Router,
};

/// The log's handle: the channel to its task and the storage readers share with it.
#[derive(Debug)]
pub struct ChannelLog {
    commands: mpsc::UnboundedSender<Command>,
    store: Arc<Mutex<Numbered>>,
}

enum Command {
    Append(NewEvent, oneshot::Sender<Result<Appended, PublishError>>),
    /// Answers once everything appended before it was delivered (unless held).
    Settle(oneshot::Sender<()>),
    Hold(bool),
}

/// An event retained but not yet handed to the router.
struct Undelivered {
    cursor: Cursor,
    id: Arc<str>,
    topics: Box<[Arc<str>]>,
    private: bool,
    frame: Bytes,
}

impl ChannelLog {
    /// Starts the log's task on the current runtime.
    pub fn spawn(max_events: usize, max_bytes: usize, first_seq: u64, router: Arc<Router>) -> Self {
        let store = Arc::new(Mutex::new(Numbered::new(max_events, max_bytes, first_seq)));
        let (commands, mut inbox) = mpsc::unbounded_channel();
        let task_store = store.clone();
        tokio::spawn(async move {
            let mut held = false;
            let mut undelivered: Vec<Undelivered> = Vec::new();
            while let Some(command) = inbox.recv().await {
                match command {
                    Command::Append(event, answer) => {
                        let appended = {
                            let mut store = lock(&task_store);
                            store.number(event).map(|(cursor, id, stored)| {
                                undelivered.push(Undelivered {
                                    cursor,
                                    id: id.clone(),
                                    topics: stored.topics.clone(),
                                    private: stored.private,
                                    frame: stored.frame.clone(),
                                });
                                store.retain(stored);
                                Appended { cursor, id }
                            })
                        };
                        // Answered before delivery: the publisher learns its id first.
                        let _ = answer.send(appended);
                        tokio::task::yield_now().await;
                    }
                    Command::Settle(done) => {
                        if !held {
                            deliver(&router, &mut undelivered);
                        }
                        let _ = done.send(());
                    }
                    Command::Hold(hold) => held = hold,
                }
                if !held {
                    deliver(&router, &mut undelivered);
                }
            }
        });
        Self { commands, store }
    }

    /// Waits until every event appended so far was handed to the router (unless held).
    pub async fn settle(&self) {
        let (done, settled) = oneshot::channel();
        if self.commands.send(Command::Settle(done)).is_ok() {
            let _ = settled.await;
        }
    }

    /// Holds delivery back (events are still numbered, retained and answered), or lets it
    /// go on.
    pub fn hold(&self, hold: bool) {
        let _ = self.commands.send(Command::Hold(hold));
    }
}

fn deliver(router: &Router, undelivered: &mut Vec<Undelivered>) {
    for event in undelivered.drain(..) {
        router.deliver(
            event.cursor,
            &event.id,
            &event.topics,
            event.private,
            &event.frame,
        );
    }
}

fn lock(store: &Mutex<Numbered>) -> MutexGuard<'_, Numbered> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

impl Log for ChannelLog {
    fn append(&self, event: NewEvent) -> AppendFuture {
        let (answer, answered) = oneshot::channel();
        let sent = self.commands.send(Command::Append(event, answer));
        Box::pin(async move {
            if sent.is_err() {
                return Err(PublishError::Closed);
            }
            answered.await.unwrap_or(Err(PublishError::Closed))
        })
    }

    fn read(&self, after: Option<Cursor>, until: Cursor, max: usize, wants: &Wants) -> ReadFuture {
        // Answered on the log's own time, as a remote read would be.
        let read = lock(&self.store).read(after, until, max, wants);
        Box::pin(async move {
            tokio::task::yield_now().await;
            read
        })
    }

    fn lookup(&self, id: &str) -> LookupFuture {
        let found = lock(&self.store).lookup(id);
        Box::pin(async move {
            tokio::task::yield_now().await;
            found
        })
    }

    fn oldest(&self) -> Option<Cursor> {
        lock(&self.store)
            .history
            .oldest_seq()
            .map(|seq| Cursor::from_raw(u128::from(seq)))
    }

    fn stats(&self) -> LogStats {
        let store = lock(&self.store);
        LogStats {
            events: store.history.len(),
            bytes: store.history.bytes(),
        }
    }
}
