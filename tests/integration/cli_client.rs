//! `ssegate subscribe` tells the person running it what it is doing, on standard error
//! (standard output carries only the events): that it subscribed, each reconnection and its
//! cause, each failed attempt; a wrong port fails visibly instead of hanging in silence.

use std::{net::TcpListener, process::Stdio};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::{path_str, run, ssegate};
use crate::support::{TestServer, PATIENCE};

#[tokio::test]
async fn subscribe_to_a_closed_port_says_why_and_gives_up_after_max_reconnects() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{port}/events/nobody");
    let out = run(tmp.path(), &["subscribe", &url, "--max-reconnects", "1"]).await;
    let stderr = out.expect_failure(None);
    let attempts = stderr
        .lines()
        .filter(|line| line.contains("subscription attempt failed; retrying"))
        .count();
    assert_eq!(attempts, 1, "one retry announced:\n{stderr}");
    assert!(
        stderr.contains(&format!("could not connect to 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no events: {}", out.stdout);
}

#[tokio::test]
async fn subscribe_says_it_subscribed_and_why_and_from_where_it_reconnects() {
    let server = TestServer::start().await;
    let mut publisher = server.h2().await;
    // The hub ends each stream after one event: the client reconnects after each.
    let url = format!(
        "https://localhost:{}/events/told?limit=1",
        server.addr.port()
    );
    let ca = server.cert_dir.join("ca.pem");
    let tmp = tempfile::tempdir().unwrap();
    let mut child = ssegate(tmp.path())
        .args(["subscribe", &url, "-n", "2", "--cacert", path_str(&ca)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("subscribe starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut told = Vec::new();
    let mut ids = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        // Each event is published once the client has said it subscribed, so neither is
        // lost to a race with the (re)connection.
        while ids.len() < 2 {
            let line = stderr.next_line().await.unwrap().expect("stderr open");
            let subscribed = line.contains("INFO subscribed");
            told.push(line);
            if subscribed {
                let (status, body) = publisher
                    .post("/events/told", format!("event {}", ids.len()))
                    .await;
                assert!(status.is_success(), "{status} {body}");
                ids.push(crate::support::published_id(&body));
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("two subscriptions announced; stderr so far: {told:#?}"));
    let out = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("subscribe exits after -n 2")
        .unwrap();
    assert!(out.status.success(), "{told:#?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("event 0") && stdout.contains("event 1"),
        "{stdout}"
    );

    let told = told.join("\n");
    assert!(
        told.contains("version=HTTP/2.0"),
        "the protocol is said:\n{told}"
    );
    let reconnect = told
        .lines()
        .find(|line| line.contains("the server ended the event stream; reconnecting"))
        .unwrap_or_else(|| panic!("the reconnection is said:\n{told}"));
    assert!(
        reconnect.contains(&format!("last_event_id=\"{}\"", ids[0])),
        "and from which event: {reconnect}"
    );
    server.shutdown().await;
}
