//! Tests of the matcher module's public API, using the draft's own examples.

use super::*;

fn hub() -> Url {
    Url::parse("https://example.com/.well-known/mercure").unwrap()
}

fn parse(query: &str) -> Result<Vec<TopicMatcher>, MatcherError> {
    parse_subscription_query(query, &hub(), &MatcherLimits::default())
}

/// `application/x-www-form-urlencoded`, as `URLSearchParams` serializes.
fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[test]
fn draft_subscription_example_selects_the_documented_topics() {
    // draft "Subscription": match=https://example.com/foo, match=bar,
    // match_urlpattern=https://example.com/bar/:id
    let query = encode(&[
        ("match", "https://example.com/foo"),
        ("match", "bar"),
        ("match_urlpattern", "https://example.com/bar/:id"),
    ]);
    let matchers = parse(&query).unwrap();
    assert_eq!(matchers.len(), 3);
    assert_eq!(matchers[0].match_type, MatcherType::Exact);
    assert_eq!(
        matchers[0].matcher,
        Matcher::Exact("https://example.com/foo".into())
    );
    assert_eq!(matchers[1].matcher, Matcher::Exact("bar".into()));
    assert_eq!(matchers[2].match_type, MatcherType::UrlPattern);
    assert_eq!(matchers[2].value(), "https://example.com/bar/:id");

    let selected = |topic: &str| matchers.iter().any(|m| m.matches(topic));
    assert!(selected("https://example.com/foo"));
    assert!(selected("bar"));
    assert!(selected("https://example.com/bar/1"));
    assert!(selected("https://example.com/bar/abc"));
    assert!(!selected("https://example.com/foo/1"));
    assert!(!selected("https://example.com/bar/1/2"));
    assert!(!selected("https://example.com/bar"));
    assert!(!selected("Bar"));
}

#[test]
fn exact_matching_is_byte_for_byte_without_resolution_or_normalization() {
    let m = selector_matcher(
        None,
        "https://example.com/foo",
        &hub(),
        &MatcherLimits::default(),
    )
    .unwrap();
    assert!(m.matches("https://example.com/foo"));
    assert!(!m.matches("https://EXAMPLE.com/foo"));
    assert!(!m.matches("https://example.com/foo/"));
    assert!(!m.matches("https://example.com:443/foo"));
    assert!(!m.matches("https://example.com/%66oo"));
    // A relative exact matcher is not resolved against the hub's URL.
    let relative = selector_matcher(None, "/foo", &hub(), &MatcherLimits::default()).unwrap();
    assert!(relative.matches("/foo"));
    assert!(!relative.matches("https://example.com/foo"));
    // NFC "é" and its decomposed form are distinct topics.
    let composed = selector_matcher(None, "caf\u{e9}", &hub(), &MatcherLimits::default()).unwrap();
    assert!(!composed.matches("cafe\u{301}"));
}

#[test]
fn match_exact_is_the_explicit_spelling_of_match() {
    let bare = parse("match=bar").unwrap();
    let explicit = parse("match_exact=bar").unwrap();
    assert_eq!(bare, explicit);
    assert_eq!(bare[0].match_type.name(), "exact");
}

#[test]
fn url_pattern_is_not_an_exact_matcher_and_vice_versa() {
    let pattern = parse("match_urlpattern=https://example.com/bar/:id").unwrap();
    let exact = parse("match=https://example.com/bar/:id").unwrap();
    assert!(pattern[0].matches("https://example.com/bar/1"));
    assert!(!exact[0].matches("https://example.com/bar/1"));
    // Payload selection treats a subscription's matcher string as a topic: both match it.
    assert!(pattern[0].matches("https://example.com/bar/:id"));
    assert!(exact[0].matches("https://example.com/bar/:id"));
}

#[test]
fn wildcard_matches_everything_whatever_the_type() {
    for query in [
        "match=*",
        "match_exact=*",
        "match_urlpattern=*",
        "match=%2A",
    ] {
        let matchers = parse(query).unwrap();
        assert_eq!(matchers[0].matcher, Matcher::Any, "{query}");
        assert_eq!(matchers[0].value(), "*");
        assert!(matchers[0].matches("https://example.com/anything"));
        assert!(matchers[0].matches("not a URL at all"));
    }
    assert_eq!(
        parse("match_urlpattern=*").unwrap()[0].match_type,
        MatcherType::UrlPattern
    );
    for match_type in [None, Some("exact"), Some("urlpattern")] {
        let m = selector_matcher(match_type, "*", &hub(), &MatcherLimits::default()).unwrap();
        assert_eq!(m, Matcher::Any);
    }
    // Only the whole value is the wildcard.
    assert_eq!(
        parse("match=a*").unwrap()[0].matcher,
        Matcher::Exact("a*".into())
    );
}

#[test]
fn unknown_match_parameters_are_rejected_by_name() {
    for name in [
        "match_regex",
        "match_",
        "matchexact",
        "match_Exact",
        "match_URLPattern",
        "Match",
        "MATCH_EXACT",
        "matches",
        "match_uritemplate",
    ] {
        let err = parse(&format!("{name}=x")).unwrap_err();
        assert_eq!(
            err,
            MatcherError::UnknownParameter { name: name.into() },
            "{name}"
        );
        assert!(err.to_string().contains(name));
    }
    // Even without a value, and after a valid matcher.
    assert!(matches!(
        parse("match=a&match_foo"),
        Err(MatcherError::UnknownParameter { .. })
    ));
    // A percent-encoded name is decoded before the check.
    assert!(matches!(
        parse("%6Datch_foo=x"),
        Err(MatcherError::UnknownParameter { .. })
    ));
}

#[test]
fn parameters_outside_the_match_namespace_are_ignored() {
    let matchers = parse("last_event_id=abc&topic=x&mat=y&match=z&authorization=t").unwrap();
    assert_eq!(matchers.len(), 1);
    assert_eq!(matchers[0].value(), "z");
    assert!(parse("last_event_id=abc").unwrap().is_empty());
    assert!(parse("").unwrap().is_empty());
}

#[test]
fn values_are_form_urlencoded_decoded() {
    let query = encode(&[("match", "https://example.com/a b?x=1&y=2;z+%")]);
    let matchers = parse(&query).unwrap();
    assert_eq!(matchers[0].value(), "https://example.com/a b?x=1&y=2;z+%");
    assert_eq!(parse("match=a+b").unwrap()[0].value(), "a b");
    // A stray `%` stays literal, as in the URL standard's parser.
    assert_eq!(parse("match=50%").unwrap()[0].value(), "50%");
    assert_eq!(parse("match=%zz").unwrap()[0].value(), "%zz");
    // Empty sequences between `&` are skipped.
    assert_eq!(parse("&&match=a&&").unwrap().len(), 1);
}

#[test]
fn query_and_body_union_by_joining() {
    let query = "match=a&last_event_id=1";
    let body = encode(&[("match_urlpattern", "https://example.com/b/:id")]);
    let matchers = parse(&format!("{query}&{body}")).unwrap();
    assert_eq!(matchers.len(), 2);
    assert!(matchers[1].matches("https://example.com/b/1"));
}

#[test]
fn invalid_values_are_rejected() {
    let cases = [
        ("match=", "empty"),
        ("match", "empty"),
        ("match=%FF", "UTF-8"),
        ("match=a%00b", "U+0000"),
        ("match=a%1Fb", "U+001F"),
        ("match=a%7Fb", "U+007F"),
        ("match=a%C2%85b", "U+0085"),        // NEL, C1
        ("match=a%E2%80%8Bb", "U+200B"),     // zero-width space, Cf
        ("match=a%E2%80%AEb", "U+202E"),     // right-to-left override, Cf
        ("match=%EF%BB%BFa", "U+FEFF"),      // BOM, Cf
        ("match=a%C2%ADb", "U+00AD"),        // soft hyphen, Cf
        ("match=a%F3%A0%80%81b", "U+E0001"), // language tag, Cf
    ];
    for (query, reason) in cases {
        match parse(query) {
            Err(err @ MatcherError::InvalidValue { .. }) => {
                assert!(err.to_string().contains(reason), "{query}: {err}");
                assert!(err.to_string().contains("`match`"), "{query}: {err}");
            }
            other => panic!("{query}: {other:?}"),
        }
    }
    // Non-ASCII that is not a control or format character is fine.
    assert_eq!(parse("match=caf%C3%A9").unwrap()[0].value(), "café");
}

#[test]
fn malformed_url_patterns_are_rejected_naming_the_value() {
    let query = encode(&[("match_urlpattern", "https://example.com/:id(")]);
    match parse(&query) {
        Err(err @ MatcherError::InvalidUrlPattern { .. }) => {
            assert!(err.to_string().contains("match_urlpattern"), "{err}");
            assert!(
                err.to_string().contains("https://example.com/:id("),
                "{err}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn too_many_matchers_are_rejected() {
    let limits = MatcherLimits {
        max_matchers: 3,
        ..MatcherLimits::default()
    };
    let three = "match=a&match_exact=b&match_urlpattern=/c/:id";
    assert_eq!(
        parse_subscription_query(three, &hub(), &limits)
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        parse_subscription_query(&format!("{three}&match=d"), &hub(), &limits),
        Err(MatcherError::TooManyMatchers { limit: 3 })
    );
    // Non-matcher parameters do not count.
    let with_others = format!("{three}&last_event_id=1&x=2");
    assert!(parse_subscription_query(&with_others, &hub(), &limits).is_ok());
    // The default limit.
    let many = (0..=DEFAULT_MAX_MATCHERS)
        .map(|i| format!("match=t{i}"))
        .collect::<Vec<_>>();
    assert_eq!(
        parse(&many.join("&")),
        Err(MatcherError::TooManyMatchers {
            limit: DEFAULT_MAX_MATCHERS
        })
    );
    assert!(parse(&many[1..].join("&")).is_ok());
}

#[test]
fn too_long_patterns_are_rejected() {
    let limits = MatcherLimits {
        max_pattern_len: 32,
        ..MatcherLimits::default()
    };
    let fits = format!("https://example.com/{}", "a".repeat(12));
    assert_eq!(fits.len(), 32);
    let long = format!("{fits}a");
    let ok = encode(&[("match_urlpattern", &fits)]);
    assert!(parse_subscription_query(&ok, &hub(), &limits).is_ok());
    let query = encode(&[("match_urlpattern", &long)]);
    assert_eq!(
        parse_subscription_query(&query, &hub(), &limits),
        Err(MatcherError::TooLong {
            parameter: "match_urlpattern".into(),
            len: 33,
            limit: 32
        })
    );
    // The length is measured after percent-decoding: `%41` is one byte.
    let encoded = format!("match={}", "%41".repeat(32));
    assert!(parse_subscription_query(&encoded, &hub(), &limits).is_ok());
    assert!(matches!(
        selector_matcher(None, &long, &hub(), &limits),
        Err(MatcherError::TooLong { .. })
    ));
    assert!(matches!(
        parse_legacy_topics(&format!("topic={long}"), &limits),
        Err(MatcherError::TooLong { .. })
    ));
}

#[test]
fn regexp_groups_follow_the_limits() {
    let query = encode(&[("match_urlpattern", r"https://example.com/books/:id(\d+)")]);
    let allowed = parse(&query).unwrap();
    assert!(allowed[0].matches("https://example.com/books/7"));
    assert!(!allowed[0].matches("https://example.com/books/x"));
    let strict = MatcherLimits {
        allow_regexp_groups: false,
        ..MatcherLimits::default()
    };
    assert!(matches!(
        parse_subscription_query(&query, &hub(), &strict),
        Err(MatcherError::RegexpGroupNotAllowed { .. })
    ));
    // Named groups and wildcards are not regexp groups.
    let plain = encode(&[("match_urlpattern", "https://example.com/books/:id/*")]);
    assert!(parse_subscription_query(&plain, &hub(), &strict).is_ok());
}

#[test]
fn relative_url_patterns_use_the_hub_url_as_base() {
    // draft "URL Pattern": a relative pattern for subscription events.
    let query = encode(&[(
        "match_urlpattern",
        "/.well-known/mercure/subscriptions/exact/:topic/:subscriber",
    )]);
    let m = &parse(&query).unwrap()[0];
    let event = "/.well-known/mercure/subscriptions/exact/https%3A%2F%2Fexample.com%2Ffoo/urn%3Auuid%3Abb3de268-05b0-4c65-b44e-8f9acefc29d6";
    assert!(m.matches(event));
    assert!(m.matches(&format!("https://example.com{event}")));
    assert!(!m.matches(&format!("https://evil.example{event}")));

    // draft "Subscription Events": the example event's topic and its matcher.
    let urlpattern_events = selector_matcher(
        Some("urlpattern"),
        "/.well-known/mercure/subscriptions/urlpattern/:match/:subscriber",
        &hub(),
        &MatcherLimits::default(),
    )
    .unwrap();
    assert!(urlpattern_events.matches("/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fexample.com%2F%3Aselector/urn%3Auuid%3Abb3de268-05b0-4c65-b44e-8f9acefc29d6"));
}

#[test]
fn url_pattern_treats_unparsable_topics_as_not_matching() {
    let m = selector_matcher(
        Some("urlpattern"),
        "*://*/*",
        &hub(),
        &MatcherLimits::default(),
    )
    .unwrap();
    assert!(!m.matches("http://[::1"));
    assert!(m.matches("https://example.org/x"));
}

#[test]
fn an_update_matches_when_any_of_its_topics_does() {
    // draft "Subscribers": a subscriber authorized for its own namespace receives a private
    // update about books/1 through the alternate topic users/42/books/1.
    let grant = selector_matcher(
        Some("urlpattern"),
        "https://example.com/users/42/*",
        &hub(),
        &MatcherLimits::default(),
    )
    .unwrap();
    let routing = selector_matcher(
        Some("urlpattern"),
        "https://example.com/books/:id",
        &hub(),
        &MatcherLimits::default(),
    )
    .unwrap();
    let update = [
        "https://example.com/books/1",
        "https://example.com/users/42/books/1",
    ];
    assert!(routing.any_matches(update));
    assert!(grant.any_matches(update));
    assert!(!grant.matches(update[0]));
    let other = ["https://example.com/books/2"];
    assert!(routing.any_matches(other));
    assert!(!grant.any_matches(other));
    assert!(!grant.any_matches([]));
    // The same through topics resolved once.
    let hub = hub();
    let prepared: Vec<_> = update.iter().map(|t| PreparedTopic::new(t, &hub)).collect();
    assert!(routing.any_matches_prepared(&prepared));
    assert!(grant.any_matches_prepared(&prepared));
    assert!(!grant.matches_prepared(&prepared[0]));
    // Owned topics work through `map`.
    let owned = [String::from("https://example.com/users/42/x")];
    assert!(grant.any_matches(owned.iter().map(String::as_str)));
}

#[test]
fn token_selectors_default_to_exact_and_reject_unknown_types() {
    // draft "Subscribers": exact grants for books/1 and books/7.
    let one = selector_matcher(
        Some("exact"),
        "https://example.com/books/1",
        &hub(),
        &MatcherLimits::default(),
    )
    .unwrap();
    let seven = selector_matcher(
        None,
        "https://example.com/books/7",
        &hub(),
        &MatcherLimits::default(),
    )
    .unwrap();
    let grants = [one, seven];
    assert!(grants
        .iter()
        .any(|g| g.matches("https://example.com/books/1")));
    assert!(!grants
        .iter()
        .any(|g| g.matches("https://example.com/books/2")));

    for match_type in ["Exact", "URLPATTERN", "regex", "", "uritemplate"] {
        let err =
            selector_matcher(Some(match_type), "x", &hub(), &MatcherLimits::default()).unwrap_err();
        assert_eq!(
            err,
            MatcherError::UnknownMatchType {
                match_type: match_type.into()
            }
        );
    }
    assert!(matches!(
        selector_matcher(
            Some("urlpattern"),
            "https://example.com/(",
            &hub(),
            &MatcherLimits::default()
        ),
        Err(MatcherError::InvalidUrlPattern { .. })
    ));
    assert!(matches!(
        selector_matcher(None, "", &hub(), &MatcherLimits::default()),
        Err(MatcherError::InvalidValue { .. })
    ));
}

#[test]
fn matcher_type_names_are_canonical() {
    assert_eq!(MatcherType::from_name("exact"), Some(MatcherType::Exact));
    assert_eq!(
        MatcherType::from_name("urlpattern"),
        Some(MatcherType::UrlPattern)
    );
    assert_eq!(MatcherType::from_name("urlPattern"), None);
    assert_eq!(
        MatcherType::from_parameter("match"),
        Some(MatcherType::Exact)
    );
    assert_eq!(
        MatcherType::from_parameter("match_exact"),
        Some(MatcherType::Exact)
    );
    assert_eq!(
        MatcherType::from_parameter("match_urlpattern"),
        Some(MatcherType::UrlPattern)
    );
    assert_eq!(MatcherType::from_parameter("match_match"), None);
    assert_eq!(MatcherType::UrlPattern.to_string(), "urlpattern");
}

#[test]
fn legacy_topics_are_exact_strings_templates_or_the_wildcard() {
    // pre-1.0 "Subscription" example: topic=https://example.com/foo, topic=bar,
    // topic=https://example.com/books/{name}
    let query = encode(&[
        ("topic", "https://example.com/foo"),
        ("topic", "bar"),
        ("topic", "https://example.com/books/{name}"),
        ("lastEventID", "x"),
        ("match_foo", "ignored by the pre-1.0 parser"),
    ]);
    let matchers = parse_legacy_topics(&query, &MatcherLimits::default()).unwrap();
    assert_eq!(matchers.len(), 3);
    assert_eq!(
        matchers[0],
        Matcher::Exact("https://example.com/foo".into())
    );
    assert_eq!(matchers[1], Matcher::Exact("bar".into()));
    assert!(matches!(matchers[2], Matcher::UriTemplate(_)));
    assert!(matchers[2].matches("https://example.com/books/foo"));
    assert!(matchers[2].matches("https://example.com/books/{name}"));
    assert!(!matchers[2].matches("https://example.com/books/a/b"));

    let any = parse_legacy_topics("topic=*", &MatcherLimits::default()).unwrap();
    assert_eq!(any, vec![Matcher::Any]);
}

#[test]
fn legacy_invalid_template_falls_back_to_exact() {
    let m =
        parse_legacy_selector("https://example.com/{unclosed", &MatcherLimits::default()).unwrap();
    assert_eq!(m, Matcher::Exact("https://example.com/{unclosed".into()));
    assert!(m.matches("https://example.com/{unclosed"));
    assert!(!m.matches("https://example.com/x"));
}

#[test]
fn legacy_private_update_example_is_authorized_by_the_alternate_topic() {
    // pre-1.0 "Subscribers": mercure.subscribe = https://example.com/users/foo/{?topic}.
    let grant = parse_legacy_selector(
        "https://example.com/users/foo/{?topic}",
        &MatcherLimits::default(),
    )
    .unwrap();
    let routing =
        parse_legacy_selector("https://example.com/books/{id}", &MatcherLimits::default()).unwrap();
    let update = [
        "https://example.com/books/1",
        "https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1",
    ];
    assert!(routing.matches(update[0]));
    assert!(!grant.matches(update[0]));
    assert!(grant.any_matches(update));
    assert!(!grant.any_matches(["https://example.com/books/2"]));
}

#[test]
fn limits_deserialize_with_defaults() {
    let limits: MatcherLimits = toml::from_str("max_matchers = 10").unwrap();
    assert_eq!(limits.max_matchers, 10);
    assert_eq!(limits.max_pattern_len, DEFAULT_MAX_PATTERN_LEN);
    assert!(limits.allow_regexp_groups);
    assert!(toml::from_str::<MatcherLimits>("max_matcher = 10").is_err());
}

#[test]
fn forbidden_char_finds_controls_and_format_characters() {
    assert_eq!(forbidden_char("https://example.com/é"), None);
    assert_eq!(forbidden_char("a\tb"), Some('\t'));
    assert_eq!(forbidden_char("a\u{9F}"), Some('\u{9F}'));
    assert_eq!(forbidden_char("a\u{2066}b"), Some('\u{2066}'));
}

#[test]
fn matchers_are_send_sync_and_cheap_to_share() {
    fn assert_traits<T: Send + Sync + Clone>() {}
    assert_traits::<Matcher>();
    assert_traits::<TopicMatcher>();
    assert_traits::<MatcherError>();
}
