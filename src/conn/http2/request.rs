//! A request's header block, decoded, checked and made into an `http::Request`.
//!
//! RFC 9113 section 8 decides what a request may carry: the pseudo-header fields first and
//! once each (`:method`, `:scheme` and `:path` required, but for CONNECT), names in lower
//! case, no connection-specific field, `te` only as `trailers`. A request that breaks one is
//! malformed: its stream is reset with PROTOCOL_ERROR, the connection goes on.

use http::{
    header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, TE, TRANSFER_ENCODING, UPGRADE},
    request, HeaderMap, Method, Uri,
};

/// Why a request's header block is malformed (the stream's reset says PROTOCOL_ERROR).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("pseudo-header field {0:?} is unknown, repeated or after a regular field")]
    PseudoHeader(String),
    #[error("the request lacks :method, :scheme or :path")]
    MissingPseudoHeader,
    #[error("header field name {0:?} is not a lowercase token")]
    Name(String),
    #[error("the value of header field {0} has a forbidden character")]
    Value(String),
    #[error("connection-specific header field {0} is forbidden in HTTP/2")]
    ConnectionSpecific(String),
    #[error("the request target cannot be read: {0}")]
    Target(String),
    #[error("content-length is not a number")]
    ContentLength,
}

/// Collects a header block's fields as the decoder hands them out.
#[derive(Default)]
pub(super) struct RequestHead {
    method: Option<Method>,
    scheme: Option<String>,
    authority: Option<String>,
    path: Option<String>,
    headers: HeaderMap,
    /// The first problem found; the rest of the block is still decoded (HPACK state).
    error: Option<Malformed>,
}

impl RequestHead {
    /// Takes one field of the block, in order.
    pub fn field(&mut self, name: &[u8], value: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.add(name, value) {
            self.error = Some(e);
        }
    }

    fn add(&mut self, name: &[u8], value: &[u8]) -> Result<(), Malformed> {
        if let Some(pseudo) = name.strip_prefix(b":") {
            if !self.headers.is_empty() {
                return Err(Malformed::PseudoHeader(lossy(name)));
            }
            let text = || {
                std::str::from_utf8(value)
                    .map(str::to_owned)
                    .map_err(|_| Malformed::Value(lossy(name)))
            };
            let slot = match pseudo {
                b"method" => {
                    if self.method.is_some() {
                        return Err(Malformed::PseudoHeader(lossy(name)));
                    }
                    let method =
                        Method::from_bytes(value).map_err(|_| Malformed::Value(lossy(name)))?;
                    self.method = Some(method);
                    return Ok(());
                }
                b"scheme" => &mut self.scheme,
                b"authority" => &mut self.authority,
                b"path" => &mut self.path,
                _ => return Err(Malformed::PseudoHeader(lossy(name))),
            };
            if slot.is_some() {
                return Err(Malformed::PseudoHeader(lossy(name)));
            }
            *slot = Some(text()?);
            return Ok(());
        }
        if name.is_empty() || name.iter().any(u8::is_ascii_uppercase) {
            return Err(Malformed::Name(lossy(name)));
        }
        let name = HeaderName::from_bytes(name).map_err(|_| Malformed::Name(lossy(name)))?;
        if is_connection_specific(&name) {
            return Err(Malformed::ConnectionSpecific(name.to_string()));
        }
        if name == TE && value != b"trailers" {
            return Err(Malformed::ConnectionSpecific(name.to_string()));
        }
        // HeaderValue refuses NUL, CR and LF (and other controls but tab), as RFC 9113
        // section 8.2.1 asks.
        let value =
            HeaderValue::from_bytes(value).map_err(|_| Malformed::Value(name.to_string()))?;
        self.headers.append(name, value);
        Ok(())
    }

    /// The request head, and the body length its `content-length` declares.
    pub fn finish(self) -> Result<(request::Parts, Option<u64>), Malformed> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let method = self.method.ok_or(Malformed::MissingPseudoHeader)?;
        let uri = if method == Method::CONNECT {
            let authority = self.authority.ok_or(Malformed::MissingPseudoHeader)?;
            Uri::builder().authority(authority).build()
        } else {
            let (Some(scheme), Some(path)) = (self.scheme, self.path) else {
                return Err(Malformed::MissingPseudoHeader);
            };
            if path.is_empty() {
                return Err(Malformed::MissingPseudoHeader);
            }
            match self.authority {
                Some(authority) => Uri::builder()
                    .scheme(scheme.as_str())
                    .authority(authority)
                    .path_and_query(path)
                    .build(),
                // A URI cannot carry a scheme without an authority: the target alone, as
                // HTTP/1.1 has it (proxies send `host` instead of `:authority`).
                None => Uri::builder().path_and_query(path).build(),
            }
        }
        .map_err(|e| Malformed::Target(e.to_string()))?;
        let content_length = match self.headers.get(CONTENT_LENGTH) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or(Malformed::ContentLength)?,
            ),
        };
        let (mut parts, ()) = request::Request::builder()
            .method(method)
            .uri(uri)
            .version(http::Version::HTTP_2)
            .body(())
            .map_err(|e| Malformed::Target(e.to_string()))?
            .into_parts();
        parts.headers = self.headers;
        Ok((parts, content_length))
    }
}

/// Trailers: regular fields only.
pub(super) fn trailers(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Result<HeaderMap, Malformed> {
    let mut head = RequestHead::default();
    for (name, value) in fields {
        if name.starts_with(b":") {
            return Err(Malformed::PseudoHeader(lossy(&name)));
        }
        head.field(&name, &value);
    }
    match head.error {
        Some(e) => Err(e),
        None => Ok(head.headers),
    }
}

fn is_connection_specific(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(fields: &[(&str, &str)]) -> Result<(request::Parts, Option<u64>), Malformed> {
        let mut head = RequestHead::default();
        for (name, value) in fields {
            head.field(name.as_bytes(), value.as_bytes());
        }
        head.finish()
    }

    const GET: [(&str, &str); 4] = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/events/a?x=1"),
    ];

    #[test]
    fn a_request_becomes_its_parts() {
        let mut fields = GET.to_vec();
        fields.push(("accept", "text/event-stream"));
        fields.push(("content-length", "0"));
        let (parts, length) = head(&fields).expect("valid");
        assert_eq!(parts.method, Method::GET);
        assert_eq!(parts.uri, "https://example.com/events/a?x=1");
        assert_eq!(parts.version, http::Version::HTTP_2);
        assert_eq!(parts.headers["accept"], "text/event-stream");
        assert_eq!(length, Some(0));
    }

    #[test]
    fn malformed_requests_are_named() {
        let cases: Vec<(Vec<(&str, &str)>, Malformed)> = vec![
            (GET[1..].to_vec(), Malformed::MissingPseudoHeader),
            (
                [&GET[..], &[(":method", "POST")]].concat(),
                Malformed::PseudoHeader(":method".into()),
            ),
            (
                [&GET[..3], &[("accept", "*/*"), (":path", "/")]].concat(),
                Malformed::PseudoHeader(":path".into()),
            ),
            (
                [&GET[..], &[(":status", "200")]].concat(),
                Malformed::PseudoHeader(":status".into()),
            ),
            (
                [&GET[..], &[("Accept", "*/*")]].concat(),
                Malformed::Name("Accept".into()),
            ),
            (
                [&GET[..], &[("connection", "close")]].concat(),
                Malformed::ConnectionSpecific("connection".into()),
            ),
            (
                [&GET[..], &[("te", "gzip")]].concat(),
                Malformed::ConnectionSpecific("te".into()),
            ),
            (
                [&GET[..], &[("x-a", "a\nb")]].concat(),
                Malformed::Value("x-a".into()),
            ),
            (
                [&GET[..], &[("content-length", "ten")]].concat(),
                Malformed::ContentLength,
            ),
            (
                vec![(":method", "GET"), (":scheme", "https"), (":path", "")],
                Malformed::MissingPseudoHeader,
            ),
        ];
        for (fields, expected) in cases {
            assert_eq!(head(&fields).err(), Some(expected), "{fields:?}");
        }
    }

    #[test]
    fn a_request_without_authority_keeps_its_target() {
        let (parts, _) = head(&[(":method", "GET"), (":scheme", "https"), (":path", "/a?b")])
            .expect("valid without :authority");
        assert_eq!(parts.uri, "/a?b");
    }

    #[test]
    fn te_trailers_and_connect_are_allowed() {
        let fields = [&GET[..], &[("te", "trailers")]].concat();
        assert!(head(&fields).is_ok());
        let (parts, _) = head(&[(":method", "CONNECT"), (":authority", "example.com:443")])
            .expect("CONNECT carries only an authority");
        assert_eq!(
            parts.uri.authority().map(|a| a.as_str()),
            Some("example.com:443")
        );
    }

    #[test]
    fn trailers_refuse_pseudo_headers() {
        assert!(trailers(vec![(b"x-sum".to_vec(), b"1".to_vec())]).is_ok());
        assert!(trailers(vec![(b":path".to_vec(), b"/".to_vec())]).is_err());
    }
}
