//! Selections: filters offered every update, private updates, scan groups and the update
//! view's memo.

use super::*;

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
    let mut sub = hub.subscribe_selection(selection, None).await.unwrap();
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
    let (frames, _) = drain(&mut sub).await;
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
        let mut insider = hub
            .subscribe_selection(allowed.clone(), None)
            .await
            .unwrap();
        let mut public = hub.subscribe(vec![topic("t")], None).await.unwrap();
        let first = hub
            .publish_update(update(&["t"], true, "secret", &fields))
            .await
            .unwrap();
        hub.publish_update(update(&["t"], false, "open", &fields))
            .await
            .unwrap();
        assert_eq!(drain(&mut insider).await.0.len(), 2);
        let seen: Vec<String> = drain(&mut public).await.0;
        assert_eq!(seen.len(), 1);
        assert!(seen[0].contains("open"));

        // Replay applies the same rule.
        let before_first = (first.id.parse::<u64>().unwrap() - 1).to_string();
        let mut replay_public = hub
            .subscribe(vec![topic("t")], Some(&before_first))
            .await
            .unwrap();
        assert_eq!(drain(&mut replay_public).await.0.len(), 1);
        let mut replay_insider = hub
            .subscribe_selection(allowed, Some(&before_first))
            .await
            .unwrap();
        assert_eq!(drain(&mut replay_insider).await.0.len(), 2);
    }
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
    let mut members: Vec<Subscription> = Vec::new();
    for _ in 0..3 {
        members.push(
            hub.subscribe_selection(grouped(&books, "books"), None)
                .await
                .unwrap(),
        );
    }
    let mut other = hub
        .subscribe_selection(grouped(&authors, "authors"), None)
        .await
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
        assert_eq!(drain(member).await.0.len(), 1);
    }
    assert!(drain(&mut other).await.0.is_empty());
    // The first group leaves member by member; the other group's index stays right.
    drop(members.remove(0));
    drop(members.remove(0));
    hub.publish_update(update(&["authors/1"], false, "a1", &fields))
        .await
        .unwrap();
    assert_eq!(drain(&mut other).await.0.len(), 1);
    assert_eq!(drain(&mut members[0]).await.0.len(), 0);
    drop(members);
    hub.publish_update(update(&["authors/2"], false, "a2", &fields))
        .await
        .unwrap();
    assert_eq!(drain(&mut other).await.0.len(), 1);
    assert_eq!(books.asked.load(Relaxed), 2, "gone with its last member");
    drop(other);
    assert!(hub.router.scanning_is_empty());
}
