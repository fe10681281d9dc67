//! Upstream failures map to the right status, deadlines hold, and one bad upstream stream
//! does not disturb the others.

use http::StatusCode;
use http_body_util::BodyExt;

use super::{gateway, sse_get};
use crate::support::{
    read_all, read_heartbeats,
    upstream::{BadKind, BadUpstream, Upstream, UpstreamProto},
    SseStream, PATIENCE,
};

#[tokio::test]
async fn a_dead_upstream_is_502() {
    let mut upstream = Upstream::start(UpstreamProto::Http1).await;
    let url = upstream.url();
    upstream.stop().await;
    let server = gateway("/", &url, |_, raw| raw.demo.enabled = false).await;
    let (status, body) = read_all(server.h2().await.get("/echo").await).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body.contains("error"), "{body}");
}

#[tokio::test]
async fn a_slow_upstream_is_504_after_the_header_timeout() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |route, raw| {
        route.response_header_timeout_secs = 0.3;
        raw.demo.enabled = false;
    })
    .await;
    let (status, _) = read_all(server.h2().await.get("/slow-headers?delay_ms=5000").await).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    let never = BadUpstream::start(BadKind::NeverRespond).await;
    let server = gateway("/", &never.url(), |route, raw| {
        route.response_header_timeout_secs = 0.3;
        raw.demo.enabled = false;
    })
    .await;
    assert_eq!(
        read_all(server.h2().await.get("/x").await).await.0,
        StatusCode::GATEWAY_TIMEOUT
    );
}

#[tokio::test]
async fn malformed_or_reset_upstream_responses_are_502() {
    for kind in [BadKind::MalformedHeaders, BadKind::Reset] {
        let bad = BadUpstream::start(kind).await;
        let server = gateway("/", &bad.url(), |_, raw| raw.demo.enabled = false).await;
        let (status, _) = read_all(server.h2().await.get("/x").await).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{kind:?}");
    }
}

#[tokio::test]
async fn a_truncated_stream_fails_only_that_stream() {
    let bad = BadUpstream::start(BadKind::TruncatedChunked).await;
    let good = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/bad", &bad.url(), |_, raw| {
        raw.routes.push(ssegate::config::RawRoute {
            path: "/good".into(),
            upstream: good.url(),
            strip_prefix: true,
            ..Default::default()
        });
    })
    .await;
    let mut client = server.h2().await;
    let mut healthy = SseStream::new(
        client
            .send(sse_get("/good/sse?count=0&interval_ms=50"))
            .await,
    );
    healthy.take(2).await;
    let mut body = client.send(sse_get("/bad/x")).await.into_body();
    // The complete event arrives, then the cut shows as an error, not a clean end.
    let mut saw_error = false;
    loop {
        match tokio::time::timeout(PATIENCE, body.frame()).await.unwrap() {
            None => break,
            Some(Ok(_)) => continue,
            Some(Err(_)) => {
                saw_error = true;
                break;
            }
        }
    }
    assert!(
        saw_error,
        "a truncated upstream body must not look complete"
    );
    // The other stream on the same connection goes on.
    healthy.take(2).await;
}

#[tokio::test]
async fn a_silent_body_hits_the_idle_timeout_but_an_event_stream_does_not() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |route, raw| {
        route.idle_timeout_secs = 0.3;
        route.total_timeout_secs = 30.0;
        raw.demo.enabled = false;
    })
    .await;
    let mut client = server.h2().await;
    let mut body = client
        .get("/slow-body?chunks=3&delay_ms=3000")
        .await
        .into_body();
    let first = tokio::time::timeout(PATIENCE, body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "chunk 0\n");
    let next = tokio::time::timeout(PATIENCE, body.frame()).await.unwrap();
    assert!(matches!(next, Some(Err(_))), "idle timeout aborts the body");

    // An SSE stream silent far longer than the idle timeout stays open (heartbeats flow).
    let mut sse = client.send(sse_get("/sse?idle=1")).await.into_body();
    read_heartbeats(&mut sse, 5).await;
}

#[tokio::test]
async fn the_total_timeout_bounds_a_slow_response() {
    let upstream = Upstream::start(UpstreamProto::Http1).await;
    let server = gateway("/", &upstream.url(), |route, raw| {
        route.idle_timeout_secs = 0.0;
        route.total_timeout_secs = 0.5;
        raw.demo.enabled = false;
    })
    .await;
    let mut body = server
        .h2()
        .await
        .get("/slow-body?chunks=50&delay_ms=100")
        .await
        .into_body();
    let mut chunks = 0;
    let outcome = loop {
        match tokio::time::timeout(PATIENCE, body.frame()).await.unwrap() {
            Some(Ok(_)) => chunks += 1,
            other => break other,
        }
    };
    assert!(
        matches!(outcome, Some(Err(_))),
        "total timeout aborts the body"
    );
    assert!(chunks < 50);
}
