//! Matching a request against the gateway's routes ([`RouteConfig`], validated by
//! `config`), and the upstream path it is forwarded to.

use crate::config::RouteConfig;

impl RouteConfig {
    /// True when this route serves `path` for `host`.
    pub fn matches(&self, host: Option<&str>, path: &str) -> bool {
        if let Some(want) = &self.host {
            if host.is_none_or(|h| !h.eq_ignore_ascii_case(want)) {
                return false;
            }
        }
        self.path == "/"
            || path == self.path
            || (path.starts_with(&self.path) && path.as_bytes().get(self.path.len()) == Some(&b'/'))
    }

    /// The path and query to request upstream for the client's `path_and_query`.
    pub fn upstream_path_and_query(&self, path: &str, query: Option<&str>) -> String {
        let rest = if self.strip_prefix && self.path != "/" {
            path.strip_prefix(self.path.as_str()).unwrap_or(path)
        } else {
            path
        };
        let rest = if rest.is_empty() { "/" } else { rest };
        let mut out = format!("{}{}", self.upstream_path, rest);
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, RawRoute, RouteConfig, UpstreamProto};

    fn route(toml_route: &str) -> Result<RouteConfig, ConfigError> {
        let raw: RawRoute = toml::from_str(toml_route).unwrap();
        raw.validate(0)
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let r = route("path = \"/app/\"\nupstream = \"http://127.0.0.1:4000\"").unwrap();
        assert_eq!(r.path, "/app");
        assert!(r.matches(None, "/app"));
        assert!(r.matches(None, "/app/x"));
        assert!(!r.matches(None, "/apple"));
        let root = route("path = \"/\"\nupstream = \"h2c://127.0.0.1:4000\"").unwrap();
        assert!(root.matches(None, "/anything"));
        assert_eq!(root.proto, UpstreamProto::H2c);
    }

    #[test]
    fn host_is_matched_case_insensitively() {
        let r = route("path = \"/\"\nhost = \"Example.com\"\nupstream = \"http://a:1\"").unwrap();
        assert!(r.matches(Some("example.COM"), "/"));
        assert!(!r.matches(Some("other.com"), "/"));
        assert!(!r.matches(None, "/"));
    }

    #[test]
    fn upstream_paths_join_and_strip() {
        let r =
            route("path = \"/api\"\nupstream = \"http://a:1/base/\"\nstrip_prefix = true").unwrap();
        assert_eq!(
            r.upstream_path_and_query("/api/v1", Some("x=1")),
            "/base/v1?x=1"
        );
        assert_eq!(r.upstream_path_and_query("/api", None), "/base/");
        let keep = route("path = \"/api\"\nupstream = \"http://a:1\"").unwrap();
        assert_eq!(keep.upstream_path_and_query("/api/v1", None), "/api/v1");
    }
}
