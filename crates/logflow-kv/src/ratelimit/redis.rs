//! The Redis rate limiter: GCRA in one Lua script, shared by every LogFlow replica.

use super::gcra::{self, Gcra};
use super::{Decision, KeyStatus, Limit, MemoryLimiter, RateLimiter};
use crate::glob::escape_redis;
use crate::redis_conn::{RedisConn, RedisHandle, Scan};
use crate::KvHealth;
use async_trait::async_trait;
use redis::{RedisResult, Script};
use std::time::Duration;

/// Every counter key starts with this; the rest is `{identity}:{bucket}`.
const KEY_PREFIX: &str = "logflow:rl:";

/// Rate limiter on Redis: all replicas that share the Redis share each client's budget.
///
/// Each check is one `EVALSHA` of a GCRA script that reads the time from Redis (`TIME`), so the
/// replicas' clocks do not matter. Counters are hashes `logflow:rl:{identity}:{bucket}` that
/// expire when their budget is full again.
///
/// While Redis is unreachable, checks are decided by an internal [`MemoryLimiter`]: requests are
/// still served and still limited, per replica, and [`health`](RateLimiter::health) reports
/// `degraded`. When Redis answers again it decides again (counters from the outage are not carried
/// over).
pub struct RedisLimiter {
    redis: RedisHandle,
    script: Script,
    fallback: MemoryLimiter,
}

impl RedisLimiter {
    /// A limiter on the shared connection `redis`.
    pub fn new(redis: RedisHandle) -> RedisLimiter {
        RedisLimiter { redis, script: Script::new(include_str!("gcra.lua")), fallback: MemoryLimiter::new() }
    }

    async fn redis_check(
        &self,
        conn: &mut RedisConn,
        gcra: &Gcra,
        identity: &str,
        bucket: &str,
        limit: Limit,
    ) -> RedisResult<Decision> {
        let (allowed, now, tat): (i64, u64, u64) = self
            .script
            .key(format!("{KEY_PREFIX}{identity}:{bucket}"))
            .arg(gcra.interval)
            .arg(gcra.tau)
            .arg(limit.count)
            .arg(gcra.window)
            .arg(identity)
            .arg(bucket)
            .invoke_async(conn)
            .await?;
        Ok(if allowed == 1 { gcra.allowed(tat, now) } else { gcra.refused(tat, now) })
    }

    async fn redis_status(&self, conn: &mut RedisConn) -> RedisResult<Vec<KeyStatus>> {
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(conn).await?;
        let now = secs * 1_000_000 + micros;
        let mut out = Vec::new();
        let mut scan = Scan::new(format!("{KEY_PREFIX}*"));
        while let Some(keys) = scan.next_batch(conn).await? {
            if keys.is_empty() {
                continue;
            }
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.cmd("HMGET").arg(key).arg(&["identity", "bucket", "tat", "count", "window"]);
            }
            type Row = (Option<String>, Option<String>, Option<u64>, Option<u32>, Option<u64>);
            let rows: Vec<Row> = pipe.query_async(conn).await?;
            for row in rows {
                // A counter that expired between SCAN and HMGET reads as all-nil.
                let (Some(identity), Some(bucket), Some(tat), Some(count), Some(window)) = row else { continue };
                let limit = Limit::new(count, Duration::from_micros(window));
                let Some(gcra) = Gcra::new(limit) else { continue };
                if tat <= now {
                    continue;
                }
                let (remaining, reset) = gcra.budget(tat, now);
                out.push(KeyStatus {
                    identity,
                    bucket,
                    limit: count,
                    window: limit.window,
                    remaining,
                    reset_after: Duration::from_micros(reset),
                });
            }
        }
        out.sort_by(|a, b| (&a.identity, &a.bucket).cmp(&(&b.identity, &b.bucket)));
        Ok(out)
    }

    /// Deletes the counters of `identity`, or all counters when `None`.
    async fn redis_reset(&self, conn: &mut RedisConn, identity: Option<&str>) -> RedisResult<usize> {
        let pattern = match identity {
            Some(id) => format!("{KEY_PREFIX}{}:*", escape_redis(id)),
            None => format!("{KEY_PREFIX}*"),
        };
        let mut deleted = 0;
        let mut scan = Scan::new(pattern);
        while let Some(mut keys) = scan.next_batch(conn).await? {
            if let (Some(id), false) = (identity, keys.is_empty()) {
                // `user:4:*` also matches an identity `user:4:x`: keep only the exact owner's keys.
                let mut pipe = redis::pipe();
                for key in &keys {
                    pipe.cmd("HGET").arg(key).arg("identity");
                }
                let owners: Vec<Option<String>> = pipe.query_async(conn).await?;
                let mut owners = owners.into_iter();
                keys.retain(|_| owners.next().flatten().as_deref() == Some(id));
            }
            if !keys.is_empty() {
                deleted += redis::cmd("UNLINK").arg(&keys).query_async::<usize>(conn).await?;
            }
        }
        Ok(deleted)
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, identity: &str, bucket: &str, limit: Limit) -> Decision {
        let Some(gcra) = Gcra::new(limit) else { return gcra::refuse_all(limit) };
        if let Some(mut conn) = self.redis.conn() {
            match self.redis_check(&mut conn, &gcra, identity, bucket, limit).await {
                Ok(decision) => return decision,
                Err(e) => {
                    tracing::warn!(error = %e, identity, bucket, "rate limit check on redis failed; deciding locally")
                }
            }
        }
        self.fallback.check(identity, bucket, limit).await
    }

    /// The counters on Redis; while Redis is unreachable, those of the local fallback.
    async fn status(&self) -> Vec<KeyStatus> {
        if let Some(mut conn) = self.redis.conn() {
            match self.redis_status(&mut conn).await {
                Ok(status) => return status,
                Err(e) => tracing::warn!(error = %e, "rate limit status from redis failed; showing local counters"),
            }
        }
        self.fallback.status().await
    }

    /// Resets on Redis and in the local fallback; counts the Redis counters, or the local ones
    /// while Redis is unreachable.
    async fn reset(&self, identity: &str) -> usize {
        let local = self.fallback.reset(identity).await;
        if let Some(mut conn) = self.redis.conn() {
            match self.redis_reset(&mut conn, Some(identity)).await {
                Ok(n) => return n,
                Err(e) => tracing::warn!(error = %e, identity, "rate limit reset on redis failed"),
            }
        }
        local
    }

    /// Resets on Redis and in the local fallback; counts as [`reset`](RateLimiter::reset) does.
    async fn reset_all(&self) -> usize {
        let local = self.fallback.reset_all().await;
        if let Some(mut conn) = self.redis.conn() {
            match self.redis_reset(&mut conn, None).await {
                Ok(n) => return n,
                Err(e) => tracing::warn!(error = %e, "rate limit reset on redis failed"),
            }
        }
        local
    }

    fn backend(&self) -> &'static str {
        "redis"
    }

    fn health(&self) -> KvHealth {
        let mut health = self.redis.health();
        if let Some(detail) = &mut health.detail {
            detail.push_str("; limits are counted per LogFlow process until it is back");
        }
        health
    }
}
