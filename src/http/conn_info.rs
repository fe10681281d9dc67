//! What a request's handler knows about its connection. The connection driver puts a
//! [`ConnInfo`] into every request's extensions; front doors read it for logs, limits per
//! client and forwarding headers.

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, Request};

use super::{forwarded, TrustedProxies};

/// What a request's handler knows about its connection, as a request extension.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The TCP peer (or the PROXY protocol source).
    pub peer: SocketAddr,
    /// The client's address as trusted proxies report it (`X-Forwarded-For`), if any.
    pub forwarded_client: Option<IpAddr>,
    /// The connection came over TLS.
    pub tls: bool,
    /// The peer is a trusted proxy: its forwarding headers are kept.
    pub trusted_proxy: bool,
}

impl Default for ConnInfo {
    fn default() -> Self {
        Self {
            peer: SocketAddr::from(([0, 0, 0, 0], 0)),
            forwarded_client: None,
            tls: false,
            trusted_proxy: false,
        }
    }
}

impl ConnInfo {
    /// The client's address: what a trusted proxy said, else the peer.
    pub fn client_ip(&self) -> IpAddr {
        self.forwarded_client.unwrap_or(self.peer.ip())
    }

    /// What one request of the connection knows: when the peer is a proxy we trust, the
    /// client its `X-Forwarded-For` names.
    pub fn for_request(&self, headers: &HeaderMap, trusted: &TrustedProxies) -> Self {
        let mut info = self.clone();
        if info.trusted_proxy {
            let forwarded_for = headers.get_all("x-forwarded-for");
            info.forwarded_client =
                Some(forwarded::client_ip(info.peer.ip(), forwarded_for, trusted));
        }
        info
    }
}

/// The client's address as the request's connection knows it (PROXY protocol, trusted
/// proxies), for logs; `-` for a request that did not come through a connection.
pub fn client_ip<B>(req: &Request<B>) -> String {
    req.extensions()
        .get::<ConnInfo>()
        .map_or_else(|| "-".into(), |info| info.client_ip().to_string())
}
