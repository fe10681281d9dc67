//! Publication (draft "Publication"): a form-encoded `POST` (its grammar and checks are in
//! the `publication` module) whose publisher's token must grant `publish` on every topic.
//! The answer is the update's id as `text/plain`.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode, Uri};
use http_body::Body;

use super::{
    cors, new_urn_uuid,
    publication::{parse_publication, FormRules, Publication},
    text_plain, Mercure, Protocol,
};
use crate::auth::{AuthError, TokenSource};
use crate::{
    http::{error, unavailable, ConnInfo, ResponseBody},
    hub::{PublishError, Update},
    sse::EventFields,
};

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
        let publication = match parse_publication(&text, &self.form_rules()) {
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

    /// The settings a publication form is checked against.
    fn form_rules(&self) -> FormRules<'_> {
        FormRules {
            max_topics: self.config.max_publish_topics,
            max_topic_len: self.limits.max_pattern_len,
            hub_url: &self.hub_url,
            hub_path: &self.path,
        }
    }

    /// Whether `topic`, resolved against the hub URL, names the hub's path or a path below
    /// it, after dot-segment removal and decoding of percent-encoded unreserved characters
    /// (so `/.well-known/%6Dercure/x` and absolute URLs of any host are caught). The native
    /// API asks too: its topic names are relative references (`mercure/subscriptions/x`
    /// resolves into the namespace of the default hub URL).
    pub fn in_reserved_namespace(&self, topic: &str) -> bool {
        super::publication::in_reserved_namespace(&self.hub_url, &self.path, topic)
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
