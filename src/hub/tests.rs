use std::task::{Context, Poll, Waker};

use super::*;

fn topic(name: &str) -> TopicName {
    TopicName::parse(name).unwrap()
}

fn hub() -> Arc<Hub> {
    Hub::with_first_seq(HubConfig::default(), 100)
}

fn publish(hub: &Hub, t: &str, data: &str) -> String {
    hub.publish(&topic(t), None, &EventFields::default(), data)
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

#[test]
fn live_events_reach_subscribers_of_the_topic_only() {
    let hub = hub();
    let mut a = hub.subscribe(vec![topic("a")], None).unwrap();
    let mut b = hub.subscribe(vec![topic("b")], None).unwrap();
    let published = hub
        .publish(&topic("a"), None, &EventFields::default(), "x")
        .unwrap();
    assert_eq!(
        published,
        Published {
            id: "100".into(),
            receivers: 1
        }
    );
    assert_eq!(drain(&mut a).0, vec!["id: 100\ndata: x\n\n"]);
    assert!(drain(&mut b).0.is_empty());
}

#[test]
fn one_stream_gets_every_topic_it_names_in_order() {
    let hub = hub();
    let mut sub = hub
        .subscribe(vec![topic("a"), topic("b"), topic("a")], None)
        .unwrap();
    assert_eq!(sub.topics().len(), 2, "duplicates removed");
    publish(&hub, "a", "1");
    publish(&hub, "b", "2");
    publish(&hub, "c", "3");
    assert_eq!(
        drain(&mut sub).0,
        vec!["id: 100\ndata: 1\n\n", "id: 101\ndata: 2\n\n"]
    );
}

#[test]
fn replay_then_live_has_no_gap_and_no_duplicate() {
    let hub = hub();
    let first = publish(&hub, "a", "1");
    publish(&hub, "b", "other topic");
    publish(&hub, "a", "2");
    let mut sub = hub.subscribe(vec![topic("a")], Some(&first)).unwrap();
    assert_eq!(sub.resume(), &Resume::Complete);
    publish(&hub, "a", "3");
    let (frames, _) = drain(&mut sub);
    assert_eq!(frames, vec!["id: 102\ndata: 2\n\n", "id: 103\ndata: 3\n\n"]);
}

#[test]
fn unknown_id_replays_everything_retained_and_reports_a_gap() {
    let hub = hub();
    publish(&hub, "a", "1");
    let mut sub = hub.subscribe(vec![topic("a")], Some("bogus")).unwrap();
    assert_eq!(sub.resume(), &Resume::Gap);
    assert_eq!(drain(&mut sub).0, vec!["id: 100\ndata: 1\n\n"]);
}

#[test]
fn evicted_events_during_replay_are_reported() {
    let config = HubConfig {
        history_max_events: 2,
        ..HubConfig::default()
    };
    let hub = Hub::with_first_seq(config, 1);
    publish(&hub, "a", "1");
    publish(&hub, "a", "2");
    let mut sub = hub.subscribe(vec![topic("a")], Some("0")).unwrap();
    assert_eq!(sub.resume(), &Resume::Complete);
    publish(&hub, "a", "3");
    publish(&hub, "a", "4");
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    assert!(matches!(
        sub.poll_next(&mut cx, 16, &mut out),
        Poll::Ready(Next::HistoryGap)
    ));
    let (frames, _) = drain(&mut sub);
    assert_eq!(frames, vec!["id: 3\ndata: 3\n\n", "id: 4\ndata: 4\n\n"]);
}

#[test]
fn a_full_queue_ends_the_stream_without_blocking_the_publisher() {
    let config = HubConfig {
        subscriber_queue: 4,
        ..HubConfig::default()
    };
    let hub = Hub::with_first_seq(config, 1);
    let mut slow = hub.subscribe(vec![topic("a")], None).unwrap();
    for i in 0..10 {
        publish(&hub, "a", &i.to_string());
    }
    let (frames, end) = drain(&mut slow);
    assert_eq!(frames.len(), 4);
    assert!(matches!(end, Some(Next::Closed(CloseReason::Overflow))));
    assert_eq!(hub.stats().overflows, 1);
}

#[test]
fn publisher_ids_are_checked() {
    let hub = hub();
    let t = topic("a");
    let fields = EventFields::default();
    let ok = hub
        .publish(&t, Some("order-1".into()), &fields, "x")
        .unwrap();
    assert_eq!(ok.id, "order-1");
    assert_eq!(
        hub.publish(&t, Some("order-1".into()), &fields, "x"),
        Err(PublishError::DuplicateId("order-1".into()))
    );
    assert_eq!(
        hub.publish(&t, Some("123".into()), &fields, "x"),
        Err(PublishError::ReservedId)
    );
    assert!(matches!(
        hub.publish(&t, Some("a\nb".into()), &fields, "x"),
        Err(PublishError::Field(_))
    ));
    let mut sub = hub.subscribe(vec![t], Some("order-1")).unwrap();
    assert_eq!(sub.resume(), &Resume::Complete);
    assert!(drain(&mut sub).0.is_empty());
}

#[test]
fn shutdown_ends_streams_and_refuses_new_work() {
    let hub = hub();
    let mut sub = hub.subscribe(vec![topic("a")], None).unwrap();
    publish(&hub, "a", "last");
    hub.shutdown();
    let (frames, end) = drain(&mut sub);
    assert_eq!(frames.len(), 1, "queued frames still delivered");
    assert!(matches!(end, Some(Next::Closed(CloseReason::Shutdown))));
    assert_eq!(
        hub.subscribe(vec![topic("a")], None).unwrap_err(),
        SubscribeError::Closed
    );
    assert_eq!(
        hub.publish(&topic("a"), None, &EventFields::default(), "x"),
        Err(PublishError::Closed)
    );
}

#[test]
fn dropping_a_subscription_unregisters_it() {
    let hub = hub();
    let sub = hub.subscribe(vec![topic("a"), topic("b")], None).unwrap();
    assert_eq!(hub.stats().active_topics, 2);
    drop(sub);
    let stats = hub.stats();
    assert_eq!((stats.active_topics, stats.active_subscriptions), (0, 0));
}

#[test]
fn topic_limits_are_enforced() {
    let config = HubConfig {
        max_topics_per_subscription: 1,
        ..HubConfig::default()
    };
    let hub = Hub::with_first_seq(config, 1);
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

#[test]
fn an_update_with_several_topics_arrives_once() {
    let hub = hub();
    let mut both = hub.subscribe(vec![topic("a"), topic("b")], None).unwrap();
    let fields = EventFields::default();
    let published = hub
        .publish_update(update(&["a", "b", "c"], false, "x", &fields))
        .unwrap();
    assert_eq!(published.receivers, 1);
    assert_eq!(drain(&mut both).0, vec!["id: 100\ndata: x\n\n"]);
}

#[test]
fn scanning_subscribers_get_what_their_filter_accepts() {
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
    .unwrap();
    hub.publish_update(update(
        &["https://example.com/users/1"],
        false,
        "user",
        &fields,
    ))
    .unwrap();
    hub.publish_update(update(
        &["other", "https://example.com/books/2"],
        false,
        "alt",
        &fields,
    ))
    .unwrap();
    let (frames, _) = drain(&mut sub);
    assert_eq!(frames.len(), 2);
    assert!(frames[0].contains("book") && frames[1].contains("alt"));
    drop(sub);
    assert!(hub.lock().scanning.is_empty(), "unsubscribed");
}

#[test]
fn private_updates_reach_only_subscribers_allowed_to_see_them_live_and_on_replay() {
    let hub = hub();
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
        .unwrap();
    hub.publish_update(update(&["t"], false, "open", &fields))
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

#[test]
fn an_update_needs_a_topic() {
    let hub = hub();
    let fields = EventFields::default();
    assert_eq!(
        hub.publish_update(update(&[], false, "x", &fields)),
        Err(PublishError::NoTopic)
    );
}

fn publish_reused(hub: &Hub, t: &str, id: &str, data: &str) {
    let fields = EventFields::default();
    let mut update = update(&[t], false, data, &fields);
    update.id = Some(id.to_owned());
    update.unique_id = false;
    hub.publish_update(update).unwrap();
}

#[test]
fn a_reused_id_resumes_after_its_earliest_event_including_the_later_one() {
    let hub = hub();
    publish_reused(&hub, "a", "rev", "first");
    publish(&hub, "a", "between");
    publish_reused(&hub, "a", "rev", "second");
    let mut sub = hub.subscribe(vec![topic("a")], Some("rev")).unwrap();
    assert_eq!(*sub.resume(), Resume::Complete);
    let (frames, _) = drain(&mut sub);
    let data: Vec<&str> = frames
        .iter()
        .map(|f| f.lines().find(|l| l.starts_with("data:")).unwrap())
        .collect();
    assert_eq!(data, ["data: between", "data: second"]);
}

#[test]
fn a_reused_id_evicted_once_still_names_its_next_event() {
    let config = HubConfig {
        history_max_events: 3,
        ..HubConfig::default()
    };
    let hub = Hub::with_first_seq(config, 100);
    publish_reused(&hub, "a", "rev", "first");
    publish_reused(&hub, "a", "rev", "second");
    publish(&hub, "a", "third");
    publish(&hub, "a", "fourth"); // evicts "first"
    let mut sub = hub.subscribe(vec![topic("a")], Some("rev")).unwrap();
    assert_eq!(*sub.resume(), Resume::Complete);
    let (frames, _) = drain(&mut sub);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(frames[0].contains("data: third"));
}

#[test]
fn digit_only_ids_are_refused_natively_but_taken_when_ids_may_repeat() {
    let hub = hub();
    let fields = EventFields::default();
    let mut native = update(&["a"], false, "x", &fields);
    native.id = Some("42".into());
    assert_eq!(hub.publish_update(native), Err(PublishError::ReservedId));
    publish_reused(&hub, "a", "42", "mercure");
    publish(&hub, "a", "after");
    let mut sub = hub.subscribe(vec![topic("a")], Some("42")).unwrap();
    assert_eq!(*sub.resume(), Resume::Complete);
    let (frames, _) = drain(&mut sub);
    assert_eq!(frames.len(), 1);
    assert!(frames[0].contains("data: after"));
    assert_eq!(hub.last_event_id().as_deref(), Some(hub_last(&frames[0])));
}

fn hub_last(frame: &str) -> &str {
    frame.lines().find_map(|l| l.strip_prefix("id: ")).unwrap()
}

#[test]
fn an_update_view_decides_once_per_memo_key() {
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

#[test]
fn a_scan_group_is_routed_once_per_update_and_outlives_any_member() {
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
        .unwrap();
    assert_eq!(drain(&mut other).0.len(), 1);
    assert_eq!(drain(&mut members[0]).0.len(), 0);
    drop(members);
    hub.publish_update(update(&["authors/2"], false, "a2", &fields))
        .unwrap();
    assert_eq!(drain(&mut other).0.len(), 1);
    assert_eq!(books.asked.load(Relaxed), 2, "gone with its last member");
    drop(other);
    assert!(hub.lock().scanning.is_empty());
}
