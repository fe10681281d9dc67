//! Publishers on several threads at once: the router fans out from each publisher's thread
//! after the log's lock, shard by shard, so these check that ordering and replay-then-live
//! still hold when fan-outs of different topics overlap and one topic's events are handed
//! over from thread to thread.

use std::{collections::HashMap, thread};

use futures_util::FutureExt;

use super::*;

const THREADS: usize = 4;
const PER_THREAD: usize = 2_000;
const TOPICS: [&str; 8] = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"];

fn roomy() -> HubConfig {
    HubConfig {
        history_max_events: THREADS * PER_THREAD * 2,
        history_max_bytes: 64 << 20,
        subscriber_queue: THREADS * PER_THREAD,
        ..HubConfig::default()
    }
}

fn subscribe_now(hub: &Arc<Hub>, topics: &[&str], last_event_id: Option<&str>) -> Subscription {
    hub.subscribe(topics.iter().map(|t| topic(t)).collect(), last_event_id)
        .now_or_never()
        .expect("the memory log answers at once")
        .unwrap()
}

fn ids(frames: &[String]) -> Vec<u64> {
    frames
        .iter()
        .map(|frame| hub_last(frame).parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_publishers_keep_each_stream_in_order_without_gap_or_duplicate() {
    let hub = TestHub::memory(roomy(), 1_000);
    let mut singles: Vec<Subscription> = TOPICS
        .iter()
        .map(|t| subscribe_now(&hub, &[t], None))
        .collect();
    // Several topics: this one lives in the ordered shard.
    let mut several = subscribe_now(&hub, &["t0", "t3", "t5"], None);

    let publishers: Vec<_> = (0..THREADS)
        .map(|thread_no| {
            let hub = hub.hub.clone();
            thread::spawn(move || {
                let mut published: Vec<(usize, u64)> = Vec::with_capacity(PER_THREAD);
                for i in 0..PER_THREAD {
                    let t = (thread_no + i) % TOPICS.len();
                    let id = hub
                        .publish(&topic(TOPICS[t]), None, &EventFields::default(), "x")
                        .now_or_never()
                        .expect("the memory log answers at once")
                        .unwrap()
                        .id;
                    published.push((t, id.parse().unwrap()));
                }
                published
            })
        })
        .collect();

    // Half-way, a subscriber of t0 resumes after what the first one has read so far.
    while hub
        .last_event_id()
        .map_or(0, |id| id.parse::<u64>().unwrap())
        < 1_000 + (THREADS * PER_THREAD / 2) as u64
    {
        tokio::task::yield_now().await;
    }
    let (early_t0, _) = drain(&mut singles[0]).await;
    let resume_at = early_t0.last().map(|f| hub_last(f).to_owned());
    let mut late = subscribe_now(&hub, &["t0"], resume_at.as_deref());

    let mut by_topic: HashMap<usize, Vec<u64>> = HashMap::new();
    for publisher in publishers {
        for (t, id) in publisher.join().unwrap() {
            by_topic.entry(t).or_default().push(id);
        }
    }
    for ids in by_topic.values_mut() {
        ids.sort_unstable();
    }

    for (t, sub) in singles.iter_mut().enumerate() {
        let (frames, _) = drain(sub).await;
        let mut got = if t == 0 { ids(&early_t0) } else { Vec::new() };
        got.extend(ids(&frames));
        assert_eq!(got, by_topic[&t], "topic t{t}: in order, none missing");
    }

    let (frames, _) = drain(&mut several).await;
    let mut expected: Vec<u64> = [0, 3, 5].iter().flat_map(|t| by_topic[t].clone()).collect();
    expected.sort_unstable();
    assert_eq!(ids(&frames), expected, "several topics: in the log's order");

    let (frames, _) = drain(&mut late).await;
    let after: Vec<u64> = by_topic[&0]
        .iter()
        .copied()
        .filter(|&id| resume_at.as_ref().is_none_or(|r| id > r.parse().unwrap()))
        .collect();
    assert_eq!(late.resume(), &Resume::Complete);
    assert_eq!(
        ids(&frames),
        after,
        "resumed: replay then live, no gap or duplicate"
    );
}
