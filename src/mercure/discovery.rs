//! The OAuth 2.0 Protected Resource Metadata document (RFC 9728) of the hub, at the path
//! derived from the hub URL (draft "Protected Resource Metadata"): what clients need to mint
//! or fetch a token for it without prior configuration.

use http::{header, HeaderValue, Response, StatusCode};

use super::matcher::MatcherType;
use super::Mercure;
use crate::auth::MERCURE_DETAIL_TYPE;
use crate::http::ResponseBody;

/// The metadata document.
pub fn metadata(mercure: &Mercure) -> Response<ResponseBody> {
    let mut document = serde_json::json!({
        "resource": mercure.validator.audience(),
        "authorization_details_types_supported": [MERCURE_DETAIL_TYPE],
        "bearer_methods_supported": ["header"],
        "mercure_cookie": mercure.config.cookie_name,
        "mercure_matcher_types_supported":
            MatcherType::ALL.iter().map(|t| t.name()).collect::<Vec<_>>(),
    });
    if mercure.registry.is_some() {
        document["mercure_subscriptions"] = serde_json::Value::Bool(true);
    }
    let issuers: Vec<&str> = mercure
        .config
        .remote_jwks
        .iter()
        .map(|(iss, _)| iss.as_str())
        .collect();
    // Issuers whose keys are fetched from a URL are authorization servers; self-issuing
    // publishers (keys configured inline) are not advertised, as the draft says.
    if !issuers.is_empty() {
        document["authorization_servers"] = serde_json::json!(issuers);
    }
    let mut response = Response::new(ResponseBody::full(document.to_string()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    response
}
