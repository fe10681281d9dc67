//! What a subscriber's stream carries, end to end through the hub: events published with
//! any data and fields (the encoder's own properties are in `sse::event`), streamed by the
//! body a front door answers with, and parsed by an independent parser (eventsource-stream),
//! are the events published, with the ids the hub answered the publishers.

use std::{convert::Infallible, time::Duration};

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use proptest::prelude::*;

use super::*;
use crate::sse::{
    event::properties::{field_value, text},
    SseBody, StreamLimits,
};

/// One publication: the publisher's id (the hub picks one when `None`), type, retry, data.
type Publication = (Option<String>, Option<String>, Option<u64>, String);

fn publication() -> impl Strategy<Value = Publication> {
    (
        prop::option::of(field_value()),
        prop::option::of(field_value()),
        prop::option::of(any::<u64>()),
        text(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_subscriber_reads_what_was_published(
        publications in prop::collection::vec(publication(), 1..8),
        read_size in 1usize..64,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let (seen, expected) = runtime.block_on(async {
            let hub = hub();
            let news = topic("news");
            let subscription = hub.subscribe(vec![news.clone()], None).await.unwrap();
            let mut expected = Vec::new();
            for (i, (id, event_type, retry, data)) in publications.iter().enumerate() {
                let fields = EventFields::new(event_type.clone(), *retry).unwrap();
                // Unique, and never digits only (the hub's own ids).
                let id = id.as_ref().map(|id| format!("{id}-{i}"));
                let published = hub.publish(&news, id, &fields, data).await.unwrap();
                let event_type = event_type
                    .clone()
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "message".to_owned());
                let data = data.replace("\r\n", "\n").replace('\r', "\n");
                expected.push((published.id, event_type, data, *retry));
            }
            let limits = StreamLimits {
                max_events: Some(publications.len() as u64),
                max_duration: None,
            };
            let body = SseBody::new(subscription, Duration::from_secs(15), limits, None);
            let bytes = body.collect().await.unwrap().to_bytes();
            let reads: Vec<_> = bytes
                .chunks(read_size)
                .map(|c| Ok::<_, Infallible>(c.to_vec()))
                .collect();
            let seen: Vec<_> = futures_util::stream::iter(reads)
                .eventsource()
                .map(|e| {
                    let e = e.unwrap();
                    let retry = e.retry.map(|r| u64::try_from(r.as_millis()).unwrap());
                    (e.id, e.event, e.data, retry)
                })
                .collect()
                .await;
            (seen, expected)
        });
        prop_assert_eq!(seen, expected);
    }
}
