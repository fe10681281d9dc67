//! Active subscriptions (draft "Active Subscriptions"; pre-1.0 paths and documents in
//! compatibility mode): the registry of open subscriptions, the private `mercure` events
//! published when one opens or ends, and the web API that lists them.
//!
//! Each subscription (one per matcher parameter of a connection) has a topic under the hub
//! path: `{hub path}/subscriptions/{match_type}/{match}/{subscriber}` (pre-1.0:
//! `{hub path}/subscriptions/{topic}/{subscriber}`), each variable percent-encoded once as a
//! whole. The subscriber id is a random `urn:uuid:` per connection: nothing a client sends
//! can choose or guess it.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use http::{header, HeaderValue, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::{auth::AuthError, matcher::MatcherType, new_urn_uuid, Mercure, Protocol};
use crate::{
    body::ResponseBody,
    hub::{Hub, Update},
    routes::error,
    sse::EventFields,
};

/// The JSON-LD context of pre-1.0 documents.
const LEGACY_CONTEXT: &str = "https://mercure.rocks/";

/// One subscription of a new connection.
#[derive(Debug, Clone)]
pub struct SubscriptionInfo {
    /// The matcher type (`None`: a pre-1.0 topic selector).
    pub match_type: Option<&'static str>,
    /// The matcher as sent.
    pub matcher: String,
    /// The payload the subscriber's token attaches to it.
    pub payload: Option<Value>,
}

#[derive(Debug, Clone)]
struct Entry {
    info: SubscriptionInfo,
    subscriber: String,
}

/// The open subscriptions, by topic.
#[derive(Debug)]
pub struct Registry {
    hub: Arc<Hub>,
    /// `{hub path}/subscriptions`.
    base: String,
    entries: Mutex<BTreeMap<String, Entry>>,
}

/// A connection's subscriptions: dropping it ends them (and says so).
#[derive(Debug)]
pub struct Record {
    registry: Arc<Registry>,
    topics: Vec<String>,
}

impl Drop for Record {
    fn drop(&mut self) {
        self.registry.close(&self.topics);
    }
}

impl Registry {
    /// An empty registry for the hub served at `hub_path`.
    pub fn new(hub: Arc<Hub>, hub_path: &str) -> Self {
        Self {
            hub,
            base: format!("{hub_path}/subscriptions"),
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    /// Registers a connection's subscriptions and publishes their `active: true` events.
    /// Identical matchers of one connection are one subscription.
    pub fn open(self: &Arc<Self>, infos: Vec<SubscriptionInfo>, legacy: bool) -> Record {
        let subscriber = new_urn_uuid();
        let mut topics: Vec<String> = Vec::new();
        let mut opened = Vec::new();
        {
            let mut entries = self.lock();
            for info in infos {
                let topic = self.topic_of(&info, &subscriber, legacy);
                if topics.contains(&topic) {
                    continue;
                }
                let entry = Entry {
                    info,
                    subscriber: subscriber.clone(),
                };
                opened.push(document(&topic, &entry, true));
                entries.insert(topic.clone(), entry);
                topics.push(topic);
            }
        }
        for (topic, doc) in topics.iter().zip(opened) {
            self.announce(topic, &doc, legacy);
        }
        Record {
            registry: self.clone(),
            topics,
        }
    }

    fn close(&self, topics: &[String]) {
        let closed: Vec<(String, Value, bool)> = {
            let mut entries = self.lock();
            topics
                .iter()
                .filter_map(|topic| {
                    let entry = entries.remove(topic)?;
                    let legacy = entry.info.match_type.is_none();
                    Some((topic.clone(), document(topic, &entry, false), legacy))
                })
                .collect()
        };
        for (topic, doc, legacy) in closed {
            self.announce(&topic, &doc, legacy);
        }
    }

    /// Publishes a subscription event: private, with the reserved `mercure` type (1.0).
    fn announce(&self, topic: &str, doc: &Value, legacy: bool) {
        let event_type = (!legacy).then(|| super::publish::RESERVED_TYPE.to_owned());
        let Ok(fields) = EventFields::new(event_type, None) else {
            return;
        };
        let data = doc.to_string();
        let update = Update {
            topics: vec![Arc::from(topic)],
            private: true,
            id: Some(new_urn_uuid()),
            unique_id: false,
            fields: &fields,
            data: &data,
        };
        // Fails only when the hub is shutting down, when nobody is left to tell.
        let _ = self.hub.publish_update(update);
    }

    fn topic_of(&self, info: &SubscriptionInfo, subscriber: &str, legacy: bool) -> String {
        match (info.match_type, legacy) {
            (Some(match_type), false) => format!(
                "{}/{match_type}/{}/{}",
                self.base,
                encode(&info.matcher),
                encode(subscriber)
            ),
            _ => format!(
                "{}/{}/{}",
                self.base,
                encode(&info.matcher),
                encode(subscriber)
            ),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The document describing one subscription, in its generation's format.
fn document(topic: &str, entry: &Entry, active: bool) -> Value {
    let mut doc = match entry.info.match_type {
        Some(match_type) => json!({
            "id": topic,
            "type": "subscription",
            "match_type": match_type,
            "match": entry.info.matcher,
            "subscriber": entry.subscriber,
            "active": active,
        }),
        None => json!({
            "@context": LEGACY_CONTEXT,
            "id": topic,
            "type": "Subscription",
            "topic": entry.info.matcher,
            "subscriber": entry.subscriber,
            "active": active,
        }),
    };
    if let Some(payload) = &entry.info.payload {
        doc["payload"] = payload.clone();
    }
    doc
}

/// RFC 6570 simple expansion of one variable: everything but unreserved characters is
/// percent-encoded, once, `%` included.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The opaque text of the ETag for cursor `id`. An entity-tag has no escaping (RFC 9110
/// `etagc`: no space, no `"`), but a publisher may choose an id with either, so those bytes
/// and `%` (for the mapping to stay one-to-one) are percent-encoded; the usual `urn:uuid:` ids
/// pass unchanged.
fn etag_text(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for c in id.chars() {
        match c {
            '!' | '#'..='~' if c != '%' => out.push(c),
            c if !c.is_ascii() => out.push(c),
            c => out.push_str(&format!("%{:02X}", u32::from(c))),
        }
    }
    out
}

/// Decodes a path segment's `%XX` escapes; `None` if the result is not UTF-8.
fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// What a subscription API URL asks for.
enum Query {
    All,
    Matcher {
        match_type: Option<String>,
        matcher: String,
    },
    One {
        topic: String,
    },
}

impl Mercure {
    /// `GET {hub path}/subscriptions[/...]`: needs a token granting `subscribe` on the
    /// requested path (draft "Subscription API").
    pub(super) fn subscription_api<B>(
        &self,
        req: &Request<B>,
        registry: &Registry,
    ) -> Response<ResponseBody> {
        let protocol = if self.config.legacy {
            Protocol::Legacy
        } else {
            Protocol::Current
        };
        let access = match self.authenticate(req.uri(), req.headers(), protocol) {
            Ok(Some((access, _))) => access,
            Ok(None) => return self.auth_error(&AuthError::MissingToken),
            Err(e) => return self.auth_error(&e),
        };
        let path = req.uri().path();
        if !access.can_subscribe(path) {
            return self.auth_error(&AuthError::InsufficientScope);
        }
        let legacy = access.is_legacy();
        let rest = &path[registry.base.len()..];
        let segments: Option<Vec<String>> = rest
            .split('/')
            .skip(1)
            .filter(|s| !s.is_empty())
            .map(decode)
            .collect();
        let Some(segments) = segments else {
            return error(StatusCode::NOT_FOUND, "malformed subscription URL");
        };
        let query = match (segments.as_slice(), legacy) {
            ([], _) => Query::All,
            ([match_type, matcher], false) if MatcherType::from_name(match_type).is_some() => {
                Query::Matcher {
                    match_type: Some(match_type.clone()),
                    matcher: matcher.clone(),
                }
            }
            ([_, _, _], false) | ([_, _], true) => Query::One {
                topic: canonical_topic(registry, &segments, legacy).unwrap_or_default(),
            },
            ([topic], true) => Query::Matcher {
                match_type: None,
                matcher: topic.clone(),
            },
            _ => {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("no subscription resource at {path}"),
                )
            }
        };
        let last_event_id = self.hub.last_event_id().map_or_else(
            || super::subscribe::EARLIEST.to_owned(),
            |id| id.to_string(),
        );
        let entries = registry.lock();
        let body = match query {
            Query::One { topic } => {
                let Some(entry) = entries.get(&topic) else {
                    return error(StatusCode::NOT_FOUND, "no such subscription");
                };
                let mut doc = document(&topic, entry, true);
                if legacy {
                    doc["lastEventID"] = Value::String(last_event_id.clone());
                }
                doc
            }
            query => {
                let list: Vec<Value> = entries
                    .iter()
                    .filter(|(_, e)| e.info.match_type.is_none() == legacy)
                    .filter(|(_, e)| match &query {
                        Query::Matcher {
                            match_type,
                            matcher,
                        } => {
                            e.info.match_type.map(str::to_owned) == *match_type
                                && e.info.matcher == *matcher
                        }
                        _ => true,
                    })
                    .map(|(topic, e)| {
                        let mut doc = document(topic, e, true);
                        if legacy {
                            if let Some(map) = doc.as_object_mut() {
                                map.remove("@context");
                            }
                        }
                        doc
                    })
                    .collect();
                if legacy {
                    json!({
                        "@context": LEGACY_CONTEXT,
                        "id": path,
                        "type": "Subscriptions",
                        "lastEventID": last_event_id,
                        "subscriptions": list,
                    })
                } else {
                    json!({ "id": path, "type": "subscriptions", "subscriptions": list })
                }
            }
        };
        drop(entries);
        let mut response = Response::new(ResponseBody::full(body.to_string()));
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        let content_type = if legacy {
            "application/ld+json"
        } else {
            "application/json"
        };
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("must-revalidate"),
        );
        let quoted = last_event_id.replace('\\', "\\\\").replace('"', "\\\"");
        let link = format!(
            "<{}>; rel=\"mercure\"; last-event-id=\"{quoted}\"; type=\"mercure\"; content-type=\"application/json\"",
            self.hub_url
        );
        if let Ok(link) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, link);
        }
        if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", etag_text(&last_event_id))) {
            headers.insert(header::ETAG, etag);
        }
        response
    }
}

/// The registry key of a single-subscription URL: the segments re-encoded the way topics
/// are built, so that any valid escaping of the URL finds the subscription.
fn canonical_topic(registry: &Registry, segments: &[String], legacy: bool) -> Option<String> {
    match (segments, legacy) {
        ([match_type, matcher, subscriber], false) => Some(format!(
            "{}/{match_type}/{}/{}",
            registry.base,
            encode(matcher),
            encode(subscriber)
        )),
        ([topic, subscriber], true) => Some(format!(
            "{}/{}/{}",
            registry.base,
            encode(topic),
            encode(subscriber)
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubConfig;

    fn registry() -> Registry {
        Registry::new(Hub::new(HubConfig::default()), "/.well-known/mercure")
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
}
