//! Unit tests of the hub. The ordering and resumption tests run on both logs: the embedded
//! [`MemoryLog`], and [`ChannelLog`], which answers and delivers later from a task of its
//! own, as a remote log would.

mod channel_log;
mod heartbeats;
mod ordering;
mod parallel;
mod selection;
mod stream_properties;

use std::{future::poll_fn, ops::Deref, task::Poll};

use super::*;
use crate::sse::{CloseReason, Next};
use channel_log::ChannelLog;

/// A hub and, on a [`ChannelLog`], the handle that waits for its deliveries.
struct TestHub {
    hub: Arc<Hub>,
    channel: Option<Arc<ChannelLog>>,
}

impl TestHub {
    /// A hub on a [`MemoryLog`] whose first id is `first_seq`.
    fn memory(config: HubConfig, first_seq: u64) -> Self {
        let hub = Hub::with_log(config, |config, router| {
            Arc::new(MemoryLog::starting_at(
                config.history_max_events,
                config.history_max_bytes,
                router,
                first_seq,
            ))
        });
        Self { hub, channel: None }
    }

    /// A hub on a [`ChannelLog`] whose first id is `first_seq`.
    fn channel(config: HubConfig, first_seq: u64) -> Self {
        let mut channel = None;
        let hub = Hub::with_log(config, |config, router| {
            let log = Arc::new(ChannelLog::spawn(
                config.history_max_events,
                config.history_max_bytes,
                first_seq,
                router,
            ));
            channel = Some(log.clone());
            log
        });
        Self { hub, channel }
    }

    /// One hub on each log.
    fn both(config: HubConfig, first_seq: u64) -> [Self; 2] {
        [
            Self::memory(config.clone(), first_seq),
            Self::channel(config, first_seq),
        ]
    }

    /// Waits until the log has delivered everything appended so far.
    async fn settle(&self) {
        if let Some(channel) = &self.channel {
            channel.settle().await;
        }
    }

    async fn publish(
        &self,
        topic: &TopicName,
        id: Option<String>,
        fields: &EventFields,
        data: &str,
    ) -> Result<Published, PublishError> {
        let published = self.hub.publish(topic, id, fields, data).await;
        self.settle().await;
        published
    }

    async fn publish_update(&self, update: Update<'_>) -> Result<Published, PublishError> {
        let published = self.hub.publish_update(update).await;
        self.settle().await;
        published
    }
}

impl Deref for TestHub {
    type Target = Arc<Hub>;

    fn deref(&self) -> &Arc<Hub> {
        &self.hub
    }
}

fn topic(name: &str) -> TopicName {
    TopicName::parse(name).unwrap()
}

fn hub() -> TestHub {
    TestHub::memory(HubConfig::default(), 100)
}

async fn publish(hub: &TestHub, t: &str, data: &str) -> String {
    hub.publish(&topic(t), None, &EventFields::default(), data)
        .await
        .unwrap()
        .id
}

/// Everything the subscription has now, as text. A read from a log that answers later is
/// given a few turns of the runtime before "nothing more" is concluded.
async fn drain(sub: &mut Subscription) -> (Vec<String>, Option<Next>) {
    let mut frames = Vec::new();
    let mut idle_turns = 0;
    loop {
        let mut out = Vec::new();
        match poll_fn(|cx| Poll::Ready(sub.poll_next(cx, 16, &mut out))).await {
            Poll::Ready(Next::Frames) => {
                idle_turns = 0;
                frames.extend(out.iter().map(|b| String::from_utf8(b.to_vec()).unwrap()))
            }
            Poll::Ready(other) => return (frames, Some(other)),
            Poll::Pending if idle_turns < 3 => {
                idle_turns += 1;
                tokio::task::yield_now().await;
            }
            Poll::Pending => return (frames, None),
        }
    }
}

fn update<'a>(
    topics: &[&str],
    private: bool,
    data: &'a str,
    fields: &'a EventFields,
) -> Update<'a> {
    Update {
        topics: topics.iter().map(|t| Arc::from(*t)).collect(),
        private,
        id: None,
        unique_id: true,
        fields,
        data,
    }
}

async fn publish_reused(hub: &TestHub, t: &str, id: &str, data: &str) {
    let fields = EventFields::default();
    let mut update = update(&[t], false, data, &fields);
    update.id = Some(id.to_owned());
    update.unique_id = false;
    hub.publish_update(update).await.unwrap();
}

fn hub_last(frame: &str) -> &str {
    frame.lines().find_map(|l| l.strip_prefix("id: ")).unwrap()
}
