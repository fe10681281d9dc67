//! Unit tests of the `[mercure]` section's validation: defaults, the hub URL, cookie names,
//! CORS origins, key sources and files, algorithms, issuers and limits, each refusal named
//! with its setting.

use super::*;

const SECRET: &str = "a-test-secret-of-at-least-32-bytes-long";

fn hmac(secret: &str) -> RawKey {
    RawKey {
        hmac_secret: Some(secret.into()),
        ..RawKey::default()
    }
}

fn issuer(key: RawKey) -> RawIssuer {
    RawIssuer {
        iss: "https://issuer.example".into(),
        key,
    }
}

/// The key and reason of a validation failure.
fn refusal(raw: RawMercure) -> (String, String) {
    match raw.validate() {
        Err(ConfigError::Invalid { key, reason }) => (key, reason),
        other => panic!("expected an invalid value, got {other:?}"),
    }
}

fn valid(raw: RawMercure) -> MercureConfig {
    raw.validate().expect("valid").expect("the hub is enabled")
}

#[test]
fn defaults_are_valid_and_keyless() {
    let config = valid(RawMercure::default());
    assert_eq!(config.cookie_name, DEFAULT_COOKIE);
    assert_eq!(config.cors, CorsOrigins::List(Vec::new()));
    assert!(!config.has_keys());
    assert_eq!(
        config.hub_url_for(8443).as_str(),
        "https://localhost:8443/.well-known/mercure"
    );
}

#[test]
fn a_disabled_hub_is_none_even_with_bad_values() {
    let raw = RawMercure {
        enabled: false,
        hub_url: Some("not a url".into()),
        ..RawMercure::default()
    };
    assert!(raw.validate().expect("not checked").is_none());
}

#[test]
fn hub_url_must_be_an_http_url_with_a_host_and_a_path() {
    for bad in [
        "not a url",
        "/.well-known/mercure",
        "ftp://hub.example/mercure",
        "mailto:hub@example.com",
        "https://hub.example",
        "https://hub.example/",
        "https://hub.example/mercure?x=1",
        "https://hub.example/mercure#f",
    ] {
        let raw = RawMercure {
            hub_url: Some(bad.into()),
            ..RawMercure::default()
        };
        let (key, reason) = refusal(raw);
        assert_eq!(key, "mercure.hub_url", "{bad}");
        assert!(reason.contains(bad), "{bad}: {reason}");
    }
    let raw = RawMercure {
        hub_url: Some("https://hub.example/mercure".into()),
        ..RawMercure::default()
    };
    assert_eq!(
        valid(raw).hub_url_for(1).as_str(),
        "https://hub.example/mercure"
    );
}

#[test]
fn cookie_names_must_be_rfc6265_tokens() {
    for bad in ["", "a b", "a;b", "a=b", "tok\u{e9}n", "a\"b"] {
        let raw = RawMercure {
            cookie_name: bad.into(),
            ..RawMercure::default()
        };
        assert_eq!(refusal(raw).0, "mercure.cookie_name", "{bad:?}");
    }
    let raw = RawMercure {
        legacy_cookie_name: "a,b".into(),
        ..RawMercure::default()
    };
    assert_eq!(refusal(raw).0, "mercure.legacy_cookie_name");
}

#[test]
fn cors_wildcard_cannot_be_combined_with_origins() {
    let raw = RawMercure {
        cors_origins: vec!["*".into(), "https://app.example".into()],
        ..RawMercure::default()
    };
    let (key, reason) = refusal(raw);
    assert_eq!(key, "mercure.cors_origins");
    assert!(reason.contains('*'), "{reason}");
    let raw = RawMercure {
        cors_origins: vec!["*".into()],
        ..RawMercure::default()
    };
    assert_eq!(valid(raw).cors, CorsOrigins::Any);
}

#[test]
fn cors_origins_are_origins_and_are_serialized() {
    for bad in [
        "app.example",
        "https://app.example/path",
        "data:text/plain,x",
    ] {
        let raw = RawMercure {
            cors_origins: vec![bad.into()],
            ..RawMercure::default()
        };
        assert_eq!(refusal(raw).0, "mercure.cors_origins", "{bad}");
    }
    let raw = RawMercure {
        cors_origins: vec![
            "https://App.Example:443".into(),
            "http://localhost:3000/".into(),
        ],
        ..RawMercure::default()
    };
    assert_eq!(
        valid(raw).cors,
        CorsOrigins::List(vec![
            "https://app.example".into(),
            "http://localhost:3000".into()
        ])
    );
}

#[test]
fn a_key_needs_exactly_one_source() {
    let two = RawKey {
        hmac_secret: Some(SECRET.into()),
        jwks_url: Some("https://issuer.example/jwks.json".into()),
        ..RawKey::default()
    };
    let raw = RawMercure {
        issuers: vec![issuer(hmac(SECRET)), issuer(two)],
        ..RawMercure::default()
    };
    let (key, reason) = refusal(raw);
    assert_eq!(key, "mercure.issuers[1]");
    assert!(reason.contains("exactly one"), "{reason}");

    let raw = RawMercure {
        legacy_keys: vec![RawKey::default()],
        ..RawMercure::default()
    };
    assert_eq!(refusal(raw).0, "mercure.legacy_keys[0]");
}

#[test]
fn an_issuer_needs_an_identifier() {
    let raw = RawMercure {
        issuers: vec![RawIssuer {
            iss: String::new(),
            key: hmac(SECRET),
        }],
        ..RawMercure::default()
    };
    assert_eq!(refusal(raw).0, "mercure.issuers[0].iss");
}

#[test]
fn hmac_secrets_need_32_bytes() {
    let raw = RawMercure {
        issuers: vec![issuer(hmac(&SECRET[..31]))],
        ..RawMercure::default()
    };
    let (key, reason) = refusal(raw);
    assert_eq!(key, "mercure.issuers[0].hmac_secret");
    assert!(reason.contains("32"), "{reason}");
    let config = valid(RawMercure {
        issuers: vec![issuer(hmac(&SECRET[..32]))],
        ..RawMercure::default()
    });
    assert!(config.has_keys());
}

#[test]
fn an_unreadable_key_file_is_named_with_its_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.key");
    let cases: [(&str, RawKey); 3] = [
        (
            "hmac_secret_file",
            RawKey {
                hmac_secret_file: Some(missing.clone()),
                ..RawKey::default()
            },
        ),
        (
            "public_key_file",
            RawKey {
                public_key_file: Some(missing.clone()),
                ..RawKey::default()
            },
        ),
        (
            "jwks_file",
            RawKey {
                jwks_file: Some(missing.clone()),
                ..RawKey::default()
            },
        ),
    ];
    for (field, key) in cases {
        let raw = RawMercure {
            issuers: vec![issuer(hmac(SECRET)), issuer(key)],
            ..RawMercure::default()
        };
        let (key, reason) = refusal(raw);
        assert_eq!(key, format!("mercure.issuers[1].{field}"));
        assert!(
            reason.contains(&missing.display().to_string()),
            "{field}: {reason}"
        );
    }
}

#[test]
fn an_hmac_secret_file_loses_its_trailing_newline_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("secret");
    // 31 bytes and a newline: too short once the newline is dropped.
    std::fs::write(&path, format!("{}\n", &SECRET[..31])).expect("write");
    let file_key = || RawKey {
        hmac_secret_file: Some(path.clone()),
        ..RawKey::default()
    };
    let raw = RawMercure {
        legacy_keys: vec![file_key()],
        ..RawMercure::default()
    };
    assert_eq!(refusal(raw).0, "mercure.legacy_keys[0].hmac_secret_file");
    std::fs::write(&path, format!("{SECRET}\n")).expect("write");
    let config = valid(RawMercure {
        legacy_keys: vec![file_key()],
        ..RawMercure::default()
    });
    assert_eq!(config.legacy_keys.len(), 1);
}

#[test]
fn unknown_algorithms_are_refused_where_they_are_named() {
    let raw = RawMercure {
        algorithms: vec!["HS256".into(), "XS999".into()],
        ..RawMercure::default()
    };
    let (key, reason) = refusal(raw);
    assert_eq!(key, "mercure.algorithms");
    assert!(reason.contains("XS999"), "{reason}");

    let raw = RawMercure {
        issuers: vec![issuer(RawKey {
            algorithms: vec!["none".into()],
            ..hmac(SECRET)
        })],
        ..RawMercure::default()
    };
    assert_eq!(refusal(raw).0, "mercure.issuers[0].algorithms");

    // A known algorithm of another key family.
    let raw = RawMercure {
        issuers: vec![issuer(RawKey {
            algorithms: vec!["RS256".into()],
            ..hmac(SECRET)
        })],
        ..RawMercure::default()
    };
    assert_eq!(refusal(raw).0, "mercure.issuers[0].algorithms");
}

#[test]
fn legacy_keys_cannot_come_from_a_url() {
    let raw = RawMercure {
        legacy_keys: vec![RawKey {
            jwks_url: Some("https://issuer.example/jwks.json".into()),
            ..RawKey::default()
        }],
        ..RawMercure::default()
    };
    assert_eq!(refusal(raw).0, "mercure.legacy_keys[0]");
}

#[test]
fn keys_of_one_issuer_are_grouped_and_url_keys_kept_apart() {
    let config = valid(RawMercure {
        issuers: vec![
            issuer(hmac(SECRET)),
            issuer(hmac("another-test-secret-of-32-bytes-or-more")),
            issuer(RawKey {
                jwks_url: Some("http://127.0.0.1:9/jwks.json".into()),
                jwks_refresh_secs: Some(60.0),
                ..RawKey::default()
            }),
        ],
        ..RawMercure::default()
    });
    assert_eq!(config.issuers.len(), 1);
    assert_eq!(config.issuers[0].keys.len(), 2);
    assert_eq!(config.remote_jwks.len(), 1);
    let (iss, fetch) = &config.remote_jwks[0];
    assert_eq!(iss, "https://issuer.example");
    assert!(fetch.allow_http, "loopback key servers may be plain http");
    assert_eq!(fetch.refresh, Duration::from_secs(60));
}

#[test]
fn max_publish_topics_must_be_positive() {
    let raw = RawMercure {
        max_publish_topics: 0,
        ..RawMercure::default()
    };
    assert_eq!(refusal(raw).0, "mercure.max_publish_topics");
}
