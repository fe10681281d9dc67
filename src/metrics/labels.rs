//! The label sets of the metric families. Every label value comes from a closed enum or
//! from configuration (a route's name, a certificate's file name): a label never carries a
//! topic, a token subject, a client address or a request path, so the number of series
//! stays bounded whatever the traffic.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Listener {
    /// `server.listen`.
    Tls,
    /// `server.plaintext_listen`.
    Plaintext,
}

/// The HTTP version a connection speaks.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (or 1.0).
    H1,
    /// HTTP/2, over TLS (ALPN) or cleartext (h2c prior knowledge).
    H2,
}

/// Why a TLS connection never got to HTTP.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// `server.tls_handshake_timeout` passed.
    Timeout,
    /// rustls refused the handshake, or the peer broke it off.
    Error,
    /// The mandatory PROXY protocol header was missing or malformed.
    ProxyHeader,
}

/// The part of ssegate that serves a stream or takes a publication.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum FrontDoor {
    /// The native `/events` API.
    Events,
    /// The Mercure hub.
    Mercure,
    /// A gateway route (relayed or shared upstream streams).
    Gateway,
}

/// Why an event stream ended (the stream body's own reasons, one to one).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum StreamEnd {
    /// The client's `limit` of events was reached.
    Limit,
    /// The client's `timeout` passed.
    Timeout,
    /// The subscriber was too slow: its queue overflowed.
    Overflow,
    /// The server drained.
    Shutdown,
    /// The client went away.
    ClientGone,
    /// The source ended the stream (an upstream's end).
    SourceEnded,
    /// The source failed and the stream was cut.
    SourceFailed,
}

impl TokenRejection {
    /// Every reason.
    pub const ALL: [TokenRejection; 7] = [
        TokenRejection::Missing,
        TokenRejection::Malformed,
        TokenRejection::Expired,
        TokenRejection::Signature,
        TokenRejection::Issuer,
        TokenRejection::Claims,
        TokenRejection::Scope,
    ];
}

impl StreamEnd {
    /// Every reason, in the order of the handles kept for them.
    pub const ALL: [StreamEnd; 7] = [
        StreamEnd::Limit,
        StreamEnd::Timeout,
        StreamEnd::Overflow,
        StreamEnd::Shutdown,
        StreamEnd::ClientGone,
        StreamEnd::SourceEnded,
        StreamEnd::SourceFailed,
    ];
}

/// How a `Last-Event-ID` resumption went.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// Every event after the id was replayed.
    Complete,
    /// The id was unknown or too old: events may have been missed.
    Gap,
}

/// Why the Mercure hub rejected an access token (a fixed set; the detail is in the logs).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum TokenRejection {
    /// The operation needs a token and none came.
    Missing,
    /// The token or its presentation is malformed (or too large, or of the wrong type).
    Malformed,
    /// The token's `exp` has passed (or its `nbf`/`iat` is in the future).
    Expired,
    /// No key verified the signature, or the algorithm is not accepted.
    Signature,
    /// The issuer or audience is not this hub's.
    Issuer,
    /// The claims did not parse or validate.
    Claims,
    /// A valid token does not grant the operation.
    Scope,
}

/// A limit that refused a client.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Limit {
    /// `server.max_connections_per_client`: a connection closed at accept.
    ConnectionsPerClient,
    /// `hub.publish_rate_per_client` or `hub.publish_rate_per_token`: a `429`.
    PublishRate,
    /// `hub.max_subscribers`: a subscription refused with `503`.
    Subscribers,
}

/// Outcome of an ACME certificate renewal.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum RenewalOutcome {
    /// A new certificate was issued and installed.
    Success,
    /// The renewal failed; the old certificate stays.
    Failure,
}

/// Label values are lowercase snake case, as Prometheus names are; the derive would write
/// the variants' Rust names.
macro_rules! label_values {
    ($($ty:ident { $($variant:ident => $text:literal),+ $(,)? })+) => {$(
        impl $ty {
            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                EncodeLabelValue::encode(&self.as_str(), encoder)
            }
        }
    )+};
}

label_values! {
    Listener {
        Tls => "tls",
        Plaintext => "plaintext",
    }
    Protocol {
        H1 => "h1",
        H2 => "h2",
    }
    HandshakeFailure {
        Timeout => "timeout",
        Error => "error",
        ProxyHeader => "proxy_header",
    }
    FrontDoor {
        Events => "events",
        Mercure => "mercure",
        Gateway => "gateway",
    }
    StreamEnd {
        Limit => "limit",
        Timeout => "timeout",
        Overflow => "overflow",
        Shutdown => "shutdown",
        ClientGone => "client_gone",
        SourceEnded => "source_ended",
        SourceFailed => "source_failed",
    }
    ReplayOutcome {
        Complete => "complete",
        Gap => "gap",
    }
    TokenRejection {
        Missing => "missing",
        Malformed => "malformed",
        Expired => "expired",
        Signature => "signature",
        Issuer => "issuer",
        Claims => "claims",
        Scope => "scope",
    }
    RenewalOutcome {
        Success => "success",
        Failure => "failure",
    }
    Limit {
        ConnectionsPerClient => "connections_per_client",
        PublishRate => "publish_rate",
        Subscribers => "subscribers",
    }
}

/// `{listener}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    /// The listener.
    pub listener: Listener,
}

/// `{listener, protocol}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnLabels {
    /// The listener.
    pub listener: Listener,
    /// The HTTP version.
    pub protocol: Protocol,
}

/// `{reason}` of a failed handshake.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandshakeLabels {
    /// Why.
    pub reason: HandshakeFailure,
}

/// `{front_door}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DoorLabels {
    /// The front door.
    pub front_door: FrontDoor,
}

/// `{front_door, reason}` of a stream's end.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndLabels {
    /// The front door.
    pub front_door: FrontDoor,
    /// Why it ended.
    pub reason: StreamEnd,
}

/// `{front_door, outcome}` of a resumption.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplayLabels {
    /// The front door.
    pub front_door: FrontDoor,
    /// How it went.
    pub outcome: ReplayOutcome,
}

/// `{front_door, status}` of a refused publication; `status` is one of a fixed set of
/// codes, or `other`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PublishErrorLabels {
    /// The front door.
    pub front_door: FrontDoor,
    /// The response status.
    pub status: &'static str,
}

/// `{route}`: a gateway route's configured name (bounded by the configuration).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route.
    pub route: String,
}

/// `{reason}` of a rejected token.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// Why.
    pub reason: TokenRejection,
}

/// `{certificate}`: a configured certificate's file name, or `local`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertLabels {
    /// The certificate.
    pub certificate: String,
}

/// `{limit}` that refused.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// Which limit.
    pub limit: Limit,
}

/// `{outcome}` of a renewal.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RenewalLabels {
    /// How it went.
    pub outcome: RenewalOutcome,
}

/// The statuses a refused publication is counted under by code; the last, 0, stands for
/// every other (`other`).
pub const PUBLISH_STATUSES: [u16; 14] = [
    400, 401, 403, 404, 405, 408, 409, 413, 415, 429, 500, 503, 504, 0,
];

/// The publish statuses counted by their code; any other is `other`.
pub fn status_label(status: u16) -> &'static str {
    match status {
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        503 => "503",
        504 => "504",
        _ => "other",
    }
}
