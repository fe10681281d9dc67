//! A client opening more streams than `http2.max_concurrent_streams` allows.

use std::time::Duration;

use crate::{
    attacks::Arena,
    support::{attackers, frames::code},
};

#[tokio::test]
async fn streams_over_the_limit_are_refused_and_the_connection_stays_open() {
    let arena = Arena::start(|raw| raw.http2.max_concurrent_streams = 50).await;
    let (session, seen) = attackers::open_streams(&arena.server, 80, Duration::from_secs(20)).await;
    assert_eq!(seen.ending(), None, "no connection error: {seen:?}");
    assert_eq!(seen.responses, 50, "{seen:?}");
    assert_eq!(seen.resets_with(code::REFUSED_STREAM), 30, "{seen:?}");
    assert_eq!(seen.resets.values().sum::<u64>(), 30, "{seen:?}");
    drop(session);
    arena.finish("a stream-limit overrun", 64).await;
}
