//! `authorization_details`: how Mercure entries are parsed and limited, and what the
//! resulting grants answer (publish, receive, payload).

use serde_json::{json, Value};

use super::*;

// --- Authorization details ---

#[test]
fn several_details_are_kept_in_order_and_unknown_types_ignored() {
    let token = hs_token(&details(json!([
        {"type": "https://other.example/detail", "actions": "anything", "topics": 42},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["publish", "subscribe", "publish"], "topics": [{"match": "https://example.com/a"}]},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "*"}], "payload": {"k": 1}, "locations": ["x"]},
    ])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    assert_eq!(grants.details.len(), 2);
    assert_eq!(
        grants.details[0].actions,
        [Action::Publish, Action::Subscribe]
    );
    assert_eq!(grants.details[0].topics, [exact("https://example.com/a")]);
    assert_eq!(
        grants.details[1].payload,
        Some(json!({"k": 1}).as_object().unwrap().clone())
    );
}

#[test]
fn unknown_actions_grant_nothing_and_do_not_invalidate() {
    let token = hs_token(&details(json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["teleport"], "topics": [{"match": "*"}]},
    ])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    assert!(grants.details[0].actions.is_empty());
    assert!(!grants.can_publish(["https://example.com/a"], matches));
    assert!(!grants.can_receive(["https://example.com/a"], matches));
}

#[test]
fn a_token_without_details_grants_nothing() {
    let grants = hs_validator()
        .validate(
            &hs_token(&without(claims(), "authorization_details")),
            now(),
        )
        .unwrap();
    assert!(grants.details.is_empty());
    assert!(!grants.can_receive(["https://example.com/books/1"], matches));
}

#[test]
fn any_defective_mercure_detail_rejects_the_whole_token() {
    let t = MERCURE_DETAIL_TYPE;
    let topics = json!([{"match": "https://example.com/a"}]);
    let cases = [
        json!({"not": "an array"}),
        json!(["not an object"]),
        json!([{"actions": ["publish"], "topics": topics}]),
        json!([{"type": 7, "actions": ["publish"], "topics": topics}]),
        json!([{"type": t, "topics": topics}]),
        json!([{"type": t, "actions": [], "topics": topics}]),
        json!([{"type": t, "actions": "publish", "topics": topics}]),
        json!([{"type": t, "actions": ["publish", 3], "topics": topics}]),
        json!([{"type": t, "actions": ["publish"]}]),
        json!([{"type": t, "actions": ["publish"], "topics": []}]),
        json!([{"type": t, "actions": ["publish"], "topics": ["https://example.com/a"]}]),
        json!([{"type": t, "actions": ["publish"], "topics": [{"match_type": "exact"}]}]),
        json!([{"type": t, "actions": ["publish"], "topics": [{"match": ""}]}]),
        json!([{"type": t, "actions": ["publish"], "topics": [{"match": 5}]}]),
        json!([{"type": t, "actions": ["publish"], "topics": [{"match": "x", "match_type": "regex"}]}]),
        json!([{"type": t, "actions": ["publish"], "topics": [{"match": "x", "match_type": "Exact"}]}]),
        json!([{"type": t, "actions": ["publish"], "topics": [{"match": "x", "match_type": 1}]}]),
        json!([{"type": t, "actions": ["subscribe"], "topics": topics, "payload": "text"}]),
        // One good entry does not save a bad one: no partial acceptance.
        json!([{"type": t, "actions": ["publish"], "topics": topics}, {"type": t, "actions": ["publish"], "topics": []}]),
    ];
    for case in cases {
        let result = hs_validator().validate(&hs_token(&details(case.clone())), now());
        assert!(
            matches!(token_error(result), TokenError::AuthorizationDetails(_)),
            "{case}"
        );
    }
}

#[test]
fn match_type_defaults_to_exact_and_the_wildcard_ignores_it() {
    let token = hs_token(&details(json!([{
        "type": MERCURE_DETAIL_TYPE,
        "actions": ["publish"],
        "topics": [{"match": "https://example.com/a"}, {"match": "*", "match_type": "whatever"}]
    }])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    assert_eq!(grants.details[0].topics[0].match_type, DEFAULT_MATCH_TYPE);
    assert!(grants.can_publish(["https://example.com/anything"], |_, _| false));
}

#[test]
fn extra_matcher_types_can_be_enabled() {
    let token = hs_token(&details(json!([{
        "type": MERCURE_DETAIL_TYPE, "actions": ["publish"], "topics": [{"match": "x", "match_type": "glob"}]
    }])));
    assert!(hs_validator().validate(&token, now()).is_err());
    let validator = hs_validator().with_matcher_types(["exact", "urlpattern", "glob"]);
    assert_eq!(
        validator.validate(&token, now()).unwrap().details[0].topics[0].match_type,
        "glob"
    );
}

#[test]
fn detail_limits_are_enforced() {
    let limits = Limits {
        max_details: 1,
        max_topics_per_detail: 2,
        max_match_bytes: 10,
        ..Limits::default()
    };
    let validator = hs_validator().with_limits(limits);
    let entry = |topics: Value| json!({"type": MERCURE_DETAIL_TYPE, "actions": ["publish"], "topics": topics});
    let ok = json!([entry(json!([{"match": "a"}, {"match": "0123456789"}]))]);
    validator.validate(&hs_token(&details(ok)), now()).unwrap();
    for case in [
        json!([
            entry(json!([{"match": "a"}])),
            entry(json!([{"match": "b"}]))
        ]),
        json!([entry(
            json!([{"match": "a"}, {"match": "b"}, {"match": "c"}])
        )]),
        json!([entry(json!([{"match": "01234567890"}]))]),
    ] {
        let result = validator.validate(&hs_token(&details(case.clone())), now());
        assert!(
            matches!(token_error(result), TokenError::AuthorizationDetails(_)),
            "{case}"
        );
    }
}

#[test]
fn selector_check_failures_reject_the_token() {
    let validator = hs_validator().with_selector_check(std::sync::Arc::new(|s: &TopicSelector| {
        if s.match_type == "urlpattern" && s.value.contains('(') {
            Err("does not compile".to_owned())
        } else {
            Ok(())
        }
    }));
    validator.validate(&hs_token(&claims()), now()).unwrap();
    let bad = details(
        json!([{"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://e/(", "match_type": "urlpattern"}]}]),
    );
    assert!(matches!(
        token_error(validator.validate(&hs_token(&bad), now())),
        TokenError::AuthorizationDetails(_)
    ));
}

// --- Grants ---

#[test]
fn publishing_needs_every_topic_granted() {
    let token = hs_token(&details(json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["publish"], "topics": [{"match": "https://example.com/books/:id", "match_type": "urlpattern"}]},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://example.com/users/42/*", "match_type": "urlpattern"}]},
    ])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    assert!(grants.can_publish(
        ["https://example.com/books/1", "https://example.com/books/2"],
        matches
    ));
    assert!(!grants.can_publish(
        [
            "https://example.com/books/1",
            "https://example.com/users/42/books/1"
        ],
        matches
    ));
    assert!(!grants.can_publish([], matches));
    assert_eq!(grants.selectors(Action::Publish).count(), 1);
}

#[test]
fn a_private_update_is_received_when_any_topic_is_granted() {
    // The draft's alternate-topic example.
    let token = hs_token(&details(json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://example.com/users/42/*", "match_type": "urlpattern"}]},
    ])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    assert!(grants.can_receive(
        [
            "https://example.com/books/1",
            "https://example.com/users/42/books/1"
        ],
        matches
    ));
    assert!(!grants.can_receive(["https://example.com/books/1"], matches));
    assert!(!grants.can_publish(["https://example.com/users/42/books/1"], matches));
}

#[test]
fn payload_comes_from_the_first_matching_subscribe_detail() {
    // The draft's payload example.
    let token = hs_token(&details(json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://example.com/foo"}], "payload": {"custom1": "foo"}},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://example.com/bar/:id", "match_type": "urlpattern"}], "payload": {"custom2": "bar"}},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["publish"], "topics": [{"match": "*"}], "payload": {"publisher": true}},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "*"}], "payload": {"custom3": "default"}},
    ])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    let payload = |m: &str| {
        grants
            .payload_for(m, matches)
            .map(|p| Value::Object(p.clone()))
    };
    assert_eq!(
        payload("https://example.com/foo"),
        Some(json!({"custom1": "foo"}))
    );
    // The subscription's own urlpattern string, taken as a topic, matches itself.
    assert_eq!(
        payload("https://example.com/bar/:id"),
        Some(json!({"custom2": "bar"}))
    );
    assert_eq!(
        payload("https://example.com/other"),
        Some(json!({"custom3": "default"}))
    );
}

#[test]
fn the_first_matching_detail_decides_even_without_payload() {
    let token = hs_token(&details(json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "https://example.com/foo"}]},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [{"match": "*"}], "payload": {"d": 1}},
    ])));
    let grants = hs_validator().validate(&token, now()).unwrap();
    assert_eq!(grants.payload_for("https://example.com/foo", matches), None);
}
