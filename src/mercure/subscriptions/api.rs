//! The subscription API (draft "Subscription API"; pre-1.0 documents in compatibility
//! mode): `GET {hub path}/subscriptions[/...]` lists the open subscriptions, those of one
//! matcher, or one, read from the [`Registry`], with the ETag and `Link` of the hub's last
//! event id so that a client can subscribe from where the list was taken.

use http::{header, HeaderValue, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::{decode, document, encode, Registry, LEGACY_CONTEXT};
use crate::{
    auth::AuthError,
    http::error,
    http::ResponseBody,
    mercure::{matcher::MatcherType, Mercure, Protocol, EARLIEST},
};

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
    pub(in crate::mercure) async fn subscription_api<B>(
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
        let last_event_id = self
            .hub
            .last_event_id()
            .map_or_else(|| EARLIEST.to_owned(), |id| id.to_string());
        let entries = registry.snapshot().await;
        let body = match query {
            Query::One { topic } => {
                let Some(entry) = entries.get(topic.as_str()) else {
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
pub(super) fn canonical_topic(
    registry: &Registry,
    segments: &[String],
    legacy: bool,
) -> Option<String> {
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

/// The opaque text of the ETag for cursor `id`. An entity-tag has no escaping (RFC 9110
/// `etagc`: no space, no `"`), but a publisher may choose an id with either, so those bytes
/// and `%` (for the mapping to stay one-to-one) are percent-encoded; the usual `urn:uuid:` ids
/// pass unchanged.
pub(super) fn etag_text(id: &str) -> String {
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
