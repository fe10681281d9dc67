//! Subscription (draft "Subscription" and "Reconnection"; pre-1.0 `topic` selectors in
//! compatibility mode): the matcher parameters from the query and, for `QUERY`, the body;
//! the cursor from `Last-Event-ID`, `last_event_id` or `lastEventID`; the token; then a hub
//! subscription streamed as server-sent events.

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body;

use super::{
    client_limit::ClientSlot,
    filter,
    matcher::{form_pairs, parse_legacy_topics, Matcher},
    subscriptions::{Record, SubscriptionInfo},
    Access, Mercure, Protocol, Rejection, EARLIEST,
};
use crate::{
    http::{error, event_stream_response, unavailable, ResponseBody},
    hub::{SubscribeError, Subscription},
    sse::{EventSource, SseBody, StreamLimits},
    sse::{Next, Resume},
};

/// The response field carrying the reconciliation cursor (pre-1.0: `Last-Event-ID`).
const LAST_EVENT_ID_FIELD: &str = "mercure-last-event-id";

/// The event source of a Mercure stream: the hub subscription, and the record that reports
/// the subscription ended (subscription events) when the stream is dropped.
#[derive(Debug)]
pub struct MercureStream {
    subscription: Subscription,
    _record: Option<Record>,
    _slot: Option<ClientSlot>,
}

/// Mercure streams report a gap with the `Mercure-Last-Event-ID` response field, not with an
/// event the clients do not know.
static NO_NOTICE: Resume = Resume::Live;

impl EventSource for MercureStream {
    fn poll_next(&mut self, cx: &mut Context<'_>, max: usize, out: &mut Vec<Bytes>) -> Poll<Next> {
        self.subscription.poll_next(cx, max, out)
    }

    fn resume(&self) -> &Resume {
        &NO_NOTICE
    }

    fn set_held(&self, held: bool) {
        self.subscription.set_held(held);
    }

    fn set_held_inferred(&self, held: bool) {
        self.subscription.set_held_inferred(held);
    }

    fn describe(&self) -> String {
        // Only exact topics are kept per stream (in the hub's index); patterns are shared.
        format!("mercure, exact topics {:?}", self.subscription.topics())
    }
}

/// A subscription request, parsed.
struct ParsedSubscription {
    protocol: Protocol,
    /// One entry per matcher parameter: (matcher type name, matcher), the type `None` for
    /// pre-1.0 selectors.
    matchers: Vec<(Option<&'static str>, Matcher)>,
    last_event_id: Option<String>,
}

impl Mercure {
    pub(super) async fn subscribe<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        // Before any work: a client over its limit costs a map lookup.
        let slot = match self.client_slot(&parts.extensions) {
            Ok(slot) => slot,
            Err(response) => return response,
        };
        let query = parts.uri.query().unwrap_or("").to_owned();
        // QUERY carries the parameters in a form body too (for matcher lists too long for a
        // URL); GET bodies have no meaning and are not read.
        let body_text = if parts.method.as_str() == "QUERY" {
            match self
                .read_form(&parts.headers, body, "a QUERY subscription body")
                .await
            {
                Ok(text) => text,
                Err(response) => return response,
            }
        } else {
            String::new()
        };
        let request = match self.parse_subscription(&query, &body_text, &parts.headers) {
            Ok(request) => request,
            Err(rejection) => return rejection.into_response(),
        };
        let access = match self.authenticate(&parts.uri, &parts.headers, request.protocol) {
            Ok(Some((access, _))) => Some(Arc::new(access)),
            Ok(None) if self.config.anonymous => None,
            Ok(None) => return self.auth_error(&super::AuthError::MissingToken),
            Err(e) => return self.auth_error(&e),
        };
        self.open_stream(request, access, slot).await
    }

    /// A place among the client's streams, when a limit is configured and the request
    /// knows its client (every request the server accepts does). Over the limit: 429.
    #[allow(clippy::result_large_err)] // the error is the response itself, built once
    fn client_slot(
        &self,
        extensions: &http::Extensions,
    ) -> Result<Option<ClientSlot>, Response<ResponseBody>> {
        let (Some(limit), Some(info)) = (
            &self.client_limit,
            extensions.get::<crate::http::ConnInfo>(),
        ) else {
            return Ok(None);
        };
        let client = info.client_ip();
        match limit.acquire(client) {
            Some(slot) => Ok(Some(slot)),
            None => {
                tracing::debug!(%client, "subscription refused: too many streams from this client");
                let mut response = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many open subscriptions from {client} (mercure.max_streams_per_client = {})",
                        self.config.max_streams_per_client
                    ),
                );
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
                Err(response)
            }
        }
    }

    fn parse_subscription(
        &self,
        query: &str,
        body: &str,
        headers: &http::HeaderMap,
    ) -> Result<ParsedSubscription, Rejection> {
        // The union of query and body; a single-valued parameter takes the query's value.
        let both = match (query.is_empty(), body.is_empty()) {
            (_, true) => query.to_owned(),
            (true, false) => body.to_owned(),
            (false, false) => format!("{query}&{body}"),
        };
        let names: Vec<Vec<u8>> = form_pairs(&both).map(|(name, _)| name).collect();
        let has_match = names
            .iter()
            .any(|n| n.len() >= 5 && n[..5].eq_ignore_ascii_case(b"match"));
        let has_topic = names.iter().any(|n| n == b"topic");
        let protocol = if self.config.legacy && has_topic && !has_match {
            Protocol::Legacy
        } else {
            Protocol::Current
        };
        let matchers: Vec<(Option<&'static str>, Matcher)> = match protocol {
            Protocol::Current => self.cache.parse_subscription_query(&both).map(|list| {
                list.into_iter()
                    .map(|m| (Some(m.match_type.name()), m.matcher))
                    .collect()
            }),
            Protocol::Legacy => parse_legacy_topics(&both, &self.limits)
                .map(|list| list.into_iter().map(|m| (None, m)).collect()),
        }
        .map_err(|e| Rejection::bad(e.to_string()))?;
        if matchers.is_empty() {
            let hint = if has_topic {
                "no topic matcher: `topic` is the pre-1.0 parameter, use `match` (or enable mercure.legacy)"
            } else {
                "no topic matcher: add a `match` (or `match_urlpattern`) parameter"
            };
            return Err(Rejection::bad(hint));
        }
        let cursor_name = match protocol {
            Protocol::Current => "last_event_id",
            Protocol::Legacy => "lastEventID",
        };
        let cursor = |text: &str| {
            form_pairs(text)
                .find(|(name, _)| name == cursor_name.as_bytes())
                .map(|(_, value)| String::from_utf8(value))
        };
        let mut last_event_id = match cursor(query).or_else(|| cursor(body)) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                return Err(Rejection::bad(format!(
                    "`{cursor_name}` is not valid UTF-8"
                )))
            }
        };
        // The header (sent by EventSource on reconnection) wins.
        if let Some(value) = headers.get("last-event-id") {
            match std::str::from_utf8(value.as_bytes()) {
                Ok(id) => last_event_id = Some(id.to_owned()),
                Err(_) => return Err(Rejection::bad("`Last-Event-ID` header is not valid UTF-8")),
            }
        }
        Ok(ParsedSubscription {
            protocol,
            matchers,
            last_event_id: last_event_id.filter(|id| !id.is_empty()),
        })
    }

    async fn open_stream(
        &self,
        request: ParsedSubscription,
        access: Option<Arc<Access>>,
        slot: Option<ClientSlot>,
    ) -> Response<ResponseBody> {
        let ParsedSubscription {
            protocol,
            matchers,
            last_event_id,
        } = request;
        // What the subscription events and API describe, when the feature is on.
        let infos: Option<Vec<SubscriptionInfo>> = self.registry.as_ref().map(|_| {
            matchers
                .iter()
                .map(|(match_type, matcher)| SubscriptionInfo {
                    match_type: *match_type,
                    matcher: matcher.as_str().to_owned(),
                    payload: access
                        .as_ref()
                        .and_then(|a| a.payload_for(matcher.as_str(), &self.cache)),
                })
                .collect()
        });
        let selection = filter::selection(
            matchers.into_iter().map(|(_, m)| m).collect(),
            access.clone(),
            self.hub_url.clone(),
        );
        let subscription = match self
            .hub
            .subscribe_selection(selection, last_event_id.as_deref())
            .await
        {
            Ok(s) => s,
            Err(e @ SubscribeError::Closed) => {
                return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            Err(e @ SubscribeError::Full(_)) => return unavailable(e.to_string(), 1),
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        };
        let cursor = last_event_id
            .as_ref()
            .map(|requested| match subscription.resume() {
                Resume::Complete => requested.as_str(),
                Resume::Gap | Resume::Live => EARLIEST,
            });
        let cursor = cursor.and_then(|c| HeaderValue::from_str(c).ok());
        let record = self
            .registry
            .as_ref()
            .zip(infos)
            .map(|(registry, infos)| registry.open(infos, protocol == Protocol::Legacy));
        let mut lifetime = self.config.max_connection;
        if let Some(expires_at) = access.as_ref().and_then(|a| a.expires_at()) {
            let left = expires_at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            lifetime = lifetime.min(left.max(Duration::from_millis(1)));
        }
        let limits = StreamLimits {
            max_events: None,
            max_duration: Some(lifetime),
        };
        let stream = MercureStream {
            subscription,
            _record: record,
            _slot: slot,
        };
        let body = SseBody::new(stream, self.shared.heartbeat_interval, limits, None);
        let mut response = event_stream_response(ResponseBody::events(body));
        let headers = response.headers_mut();
        if let Some(cursor) = cursor {
            let field = match protocol {
                Protocol::Current => LAST_EVENT_ID_FIELD,
                Protocol::Legacy => "last-event-id",
            };
            headers.insert(field, cursor);
        }
        response
    }
}

/// `application/x-www-form-urlencoded`, parameters (a charset) allowed.
pub(super) fn is_form_content_type(value: &str) -> bool {
    value.split(';').next().is_some_and(|t| {
        t.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}
