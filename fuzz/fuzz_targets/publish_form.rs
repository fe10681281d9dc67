//! Mercure publication forms (`application/x-www-form-urlencoded` bodies of a publish
//! `POST`), through the publish endpoint's own parser.
//!
//! Besides not panicking: an accepted publication can never inject a field into a
//! subscriber's stream. Its topics hold no control character and are not the hub's; its
//! `id` and `type` pass the encoder's field check; and the event the encoder makes of it,
//! read back by the SSE reader, has exactly its id, type, retry and data (line ends made
//! LF). A refusal is a 400 or a 413.
#![no_main]

use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use ssegate::{
    fuzzing::mercure_publication_form,
    sse::{event::encode_event, Dispatcher, EventFields, SseReader},
};
use url::Url;

const MAX_TOPICS: usize = 8;
const MAX_TOPIC_LEN: usize = 2048;

fuzz_target!(|text: &str| {
    let hub = Url::parse("https://hub.example.com/.well-known/mercure").expect("a valid URL");
    let publication = match mercure_publication_form(text, &hub, MAX_TOPICS, MAX_TOPIC_LEN) {
        Ok(publication) => publication,
        Err((status, message)) => {
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE,
                "{status}: {message}"
            );
            assert!(!message.is_empty());
            return;
        }
    };
    assert!((1..=MAX_TOPICS).contains(&publication.topics.len()));
    for topic in &publication.topics {
        assert!(!topic.is_empty() && topic.len() <= MAX_TOPIC_LEN);
        assert!(!topic.chars().any(char::is_control), "{topic:?}");
        assert_ne!(topic, "*");
    }

    // What the hub then encodes (the Mercure hub picks an id when the publisher did not).
    let fields = EventFields::new(publication.event_type.clone(), publication.retry_ms)
        .expect("an accepted type is a valid field");
    let id = publication
        .id
        .clone()
        .unwrap_or_else(|| "urn:uuid:x".to_owned());
    ssegate::sse::event::check_field("id", &id).expect("an accepted id is a valid field");
    let frame = encode_event(&id, &fields, &publication.data);

    let mut reader = SseReader::new(usize::MAX);
    reader.push(&frame);
    let block = reader
        .next_block()
        .expect("no limit")
        .expect("a whole event");
    assert_eq!(block.raw(), &frame, "one event is one block");
    assert!(
        reader.finish().expect("no limit").is_none(),
        "nothing after it"
    );
    let event = Dispatcher::default()
        .dispatch(block.fields())
        .expect("an event with data");
    assert_eq!(event.last_event_id, id);
    let event_type = publication.event_type.as_deref().unwrap_or("message");
    assert_eq!(event.event_type, event_type);
    assert_eq!(event.retry, publication.retry_ms);
    let data = publication.data.replace("\r\n", "\n").replace('\r', "\n");
    assert_eq!(event.data, data);
});
