//! The cache conformance suite, run against the in-process cache and against a real Redis, plus
//! what only the Redis cache does: share entries between replicas and survive outages.

use logflow_kv::{get_or_compute, Cache, MemoryCache, RedisCache, RedisHandle, RedisOptions};
use logflow_testkit::RedisServer;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const MINUTE: Duration = Duration::from_secs(60);

// ---- the suite -------------------------------------------------------------------------------

async fn get_and_set(c: &dyn Cache) {
    assert_eq!(c.get("metrics:overview").await, None);
    c.set("metrics:overview", b"{\"total\":1}".to_vec(), MINUTE).await;
    assert_eq!(c.get("metrics:overview").await.as_deref(), Some(&b"{\"total\":1}"[..]));
    c.set("metrics:overview", b"2".to_vec(), MINUTE).await;
    assert_eq!(c.get("metrics:overview").await, Some(b"2".to_vec()));
    c.set("empty", Vec::new(), MINUTE).await;
    assert_eq!(c.get("empty").await, Some(Vec::new()), "an empty value is a value");
    c.set("never", b"x".to_vec(), Duration::ZERO).await;
    assert_eq!(c.get("never").await, None, "a zero ttl stores nothing");
}

async fn entries_expire(c: &dyn Cache) {
    c.set("short", b"1".to_vec(), Duration::from_millis(300)).await;
    c.set("long", b"2".to_vec(), MINUTE).await;
    assert!(c.get("short").await.is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(c.get("short").await, None);
    assert!(c.get("long").await.is_some());
    // Setting again restarts the clock with the new ttl.
    c.set("long", b"3".to_vec(), Duration::from_millis(200)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.get("long").await, None);
}

async fn clear_by_pattern(c: &dyn Cache) {
    for key in [
        "metrics:overview",
        "metrics:service:api",
        "metrics:service:web",
        "metrics:system",
        "logs:recent",
        "k[1]",
        "k1",
    ] {
        c.set(key, b"v".to_vec(), MINUTE).await;
    }
    assert_eq!(c.clear("metrics:service:?pi").await, 1);
    assert_eq!(c.clear("metrics:*").await, 3);
    assert_eq!(c.clear("metrics:*").await, 0);
    assert!(c.get("logs:recent").await.is_some());
    assert_eq!(c.clear("k[1]").await, 1, "brackets are literal");
    assert!(c.get("k1").await.is_some());
    assert_eq!(c.clear("nothing:*").await, 0);
    assert_eq!(c.clear("*").await, 2);
    assert_eq!(c.stats().await.keys, 0);
}

async fn stats_count_hits_and_misses(c: &dyn Cache) {
    let stats = c.stats().await;
    assert_eq!((stats.hits, stats.misses, stats.hit_rate, stats.keys), (0, 0, 0.0, 0));
    c.set("a", vec![1; 100], MINUTE).await;
    c.set("b", vec![2; 100], MINUTE).await;
    c.get("a").await;
    c.get("a").await;
    c.get("b").await;
    c.get("missing").await;
    let stats = c.stats().await;
    assert_eq!((stats.hits, stats.misses, stats.hit_rate, stats.keys), (3, 1, 0.75, 2));
    assert_eq!(stats.backend, c.backend());
    assert!(stats.memory_bytes.unwrap() >= 200, "{stats:?}");
}

async fn get_or_compute_caches_successes_only(c: &dyn Cache) {
    let calls = AtomicUsize::new(0);
    let compute = || async {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>(vec!["api".to_string(), "web".to_string()])
    };
    let (v, hit) = get_or_compute(c, "metrics:services", MINUTE, compute).await.unwrap();
    assert_eq!((v.len(), hit), (2, false));
    let (v2, hit) = get_or_compute(c, "metrics:services", MINUTE, compute).await.unwrap();
    assert_eq!((v2, hit), (v, true));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let failed = get_or_compute(c, "metrics:broken", MINUTE, || async { Err::<u32, _>("boom") }).await;
    assert_eq!(failed, Err("boom"));
    assert_eq!(c.get("metrics:broken").await, None, "errors are not cached");

    // A cached value of another shape is recomputed and replaced.
    c.set("metrics:shape", b"\"text\"".to_vec(), MINUTE).await;
    let (n, hit) = get_or_compute(c, "metrics:shape", MINUTE, || async { Ok::<u32, ()>(7) }).await.unwrap();
    assert_eq!((n, hit), (7, false));
    assert_eq!(c.get("metrics:shape").await, Some(b"7".to_vec()));
}

// ---- in memory -------------------------------------------------------------------------------

#[tokio::test]
async fn memory_get_and_set() {
    get_and_set(&MemoryCache::new()).await;
}

#[tokio::test]
async fn memory_entries_expire() {
    entries_expire(&MemoryCache::new()).await;
}

#[tokio::test]
async fn memory_clear_by_pattern() {
    clear_by_pattern(&MemoryCache::new()).await;
}

#[tokio::test]
async fn memory_stats_count_hits_and_misses() {
    let c = MemoryCache::new();
    stats_count_hits_and_misses(&c).await;
    assert_eq!((c.backend(), c.health().status), ("memory", "healthy"));
}

#[tokio::test]
async fn memory_get_or_compute_caches_successes_only() {
    get_or_compute_caches_successes_only(&MemoryCache::new()).await;
}

// ---- on Redis --------------------------------------------------------------------------------

async fn redis_cache(server: &RedisServer) -> RedisCache {
    RedisCache::new(RedisHandle::connect(&server.url(), RedisOptions::default()).await.unwrap())
}

#[tokio::test]
async fn redis_get_and_set() {
    let Some(server) = RedisServer::start() else { return };
    get_and_set(&redis_cache(&server).await).await;
}

#[tokio::test]
async fn redis_entries_expire() {
    let Some(server) = RedisServer::start() else { return };
    entries_expire(&redis_cache(&server).await).await;
}

#[tokio::test]
async fn redis_clear_by_pattern() {
    let Some(server) = RedisServer::start() else { return };
    clear_by_pattern(&redis_cache(&server).await).await;
}

#[tokio::test]
async fn redis_stats_count_hits_and_misses() {
    let Some(server) = RedisServer::start() else { return };
    let c = redis_cache(&server).await;
    stats_count_hits_and_misses(&c).await;
    assert_eq!((c.backend(), c.health().status), ("redis", "healthy"));
}

#[tokio::test]
async fn redis_get_or_compute_caches_successes_only() {
    let Some(server) = RedisServer::start() else { return };
    get_or_compute_caches_successes_only(&redis_cache(&server).await).await;
}

#[tokio::test]
async fn redis_entries_are_prefixed_and_shared_between_replicas() {
    let Some(server) = RedisServer::start() else { return };
    let a = redis_cache(&server).await;
    let b = redis_cache(&server).await;
    a.set("metrics:overview", b"42".to_vec(), MINUTE).await;
    assert_eq!(b.get("metrics:overview").await, Some(b"42".to_vec()));

    let mut raw = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let pttl: i64 = redis::cmd("PTTL").arg("logflow:cache:metrics:overview").query_async(&mut raw).await.unwrap();
    assert!((59_000..=60_000).contains(&pttl), "{pttl}");
    // Other data in the same Redis is neither counted nor cleared.
    let () = redis::cmd("SET").arg("metrics:overview").arg("not ours").query_async(&mut raw).await.unwrap();
    assert_eq!(b.stats().await.keys, 1);
    assert_eq!(b.clear("*").await, 1);
    let other: Option<String> = redis::cmd("GET").arg("metrics:overview").query_async(&mut raw).await.unwrap();
    assert_eq!(other.as_deref(), Some("not ours"));
}

#[tokio::test]
async fn redis_outage_bypasses_the_cache_and_recovers() {
    let Some(mut server) = RedisServer::start() else { return };
    let c = redis_cache(&server).await;
    c.set("k", b"v".to_vec(), MINUTE).await;
    assert!(c.get("k").await.is_some());

    server.stop();
    let started = Instant::now();
    assert_eq!(c.get("k").await, None);
    c.set("k2", b"v".to_vec(), MINUTE).await;
    assert_eq!(c.get("k2").await, None);
    assert_eq!(c.clear("*").await, 0);
    let stats = c.stats().await;
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert_eq!((stats.hits, stats.misses, stats.keys, stats.memory_bytes), (1, 2, 0, None));
    let health = c.health();
    assert_eq!((health.status, health.backend), ("degraded", "redis"));
    assert!(health.detail.unwrap().contains("bypassed"));

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.health().status != "healthy" {
        assert!(Instant::now() < deadline, "redis not used again within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.set("k3", b"back".to_vec(), MINUTE).await;
    assert_eq!(c.get("k3").await, Some(b"back".to_vec()));
    assert_eq!(c.stats().await.keys, 1);
}

#[tokio::test]
async fn a_slow_redis_is_not_waited_for() {
    let Some(server) = RedisServer::start() else { return };
    let c = redis_cache(&server).await;
    c.set("k", b"v".to_vec(), MINUTE).await;
    // Keep the server busy for 1.5 s from another connection (a busy script blocks everyone).
    let mut raw = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let busy = "local t = redis.call('TIME') repeat local n = redis.call('TIME') \
                until (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 1500000";
    let sleeper = tokio::spawn(async move {
        let () = redis::cmd("EVAL").arg(busy).arg(0).query_async(&mut raw).await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    assert_eq!(c.get("k").await, None);
    assert!(started.elapsed() < Duration::from_millis(500), "took {:?}", started.elapsed());
    assert_eq!(c.health().status, "degraded");
    sleeper.await.unwrap();
}

#[tokio::test]
async fn an_idle_handle_notices_an_outage_and_the_return() {
    let Some(mut server) = RedisServer::start() else { return };
    let c = redis_cache(&server).await;
    assert_eq!(c.health().status, "healthy");
    server.stop();
    // No request touches Redis: the heartbeat alone must notice.
    let deadline = Instant::now() + logflow_kv::HEARTBEAT_INTERVAL * 3;
    while c.health().status != "degraded" {
        assert!(Instant::now() < deadline, "an idle outage went unnoticed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.health().status != "healthy" {
        assert!(Instant::now() < deadline, "redis not used again within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
