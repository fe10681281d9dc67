//! The `urlpattern` matcher type: WHATWG URL Pattern matching (draft-dunglas-mercure-08,
//! "URL Pattern"), with the hub's URL as the base for relative patterns and topics.
//!
//! Compilation goes through the `urlpattern` crate with [`BoundedRegex`], a wrapper around the
//! `regex` crate. That engine matches in linear time, which is one of the two mitigations the
//! draft's "URL-Pattern Denial of Service" section accepts, and the wrapper caps the size of
//! every compiled regular expression and of its lazy-DFA cache, so a crafted pattern (custom
//! regexp groups with counted repetition, say) cannot make one subscription allocate megabytes.

use std::fmt;
use std::sync::Arc;

use url::Url;
use urlpattern::regexp::RegExp;
use urlpattern::{RegexSyntax, UrlPattern, UrlPatternInit, UrlPatternOptions};

/// The largest compiled form, in bytes, of one component's regular expression (the `regex`
/// crate's `size_limit`). A URL pattern compiles to eight of them (protocol to hash).
///
/// Ordinary components need about 1.2 KiB each (`/bar/:id` compiles to `^\/bar\/([^\/]+?)$`,
/// 1.3 KiB), so this leaves a fifty-fold margin. It exists for custom regexp groups such as
/// `(?:a{1000}){1000}` and for URI templates with long prefix modifiers (`{var:1000}`), which
/// would otherwise compile to the crate's 10 MiB default per expression. With the default
/// [`super::MatcherLimits`], one connection's matchers then hold at most 128 × 8 × 64 KiB (64 MiB)
/// of compiled automata, and realistic URL patterns about 10 KiB each.
pub const REGEX_SIZE_LIMIT: usize = 64 * 1024;

/// The lazy-DFA cache bound for one regular expression and one thread using it. When the cache
/// fills, the engine falls back to slower automata that are still linear in the topic length.
const DFA_SIZE_LIMIT: usize = 128 * 1024;

/// A compiled `urlpattern` matcher: the WHATWG URL Pattern, with relative patterns resolved
/// against the hub's URL, and that URL kept to resolve relative topics at match time.
///
/// Cheap to clone: the compiled pattern is shared.
#[derive(Clone)]
pub struct CompiledPattern {
    source: String,
    base: Arc<Url>,
    pattern: Arc<UrlPattern<BoundedRegex>>,
}

/// Why a URL pattern failed to compile; a message for the 400 or 401 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatternError {
    /// The pattern is not a well-formed URL Pattern.
    Invalid(String),
    /// The pattern has a custom regexp group and the limits forbid them.
    RegexpGroup,
}

impl CompiledPattern {
    /// Compiles `source` as a URL Pattern constructor string. A relative pattern (one without
    /// a protocol), such as `/.well-known/mercure/subscriptions/exact/:topic/:subscriber`,
    /// takes `base` (the hub's URL) as its base URL, as the draft requires; an absolute one is
    /// compiled on its own.
    ///
    /// `ignoreCase` is never enabled (the draft forbids it): only the host, which URL
    /// canonicalization lowercases, compares case-insensitively.
    pub(crate) fn compile(
        source: &str,
        base: &Url,
        allow_regexp_groups: bool,
    ) -> Result<Self, PatternError> {
        if has_unopened_host_bracket(source) {
            return Err(PatternError::Invalid(
                "its host has a `]` that closes no `[` (brackets enclose an IPv6 address)".into(),
            ));
        }
        // Only a relative pattern takes the base. Given to an absolute one, the standard
        // still prefixes a relative pathname with the base's directory, so `urn:*` would
        // become `urn:` + `/.well-known/*` and never match a URN.
        let init = match UrlPatternInit::parse_constructor_string::<BoundedRegex>(source, None) {
            Err(urlpattern::Error::BaseUrlRequired) => {
                UrlPatternInit::parse_constructor_string::<BoundedRegex>(source, Some(base.clone()))
            }
            absolute => absolute,
        }
        .map_err(describe)?;
        let options = UrlPatternOptions {
            regex_syntax: RegexSyntax::Rust,
            ignore_case: false,
        };
        let pattern = UrlPattern::<BoundedRegex>::parse(init, options).map_err(describe)?;
        if !allow_regexp_groups && pattern.has_regexp_groups() {
            return Err(PatternError::RegexpGroup);
        }
        Ok(Self {
            source: source.to_owned(),
            base: Arc::new(base.clone()),
            pattern: Arc::new(pattern),
        })
    }

    /// The pattern as the subscriber or the token issuer wrote it.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The address of the compiled pattern, shared by its clones.
    pub fn identity(&self) -> usize {
        Arc::as_ptr(&self.pattern) as usize
    }

    /// Whether the pattern uses custom regexp groups, such as `:id(\d+)`.
    pub fn has_regexp_groups(&self) -> bool {
        self.pattern.has_regexp_groups()
    }

    /// Whether `topic`, resolved against the hub's URL, matches the pattern. A topic that does
    /// not parse as a URL reference never matches (draft: "URL Pattern").
    pub fn matches(&self, topic: &str) -> bool {
        match self.base.join(topic) {
            Ok(url) => self.matches_url(&url),
            Err(_) => false,
        }
    }

    /// [`CompiledPattern::matches`] on a topic resolved beforehand. A topic prepared against
    /// another base URL than this pattern's is resolved again, so the answer is the same.
    pub fn matches_prepared(&self, topic: &PreparedTopic<'_>) -> bool {
        if *self.base != *topic.hub_url {
            return self.matches(topic.topic);
        }
        topic.url.as_ref().is_some_and(|url| self.matches_url(url))
    }

    /// Whether an already resolved URL matches the pattern: the pattern's `test()`, component
    /// by component, without the eight string copies the crate's own `test()` makes.
    pub fn matches_url(&self, url: &Url) -> bool {
        let p = &*self.pattern;
        // The pathname rejects most topics, so it goes first; the outcome is a conjunction,
        // so the order changes nothing else.
        p.pathname
            .matcher
            .matches(url::quirks::pathname(url))
            .is_some()
            && p.hostname
                .matcher
                .matches(url.host_str().unwrap_or_default())
                .is_some()
            && p.protocol.matcher.matches(url.scheme()).is_some()
            && p.port.matcher.matches(url::quirks::port(url)).is_some()
            && p.search
                .matcher
                .matches(url.query().unwrap_or_default())
                .is_some()
            && p.hash
                .matcher
                .matches(url.fragment().unwrap_or_default())
                .is_some()
            && p.username.matcher.matches(url.username()).is_some()
            && p.password
                .matcher
                .matches(url.password().unwrap_or_default())
                .is_some()
    }
}

/// A topic resolved once against the hub's URL, for matching against many URL patterns:
/// dispatching one update to every subscription would otherwise parse each topic once per
/// pattern.
#[derive(Debug, Clone)]
pub struct PreparedTopic<'a> {
    topic: &'a str,
    hub_url: &'a Url,
    url: Option<Url>,
}

impl<'a> PreparedTopic<'a> {
    /// Resolves `topic` against `hub_url` (the URL the patterns were compiled with).
    pub fn new(topic: &'a str, hub_url: &'a Url) -> Self {
        Self {
            topic,
            hub_url,
            url: hub_url.join(topic).ok(),
        }
    }

    /// The topic as published.
    pub fn as_str(&self) -> &'a str {
        self.topic
    }
}

impl fmt::Debug for CompiledPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CompiledPattern")
            .field(&self.source)
            .finish()
    }
}

impl PartialEq for CompiledPattern {
    /// Two compiled patterns are equal when written identically against the same base.
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.base == other.base
    }
}

impl Eq for CompiledPattern {}

/// Whether a `]` in the pattern's host part closes no `[`. Such a host is invalid anyway (a
/// `]` may only end an IPv6 literal), and the `urlpattern` crate (0.6.0) must not see it:
/// its constructor string parser counts host brackets in an unsigned integer and subtracts
/// one at that `]`, which panics in builds with overflow checks (found by the `url_pattern`
/// fuzz target; the pattern arrives in a subscription query or a token).
///
/// The check follows the parser's reading closely enough to cover every `]` it could take
/// for the host's, and a few more: the host part is what follows the first `:` (and its
/// `//`, if any) when that `:` comes before any `/`, `?` or `#`, up to the next of those;
/// there, brackets are counted outside `{...}` groups and `(...)` regular expressions
/// (whose brackets are not host brackets for the parser either), and an escaped character
/// counts as itself, as it does for the parser.
fn has_unopened_host_bracket(source: &str) -> bool {
    /// Characters, with a backslash-escaped one read as itself and marked escaped.
    fn chars(source: &str) -> impl Iterator<Item = (char, bool)> + '_ {
        let mut it = source.chars();
        std::iter::from_fn(move || match it.next()? {
            '\\' => it.next().map(|c| (c, true)),
            c => Some((c, false)),
        })
    }
    let mut it = chars(source).peekable();
    // The protocol: up to the first `:` that is no name (`:id`), before any path, query or
    // fragment; a pattern without one is relative and has no host.
    loop {
        match it.next() {
            None => return false,
            Some(('/' | '?' | '#', _)) => return false,
            Some((':', false))
                if it
                    .peek()
                    .is_some_and(|&(c, _)| c.is_alphanumeric() || c == '_' || c == '$') => {}
            Some((':', _)) => break,
            Some(_) => {}
        }
    }
    // Skip the authority's `//`: the host part ends at the next `/`.
    for _ in 0..2 {
        if it.peek().is_some_and(|&(c, _)| c == '/') {
            it.next();
        }
    }
    let (mut depth, mut groups, mut regexps) = (0usize, 0usize, 0usize);
    for (c, escaped) in it {
        if regexps > 0 {
            match (c, escaped) {
                ('(', false) => regexps += 1,
                (')', false) => regexps -= 1,
                _ => {}
            }
            continue;
        }
        match (c, escaped) {
            ('(', false) => regexps = 1,
            ('{', false) => groups += 1,
            ('}', false) => groups = groups.saturating_sub(1),
            _ if groups > 0 => {}
            ('/' | '?' | '#', _) => return false,
            ('[', _) => depth += 1,
            (']', _) if depth == 0 => return true,
            (']', _) => depth -= 1,
            _ => {}
        }
    }
    false
}

/// Turns the crate's error into a message; its regexp error carries no detail, so say what
/// the likely causes are.
fn describe(err: urlpattern::Error) -> PatternError {
    match err {
        urlpattern::Error::RegExp(()) => PatternError::Invalid(format!(
            "a regular expression group is invalid (the syntax is the Rust `regex` crate's) or \
             compiles to more than {REGEX_SIZE_LIMIT} bytes"
        )),
        other => PatternError::Invalid(other.to_string()),
    }
}

/// The regular expression engine behind compiled URL patterns: the `regex` crate (linear-time
/// matching) with [`REGEX_SIZE_LIMIT`] and a bounded lazy-DFA cache.
#[derive(Debug)]
pub(crate) struct BoundedRegex(regex::Regex);

impl RegExp for BoundedRegex {
    fn syntax() -> RegexSyntax {
        RegexSyntax::Rust
    }

    fn parse(pattern: &str, _flags: &str, _force_eval: bool) -> Result<Self, ()> {
        // The flags are "u" (always on in `regex`) or "ui"; ignoreCase is never requested.
        bounded_regex(pattern, REGEX_SIZE_LIMIT)
            .map(Self)
            .map_err(|_| ())
    }

    fn matches<'a>(&self, text: &'a str) -> Option<Vec<Option<&'a str>>> {
        let captures = self.0.captures(text)?;
        Some(
            captures
                .iter()
                .skip(1)
                .map(|group| group.map(|m| m.as_str()))
                .collect(),
        )
    }

    fn pattern_string(&self) -> &str {
        self.0.as_str()
    }
}

/// Builds a `regex::Regex` under this module's size bounds; shared with URI templates.
pub(crate) fn bounded_regex(
    pattern: &str,
    size_limit: usize,
) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(size_limit)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Url {
        Url::parse("https://example.com/.well-known/mercure").unwrap()
    }

    fn pattern(source: &str) -> CompiledPattern {
        CompiledPattern::compile(source, &hub(), true).unwrap()
    }

    /// Found by the `url_pattern` fuzz target (and by `jwt`, through a token's selector):
    /// the `urlpattern` crate panicked (unsigned subtraction) on a host `]` without `[`.
    #[test]
    fn a_host_bracket_that_closes_nothing_is_invalid_not_a_panic() {
        for source in [
            "hEtps://example.copleGGGGG]GGGGG.cohttps://*/exampl%e.com/:path*",
            "https://a]b/",
            "https://user@a]/x",
            "http:.]b",
            "foo://a]",
            "https\\://a]",
            "{https}://a]",
            "https://a\\]/",
            "https://{x}]/",
            "https://(a/b)]/",
        ] {
            let err = CompiledPattern::compile(source, &hub(), true).unwrap_err();
            assert!(
                matches!(&err, PatternError::Invalid(m) if m.contains("`]`")),
                "{source}: {err:?}"
            );
        }
        // Brackets elsewhere, or balanced, are not the host's problem.
        for source in [
            "http://[\\:\\:1]/a",
            "https://example.com/a]b",
            "/a]b",
            "https://example.com/:id([a-z]+)",
            "https://:sub([a-z]+).example.com/x",
            "urn:x]",
            // `:a` is a name, so there is no protocol, nor a host.
            "http:a]b",
        ] {
            assert!(!has_unopened_host_bracket(source), "{source}");
        }
    }

    #[test]
    fn named_group_matches_one_segment() {
        let p = pattern("https://example.com/bar/:id");
        assert!(p.matches("https://example.com/bar/1"));
        assert!(p.matches("https://example.com/bar/abc"));
        assert!(!p.matches("https://example.com/bar/1/2"));
        assert!(!p.matches("https://example.com/bar/"));
        assert!(!p.matches("https://example.com/foo"));
        assert!(!p.matches("https://example.org/bar/1"));
        assert!(!p.matches("http://example.com/bar/1"));
    }

    #[test]
    fn wildcard_matches_a_subtree() {
        let p = pattern("https://example.com/users/42/*");
        assert!(p.matches("https://example.com/users/42/books/1"));
        assert!(p.matches("https://example.com/users/42/"));
        assert!(!p.matches("https://example.com/users/43/books/1"));
    }

    #[test]
    fn host_is_case_insensitive_and_path_is_not() {
        let p = pattern("https://example.com/bar/:id");
        assert!(p.matches("https://EXAMPLE.com/bar/1"));
        assert!(!p.matches("https://example.com/BAR/1"));
    }

    #[test]
    fn relative_pattern_and_topic_resolve_against_the_hub_url() {
        let p = pattern("/.well-known/mercure/subscriptions/exact/:topic/:subscriber");
        let relative = "/.well-known/mercure/subscriptions/exact/https%3A%2F%2Fexample.com%2Ffoo/urn%3Auuid%3Abb3de268-05b0-4c65-b44e-8f9acefc29d6";
        assert!(p.matches(relative));
        assert!(p.matches(&format!("https://example.com{relative}")));
        assert!(!p.matches(&format!("https://other.example{relative}")));
    }

    #[test]
    fn absolute_pattern_with_an_opaque_path_ignores_the_base_path() {
        let any_urn = pattern("urn:*");
        assert!(any_urn.matches("urn:isbn:0451450523"));
        assert!(!any_urn.matches("https://example.com/.well-known/x"));
        assert!(!pattern("urn:*").matches("tag:example.com,2026:x"));
    }

    #[test]
    fn unparsable_topic_never_matches() {
        let p = pattern("*://*/*");
        assert!(p.matches("https://example.com/x"));
        assert!(!p.matches("https://exa mple.com/x"));
        assert!(!p.matches("http://[::1"));
    }

    #[test]
    fn regexp_groups_use_a_linear_engine_and_can_be_refused() {
        let p = pattern(r"https://example.com/books/:id(\d+)");
        assert!(p.has_regexp_groups());
        assert!(p.matches("https://example.com/books/12"));
        assert!(!p.matches("https://example.com/books/ab"));
        // The classic catastrophic-backtracking shape is harmless on a linear-time engine.
        let evil = pattern("https://example.com/:x((?:a+)+b)");
        let topic = format!("https://example.com/{}c", "a".repeat(5000));
        assert!(!evil.matches(&topic));
        assert_eq!(
            CompiledPattern::compile(r"https://example.com/:id(\d+)", &hub(), false).unwrap_err(),
            PatternError::RegexpGroup
        );
    }

    #[test]
    fn oversized_regexp_group_is_rejected() {
        let err =
            CompiledPattern::compile("https://example.com/:x((?:a{1000}){1000})", &hub(), true)
                .unwrap_err();
        match err {
            PatternError::Invalid(reason) => assert!(reason.contains("bytes"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_pattern_is_rejected() {
        for bad in [
            "https://example.com/:",
            "https://example.com/(",
            "https://example.com/{",
        ] {
            assert!(
                CompiledPattern::compile(bad, &hub(), true).is_err(),
                "{bad} should not compile"
            );
        }
    }

    #[test]
    fn prepared_topics_match_like_raw_topics() {
        let hub = hub();
        let other_hub = Url::parse("https://other.example/.well-known/mercure").unwrap();
        let patterns = [
            pattern("https://example.com/bar/:id"),
            pattern("/bar/:id"),
            CompiledPattern::compile("/bar/:id", &other_hub, true).unwrap(),
        ];
        for topic in [
            "https://example.com/bar/1",
            "/bar/1",
            "bar/1",
            "http://[::1",
            "x",
        ] {
            let prepared = PreparedTopic::new(topic, &hub);
            assert_eq!(prepared.as_str(), topic);
            for p in &patterns {
                assert_eq!(
                    p.matches_prepared(&prepared),
                    p.matches(topic),
                    "{p:?} {topic}"
                );
            }
        }
        assert!(patterns[2].matches_prepared(&PreparedTopic::new("/bar/1", &hub)));
        assert!(
            !patterns[2].matches_prepared(&PreparedTopic::new("https://example.com/bar/1", &hub))
        );
    }

    #[test]
    fn compiled_pattern_is_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone>() {}
        assert_traits::<CompiledPattern>();
    }
}
