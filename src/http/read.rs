//! Request bodies read whole: bounded in size and in time, and checked as text.
//!
//! A body over the limit is answered `413` at once, and the rest of it is read and thrown
//! away in the background, up to [`DISCARD_MAX_BYTES`] and [`DISCARD_MAX_TIME`] (nginx's
//! lingering close does the same): dropping the body would reset the HTTP/2 stream right
//! after the `413`, and common clients (curl 7.88: "Stream error in the HTTP/2 framing
//! layer") then report a protocol error instead of the answer. Past those bounds the stream
//! is reset: nobody gets to make the server read a gigabyte.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use tokio::time::Instant;

use super::{error, ResponseBody};

/// Most bytes read and discarded after a body went over its limit.
pub const DISCARD_MAX_BYTES: u64 = 8 << 20;
/// Longest time spent reading and discarding them.
pub const DISCARD_MAX_TIME: Duration = Duration::from_secs(2);

/// Reads a request body as UTF-8 text, bounded in size (413) and time (408); every failure
/// is the response to send.
pub async fn read_text_body<B>(
    body: B,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
) -> Result<String, Response<ResponseBody>>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = Box::pin(body);
    if let Some(declared) = declared.filter(|&len| len > limit as u64) {
        if declared <= DISCARD_MAX_BYTES {
            tokio::spawn(discard(body, DISCARD_MAX_BYTES));
        }
        return Err(too_large());
    }
    let deadline = Instant::now() + timeout;
    let mut bytes = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return Err(error(
                    StatusCode::REQUEST_TIMEOUT,
                    "body was not received in time",
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read body: {e}"),
                ));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if bytes.len() + data.len() > limit {
            let already = (bytes.len() + data.len()) as u64;
            tokio::spawn(discard(body, DISCARD_MAX_BYTES.saturating_sub(already)));
            return Err(too_large());
        }
        bytes.extend_from_slice(&data);
    }
    String::from_utf8(Vec::from(bytes)).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!(
                "body is not valid UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Reads and drops the rest of `body`, at most `max` bytes and [`DISCARD_MAX_TIME`]; then
/// drops the body (which resets an HTTP/2 stream still sending).
async fn discard<B>(mut body: std::pin::Pin<Box<B>>, max: u64)
where
    B: Body<Data = Bytes>,
{
    let deadline = Instant::now() + DISCARD_MAX_TIME;
    let mut left = max;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
        if let Ok(data) = frame.into_data() {
            match left.checked_sub(data.len() as u64) {
                Some(rest) => left = rest,
                None => return,
            }
        }
    }
}
