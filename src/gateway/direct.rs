//! Event-stream requests to plain HTTP/1.1 upstreams, each on a connection of its own that
//! the client's stream reads directly.
//!
//! Through hyper's pooled client every relayed stream holds an HTTP/1.1 connection task
//! with an 8 KiB write buffer kept for life, a request channel whose first block is another
//! 8 KiB, and a read buffer; and each event crosses two tasks (hyper's connection, then the
//! client's). A relayed event stream needs none of it: its request head is written once,
//! then bytes are read as they come. Here the upstream socket belongs to the response body
//! ([`DirectBody`]), which the client's connection polls like any event stream, reading
//! through a buffer of the thread's: one task hop per event and no buffer kept per stream.
//!
//! Only requests that ask for an event stream come here ([`is_direct`]); the upstream may
//! still answer anything (an error page, a redirect), and that body is relayed as it
//! arrives too, framed by its length, chunked, or until the upstream closes. The
//! connection is not reused afterwards: event streams are long, so a pool would save one
//! connect per stream at the price of its bookkeeping.

use std::{
    cell::RefCell,
    io,
    io::Read as _,
    pin::Pin,
    task::{ready, Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use http::{
    header, request, HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Version,
};
use http_body::{Body, Frame, SizeHint};
use socket2::{SockRef, TcpKeepalive};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, Interest},
    net::TcpStream,
};

use super::headers::accepts_event_stream;
use crate::config::{RouteConfig, UpstreamProto};
use chunked::Chunked;

mod chunked;

/// Largest response head accepted (status line and headers, with any 1xx heads before it).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most response headers accepted (hyper's default).
const MAX_HEADERS: usize = 100;
/// Bytes read from the upstream per read, into a buffer of the thread's.
const READ_BYTES: usize = 16 * 1024;

/// The same keepalive probes as the pooled client's (see `client.rs`): HTTP/1.1 has no
/// PING, and a half-open upstream connection is otherwise never noticed.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);
const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const TCP_KEEPALIVE_RETRIES: u32 = 3;

/// Whether a request goes over a direct connection: a bodiless GET for an event stream to an
/// `http://` upstream, not an upgrade.
pub fn is_direct(parts: &request::Parts, body_is_empty: bool, proto: UpstreamProto) -> bool {
    proto == UpstreamProto::Http1
        && parts.method == Method::GET
        && body_is_empty
        && !parts.headers.contains_key(header::UPGRADE)
        && accepts_event_stream(&parts.headers)
}

/// Why a direct request got no response.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// The TCP connection could not be made.
    #[error("connect to {authority}: {source}")]
    Connect {
        /// The upstream.
        authority: String,
        /// Why.
        source: io::Error,
    },
    /// The TCP connection was not made within the route's connect timeout.
    #[error("connect to {0}: timed out")]
    ConnectTimeout(String),
    /// Writing the request or reading the response head failed.
    #[error("upstream I/O: {0}")]
    Io(#[from] io::Error),
    /// The upstream closed the connection before a whole response head.
    #[error("upstream closed the connection before the response head")]
    Closed,
    /// The response head is not HTTP/1.x, or holds an invalid header.
    #[error("malformed response head: {0}")]
    Malformed(String),
    /// The response head is larger than [`MAX_HEAD_BYTES`].
    #[error("response head larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
}

/// Sends `parts` (its URI is the upstream's absolute URI, its headers are the ones to
/// forward) on a new connection to the route's upstream, and reads the response head. The
/// caller bounds the whole exchange with the response header deadline.
pub async fn request(
    config: &RouteConfig,
    parts: &request::Parts,
) -> Result<Response<DirectBody>, DirectError> {
    let authority = config.authority.as_str();
    let host = config.authority.host();
    // An IPv6 literal keeps its brackets in an authority, not in an address.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = config.authority.port_u16().unwrap_or(80);
    let mut io = match tokio::time::timeout(
        config.connect_timeout,
        TcpStream::connect((host, port)),
    )
    .await
    {
        Err(_) => return Err(DirectError::ConnectTimeout(authority.to_owned())),
        Ok(Err(source)) => {
            return Err(DirectError::Connect {
                authority: authority.to_owned(),
                source,
            })
        }
        Ok(Ok(io)) => io,
    };
    io.set_nodelay(true)?;
    let keepalive = TcpKeepalive::new()
        .with_time(TCP_KEEPALIVE)
        .with_interval(TCP_KEEPALIVE_INTERVAL)
        .with_retries(TCP_KEEPALIVE_RETRIES);
    SockRef::from(&io).set_tcp_keepalive(&keepalive)?;

    io.write_all(&request_head(parts, authority)).await?;

    let mut head = Vec::with_capacity(1024);
    loop {
        let Some((response, consumed)) = parse_head(&head)? else {
            if head.len() >= MAX_HEAD_BYTES {
                return Err(DirectError::HeadTooLarge);
            }
            head.reserve(1024.min(MAX_HEAD_BYTES - head.len()));
            if io.read_buf(&mut head).await? == 0 {
                return Err(DirectError::Closed);
            }
            continue;
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            // Never asked for (upgrades are not sent here): the bytes after it are not HTTP.
            return Err(DirectError::Malformed(
                "unasked 101 Switching Protocols".into(),
            ));
        }
        if response.status().is_informational() {
            // 100 Continue or 103 Early Hints: the final response follows (maybe already
            // in the buffer).
            head.drain(..consumed);
            continue;
        }
        let framing = Framing::of(&response)?;
        let early = Bytes::copy_from_slice(&head[consumed..]);
        let (parts, ()) = response.into_parts();
        let body = DirectBody {
            io,
            framing,
            early: (!early.is_empty()).then_some(early),
        };
        return Ok(Response::from_parts(parts, body));
    }
}

/// The request line and headers (`parts.headers` hold `Host` only when the route preserves
/// the client's).
fn request_head(parts: &request::Parts, authority: &str) -> Vec<u8> {
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"GET ");
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    if !parts.headers.contains_key(header::HOST) {
        head.extend_from_slice(b"host: ");
        head.extend_from_slice(authority.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    for (name, value) in &parts.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Parses a response head; `None` while it is incomplete. Returns the response and the
/// bytes it took.
fn parse_head(buf: &[u8]) -> Result<Option<(Response<()>, usize)>, DirectError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let consumed = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(DirectError::Malformed(e.to_string())),
    };
    let malformed = |what: &str| DirectError::Malformed(what.to_owned());
    let status = parsed
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| malformed("invalid status code"))?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut map = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| DirectError::Malformed(format!("invalid header name {:?}", h.name)))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| DirectError::Malformed(format!("invalid value of header {name}")))?;
        map.append(name, value);
    }
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = map;
    Ok(Some((response, consumed)))
}

/// How the response body ends (RFC 9112 section 6.3).
#[derive(Debug)]
enum Framing {
    /// This many bytes are left.
    Length(u64),
    Chunked(Chunked),
    /// The body ends when the upstream closes the connection.
    UntilClose,
    /// The whole body was read.
    Done,
}

impl Framing {
    fn of(response: &Response<()>) -> Result<Self, DirectError> {
        let status = response.status();
        if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            return Ok(Self::Done);
        }
        let headers = response.headers();
        if let Some(last) = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .next_back()
        {
            let chunked = last
                .to_str()
                .ok()
                .and_then(|v| v.rsplit(',').next())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
            return Ok(if chunked {
                Self::Chunked(Chunked::default())
            } else {
                Self::UntilClose
            });
        }
        let mut lengths = headers.get_all(header::CONTENT_LENGTH).iter();
        let Some(first) = lengths.next() else {
            return Ok(Self::UntilClose);
        };
        let length = |v: &HeaderValue| -> Result<u64, DirectError> {
            v.to_str()
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| DirectError::Malformed("invalid content-length".into()))
        };
        let n = length(first)?;
        for other in lengths {
            if length(other)? != n {
                return Err(DirectError::Malformed("conflicting content-length".into()));
            }
        }
        Ok(if n == 0 { Self::Done } else { Self::Length(n) })
    }
}

/// Why a relayed body failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectBodyError {
    /// Reading from the upstream failed.
    #[error("upstream I/O: {0}")]
    Io(#[from] io::Error),
    /// The upstream closed the connection before the end of the body.
    #[error("upstream closed the connection before the end of the body")]
    Truncated,
    /// The chunked framing is broken.
    #[error("malformed chunked body: {0}")]
    Chunked(&'static str),
}

/// A response body read from the upstream socket as it arrives.
#[derive(Debug)]
pub struct DirectBody {
    io: TcpStream,
    framing: Framing,
    /// Body bytes that came with the response head.
    early: Option<Bytes>,
}

impl DirectBody {
    /// Decodes `input` (raw bytes from the upstream) into a data chunk, if it holds any.
    fn decode(&mut self, input: &[u8]) -> Result<Option<Bytes>, DirectBodyError> {
        let data = match &mut self.framing {
            Framing::Length(left) => {
                // Bytes past the announced length are not the body's: dropped.
                let n = input
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= n as u64;
                if *left == 0 {
                    self.framing = Framing::Done;
                }
                Bytes::copy_from_slice(&input[..n])
            }
            Framing::Chunked(chunked) => {
                let mut out = BytesMut::new();
                chunked.decode(input, &mut out)?;
                if chunked.is_done() {
                    self.framing = Framing::Done;
                }
                out.freeze()
            }
            Framing::UntilClose => Bytes::copy_from_slice(input),
            Framing::Done => Bytes::new(),
        };
        Ok((!data.is_empty()).then_some(data))
    }

    /// Reads once into `buf` and decodes what came. A read that does not fill the buffer
    /// emptied the socket: readiness is cleared then, without the second read that would
    /// only say so (one `recv` per arrival instead of two; tokio keeps a readiness that
    /// arrived meanwhile, so nothing is missed).
    fn read_and_decode(&mut self, buf: &mut [u8]) -> ReadOutcome {
        let mut got = 0;
        let read = self.io.try_io(Interest::READABLE, || {
            got = (&*SockRef::from(&self.io)).read(buf)?;
            if got > 0 && got < buf.len() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match (read, got) {
            (Err(e), _) if e.kind() != io::ErrorKind::WouldBlock => ReadOutcome::Failed(e.into()),
            (Ok(()), 0) => ReadOutcome::Eof,
            // Nothing there after all: readiness is cleared, the next poll waits.
            (Err(_), 0) => ReadOutcome::Data(None),
            _ => match self.decode(&buf[..got]) {
                Ok(data) => ReadOutcome::Data(data),
                Err(e) => ReadOutcome::Failed(e),
            },
        }
    }
}

/// What one read from the upstream gave.
enum ReadOutcome {
    /// Body data, or nothing yet (no bytes, or bytes that were only framing).
    Data(Option<Bytes>),
    Eof,
    Failed(DirectBodyError),
}

thread_local! {
    /// Where upstream bytes land before they are decoded: one buffer per thread, so that
    /// a stream keeps no read buffer between events.
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BYTES]);
}

impl Body for DirectBody {
    type Data = Bytes;
    type Error = DirectBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, DirectBodyError>>> {
        let this = &mut *self;
        if let Some(early) = this.early.take() {
            match this.decode(&early) {
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(None) => {}
            }
        }
        loop {
            if matches!(this.framing, Framing::Done) {
                return Poll::Ready(None);
            }
            if let Err(e) = ready!(this.io.poll_read_ready(cx)) {
                return Poll::Ready(Some(Err(e.into())));
            }
            let read = READ_BUF.with(|cell| match cell.try_borrow_mut() {
                Ok(mut buf) => this.read_and_decode(&mut buf),
                Err(_) => this.read_and_decode(&mut vec![0; READ_BYTES]),
            });
            match read {
                ReadOutcome::Data(None) => continue,
                ReadOutcome::Data(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                ReadOutcome::Eof => {
                    return Poll::Ready(match this.framing {
                        Framing::UntilClose => {
                            this.framing = Framing::Done;
                            None
                        }
                        _ => Some(Err(DirectBodyError::Truncated)),
                    })
                }
                ReadOutcome::Failed(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.framing, Framing::Done) && self.early.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.framing, &self.early) {
            (Framing::Done, None) => SizeHint::with_exact(0),
            (Framing::Length(n), None) => SizeHint::with_exact(*n),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests;
