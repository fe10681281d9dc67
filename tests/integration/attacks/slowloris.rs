//! Slowloris: request headers trickled one byte at a time on HTTP/1.1 and HTTP/2, and a TLS
//! handshake that stalls, many connections at once.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::io::AsyncWriteExt;

use crate::{
    attacks::Arena,
    support::{attackers, frames},
};

/// Connections per slowloris test: enough to show in memory, few enough for a 2-core box.
const CONNECTIONS: usize = 300;
/// The configured timeouts, small so the tests are quick.
const TIMEOUT_SECS: f64 = 2.0;
const GAP: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(30);

/// Asserts every connection was cut after the configured timeout and well before the
/// patience ran out.
fn assert_cut(what: &str, cuts: &[Option<Duration>]) {
    for cut in cuts {
        let cut = cut.unwrap_or_else(|| panic!("a {what} connection was never cut"));
        assert!(
            cut >= Duration::from_secs_f64(TIMEOUT_SECS * 0.9) && cut < Duration::from_secs(20),
            "a {what} connection was cut after {cut:?}"
        );
    }
}

#[tokio::test]
async fn slowloris_on_http1_is_cut_at_the_header_timeout() {
    let arena = Arena::start(|raw| raw.server.header_read_timeout_secs = TIMEOUT_SECS).await;
    let mut attackers = Vec::new();
    for _ in 0..CONNECTIONS {
        let started = Instant::now();
        let io: Box<dyn attackers::Io> = Box::new(arena.server.tls(true).await);
        attackers.push(attackers::trickle(
            io,
            started,
            attackers::HTTP1_REQUEST,
            GAP,
            PATIENCE,
        ));
    }
    assert_cut("HTTP/1.1 slowloris", &join_all(attackers).await);
    arena.finish("an HTTP/1.1 slowloris", 96).await;
}

#[tokio::test]
async fn slowloris_on_http2_is_cut_at_the_header_timeout() {
    let arena = Arena::start(|raw| raw.server.header_read_timeout_secs = TIMEOUT_SECS).await;
    let request = attackers::h2_request();
    let mut attackers = Vec::new();
    for _ in 0..CONNECTIONS {
        let started = Instant::now();
        let mut io = attackers::h2_tls(&arena.server).await;
        frames::start(&mut io, &[]).await.expect("preface");
        io.flush().await.expect("flush");
        attackers.push(attackers::trickle(io, started, &request, GAP, PATIENCE));
    }
    assert_cut("HTTP/2 slowloris", &join_all(attackers).await);
    arena.finish("an HTTP/2 slowloris", 96).await;
}

#[tokio::test]
async fn stalled_tls_handshakes_are_cut_at_the_handshake_timeout() {
    let arena = Arena::start(|raw| raw.server.tls_handshake_timeout_secs = TIMEOUT_SECS).await;
    let attackers = (0..CONNECTIONS).map(|_| attackers::stalled_handshake(&arena.server, PATIENCE));
    assert_cut("stalled TLS handshake", &join_all(attackers).await);
    arena.finish("stalled TLS handshakes", 96).await;
}
