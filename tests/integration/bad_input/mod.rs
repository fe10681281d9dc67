//! Bad input: every malformed or out-of-range request gets a clear 4xx whose body is JSON
//! `{"error": "..."}` (hyper's own answers to malformed HTTP, which have no body, excepted),
//! nothing panics, and the server keeps serving.
//!
//! Each case is a function that runs on a given server, over HTTP/2 and HTTP/1.1 where both
//! can carry the input. Every case is a test of its own on a fresh server, and one more test
//! runs all of them in turn on a single server, then checks it still answers.
//!
//! Layout: the cases live in `publish` (bodies and event fields), `subscribe` (topics and
//! stream parameters), `routing` (methods and paths) and `malformed` (malformed HTTP,
//! oversized headers); `wire` holds the low-level clients for what the support client
//! cannot send; this module starts the servers and checks the error answers.

mod malformed;
mod publish;
mod routing;
mod subscribe;
mod wire;

use http::{header, Response, StatusCode};
use hyper::body::Incoming;

use crate::support::{read_all, Client, TestServer};

/// `server.max_body_bytes` of the servers here: small, so limits are cheap to cross.
const MAX_BODY: usize = 1024;
/// `hub.max_topics_per_subscription` of the servers here.
const MAX_TOPICS: usize = 2;
/// `server.body_read_timeout_secs` of the servers here: short, so a stalled body is answered
/// quickly, yet far above what a body sent in one go needs.
const BODY_READ_TIMEOUT_SECS: f64 = 1.0;

/// Generates one test per case on a fresh server, and the test running all of them on one.
/// Each case is named by its module, and its test by the case alone.
macro_rules! bad_input_tests {
    ($($module:ident::$case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let server = start().await;
                $module::$case(&server).await;
                assert_still_serving(&server).await;
            }
        )*

        #[tokio::test]
        async fn server_keeps_serving_after_every_bad_input_in_turn() {
            let server = start().await;
            $(
                $module::$case(&server).await;
            )*
            assert_still_serving(&server).await;
        }
    };
}

bad_input_tests! {
    publish::non_utf8_body_is_400_naming_utf8,
    publish::body_over_limit_with_content_length_is_413,
    publish::body_over_limit_streamed_without_length_over_h2_is_413,
    publish::body_over_limit_chunked_over_http1_is_413,
    publish::body_over_limit_reaches_curl_over_h2_as_the_413_json,
    publish::body_exactly_at_limit_is_published,
    publish::body_that_stalls_is_408,
    publish::event_type_with_line_feed_is_400,
    publish::id_with_carriage_return_is_400,
    publish::id_of_digits_only_is_400,
    publish::empty_id_is_400,
    publish::duplicate_publisher_id_is_409,
    publish::retry_that_is_not_a_number_is_400,
    subscribe::invalid_topic_in_path_is_400,
    subscribe::invalid_topic_in_query_is_400,
    subscribe::subscription_without_topic_is_400,
    subscribe::more_topics_than_allowed_is_400,
    routing::wrong_method_is_405_with_allow,
    routing::unknown_path_is_404,
    subscribe::bad_limit_is_400,
    subscribe::bad_timeout_is_400,
    subscribe::non_ascii_last_event_id_header_is_400,
    malformed::malformed_http1_request_is_400,
    malformed::oversized_http1_header_is_431_or_closed,
    malformed::oversized_h2_header_list_is_refused,
}

/// A server with small limits.
async fn start() -> TestServer {
    TestServer::start_with(|raw| {
        raw.server.max_body_bytes = MAX_BODY;
        raw.server.body_read_timeout_secs = BODY_READ_TIMEOUT_SECS;
        raw.hub.max_topics_per_subscription = MAX_TOPICS;
    })
    .await
}

/// A fresh connection of each protocol, named for assertion messages.
async fn clients(server: &TestServer) -> [(&'static str, Client); 2] {
    [
        ("h2", server.h2().await),
        ("http/1.1", server.http1().await),
    ]
}

/// `/healthz` answers 200 on new connections of both protocols.
async fn assert_still_serving(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        let (status, body) = read_all(client.get("/healthz").await).await;
        assert_eq!(status, StatusCode::OK, "{proto}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("health is JSON");
        assert_eq!(json["status"], "ok", "{proto}: {body}");
    }
}

/// Asserts the status, a JSON content type and a `{"error": "<non-empty>"}` body; returns the
/// message. The status is checked first, so a request wrongly accepted as a stream fails at
/// once instead of waiting for a body that never ends.
async fn expect_error(response: Response<Incoming>, status: StatusCode, what: &str) -> String {
    assert_eq!(response.status(), status, "{what}");
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let (_, body) = read_all(response).await;
    assert_eq!(
        content_type.as_ref().map(|v| v.as_bytes()),
        Some(&b"application/json"[..]),
        "{what}: {body}"
    );
    error_message(&body, what)
}

/// The non-empty `error` string of a JSON error body.
fn error_message(body: &str, what: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {body:?}"));
    let message = json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no `error` string in {body}"));
    assert!(!message.trim().is_empty(), "{what}: empty error in {body}");
    message.to_owned()
}
