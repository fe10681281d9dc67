//! Reading responses that are not event streams: bounded bodies (publish answers) and the
//! server's message for an unexpected status.

use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

use super::conn::deadline;
use super::ClientError;

/// Largest response body read into memory (publish answers, error messages).
const MAX_BODY: usize = 64 * 1024;

/// Deadline for reading an error response's body: the message is a nicety, so a slow
/// server must not delay the error (or a subscriber's reconnection) for long.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest server message kept in [`ClientError::Status`] when the body is not JSON.
const MAX_MESSAGE_CHARS: usize = 200;

/// Reads a whole response body of at most [`MAX_BODY`] bytes (publish answers, error
/// messages: never an event stream).
pub(super) async fn read_body(body: Incoming) -> Result<Bytes, ClientError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => Err(match error.downcast::<hyper::Error>() {
            Ok(source) => ClientError::Http {
                phase: "response body",
                source: *source,
            },
            Err(error) if error.is::<LengthLimitError>() => {
                ClientError::UnexpectedResponse("response body larger than 64 KiB")
            }
            Err(_) => ClientError::UnexpectedResponse("unreadable response body"),
        }),
    }
}

/// Turns a response with an unexpected status into [`ClientError::Status`], with the
/// server's message when its body has one.
pub(super) async fn status_error(response: Response<Incoming>) -> ClientError {
    let status = response.status();
    let body = deadline(
        ERROR_BODY_TIMEOUT,
        "error body",
        read_body(response.into_body()),
    )
    .await;
    let message = match body {
        Ok(Ok(body)) => error_message(&body),
        _ => None,
    };
    ClientError::Status {
        status,
        message: message.unwrap_or_else(|| reason(status)),
    }
}

/// The canonical reason phrase, or the bare code for unregistered statuses.
fn reason(status: StatusCode) -> String {
    status
        .canonical_reason()
        .map_or_else(|| status.as_str().to_owned(), str::to_owned)
}

/// The message of an `{"error": "..."}` body, else the start of the body as text.
fn error_message(body: &[u8]) -> Option<String> {
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(body) {
        if let Some(serde_json::Value::String(message)) = object.get("error") {
            return Some(message.clone());
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut message: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    if message.len() < text.len() {
        message.push('…');
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_prefers_json_then_text() {
        assert_eq!(error_message(br#"{"error":"bad"}"#).unwrap(), "bad");
        assert_eq!(error_message(b" plain \n").unwrap(), "plain");
        assert_eq!(error_message(b""), None);
        let long = "x".repeat(500);
        let message = error_message(long.as_bytes()).unwrap();
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
