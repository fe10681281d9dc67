//! The plain HTTP routes, and the dispatch to the streaming ones.

use std::{
    collections::{BTreeMap, HashMap},
    convert::Infallible,
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use futures_util::stream;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};

use super::{lock, sse, ws, Body, BoxError, RecordedRequest, State, Tasks};

pub(super) async fn route(
    state: Arc<State>,
    tasks: Tasks,
    connection: u64,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let query = query(req.uri());
    // Streaming routes are recorded at their head; the others once their body is read.
    let streaming = matches!(path.as_str(), "/sse" | "/feed" | "/ws" | "/stream-echo");
    if streaming {
        let (parts, body) = req.into_parts();
        record(&state, &parts, Bytes::new(), connection);
        let req = Request::from_parts(parts, body);
        return Ok(match path.as_str() {
            "/sse" => sse::numbered(&state, &req, &query),
            "/feed" => sse::feed(&state, &req, &query),
            "/ws" => ws::upgrade(&tasks, req),
            _ => {
                let body = req.into_body().map_err(BoxError::from).boxed_unsync();
                Response::new(body)
            }
        });
    }
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return Ok(text(StatusCode::BAD_REQUEST, format!("body: {e}\n"))),
    };
    record(&state, &parts, body.clone(), connection);
    let number = |key: &str, default: u64| num(&query, key, default);
    Ok(if path == "/echo" || path.starts_with("/echo/") {
        echo(&parts, &body)
    } else if let Some(code) = path.strip_prefix("/status/") {
        match StatusCode::from_bytes(code.as_bytes()) {
            Ok(status) => text(status, format!("status {code}\n")),
            Err(_) => text(StatusCode::BAD_REQUEST, "bad status code\n"),
        }
    } else if let Some(code) = path.strip_prefix("/sse-status/") {
        sse::with_status(code)
    } else if path == "/slow-headers" {
        tokio::time::sleep(Duration::from_millis(number("delay_ms", 1000))).await;
        text(StatusCode::OK, "slow headers\n")
    } else if path == "/slow-body" {
        slow_body(
            number("chunks", 3),
            Duration::from_millis(number("delay_ms", 100)),
        )
    } else if path == "/chunked-trailers" {
        chunked_trailers()
    } else {
        text(StatusCode::NOT_FOUND, "no such route\n")
    })
}

fn record(state: &State, parts: &http::request::Parts, body: Bytes, connection: u64) {
    lock(&state.requests).push(RecordedRequest {
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        version: parts.version,
        headers: parts.headers.clone(),
        body,
        connection,
    });
}

/// `{"method","path","query","headers":{name:[values]},"body","version"}`.
fn echo(parts: &http::request::Parts, body: &Bytes) -> Response<Body> {
    let mut headers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers.entry(name.as_str()).or_default().push(value);
    }
    let json = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(body),
        "version": format!("{:?}", parts.version),
    });
    let mut response = full(StatusCode::OK, json.to_string());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `chunks` lines, the first at once, then one every `delay`.
fn slow_body(chunks: u64, delay: Duration) -> Response<Body> {
    let body = stream::unfold(0, move |i| async move {
        if i == chunks {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(delay).await;
        }
        Some((Ok(Frame::data(Bytes::from(format!("chunk {i}\n")))), i + 1))
    });
    let mut response = Response::new(StreamBody::new(body).boxed_unsync());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// The body `hello world\n` in two chunks, then `x-checksum: <byte sum as 8 hex digits>`.
/// hyper writes HTTP/1.1 trailers only when the request said `TE: trailers`, and declares
/// them in a `Trailer` header; over h2 they always go out.
fn chunked_trailers() -> Response<Body> {
    let parts: [&'static [u8]; 2] = [b"hello ", b"world\n"];
    let sum: u32 = parts
        .iter()
        .flat_map(|p| p.iter())
        .map(|&b| u32::from(b))
        .sum();
    let mut trailers = HeaderMap::new();
    trailers.insert(
        "x-checksum",
        HeaderValue::from_str(&format!("{sum:08x}")).expect("hex is a valid value"),
    );
    let frames = parts
        .into_iter()
        .map(|p| Frame::data(Bytes::from_static(p)))
        .chain([Frame::trailers(trailers)])
        .map(Ok::<_, BoxError>);
    let mut response = Response::new(StreamBody::new(stream::iter(frames)).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(header::TRAILER, HeaderValue::from_static("x-checksum"));
    response
}

pub(super) fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let body = Full::new(body.into()).map_err(|never| match never {});
    let mut response = Response::new(body.boxed_unsync());
    *response.status_mut() = status;
    response
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = full(status, body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn query(uri: &Uri) -> HashMap<String, String> {
    let raw = uri.query().unwrap_or("").as_bytes();
    form_urlencoded::parse(raw).into_owned().collect()
}

pub(super) fn num(query: &HashMap<String, String>, key: &str, default: u64) -> u64 {
    query
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
