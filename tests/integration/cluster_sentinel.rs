//! Cluster mode on a Redis watched by Sentinel: the nodes ask the Sentinel where the master
//! is and follow it through a failover. With `wait_replicas`, an event is acknowledged only
//! once a replica holds it, so the master dying loses no acknowledged event.

use std::time::Duration;

use http::StatusCode;

use crate::support::{
    redis::{RedisServer, Sentinel},
    request, SseStream, TestServer,
};

async fn node(sentinel: &Sentinel, prefix: &str, wait_replicas: u32) -> TestServer {
    TestServer::start_with(|raw| {
        raw.cluster.redis_url = Some(format!("redis://{}/0", Sentinel::MASTER));
        raw.cluster.sentinels = vec![sentinel.address()];
        raw.cluster.wait_replicas = wait_replicas;
        raw.cluster.key_prefix = prefix.into();
        raw.cluster.timeout_secs = 1.0;
    })
    .await
}

/// Publishes `data` with the publisher id `id` on `server` until the log holds it: a `200`,
/// or a `409` for a retry of a publish that was stored although it was not acknowledged.
/// Returns how many tries failed with `503`.
async fn publish_until_stored(server: &TestServer, topic: &str, id: &str, data: &str) -> u32 {
    let mut client = server.h2().await;
    for refused in 0..100 {
        let (status, body) = client
            .post(&format!("/events/{topic}?id={id}"), data.to_owned())
            .await;
        match status {
            StatusCode::OK | StatusCode::CONFLICT => return refused,
            StatusCode::SERVICE_UNAVAILABLE => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("publishing {id}: {other} {body}"),
        }
    }
    panic!("the shared log never took {id}");
}

/// What a client resuming after `last_id` gets on `server`: the replay's outcome and the
/// ids of the next `n` events.
async fn resume(
    server: &TestServer,
    topic: &str,
    last_id: &str,
    n: usize,
) -> (String, Vec<String>) {
    let mut client = server.h2().await;
    let mut resume = request("GET", &format!("/events/{topic}"), "");
    resume
        .headers_mut()
        .insert("last-event-id", last_id.parse().unwrap());
    let mut stream = SseStream::new(client.send(resume).await);
    let outcome = stream.headers["ssegate-replay"]
        .to_str()
        .unwrap()
        .to_owned();
    let ids = stream.take(n).await.into_iter().map(|e| e.id).collect();
    (outcome, ids)
}

fn ids(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("e{i}")).collect()
}

#[tokio::test]
async fn when_the_master_dies_the_nodes_follow_the_new_one_and_lose_no_acknowledged_event() {
    let mut master = RedisServer::start().await;
    let _replicas = [
        RedisServer::start_replica_of(&master).await,
        RedisServer::start_replica_of(&master).await,
    ];
    let sentinel = Sentinel::start(&master, 2).await;
    let (a, b) = (
        node(&sentinel, "sentinel-kill", 1).await,
        node(&sentinel, "sentinel-kill", 1).await,
    );
    let mut client = b.h2().await;
    let mut live = SseStream::new(client.send(request("GET", "/events/kill", "")).await);

    for i in 1..=5 {
        publish_until_stored(&a, "kill", &format!("e{i}"), "before").await;
    }
    let old_master = master.port;
    master.kill();
    let mut refused = 0;
    for i in 6..=10 {
        refused += publish_until_stored(&a, "kill", &format!("e{i}"), "after").await;
    }
    assert_ne!(
        sentinel.master_port().await,
        old_master,
        "the Sentinel failed over"
    );
    assert!(
        refused > 0,
        "publishes were refused while there was no master"
    );

    // The stream that was open throughout got every acknowledged event once, in order.
    let seen: Vec<String> = live.take(10).await.into_iter().map(|e| e.id).collect();
    assert_eq!(seen, ids(1..=10));
    // A client resuming on either node after e2 misses nothing.
    for server in [&a, &b] {
        let (outcome, resumed) = resume(server, "kill", "e2", 8).await;
        assert_eq!(outcome, "complete");
        assert_eq!(resumed, ids(3..=10));
    }
}

#[tokio::test]
async fn a_planned_failover_moves_publishing_and_streaming_to_the_new_master() {
    let master = RedisServer::start().await;
    let _replica = RedisServer::start_replica_of(&master).await;
    let sentinel = Sentinel::start(&master, 1).await;
    let (a, b) = (
        node(&sentinel, "sentinel-planned", 0).await,
        node(&sentinel, "sentinel-planned", 0).await,
    );
    let mut client = b.h2().await;
    let mut live = SseStream::new(client.send(request("GET", "/events/planned", "")).await);

    for i in 1..=3 {
        publish_until_stored(&a, "planned", &format!("e{i}"), "before").await;
    }
    // The old master stays up and becomes a replica: writes to it fail (READONLY) until the
    // nodes follow the Sentinel to the new master.
    sentinel.fail_over().await;
    // The Sentinel demotes it at its next look (every 10 s); a loaded box can add to that.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        // Demoted, it closes its clients' connections: ask on a new one each time.
        let role: redis::RedisResult<Vec<redis::Value>> = redis::cmd("ROLE")
            .query_async(&mut master.connect().await)
            .await;
        if matches!(role.as_deref(), Ok([redis::Value::BulkString(r), ..]) if r == b"slave") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old master never became a replica"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(sentinel.master_port().await, master.port);
    for i in 4..=6 {
        publish_until_stored(&a, "planned", &format!("e{i}"), "after").await;
    }

    let seen: Vec<String> = live.take(6).await.into_iter().map(|e| e.id).collect();
    assert_eq!(seen, ids(1..=6));
    // The new master holds them all: a node started now resumes them from it.
    let late = node(&sentinel, "sentinel-planned", 0).await;
    let (outcome, resumed) = resume(&late, "planned", "e1", 5).await;
    assert_eq!(outcome, "complete");
    assert_eq!(resumed, ids(2..=6));
}
