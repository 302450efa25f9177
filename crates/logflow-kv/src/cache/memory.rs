//! The in-process cache, on moka.

use super::{Cache, CacheStats, Counters};
use crate::{glob, KvHealth};
use async_trait::async_trait;
use moka::future::Cache as Moka;
use moka::Expiry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default capacity of a [`MemoryCache`]: 64 MiB of keys and values.
pub const DEFAULT_CAPACITY_BYTES: u64 = 64 << 20;

/// Bytes counted per entry besides its key and value (moka's bookkeeping, roughly).
const ENTRY_OVERHEAD: usize = 64;

/// Cache for one process, bounded in bytes: when full, moka evicts the entries least likely to be
/// used again (TinyLFU).
pub struct MemoryCache {
    entries: Moka<String, Entry>,
    counters: Counters,
}

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    ttl: Duration,
}

/// Each entry expires `ttl` after it was (last) set; reads do not extend it.
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(&self, _: &String, entry: &Entry, _: Instant, _: Option<Duration>) -> Option<Duration> {
        Some(entry.ttl)
    }
}

impl MemoryCache {
    /// A cache of at most [`DEFAULT_CAPACITY_BYTES`].
    pub fn new() -> MemoryCache {
        MemoryCache::with_capacity(DEFAULT_CAPACITY_BYTES)
    }

    /// A cache of at most `bytes` of keys and values.
    pub fn with_capacity(bytes: u64) -> MemoryCache {
        let entries = Moka::builder()
            .name("logflow-cache")
            .max_capacity(bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + entry.value.len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        MemoryCache { entries, counters: Counters::default() }
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache::new()
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let value = self.entries.get(key).await.map(|e| e.value.to_vec());
        self.counters.record(value)
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        self.entries.insert(key.to_owned(), Entry { value: value.into(), ttl }).await;
    }

    async fn clear(&self, pattern: &str) -> usize {
        let keys: Vec<Arc<String>> =
            self.entries.iter().filter(|(key, _)| glob::matches(pattern, key)).map(|(key, _)| key).collect();
        let mut removed = 0;
        for key in keys {
            removed += usize::from(self.entries.remove(key.as_str()).await.is_some());
        }
        removed
    }

    async fn stats(&self) -> CacheStats {
        // moka applies writes and expirations lazily; settle them so the counts are current.
        self.entries.run_pending_tasks().await;
        self.counters.stats("memory", self.entries.entry_count(), Some(self.entries.weighted_size()))
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

    #[tokio::test]
    async fn capacity_is_bounded_in_bytes() {
        let cache = MemoryCache::with_capacity(100_000);
        for i in 0..1000 {
            cache.set(&format!("k{i}"), vec![0; 1000], Duration::from_secs(60)).await;
        }
        let stats = cache.stats().await;
        assert!(stats.memory_bytes.unwrap() <= 100_000, "{stats:?}");
        assert!(stats.keys < 100, "{stats:?}");
        assert!(stats.keys > 0, "{stats:?}");
    }
}
