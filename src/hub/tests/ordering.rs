//! Ordering and resumption: live delivery, replay-then-live, gaps, ids; every case on both
//! logs, and the hand-over across a delivery that comes later (ChannelLog only).

use super::*;

#[tokio::test]
async fn live_events_reach_subscribers_of_the_topic_only() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        let mut a = hub.subscribe(vec![topic("a")], None).await.unwrap();
        let mut b = hub.subscribe(vec![topic("b")], None).await.unwrap();
        let published = hub
            .publish(&topic("a"), None, &EventFields::default(), "x")
            .await
            .unwrap();
        assert_eq!(published, Published { id: "100".into() });
        assert_eq!(drain(&mut a).await.0, vec!["id: 100\ndata: x\n\n"]);
        assert!(drain(&mut b).await.0.is_empty());
    }
}

#[tokio::test]
async fn one_stream_gets_every_topic_it_names_in_order() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        let mut sub = hub
            .subscribe(vec![topic("a"), topic("b"), topic("a")], None)
            .await
            .unwrap();
        assert_eq!(sub.topics().len(), 2, "duplicates removed");
        publish(&hub, "a", "1").await;
        publish(&hub, "b", "2").await;
        publish(&hub, "c", "3").await;
        assert_eq!(
            drain(&mut sub).await.0,
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
        let mut sub = hub.subscribe(vec![topic("a")], Some(&first)).await.unwrap();
        assert_eq!(sub.resume(), &Resume::Complete);
        publish(&hub, "a", "3").await;
        let (frames, _) = drain(&mut sub).await;
        assert_eq!(frames, vec!["id: 102\ndata: 2\n\n", "id: 103\ndata: 3\n\n"]);
    }
}

#[tokio::test]
async fn unknown_id_replays_everything_retained_and_reports_a_gap() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        publish(&hub, "a", "1").await;
        let mut sub = hub
            .subscribe(vec![topic("a")], Some("bogus"))
            .await
            .unwrap();
        assert_eq!(sub.resume(), &Resume::Gap);
        assert_eq!(drain(&mut sub).await.0, vec!["id: 100\ndata: 1\n\n"]);
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
        let mut sub = hub.subscribe(vec![topic("a")], Some("0")).await.unwrap();
        assert_eq!(sub.resume(), &Resume::Complete);
        publish(&hub, "a", "3").await;
        publish(&hub, "a", "4").await;
        let (before_gap, first) = drain(&mut sub).await;
        assert!(before_gap.is_empty());
        assert!(matches!(first, Some(Next::HistoryGap)));
        let (frames, _) = drain(&mut sub).await;
        assert_eq!(frames, vec!["id: 3\ndata: 3\n\n", "id: 4\ndata: 4\n\n"]);
    }
}

#[tokio::test]
async fn a_full_queue_of_a_held_client_ends_the_stream_without_blocking_the_publisher() {
    let config = HubConfig {
        subscriber_queue: 4,
        ..HubConfig::default()
    };
    let hub = TestHub::memory(config, 1);
    let mut slow = hub.subscribe(vec![topic("a")], None).await.unwrap();
    // The connection says the client takes nothing (its window is closed).
    slow.set_held(true);
    for i in 0..10 {
        publish(&hub, "a", &i.to_string()).await;
    }
    let (frames, end) = drain(&mut slow).await;
    assert_eq!(frames.len(), 4);
    assert!(matches!(end, Some(Next::Closed(CloseReason::Overflow))));
    assert_eq!(hub.stats().overflows, 1);
    assert_eq!(hub.stats().catch_ups, 0);
}

fn numbered(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|i| format!("id: {i}\ndata: {i}\n\n")).collect()
}

#[tokio::test]
async fn a_full_queue_while_the_client_takes_data_catches_up_from_the_log() {
    let config = HubConfig {
        subscriber_queue: 4,
        ..HubConfig::default()
    };
    for hub in TestHub::both(config, 0) {
        let mut behind = hub.subscribe(vec![topic("a")], None).await.unwrap();
        // Not held: the server fell behind a client that takes everything.
        for i in 0..10 {
            publish(&hub, "a", &i.to_string()).await;
        }
        publish(&hub, "b", "another topic").await;
        let (frames, end) = drain(&mut behind).await;
        assert_eq!(frames, numbered(0..10), "every event once, in order");
        assert!(end.is_none(), "still open: {end:?}");
        // Live again after the catch-up, with nothing twice.
        for i in 11..13 {
            publish(&hub, "a", &i.to_string()).await;
        }
        assert_eq!(drain(&mut behind).await.0, numbered(11..13));
        let stats = hub.stats();
        assert_eq!((stats.catch_ups, stats.overflows), (1, 0));
    }
}

#[tokio::test]
async fn events_published_during_a_catch_up_follow_it_in_order() {
    let config = HubConfig {
        subscriber_queue: 2,
        ..HubConfig::default()
    };
    for hub in TestHub::both(config, 0) {
        let mut behind = hub.subscribe(vec![topic("a")], None).await.unwrap();
        for i in 0..5 {
            publish(&hub, "a", &i.to_string()).await;
        }
        let mut frames = Vec::new();
        let mut next = 5;
        // One small batch at a time, publishing between takes: the queue overflows again
        // while the catch-up is read.
        while frames.len() < 20 {
            let mut out = Vec::new();
            // A remote log answers a read later: wait for it (bounded).
            let taken = poll_fn(|cx| behind.poll_next(cx, 1, &mut out));
            let polled = tokio::time::timeout(std::time::Duration::from_secs(5), taken)
                .await
                .unwrap_or_else(|_| panic!("stuck after {frames:?}"));
            assert!(
                matches!(polled, Next::Frames),
                "{polled:?} after {frames:?}"
            );
            frames.extend(out.iter().map(|b| String::from_utf8(b.to_vec()).unwrap()));
            if next < 20 {
                publish(&hub, "a", &next.to_string()).await;
                next += 1;
            }
        }
        assert_eq!(frames, numbered(0..20));
        assert!(hub.stats().catch_ups >= 1);
        assert_eq!(hub.stats().overflows, 0);
    }
}

#[tokio::test]
async fn a_catch_up_the_log_no_longer_holds_ends_the_stream() {
    let config = HubConfig {
        subscriber_queue: 2,
        history_max_events: 4,
        ..HubConfig::default()
    };
    for hub in TestHub::both(config, 0) {
        let mut behind = hub.subscribe(vec![topic("a")], None).await.unwrap();
        for i in 0..10 {
            publish(&hub, "a", &i.to_string()).await;
        }
        // The two queued ones, then events 2..6 were evicted before the catch-up read them:
        // this client cannot have them, and it is told by its stream ending (it resumes
        // with its last id and learns of the gap), never by a silent skip.
        let (frames, end) = drain(&mut behind).await;
        assert_eq!(frames, numbered(0..2));
        assert!(
            matches!(end, Some(Next::Closed(CloseReason::Overflow))),
            "{end:?}"
        );
        assert_eq!(hub.stats().overflows, 1);
        publish(&hub, "a", "after").await;
        let (frames, end) = drain(&mut behind).await;
        assert!(frames.is_empty(), "nothing after the end: {frames:?}");
        assert!(
            matches!(end, Some(Next::Closed(CloseReason::Overflow))),
            "{end:?}"
        );
    }
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
        let mut sub = hub.subscribe(vec![t], Some("order-1")).await.unwrap();
        assert_eq!(sub.resume(), &Resume::Complete);
        assert!(drain(&mut sub).await.0.is_empty());
    }
}

#[tokio::test]
async fn shutdown_ends_streams_and_refuses_new_work() {
    let hub = hub();
    let mut sub = hub.subscribe(vec![topic("a")], None).await.unwrap();
    publish(&hub, "a", "last").await;
    hub.shutdown();
    let (frames, end) = drain(&mut sub).await;
    assert_eq!(frames.len(), 1, "queued frames still delivered");
    assert!(matches!(end, Some(Next::Closed(CloseReason::Shutdown))));
    assert_eq!(
        hub.subscribe(vec![topic("a")], None).await.unwrap_err(),
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
    let sub = hub
        .subscribe(vec![topic("a"), topic("b")], None)
        .await
        .unwrap();
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
            .await
            .unwrap_err(),
        SubscribeError::TooManyTopics(1)
    );
    assert_eq!(
        hub.subscribe(vec![], None).await.unwrap_err(),
        SubscribeError::NoTopic
    );
}

#[tokio::test]
async fn an_update_with_several_topics_arrives_once() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        let mut both = hub
            .subscribe(vec![topic("a"), topic("b")], None)
            .await
            .unwrap();
        let fields = EventFields::default();
        let published = hub
            .publish_update(update(&["a", "b", "c"], false, "x", &fields))
            .await
            .unwrap();
        assert_eq!(published.id, "100");
        assert_eq!(drain(&mut both).await.0, vec!["id: 100\ndata: x\n\n"]);
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

#[tokio::test]
async fn a_reused_id_resumes_after_its_earliest_event_including_the_later_one() {
    for hub in TestHub::both(HubConfig::default(), 100) {
        publish_reused(&hub, "a", "rev", "first").await;
        publish(&hub, "a", "between").await;
        publish_reused(&hub, "a", "rev", "second").await;
        let mut sub = hub.subscribe(vec![topic("a")], Some("rev")).await.unwrap();
        assert_eq!(*sub.resume(), Resume::Complete);
        let (frames, _) = drain(&mut sub).await;
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
        let mut sub = hub.subscribe(vec![topic("a")], Some("rev")).await.unwrap();
        assert_eq!(*sub.resume(), Resume::Complete);
        let (frames, _) = drain(&mut sub).await;
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
        let mut sub = hub.subscribe(vec![topic("a")], Some("42")).await.unwrap();
        assert_eq!(*sub.resume(), Resume::Complete);
        let (frames, _) = drain(&mut sub).await;
        assert_eq!(frames.len(), 1);
        assert!(frames[0].contains("data: after"));
        assert_eq!(hub.last_event_id().as_deref(), Some(hub_last(&frames[0])));
    }
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
    let mut sub = hub.subscribe(vec![topic("a")], Some(&first)).await.unwrap();
    assert_eq!(sub.resume(), &Resume::Complete);
    assert_eq!(drain(&mut sub).await.0, vec!["id: 101\ndata: 2\n\n"]);
    log.hold(false);
    publish(&hub, "a", "4").await;
    assert_eq!(
        drain(&mut sub).await.0,
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
    let mut sub = hub.subscribe(vec![topic("a")], Some(&ahead)).await.unwrap();
    assert_eq!(sub.resume(), &Resume::Complete);
    log.hold(false);
    publish(&hub, "a", "3").await;
    assert_eq!(drain(&mut sub).await.0, vec!["id: 102\ndata: 3\n\n"]);
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
        assert_eq!(
            hub.log.lookup("2").await,
            Some(oldest),
            "event 1 was evicted"
        );
        assert!(hub.log.lookup("3").await > Some(oldest));
    }
}
