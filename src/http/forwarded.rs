//! Which address a request comes from when it passed through HTTP proxies: the
//! `trusted_proxies` list, and the rule that picks the client out of `X-Forwarded-For`.
//!
//! # How to use it
//!
//! Parse the configured `trusted_proxies` once, with the rest of the configuration, into a
//! [`TrustedProxies`] (an empty list, the default, trusts nobody: `X-Forwarded-For` is then
//! ignored and the peer is the client). For each request, call [`client_ip`] with the
//! connection's peer address and the request's `X-Forwarded-For` headers, and put the
//! result into the request's span and access log. On a PROXY protocol listener the peer
//! is the address the PROXY header named ([`crate::proxy_protocol::ProxyHeader::client_addr`]),
//! not the load balancer's socket address.
//!
//! The rule is the rightmost-untrusted one. Each proxy appends the address it received the
//! request from, so the right end of the list was written by our own proxies and the left
//! part by whoever sent the request, which may be anyone: a client can start the list with
//! any address it likes. Walking from the right and stopping at the first address that is
//! not one of our proxies gives the last hop that a trusted proxy vouched for; nothing to
//! its left is believed.

use std::{fmt, net::IpAddr, str::FromStr};

use http::HeaderValue;
use ipnet::{IpNet, Ipv4Net};

/// The proxies whose `X-Forwarded-For` entries are believed: a list of IPv4 and IPv6
/// networks. IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) match as the IPv4 addresses
/// they are, on either side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `trusted_proxies` entry that is neither an IP address nor a CIDR network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trusted proxy {entry:?} is neither an IP address nor a CIDR network like 10.0.0.0/8")]
pub struct TrustedProxyError {
    /// The entry as written.
    pub entry: String,
}

impl TrustedProxies {
    /// Parses entries, each a CIDR network (`10.0.0.0/8`, `2001:db8::/32`) or a bare
    /// address (one host). Host bits in a network are dropped (`10.1.2.3/8` is
    /// `10.0.0.0/8`), as in other servers' equivalents. Fails on the first bad entry.
    pub fn parse<I, S>(entries: I) -> Result<Self, TrustedProxyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        entries
            .into_iter()
            .map(|entry| parse_entry(entry.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` belongs to one of the trusted networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted, in which case [`client_ip`] always returns the peer.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The trusted networks, normalized.
    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

impl FromStr for TrustedProxies {
    type Err = TrustedProxyError;

    /// Parses a comma-separated list, as an environment variable would hold it.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        if list.trim().is_empty() {
            return Ok(Self::default());
        }
        Self::parse(list.split(','))
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

/// One entry, normalized: host bits cleared, IPv4-mapped networks as IPv4 networks (so that
/// they match the canonical addresses [`TrustedProxies::contains`] compares).
fn parse_entry(entry: &str) -> Result<IpNet, TrustedProxyError> {
    let error = || TrustedProxyError {
        entry: entry.to_owned(),
    };
    let trimmed = entry.trim();
    let net = match trimmed.parse::<IpNet>() {
        Ok(net) => net.trunc(),
        Err(_) => IpNet::from(trimmed.parse::<IpAddr>().map_err(|_| error())?),
    };
    Ok(match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            // The prefix is at least 96, so the IPv4 prefix is at most 32: always valid.
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .map_err(|_| error())?,
            None => IpNet::V6(v6),
        },
        other => other,
    })
}

/// The client's address for a request that arrived from `peer` with the given
/// `X-Forwarded-For` header values (every instance, in order; each a comma-separated list).
///
/// If `peer` is not trusted, it is the client and the header is ignored. Otherwise the
/// list is walked from the right, skipping trusted addresses: the first untrusted one is
/// the client; if all are trusted, the leftmost is. An entry that is not an address (`unknown`,
/// an obfuscated name, garbage, an empty item) stops the walk, and the last trusted hop
/// before it is returned: what a trusted proxy could not name is not guessed at. Entries
/// may carry a port (`192.0.2.1:1234`, `[2001:db8::1]:1234`), as some proxies write them.
/// IPv4-mapped IPv6 addresses come back as IPv4.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a HeaderValue>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    // Header values cannot be walked backwards without collecting them; their number is
    // bounded by the server's header size limit.
    let values: Vec<&HeaderValue> = forwarded_for.into_iter().collect();
    let mut last_trusted = peer;
    for value in values.into_iter().rev() {
        let Ok(list) = value.to_str() else {
            return last_trusted;
        };
        for entry in list.rsplit(',') {
            let Some(ip) = parse_forwarded_ip(entry) else {
                return last_trusted;
            };
            if !trusted.contains(ip) {
                return ip;
            }
            last_trusted = ip;
        }
    }
    last_trusted
}

/// One `X-Forwarded-For` entry: an address, possibly with a port, canonical.
fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = match entry.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => match entry.parse::<std::net::SocketAddr>() {
            Ok(addr) => addr.ip(),
            // `[2001:db8::1]` without a port.
            Err(_) => entry
                .strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<std::net::Ipv6Addr>()
                .ok()?
                .into(),
        },
    };
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries).unwrap()
    }

    fn xff(values: &[&str]) -> Vec<HeaderValue> {
        values
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect()
    }

    fn client(peer: &str, values: &[&str], trusted: &TrustedProxies) -> IpAddr {
        client_ip(ip(peer), &xff(values), trusted)
    }

    #[test]
    fn entries_parse_as_networks_or_hosts() {
        let list = trusted(&["10.0.0.0/8", " 192.0.2.1 ", "2001:db8::/32", "::1"]);
        assert_eq!(
            list.to_string(),
            "10.0.0.0/8,192.0.2.1/32,2001:db8::/32,::1/128"
        );
        assert!(list.contains(ip("10.200.3.4")));
        assert!(list.contains(ip("192.0.2.1")));
        assert!(!list.contains(ip("192.0.2.2")));
        assert!(list.contains(ip("2001:db8:ffff::9")));
        assert!(list.contains(ip("::1")));
        assert!(!list.contains(ip("2001:db9::1")));
    }

    #[test]
    fn host_bits_are_dropped() {
        assert_eq!(trusted(&["10.1.2.3/8"]).to_string(), "10.0.0.0/8");
    }

    #[test]
    fn a_bad_entry_is_named_in_the_error() {
        for bad in ["10.0.0.0/33", "not-an-ip", "", "10.0.0.0/", "10.0.0"] {
            let err = TrustedProxies::parse(["10.0.0.0/8", bad]).unwrap_err();
            assert_eq!(err.entry, bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_networks_both_ways() {
        let v4 = trusted(&["10.0.0.0/8"]);
        assert!(v4.contains(ip("::ffff:10.1.2.3")));
        let mapped = trusted(&["::ffff:10.0.0.0/104", "::ffff:192.0.2.1"]);
        assert_eq!(mapped.to_string(), "10.0.0.0/8,192.0.2.1/32");
        assert!(mapped.contains(ip("10.1.2.3")));
        assert!(mapped.contains(ip("192.0.2.1")));
    }

    #[test]
    fn from_str_splits_on_commas_and_takes_empty_as_none() {
        let list: TrustedProxies = "10.0.0.0/8, 127.0.0.1".parse().unwrap();
        assert_eq!(list, trusted(&["10.0.0.0/8", "127.0.0.1"]));
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_header_says() {
        let list = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            client("203.0.113.9", &["198.51.100.1"], &list),
            ip("203.0.113.9")
        );
        assert_eq!(
            client("203.0.113.9", &["198.51.100.1"], &TrustedProxies::default()),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        let list = trusted(&["10.0.0.0/8"]);
        assert_eq!(client("10.0.0.1", &[], &list), ip("10.0.0.1"));
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let list = trusted(&["10.0.0.0/8"]);
        // The client forged 6.6.6.6; 198.51.100.1 is what our first proxy saw.
        assert_eq!(
            client("10.0.0.1", &["6.6.6.6, 198.51.100.1, 10.0.0.2"], &list),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn several_header_instances_form_one_list() {
        let list = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            client(
                "10.0.0.1",
                &["6.6.6.6", "198.51.100.1", "10.0.0.3,10.0.0.2"],
                &list
            ),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn when_every_entry_is_trusted_the_leftmost_is_the_client() {
        let list = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            client("10.0.0.1", &["10.0.0.9, 10.0.0.2"], &list),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop() {
        let list = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            client("10.0.0.1", &["198.51.100.1, unknown, 10.0.0.2"], &list),
            ip("10.0.0.2")
        );
        assert_eq!(client("10.0.0.1", &["garbage"], &list), ip("10.0.0.1"));
        assert_eq!(client("10.0.0.1", &[""], &list), ip("10.0.0.1"));
        assert_eq!(
            client("10.0.0.1", &["198.51.100.1,,10.0.0.2"], &list),
            ip("10.0.0.2")
        );
        let not_utf8 = [HeaderValue::from_bytes(b"198.51.100.1, \xff").unwrap()];
        assert_eq!(client_ip(ip("10.0.0.1"), &not_utf8, &list), ip("10.0.0.1"));
    }

    #[test]
    fn garbage_left_of_the_client_does_not_matter() {
        let list = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            client("10.0.0.1", &["junk, 198.51.100.1"], &list),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn entries_with_ports_and_brackets_are_understood() {
        let list = trusted(&["10.0.0.0/8", "2001:db8::/32"]);
        assert_eq!(
            client("10.0.0.1", &["198.51.100.1:4567"], &list),
            ip("198.51.100.1")
        );
        assert_eq!(
            client("10.0.0.1", &["[2001:db9::5]:443, [2001:db8::2]"], &list),
            ip("2001:db9::5")
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_normalized() {
        let list = trusted(&["10.0.0.0/8"]);
        // A dual-stack listener reports IPv4 peers as mapped IPv6.
        assert_eq!(
            client("::ffff:10.0.0.1", &["::ffff:198.51.100.1"], &list),
            ip("198.51.100.1")
        );
        assert_eq!(client("::ffff:203.0.113.9", &[], &list), ip("203.0.113.9"));
    }
}
