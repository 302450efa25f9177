//! The Redis cache, shared by every LogFlow replica.

use super::{Cache, CacheStats, Counters};
use crate::glob;
use crate::redis_conn::{RedisConn, RedisHandle, Scan};
use crate::KvHealth;
use async_trait::async_trait;
use redis::RedisResult;
use std::time::Duration;

/// Every cache key starts with this, so the cache can be counted and cleared apart from other data.
const KEY_PREFIX: &str = "logflow:cache:";

/// Cache on Redis: keys `logflow:cache:{key}` set with `SET PX`, cleared with `SCAN` + `UNLINK`.
///
/// While Redis is unreachable, `get` misses and `set` does nothing, without waiting (see
/// [`RedisHandle`]); [`health`](Cache::health) reports `degraded`.
pub struct RedisCache {
    redis: RedisHandle,
    counters: Counters,
}

impl RedisCache {
    /// A cache on the shared connection `redis`.
    pub fn new(redis: RedisHandle) -> RedisCache {
        RedisCache { redis, counters: Counters::default() }
    }

    async fn redis_clear(conn: &mut RedisConn, pattern: &str) -> RedisResult<usize> {
        let mut removed = 0;
        let mut scan = Scan::new(format!("{}{}", glob::escape_redis(KEY_PREFIX), glob::to_redis(pattern)));
        while let Some(keys) = scan.next_batch(conn).await? {
            if !keys.is_empty() {
                removed += redis::cmd("UNLINK").arg(&keys).query_async::<usize>(conn).await?;
            }
        }
        Ok(removed)
    }

    async fn redis_size(conn: &mut RedisConn) -> RedisResult<(u64, Option<u64>)> {
        let mut keys = 0;
        let mut scan = Scan::new(format!("{KEY_PREFIX}*"));
        while let Some(batch) = scan.next_batch(conn).await? {
            keys += batch.len() as u64;
        }
        let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
        let used_memory = info.lines().find_map(|l| l.strip_prefix("used_memory:")).and_then(|v| v.trim().parse().ok());
        Ok((keys, used_memory))
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let value = match self.redis.conn() {
            Some(mut conn) => redis::cmd("GET")
                .arg(format!("{KEY_PREFIX}{key}"))
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
                .unwrap_or_else(|e| {
                    tracing::debug!(key, error = %e, "cache get on redis failed");
                    None
                }),
            None => None,
        };
        self.counters.record(value)
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let (Some(mut conn), true) = (self.redis.conn(), millis > 0) else { return };
        let set = redis::cmd("SET")
            .arg(format!("{KEY_PREFIX}{key}"))
            .arg(value)
            .arg("PX")
            .arg(millis)
            .query_async::<()>(&mut conn)
            .await;
        if let Err(e) = set {
            tracing::debug!(key, error = %e, "cache set on redis failed");
        }
    }

    async fn clear(&self, pattern: &str) -> usize {
        let Some(mut conn) = self.redis.conn() else { return 0 };
        Self::redis_clear(&mut conn, pattern).await.unwrap_or_else(|e| {
            tracing::warn!(pattern, error = %e, "cache clear on redis failed");
            0
        })
    }

    async fn stats(&self) -> CacheStats {
        let size = match self.redis.conn() {
            Some(mut conn) => Self::redis_size(&mut conn).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cache size from redis failed");
                (0, None)
            }),
            None => (0, None),
        };
        self.counters.stats("redis", size.0, size.1)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }

    fn health(&self) -> KvHealth {
        let mut health = self.redis.health();
        if let Some(detail) = &mut health.detail {
            detail.push_str("; the cache is bypassed until it is back");
        }
        health
    }
}
