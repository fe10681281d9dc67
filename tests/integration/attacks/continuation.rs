//! CONTINUATION floods: a header block that never ends, and one that goes on forever in
//! small CONTINUATION frames (CVE-2024-27316 and its kin in other servers).

use std::time::Duration;

use crate::{
    attacks::Arena,
    support::{
        attackers,
        frames::{code, Ending},
    },
};

#[tokio::test]
async fn a_header_block_never_ended_is_cut_at_the_header_timeout() {
    let arena = Arena::start(|raw| raw.server.header_read_timeout_secs = 2.0).await;
    let seen = attackers::unended_header_block(&arena.server, Duration::from_secs(20)).await;
    let ended = seen.ended_after().expect("the server ends the connection");
    assert!(seen.ending().is_some(), "{seen:?}");
    // Liveness only: cut at the 2 s header timeout, not by the test's patience.
    assert!(
        ended >= Duration::from_millis(1900) && ended < Duration::from_secs(15),
        "cut after {ended:?}: {seen:?}"
    );
    arena.finish("an unended header block", 64).await;
}

#[tokio::test]
async fn endless_continuation_frames_end_the_connection_with_enhance_your_calm() {
    let arena = Arena::start(|_| {}).await;
    let (seen, sent) = attackers::continuation_flood(&arena.server, 16, 1_000_000).await;
    eprintln!("CONTINUATION flood: {sent} frames written, {seen:?}");
    // A header block may take 8 CONTINUATION frames (nghttp2's default); past them the
    // connection ends. (`sent` counts what the socket buffers took, not what the server
    // read.)
    assert_eq!(
        seen.ending(),
        Some(Ending::GoAway(code::ENHANCE_YOUR_CALM)),
        "after {sent} CONTINUATION frames: {seen:?}"
    );
    let ended = seen.ended_after().expect("ended");
    assert!(ended < Duration::from_secs(20), "{ended:?}");
    arena.finish("a CONTINUATION flood", 64).await;
}
