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
        // Beyond what a Duration holds (a panic once, found by the property below).
        (
            "[tls]\nwatch_interval_secs = 3e52",
            "tls.watch_interval_secs",
        ),
        (
            "[tls.acme]\ndomains = [\"example.com\"]\nretry_secs = 1e300",
            "tls.acme.retry_secs",
        ),
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

mod properties {
    //! Arbitrary TOML values at any key of working configurations: the loader never panics,
    //! and either loads the file or names the key at fault.

    use proptest::prelude::*;
    use toml::{Table, Value};

    use super::*;

    /// Working configurations: the defaults (every key written out) and the shipped examples.
    fn bases() -> Vec<Table> {
        let defaults = toml::to_string(&RawConfig::default()).unwrap();
        let mut bases = vec![defaults.parse::<Table>().unwrap()];
        for file in ["standalone", "behind-proxy", "cluster"] {
            let path = format!("{}/deploy/ssegate/{file}.toml", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(path).unwrap();
            bases.push(text.parse::<Table>().unwrap());
        }
        bases
    }

    /// The path of every value in `table`, tables and arrays included.
    fn paths(table: &Table) -> Vec<Vec<String>> {
        fn walk(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
            out.push(path.clone());
            match value {
                Value::Table(t) => {
                    for (k, v) in t {
                        path.push(k.clone());
                        walk(v, path, out);
                        path.pop();
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        path.push(i.to_string());
                        walk(v, path, out);
                        path.pop();
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&Value::Table(table.clone()), &mut Vec::new(), &mut out);
        out.retain(|p| !p.is_empty());
        out
    }

    fn replace(table: &mut Table, path: &[String], new: Value) {
        let mut slot = table.get_mut(&path[0]).unwrap();
        for step in &path[1..] {
            slot = match slot {
                Value::Table(t) => t.get_mut(step).unwrap(),
                Value::Array(a) => &mut a[step.parse::<usize>().unwrap()],
                _ => unreachable!("paths only go through tables and arrays"),
            };
        }
        *slot = new;
    }

    /// Any TOML value, strings kept printable so that no file name points at a device.
    fn toml_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::Boolean),
            any::<i64>().prop_map(Value::Integer),
            prop_oneof![-5i64..70000].prop_map(Value::Integer),
            prop_oneof![
                any::<f64>(),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(-0.0),
                -1.0..1e6f64
            ]
            .prop_map(Value::Float),
            "[ -~]{0,16}".prop_map(Value::String),
            "[a-z0-9.:/\\[\\]*-]{0,24}".prop_map(Value::String),
            Just(Value::Datetime("1979-05-27T07:32:00Z".parse().unwrap())),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                    .prop_map(|m| Value::Table(m.into_iter().collect())),
            ]
        })
    }

    /// Every key named in `value` (a table put in place of a value brings its own keys).
    fn keys_in(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Table(t) => {
                for (k, v) in t {
                    out.push(k.clone());
                    keys_in(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| keys_in(v, out)),
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn any_value_at_any_key_loads_or_names_the_key(
            base in 0usize..4,
            pick in any::<prop::sample::Index>(),
            new in toml_value(),
        ) {
            let mut table = bases().swap_remove(base);
            let paths = paths(&table);
            let path = pick.get(&paths).clone();
            replace(&mut table, &path, new.clone());
            let text = toml::to_string(&table).unwrap();
            let result = RawConfig::from_toml(&text)
                .and_then(|raw| raw.validate().map_err(|e| e.to_string()));
            let Err(message) = result else {
                return Ok(());
            };
            // The key: its own name (an array entry's is its array's: `route[2]`), or one
            // the new value brought.
            let mut names: Vec<String> = path
                .iter()
                .rev()
                .find(|step| step.parse::<usize>().is_err())
                .cloned()
                .into_iter()
                .collect();
            keys_in(&new, &mut names);
            prop_assert!(
                names.iter().any(|name| message.contains(name.as_str())),
                "{} = {new:?}: {message}",
                path.join(".")
            );
        }
    }
}
