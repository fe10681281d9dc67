//! The request URL, checked once: scheme, host, port and path, the name the server's
//! certificate must match, and the query a publish appends.

use http::uri::{Authority, PathAndQuery, Scheme};
use http::Uri;
use rustls::pki_types::ServerName;

use super::ClientError;

/// A URL checked once: what to resolve, what to verify, what to send.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// Absolute, with a path (`/` when the URL had none): the form HTTP/2 sends.
    uri: Uri,
    /// `Some` for `https`: the name the certificate must match.
    server_name: Option<ServerName<'static>>,
    /// Host as resolved: an IPv6 literal loses its brackets.
    host: String,
    port: u16,
}

impl Target {
    /// Accepts absolute `http` and `https` URLs with a host and no credentials.
    pub(super) fn parse(url: &Uri) -> Result<Self, ClientError> {
        let invalid = |reason| ClientError::InvalidUrl {
            url: url.to_string(),
            reason,
        };
        let scheme = url.scheme().ok_or_else(|| invalid("no scheme"))?;
        let https = if *scheme == Scheme::HTTPS {
            true
        } else if *scheme == Scheme::HTTP {
            false
        } else {
            return Err(invalid("the scheme must be http or https"));
        };
        let authority = url.authority().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("credentials in the URL are not supported"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let server_name = if https {
            let name = ServerName::try_from(host.clone())
                .map_err(|_| invalid("the host is not a valid TLS server name"))?;
            Some(name)
        } else {
            None
        };
        let path_and_query = match url.path_and_query() {
            Some(pq) if pq.as_str().starts_with('/') => pq.clone(),
            Some(pq) => format!("/{pq}")
                .parse()
                .map_err(|_| invalid("invalid path"))?,
            None => PathAndQuery::from_static("/"),
        };
        let uri = build_uri(scheme.clone(), authority.clone(), path_and_query)
            .map_err(|_| invalid("invalid URL"))?;
        Ok(Self {
            uri,
            server_name,
            host,
            port,
        })
    }

    /// The URL with `pairs` appended to its query, form-encoded.
    pub(super) fn with_query_pairs<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ClientError> {
        let mut serializer =
            form_urlencoded::Serializer::new(self.uri.query().unwrap_or("").to_owned());
        serializer.extend_pairs(pairs);
        let query = serializer.finish();
        let path_and_query = if query.is_empty() {
            self.uri.path().to_owned()
        } else {
            format!("{}?{query}", self.uri.path())
        };
        let invalid = || ClientError::InvalidUrl {
            url: self.uri.to_string(),
            reason: "the query cannot be extended",
        };
        let path_and_query: PathAndQuery = path_and_query.parse().map_err(|_| invalid())?;
        let mut parts = self.uri.clone().into_parts();
        parts.path_and_query = Some(path_and_query);
        let uri = Uri::from_parts(parts).map_err(|_| invalid())?;
        Ok(Self {
            uri,
            ..self.clone()
        })
    }

    /// The absolute URL requested.
    pub(super) fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The name the server's certificate must match: `Some` exactly for `https`.
    pub(super) fn server_name(&self) -> Option<&ServerName<'static>> {
        self.server_name.as_ref()
    }

    /// The host to resolve (an IPv6 literal without its brackets).
    pub(super) fn host(&self) -> &str {
        &self.host
    }

    /// The port, the scheme's default when the URL has none.
    pub(super) fn port(&self) -> u16 {
        self.port
    }
}

fn build_uri(
    scheme: Scheme,
    authority: Authority,
    path_and_query: PathAndQuery,
) -> Result<Uri, http::Error> {
    Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Target, ClientError> {
        Target::parse(&url.parse().unwrap())
    }

    #[test]
    fn https_defaults_to_port_443_and_a_root_path() {
        let target = parse("https://example.com").unwrap();
        assert_eq!(target.port, 443);
        assert_eq!(target.uri.to_string(), "https://example.com/");
        assert!(target.server_name.is_some());
        assert_eq!(parse("http://example.com/x").unwrap().port, 80);
    }

    #[test]
    fn ipv6_literals_lose_their_brackets_for_resolving() {
        let target = parse("https://[::1]:8443/events").unwrap();
        assert_eq!(target.host, "::1");
        assert_eq!(target.port, 8443);
        assert_eq!(target.uri.to_string(), "https://[::1]:8443/events");
    }

    #[test]
    fn unusable_urls_are_rejected_with_a_reason() {
        for url in [
            "/events",
            "ftp://example.com/",
            "https://user:pw@example.com/",
        ] {
            let err = parse(url).unwrap_err();
            assert!(
                matches!(err, ClientError::InvalidUrl { .. }),
                "{url}: {err:?}"
            );
        }
    }

    #[test]
    fn query_pairs_are_appended_and_encoded() {
        let target = parse("http://h/events/a?x=1").unwrap();
        let target = target.with_query_pairs([("id", "a b&c")]).unwrap();
        assert_eq!(target.uri.to_string(), "http://h/events/a?x=1&id=a+b%26c");
        let target = parse("http://h/e").unwrap().with_query_pairs([]).unwrap();
        assert_eq!(target.uri.to_string(), "http://h/e");
    }
}
