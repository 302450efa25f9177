//! LogFlow's shared key-value services: the rate limiter and the response cache.
//!
//! Both come in two implementations behind one trait, like every engine-facing part of LogFlow:
//!
//! * in-process ([`MemoryLimiter`], [`MemoryCache`]): the default, nothing to run besides LogFlow;
//! * on Redis ([`RedisLimiter`], [`RedisCache`]): selected by configuration, so that several
//!   LogFlow replicas share one rate-limit budget and one cache.
//!
//! A tour of the modules:
//!
//! * [`redis_conn`]: [`RedisHandle`], the one Redis connection a process shares. It tracks whether
//!   Redis answers; while it does not, requests skip Redis entirely (no request waits for a dead
//!   server) and a background task reconnects.
//! * [`ratelimit`]: the [`RateLimiter`] trait and GCRA, the algorithm both limiters run (the Redis
//!   one as a Lua script, on the Redis clock). When Redis is down the Redis limiter counts in an
//!   internal [`MemoryLimiter`], so requests are still served and still limited.
//! * [`cache`]: the [`Cache`] trait, [`get_or_compute`], and the two caches. When Redis is down the
//!   Redis cache misses and drops writes: callers compute, as without a cache.
//!
//! Both services report [`KvHealth`]: `degraded` means "configured for Redis, serving without it".
//!
//! ```no_run
//! use logflow_kv::{Limit, MemoryLimiter, RateLimiter};
//!
//! # async fn demo() {
//! let limiter = MemoryLimiter::new();
//! let decision = limiter.check("ip:10.0.0.1", "search", Limit::per_minute(50)).await;
//! assert!(decision.allowed);
//! assert_eq!(decision.remaining, 49);
//! # }
//! ```

pub mod cache;
mod glob;
pub mod ratelimit;
pub mod redis_conn;

pub use cache::{get_or_compute, Cache, CacheStats, MemoryCache, RedisCache};
pub use ratelimit::{Decision, KeyStatus, Limit, MemoryLimiter, RateLimiter, RedisLimiter};
pub use redis_conn::{redis_url_from_env_parts, RedisHandle, RedisOptions, HEARTBEAT_INTERVAL, RETRY_INTERVAL};

use serde::Serialize;

/// Errors of this crate. Only configuration can fail: at run time an unreachable Redis degrades the
/// services instead of failing requests.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The Redis URL could not be parsed.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(#[source] redis::RedisError),
}

/// `Result` with this crate's [`KvError`].
pub type Result<T, E = KvError> = std::result::Result<T, E>;

/// The health of a rate limiter or cache, as `/health` and the management endpoints report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KvHealth {
    /// `"healthy"`, or `"degraded"` when the configured Redis is unreachable and the service runs
    /// without it.
    pub status: &'static str,
    /// `"memory"` or `"redis"`: the configured backend.
    pub backend: &'static str,
    /// Why the service is degraded and what it does meanwhile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl KvHealth {
    /// `status` when everything works.
    pub const HEALTHY: &'static str = "healthy";
    /// `status` when Redis is configured but unreachable.
    pub const DEGRADED: &'static str = "degraded";

    /// A healthy service on `backend`.
    pub fn healthy(backend: &'static str) -> KvHealth {
        KvHealth { status: Self::HEALTHY, backend, detail: None }
    }

    /// A degraded service on `backend`, with the reason.
    pub fn degraded(backend: &'static str, detail: String) -> KvHealth {
        KvHealth { status: Self::DEGRADED, backend, detail: Some(detail) }
    }

    /// Whether `status` is `"healthy"`.
    pub fn is_healthy(&self) -> bool {
        self.status == Self::HEALTHY
    }
}
