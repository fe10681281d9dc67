//! Cluster mode: three nodes sharing one log on a real `redis-server`. A publish on any node
//! reaches every node's subscribers with one id; a client resumes on another node without
//! gap or duplicate; publisher-chosen ids hold across nodes; with Redis gone, a publish
//! fails fast with `503` and `Retry-After`, never a success that was not stored.

use std::time::{Duration, Instant};

use http::StatusCode;

use crate::support::{
    published_id, read_heartbeats, redis::RedisServer, request, SseStream, TestServer,
};

/// Starts `n` nodes on `redis`, under a key prefix of this test's own.
async fn nodes(redis: &RedisServer, prefix: &str, n: usize) -> Vec<TestServer> {
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let node = TestServer::start_with(|raw| {
            raw.cluster.redis_url = Some(redis.url());
            raw.cluster.key_prefix = prefix.into();
            raw.cluster.node_name = Some(format!("node-{i}"));
            raw.cluster.timeout_secs = 0.5;
            raw.hub.heartbeat_interval_secs = 0.2;
        })
        .await;
        nodes.push(node);
    }
    nodes
}

#[tokio::test]
async fn a_publish_on_one_node_reaches_the_subscribers_of_every_node_with_one_id() {
    let redis = RedisServer::start().await;
    let nodes = nodes(&redis, "fanout", 3).await;
    let mut streams = Vec::new();
    for node in &nodes {
        let mut client = node.h2().await;
        streams.push(client.subscribe("/events/news").await);
    }
    let mut publisher = nodes[1].h2().await;
    let mut ids = Vec::new();
    for data in ["one", "two", "three"] {
        let (status, body) = publisher.post("/events/news", data).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(published_id(&body));
    }
    for stream in &mut streams {
        let got = stream.take(3).await;
        let got: Vec<(String, String)> = got.into_iter().map(|e| (e.id, e.data)).collect();
        let want: Vec<(String, String)> = ids
            .iter()
            .cloned()
            .zip(["one", "two", "three"].map(String::from))
            .collect();
        assert_eq!(got, want, "same order and ids on every node");
    }
}

#[tokio::test]
async fn a_client_resumes_on_another_node_without_gap_or_duplicate() {
    let redis = RedisServer::start().await;
    let nodes = nodes(&redis, "resume", 3).await;
    let mut on_a = nodes[0].h2().await;
    let mut ids = Vec::new();
    for i in 1..=4 {
        let (status, body) = on_a.post("/events/feed", format!("e{i}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(published_id(&body));
    }
    // The client saw e1 on node A, then comes back to node B.
    let mut on_b = nodes[1].h2().await;
    let mut resume = request("GET", "/events/feed", "");
    resume
        .headers_mut()
        .insert("last-event-id", ids[0].parse().unwrap());
    let mut stream = SseStream::new(on_b.send(resume).await);
    assert_eq!(stream.headers["ssegate-replay"], "complete");
    let replayed: Vec<String> = stream.take(3).await.into_iter().map(|e| e.data).collect();
    assert_eq!(replayed, ["e2", "e3", "e4"]);
    // Live events follow, whichever node takes them.
    let mut on_c = nodes[2].h2().await;
    let (status, _) = on_c.post("/events/feed", "e5").await;
    assert_eq!(status, StatusCode::OK);
    let live = stream.next().await.expect("live event");
    assert_eq!(live.data, "e5");

    // A node started after all of this replays from the shared history too.
    let late = nodes_after(&redis, "resume").await;
    let mut on_late = late.h2().await;
    let mut resume = request("GET", "/events/feed", "");
    resume
        .headers_mut()
        .insert("last-event-id", ids[2].parse().unwrap());
    let mut stream = SseStream::new(on_late.send(resume).await);
    assert_eq!(stream.headers["ssegate-replay"], "complete");
    let replayed: Vec<String> = stream.take(2).await.into_iter().map(|e| e.data).collect();
    assert_eq!(replayed, ["e4", "e5"]);
}

async fn nodes_after(redis: &RedisServer, prefix: &str) -> TestServer {
    nodes(redis, prefix, 1).await.pop().unwrap()
}

#[tokio::test]
async fn publisher_chosen_ids_hold_across_nodes() {
    let redis = RedisServer::start().await;
    let nodes = nodes(&redis, "ids", 2).await;
    let mut on_a = nodes[0].h2().await;
    let mut on_b = nodes[1].h2().await;
    let (status, _) = on_a.post("/events/orders?id=order-1", "first").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = on_b.post("/events/orders?id=order-1", "again").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = on_b.post("/events/orders", "second").await;
    assert_eq!(status, StatusCode::OK);
    let mut resume = request("GET", "/events/orders", "");
    resume
        .headers_mut()
        .insert("last-event-id", "order-1".parse().unwrap());
    let mut stream = SseStream::new(on_b.send(resume).await);
    assert_eq!(stream.headers["ssegate-replay"], "complete");
    assert_eq!(stream.take(1).await[0].data, "second");
}

#[tokio::test]
async fn with_redis_gone_a_publish_fails_fast_with_503_and_streams_stay_open() {
    let mut redis = RedisServer::start().await;
    let port = redis.port;
    let nodes = nodes(&redis, "outage", 1).await;
    let mut client = nodes[0].h2().await;
    let mut stream = client
        .send(request("GET", "/events/outage", ""))
        .await
        .into_body();
    let (status, body) = client.post("/events/outage", "stored").await;
    assert_eq!(status, StatusCode::OK);
    let stored_id = published_id(&body);

    redis.kill();
    let started = Instant::now();
    let response = client
        .send(request("POST", "/events/outage", "not stored"))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    // cluster.timeout_secs is 0.5: never a hang past it (with room for a slow machine).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The open stream is not ended by the outage: its heartbeats go on.
    let seen = read_heartbeats(&mut stream, 2).await;
    assert!(
        String::from_utf8_lossy(&seen).contains("data: stored"),
        "the stored event arrived first"
    );

    // Redis back (empty: this one keeps nothing): the node's consumer goes on by itself and
    // new publishes reach the open stream.
    let _redis = RedisServer::start_on(port).await;
    let mut published = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let (status, _) = client.post("/events/outage", "after the outage").await;
        if status == StatusCode::OK {
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(published, "publishing works again once Redis is back");
    // This Redis kept nothing: a client resuming from before the restart is told it may
    // have missed events, not that its replay is complete.
    let mut resume = request("GET", "/events/outage", "");
    resume
        .headers_mut()
        .insert("last-event-id", stored_id.parse().unwrap());
    let lost = SseStream::new(client.send(resume).await);
    assert_eq!(lost.headers["ssegate-replay"], "gap");
    let mut events = SseStream::from_body(stream);
    let event = events.next().await.expect("the stream is still open");
    assert_eq!(event.data, "after the outage");
}

/// The hub URL every node of the Mercure cluster advertises: tokens name it in `aud`, so a
/// token is good on every node.
const CLUSTER_HUB: &str = "https://hub.example.test/.well-known/mercure";

/// Two nodes with a Mercure hub on `redis`, both advertising [`CLUSTER_HUB`].
async fn mercure_nodes(redis: &RedisServer, prefix: &str) -> Vec<TestServer> {
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let url = redis.url();
        nodes.push(
            crate::support::mercure::start(|raw| {
                raw.cluster.redis_url = Some(url);
                raw.cluster.key_prefix = prefix.into();
                raw.cluster.node_name = Some(name.into());
                raw.mercure.hub_url = Some(CLUSTER_HUB.into());
            })
            .await,
        );
    }
    nodes
}

#[tokio::test]
async fn mercure_private_updates_cross_nodes_only_to_subscribers_allowed_to_see_them() {
    use crate::support::mercure::{self, authorized, detail, form, get_with, token, FORM, HUB};

    const BOOK: &str = "https://example.com/books/1";
    const MARKER: &str = "https://example.com/marker";
    let redis = RedisServer::start().await;
    let nodes = mercure_nodes(&redis, "mercure").await;
    let reader = token(
        CLUSTER_HUB,
        serde_json::json!([detail(&["subscribe"], &[(BOOK, "exact")])]),
        mercure::TTL,
    );
    let publisher = token(
        CLUSTER_HUB,
        serde_json::json!([detail(&["publish"], &[("*", "exact")])]),
        mercure::TTL,
    );
    let path = format!("{HUB}?{}", form(&[("match", BOOK), ("match", MARKER)]));
    let mut on_b = nodes[1].h2().await;
    let mut allowed = SseStream::new(
        on_b.send(authorized(get_with(&path, &[]), Some(&reader)))
            .await,
    );
    let mut anonymous = SseStream::new(on_b.send(get_with(&path, &[])).await);

    let mut on_a = nodes[0].h2().await;
    for pairs in [
        vec![("topic", BOOK), ("data", "secret"), ("private", "on")],
        vec![("topic", MARKER), ("data", "marker")],
    ] {
        let publish = mercure::request_with("POST", HUB, &[("content-type", FORM)], form(&pairs));
        let response = on_a.send(authorized(publish, Some(&publisher))).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let data = |events: Vec<eventsource_stream::Event>| -> Vec<String> {
        events
            .into_iter()
            .filter(|e| e.event != "mercure")
            .map(|e| e.data)
            .collect()
    };
    assert_eq!(data(allowed.take(2).await), ["secret", "marker"]);
    assert_eq!(data(anonymous.take(1).await), ["marker"]);
}

/// Sends one command to Redis over a raw connection and returns its first reply line.
async fn redis_command(redis: &RedisServer, args: &[&str]) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", redis.port))
        .await
        .unwrap();
    let mut command = format!("*{}\r\n", args.len());
    for arg in args {
        command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    conn.write_all(command.as_bytes()).await.unwrap();
    let mut line = String::new();
    BufReader::new(conn).read_line(&mut line).await.unwrap();
    line
}

#[tokio::test]
async fn a_paused_redis_fails_publishes_fast_and_a_retry_with_the_same_id_stores_it_once() {
    let redis = RedisServer::start().await;
    let nodes = nodes(&redis, "pause", 1).await;
    let mut client = nodes[0].h2().await;
    let mut stream = client.subscribe("/events/paused").await;
    let (status, _) = client.post("/events/paused?id=order-1", "one").await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(
        redis_command(&redis, &["CLIENT", "PAUSE", "1500", "WRITE"]).await,
        "+OK\r\n"
    );
    let started = Instant::now();
    let (status, _) = client.post("/events/paused?id=order-2", "two").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "failed at the 0.5 s deadline, not when the pause ended: {:?}",
        started.elapsed()
    );
    // Whether Redis took the paused write when the pause ended is unknown to the publisher:
    // retrying with the same id stores it at most once (409: it was already stored).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = client.post("/events/paused?id=order-2", "two").await;
        match status {
            StatusCode::OK | StatusCode::CONFLICT => break,
            StatusCode::SERVICE_UNAVAILABLE if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => panic!("{other}: {body}"),
        }
    }
    let (status, _) = client.post("/events/paused?id=order-3", "three").await;
    assert_eq!(status, StatusCode::OK);
    let got: Vec<(String, String)> = stream
        .take(3)
        .await
        .into_iter()
        .map(|e| (e.id, e.data))
        .collect();
    assert_eq!(
        got,
        [("order-1", "one"), ("order-2", "two"), ("order-3", "three")]
            .map(|(i, d)| (i.to_owned(), d.to_owned()))
    );
}

#[tokio::test]
async fn the_subscription_api_lists_the_subscribers_of_every_node() {
    use crate::support::mercure::{self, detail, form, get_with, token, HUB};

    const BOOK: &str = "https://example.com/books/1";
    const API: &str = "/.well-known/mercure/subscriptions";
    let redis = RedisServer::start().await;
    let nodes = mercure_nodes(&redis, "directory").await;
    let api_token = token(
        CLUSTER_HUB,
        serde_json::json!([detail(&["subscribe"], &[(API, "exact")])]),
        mercure::TTL,
    );
    let mut on_b = nodes[1].h2().await;
    assert_eq!(listed(&mut on_b, &api_token).await, 0);

    let mut on_a = nodes[0].h2().await;
    let path = format!("{HUB}?{}", form(&[("match", BOOK)]));
    let stream = SseStream::new(on_a.send(get_with(&path, &[])).await);
    // The directory is written in the background: the listing catches up within moments.
    let deadline = Instant::now() + Duration::from_secs(10);
    while listed(&mut on_b, &api_token).await != 1 {
        assert!(
            Instant::now() < deadline,
            "node b never listed node a's subscriber"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    while listed(&mut on_b, &api_token).await != 0 {
        assert!(
            Instant::now() < deadline,
            "the ended subscription stayed listed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many subscriptions to the book the subscription API lists on the node of `client`.
async fn listed(client: &mut crate::support::Client, api_token: &str) -> usize {
    use crate::support::mercure::{answer, authorized, get_with};

    let request = authorized(
        get_with("/.well-known/mercure/subscriptions", &[]),
        Some(api_token),
    );
    let (status, _, body) = answer(client, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    body["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["match"] == "https://example.com/books/1")
        .count()
}

#[tokio::test]
async fn nodes_reach_redis_over_tls_with_a_password_from_a_file() {
    // The test CA and a certificate for 127.0.0.1, as ssegate generates them.
    let certs = tempfile::tempdir().unwrap();
    let hosts: Vec<String> = vec!["127.0.0.1".into()];
    ssegate::certs::ensure_local_certs(certs.path(), &hosts).unwrap();
    let redis = RedisServer::start_tls(certs.path(), "s3cret-redis-password").await;
    let password_file = certs.path().join("redis-password");
    std::fs::write(&password_file, "s3cret-redis-password\n").unwrap();
    let url = format!("rediss://127.0.0.1:{}/0", redis.port);
    let node = |name: &'static str| {
        let (url, ca, password) = (
            url.clone(),
            certs.path().join("ca.pem"),
            password_file.clone(),
        );
        TestServer::start_with(move |raw| {
            raw.cluster.redis_url = Some(url);
            raw.cluster.ca_file = Some(ca);
            raw.cluster.password_file = Some(password);
            raw.cluster.key_prefix = "tls".into();
            raw.cluster.node_name = Some(name.into());
        })
    };
    let (a, b) = (node("a").await, node("b").await);
    let mut on_b = b.h2().await;
    let mut stream = on_b.subscribe("/events/secure").await;
    let mut on_a = a.h2().await;
    let (status, body) = on_a.post("/events/secure", "over tls").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stream.take(1).await[0].data, "over tls");

    // A wrong password is refused at start, naming the shared log.
    let wrong = certs.path().join("wrong-password");
    std::fs::write(&wrong, "not-it").unwrap();
    let mut raw = ssegate::config::RawConfig::default();
    raw.server.listen = "127.0.0.1:0".into();
    raw.admin.listen = "127.0.0.1:0".into();
    raw.tls.cert_dir = certs.path().join("node");
    raw.cluster.redis_url = Some(url.clone());
    raw.cluster.ca_file = Some(certs.path().join("ca.pem"));
    raw.cluster.password_file = Some(wrong);
    let error = ssegate::Server::bind(raw.validate().unwrap())
        .await
        .expect_err("a wrong password is refused");
    let message = format!("{:#}", anyhow::Error::from(error));
    assert!(message.contains(&url), "{message}");
}
