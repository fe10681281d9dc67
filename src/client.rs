//! The client side of `ssegate publish` and `ssegate subscribe`.
//!
//! Imports only `sse` (the reader); the server side never imports it.
//!
//! [`publish()`] POSTs one event to a topic URL and returns the id the server assigned;
//! [`subscribe()`] follows an event stream the way a browser's `EventSource` does: it
//! reconnects when the stream ends, resumes with `Last-Event-ID`, honours the server's
//! `retry` and backs off on failures.
//!
//! Every request uses its own connection. For `https` URLs the protocol is the one
//! negotiated by ALPN (`h2`, else HTTP/1.1); `http` URLs always use HTTP/1.1, because
//! cleartext HTTP/2 (h2c) is a debugging aid here and prior knowledge would fail against
//! any HTTP/1-only peer.
//!
//! Layout: `target` checks the URL; `conn` connects (TCP, TLS, HTTP handshake, each with a
//! deadline) and sends one request; `response` reads bounded bodies and error messages;
//! `tls` builds the rustls configuration; `publish` and `subscribe` hold the two commands.
//! Event streams are read with [`crate::sse::reader`], the parser the gateway uses too.

mod conn;
mod publish;
mod response;
mod subscribe;
mod target;
mod tls;

#[cfg(test)]
mod test_server;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use publish::{publish, PublishOptions};
pub use subscribe::{
    format_event, subscribe, ReceivedEvent, SubscribeOptions, DEFAULT_RETRY, MAX_BACKOFF,
};
pub use tls::client_config;

/// Default for [`ClientOptions::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Deadline for the response headers (and, for `publish`, the whole response body) once
/// the request is sent. The SSE body itself has no deadline: heartbeats keep it alive.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// How the client trusts the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The Mozilla root store (webpki-roots), plus the certificates of an extra CA PEM file
    /// (for example the local CA that `ssegate` generates).
    Roots {
        /// A PEM file with one or more CA certificates to trust as well.
        extra_ca: Option<PathBuf>,
    },
    /// Accept any certificate (`--insecure`). Handshake signatures are still checked, so
    /// the peer must hold the key of the certificate it shows, but anyone can be that peer.
    Insecure,
}

/// Options shared by [`publish()`] and [`subscribe()`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How to trust the server's certificate (`https` only).
    pub trust: Trust,
    /// Deadline for each connection phase: TCP connect, TLS handshake, HTTP handshake.
    pub connect_timeout: Duration,
    /// Offer only `http/1.1` in ALPN, never `h2`.
    pub http1_only: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            trust: Trust::Roots { extra_ca: None },
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            http1_only: false,
        }
    }
}

/// What went wrong in a [`publish()`] or [`subscribe()`] call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL cannot be used: wrong scheme, no host, credentials, ...
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The host name did not resolve to any address.
    #[error("could not resolve {host}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// No TCP connection could be made (the error of the last address tried).
    #[error("could not connect to {addr}")]
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed (certificate not trusted, no common protocol, ...).
    #[error("TLS handshake with {host} failed")]
    Tls {
        /// The server name that was verified.
        host: String,
        /// The handshake error; its source is the rustls error.
        #[source]
        source: io::Error,
    },
    /// The bearer token cannot be sent in a header (control characters).
    #[error("the token cannot be sent in an Authorization header")]
    InvalidToken,
    /// The TLS configuration could not be built.
    #[error("could not build the TLS client configuration")]
    TlsConfig(#[source] rustls::Error),
    /// The extra CA file could not be read or parsed.
    #[error("could not read CA certificates from {path}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// The read or PEM error.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The extra CA file holds no certificate.
    #[error("no CA certificate found in {path}")]
    CaFileEmpty {
        /// The file.
        path: PathBuf,
    },
    /// A certificate of the extra CA file is not a usable trust anchor.
    #[error("invalid CA certificate in {path}")]
    CaCert {
        /// The file.
        path: PathBuf,
        /// Why the certificate was rejected.
        #[source]
        source: rustls::Error,
    },
    /// The HTTP exchange failed at the phase named.
    #[error("HTTP {phase} failed")]
    Http {
        /// `handshake`, `request`, `response body`, ...
        phase: &'static str,
        /// hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// The server answered with an unexpected status.
    #[error("server answered {status}: {message}")]
    Status {
        /// The status.
        status: http::StatusCode,
        /// The server's `{"error": "..."}` message, else the start of its body, else the
        /// status' reason phrase.
        message: String,
    },
    /// The server answered a subscription with something other than an event stream.
    #[error("server answered with content type {content_type:?}, not text/event-stream")]
    NotEventStream {
        /// The content type received (empty when there was none).
        content_type: String,
    },
    /// The response could not be understood.
    #[error("unexpected response: {0}")]
    UnexpectedResponse(&'static str),
    /// An event of the stream is too large to read. The subscription stops: reconnecting
    /// would only fetch the same event again.
    #[error("the event stream cannot be followed")]
    EventTooLarge(#[source] crate::sse::BlockTooLarge),
    /// A phase did not finish before its deadline.
    #[error("timed out during {0}")]
    Timeout(&'static str),
    /// `subscribe` gave up: every attempt in a row failed, up to `max_reconnects`.
    #[error("gave up after {attempts} failed connection attempts in a row")]
    ReconnectsExhausted {
        /// How many attempts failed in a row.
        attempts: u32,
        /// The error of the last attempt.
        #[source]
        last: Box<ClientError>,
    },
}
