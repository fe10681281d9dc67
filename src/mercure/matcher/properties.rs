//! Properties of the matcher parsers, on generated values and templates, with independent
//! oracles: `form_urlencoded` encodes the queries, and a small RFC 6570 expander written
//! from the RFC (below) makes the topics a URI template must match.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use proptest::prelude::*;

use super::*;

fn hub() -> Url {
    Url::parse("https://hub.example.com/.well-known/mercure").unwrap()
}

/// A matcher value a request may carry: no control or format character, not empty.
fn value() -> impl Strategy<Value = String> {
    "[^\\p{Cc}\\p{Cf}]{1,40}"
}

/// `name=value` pairs, `application/x-www-form-urlencoded` by the `form_urlencoded` crate.
fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// RFC 6570 "U": everything but the unreserved characters is percent-encoded.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// RFC 6570 "U+R": the reserved characters stay too (pct-encoded triplets in a value stay
/// as they are; the generated values have no `%`).
const NOT_UNRESERVED_OR_RESERVED: &AsciiSet = &NOT_UNRESERVED
    .remove(b':')
    .remove(b'/')
    .remove(b'?')
    .remove(b'#')
    .remove(b'[')
    .remove(b']')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

/// One `{...}` expression with string values: the operator, and per variable its name,
/// prefix length and value (`None`: undefined).
#[derive(Debug, Clone)]
struct Expression {
    operator: Option<char>,
    variables: Vec<(String, Option<u16>, Option<String>)>,
}

impl Expression {
    fn source(&self) -> String {
        let list: Vec<String> = self
            .variables
            .iter()
            .map(|(name, prefix, _)| match prefix {
                Some(n) => format!("{name}:{n}"),
                None => name.clone(),
            })
            .collect();
        let op = self.operator.map(String::from).unwrap_or_default();
        format!("{{{op}{}}}", list.join(","))
    }

    /// The expansion, per RFC 6570 section 3.2 (string values only).
    fn expand(&self) -> String {
        let (first, separator, named, if_empty, reserved) = match self.operator {
            None => ("", ",", false, "", false),
            Some('+') => ("", ",", false, "", true),
            Some('#') => ("#", ",", false, "", true),
            Some('.') => (".", ".", false, "", false),
            Some('/') => ("/", "/", false, "", false),
            Some(';') => (";", ";", true, "", false),
            Some('?') => ("?", "&", true, "=", false),
            _ => ("&", "&", true, "=", false),
        };
        let set = if reserved {
            NOT_UNRESERVED_OR_RESERVED
        } else {
            NOT_UNRESERVED
        };
        let parts: Vec<String> = self
            .variables
            .iter()
            .filter_map(|(name, prefix, value)| {
                let value = value.as_ref()?;
                let value: String = match prefix {
                    Some(n) => value.chars().take(usize::from(*n)).collect(),
                    None => value.clone(),
                };
                let encoded = utf8_percent_encode(&value, set).to_string();
                Some(match (named, encoded.is_empty()) {
                    (false, _) => encoded,
                    (true, true) => format!("{name}{if_empty}"),
                    (true, false) => format!("{name}={encoded}"),
                })
            })
            .collect();
        if parts.is_empty() {
            return String::new();
        }
        format!("{first}{}", parts.join(separator))
    }
}

fn expression() -> impl Strategy<Value = Expression> {
    let operator = prop::option::of(prop::sample::select(vec![
        '+', '#', '.', '/', ';', '?', '&',
    ]));
    let variable = (
        "[a-z][a-z0-9_]{0,5}",
        prop::option::of(1u16..6),
        prop::option::of("[^\\p{Cc}%]{0,8}"),
    );
    (operator, prop::collection::vec(variable, 1..4)).prop_map(|(operator, variables)| Expression {
        operator,
        variables,
    })
}

/// A template: literal parts (no braces) around expressions.
fn template() -> impl Strategy<Value = (String, String)> {
    let literal = "[a-zA-Z0-9/:._~-]{0,8}";
    (
        "https://example\\.com/[a-z]{0,6}",
        prop::collection::vec((expression(), literal), 1..4),
    )
        .prop_map(|(start, parts)| {
            let mut source = start.clone();
            let mut expansion = start;
            for (expression, literal) in parts {
                source.push_str(&expression.source());
                source.push_str(&literal);
                expansion.push_str(&expression.expand());
                expansion.push_str(&literal);
            }
            (source, expansion)
        })
}

proptest! {
    /// A URI template matches every expansion of it (RFC 6570, string values of any
    /// characters, every operator, prefixes), and its own text.
    #[test]
    fn templates_match_their_expansions((source, expansion) in template()) {
        let matcher = parse_legacy_selector(&source, &MatcherLimits::default()).unwrap();
        prop_assert!(matches!(matcher, Matcher::UriTemplate(_)), "{source} compiles");
        prop_assert!(matcher.matches(&expansion), "{source} should match {expansion}");
        prop_assert!(matcher.matches(&source));
    }

    /// An exact matcher value, form-encoded by another encoder, comes back as it was and
    /// matches that topic only.
    #[test]
    fn exact_values_survive_the_query(value in value(), other in value()) {
        for parameter in ["match", "match_exact"] {
            let matchers =
                parse_subscription_query(&query(&[(parameter, &value)]), &hub(), &MatcherLimits::default())
                    .unwrap();
            prop_assert_eq!(matchers.len(), 1);
            prop_assert_eq!(matchers[0].value(), value.as_str());
            prop_assert!(matchers[0].matches(&value));
            prop_assert_eq!(matchers[0].matches(&other), value == "*" || other == value);
        }
    }

    /// A value holding a control or format character is refused, naming its parameter.
    #[test]
    fn values_with_control_characters_are_refused(
        before in value(),
        bad in "[\\p{Cc}\\p{Cf}]",
        after in value(),
    ) {
        let value = format!("{before}{bad}{after}");
        let err = parse_subscription_query(
            &query(&[("match_urlpattern", &value)]),
            &hub(),
            &MatcherLimits::default(),
        )
        .unwrap_err();
        let named = matches!(&err, MatcherError::InvalidValue { parameter, .. } if parameter == "match_urlpattern");
        prop_assert!(named, "{err:?}");
    }

    /// A URL pattern with a named group matches a topic with any segment there, and not one
    /// with a segment more; matching a topic resolved beforehand agrees.
    #[test]
    fn url_pattern_groups_match_one_segment(
        path in prop::collection::vec("[a-z]{1,6}", 0..3),
        segment in "[A-Za-z0-9._~-]{1,12}",
    ) {
        prop_assume!(segment != "." && segment != "..");
        let prefix = format!("https://example.com/{}", path.iter().map(|p| format!("{p}/")).collect::<String>());
        let pattern = format!("{prefix}:id");
        let hub = hub();
        let matcher = selector_matcher(Some("urlpattern"), &pattern, &hub, &MatcherLimits::default()).unwrap();
        let topic = format!("{prefix}{segment}");
        let deeper = format!("{topic}/more");
        prop_assert!(matcher.matches(&topic), "{pattern} should match {topic}");
        prop_assert!(!matcher.matches(&deeper), "{pattern} should not match {deeper}");
        prop_assert!(matcher.matches_prepared(&PreparedTopic::new(&topic, &hub)));
        prop_assert!(!matcher.matches_prepared(&PreparedTopic::new(&deeper, &hub)));
    }

    /// Any query string gets an answer, never a panic, and never more matchers than the
    /// limit.
    #[test]
    fn any_query_gets_an_answer(text in "(match|match_urlpattern|match_exact|topic|[a-z%&=+]){0,12}=?.{0,40}") {
        let limits = MatcherLimits { max_matchers: 4, ..MatcherLimits::default() };
        if let Ok(matchers) = parse_subscription_query(&text, &hub(), &limits) {
            prop_assert!(matchers.len() <= 4);
        }
        if let Ok(matchers) = parse_legacy_topics(&text, &limits) {
            prop_assert!(matchers.len() <= 4);
        }
    }
}
