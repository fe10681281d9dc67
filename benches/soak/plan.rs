//! What a soak run does: the counts, rates and chaos of a [`Plan`], and the subscribers and
//! publishers it makes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::check::StreamCheck;
use super::conn::H2Slot;
use super::process::ServerSettings;
use super::publish::Publisher;
use super::subscribe::{Chaos, Source, Subscriber, Transport};

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub binary: PathBuf,
    pub python: PathBuf,
    pub upstream_app_dir: PathBuf,
    /// Length of the chaos phase.
    pub duration: Duration,
    /// Hub streams over HTTP/2, and how many share a connection.
    pub h2_streams: usize,
    pub streams_per_connection: usize,
    /// Hub streams over HTTP/1.1, one connection each.
    pub h1_streams: usize,
    /// Of the HTTP/2 hub streams, how many stall now and then (on the hot topics).
    pub stallers: usize,
    /// Every n-th hub stream subscribes to two topics on one stream (0: none).
    pub two_topics_every: usize,
    /// Ordinary topics and their total publish rate (events/s), padding per event.
    pub topics: usize,
    pub rate: f64,
    pub pad: usize,
    /// Hot topics (the stallers' topics), rate per hot topic, padding per event.
    pub hot_topics: usize,
    pub hot_rate: f64,
    pub hot_pad: usize,
    pub publishers: usize,
    /// Gateway streams: one upstream request each (`/gw`), and shared ones (`/gwfan`,
    /// spread over `fanout_keys` distinct upstream URLs).
    pub gateway_direct: usize,
    pub gateway_fanout: usize,
    pub fanout_keys: usize,
    /// Interval between the upstream's events on each stream.
    pub upstream_interval: Duration,
    pub chaos: Chaos,
    /// Mean time between cuts of a random HTTP/2 connection.
    pub cut_every: Duration,
    /// Time between restarts of the upstream, and how long it stays down.
    pub upstream_restart_every: Duration,
    pub upstream_down: Duration,
    pub server: ServerSettings,
    /// Longest wait for subscribers to catch up in the calm phase, and for the server's
    /// usage to come back once they left.
    pub catch_up_timeout: Duration,
    pub settle_timeout: Duration,
    /// How far above its baseline the server's RSS (MiB) and descriptors may stay once the
    /// clients have left.
    pub rss_slack_mib: u64,
    pub fd_slack: u64,
    /// Random seed of the run (also its id, in every payload).
    pub seed: u64,
}

/// The subscribers of the plan, in this order: HTTP/2 hub streams (stallers first, on the
/// hot topics), HTTP/1.1 hub streams, direct gateway streams, shared gateway streams.
pub fn make_subscribers(plan: &Plan, prefilled: &[u64], anchor: &str) -> Vec<Arc<Subscriber>> {
    let mut subscribers = Vec::new();
    let mut slot = Arc::new(H2Slot::default());
    let hub_check = |topics: &[u64]| {
        let mut check = StreamCheck::default();
        // Every hub stream starts after the prefill: the first event it must see on each
        // topic is the first one published after it.
        check.expect_from(topics.iter().map(|&t| (t, prefilled[t as usize])), anchor);
        check
    };
    for i in 0..plan.h2_streams {
        if i > 0 && i % plan.streams_per_connection == 0 {
            slot = Arc::new(H2Slot::default());
        }
        let stalls = i < plan.stallers;
        let topics = if stalls && plan.hot_topics > 0 {
            vec![(plan.topics + i % plan.hot_topics) as u64]
        } else {
            hub_topics(plan, i)
        };
        subscribers.push(Subscriber {
            index: subscribers.len() as u64,
            check: hub_check(&topics).into(),
            source: Source::Hub { topics },
            transport: Transport::H2(slot.clone()),
            stalls,
            doing: Mutex::new("starting"),
        });
    }
    for i in 0..plan.h1_streams {
        let topics = hub_topics(plan, plan.h2_streams + i);
        subscribers.push(Subscriber {
            index: subscribers.len() as u64,
            check: hub_check(&topics).into(),
            source: Source::Hub { topics },
            transport: Transport::H1,
            stalls: false,
            doing: Mutex::new("starting"),
        });
    }
    let interval = plan.upstream_interval.as_millis();
    // Gateway streams share HTTP/2 connections of their own.
    let mut gateway_slot = Arc::new(H2Slot::default());
    for i in 0..plan.gateway_direct + plan.gateway_fanout {
        if i > 0 && i % plan.streams_per_connection == 0 {
            gateway_slot = Arc::new(H2Slot::default());
        }
        let mut check = StreamCheck::default();
        let path = if i < plan.gateway_direct {
            // A stream of its own: the upstream starts at 1 without a Last-Event-ID.
            check.expect_from([(0, 1)], "");
            format!("/gw/sse?count=0&interval_ms={interval}")
        } else {
            // A late joiner of a shared stream starts wherever the stream is.
            let key = i % plan.fanout_keys.max(1);
            format!("/gwfan/sse?count=0&interval_ms={interval}&key={key}")
        };
        subscribers.push(Subscriber {
            index: subscribers.len() as u64,
            check: check.into(),
            source: Source::Gateway { path },
            transport: Transport::H2(gateway_slot.clone()),
            stalls: false,
            doing: Mutex::new("starting"),
        });
    }
    subscribers.into_iter().map(Arc::new).collect()
}

/// The ordinary topics of hub stream `i`: one, or two on every `two_topics_every`-th.
fn hub_topics(plan: &Plan, i: usize) -> Vec<u64> {
    let first = (i % plan.topics) as u64;
    if plan.two_topics_every > 0 && i.is_multiple_of(plan.two_topics_every) && plan.topics > 1 {
        vec![first, ((i + plan.topics / 2) % plan.topics) as u64]
    } else {
        vec![first]
    }
}

/// The ordinary topics spread over `publishers`, and one publisher per hot topic.
pub fn publishers(plan: &Plan) -> Vec<Publisher> {
    let count = plan.publishers.clamp(1, plan.topics.max(1));
    let mut publishers: Vec<Publisher> = (0..count)
        .map(|p| {
            let topics: Vec<u64> = (0..plan.topics)
                .filter(|t| t % count == p)
                .map(|t| t as u64)
                .collect();
            Publisher {
                rate: plan.rate * topics.len() as f64 / plan.topics as f64,
                topics,
                pad: plan.pad,
            }
        })
        .collect();
    for h in 0..plan.hot_topics {
        publishers.push(Publisher {
            topics: vec![(plan.topics + h) as u64],
            rate: plan.hot_rate,
            pad: plan.hot_pad,
        });
    }
    publishers
}
