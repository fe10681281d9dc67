//! Publication (draft "Publication"): a form-encoded `POST` with one or more `topic`s and
//! the optional `data`, `id`, `type`, `retry` and `private`; the publisher's token must grant
//! `publish` on every topic. The answer is the update's id as `text/plain`.
//!
//! Every field that reaches the event stream is checked here against the draft's character
//! rules, and the encoder splits `data` into one `data:` line per line, so no field can
//! inject another into a subscriber's stream (draft "Server-Sent Events Field Injection").

use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode, Uri};
use http_body::Body;

use super::{
    cors,
    matcher::{forbidden_char, form_pairs, WILDCARD},
    new_urn_uuid, text_plain, Mercure, Protocol, Rejection, EARLIEST, RESERVED_TYPE,
};
use crate::auth::{AuthError, TokenSource};
use crate::{
    http::{error, unavailable, ConnInfo, ResponseBody},
    hub::{PublishError, Update},
    sse::EventFields,
};

/// Longest accepted `id` and `type`, in bytes (longer: 413, as the draft asks of field
/// limits). Ids travel in every reconnection's `Last-Event-ID` header.
const MAX_FIELD_BYTES: usize = 1024;

/// A publication, parsed and checked.
struct Publication {
    topics: Vec<String>,
    data: String,
    id: Option<String>,
    event_type: Option<String>,
    retry_ms: Option<u64>,
    private: bool,
}

impl Mercure {
    pub(super) async fn publish<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let client = req.extensions().get::<ConnInfo>().map(ConnInfo::client_ip);
        // First: a refused flood costs no body read nor token verification.
        if let Err(response) = self.shared.publish_limits.check(client, req.headers()) {
            return response;
        }
        let (parts, body) = req.into_parts();
        let text = match self.read_form(&parts.headers, body, "a publication").await {
            Ok(text) => text,
            Err(response) => return response,
        };
        let publication = match self.parse_publication(&text) {
            Ok(p) => p,
            Err(rejection) => return rejection.into_response(),
        };
        if self.shared.publish_requires_auth {
            let protocol = if self.config.legacy {
                Protocol::Legacy
            } else {
                Protocol::Current
            };
            let (access, source) = match self.authenticate(&parts.uri, &parts.headers, protocol) {
                Ok(Some(found)) => found,
                Ok(None) => return self.auth_error(&AuthError::MissingToken),
                Err(e) => return self.auth_error(&e),
            };
            if source == TokenSource::Cookie
                && !self.same_or_trusted_origin(&parts.uri, &parts.headers)
            {
                return error(
                    StatusCode::FORBIDDEN,
                    "a cookie-authorized publication needs an Origin or Referer of this hub or an allowed origin",
                );
            }
            if !access.can_publish(publication.topics.iter().map(String::as_str)) {
                return self.auth_error(&AuthError::InsufficientScope);
            }
        }
        self.dispatch(publication).await
    }

    async fn dispatch(&self, publication: Publication) -> Response<ResponseBody> {
        let Publication {
            topics,
            data,
            id,
            event_type,
            retry_ms,
            private,
        } = publication;
        let fields = match EventFields::new(event_type, retry_ms) {
            Ok(fields) => fields,
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        };
        let id = id.unwrap_or_else(new_urn_uuid);
        let update = Update {
            topics: topics.into_iter().map(Arc::from).collect(),
            private,
            id: Some(id),
            unique_id: false,
            fields: &fields,
            data: &data,
        };
        match self.hub.publish_update(update).await {
            Ok(published) => {
                tracing::debug!(id = %published.id, private, "mercure update published");
                let mut response = Response::new(ResponseBody::full(published.id));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, text_plain());
                response
            }
            Err(e @ PublishError::Closed) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            // The publisher retries; a second later the shared log is usually back.
            Err(e @ PublishError::Unavailable) => unavailable(e.to_string(), 1),
            Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
        }
    }

    fn parse_publication(&self, text: &str) -> Result<Publication, Rejection> {
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
            let value = String::from_utf8(value)
                .map_err(|_| bad(format!("`{field}` is not valid UTF-8")))?;
            match field {
                "topic" => {
                    if publication.topics.len() == self.config.max_publish_topics {
                        return Err(too_large(format!(
                            "more than {} `topic` fields",
                            self.config.max_publish_topics
                        )));
                    }
                    self.check_topic(&value)?;
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

    fn check_topic(&self, topic: &str) -> Result<(), Rejection> {
        let bad = |message: String| Err(Rejection::bad(message));
        if topic.is_empty() {
            return bad("`topic` must not be empty".into());
        }
        if topic.len() > self.limits.max_pattern_len {
            return Err(Rejection::too_large(format!(
                "`topic` is over {} bytes",
                self.limits.max_pattern_len
            )));
        }
        if let Some(c) = forbidden_char(topic) {
            return bad(format!("`topic` contains the forbidden character {c:?}"));
        }
        if topic == WILDCARD {
            return bad("`topic` must not be `*`: it is the wildcard matcher, not a topic".into());
        }
        if self.in_reserved_namespace(topic) {
            return bad(format!(
                "`topic` {topic:?} is in the hub's reserved namespace {}/",
                self.path
            ));
        }
        Ok(())
    }

    /// Whether `topic`, resolved against the hub URL, names the hub's path or a path below
    /// it, after dot-segment removal and decoding of percent-encoded unreserved characters
    /// (so `/.well-known/%6Dercure/x` and absolute URLs of any host are caught). The native
    /// API asks too: its topic names are relative references (`mercure/subscriptions/x`
    /// resolves into the namespace of the default hub URL).
    pub fn in_reserved_namespace(&self, topic: &str) -> bool {
        let Ok(url) = self.hub_url.join(topic) else {
            return false;
        };
        let path = decode_unreserved(url.path());
        let hub_path = decode_unreserved(&self.path);
        path == hub_path
            || path
                .strip_prefix(hub_path.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// CSRF defence for cookie-borne tokens (draft "Security Considerations"): the request's
    /// `Origin` (else its `Referer`'s origin) must be the hub's own origin, the origin the
    /// request was sent to, or an allowed CORS origin. Neither header: refused.
    fn same_or_trusted_origin(&self, uri: &Uri, headers: &http::HeaderMap) -> bool {
        // An `Origin` header, when present, decides alone: `null` (an opaque origin: a
        // sandboxed document, or a request redirected across origins) matches nothing, and
        // the `Referer` must not vouch for it.
        let origin = match headers.get(header::ORIGIN) {
            Some(value) => value.to_str().ok().map(str::to_owned),
            None => headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(|referer| url::Url::parse(referer).ok())
                .map(|url| url.origin().ascii_serialization()),
        };
        let Some(origin) = origin.filter(|o| !o.is_empty() && o != "null") else {
            return false;
        };
        if origin == self.hub_url.origin().ascii_serialization() {
            return true;
        }
        if cors::is_listed(&self.config.cors, &origin) {
            return true;
        }
        // The target origin as the client addressed it (h2 `:authority`, HTTP/1.1 `Host`);
        // the connection is TLS unless the hub sits behind a proxy, whose scheme the
        // request cannot prove, so both are compared.
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| headers.get(header::HOST)?.to_str().ok().map(str::to_owned));
        authority.is_some_and(|authority| {
            origin == format!("https://{authority}") || origin == format!("http://{authority}")
        })
    }
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
