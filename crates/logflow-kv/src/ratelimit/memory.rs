//! The in-process rate limiter: GCRA counters in a sharded map.

use super::gcra::{self, Gcra};
use super::{Decision, KeyStatus, Limit, RateLimiter};
use crate::KvHealth;
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// Shards of the counter map; checks of different identities rarely wait for each other.
const SHARDS: usize = 32;
/// A shard drops its idle counters at least this often (µs) when used...
const PRUNE_EVERY: u64 = 10_000_000;
/// ...and whenever it has grown to twice its size after the last pruning (but not below this).
const PRUNE_MIN_LEN: usize = 1024;

/// Rate limiter for one process: counters live in memory, so replicas count separately.
///
/// A counter is one timestamp per (identity, bucket). Counters at their full budget are
/// indistinguishable from absent ones and are dropped: each shard prunes itself every 10 s when
/// used and whenever it doubles, so memory follows the number of recently active clients, not the
/// number ever seen.
pub struct MemoryLimiter {
    shards: Box<[Mutex<Shard>]>,
    hasher: std::hash::RandomState,
    /// Time zero of the counters' microsecond clock.
    epoch: Instant,
}

#[derive(Default)]
struct Shard {
    /// identity -> bucket -> counter: lookups by `&str` without allocating, and one identity's
    /// counters together for `reset`.
    counters: HashMap<String, HashMap<String, Counter>>,
    /// Number of counters in `counters`.
    len: usize,
    /// When (µs) to prune next at the latest.
    prune_at: u64,
    /// Prune once `len` exceeds this.
    prune_above: usize,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    /// Theoretical arrival time (µs), see [`gcra`].
    tat: u64,
    limit: Limit,
}

impl MemoryLimiter {
    /// An empty limiter.
    pub fn new() -> MemoryLimiter {
        let shards =
            (0..SHARDS).map(|_| Mutex::new(Shard { prune_above: PRUNE_MIN_LEN, ..Shard::default() })).collect();
        MemoryLimiter { shards, hasher: std::hash::RandomState::new(), epoch: Instant::now() }
    }

    /// Counters held in memory, including idle ones not yet pruned.
    pub fn tracked_keys(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len).sum()
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn shard(&self, identity: &str) -> &Mutex<Shard> {
        &self.shards[(self.hasher.hash_one(identity) % SHARDS as u64) as usize]
    }

    fn check_at(&self, identity: &str, bucket: &str, limit: Limit, now: u64) -> Decision {
        let Some(gcra) = Gcra::new(limit) else { return gcra::refuse_all(limit) };
        let mut shard = self.shard(identity).lock();
        if now >= shard.prune_at || shard.len > shard.prune_above {
            shard.prune(now);
        }
        let tat = shard.counters.get(identity).and_then(|b| b.get(bucket)).map(|c| c.tat);
        let (decision, new_tat) = gcra.check(tat, now);
        if let Some(tat) = new_tat {
            shard.store(identity, bucket, Counter { tat, limit });
        }
        decision
    }

    fn status_at(&self, now: u64) -> Vec<KeyStatus> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            shard.prune(now);
            for (identity, buckets) in &shard.counters {
                for (bucket, c) in buckets {
                    let Some(gcra) = Gcra::new(c.limit) else { continue };
                    let (remaining, reset) = gcra.budget(c.tat, now);
                    out.push(KeyStatus {
                        identity: identity.clone(),
                        bucket: bucket.clone(),
                        limit: c.limit.count,
                        window: c.limit.window,
                        remaining,
                        reset_after: Duration::from_micros(reset),
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.identity, &a.bucket).cmp(&(&b.identity, &b.bucket)));
        out
    }

    fn reset_at(&self, identity: &str, now: u64) -> usize {
        let mut shard = self.shard(identity).lock();
        let Some(buckets) = shard.counters.remove(identity) else { return 0 };
        shard.len -= buckets.len();
        buckets.values().filter(|c| c.tat > now).count()
    }

    fn reset_all_at(&self, now: u64) -> usize {
        let mut reset = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            reset += shard.counters.values().flat_map(|b| b.values()).filter(|c| c.tat > now).count();
            shard.counters.clear();
            shard.len = 0;
        }
        reset
    }
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        MemoryLimiter::new()
    }
}

impl Shard {
    fn store(&mut self, identity: &str, bucket: &str, counter: Counter) {
        let buckets = match self.counters.get_mut(identity) {
            Some(buckets) => buckets,
            None => self.counters.entry(identity.to_owned()).or_default(),
        };
        match buckets.get_mut(bucket) {
            Some(c) => *c = counter,
            None => {
                buckets.insert(bucket.to_owned(), counter);
                self.len += 1;
            }
        }
    }

    /// Drops the counters whose budget is full at `now`.
    fn prune(&mut self, now: u64) {
        self.counters.retain(|_, buckets| {
            buckets.retain(|_, c| c.tat > now);
            !buckets.is_empty()
        });
        self.len = self.counters.values().map(HashMap::len).sum();
        self.prune_at = now + PRUNE_EVERY;
        self.prune_above = (2 * self.len).max(PRUNE_MIN_LEN);
    }
}

#[async_trait]
impl RateLimiter for MemoryLimiter {
    async fn check(&self, identity: &str, bucket: &str, limit: Limit) -> Decision {
        self.check_at(identity, bucket, limit, self.now())
    }

    async fn status(&self) -> Vec<KeyStatus> {
        self.status_at(self.now())
    }

    async fn reset(&self, identity: &str) -> usize {
        self.reset_at(identity, self.now())
    }

    async fn reset_all(&self) -> usize {
        self.reset_all_at(self.now())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }

    fn health(&self) -> KvHealth {
        KvHealth::healthy("memory")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000;

    #[test]
    fn exactly_count_then_refused_with_precise_retry() {
        let l = MemoryLimiter::new();
        let limit = Limit::new(5, Duration::from_secs(10));
        for i in 0..5 {
            let d = l.check_at("ip:10.0.0.1", "search", limit, 0);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 4 - i);
            assert_eq!(d.reset_after, Duration::from_secs(2 * (i as u64 + 1)));
            assert_eq!((d.limit, d.retry_after), (5, None));
        }
        let d = l.check_at("ip:10.0.0.1", "search", limit, SEC / 2);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.retry_after, Some(Duration::from_millis(1500)));
        assert_eq!(d.reset_after, Duration::from_millis(9500));
    }

    #[test]
    fn budget_comes_back_over_time() {
        let l = MemoryLimiter::new();
        let limit = Limit::new(4, Duration::from_secs(4));
        let check = |now| l.check_at("user:1", "b", limit, now);
        assert!((0..4).all(|_| check(0).allowed));
        assert!(!check(0).allowed);
        // One interval later, exactly one more.
        assert!(check(SEC).allowed);
        assert!(!check(SEC).allowed);
        // After a full window from the last request, the whole burst.
        let d = check(5 * SEC);
        assert!(d.allowed);
        assert_eq!(d.remaining, 3);
        assert_eq!(l.status_at(5 * SEC)[0].remaining, 3);
    }

    #[test]
    fn identities_and_buckets_are_separate() {
        let l = MemoryLimiter::new();
        let limit = Limit::new(1, Duration::from_secs(60));
        assert!(l.check_at("user:1", "search", limit, 0).allowed);
        assert!(!l.check_at("user:1", "search", limit, 0).allowed);
        assert!(l.check_at("user:1", "auth_login", limit, 0).allowed);
        assert!(l.check_at("user:2", "search", limit, 0).allowed);
        assert!(l.check_at("ip:10.0.0.1", "search", limit, 0).allowed);
    }

    #[test]
    fn status_lists_counters_not_at_full_budget() {
        let l = MemoryLimiter::new();
        let minute = Limit::per_minute(60);
        l.check_at("user:2", "search", minute, 0);
        l.check_at("user:1", "search", minute, 0);
        l.check_at("user:1", "search", minute, 0);
        l.check_at("user:1", "auth_login", Limit::per_hour(20), 0);
        let s = l.status_at(SEC / 2);
        let rows: Vec<(&str, &str, u32, u32)> =
            s.iter().map(|k| (k.identity.as_str(), k.bucket.as_str(), k.limit, k.remaining)).collect();
        assert_eq!(
            rows,
            [("user:1", "auth_login", 20, 19), ("user:1", "search", 60, 58), ("user:2", "search", 60, 59)]
        );
        assert_eq!(s[1].reset_after, Duration::from_millis(1500));
        assert_eq!(s[1].window, Duration::from_secs(60));
        // Once replenished they are gone.
        let rows: Vec<String> = l.status_at(3 * SEC).into_iter().map(|k| k.bucket).collect();
        assert_eq!(rows, ["auth_login"]);
        assert!(l.status_at(200 * SEC).is_empty());
        assert_eq!(l.tracked_keys(), 0);
    }

    #[test]
    fn reset_one_identity_or_all() {
        let l = MemoryLimiter::new();
        let limit = Limit::new(1, Duration::from_secs(60));
        for id in ["user:1", "user:2"] {
            for b in ["search", "lookup"] {
                assert!(l.check_at(id, b, limit, 0).allowed);
            }
        }
        assert_eq!(l.reset_at("user:1", SEC), 2);
        assert_eq!(l.reset_at("user:1", SEC), 0);
        assert!(l.check_at("user:1", "search", limit, SEC).allowed);
        assert!(!l.check_at("user:2", "search", limit, SEC).allowed);
        assert_eq!(l.reset_all_at(SEC), 3);
        assert!(l.check_at("user:2", "search", limit, SEC).allowed);
        assert_eq!(l.reset_all_at(200 * SEC), 0, "replenished counters are not counted");
    }

    #[test]
    fn pruning_keeps_memory_bounded_by_active_clients() {
        let l = MemoryLimiter::new();
        let limit = Limit::new(10, Duration::from_secs(1));
        // Ten minutes of 1000 new clients per second, each making one request: 600k identities.
        let mut peak = 0;
        for second in 0..600u64 {
            for i in 0..1000u64 {
                let now = second * SEC + i * 1000;
                assert!(l.check_at(&format!("ip:{second}.{i}"), "search", limit, now).allowed);
            }
            peak = peak.max(l.tracked_keys());
        }
        // Idle counters linger at most a pruning period (10 s, ~10k counters) plus doubling slack.
        assert!(peak < 25_000, "peak {peak} counters");
        // A status read prunes everything idle: only the last ~100 ms of clients are left.
        let active = l.status_at(600 * SEC).len();
        assert_eq!(l.tracked_keys(), active);
        assert!(active <= 1000, "{active}");
    }
}
