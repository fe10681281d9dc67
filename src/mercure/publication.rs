//! The publication form (draft "Publication"): one or more `topic`s and the optional
//! `data`, `id`, `type`, `retry` and `private`, `application/x-www-form-urlencoded`.
//!
//! Every field that reaches the event stream is checked here against the draft's character
//! rules, and the encoder splits `data` into one `data:` line per line, so no field can
//! inject another into a subscriber's stream (draft "Server-Sent Events Field Injection").
//! Plain functions of the text and a few settings, apart from the endpoint, so the fuzz
//! target runs exactly what a publication request runs.

use url::Url;

use super::{
    matcher::{forbidden_char, form_pairs, WILDCARD},
    Rejection, EARLIEST, RESERVED_TYPE,
};

/// Longest accepted `id` and `type`, in bytes (longer: 413, as the draft asks of field
/// limits). Ids travel in every reconnection's `Last-Event-ID` header.
const MAX_FIELD_BYTES: usize = 1024;

/// A publication, parsed and checked. Public only for the fuzz targets (`fuzzing`); the
/// module is private.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// The `topic` fields, checked.
    pub topics: Vec<String>,
    /// The first `data` field (empty when none).
    pub data: String,
    /// The publisher's `id`, checked.
    pub id: Option<String>,
    /// The `type`, checked.
    pub event_type: Option<String>,
    /// The `retry`, in milliseconds.
    pub retry_ms: Option<u64>,
    /// Whether a `private` field was present.
    pub private: bool,
}

/// What a publication is checked against: the hub's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FormRules<'a> {
    /// Most `topic` fields (`mercure.max_publish_topics`).
    pub(crate) max_topics: usize,
    /// Longest topic, in bytes (the matchers' longest value).
    pub(crate) max_topic_len: usize,
    /// The hub's URL: topics resolve against it.
    pub(crate) hub_url: &'a Url,
    /// The hub URL's path without a trailing `/`: topics at or below it are the hub's own.
    pub(crate) hub_path: &'a str,
}

/// Parses and checks a publication form. Unknown fields are ignored (draft), the first
/// `data` counts, and empty `id` and `type` mean none.
pub(crate) fn parse_publication(
    text: &str,
    rules: &FormRules<'_>,
) -> Result<Publication, Rejection> {
    let bad = Rejection::bad;
    let too_large = Rejection::too_large;
    let mut publication = Publication {
        topics: Vec::new(),
        data: String::new(),
        id: None,
        event_type: None,
        retry_ms: None,
        private: false,
    };
    let mut seen_data = false;
    for (name, value) in form_pairs(text) {
        let field = match name.as_slice() {
            b"topic" => "topic",
            b"data" => "data",
            b"id" => "id",
            b"type" => "type",
            b"retry" => "retry",
            b"private" => "private",
            // Unknown fields are ignored, for future extensions (draft).
            _ => continue,
        };
        let value =
            String::from_utf8(value).map_err(|_| bad(format!("`{field}` is not valid UTF-8")))?;
        match field {
            "topic" => {
                if publication.topics.len() == rules.max_topics {
                    return Err(too_large(format!(
                        "more than {} `topic` fields",
                        rules.max_topics
                    )));
                }
                check_topic(&value, rules)?;
                publication.topics.push(value);
            }
            // The first `data` counts; repeating it has no defined meaning.
            "data" if !seen_data => {
                seen_data = true;
                publication.data = value;
            }
            "id" if !value.is_empty() => {
                if value.len() > MAX_FIELD_BYTES {
                    return Err(too_large(format!("`id` is over {MAX_FIELD_BYTES} bytes")));
                }
                if value.starts_with('#') {
                    return Err(bad(
                        "`id` must not start with `#`: such ids are the hub's".into()
                    ));
                }
                if value == EARLIEST {
                    return Err(bad(
                        "`id` must not be `earliest`: it is the reserved cursor".into(),
                    ));
                }
                if let Some(c) = forbidden_char(&value) {
                    return Err(bad(format!("`id` contains the forbidden character {c:?}")));
                }
                publication.id = Some(value);
            }
            "type" if !value.is_empty() => {
                if value.len() > MAX_FIELD_BYTES {
                    return Err(too_large(format!("`type` is over {MAX_FIELD_BYTES} bytes")));
                }
                if value == RESERVED_TYPE {
                    return Err(bad(
                        "`type` must not be `mercure`: the hub's own events use it".into(),
                    ));
                }
                if let Some(c) = forbidden_char(&value) {
                    return Err(bad(format!(
                        "`type` contains the forbidden character {c:?}"
                    )));
                }
                publication.event_type = Some(value);
            }
            "retry" => {
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("`retry` must be ASCII digits only".into()));
                }
                publication.retry_ms = Some(
                    value
                        .parse()
                        .map_err(|_| bad("`retry` is too large".into()))?,
                );
            }
            // Its presence marks the update private, whatever the value (draft).
            "private" => publication.private = true,
            _ => {}
        }
    }
    if publication.topics.is_empty() {
        return Err(bad("a publication needs at least one `topic` field".into()));
    }
    Ok(publication)
}

fn check_topic(topic: &str, rules: &FormRules<'_>) -> Result<(), Rejection> {
    let bad = |message: String| Err(Rejection::bad(message));
    if topic.is_empty() {
        return bad("`topic` must not be empty".into());
    }
    if topic.len() > rules.max_topic_len {
        return Err(Rejection::too_large(format!(
            "`topic` is over {} bytes",
            rules.max_topic_len
        )));
    }
    if let Some(c) = forbidden_char(topic) {
        return bad(format!("`topic` contains the forbidden character {c:?}"));
    }
    if topic == WILDCARD {
        return bad("`topic` must not be `*`: it is the wildcard matcher, not a topic".into());
    }
    if in_reserved_namespace(rules.hub_url, rules.hub_path, topic) {
        return bad(format!(
            "`topic` {topic:?} is in the hub's reserved namespace {}/",
            rules.hub_path
        ));
    }
    Ok(())
}

/// Whether `topic`, resolved against `hub_url`, names `hub_path` or a path below it, after
/// dot-segment removal and decoding of percent-encoded unreserved characters (so
/// `/.well-known/%6Dercure/x` and absolute URLs of any host are caught).
pub(super) fn in_reserved_namespace(hub_url: &Url, hub_path: &str, topic: &str) -> bool {
    let Ok(url) = hub_url.join(topic) else {
        return false;
    };
    let path = decode_unreserved(url.path());
    let hub_path = decode_unreserved(hub_path);
    path == hub_path
        || path
            .strip_prefix(hub_path.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Decodes `%XX` escapes of unreserved characters (RFC 3986: ALPHA, DIGIT, `-._~`); other
/// escapes are kept, with their hex digits uppercased so that equal paths compare equal.
///
/// This is RFC 3986 section 6.2.2 normalization, not decoding: `%2F` must stay distinct
/// from `/`. The `percent-encoding` crate only decodes every escape, which would merge them
/// (and let `mercure%2Fsubscriptions` pass as outside the reserved namespace or inside it
/// depending on the side), so this stays hand-written.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        if let (b'%', Some(hex)) = (bytes[i], escape) {
            let hex = std::str::from_utf8(hex).unwrap_or_default();
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    out.push(byte as char);
                } else {
                    out.push('%');
                    out.push_str(&hex.to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

/// [`parse_publication`] for the fuzz targets, its refusal as status and message.
#[cfg(feature = "fuzzing")]
pub(crate) fn parse_for_fuzzing(
    text: &str,
    rules: &FormRules<'_>,
) -> Result<Publication, (http::StatusCode, String)> {
    parse_publication(text, rules).map_err(|r| (r.status, r.message))
}
