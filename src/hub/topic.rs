//! Topic names: what a topic may be called, parsed once at the edge.

use std::{fmt, sync::Arc};

/// Longest accepted topic name, in bytes.
pub const MAX_TOPIC_LEN: usize = 256;

/// A valid topic name: one or more segments separated by `/`, each made of ASCII letters,
/// digits and `.`, `_`, `~`, `-` (RFC 3986's unreserved characters), at most
/// [`MAX_TOPIC_LEN`] bytes, no empty segment and no `.` or `..` segment. These names need no
/// percent-encoding in a URL path or query, so the name in `/events/{topic}` is the topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(Arc<str>);

/// Why a string is not a topic name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The name is empty.
    #[error("topic name is empty")]
    Empty,
    /// The name is longer than [`MAX_TOPIC_LEN`].
    #[error("topic name is longer than {MAX_TOPIC_LEN} bytes")]
    TooLong,
    /// The name holds a character outside `A-Z a-z 0-9 . _ ~ -` and `/`.
    #[error("topic name contains {0:?}; allowed are A-Z a-z 0-9 . _ ~ - and / between segments")]
    InvalidChar(char),
    /// The name has an empty, `.` or `..` segment (leading, trailing or double `/`).
    #[error("topic name has an empty, '.' or '..' segment")]
    BadSegment,
}

impl TopicName {
    /// Parses a topic name.
    pub fn parse(name: &str) -> Result<Self, TopicError> {
        if name.is_empty() {
            return Err(TopicError::Empty);
        }
        if name.len() > MAX_TOPIC_LEN {
            return Err(TopicError::TooLong);
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-' | '/')))
        {
            return Err(TopicError::InvalidChar(c));
        }
        if name
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(TopicError::BadSegment);
        }
        Ok(Self(Arc::from(name)))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn shared(&self) -> &Arc<str> {
        &self.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_unreserved_segments() {
        for ok in ["news", "a/b/c", "user-1.feed_x~y", "A9"] {
            assert_eq!(TopicName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(TopicName::parse(""), Err(TopicError::Empty));
        assert_eq!(TopicName::parse("a b"), Err(TopicError::InvalidChar(' ')));
        assert_eq!(TopicName::parse("a%20"), Err(TopicError::InvalidChar('%')));
        assert_eq!(TopicName::parse("é"), Err(TopicError::InvalidChar('é')));
        for bad in ["/a", "a/", "a//b", "a/../b", "."] {
            assert_eq!(TopicName::parse(bad), Err(TopicError::BadSegment), "{bad}");
        }
        assert_eq!(
            TopicName::parse(&"x".repeat(MAX_TOPIC_LEN + 1)),
            Err(TopicError::TooLong)
        );
        assert!(TopicName::parse(&"x".repeat(MAX_TOPIC_LEN)).is_ok());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// The grammar of a topic name, written apart from the parser as a regular
        /// expression (segments of unreserved characters, none `.` or `..`).
        fn is_topic_name(name: &str) -> bool {
            let grammar = regex::Regex::new(r"\A[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*\z").unwrap();
            grammar.is_match(name)
                && name.len() <= MAX_TOPIC_LEN
                && !name.split('/').any(|s| s == "." || s == "..")
        }

        proptest! {
            /// Any string is a topic name exactly when the grammar says so, and a name
            /// parses to itself; a refusal names the first character outside the alphabet.
            #[test]
            fn names_parse_exactly_when_the_grammar_allows(
                name in "([A-Za-z0-9._~/-]|\\.\\.|//|%|é| |\\PC){0,24}",
            ) {
                match TopicName::parse(&name) {
                    Ok(topic) => {
                        prop_assert!(is_topic_name(&name), "{name:?} accepted");
                        prop_assert_eq!(topic.as_str(), name.as_str());
                    }
                    Err(TopicError::InvalidChar(c)) => {
                        prop_assert!(!is_topic_name(&name));
                        let first = name
                            .chars()
                            .find(|c| !(c.is_ascii_alphanumeric() || "._~-/".contains(*c)));
                        prop_assert_eq!(Some(c), first);
                    }
                    Err(_) => prop_assert!(!is_topic_name(&name), "{name:?} refused"),
                }
            }

            /// Names built from valid segments always parse.
            #[test]
            fn names_of_valid_segments_parse(
                segments in prop::collection::vec("[A-Za-z0-9._~-]{1,12}", 1..8),
            ) {
                prop_assume!(segments.iter().all(|s| s != "." && s != ".."));
                let name = segments.join("/");
                let topic = TopicName::parse(&name).unwrap();
                prop_assert_eq!(topic.as_str(), name.as_str());
            }
        }
    }
}
