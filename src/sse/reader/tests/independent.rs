//! The reader against an independent parser on random streams.

use super::*;

/// Random streams, cut into random chunks, give the same events here as in
/// eventsource-stream, an independent parser (over inputs where both follow the spec: it
/// accepts `retry: +5`, and does not end a final CR at the end of the input). Its BOM
/// handling panics (it cuts the BOM's first byte off a `str`), so it gets the stream
/// without one.
#[tokio::test]
async fn events_match_an_independent_parser() {
    use eventsource_stream::Eventsource;
    use futures_util::StreamExt;

    const LINES: &[&str] = &[
        "data: x",
        "data",
        "data:",
        "data:  y",
        "data: é☃🦀",
        "id: 1",
        "id: two",
        "id",
        "id: a\0b",
        "event: tick",
        "event:",
        ": comment",
        ":",
        "retry: 10",
        "retry: x",
        "retry: 99999999999999999999",
        "other: field",
        // Blank lines, thrice as likely: they end the blocks.
        "",
        "",
        "",
    ];
    const ENDS: &[&str] = &["\n", "\r\n", "\r"];
    let mut rng = fastrand::Rng::with_seed(7);
    let mut compared = 0;
    for round in 0..500 {
        let mut stream = String::new();
        if rng.bool() {
            stream.push('\u{feff}');
        }
        for _ in 0..rng.usize(1..30) {
            stream.push_str(LINES[rng.usize(..LINES.len())]);
            stream.push_str(ENDS[rng.usize(..ENDS.len())]);
        }
        stream.push_str("\n\n");
        let bytes = stream.as_bytes();
        let mut chunks = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let end = (at + rng.usize(1..8)).min(bytes.len());
            chunks.push(&bytes[at..end]);
            at = end;
        }

        let mut dispatcher = Dispatcher::default();
        let ours: Vec<_> = read_chunks(&chunks)
            .iter()
            .filter_map(|b| dispatcher.dispatch(b.fields()))
            .map(|e| (e.last_event_id, e.event_type, e.data, e.retry))
            .collect();
        let unmarked = stream.strip_prefix('\u{feff}').unwrap_or(&stream);
        let input = futures_util::stream::iter(
            unmarked
                .as_bytes()
                .chunks(rng.usize(1..8))
                .map(|c| Ok::<_, std::convert::Infallible>(c.to_vec())),
        );
        let theirs: Vec<_> = input
            .eventsource()
            .map(|e| {
                let e = e.unwrap();
                let retry = e.retry.map(|r| u64::try_from(r.as_millis()).unwrap());
                (e.id, e.event, e.data, retry)
            })
            .collect()
            .await;
        assert_eq!(ours, theirs, "round {round}: {stream:?}");
        compared += ours.len();
    }
    assert!(compared > 500, "only {compared} events compared");
}
