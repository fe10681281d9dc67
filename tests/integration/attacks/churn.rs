//! Connection churn: thousands of connect, subscribe, disconnect cycles, mostly h2c on the
//! plaintext listener (TLS handshakes would make the test measure the 2-core box's crypto)
//! with a share over TLS.

use futures_util::{stream, StreamExt};

use crate::{attacks::Arena, support::attackers};

const CYCLES: u64 = 3000;
/// One cycle in this many goes over TLS.
const TLS_EVERY: u64 = 10;
/// Cycles in flight at once.
const PARALLEL: usize = 32;

#[tokio::test]
async fn connection_churn_leaves_no_fd_or_memory_growth() {
    let arena = Arena::start(|_| {}).await;
    let server = &arena.server;
    let subscribed = stream::iter(0..CYCLES)
        .map(|n| attackers::churn_cycle(server, n % TLS_EVERY == 0, n))
        .buffer_unordered(PARALLEL)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    assert_eq!(subscribed as u64, CYCLES, "every cycle subscribed");
    arena.finish("connection churn", 96).await;
}
