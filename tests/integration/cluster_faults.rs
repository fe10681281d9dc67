//! Cluster mode under faults: Redis restarted with its persistence on, and a node killed
//! with SIGKILL while a client streams from it. Either way the client resumes, on the same
//! node or another, with everything it missed, nothing twice.

use std::{path::Path, process::Stdio, time::Duration};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, process::Child};

use crate::{
    cli::{free_port, ssegate, wait_for_port},
    support::{published_id, redis::RedisServer, request, SseStream, TestServer},
};

async fn node(redis: &RedisServer, prefix: &str) -> TestServer {
    TestServer::start_with(|raw| {
        raw.cluster.redis_url = Some(redis.url());
        raw.cluster.key_prefix = prefix.into();
        raw.cluster.timeout_secs = 0.5;
    })
    .await
}

/// Publishes on `server` until the shared log takes it (it may be reconnecting).
async fn publish_retrying(server: &TestServer, path: &str, data: &str) -> String {
    let mut client = server.h2().await;
    for _ in 0..100 {
        let (status, body) = client.post(path, data.to_owned()).await;
        if status == StatusCode::OK {
            return published_id(&body);
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the shared log never took {data:?}");
}

#[tokio::test]
async fn after_a_redis_restart_with_persistence_clients_resume_without_loss() {
    let redis = RedisServer::start_persistent().await;
    let server = node(&redis, "restart").await;
    let first = publish_retrying(&server, "/events/durable", "before 1").await;
    publish_retrying(&server, "/events/durable", "before 2").await;

    let redis = redis.restart().await;
    let after = publish_retrying(&server, "/events/durable", "after").await;
    assert!(
        after.parse::<u128>().unwrap() > first.parse::<u128>().unwrap(),
        "ids keep rising across the restart"
    );
    // A client that saw only the first event misses nothing, on this node or a new one.
    for resume_on in [&server, &node(&redis, "restart").await] {
        let mut client = resume_on.h2().await;
        let mut resume = request("GET", "/events/durable", "");
        resume
            .headers_mut()
            .insert("last-event-id", first.parse().unwrap());
        let mut stream = SseStream::new(client.send(resume).await);
        assert_eq!(stream.headers["ssegate-replay"], "complete");
        let data: Vec<String> = stream.take(2).await.into_iter().map(|e| e.data).collect();
        assert_eq!(data, ["before 2", "after"]);
    }
}

/// A node as its own process, on a plaintext port (so the test needs no certificate).
async fn node_process(dir: &Path, redis: &RedisServer, prefix: &str) -> (Child, u16) {
    let (tls, plain) = (free_port(), free_port());
    let mut child = ssegate(dir)
        .args(["serve", "--no-demo", "--cert-dir", "certs"])
        .args(["--listen", &format!("127.0.0.1:{tls}")])
        .args(["--plaintext-listen", &format!("127.0.0.1:{plain}")])
        .args(["--redis-url", &redis.url(), "--cluster-key-prefix", prefix])
        .args(["--node-name", "doomed"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssegate starts");
    wait_for_port(&mut child, plain, &|| String::new()).await;
    (child, plain)
}

#[tokio::test]
async fn a_client_of_a_node_killed_with_sigkill_resumes_on_another_node() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut doomed, port) = node_process(dir.path(), &redis, "sigkill").await;
    let survivor = node(&redis, "sigkill").await;

    // The client streams from the doomed node over HTTP/1.1.
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let subscribe = Request::get("/events/failover")
        .header("host", "localhost")
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut stream = SseStream::new(send.send_request(subscribe).await.unwrap());
    for i in 1..=3 {
        publish_retrying(&survivor, "/events/failover", &format!("e{i}")).await;
    }
    let seen = stream.take(2).await;
    let last_seen = seen[1].id.clone();

    doomed.kill().await.unwrap();
    for i in 4..=5 {
        publish_retrying(&survivor, "/events/failover", &format!("e{i}")).await;
    }
    let mut client = survivor.h2().await;
    let mut resume = request("GET", "/events/failover", "");
    resume
        .headers_mut()
        .insert("last-event-id", last_seen.parse().unwrap());
    let mut resumed = SseStream::new(client.send(resume).await);
    assert_eq!(resumed.headers["ssegate-replay"], "complete");
    let data: Vec<String> = resumed.take(3).await.into_iter().map(|e| e.data).collect();
    assert_eq!(data, ["e3", "e4", "e5"], "everything after e2, once");
}

/// Subscribes to `path` over HTTP/1.1 on a node's plaintext `port`, from `last_id` if any.
pub async fn plaintext_stream(port: u16, path: &str, last_id: Option<&str>) -> SseStream {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut subscribe = Request::get(path)
        .header("host", "localhost")
        .header("accept", "text/event-stream");
    if let Some(id) = last_id {
        subscribe = subscribe.header("last-event-id", id);
    }
    let subscribe = subscribe.body(Full::new(Bytes::new())).unwrap();
    SseStream::new(send.send_request(subscribe).await.unwrap())
}

#[tokio::test]
async fn a_node_that_fell_behind_catches_up_from_redis_without_loss() {
    const EVENTS: usize = 1_000;
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (slow, port) = node_process(dir.path(), &redis, "behind").await;
    let fast = node(&redis, "behind").await;
    let mut stream = plaintext_stream(port, "/events/catch-up", None).await;

    // The node stops (SIGSTOP: a stalled machine, a long pause) while the others take a
    // burst of publishes; then it goes on, far behind the log, and catches up from Redis.
    let pid = slow.id().expect("running").to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name}");
    };
    signal("-STOP");
    let mut publisher = fast.h2().await;
    for i in 0..EVENTS {
        let (status, body) = publisher.post("/events/catch-up", i.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    signal("-CONT");
    // The catch-up comes in bursts; should one outrun the subscriber's queue, the queue
    // policy ends the stream and the client resumes from its last id, as a browser does.
    // Either way: every event, once, in order.
    let mut received = Vec::with_capacity(EVENTS);
    let mut last_id: Option<String> = None;
    while received.len() < EVENTS {
        match stream.try_next().await {
            Ok(Some(event)) => {
                received.push(event.data.parse::<usize>().unwrap());
                last_id = Some(event.id);
            }
            Ok(None) | Err(_) => {
                stream = plaintext_stream(port, "/events/catch-up", last_id.as_deref()).await;
                assert_eq!(stream.headers["ssegate-replay"], "complete");
            }
        }
    }
    assert_eq!(
        received,
        (0..EVENTS).collect::<Vec<_>>(),
        "every event, in order"
    );
    drop(slow);
}
