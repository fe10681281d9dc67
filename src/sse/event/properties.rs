//! Properties of the encoding, checked by an independent parser (eventsource-stream) and by
//! ssegate's own reader (the one the gateway and the client use).
//!
//! What the encoding promises, for any published text:
//!
//! - `data` comes back exactly, but for its line ends: CRLF and CR arrive as LF. The format
//!   cannot carry a CR (all three end a line), so that is the best any encoder can do; a
//!   publisher that needs exact bytes encodes them (JSON, base64).
//! - `id` and `event` values come back exactly, whatever they hold, as long as they hold no
//!   CR, LF or NUL. Those would end the field's line (and let the rest inject fields into
//!   the stream) or, for NUL in an id, make the client ignore it; so they are refused with
//!   an error naming the field, never escaped, stripped or split.
//! - Comments (the opening one, heartbeats) between events change nothing, and neither does
//!   how the stream is cut into reads.

use std::{
    convert::Infallible,
    pin::pin,
    task::{Context, Poll, Waker},
};

use eventsource_stream::Eventsource;
use futures_util::Stream;
use proptest::prelude::*;

use super::*;
use crate::sse::{Dispatcher, SseReader};

/// Text with what is hard for an encoder: the three line ends, NUL, a colon, leading
/// spaces, multi-byte characters, a BOM, and any other character.
pub(crate) fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\r".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\0".to_owned()),
        Just(" ".to_owned()),
        Just(":".to_owned()),
        Just("é☃🦀".to_owned()),
        Just("\u{feff}".to_owned()),
        any::<char>().prop_map(String::from),
        "[a-z]{1,4}",
    ];
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

/// [`text`] without CR, LF and NUL: what an `id` or `event` may hold.
pub(crate) fn field_value() -> impl Strategy<Value = String> {
    text().prop_map(|t| t.replace(['\r', '\n', '\0'], ""))
}

/// One published event.
#[derive(Debug, Clone)]
struct Published {
    id: String,
    event_type: Option<String>,
    retry_ms: Option<u64>,
    data: String,
}

fn published() -> impl Strategy<Value = Published> {
    (
        field_value(),
        prop::option::of(field_value()),
        prop::option::of(any::<u64>()),
        text(),
    )
        .prop_map(|(id, event_type, retry_ms, data)| Published {
            id,
            event_type,
            retry_ms,
            data,
        })
}

/// An event as a client sees it: id, type, data, retry.
type Seen = (String, String, String, Option<u64>);

/// What a client must see of `event`.
fn expected(event: &Published) -> Seen {
    let event_type = match event.event_type.as_deref() {
        None | Some("") => "message".to_owned(),
        Some(t) => t.to_owned(),
    };
    let data = event.data.replace("\r\n", "\n").replace('\r', "\n");
    (event.id.clone(), event_type, data, event.retry_ms)
}

/// The stream a subscriber gets: the opening comment, then each event, with a heartbeat
/// after those `heartbeats` picks; cut into reads at `cuts` (fractions of its length).
fn stream(events: &[Published], heartbeats: &[bool], cuts: &[f64]) -> Vec<Vec<u8>> {
    let mut bytes = OPEN_COMMENT.to_vec();
    for (event, heartbeat) in events.iter().zip(heartbeats.iter().cycle()) {
        let fields = EventFields::new(event.event_type.clone(), event.retry_ms)
            .expect("field values hold no CR, LF or NUL");
        bytes.extend_from_slice(&encode_event(&event.id, &fields, &event.data));
        if *heartbeat {
            bytes.extend_from_slice(HEARTBEAT_COMMENT);
        }
    }
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|f| (f * bytes.len() as f64) as usize)
        .collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
}

/// The events eventsource-stream parses from `chunks`.
fn parse_independently(chunks: Vec<Vec<u8>>) -> Vec<Seen> {
    let input = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
    let mut events = pin!(input.eventsource());
    let mut cx = Context::from_waker(Waker::noop());
    let mut seen = Vec::new();
    loop {
        match events.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(Ok(e))) => {
                let retry = e
                    .retry
                    .map(|r| u64::try_from(r.as_millis()).expect("retry fits"));
                seen.push((e.id, e.event, e.data, retry));
            }
            Poll::Ready(Some(Err(e))) => panic!("eventsource-stream failed: {e}"),
            Poll::Ready(None) => return seen,
            // The input is in memory: the stream never waits.
            Poll::Pending => unreachable!("an in-memory stream is always ready"),
        }
    }
}

/// The events ssegate's own reader gets from `chunks`.
fn parse_with_reader(chunks: &[Vec<u8>]) -> Vec<Seen> {
    let mut reader = SseReader::new(usize::MAX);
    let mut dispatcher = Dispatcher::default();
    let mut seen = Vec::new();
    for chunk in chunks {
        reader.push(chunk);
        while let Some(block) = reader.next_block().expect("no limit") {
            if let Some(e) = dispatcher.dispatch(block.fields()) {
                seen.push((e.last_event_id, e.event_type, e.data, e.retry));
            }
        }
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any events, encoded into a stream and cut anywhere, read back as published (line
    /// ends of the data made LF) by an independent parser and by ssegate's reader.
    #[test]
    fn events_read_back_as_published(
        events in prop::collection::vec(published(), 1..6),
        heartbeats in prop::collection::vec(any::<bool>(), 1..6),
        cuts in prop::collection::vec(0.0..1.0f64, 0..8),
    ) {
        let expected: Vec<Seen> = events.iter().map(expected).collect();
        let chunks = stream(&events, &heartbeats, &cuts);
        prop_assert_eq!(&parse_with_reader(&chunks), &expected);
        prop_assert_eq!(parse_independently(chunks), expected);
    }

    /// A gap notice carries no id: the client's last event id stays the previous event's.
    #[test]
    fn a_notice_keeps_the_last_event_id(event in published(), data in text()) {
        let fields = EventFields::new(event.event_type.clone(), event.retry_ms).unwrap();
        let mut bytes = encode_event(&event.id, &fields, &event.data).to_vec();
        bytes.extend_from_slice(&encode_notice(GAP_EVENT_TYPE, &data));
        let seen = parse_independently(vec![bytes]);
        prop_assert_eq!(seen.len(), 2);
        prop_assert_eq!(&seen[1].0, &event.id);
        prop_assert_eq!(&seen[1].1, GAP_EVENT_TYPE);
        prop_assert_eq!(&seen[1].2, &data.replace("\r\n", "\n").replace('\r', "\n"));
    }

    /// An `id` or `event` with CR, LF or NUL anywhere is refused, naming the field; one
    /// without is accepted.
    #[test]
    fn field_values_with_line_ends_or_nul_are_refused(value in text()) {
        let unsafe_value = value.contains(['\r', '\n', '\0']);
        let as_id = check_field("id", &value);
        let as_type = EventFields::new(Some(value.clone()), None);
        if unsafe_value {
            prop_assert_eq!(as_id, Err(FieldError { field: "id" }));
            prop_assert_eq!(as_type, Err(FieldError { field: "event" }));
        } else {
            prop_assert!(as_id.is_ok());
            prop_assert!(as_type.is_ok());
        }
    }
}
