use std::task::Waker;

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
