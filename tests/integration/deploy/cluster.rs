//! `deploy/haproxy/haproxy-cluster.cfg` for real: HAProxy balancing a browser's h2 streams
//! over three nodes that share one log on Redis; one node is killed with SIGKILL while
//! streaming, and every stream resumes through HAProxy with everything it missed, once:
//! streams of an h2 client resumed by the test, and Chromium's own EventSources.

use std::process::Stdio;

use super::*;
use crate::{
    cli::{ssegate, wait_for_port},
    cluster_faults::plaintext_stream,
    gateway::same_connection,
    support::{browser::run_scenario, redis::RedisServer, request, SseStream},
};

/// Streams the browser opens over its one h2 connection to HAProxy.
const STREAMS: usize = 9;
/// Events published before the kill and after it.
const BEFORE: usize = 3;
const AFTER: usize = 3;

/// A node as its own process, sharing `cert_dir` (so HAProxy trusts one CA) and, under
/// `prefix`, the log.
async fn node_process(
    dir: &Path,
    cert_dir: &Path,
    redis: &RedisServer,
    name: &str,
    prefix: &str,
) -> (tokio::process::Child, u16) {
    let port = free_port();
    let mut child = ssegate(dir)
        .args(["serve", "--no-demo", "--proxy-protocol"])
        .arg("--cert-dir")
        .arg(cert_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--redis-url", &redis.url(), "--cluster-key-prefix", prefix])
        .args(["--node-name", name, "--heartbeat-interval", "0.3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssegate starts");
    wait_for_port(&mut child, port, &String::new).await;
    (child, port)
}

#[tokio::test]
async fn haproxy_spreads_streams_over_three_nodes_and_a_killed_nodes_clients_resume() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (node1, mut doomed, _node3, proxy) =
        cluster_behind_haproxy(&redis, dir.path(), "haproxy").await;

    let browser = proxy.connect(&node1, Proto::H2).await;
    let mut streams = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        let mut tab = same_connection(&browser);
        streams.push(SseStream::new(
            tab.send(request("GET", "/events/ha", "")).await,
        ));
    }
    // Published through HAProxy too, on whichever node it picks: the log takes each event
    // to every node.
    let mut publisher = proxy.connect(&node1, Proto::H2).await;
    for i in 1..=BEFORE {
        let (status, body) = publisher.post("/events/ha", format!("e{i}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut last_ids = Vec::with_capacity(STREAMS);
    for stream in &mut streams {
        let events = stream.take(BEFORE).await;
        last_ids.push(events[BEFORE - 1].id.clone());
    }

    doomed.kill().await.unwrap();
    for i in BEFORE + 1..=BEFORE + AFTER {
        let (status, body) = publisher.post("/events/ha", format!("e{i}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut resumed = 0;
    for (stream, last_id) in streams.iter_mut().zip(last_ids) {
        let mut got = Vec::new();
        let mut last_id = last_id;
        while got.len() < AFTER {
            match stream.try_next().await {
                Ok(Some(event)) => {
                    last_id = event.id.clone();
                    got.push(event.data);
                }
                // Its node died: the browser reconnects through HAProxy from its last id.
                Ok(None) | Err(_) => {
                    resumed += 1;
                    let mut again = proxy.connect(&node1, Proto::H2).await;
                    let mut req = request("GET", "/events/ha", "");
                    req.headers_mut()
                        .insert("last-event-id", last_id.parse().unwrap());
                    let response = again.send(req).await;
                    assert_eq!(response.status(), StatusCode::OK, "{}", proxy.log());
                    *stream = SseStream::new(response);
                    assert_eq!(stream.headers["ssegate-replay"], "complete");
                }
            }
        }
        let want: Vec<String> = (BEFORE + 1..=BEFORE + AFTER)
            .map(|i| format!("e{i}"))
            .collect();
        assert_eq!(got, want, "everything after the kill, once, in order");
    }
    assert!(
        resumed > 0,
        "HAProxy spread the streams over the nodes, so the killed one served some"
    );
}

/// Three nodes behind HAProxy from its deploy config: node 1 in-process (its certificate is
/// HAProxy's and the browser's pinned one), nodes 2 and 3 as processes; returns node 2's
/// process, which the tests kill.
async fn cluster_behind_haproxy(
    redis: &RedisServer,
    dir: &Path,
    prefix: &str,
) -> (
    TestServer,
    tokio::process::Child,
    tokio::process::Child,
    Proxy,
) {
    let url = redis.url();
    let prefix_owned = prefix.to_owned();
    let node1 = TestServer::start_with(move |raw| {
        raw.hub.heartbeat_interval_secs = HEARTBEAT_SECS;
        raw.server.proxy_protocol = true;
        raw.cluster.redis_url = Some(url);
        raw.cluster.key_prefix = prefix_owned;
        raw.cluster.node_name = Some("node1".into());
    })
    .await;
    let (doomed, port2) = node_process(dir, &node1.cert_dir, redis, "node2", prefix).await;
    let (node3, port3) = node_process(dir, &node1.cert_dir, redis, "node3", prefix).await;
    let proxy = Proxy::haproxy_cluster(
        &node1,
        [
            node1.addr.to_string(),
            format!("127.0.0.1:{port2}"),
            format!("127.0.0.1:{port3}"),
        ],
    )
    .await;
    (node1, doomed, node3, proxy)
}

#[tokio::test]
async fn chromium_event_sources_through_haproxy_resume_when_their_node_dies() {
    const SOURCES: usize = 9;
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (node1, mut doomed, _node3, proxy) =
        cluster_behind_haproxy(&redis, dir.path(), "browser").await;

    // The page says when to kill: it publishes on a control topic, which the test follows on
    // node 1's plaintext listener.
    let plain = node1.plaintext_addr.expect("plaintext listener").port();
    let mut control = plaintext_stream(plain, "/events/control", None).await;
    let killer = tokio::spawn(async move {
        control.next().await.expect("the page asks for the kill");
        doomed.kill().await.unwrap();
    });
    let page = format!("https://localhost:{}/healthz", proxy.port());
    let result = run_scenario(
        &node1,
        "cluster-failover.mjs",
        &page,
        &[
            ("topic", "browser-failover"),
            ("control", "control"),
            ("sources", &SOURCES.to_string()),
            ("before", "3"),
            ("after", "3"),
            ("pauseMs", "500"),
            ("waitMs", "15000"),
        ],
    )
    .await;
    killer.await.unwrap();
    let want: Vec<String> = (1..=6).map(|k| format!("e{k}")).collect();
    let received = result["received"].as_array().expect("received");
    assert_eq!(received.len(), SOURCES, "{result}");
    for source in received {
        let got: Vec<String> = source
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            got,
            want,
            "every event once, in order: {result}\n{}",
            proxy.log()
        );
    }
    let reconnected = result["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.as_u64() > Some(0))
        .count();
    assert!(
        reconnected > 0,
        "some EventSources were on the killed node and reconnected: {result}"
    );
}
