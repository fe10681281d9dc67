//! Subscribing with bad topics or parameters: invalid topic names (in the path, for
//! publishing too, and in the query), a missing topic or too many, and bad `limit`,
//! `timeout` and `Last-Event-ID` values.

use http::{HeaderValue, StatusCode};

use super::{clients, expect_error, MAX_TOPICS};
use crate::support::{request, TestServer};

pub(super) async fn invalid_topic_in_path_is_400(server: &TestServer) {
    let long = format!("/events/{}", "a".repeat(300));
    let paths = [
        "/events/a%20b",
        "/events/a//b",
        "/events/",
        "/events/..",
        "/events/a/./b",
        "/events/a/",
        "/events/a%2Fb",
        long.as_str(),
    ];
    for (proto, mut client) in clients(server).await {
        for path in paths {
            for method in ["GET", "POST"] {
                let response = client.send(request(method, path, "body")).await;
                let what = format!("{proto} {method} {path}");
                let message = expect_error(response, StatusCode::BAD_REQUEST, &what).await;
                assert!(message.contains("topic"), "{what}: {message}");
            }
        }
    }
}

pub(super) async fn invalid_topic_in_query_is_400(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        for path in [
            "/events?topic=bad%20name",
            "/events?topic=",
            "/events?topic=ok&topic=a//b",
        ] {
            let response = client.get(path).await;
            let what = format!("{proto} {path}");
            let message = expect_error(response, StatusCode::BAD_REQUEST, &what).await;
            assert!(message.contains("topic"), "{what}: {message}");
        }
    }
}

pub(super) async fn subscription_without_topic_is_400(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        for path in ["/events", "/events?other=1"] {
            let response = client.get(path).await;
            let what = format!("{proto} {path}");
            let message = expect_error(response, StatusCode::BAD_REQUEST, &what).await;
            assert!(message.contains("topic"), "{what}: {message}");
        }
    }
}

pub(super) async fn more_topics_than_allowed_is_400(server: &TestServer) {
    assert_eq!(MAX_TOPICS, 2);
    for (proto, mut client) in clients(server).await {
        let response = client.get("/events?topic=a&topic=b&topic=c").await;
        let message = expect_error(response, StatusCode::BAD_REQUEST, proto).await;
        assert!(message.contains("too many topics"), "{proto}: {message}");
    }
    // The limit itself is allowed (the stream is dropped at once), and repeated topics
    // count once.
    let mut client = server.h2().await;
    for path in ["/events?topic=a&topic=b", "/events?topic=a&topic=b&topic=a"] {
        let response = client.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

pub(super) async fn bad_limit_is_400(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        for limit in ["0", "-1", "abc", "", "1.5", "99999999999999999999999"] {
            let path = format!("/events/x?limit={limit}");
            let response = client.get(&path).await;
            let what = format!("{proto} {path}");
            let message = expect_error(response, StatusCode::BAD_REQUEST, &what).await;
            assert!(message.contains("limit"), "{what}: {message}");
        }
    }
}

pub(super) async fn bad_timeout_is_400(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        for timeout in ["0", "-1", "abc", "", "1e9", "86401", "NaN", "inf"] {
            let path = format!("/events/x?timeout={timeout}");
            let response = client.get(&path).await;
            let what = format!("{proto} {path}");
            let message = expect_error(response, StatusCode::BAD_REQUEST, &what).await;
            assert!(message.contains("timeout"), "{what}: {message}");
        }
    }
}

pub(super) async fn non_ascii_last_event_id_header_is_400(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        let mut req = request("GET", "/events/x", "");
        req.headers_mut().insert(
            "last-event-id",
            HeaderValue::from_bytes(b"\xff").expect("obs-text is a valid header value"),
        );
        let response = client.send(req).await;
        let message = expect_error(response, StatusCode::BAD_REQUEST, proto).await;
        assert!(message.contains("Last-Event-ID"), "{proto}: {message}");
    }
}
