use super::*;

#[test]
fn defaults_are_valid() {
    let config = Config::default();
    assert_eq!(config.server.listen.to_string(), DEFAULT_LISTEN);
    assert!(config.http2.max_concurrent_streams >= 256);
    assert_eq!(config.heartbeat_interval, Duration::from_secs(15));
    assert!(matches!(config.tls.default, TlsSource::Local { .. }));
}

#[test]
fn file_values_override_defaults() {
    let raw = RawConfig::from_toml(
        "[server]\nlisten = \"127.0.0.1:9000\"\n[hub]\nheartbeat_interval_secs = 0.5\n",
    )
    .unwrap();
    let config = raw.validate().unwrap();
    assert_eq!(config.server.listen.port(), 9000);
    assert_eq!(config.heartbeat_interval, Duration::from_millis(500));
}

#[test]
fn unknown_keys_are_named() {
    let err = RawConfig::from_toml("[hub]\nheartbeat = 3\n").unwrap_err();
    assert!(err.contains("heartbeat"), "{err}");
    let err = RawConfig::from_toml("[nope]\n").unwrap_err();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn bad_values_are_named() {
    let cases = [
        ("[server]\nlisten = \"localhost\"", "server.listen"),
        (
            "[hub]\nheartbeat_interval_secs = 0",
            "hub.heartbeat_interval_secs",
        ),
        (
            "[http2]\ninitial_stream_window = 10",
            "http2.initial_stream_window",
        ),
        ("[log]\nformat = \"xml\"", "log.format"),
        (
            "[server]\nwrite_coalesce_ms = -1",
            "server.write_coalesce_ms",
        ),
        ("[tls]\ncert = \"a.pem\"", "tls.key"),
        (
            "[tls.acme]\ndomains = [\"example.com\"]\nchallenge = \"http-01\"",
            "tls.acme.challenge",
        ),
    ];
    for (toml, key) in cases {
        let err = RawConfig::from_toml(toml).unwrap().validate().unwrap_err();
        assert!(err.to_string().contains(key), "{toml}: {err}");
    }
}

#[test]
fn wrong_types_are_named() {
    let err = RawConfig::from_toml("[server]\nmax_connections = \"many\"").unwrap_err();
    assert!(err.contains("max_connections"), "{err}");
}
