//! Rapid reset (CVE-2023-44487): a client that opens streams and cancels them at once, as
//! fast as it can write, to make the server start work it never gets to finish.

use std::time::Duration;

use crate::{
    attacks::Arena,
    support::{attackers, frames::code},
};

#[tokio::test]
async fn rapid_reset_is_ended_with_goaway_and_the_canary_loses_nothing() {
    let arena = Arena::start(|_| {}).await;
    let (seen, sent) = attackers::rapid_reset(&arena.server, 100_000).await;
    eprintln!("rapid reset: {sent} streams sent, {seen:?}");
    assert_eq!(
        seen.goaway,
        Some(code::ENHANCE_YOUR_CALM),
        "after {sent} HEADERS+RST_STREAM pairs the server should have sent \
         GOAWAY(ENHANCE_YOUR_CALM): {seen:?}"
    );
    assert!(
        seen.ended_after().unwrap_or(Duration::MAX) < Duration::from_secs(20),
        "{seen:?}"
    );
    arena.finish("a rapid reset", 64).await;
}
