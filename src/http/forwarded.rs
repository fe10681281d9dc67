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

use std::net::IpAddr;

use http::HeaderValue;

use super::TrustedProxies;

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
