//! The `trusted_proxies` list, parsed once with the rest of the configuration: the networks
//! whose `X-Forwarded-For` entries are believed ([`super::forwarded`] applies the rule).

use std::{fmt, net::IpAddr, str::FromStr};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries).unwrap()
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
}
