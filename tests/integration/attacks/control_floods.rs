//! PING and SETTINGS floods: each frame obliges the server to answer, and the flooder never
//! reads the answers.

use std::time::Duration;

use crate::{
    attacks::Arena,
    support::attackers::{self, Flood},
};

async fn flood_is_cut_at_the_write_stall_timeout(flood: Flood) {
    let arena = Arena::start(|raw| raw.server.write_stall_timeout_secs = 2.0).await;
    let (cut, sent) = attackers::control_flood(&arena.server, flood, Duration::from_secs(30)).await;
    let cut = cut.unwrap_or_else(|| panic!("{flood:?} flood not cut after {sent} frames"));
    // Liveness only: the server stops reading while its answers cannot be written, so the
    // flooder's writes block, and the connection is closed once the server's writes have
    // stalled for 2 s.
    assert!(cut < Duration::from_secs(25), "cut after {cut:?}");
    arena.finish(&format!("a {flood:?} flood"), 64).await;
}

#[tokio::test]
async fn ping_flood_is_cut_at_the_write_stall_timeout() {
    flood_is_cut_at_the_write_stall_timeout(Flood::Ping).await;
}

#[tokio::test]
async fn settings_flood_is_cut_at_the_write_stall_timeout() {
    flood_is_cut_at_the_write_stall_timeout(Flood::Settings).await;
}
