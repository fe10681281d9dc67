//! Header rewriting between client and upstream: RFC 9110 hop-by-hop headers removed both
//! ways, and the forwarding headers (`Forwarded`, `X-Forwarded-For/-Proto/-Host`, `Via`)
//! added.

use std::net::IpAddr;

use http::{header, HeaderMap, HeaderName, HeaderValue, Version};

/// Headers that describe one connection, never the message (RFC 9110 7.6.1), plus the
/// non-standard ones that behave the same way.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What the gateway knows about the client side of a request.
#[derive(Debug, Clone)]
pub struct ForwardedFor {
    /// The client's address (after PROXY protocol and trusted proxies).
    pub client: IpAddr,
    /// True when the client reached ssegate over TLS.
    pub https: bool,
    /// The host the client asked for.
    pub host: Option<String>,
    /// Keep an incoming `X-Forwarded-For` chain and `Forwarded` (the peer is a trusted
    /// proxy); otherwise they are replaced, so clients cannot forge them.
    pub trust_incoming: bool,
}

/// Whether a request's `Accept` lists `text/event-stream` (any parameters, any weight).
pub fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|media| media.split(';').next())
        .any(|media| media.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// Removes hop-by-hop headers, including every header the `Connection` header names.
/// With `keep_upgrade`, `Upgrade` and `Connection: upgrade` survive (an HTTP/1.1 upgrade
/// passes through end to end).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::try_from(token.trim()).ok())
        .collect();
    let upgrade = keep_upgrade
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten();
    let te_trailers = headers.get_all(header::TE).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
    });
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    if te_trailers {
        // The one TE value that may cross (RFC 9110 10.1.4): the client accepts trailers.
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if let Some(upgrade) = upgrade {
        headers.insert(header::UPGRADE, upgrade);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Adds `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host`, `Forwarded` and `Via` to
/// a request going upstream.
pub fn add_forwarding(headers: &mut HeaderMap, from: &ForwardedFor, version: Version) {
    let proto = if from.https { "https" } else { "http" };
    let client = from.client.to_string();
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(chain) if from.trust_incoming && !chain.is_empty() => format!("{chain}, {client}"),
        _ => client.clone(),
    };
    set(headers, "x-forwarded-for", &xff);
    if !(from.trust_incoming && headers.contains_key("x-forwarded-proto")) {
        set(headers, "x-forwarded-proto", proto);
    }
    if let Some(host) = &from.host {
        if !(from.trust_incoming && headers.contains_key("x-forwarded-host")) {
            set(headers, "x-forwarded-host", host);
        }
    }
    // RFC 7239: IPv6 addresses are quoted and bracketed.
    let node = match from.client {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("\"[{ip}]\""),
    };
    let mut element = format!("for={node};proto={proto}");
    if let Some(host) = from.host.as_deref().filter(|h| is_token(h)) {
        element.push_str(";host=");
        element.push_str(host);
    }
    let forwarded = match headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(prev) if from.trust_incoming && !prev.is_empty() => format!("{prev}, {element}"),
        _ => element,
    };
    set(headers, "forwarded", &forwarded);
    append_via(headers, version);
}

/// Appends this hop to `Via` (RFC 9110 7.6.3), on requests and responses alike.
pub fn append_via(headers: &mut HeaderMap, version: Version) {
    let hop = match version {
        Version::HTTP_2 => "2 ssegate",
        Version::HTTP_3 => "3 ssegate",
        Version::HTTP_10 => "1.0 ssegate",
        _ => "1.1 ssegate",
    };
    let via = match headers.get(header::VIA).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.is_empty() => format!("{prev}, {hop}"),
        _ => hop.to_owned(),
    };
    set(headers, "via", &via);
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    // Every value here is built from an IP address, a validated host or fixed text.
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:[]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::try_from(*k).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "gzip, trailers"),
            ("upgrade", "websocket"),
            ("accept", "text/event-stream"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept", "te"]);
        assert_eq!(h["te"], "trailers");
    }

    #[test]
    fn an_upgrade_survives_when_kept() {
        let mut h = headers(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
    }

    #[test]
    fn untrusted_forwarding_headers_are_replaced() {
        let mut h = headers(&[("x-forwarded-for", "6.6.6.6"), ("forwarded", "for=6.6.6.6")]);
        let from = ForwardedFor {
            client: "203.0.113.7".parse().unwrap(),
            https: true,
            host: Some("example.com".into()),
            trust_incoming: false,
        };
        add_forwarding(&mut h, &from, Version::HTTP_2);
        assert_eq!(h["x-forwarded-for"], "203.0.113.7");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "example.com");
        assert_eq!(
            h["forwarded"],
            "for=203.0.113.7;proto=https;host=example.com"
        );
        assert_eq!(h["via"], "2 ssegate");
    }

    #[test]
    fn trusted_chains_are_extended() {
        let mut h = headers(&[("x-forwarded-for", "198.51.100.1"), ("via", "1.1 nginx")]);
        let from = ForwardedFor {
            client: "::1".parse().unwrap(),
            https: false,
            host: None,
            trust_incoming: true,
        };
        add_forwarding(&mut h, &from, Version::HTTP_11);
        assert_eq!(h["x-forwarded-for"], "198.51.100.1, ::1");
        assert_eq!(h["forwarded"], "for=\"[::1]\";proto=http");
        assert_eq!(h["via"], "1.1 nginx, 1.1 ssegate");
    }
}
