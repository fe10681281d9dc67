//! Checks of single configuration values: each turns a raw number or string into its working
//! form, or a [`ConfigError::Invalid`] naming the key.

use std::{net::SocketAddr, time::Duration};

use super::ConfigError;

/// An [`ConfigError::Invalid`] for `key`.
pub fn invalid<T>(key: impl Into<String>, reason: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    })
}

pub(super) fn parse_addr(key: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value
        .parse()
        .or_else(|_| invalid(key, format!("{value:?} is not an IP address and port")))
}

/// The longest duration a setting takes: a year, far below what `Duration` can hold.
pub(super) const MAX_SECS: f64 = 86_400.0 * 365.0;

/// A positive number of seconds (at most a year) as a `Duration`.
pub fn secs(key: &str, value: f64) -> Result<Duration, ConfigError> {
    if !(value > 0.0 && value <= MAX_SECS) {
        return invalid(key, format!("{value} is not a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(value))
}

pub(super) fn coalesce_window(ms: f64) -> Result<Duration, ConfigError> {
    if !(0.0..=100.0).contains(&ms) {
        return invalid(
            "server.write_coalesce_ms",
            format!("{ms} is outside 0..=100 milliseconds"),
        );
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

pub(super) fn positive<T: PartialOrd + Default + std::fmt::Display>(
    key: &'static str,
    value: T,
) -> Result<T, ConfigError> {
    if value <= T::default() {
        return invalid(key, format!("{value} must be positive"));
    }
    Ok(value)
}

pub(super) fn at_least<T: PartialOrd + std::fmt::Display + Copy>(
    key: &'static str,
    value: T,
    min: T,
) -> Result<T, ConfigError> {
    if value < min {
        return invalid(key, format!("{value} is below the minimum of {min}"));
    }
    Ok(value)
}

/// HTTP/2 windows are at least the protocol's default and at most 2^31 - 1 (RFC 9113 6.9).
pub(super) fn window(key: &'static str, value: u32) -> Result<u32, ConfigError> {
    if !(65_535..=(1 << 31) - 1).contains(&value) {
        return invalid(key, format!("{value} is outside 65535..=2147483647"));
    }
    Ok(value)
}

/// Checks a bearer token read from the configuration: what a client can send as
/// `Authorization: Bearer`, and long enough not to guess.
pub(super) fn bearer_token(key: &str, token: &str) -> Result<(), ConfigError> {
    if token.len() < 16 || !crate::auth::is_token68(token) {
        return invalid(
            key,
            "tokens need at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (and `=` only at the end)",
        );
    }
    Ok(())
}
