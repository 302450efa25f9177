//! Response caching: the [`Cache`] trait, [`get_or_compute`], and the two caches.
//!
//! Values are opaque bytes with a time to live; [`get_or_compute`] stores any serde type as JSON.
//! Keys are namespaced by the caller (`metrics:overview`, `metrics:service:api`), so that
//! [`Cache::clear`] can drop a family with a glob (`metrics:*`). In a glob `*` matches any run of
//! characters and `?` exactly one byte; every other character, `[` and `\` included, is literal.

mod memory;
mod redis;

pub use self::memory::{MemoryCache, DEFAULT_CAPACITY_BYTES};
pub use self::redis::RedisCache;

use crate::KvHealth;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A byte cache with per-entry time to live.
///
/// Never fails: a cache that cannot reach its store misses on `get` and drops `set`, so callers
/// compute as if there were no cache.
#[async_trait]
pub trait Cache: Send + Sync {
    /// The value of `key`, unless absent or expired. Counts a hit or a miss.
    async fn get(&self, key: &str) -> Option<Vec<u8>>;

    /// Stores `value` under `key` for `ttl`, replacing any previous value. A zero `ttl` stores
    /// nothing.
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration);

    /// Removes the keys matching the glob `pattern` (`metrics:*`); returns how many were removed.
    async fn clear(&self, pattern: &str) -> usize;

    /// Hit and miss counts of this process, and the size of the cache.
    async fn stats(&self) -> CacheStats;

    /// `"memory"` or `"redis"`: the configured backend.
    fn backend(&self) -> &'static str;

    /// Whether the cache works as configured.
    fn health(&self) -> KvHealth;
}

/// What `GET /api/v1/cache/stats` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheStats {
    /// `"memory"` or `"redis"`.
    pub backend: &'static str,
    /// `get`s that found a value, since this process started.
    pub hits: u64,
    /// `get`s that found none (including those Redis could not answer).
    pub misses: u64,
    /// `hits / (hits + misses)`, from 0 to 1; 0 before the first `get`.
    pub hit_rate: f64,
    /// Entries in the cache (on Redis: all replicas' entries; 0 while unreachable).
    pub keys: u64,
    /// Bytes used: the entries' size in memory; on Redis the server's `used_memory` (all data,
    /// not only the cache). `None` when unknown.
    pub memory_bytes: Option<u64>,
}

/// The cached value of `key` if there is one (`(value, true)`), else the result of `compute`,
/// stored for `ttl` when it succeeds (`(value, false)`).
///
/// Values are stored as JSON. A cached value that no longer deserialises as `T` (its type
/// changed) counts as absent and is replaced. Errors of `compute` are returned and not cached.
pub async fn get_or_compute<T, E, F, Fut>(
    cache: &dyn Cache,
    key: &str,
    ttl: Duration,
    compute: F,
) -> Result<(T, bool), E>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    if let Some(bytes) = cache.get(key).await {
        match serde_json::from_slice(&bytes) {
            Ok(value) => return Ok((value, true)),
            Err(e) => tracing::debug!(key, error = %e, "cached value does not deserialise; recomputing"),
        }
    }
    let value = compute().await?;
    match serde_json::to_vec(&value) {
        Ok(bytes) => cache.set(key, bytes, ttl).await,
        Err(e) => tracing::warn!(key, error = %e, "value not cached: it does not serialise"),
    }
    Ok((value, false))
}

/// Hit and miss counters of one cache in this process.
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Counters {
    /// Counts the outcome of one `get` and passes it through.
    fn record(&self, value: Option<Vec<u8>>) -> Option<Vec<u8>> {
        let counter = if value.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        value
    }

    fn stats(&self, backend: &'static str, keys: u64, memory_bytes: Option<u64>) -> CacheStats {
        let hits = self.hits.load(Ordering::Relaxed);
        let misses = self.misses.load(Ordering::Relaxed);
        let lookups = hits + misses;
        let hit_rate = if lookups == 0 { 0.0 } else { hits as f64 / lookups as f64 };
        CacheStats { backend, hits, misses, hit_rate, keys, memory_bytes }
    }
}
