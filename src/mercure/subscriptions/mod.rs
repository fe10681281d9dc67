//! Active subscriptions (draft "Active Subscriptions"; pre-1.0 paths and documents in
//! compatibility mode): the registry of open subscriptions, the private `mercure` events
//! published when one opens or ends, and the web API that lists them.
//!
//! Each subscription (one per matcher parameter of a connection) has a topic under the hub
//! path: `{hub path}/subscriptions/{match_type}/{match}/{subscriber}` (pre-1.0:
//! `{hub path}/subscriptions/{topic}/{subscriber}`), each variable percent-encoded once as a
//! whole. The subscriber id is a random `urn:uuid:` per connection: nothing a client sends
//! can choose or guess it.
//!
//! The registry and the events are here; the subscription API, which reads the registry, is
//! in [`api`].

mod api;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use super::matcher::MatcherType;
use super::new_urn_uuid;
use crate::{
    hub::{Directory, Hub, Update},
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
    /// Shared by the entries of one connection.
    subscriber: Arc<str>,
}

impl Entry {
    /// The entry as other nodes read it from the cluster's directory.
    fn to_record(&self) -> String {
        json!({
            "match_type": self.info.match_type,
            "match": self.info.matcher,
            "payload": self.info.payload,
            "subscriber": &*self.subscriber,
        })
        .to_string()
    }

    /// An entry another node recorded; `None` for a record that does not parse.
    fn from_record(record: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(record).ok()?;
        let match_type = match value.get("match_type")? {
            Value::Null => None,
            Value::String(name) => Some(MatcherType::from_name(name)?.name()),
            _ => return None,
        };
        Some(Self {
            info: SubscriptionInfo {
                match_type,
                matcher: value.get("match")?.as_str()?.to_owned(),
                payload: value.get("payload").filter(|p| !p.is_null()).cloned(),
            },
            subscriber: Arc::from(value.get("subscriber")?.as_str()?),
        })
    }
}

/// The open subscriptions, by topic.
#[derive(Debug)]
pub struct Registry {
    hub: Arc<Hub>,
    /// `{hub path}/subscriptions`.
    base: String,
    /// Keyed by topic; the key is shared with the connection's [`Record`] and with the
    /// hub's history of subscription events. This node's subscriptions only.
    entries: Mutex<BTreeMap<Arc<str>, Entry>>,
    /// In a cluster, where every node records its subscriptions for the API of every node.
    directory: Option<Arc<dyn Directory>>,
}

/// A connection's subscriptions: dropping it ends them (and says so).
#[derive(Debug)]
pub struct Record {
    registry: Arc<Registry>,
    topics: Vec<Arc<str>>,
}

impl Drop for Record {
    fn drop(&mut self) {
        self.registry.close(&self.topics);
    }
}

impl Registry {
    /// An empty registry for the hub served at `hub_path`.
    pub fn new(hub: Arc<Hub>, hub_path: &str, directory: Option<Arc<dyn Directory>>) -> Self {
        Self {
            hub,
            base: format!("{hub_path}/subscriptions"),
            entries: Mutex::new(BTreeMap::new()),
            directory,
        }
    }

    /// Every active subscription: this node's, and in a cluster the other nodes' too (this
    /// node's own entries win: the directory is written in the background).
    async fn snapshot(&self) -> BTreeMap<Arc<str>, Entry> {
        let mut all = self.lock().clone();
        let Some(directory) = &self.directory else {
            return all;
        };
        for (topic, record) in directory.list().await.unwrap_or_default() {
            if let Some(entry) = Entry::from_record(&record) {
                all.entry(Arc::from(topic)).or_insert(entry);
            }
        }
        all
    }

    /// Registers a connection's subscriptions and publishes their `active: true` events.
    /// Identical matchers of one connection are one subscription.
    pub fn open(self: &Arc<Self>, infos: Vec<SubscriptionInfo>, legacy: bool) -> Record {
        let subscriber: Arc<str> = Arc::from(new_urn_uuid());
        let mut topics: Vec<Arc<str>> = Vec::new();
        let mut opened = Vec::new();
        {
            let mut entries = self.lock();
            for info in infos {
                let topic: Arc<str> = Arc::from(self.topic_of(&info, &subscriber, legacy));
                if topics.contains(&topic) {
                    continue;
                }
                let entry = Entry {
                    info,
                    subscriber: subscriber.clone(),
                };
                opened.push(document(&topic, &entry, true));
                if let Some(directory) = &self.directory {
                    directory.put(topic.clone(), entry.to_record());
                }
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

    fn close(&self, topics: &[Arc<str>]) {
        let closed: Vec<(Arc<str>, Value, bool)> = {
            let mut entries = self.lock();
            topics
                .iter()
                .filter_map(|topic| {
                    let entry = entries.remove(&**topic)?;
                    if let Some(directory) = &self.directory {
                        directory.remove(topic.clone());
                    }
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
    fn announce(&self, topic: &Arc<str>, doc: &Value, legacy: bool) {
        let event_type = (!legacy).then(|| super::RESERVED_TYPE.to_owned());
        let Ok(fields) = EventFields::new(event_type, None) else {
            return;
        };
        let data = doc.to_string();
        let update = Update {
            topics: vec![topic.clone()],
            private: true,
            id: Some(new_urn_uuid()),
            unique_id: false,
            fields: &fields,
            data: &data,
        };
        // Fails only when the hub is shutting down, when nobody is left to tell.
        self.hub.publish_detached(update);
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

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Arc<str>, Entry>> {
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
            "subscriber": &*entry.subscriber,
            "active": active,
        }),
        None => json!({
            "@context": LEGACY_CONTEXT,
            "id": topic,
            "type": "Subscription",
            "topic": entry.info.matcher,
            "subscriber": &*entry.subscriber,
            "active": active,
        }),
    };
    if let Some(payload) = &entry.info.payload {
        doc["payload"] = payload.clone();
    }
    doc
}

/// Everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// RFC 6570 simple expansion of one variable: everything but unreserved characters is
/// percent-encoded (as UTF-8 bytes), once, `%` included.
fn encode(value: &str) -> String {
    utf8_percent_encode(value, NOT_UNRESERVED).to_string()
}

/// Decodes a path segment's `%XX` escapes; `None` if the result is not UTF-8.
fn decode(segment: &str) -> Option<String> {
    percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

#[cfg(test)]
mod tests;
