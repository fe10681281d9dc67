//! Request bodies read whole: bounded in size and in time, and checked as text.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::{error, ResponseBody};

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
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let collect = Limited::new(body, limit).collect();
    let bytes = match tokio::time::timeout(timeout, collect).await {
        Err(_) => {
            return Err(error(
                StatusCode::REQUEST_TIMEOUT,
                "body was not received in time",
            ))
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Ok(Err(e)) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("cannot read body: {e}"),
            ))
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!(
                "body is not valid UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}
