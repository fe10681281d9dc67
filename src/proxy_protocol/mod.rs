//! The PROXY protocol (versions 1 and 2, as HAProxy specifies them) on a listener that sits
//! behind a layer-4 load balancer: the header the balancer sends before the client's first
//! byte names the client's address, which the TCP peer address no longer does.
//!
//! Part of the edge: imports nothing of the crate; the connection driver calls
//! it.
//!
//! # How to use it
//!
//! On a listener where the PROXY protocol is switched on, call [`read_header`] in the
//! connection's own task (never in the accept loop: a silent peer must not stall other
//! accepts), with a deadline, *before* the TLS handshake. Then
//! [`ProxyHeader::client_addr`] with the socket's peer address gives the address that goes
//! into the connection's span and logs, and that is the `peer` for
//! [`crate::http::forwarded::client_ip`] when requests carry `X-Forwarded-For`.
//!
//! Any error rejects the connection. On such a listener the header is mandatory and never
//! guessed at (the specification requires this): if a missing header were tolerated, the
//! port could be shared with direct clients, and a direct client could send a header of its
//! own and choose the address it is logged under. For the same reason the listener must be
//! reachable from the load balancers only.
//!
//! # Reading exactly the header
//!
//! The bytes after the header (a TLS ClientHello, an HTTP/2 preface) often arrive in the
//! same TCP segment, and they belong to the next layer, so nothing past the header may be
//! consumed, and no user-space buffer may hold bytes back. Version 2 carries its length,
//! so it is read with exact reads. Version 1 ends at a CRLF: its bytes are `peek`ed, and
//! only those up to the line end are read. A `peek` that finds no line end consumes what it
//! saw before peeking again, because peeking the same partial data twice would return at
//! once and spin instead of waiting for more.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use tokio::{io::AsyncReadExt, net::TcpStream};

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use memory::parse_bytes;

/// The 12 bytes a version 2 header starts with.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// What a version 1 header starts with.
const V1_PREFIX: &[u8] = b"PROXY ";

/// Longest version 1 header, CRLF included (the specification's bound).
pub const V1_MAX_LEN: usize = 107;

/// Longest accepted version 2 address block plus TLVs, in bytes. The specification allows
/// up to 65535, but addresses take at most 216 (AF_UNIX) and balancers' TLVs (AWS's VPC
/// endpoint id, HAProxy's TLS details) stay well below this; the bound keeps the
/// per-connection allocation small.
pub const V2_MAX_LEN: usize = 2048;

/// How many bytes are read before deciding between the versions: the version 2 signature's
/// length. The shortest possible version 1 header (`PROXY UNKNOWN\r\n`) has 15 bytes, so this
/// never reads past a header of either version.
const PREFIX_LEN: usize = V2_SIGNATURE.len();

/// Version 2 commands (low nibble of the 13th byte).
const V2_CMD_LOCAL: u8 = 0x0;
const V2_CMD_PROXY: u8 = 0x1;

/// Version 2 address families (high nibble of the 14th byte).
const V2_AF_UNSPEC: u8 = 0x0;
const V2_AF_INET: u8 = 0x1;
const V2_AF_INET6: u8 = 0x2;
const V2_AF_UNIX: u8 = 0x3;

/// Version 2 transport protocols (low nibble of the 14th byte).
const V2_PROTO_UNSPEC: u8 = 0x0;
const V2_PROTO_STREAM: u8 = 0x1;
const V2_PROTO_DGRAM: u8 = 0x2;

/// What a PROXY protocol header said about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    /// The connection was relayed for a TCP client over IPv4 or IPv6.
    Proxied {
        /// The client's address, as the proxy saw it.
        source: SocketAddr,
        /// The address the client connected to, on the proxy.
        destination: SocketAddr,
    },
    /// A version 2 `LOCAL` command: the proxy's own connection (a health check); the
    /// socket's peer address is the right one.
    Local,
    /// Version 1 `UNKNOWN`, or a version 2 family or transport other than TCP over IPv4 or
    /// IPv6 (`AF_UNIX`, `UNSPEC`, `DGRAM`): the client's address is not known, and the
    /// socket's peer address (the proxy) stands in for it.
    Unknown,
}

/// Why a connection's PROXY protocol header was not accepted. Each means the connection
/// must be closed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyProtocolError {
    /// The header was not complete within the deadline.
    #[error("no complete PROXY protocol header within {0:?}")]
    Timeout(Duration),
    /// The peer closed the connection before the header was complete.
    #[error("the connection closed before the PROXY protocol header was complete")]
    Closed,
    /// Reading from the socket failed.
    #[error("reading the PROXY protocol header failed")]
    Io(#[source] io::Error),
    /// The first bytes are neither a version 1 nor a version 2 header: the peer does not
    /// speak the PROXY protocol, or is not the load balancer.
    #[error("the connection does not start with a PROXY protocol header")]
    NotProxyProtocol,
    /// A version 2 header announces more address and TLV bytes than [`V2_MAX_LEN`].
    #[error(
        "PROXY protocol v2 header announces {len} bytes of addresses and TLVs, more than {max}"
    )]
    TooLong {
        /// The announced length.
        len: usize,
        /// The accepted maximum.
        max: usize,
    },
    /// The header started like a PROXY protocol header but breaks its grammar; the text
    /// says where.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
}

impl ProxyHeader {
    /// The client's address: the header's source when it has one, else `peer`, the
    /// socket's peer address (for [`ProxyHeader::Local`] and [`ProxyHeader::Unknown`]).
    pub fn client_addr(&self, peer: SocketAddr) -> SocketAddr {
        match self {
            Self::Proxied { source, .. } => *source,
            Self::Local | Self::Unknown => peer,
        }
    }
}

/// Reads a PROXY protocol header, version 1 or 2, from the start of `stream`, consuming
/// exactly its bytes: whatever follows stays in the socket for the next reader. Fails if
/// the header is missing, malformed, or not complete within `timeout`.
pub async fn read_header(
    stream: &mut TcpStream,
    timeout: Duration,
) -> Result<ProxyHeader, ProxyProtocolError> {
    match tokio::time::timeout(timeout, read_any(stream)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(ProxyProtocolError::Timeout(timeout)),
    }
}

/// Where a header is read from: the connection's socket, or bytes in memory for the
/// tests and fuzz targets, which so run the same framing code as a connection does.
trait HeaderSource {
    /// Fills `buf`; an early end of the input is [`ProxyProtocolError::Closed`].
    async fn fill(&mut self, buf: &mut [u8]) -> Result<(), ProxyProtocolError>;
    /// Copies the next input bytes into `buf` without consuming them; 0 at the end of the
    /// input.
    async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

impl HeaderSource for TcpStream {
    async fn fill(&mut self, buf: &mut [u8]) -> Result<(), ProxyProtocolError> {
        read_exact(self, buf).await
    }

    async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::peek(self, buf).await
    }
}

async fn read_any(stream: &mut impl HeaderSource) -> Result<ProxyHeader, ProxyProtocolError> {
    let mut prefix = [0u8; PREFIX_LEN];
    stream.fill(&mut prefix).await?;
    if prefix == V2_SIGNATURE {
        read_v2(stream).await
    } else if prefix.starts_with(V1_PREFIX) {
        read_v1(stream, prefix).await
    } else {
        Err(ProxyProtocolError::NotProxyProtocol)
    }
}

/// Reads the rest of a version 1 line, whose first bytes are `prefix`, and parses it.
async fn read_v1(
    stream: &mut impl HeaderSource,
    prefix: [u8; PREFIX_LEN],
) -> Result<ProxyHeader, ProxyProtocolError> {
    if prefix.contains(&b'\n') {
        return Err(ProxyProtocolError::Malformed(
            "v1 line ends before its fields",
        ));
    }
    let mut line = [0u8; V1_MAX_LEN];
    line[..PREFIX_LEN].copy_from_slice(&prefix);
    let mut len = PREFIX_LEN;
    loop {
        if len == V1_MAX_LEN {
            return Err(ProxyProtocolError::Malformed(
                "v1 header has no CRLF within 107 bytes",
            ));
        }
        let seen = stream
            .peek(&mut line[len..])
            .await
            .map_err(ProxyProtocolError::Io)?;
        if seen == 0 {
            return Err(ProxyProtocolError::Closed);
        }
        // The line ends at the first LF; every peeked byte before it is the header's, so
        // reading them all is safe when there is none.
        let (take, done) = match memchr::memchr(b'\n', &line[len..len + seen]) {
            Some(at) => (at + 1, true),
            None => (seen, false),
        };
        // The peeked bytes are already in the socket's buffer: this read does not wait.
        stream.fill(&mut line[len..len + take]).await?;
        len += take;
        if done {
            return parse_v1(&line[..len]);
        }
    }
}

/// Parses a whole version 1 line, CRLF included.
fn parse_v1(line: &[u8]) -> Result<ProxyHeader, ProxyProtocolError> {
    use ProxyProtocolError::Malformed;

    let body = line
        .strip_suffix(b"\r\n")
        .ok_or(Malformed("v1 line ends in LF without CR"))?;
    let body = std::str::from_utf8(body).map_err(|_| Malformed("v1 line is not ASCII"))?;
    if !body.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(Malformed("v1 line holds a control character"));
    }
    let mut fields = body.split(' ');
    // The caller checked the "PROXY " prefix.
    let _proxy = fields.next();
    let family = fields.next().ok_or(Malformed("v1 line has no protocol"))?;
    if family == "UNKNOWN" {
        // The specification: the rest of an UNKNOWN line is ignored, whatever it holds.
        return Ok(ProxyHeader::Unknown);
    }
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(Malformed(
            "v1 line does not have exactly four address fields",
        ));
    };
    let (src, dst): (IpAddr, IpAddr) = match family {
        "TCP4" => (
            src.parse::<Ipv4Addr>()
                .map_err(|_| Malformed("v1 TCP4 source is not an IPv4 address"))?
                .into(),
            dst.parse::<Ipv4Addr>()
                .map_err(|_| Malformed("v1 TCP4 destination is not an IPv4 address"))?
                .into(),
        ),
        "TCP6" => (
            src.parse::<Ipv6Addr>()
                .map_err(|_| Malformed("v1 TCP6 source is not an IPv6 address"))?
                .into(),
            dst.parse::<Ipv6Addr>()
                .map_err(|_| Malformed("v1 TCP6 destination is not an IPv6 address"))?
                .into(),
        ),
        _ => return Err(Malformed("v1 protocol is none of TCP4, TCP6, UNKNOWN")),
    };
    let sport = parse_port(sport).ok_or(Malformed("v1 source port is not 0..=65535"))?;
    let dport = parse_port(dport).ok_or(Malformed("v1 destination port is not 0..=65535"))?;
    Ok(ProxyHeader::Proxied {
        source: SocketAddr::new(src, sport),
        destination: SocketAddr::new(dst, dport),
    })
}

/// A decimal port; digits only, because `u16::from_str` would also take a `+` sign.
fn parse_port(field: &str) -> Option<u16> {
    if field.is_empty() || field.len() > 5 || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse().ok()
}

/// Reads and parses the rest of a version 2 header, after its signature.
async fn read_v2(stream: &mut impl HeaderSource) -> Result<ProxyHeader, ProxyProtocolError> {
    use ProxyProtocolError::Malformed;

    let mut fixed = [0u8; 4];
    stream.fill(&mut fixed).await?;
    let [ver_cmd, fam_proto, len_hi, len_lo] = fixed;
    if ver_cmd >> 4 != 2 {
        return Err(Malformed("v2 version is not 2"));
    }
    let command = ver_cmd & 0x0f;
    if command != V2_CMD_LOCAL && command != V2_CMD_PROXY {
        return Err(Malformed("v2 command is neither LOCAL nor PROXY"));
    }
    let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    if len > V2_MAX_LEN {
        return Err(ProxyProtocolError::TooLong {
            len,
            max: V2_MAX_LEN,
        });
    }
    // Read the whole block, addresses and TLVs, even when it is not used: the next layer's
    // bytes start after it.
    let mut block = vec![0u8; len];
    stream.fill(&mut block).await?;
    if command == V2_CMD_LOCAL {
        // The specification: a receiver ignores a LOCAL header's family and addresses.
        return Ok(ProxyHeader::Local);
    }

    let family = fam_proto >> 4;
    let transport = fam_proto & 0x0f;
    if !matches!(family, V2_AF_UNSPEC | V2_AF_INET | V2_AF_INET6 | V2_AF_UNIX) {
        return Err(Malformed("v2 address family is undefined"));
    }
    if !matches!(
        transport,
        V2_PROTO_UNSPEC | V2_PROTO_STREAM | V2_PROTO_DGRAM
    ) {
        return Err(Malformed("v2 transport protocol is undefined"));
    }
    if transport != V2_PROTO_STREAM {
        return Ok(ProxyHeader::Unknown);
    }
    match family {
        V2_AF_INET => {
            let Some(addr) = block.get(..12) else {
                return Err(Malformed("v2 AF_INET addresses are shorter than 12 bytes"));
            };
            let ip = |at: usize| Ipv4Addr::new(addr[at], addr[at + 1], addr[at + 2], addr[at + 3]);
            let port = |at: usize| u16::from_be_bytes([addr[at], addr[at + 1]]);
            Ok(ProxyHeader::Proxied {
                source: SocketAddr::new(ip(0).into(), port(8)),
                destination: SocketAddr::new(ip(4).into(), port(10)),
            })
        }
        V2_AF_INET6 => {
            let Some(addr) = block.get(..36) else {
                return Err(Malformed("v2 AF_INET6 addresses are shorter than 36 bytes"));
            };
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&addr[at..at + 16]);
                Ipv6Addr::from(octets)
            };
            let port = |at: usize| u16::from_be_bytes([addr[at], addr[at + 1]]);
            Ok(ProxyHeader::Proxied {
                source: SocketAddr::new(ip(0).into(), port(32)),
                destination: SocketAddr::new(ip(16).into(), port(34)),
            })
        }
        // UNSPEC and AF_UNIX name no IP client.
        _ => Ok(ProxyHeader::Unknown),
    }
}

/// `read_exact` with an early end of stream told apart from other I/O errors, since a
/// peer closing is routine and logged more quietly.
async fn read_exact(stream: &mut TcpStream, buf: &mut [u8]) -> Result<(), ProxyProtocolError> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ProxyProtocolError::Closed),
        Err(e) => Err(ProxyProtocolError::Io(e)),
    }
}

/// Reading a header from bytes in memory.
#[cfg(any(test, feature = "fuzzing"))]
mod memory {
    use std::{
        future::Future,
        io,
        pin::pin,
        task::{Context, Poll, Waker},
    };

    use super::{read_any, HeaderSource, ProxyHeader, ProxyProtocolError};

    /// Input in memory; every read completes at once.
    struct Bytes<'a> {
        rest: &'a [u8],
    }

    impl HeaderSource for Bytes<'_> {
        async fn fill(&mut self, buf: &mut [u8]) -> Result<(), ProxyProtocolError> {
            let Some((head, rest)) = self.rest.split_at_checked(buf.len()) else {
                return Err(ProxyProtocolError::Closed);
            };
            buf.copy_from_slice(head);
            self.rest = rest;
            Ok(())
        }

        async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.rest.len());
            buf[..n].copy_from_slice(&self.rest[..n]);
            Ok(n)
        }
    }

    /// Reads a header from the start of `input` as [`super::read_header`] reads it from a
    /// socket, and says how many bytes it consumed: the next layer's bytes start there.
    /// Input that ends before the header does is [`ProxyProtocolError::Closed`].
    pub(crate) fn parse_bytes(input: &[u8]) -> Result<(ProxyHeader, usize), ProxyProtocolError> {
        let mut source = Bytes { rest: input };
        let result = {
            let read = pin!(read_any(&mut source));
            // Nothing in `read_any` waits but the source, and this source never does.
            match read.poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(result) => result,
                Poll::Pending => unreachable!("reads from memory never wait"),
            }
        };
        result.map(|header| (header, input.len() - source.rest.len()))
    }
}

#[cfg(test)]
mod tests;
