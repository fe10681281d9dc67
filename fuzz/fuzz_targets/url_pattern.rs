//! Mercure 1.0 topic matchers: subscription query strings (`match`, `match_exact`,
//! `match_urlpattern`) and token selectors, URL patterns compiled to bounded regular
//! expressions. The input is a pattern, then a newline and a topic to match; the whole
//! input is also parsed as a subscription query.
//!
//! Besides not panicking: matching a topic resolved once ([`PreparedTopic`], as dispatch
//! does) agrees with matching it directly, and a pattern sent in a query compiles to the
//! same matcher as the token selector.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssegate::mercure::matcher::{
    parse_subscription_query, selector_matcher, MatcherLimits, PreparedTopic,
};
use url::Url;

fuzz_target!(|input: &str| {
    let hub = Url::parse("https://hub.example.com/.well-known/mercure").expect("a valid URL");
    let limits = MatcherLimits::default();
    let (pattern, topic) = input.split_once('\n').unwrap_or((input, ""));
    let prepared = PreparedTopic::new(topic, &hub);

    if let Ok(matchers) = parse_subscription_query(input, &hub, &limits) {
        assert!(matchers.len() <= limits.max_matchers);
        for m in &matchers {
            assert_eq!(m.matches(topic), m.matches_prepared(&prepared));
        }
    }

    let Ok(matcher) = selector_matcher(Some("urlpattern"), pattern, &hub, &limits) else {
        return;
    };
    let matched = matcher.matches(topic);
    assert_eq!(matched, matcher.matches_prepared(&prepared));
    let query = format!("match_urlpattern={}", encode(pattern));
    let from_query = parse_subscription_query(&query, &hub, &limits)
        .expect("a pattern valid in a token is valid in a query");
    assert_eq!(from_query.len(), 1);
    assert_eq!(from_query[0].matches(topic), matched);
    assert_eq!(from_query[0].value(), matcher.as_str());
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
