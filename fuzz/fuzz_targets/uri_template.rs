//! Pre-1.0 Mercure topic selectors (RFC 6570 URI templates, compiled to regular
//! expressions), from `topic` query parameters and `mercure` token claims. The input is a
//! selector, then a newline and a topic to match.
//!
//! Besides not panicking: a selector matches its own text (the pre-1.0 rule: a template
//! matches its expansions and itself), and the query-string path agrees with the selector
//! path on the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssegate::mercure::matcher::{parse_legacy_selector, parse_legacy_topics, MatcherLimits};

fuzz_target!(|input: &str| {
    let (selector, topic) = input.split_once('\n').unwrap_or((input, ""));
    let limits = MatcherLimits::default();
    let Ok(matcher) = parse_legacy_selector(selector, &limits) else {
        return;
    };
    assert!(
        matcher.matches(selector),
        "{selector:?} does not match itself"
    );
    let matched = matcher.matches(topic);
    assert_eq!(matcher.as_str(), selector);

    // The same selector sent as a `topic` query parameter.
    let query = format!("topic={}", encode(selector));
    let from_query = parse_legacy_topics(&query, &limits).expect("a selector accepted alone");
    assert_eq!(from_query.len(), 1);
    assert_eq!(from_query[0], matcher);
    assert_eq!(from_query[0].matches(topic), matched);
});

/// `application/x-www-form-urlencoded` value encoding: every byte but the unreserved ones
/// as `%XX`.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
