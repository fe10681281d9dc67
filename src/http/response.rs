//! Responses every front door builds the same way: JSON errors, `405` with `Allow`, and the
//! headers of an event stream.

use http::{header, HeaderValue, Request, Response, StatusCode};

use super::ResponseBody;

/// A JSON response with `value`, never cached.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON error response: `{"error": "..."}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response<ResponseBody> {
    json(status, &serde_json::json!({ "error": message.into() }))
}

/// `400` naming the query parameter `name` and what it should have been.
pub fn bad_param(name: &str, expected: &str) -> Response<ResponseBody> {
    error(
        StatusCode::BAD_REQUEST,
        format!("invalid `{name}`: expected {expected}"),
    )
}

/// `503` with `Retry-After`: a dependency (the shared log) is away for a moment.
pub fn unavailable(message: impl Into<String>, retry_after_secs: u32) -> Response<ResponseBody> {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// `405` with the `Allow` header.
pub fn method_not_allowed(allow: &'static str) -> Response<ResponseBody> {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed; allowed: {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// A `200 text/event-stream` response with `body`, uncached and unbuffered by proxies.
pub fn event_stream_response(body: ResponseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx buffers proxied responses unless told otherwise.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The request's query string as decoded `(name, value)` pairs.
pub fn query_pairs<B>(req: &Request<B>) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
}
