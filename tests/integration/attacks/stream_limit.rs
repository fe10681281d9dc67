//! A client opening more streams than `http2.max_concurrent_streams` allows.

use std::time::Duration;

use crate::{
    attacks::Arena,
    support::{
        attackers,
        frames::{self, code, flag},
    },
};

#[tokio::test]
async fn streams_over_the_limit_are_refused_and_the_connection_stays_open() {
    let arena = Arena::start(|raw| raw.http2.max_concurrent_streams = 50).await;
    let (session, seen) = attackers::open_streams(&arena.server, 80, Duration::from_secs(20)).await;
    assert_eq!(seen.ending(), None, "no connection error: {seen:?}");
    assert_eq!(seen.responses, 50, "{seen:?}");
    assert_eq!(seen.resets_with(code::REFUSED_STREAM), 30, "{seen:?}");
    assert_eq!(seen.resets.values().sum::<u64>(), 30, "{seen:?}");

    // The connection still serves: once the client cancels a stream, a new one is accepted
    // (retried, as the server frees the slot when the cancelled stream's task is done).
    let mut buf = Vec::new();
    frames::put_rst_stream(&mut buf, 1, code::CANCEL);
    session.send(&buf).await.expect("RST_STREAM written");
    let block = attackers::get_block("/events/stream-limit");
    let mut next_id = 2 * 80 + 1;
    let mut seen = seen;
    for _ in 0..20 {
        let before = seen.responses + seen.resets_with(code::REFUSED_STREAM);
        buf.clear();
        frames::put_headers(
            &mut buf,
            next_id,
            flag::END_HEADERS | flag::END_STREAM,
            &block,
        );
        next_id += 2;
        session.send(&buf).await.expect("HEADERS written");
        seen = session
            .wait_for(Duration::from_secs(20), |s| {
                s.responses + s.resets_with(code::REFUSED_STREAM) > before
            })
            .await;
        if seen.responses == 51 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.responses, 51, "a new stream after a cancel: {seen:?}");
    assert_eq!(seen.ending(), None, "{seen:?}");
    drop(session);
    arena.finish("a stream-limit overrun", 64).await;
}
