//! Heartbeats of a stream its connection ticks (the h2 driver's one clock per connection)
//! instead of the stream's own timer: same rule, a comment only after a silent interval.

use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::BodyExt;
use tokio::time::Instant;

use super::*;
use crate::sse::{
    event::{HEARTBEAT_COMMENT, OPEN_COMMENT},
    EventSource, SseBody, StreamLimits,
};

/// What the body has to send right now; `None` when it has nothing.
fn now_ready<S: EventSource + ?Sized>(body: &mut SseBody<S>) -> Option<Bytes> {
    let frame = body.frame().now_or_never()?;
    let frame = frame.expect("the stream goes on").expect("no error");
    Some(frame.into_data().expect("a data frame"))
}

#[tokio::test(start_paused = true)]
async fn a_stream_ticked_by_its_connection_beats_only_after_a_silent_interval() {
    let hub = hub();
    let subscription = hub.subscribe(vec![topic("news")], None).await.unwrap();
    let interval = Duration::from_secs(10);
    let mut body = SseBody::new(subscription, interval, StreamLimits::default(), None);
    assert_eq!(body.tick_from_connection(), interval / 2);
    let start = Instant::now();
    assert_eq!(now_ready(&mut body).as_deref(), Some(OPEN_COMMENT));

    // The opening comment counts as traffic: no heartbeat at the first tick.
    assert!(!body.heartbeat_tick(start + interval / 2));
    assert!(body.heartbeat_tick(start + interval));
    assert_eq!(now_ready(&mut body).as_deref(), Some(HEARTBEAT_COMMENT));
    assert_eq!(now_ready(&mut body), None);

    // An event is traffic too, and one going out first takes the place of a due heartbeat.
    publish(&hub, "news", "first").await;
    assert!(now_ready(&mut body).is_some_and(|b| b.ends_with(b"data: first\n\n")));
    assert!(!body.heartbeat_tick(start + interval * 3 / 2));
    assert!(body.heartbeat_tick(start + interval * 2));
    publish(&hub, "news", "second").await;
    assert!(now_ready(&mut body).is_some_and(|b| b.ends_with(b"data: second\n\n")));
    assert_eq!(now_ready(&mut body), None);

    // A tick that comes early for this stream (a connection ticking at a shorter period
    // for another stream) is skipped.
    assert!(!body.heartbeat_tick(start + interval * 2 + Duration::from_secs(1)));

    // The stream's own timer is gone: nothing comes by itself, however long the silence.
    tokio::time::advance(interval * 6).await;
    assert_eq!(now_ready(&mut body), None);
}

#[tokio::test(start_paused = true)]
async fn a_stream_ticked_by_its_connection_still_ends_at_its_timeout() {
    let hub = hub();
    let subscription = hub.subscribe(vec![topic("news")], None).await.unwrap();
    let limits = StreamLimits {
        max_events: None,
        max_duration: Some(Duration::from_secs(3)),
    };
    let mut body = SseBody::new(subscription, Duration::from_secs(10), limits, None);
    body.tick_from_connection();
    assert_eq!(now_ready(&mut body).as_deref(), Some(OPEN_COMMENT));
    tokio::time::advance(Duration::from_secs(3)).await;
    let end = body.frame().now_or_never().expect("ends at once");
    assert!(end.is_none(), "the stream ends at its timeout");
}
