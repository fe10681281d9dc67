//! A subscriber that opens many streams with a zero flow-control window and never opens it:
//! the server can send it nothing, while events keep being published to its topics.

use std::time::Duration;

use crate::{attacks::Arena, support::attackers};

#[tokio::test]
async fn a_zero_window_subscriber_is_cut_at_the_write_stall_timeout_with_bounded_memory() {
    let arena = Arena::start(|raw| raw.server.write_stall_timeout_secs = 2.0).await;
    let session = attackers::zero_window(&arena.server, 200, 10).await;
    let opened = session
        .wait_for(Duration::from_secs(20), |s| s.responses >= 200)
        .await;
    assert_eq!(opened.responses, 200, "{opened:?}");
    // 100 events of 1 KiB per topic: 20 MB of deliveries the subscriber never takes.
    let accepted =
        attackers::publish_round_robin(&arena.server, "zero-window-", 10, 100, 1024).await;
    assert_eq!(accepted, 1000);
    let seen = session.wait_for_end(Duration::from_secs(30)).await;
    assert_eq!(seen.data_bytes, 0, "the window was zero: {seen:?}");
    let ended = seen
        .ended_after()
        .unwrap_or_else(|| panic!("the zero-window subscriber was not cut in 30 s: {seen:?}"));
    eprintln!("zero window: cut after {ended:?}, {seen:?}");
    // Liveness only: cut by the 2 s write stall deadline, counted from the requests.
    assert!(
        ended >= Duration::from_millis(1900) && ended < Duration::from_secs(30),
        "{seen:?}"
    );
    drop(session);
    arena.finish("a zero-window subscriber", 64).await;
}
