//! Entry points for the fuzz targets in `fuzz/`, compiled only with the `fuzzing` cargo
//! feature (off by default, hidden from the docs): not an API.
//!
//! Parsers that are public anyway are fuzzed through their public API
//! ([`crate::sse::SseReader`], [`crate::mercure::matcher`],
//! [`crate::auth::Key::from_jwks_json`], [`crate::auth::Validator`],
//! [`crate::h2wire::hpack::Decoder`]). The two here are private to their modules, where they
//! belong: the PROXY protocol header is read from a socket, and the Mercure publication form
//! is a step of the publish endpoint. Each gets one narrow function that runs the same code
//! as a connection or a request does, rather than making the module's insides public.

use http::StatusCode;
use url::Url;

pub use crate::{
    mercure::Publication,
    proxy_protocol::{ProxyHeader, ProxyProtocolError},
};

/// Reads a PROXY protocol header (version 1 or 2) from the start of `input`, as the
/// listener reads it from a socket, and says how many bytes it consumed. Input that ends
/// before the header does is [`ProxyProtocolError::Closed`].
pub fn proxy_protocol_header(input: &[u8]) -> Result<(ProxyHeader, usize), ProxyProtocolError> {
    crate::proxy_protocol::parse_bytes(input)
}

/// Parses a Mercure publication form (`application/x-www-form-urlencoded` text) for a hub at
/// `hub_url`, with at most `max_topics` topics of at most `max_topic_len` bytes; a refusal
/// is the status and message the publisher would get.
pub fn mercure_publication_form(
    text: &str,
    hub_url: &Url,
    max_topics: usize,
    max_topic_len: usize,
) -> Result<Publication, (StatusCode, String)> {
    let hub_path = hub_url.path().trim_end_matches('/');
    let rules = crate::mercure::FormRules {
        max_topics,
        max_topic_len,
        hub_url,
        hub_path,
    };
    crate::mercure::parse_for_fuzzing(text, &rules)
}
