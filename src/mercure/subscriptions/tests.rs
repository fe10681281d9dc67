//! Unit tests of the registry (topics, deduplication, forgetting on drop), of the encoding
//! of topic variables, and of the API's helpers (canonical topics, ETags).

use super::api::{canonical_topic, etag_text};
use super::*;
use crate::hub::HubConfig;

fn registry() -> Registry {
    Registry::new(Hub::new(HubConfig::default()), "/.well-known/mercure", None)
}

#[test]
fn encode_keeps_only_unreserved_characters() {
    assert_eq!(encode("AZaz09-._~"), "AZaz09-._~");
    assert_eq!(
        encode("https://example.com/:id"),
        "https%3A%2F%2Fexample.com%2F%3Aid"
    );
    assert_eq!(
        encode("urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6"),
        "urn%3Auuid%3Abb3de268-05b0-4c65-b44e-8f9acefc29d6"
    );
    // Every reserved character of RFC 3986, and space and `+`.
    assert_eq!(
        encode(":/?#[]@!$&'()*+,;= "),
        "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%20"
    );
}

#[test]
fn encode_encodes_percent_once_and_never_keeps_an_existing_escape() {
    // Draft: "any `%` characters it already contains are themselves encoded".
    assert_eq!(encode("a%20b"), "a%2520b");
    assert_eq!(encode("100%"), "100%25");
}

#[test]
fn encode_percent_encodes_the_utf8_bytes_of_non_ascii_characters() {
    // RFC 6570 section 1.6: non-ASCII characters are encoded as their UTF-8 octets.
    assert_eq!(encode("café"), "caf%C3%A9");
    assert_eq!(encode("€"), "%E2%82%AC");
    assert_eq!(encode("𝄞"), "%F0%9D%84%9E");
}

#[test]
fn decode_inverts_encode() {
    for value in [
        "https://example.com/a b%",
        "https://example.com/café/€?q=1#frag",
        "a%20b",
        "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6",
        "",
    ] {
        assert_eq!(decode(&encode(value)).as_deref(), Some(value), "{value}");
    }
}

#[test]
fn decode_accepts_any_valid_escaping_and_keeps_stray_percents() {
    assert_eq!(decode("caf%c3%a9").as_deref(), Some("café"));
    assert_eq!(decode("urn:uuid:1").as_deref(), Some("urn:uuid:1"));
    assert_eq!(
        decode("a+b").as_deref(),
        Some("a+b"),
        "`+` is no space in a path"
    );
    assert_eq!(decode("100%").as_deref(), Some("100%"));
    assert_eq!(decode("%G1%2").as_deref(), Some("%G1%2"));
    assert_eq!(decode("%FF"), None, "not UTF-8");
}

#[test]
fn canonical_topic_is_the_topic_the_registry_built() {
    let registry = registry();
    let info = SubscriptionInfo {
        match_type: Some("exact"),
        matcher: "https://example.com/café b".into(),
        payload: None,
    };
    let subscriber = "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6";
    let topic = registry.topic_of(&info, subscriber, false);
    assert_eq!(
        topic,
        "/.well-known/mercure/subscriptions/exact/https%3A%2F%2Fexample.com%2Fcaf%C3%A9%20b/urn%3Auuid%3Abb3de268-05b0-4c65-b44e-8f9acefc29d6"
    );
    // The segments of the URL, decoded, as the API sees them.
    let segments = vec![
        "exact".to_owned(),
        info.matcher.clone(),
        subscriber.to_owned(),
    ];
    assert_eq!(
        canonical_topic(&registry, &segments, false).as_deref(),
        Some(topic.as_str())
    );

    let legacy = SubscriptionInfo {
        match_type: None,
        matcher: "https://example.com/{id}".into(),
        payload: None,
    };
    let topic = registry.topic_of(&legacy, subscriber, true);
    assert_eq!(
        topic,
        "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2F%7Bid%7D/urn%3Auuid%3Abb3de268-05b0-4c65-b44e-8f9acefc29d6"
    );
    let segments = vec![legacy.matcher.clone(), subscriber.to_owned()];
    assert_eq!(
        canonical_topic(&registry, &segments, true).as_deref(),
        Some(topic.as_str())
    );
    assert_eq!(canonical_topic(&registry, &segments[..1], true), None);
}

#[test]
fn open_deduplicates_and_dropping_the_record_forgets() {
    let registry = Arc::new(registry());
    let info = |matcher: &str| SubscriptionInfo {
        match_type: Some("exact"),
        matcher: matcher.into(),
        payload: None,
    };
    let record = registry.open(vec![info("a"), info("b"), info("a")], false);
    assert_eq!(record.topics.len(), 2);
    let other = registry.open(vec![info("a")], false);
    assert_eq!(
        registry.lock().len(),
        3,
        "another connection, another subscriber"
    );
    drop(record);
    assert_eq!(registry.lock().len(), 1);
    drop(other);
    assert!(registry.lock().is_empty());
}

#[test]
fn etag_text_is_a_valid_opaque_tag_and_one_to_one() {
    let id = "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6";
    assert_eq!(etag_text(id), id);
    assert_eq!(etag_text("a \"b\" \\ café"), "a%20%22b%22%20\\%20café");
    assert_eq!(etag_text("a%20b"), "a%2520b");
    assert_ne!(etag_text("a b"), etag_text("a%20b"));
    for id in ["x y", "\"", "é", "%"] {
        let text = etag_text(id);
        assert!(
            text.bytes()
                .all(|b| b == 0x21 || (0x23..=0x7E).contains(&b) || b >= 0x80),
            "{text}"
        );
    }
}
