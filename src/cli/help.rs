//! `ssegate serve --help` with each option's default. The serve flags are overrides
//! (`Option`s, so a configuration file's values stand unless a flag is given), which clap
//! cannot show a default for; the defaults are read here from the configuration's own
//! (`RawConfig::default()`), through the key each flag's help starts with
//! (`server.header_read_timeout_secs`), so the help cannot drift from what runs.

use clap::{ArgAction, CommandFactory, FromArgMatches};

use ssegate::config::RawConfig;

use super::Cli;

/// Parses the process's arguments (exiting with clap's message and code on an error, or
/// after printing help or the version), with `serve`'s help showing the defaults.
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

/// The command line's definition, `serve`'s value options annotated with their defaults.
pub fn command() -> clap::Command {
    let Ok(defaults) = toml::Value::try_from(RawConfig::default()) else {
        return Cli::command();
    };
    Cli::command().mut_subcommand("serve", |serve| {
        let annotations: Vec<(String, String)> = serve
            .get_arguments()
            .filter(|arg| matches!(arg.get_action(), ArgAction::Set | ArgAction::Append))
            .filter_map(|arg| {
                let help = arg.get_help()?.to_string();
                let default = lookup(&defaults, config_key(&help))?;
                Some((
                    arg.get_id().to_string(),
                    format!("{help} [default: {default}]"),
                ))
            })
            .collect();
        annotations.into_iter().fold(serve, |serve, (id, help)| {
            serve.mut_arg(id, |arg| arg.help(help))
        })
    })
}

/// The configuration key a flag's help starts with: `server.max_connections` of
/// "server.max_connections" or of "server.write_coalesce_ms (0 turns write batching off)".
fn config_key(help: &str) -> &str {
    let end = help
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(help.len());
    help[..end].trim_end_matches('.')
}

/// The default at a dotted key, as an operator would write it in the file; `None` for a key
/// with no default (an optional setting, off unless set) or a text that is not a key.
fn lookup(defaults: &toml::Value, key: &str) -> Option<String> {
    if !key.contains('.') {
        return None;
    }
    let value = key
        .split('.')
        .try_fold(defaults, |table, part| table.get(part))?;
    match value {
        toml::Value::String(text) if text.is_empty() => None,
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Array(items) if items.is_empty() => None,
        // As the comma-separated flags take them.
        toml::Value::Array(items) => Some(
            items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map_or_else(|| item.to_string(), str::to_owned)
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
        toml::Value::Table(_) => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_help() -> String {
        let mut serve = command().find_subcommand("serve").expect("serve").clone();
        serve.render_long_help().to_string()
    }

    #[test]
    fn serve_help_shows_the_configuration_defaults() {
        let help = serve_help();
        for expected in [
            "server.listen: TLS listener address [default: 127.0.0.1:8443]",
            "server.header_read_timeout_secs [default: 10.0]",
            "server.max_connections [default: 10000]",
            "tls.hosts: comma-separated hosts of the generated certificate \
             [default: localhost,127.0.0.1,::1]",
        ] {
            assert!(help.contains(expected), "{expected:?} not in:\n{help}");
        }
    }

    #[test]
    fn flags_that_switch_something_off_show_no_default() {
        let help = serve_help();
        let line = help
            .lines()
            .skip_while(|line| !line.contains("--no-admin"))
            .nth(1)
            .expect("--no-admin's help");
        assert!(!line.contains("[default"), "{line}");
    }

    #[test]
    fn keys_are_read_off_the_help_text() {
        assert_eq!(
            config_key("server.max_connections"),
            "server.max_connections"
        );
        assert_eq!(
            config_key("server.write_coalesce_ms (0 turns write batching off)"),
            "server.write_coalesce_ms"
        );
        assert_eq!(
            config_key("server.listen: TLS listener address"),
            "server.listen"
        );
        assert_eq!(config_key("TOML configuration file"), "TOML");
    }
}
