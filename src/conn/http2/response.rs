//! A response head as hyper would send it over HTTP/2.

use std::time::SystemTime;

use http::{
    header::{HeaderName, CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING, UPGRADE},
    HeaderValue, Response, StatusCode,
};
use http_body::Body;

use crate::http::ResponseBody;

/// Headers HTTP/2 forbids (RFC 9113, section 8.2.2): a response carrying one is malformed.
const CONNECTION_SPECIFIC: [HeaderName; 5] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Completes a response's head: a `date`, a `content-length` for a body of known size
/// (none for 204 and 304), and no connection-specific header.
pub fn complete_head(response: &mut Response<ResponseBody>) {
    let status = response.status();
    let size = response.body().size_hint().exact();
    let headers = response.headers_mut();
    for name in &CONNECTION_SPECIFIC {
        headers.remove(name);
    }
    if !headers.contains_key(DATE) {
        if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())) {
            headers.insert(DATE, date);
        }
    }
    if status != StatusCode::NO_CONTENT && status != StatusCode::NOT_MODIFIED {
        if let Some(size) = size {
            if !headers.contains_key(CONTENT_LENGTH) {
                headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_gets_date_and_length_and_loses_connection_headers() {
        let mut response = Response::new(ResponseBody::full("hello"));
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        complete_head(&mut response);
        let headers = response.headers();
        assert!(headers.contains_key(DATE));
        assert_eq!(headers[CONTENT_LENGTH], "5");
        assert!(!headers.contains_key(CONNECTION));

        let mut empty = Response::new(ResponseBody::empty());
        *empty.status_mut() = StatusCode::NO_CONTENT;
        complete_head(&mut empty);
        assert!(!empty.headers().contains_key(CONTENT_LENGTH));
    }
}
