//! Rate limiting: the [`RateLimiter`] trait, its [`Limit`]s and [`Decision`]s.
//!
//! Both limiters run GCRA, the generic cell rate algorithm (`ratelimit/gcra.rs`), in memory
//! ([`MemoryLimiter`]) or as one Lua script on Redis ([`RedisLimiter`]), so a limit means the same
//! on either backend: `count` requests may come at once, and then one more every `window / count`.

mod gcra;
mod memory;
mod redis;

pub use self::memory::MemoryLimiter;
pub use self::redis::RedisLimiter;

use crate::KvHealth;
use async_trait::async_trait;
use std::fmt;
use std::time::Duration;

/// A rate limit: `count` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    /// Requests allowed per window, and at once. `0` refuses every request.
    pub count: u32,
    /// The window the count refers to.
    pub window: Duration,
}

impl Limit {
    /// `count` requests per `window`.
    pub const fn new(count: u32, window: Duration) -> Limit {
        Limit { count, window }
    }

    /// `count` requests per second.
    pub const fn per_second(count: u32) -> Limit {
        Limit::new(count, Duration::from_secs(1))
    }

    /// `count` requests per minute.
    pub const fn per_minute(count: u32) -> Limit {
        Limit::new(count, Duration::from_secs(60))
    }

    /// `count` requests per hour.
    pub const fn per_hour(count: u32) -> Limit {
        Limit::new(count, Duration::from_secs(3600))
    }
}

/// `60 per 1 minute`, `20 per 1 hour`, `10 per 5 minutes`, `5 per 90 seconds`: the wording of the
/// spec's 429 message (`Rate limit exceeded: 60 per 1 minute`).
impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: u128| if n == 1 { "" } else { "s" };
        let w = self.window;
        if w.subsec_nanos() == 0 && w.as_secs() > 0 {
            let secs = w.as_secs();
            let (n, unit) = [(86400, "day"), (3600, "hour"), (60, "minute")]
                .into_iter()
                .find(|(len, _)| secs % len == 0)
                .map_or((secs, "second"), |(len, unit)| (secs / len, unit));
            write!(f, "{} per {n} {unit}{}", self.count, plural(n.into()))
        } else if w.subsec_nanos() % 1_000_000 == 0 {
            let ms = w.as_millis();
            write!(f, "{} per {ms} millisecond{}", self.count, plural(ms))
        } else {
            write!(f, "{} per {w:?}", self.count)
        }
    }
}

/// The answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The limit's count (for `X-RateLimit-Limit`).
    pub limit: u32,
    /// Requests that would be allowed right after this one.
    pub remaining: u32,
    /// Time until the full budget is back.
    pub reset_after: Duration,
    /// When refused: time until one request is allowed again (for `Retry-After`).
    pub retry_after: Option<Duration>,
}

/// One (identity, bucket) counter that is not at its full budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// Who is counted: `user:42`, `ip:10.0.0.1`.
    pub identity: String,
    /// The endpoint group: `search`, `auth_login`, ...
    pub bucket: String,
    /// The limit's count.
    pub limit: u32,
    /// The limit's window.
    pub window: Duration,
    /// Requests that would be allowed now.
    pub remaining: u32,
    /// Time until the full budget is back.
    pub reset_after: Duration,
}

/// Counts requests per (identity, bucket) and decides which may proceed.
///
/// The limit travels with every check rather than being configured per bucket, so a changed limit
/// applies at once; a counter that outlived a lowered limit may refuse until it has drained.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request of `identity` (`user:42`, `ip:10.0.0.1`) to `bucket` under `limit`.
    /// Refused requests are not counted. Never fails: a limiter that cannot reach its store
    /// decides locally.
    async fn check(&self, identity: &str, bucket: &str, limit: Limit) -> Decision;

    /// The counters not at their full budget, sorted by identity, then bucket.
    async fn status(&self) -> Vec<KeyStatus>;

    /// Gives `identity` its full budget back in every bucket; returns how many counters were reset.
    async fn reset(&self, identity: &str) -> usize;

    /// Gives everyone their full budget back; returns how many counters were reset.
    async fn reset_all(&self) -> usize;

    /// `"memory"` or `"redis"`: the configured backend (see [`health`](Self::health) for whether
    /// Redis is currently reachable).
    fn backend(&self) -> &'static str;

    /// Whether the limiter works as configured.
    fn health(&self) -> KvHealth;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_like_the_spec() {
        assert_eq!(Limit::per_minute(60).to_string(), "60 per 1 minute");
        assert_eq!(Limit::per_hour(20).to_string(), "20 per 1 hour");
        assert_eq!(Limit::per_second(5).to_string(), "5 per 1 second");
        assert_eq!(Limit::new(10, Duration::from_secs(300)).to_string(), "10 per 5 minutes");
        assert_eq!(Limit::new(10, Duration::from_secs(90)).to_string(), "10 per 90 seconds");
        assert_eq!(Limit::new(1000, Duration::from_secs(86400)).to_string(), "1000 per 1 day");
        assert_eq!(Limit::new(3, Duration::from_millis(1500)).to_string(), "3 per 1500 milliseconds");
        assert_eq!(Limit::new(3, Duration::from_micros(1500)).to_string(), "3 per 1.5ms");
    }
}
