//! Publish rate limits: a token bucket per client address and per publish token, refusing
//! with `429` and `Retry-After` (the native API and the Mercure hub alike).
//!
//! Buckets live in a map bounded by [`MAX_KEYS`]: when it is full, the buckets that have
//! refilled (idle publishers, who lose nothing by being forgotten) are dropped first, and if
//! none has, the new key is refused rather than the map growing, so a flood of addresses
//! cannot grow memory.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hash},
    net::IpAddr,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Mutex,
    },
    time::{Duration, Instant},
};

use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

use super::{error, ResponseBody};

/// Most keys (addresses, tokens) one limiter tracks at once.
pub const MAX_KEYS: usize = 100_000;

/// Token buckets by key: `rate` per second, up to `burst` at once.
#[derive(Debug)]
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `rate` events per second, with bursts of `burst`.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key` at `now`, or says how long until one is there.
    pub fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(key) && buckets.len() >= MAX_KEYS {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.refilled(now, rate) < burst);
            if buckets.len() >= MAX_KEYS {
                return Err(Duration::from_secs(1));
            }
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        bucket.tokens = bucket.refilled(now, self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            // At most a day: a rate of almost nothing would make the wait overflow.
            let wait = ((1.0 - bucket.tokens) / self.rate).min(86_400.0);
            Err(Duration::from_secs_f64(wait))
        }
    }
}

impl Bucket {
    fn refilled(&self, now: Instant, rate: f64) -> f64 {
        self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate
    }
}

/// The publish limits of a server, and how often they refused.
#[derive(Debug)]
pub struct PublishLimits {
    per_client: Option<RateLimiter<IpAddr>>,
    per_token: Option<RateLimiter<u64>>,
    refused: AtomicU64,
    /// Keys tokens by a keyed hash: the map holds no secret.
    hasher: std::collections::hash_map::RandomState,
}

impl PublishLimits {
    /// Limits of `per_client` and `per_token` publishes per second (0: none), each with a
    /// burst of one second's worth.
    pub fn new(per_client: f64, per_token: f64) -> Self {
        Self {
            per_client: (per_client > 0.0).then(|| RateLimiter::new(per_client, per_client)),
            per_token: (per_token > 0.0).then(|| RateLimiter::new(per_token, per_token)),
            refused: AtomicU64::new(0),
            hasher: Default::default(),
        }
    }

    /// No limits.
    pub fn none() -> Self {
        Self::new(0.0, 0.0)
    }

    /// Takes one publish for `client` (loopback addresses are not limited: the local
    /// application publishing is trusted) and for the request's bearer token; `429` with
    /// `Retry-After` when either is over its rate.
    #[allow(clippy::result_large_err)] // the error is the response itself, built once
    pub fn check(
        &self,
        client: Option<IpAddr>,
        headers: &HeaderMap,
    ) -> Result<(), Response<ResponseBody>> {
        let now = Instant::now();
        let by_client = match (&self.per_client, client) {
            (Some(limiter), Some(ip)) if !ip.is_loopback() => limiter.take(&ip, now),
            _ => Ok(()),
        };
        let by_token = match (&self.per_token, bearer(headers)) {
            (Some(limiter), Some(token)) => limiter.take(&self.hasher.hash_one(token), now),
            _ => Ok(()),
        };
        let Some(wait) = by_client.err().or(by_token.err()) else {
            return Ok(());
        };
        let refused = self.refused.fetch_add(1, Relaxed) + 1;
        if refused.is_power_of_two() {
            tracing::warn!(
                refused,
                ?client,
                "publish rate limit: refusing publishes (429)"
            );
        }
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many publishes: slow down and retry after the Retry-After seconds",
        );
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        Err(response)
    }

    /// Publishes refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Relaxed)
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let limiter = RateLimiter::new(10.0, 3.0);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take(&1, start).is_ok());
        }
        let wait = limiter.take(&1, start).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // Another key has its own bucket; a tenth of a second later one more token is back.
        assert!(limiter.take(&2, start).is_ok());
        assert!(limiter.take(&1, start + Duration::from_millis(100)).is_ok());
        assert!(limiter
            .take(&1, start + Duration::from_millis(100))
            .is_err());
    }

    #[test]
    fn a_rate_of_almost_nothing_waits_a_day_instead_of_panicking() {
        let limiter = RateLimiter::new(1e-320, 1.0);
        let start = Instant::now();
        assert!(limiter.take(&1, start).is_ok());
        assert_eq!(limiter.take(&1, start), Err(Duration::from_secs(86_400)));
    }

    #[test]
    fn a_full_map_forgets_idle_keys_and_refuses_only_when_none_is() {
        let limiter = RateLimiter::new(1.0, 1.0);
        let start = Instant::now();
        for key in 0..MAX_KEYS {
            assert!(limiter.take(&key, start).is_ok());
        }
        // Every bucket is empty: a new key is refused instead of growing the map.
        assert!(limiter.take(&MAX_KEYS, start).is_err());
        // A second later they have refilled and are forgotten to make room.
        assert!(limiter
            .take(&MAX_KEYS, start + Duration::from_secs(1))
            .is_ok());
    }

    #[test]
    fn over_the_rate_is_429_with_retry_after_and_loopback_is_not_limited() {
        let limits = PublishLimits::new(1.0, 0.0);
        let remote: IpAddr = "192.0.2.7".parse().unwrap();
        let headers = HeaderMap::new();
        assert!(limits.check(Some(remote), &headers).is_ok());
        let refused = limits.check(Some(remote), &headers).unwrap_err();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        for _ in 0..10 {
            assert!(limits
                .check(Some("127.0.0.1".parse().unwrap()), &headers)
                .is_ok());
        }
        assert_eq!(limits.refused(), 1);
    }

    #[test]
    fn tokens_are_limited_each_on_their_own() {
        let limits = PublishLimits::new(0.0, 1.0);
        let with = |token: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
            headers
        };
        let local = Some("127.0.0.1".parse().unwrap());
        assert!(limits.check(local, &with("a")).is_ok());
        assert!(limits.check(local, &with("a")).is_err());
        assert!(limits.check(local, &with("b")).is_ok());
    }
}
