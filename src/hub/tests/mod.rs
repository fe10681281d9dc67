//! Unit tests of the hub. The ordering and resumption tests run on both logs: the embedded
//! [`MemoryLog`], and [`ChannelLog`], which answers and delivers later from a task of its
//! own, as a remote log would.

mod channel_log;

use std::{
    ops::Deref,
    task::{Context, Poll, Waker},
};

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

    /// What a publish reports as its receivers: a log that delivers later cannot know.
    fn receivers(&self, n: usize) -> Option<usize> {
        self.channel.is_none().then_some(n)
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

/// Everything the subscription has now, as text.
fn drain(sub: &mut Subscription) -> (Vec<String>, Option<Next>) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut frames = Vec::new();
    loop {
        let mut out = Vec::new();
        match sub.poll_next(&mut cx, 16, &mut out) {
            Poll::Ready(Next::Frames) => {
                frames.extend(out.iter().map(|b| String::from_utf8(b.to_vec()).unwrap()))
            }
            Poll::Ready(other) => return (frames, Some(other)),
            Poll::Pending => return (frames, None),
        }
    }
}

#[tokio::test]
async fn live_events_reach_subscribers_of_the_topic_only() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        let mut a = hub.subscribe(vec![topic("a")], None).unwrap();
        let mut b = hub.subscribe(vec![topic("b")], None).unwrap();
        let published = hub
            .publish(&topic("a"), None, &EventFields::default(), "x")
            .await
            .unwrap();
        assert_eq!(
            published,
            Published {
                id: "100".into(),
                receivers: hub.receivers(1)
            }
        );
        assert_eq!(drain(&mut a).0, vec!["id: 100\ndata: x\n\n"]);
        assert!(drain(&mut b).0.is_empty());
    }
}

#[tokio::test]
async fn one_stream_gets_every_topic_it_names_in_order() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        let mut sub = hub
            .subscribe(vec![topic("a"), topic("b"), topic("a")], None)
            .unwrap();
        assert_eq!(sub.topics().len(), 2, "duplicates removed");
        publish(&hub, "a", "1").await;
        publish(&hub, "b", "2").await;
        publish(&hub, "c", "3").await;
        assert_eq!(
            drain(&mut sub).0,
            vec!["id: 100\ndata: 1\n\n", "id: 101\ndata: 2\n\n"]
        );
    }
}

#[tokio::test]
async fn replay_then_live_has_no_gap_and_no_duplicate() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        let first = publish(&hub, "a", "1").await;
        publish(&hub, "b", "other topic").await;
        publish(&hub, "a", "2").await;
        let mut sub = hub.subscribe(vec![topic("a")], Some(&first)).unwrap();
        assert_eq!(sub.resume(), &Resume::Complete);
        publish(&hub, "a", "3").await;
        let (frames, _) = drain(&mut sub);
        assert_eq!(frames, vec!["id: 102\ndata: 2\n\n", "id: 103\ndata: 3\n\n"]);
    }
}

#[tokio::test]
async fn unknown_id_replays_everything_retained_and_reports_a_gap() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        publish(&hub, "a", "1").await;
        let mut sub = hub.subscribe(vec![topic("a")], Some("bogus")).unwrap();
        assert_eq!(sub.resume(), &Resume::Gap);
        assert_eq!(drain(&mut sub).0, vec!["id: 100\ndata: 1\n\n"]);
    }
}

#[tokio::test]
async fn evicted_events_during_replay_are_reported() {
    let config = HubConfig {
        history_max_events: 2,
        ..HubConfig::default()
    };
    for hub in TestHub::both(config, 1) {
        publish(&hub, "a", "1").await;
        publish(&hub, "a", "2").await;
        let mut sub = hub.subscribe(vec![topic("a")], Some("0")).unwrap();
        assert_eq!(sub.resume(), &Resume::Complete);
        publish(&hub, "a", "3").await;
        publish(&hub, "a", "4").await;
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        assert!(matches!(
            sub.poll_next(&mut cx, 16, &mut out),
            Poll::Ready(Next::HistoryGap)
        ));
        let (frames, _) = drain(&mut sub);
        assert_eq!(frames, vec!["id: 3\ndata: 3\n\n", "id: 4\ndata: 4\n\n"]);
    }
}

#[tokio::test]
async fn a_full_queue_ends_the_stream_without_blocking_the_publisher() {
    let config = HubConfig {
        subscriber_queue: 4,
        ..HubConfig::default()
    };
    let hub = TestHub::memory(config, 1);
    let mut slow = hub.subscribe(vec![topic("a")], None).unwrap();
    for i in 0..10 {
        publish(&hub, "a", &i.to_string()).await;
    }
    let (frames, end) = drain(&mut slow);
    assert_eq!(frames.len(), 4);
    assert!(matches!(end, Some(Next::Closed(CloseReason::Overflow))));
    assert_eq!(hub.stats().overflows, 1);
}

#[tokio::test]
async fn publisher_ids_are_checked() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        let t = topic("a");
        let fields = EventFields::default();
        let ok = hub
            .publish(&t, Some("order-1".into()), &fields, "x")
            .await
            .unwrap();
        assert_eq!(ok.id, "order-1");
        assert_eq!(
            hub.publish(&t, Some("order-1".into()), &fields, "x").await,
            Err(PublishError::DuplicateId("order-1".into()))
        );
        assert_eq!(
            hub.publish(&t, Some("123".into()), &fields, "x").await,
            Err(PublishError::ReservedId)
        );
        assert!(matches!(
            hub.publish(&t, Some("a\nb".into()), &fields, "x").await,
            Err(PublishError::Field(_))
        ));
        let mut sub = hub.subscribe(vec![t], Some("order-1")).unwrap();
        assert_eq!(sub.resume(), &Resume::Complete);
        assert!(drain(&mut sub).0.is_empty());
    }
}

#[tokio::test]
async fn shutdown_ends_streams_and_refuses_new_work() {
    let hub = hub();
    let mut sub = hub.subscribe(vec![topic("a")], None).unwrap();
    publish(&hub, "a", "last").await;
    hub.shutdown();
    let (frames, end) = drain(&mut sub);
    assert_eq!(frames.len(), 1, "queued frames still delivered");
    assert!(matches!(end, Some(Next::Closed(CloseReason::Shutdown))));
    assert_eq!(
        hub.subscribe(vec![topic("a")], None).unwrap_err(),
        SubscribeError::Closed
    );
    assert_eq!(
        hub.publish(&topic("a"), None, &EventFields::default(), "x")
            .await,
        Err(PublishError::Closed)
    );
}

#[tokio::test]
async fn dropping_a_subscription_unregisters_it() {
    let hub = hub();
    let sub = hub.subscribe(vec![topic("a"), topic("b")], None).unwrap();
    assert_eq!(hub.stats().active_topics, 2);
    drop(sub);
    let stats = hub.stats();
    assert_eq!((stats.active_topics, stats.active_subscriptions), (0, 0));
}

#[tokio::test]
async fn topic_limits_are_enforced() {
    let config = HubConfig {
        max_topics_per_subscription: 1,
        ..HubConfig::default()
    };
    let hub = TestHub::memory(config, 1);
    assert_eq!(
        hub.subscribe(vec![topic("a"), topic("b")], None)
            .unwrap_err(),
        SubscribeError::TooManyTopics(1)
    );
    assert_eq!(
        hub.subscribe(vec![], None).unwrap_err(),
        SubscribeError::NoTopic
    );
}

/// A filter for tests: topics starting with a prefix; private updates when allowed.
#[derive(Debug)]
struct Prefix {
    prefix: &'static str,
    private: bool,
}

impl Filter for Prefix {
    fn selects(&self, update: &UpdateView<'_>) -> bool {
        update.topics().iter().any(|t| t.starts_with(self.prefix))
    }

    fn permits(&self, update: &UpdateView<'_>) -> bool {
        !update.private() || self.private
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

#[tokio::test]
async fn an_update_with_several_topics_arrives_once() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        let mut both = hub.subscribe(vec![topic("a"), topic("b")], None).unwrap();
        let fields = EventFields::default();
        let published = hub
            .publish_update(update(&["a", "b", "c"], false, "x", &fields))
            .await
            .unwrap();
        assert_eq!(published.receivers, hub.receivers(1));
        assert_eq!(drain(&mut both).0, vec!["id: 100\ndata: x\n\n"]);
    }
}

#[tokio::test]
async fn scanning_subscribers_get_what_their_filter_accepts() {
    let hub = hub();
    let selection = Selection {
        topics: Vec::new(),
        scan: true,
        scan_group: None,
        filter: Some(Arc::new(Prefix {
            prefix: "https://example.com/books/",
            private: false,
        })),
    };
    let mut sub = hub.subscribe_selection(selection, None).unwrap();
    let fields = EventFields::default();
    hub.publish_update(update(
        &["https://example.com/books/1"],
        false,
        "book",
        &fields,
    ))
    .await
    .unwrap();
    hub.publish_update(update(
        &["https://example.com/users/1"],
        false,
        "user",
        &fields,
    ))
    .await
    .unwrap();
    hub.publish_update(update(
        &["other", "https://example.com/books/2"],
        false,
        "alt",
        &fields,
    ))
    .await
    .unwrap();
    let (frames, _) = drain(&mut sub);
    assert_eq!(frames.len(), 2);
    assert!(frames[0].contains("book") && frames[1].contains("alt"));
    drop(sub);
    assert!(hub.router.scanning_is_empty(), "unsubscribed");
}

#[tokio::test]
async fn private_updates_reach_only_subscribers_allowed_to_see_them_live_and_on_replay() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        let fields = EventFields::default();
        let allowed = Selection {
            topics: vec![Arc::from("t")],
            scan: false,
            scan_group: None,
            filter: Some(Arc::new(Prefix {
                prefix: "t",
                private: true,
            })),
        };
        let mut insider = hub.subscribe_selection(allowed.clone(), None).unwrap();
        let mut public = hub.subscribe(vec![topic("t")], None).unwrap();
        let first = hub
            .publish_update(update(&["t"], true, "secret", &fields))
            .await
            .unwrap();
        hub.publish_update(update(&["t"], false, "open", &fields))
            .await
            .unwrap();
        assert_eq!(drain(&mut insider).0.len(), 2);
        let seen: Vec<String> = drain(&mut public).0;
        assert_eq!(seen.len(), 1);
        assert!(seen[0].contains("open"));

        // Replay applies the same rule.
        let before_first = (first.id.parse::<u64>().unwrap() - 1).to_string();
        let mut replay_public = hub
            .subscribe(vec![topic("t")], Some(&before_first))
            .unwrap();
        assert_eq!(drain(&mut replay_public).0.len(), 1);
        let mut replay_insider = hub
            .subscribe_selection(allowed, Some(&before_first))
            .unwrap();
        assert_eq!(drain(&mut replay_insider).0.len(), 2);
    }
}

#[tokio::test]
async fn an_update_needs_a_topic() {
    let hub = hub();
    let fields = EventFields::default();
    assert_eq!(
        hub.publish_update(update(&[], false, "x", &fields)).await,
        Err(PublishError::NoTopic)
    );
}

async fn publish_reused(hub: &TestHub, t: &str, id: &str, data: &str) {
    let fields = EventFields::default();
    let mut update = update(&[t], false, data, &fields);
    update.id = Some(id.to_owned());
    update.unique_id = false;
    hub.publish_update(update).await.unwrap();
}

#[tokio::test]
async fn a_reused_id_resumes_after_its_earliest_event_including_the_later_one() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        publish_reused(&hub, "a", "rev", "first").await;
        publish(&hub, "a", "between").await;
        publish_reused(&hub, "a", "rev", "second").await;
        let mut sub = hub.subscribe(vec![topic("a")], Some("rev")).unwrap();
        assert_eq!(*sub.resume(), Resume::Complete);
        let (frames, _) = drain(&mut sub);
        let data: Vec<&str> = frames
            .iter()
            .map(|f| f.lines().find(|l| l.starts_with("data:")).unwrap())
            .collect();
        assert_eq!(data, ["data: between", "data: second"]);
    }
}

#[tokio::test]
async fn a_reused_id_evicted_once_still_names_its_next_event() {
    let config = HubConfig {
        history_max_events: 3,
        ..HubConfig::default()
    };
    for hub in TestHub::both(config, 100) {
        publish_reused(&hub, "a", "rev", "first").await;
        publish_reused(&hub, "a", "rev", "second").await;
        publish(&hub, "a", "third").await;
        publish(&hub, "a", "fourth").await; // evicts "first"
        let mut sub = hub.subscribe(vec![topic("a")], Some("rev")).unwrap();
        assert_eq!(*sub.resume(), Resume::Complete);
        let (frames, _) = drain(&mut sub);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert!(frames[0].contains("data: third"));
    }
}

#[tokio::test]
async fn digit_only_ids_are_refused_natively_but_taken_when_ids_may_repeat() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        let fields = EventFields::default();
        let mut native = update(&["a"], false, "x", &fields);
        native.id = Some("42".into());
        assert_eq!(
            hub.publish_update(native).await,
            Err(PublishError::ReservedId)
        );
        publish_reused(&hub, "a", "42", "mercure").await;
        publish(&hub, "a", "after").await;
        let mut sub = hub.subscribe(vec![topic("a")], Some("42")).unwrap();
        assert_eq!(*sub.resume(), Resume::Complete);
        let (frames, _) = drain(&mut sub);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].contains("data: after"));
        assert_eq!(hub.last_event_id().as_deref(), Some(hub_last(&frames[0])));
    }
}

fn hub_last(frame: &str) -> &str {
    frame.lines().find_map(|l| l.strip_prefix("id: ")).unwrap()
}

#[tokio::test]
async fn an_update_view_decides_once_per_memo_key() {
    let topics = [Arc::<str>::from("a")];
    let view = UpdateView::new(&topics, false);
    let calls = std::cell::Cell::new(0);
    let decide = |answer| {
        calls.set(calls.get() + 1);
        answer
    };
    assert!(view.memo(0x1000, || decide(true)));
    assert!(view.memo(0x1000, || decide(false)));
    assert!(!view.memo(0x2000, || decide(false)));
    assert_eq!(calls.get(), 2);
}

/// Selects topics with a prefix and counts how often it was asked.
#[derive(Debug)]
struct Counting {
    prefix: &'static str,
    asked: std::sync::atomic::AtomicUsize,
}

impl Filter for Counting {
    fn selects(&self, update: &UpdateView<'_>) -> bool {
        self.asked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        update.topics().iter().any(|t| t.starts_with(self.prefix))
    }

    fn permits(&self, update: &UpdateView<'_>) -> bool {
        !update.private()
    }
}

fn grouped(filter: &Arc<Counting>, group: &str) -> Selection {
    Selection {
        topics: Vec::new(),
        scan: true,
        filter: Some(filter.clone() as Arc<dyn Filter>),
        scan_group: Some(Arc::from(group)),
    }
}

#[tokio::test]
async fn a_scan_group_is_routed_once_per_update_and_outlives_any_member() {
    let hub = hub();
    let books = Arc::new(Counting {
        prefix: "books/",
        asked: Default::default(),
    });
    let authors = Arc::new(Counting {
        prefix: "authors/",
        asked: Default::default(),
    });
    let mut members: Vec<Subscription> = (0..3)
        .map(|_| {
            hub.subscribe_selection(grouped(&books, "books"), None)
                .unwrap()
        })
        .collect();
    let mut other = hub
        .subscribe_selection(grouped(&authors, "authors"), None)
        .unwrap();
    let fields = EventFields::default();
    hub.publish_update(update(&["books/1"], false, "b1", &fields))
        .await
        .unwrap();
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(
        books.asked.load(Relaxed),
        1,
        "one question for three members"
    );
    assert_eq!(authors.asked.load(Relaxed), 1);
    for member in &mut members {
        assert_eq!(drain(member).0.len(), 1);
    }
    assert!(drain(&mut other).0.is_empty());
    // The first group leaves member by member; the other group's index stays right.
    drop(members.remove(0));
    drop(members.remove(0));
    hub.publish_update(update(&["authors/1"], false, "a1", &fields))
        .await
        .unwrap();
    assert_eq!(drain(&mut other).0.len(), 1);
    assert_eq!(drain(&mut members[0]).0.len(), 0);
    drop(members);
    hub.publish_update(update(&["authors/2"], false, "a2", &fields))
        .await
        .unwrap();
    assert_eq!(drain(&mut other).0.len(), 1);
    assert_eq!(books.asked.load(Relaxed), 2, "gone with its last member");
    drop(other);
    assert!(hub.router.scanning_is_empty());
}

/// Events readable from the log but not yet delivered when a subscriber registers: its
/// replay stops at the hand-over point and the rest arrives live, once each, in order.
#[tokio::test]
async fn replay_then_live_holds_across_a_delivery_that_comes_later() {
    let hub = TestHub::channel(HubConfig::default(), 100);
    let log = hub.channel.clone().unwrap();
    let first = publish(&hub, "a", "1").await;
    publish(&hub, "a", "2").await;
    log.hold(true);
    // Answered (so readable), not delivered.
    hub.hub
        .publish(&topic("a"), None, &EventFields::default(), "3")
        .await
        .unwrap();
    let mut sub = hub.subscribe(vec![topic("a")], Some(&first)).unwrap();
    assert_eq!(sub.resume(), &Resume::Complete);
    assert_eq!(drain(&mut sub).0, vec!["id: 101\ndata: 2\n\n"]);
    log.hold(false);
    publish(&hub, "a", "4").await;
    assert_eq!(
        drain(&mut sub).0,
        vec!["id: 102\ndata: 3\n\n", "id: 103\ndata: 4\n\n"]
    );
}

/// A client that already has an event the log has not delivered yet resumes after it: the
/// delivery that follows is not handed to it again.
#[tokio::test]
async fn a_resume_point_ahead_of_delivery_is_not_repeated() {
    let hub = TestHub::channel(HubConfig::default(), 100);
    let log = hub.channel.clone().unwrap();
    publish(&hub, "a", "1").await;
    log.hold(true);
    let ahead = hub
        .hub
        .publish(&topic("a"), None, &EventFields::default(), "2")
        .await
        .unwrap()
        .id;
    let mut sub = hub.subscribe(vec![topic("a")], Some(&ahead)).unwrap();
    assert_eq!(sub.resume(), &Resume::Complete);
    log.hold(false);
    publish(&hub, "a", "3").await;
    assert_eq!(drain(&mut sub).0, vec!["id: 102\ndata: 3\n\n"]);
}

#[tokio::test]
async fn the_log_reports_its_oldest_retained_cursor() {
    let config = HubConfig {
        history_max_events: 2,
        ..HubConfig::default()
    };
    for hub in TestHub::both(config, 1) {
        assert_eq!(hub.log.oldest(), None);
        for data in ["1", "2", "3"] {
            publish(&hub, "a", data).await;
        }
        let oldest = hub.log.oldest().unwrap();
        assert_eq!(hub.log.lookup("2"), Some(oldest), "event 1 was evicted");
        assert!(hub.log.lookup("3") > Some(oldest));
    }
}
