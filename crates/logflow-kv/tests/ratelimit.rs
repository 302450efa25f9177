//! The rate limiter conformance suite, run against the in-process limiter and against a real Redis,
//! plus what only the Redis limiter does: share a budget between replicas and survive outages.

use logflow_kv::{KeyStatus, Limit, MemoryLimiter, RateLimiter, RedisHandle, RedisLimiter, RedisOptions};
use logflow_testkit::RedisServer;
use std::time::{Duration, Instant};

// ---- the suite -------------------------------------------------------------------------------

async fn exactly_count_then_refused(l: &dyn RateLimiter) {
    let limit = Limit::new(5, Duration::from_secs(60));
    for i in 0..5 {
        let d = l.check("ip:10.0.0.1", "search", limit).await;
        assert!(d.allowed, "request {i}");
        assert_eq!((d.limit, d.remaining, d.retry_after), (5, 4 - i, None));
        let expected = Duration::from_secs(12 * (u64::from(i) + 1));
        assert!(within(d.reset_after, expected, Duration::from_millis(500)), "{d:?}");
    }
    for _ in 0..3 {
        // Refused requests are not counted: each learns the same wait, one interval (60 s / 5).
        let d = l.check("ip:10.0.0.1", "search", limit).await;
        assert!(!d.allowed);
        assert_eq!((d.limit, d.remaining), (5, 0));
        assert!(within(d.retry_after.unwrap(), Duration::from_secs(12), Duration::from_millis(500)), "{d:?}");
        assert!(within(d.reset_after, Duration::from_secs(60), Duration::from_millis(500)), "{d:?}");
    }
}

async fn budget_comes_back(l: &dyn RateLimiter) {
    let limit = Limit::new(2, Duration::from_secs(1));
    assert!(l.check("user:1", "search", limit).await.allowed);
    assert!(l.check("user:1", "search", limit).await.allowed);
    let refused = l.check("user:1", "search", limit).await;
    assert!(!refused.allowed);
    let wait = refused.retry_after.unwrap();
    assert!(within(wait, Duration::from_millis(500), Duration::from_millis(150)), "{refused:?}");
    tokio::time::sleep(wait + Duration::from_millis(30)).await;
    let d = l.check("user:1", "search", limit).await;
    assert!(d.allowed, "after retry_after one request passes");
    assert_eq!(d.remaining, 0);
    assert!(!l.check("user:1", "search", limit).await.allowed, "but only one");
}

async fn identities_and_buckets_are_separate(l: &dyn RateLimiter) {
    let limit = Limit::per_minute(1);
    assert!(l.check("user:1", "search", limit).await.allowed);
    assert!(!l.check("user:1", "search", limit).await.allowed);
    assert!(l.check("user:1", "auth_login", limit).await.allowed);
    assert!(l.check("user:11", "search", limit).await.allowed);
    assert!(l.check("ip:10.0.0.1", "search", limit).await.allowed);
    assert!(!l.check("user:1", "auth_login", limit).await.allowed);
}

async fn status_and_resets(l: &dyn RateLimiter) {
    let minute = Limit::per_minute(60);
    for (identity, bucket, n) in [
        ("user:1", "search", 2),
        ("user:1", "lookup", 1),
        ("user:10", "search", 1),
        ("ip:::1", "search", 1),
        ("ip:::1:5", "search", 3),
    ] {
        for _ in 0..n {
            assert!(l.check(identity, bucket, minute).await.allowed);
        }
    }
    l.check("user:2", "auth_login", Limit::per_hour(20)).await;
    let rows = |s: Vec<KeyStatus>| -> Vec<(String, String, u32, u32)> {
        s.into_iter().map(|k| (k.identity, k.bucket, k.limit, k.remaining)).collect()
    };
    let status = l.status().await;
    let login = status.iter().find(|k| k.identity == "user:2").unwrap();
    assert_eq!(login.window, Duration::from_secs(3600));
    assert!(within(login.reset_after, Duration::from_secs(180), Duration::from_millis(500)), "{login:?}");
    assert_eq!(
        rows(status),
        [
            s("ip:::1", "search", 60, 59),
            s("ip:::1:5", "search", 60, 57),
            s("user:1", "lookup", 60, 59),
            s("user:1", "search", 60, 58),
            s("user:10", "search", 60, 59),
            s("user:2", "auth_login", 20, 19),
        ]
    );

    assert_eq!(l.reset("user:1").await, 2);
    assert_eq!(l.reset("user:1").await, 0);
    assert_eq!(l.check("user:1", "search", minute).await.remaining, 59, "full budget after a reset");
    assert_eq!(l.reset("ip:::1").await, 1, "ip:::1:5 is another client");
    let left = rows(l.status().await);
    assert_eq!(
        left,
        [
            s("ip:::1:5", "search", 60, 57),
            s("user:1", "search", 60, 59),
            s("user:10", "search", 60, 59),
            s("user:2", "auth_login", 20, 19)
        ]
    );

    assert_eq!(l.reset_all().await, 4);
    assert!(l.status().await.is_empty());
    assert_eq!(l.check("ip:::1:5", "search", minute).await.remaining, 59);
}

fn s(identity: &str, bucket: &str, limit: u32, remaining: u32) -> (String, String, u32, u32) {
    (identity.to_string(), bucket.to_string(), limit, remaining)
}

fn within(actual: Duration, expected: Duration, tolerance: Duration) -> bool {
    actual <= expected && actual + tolerance >= expected
}

// ---- in memory -------------------------------------------------------------------------------

#[tokio::test]
async fn memory_exactly_count_then_refused() {
    exactly_count_then_refused(&MemoryLimiter::new()).await;
}

#[tokio::test]
async fn memory_budget_comes_back() {
    budget_comes_back(&MemoryLimiter::new()).await;
}

#[tokio::test]
async fn memory_identities_and_buckets_are_separate() {
    identities_and_buckets_are_separate(&MemoryLimiter::new()).await;
}

#[tokio::test]
async fn memory_status_and_resets() {
    let l = MemoryLimiter::new();
    status_and_resets(&l).await;
    assert_eq!((l.backend(), l.health().status), ("memory", "healthy"));
}

// ---- on Redis --------------------------------------------------------------------------------

async fn redis_limiter(server: &RedisServer) -> RedisLimiter {
    RedisLimiter::new(RedisHandle::connect(&server.url(), RedisOptions::default()).await.unwrap())
}

#[tokio::test]
async fn redis_exactly_count_then_refused() {
    let Some(server) = RedisServer::start() else { return };
    exactly_count_then_refused(&redis_limiter(&server).await).await;
}

#[tokio::test]
async fn redis_budget_comes_back() {
    let Some(server) = RedisServer::start() else { return };
    budget_comes_back(&redis_limiter(&server).await).await;
}

#[tokio::test]
async fn redis_identities_and_buckets_are_separate() {
    let Some(server) = RedisServer::start() else { return };
    identities_and_buckets_are_separate(&redis_limiter(&server).await).await;
}

#[tokio::test]
async fn redis_status_and_resets() {
    let Some(server) = RedisServer::start() else { return };
    let l = redis_limiter(&server).await;
    status_and_resets(&l).await;
    assert_eq!((l.backend(), l.health()), ("redis", logflow_kv::KvHealth::healthy("redis")));
}

#[tokio::test]
async fn redis_counters_are_hashes_that_expire_with_the_budget() {
    let Some(server) = RedisServer::start() else { return };
    let l = redis_limiter(&server).await;
    l.check("user:7", "search", Limit::per_minute(60)).await;
    let mut raw = raw_conn(&server).await;
    let key = "logflow:rl:user:7:search";
    let (identity, bucket, count): (String, String, u32) =
        redis::cmd("HMGET").arg(key).arg(&["identity", "bucket", "count"]).query_async(&mut raw).await.unwrap();
    assert_eq!((identity.as_str(), bucket.as_str(), count), ("user:7", "search", 60));
    let pttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut raw).await.unwrap();
    assert!((900..=1000).contains(&pttl), "one request of 60/min is back after 1 s, got {pttl} ms");
}

#[tokio::test]
async fn replicas_share_one_budget() {
    let Some(server) = RedisServer::start() else { return };
    // Two limiters with their own connections, as two LogFlow processes would have.
    let a = redis_limiter(&server).await;
    let b = redis_limiter(&server).await;
    let limit = Limit::per_minute(10);
    let mut allowed = 0;
    for i in 0..20 {
        let replica = if i % 2 == 0 { &a } else { &b };
        allowed += usize::from(replica.check("user:1", "search", limit).await.allowed);
    }
    assert_eq!(allowed, 10);
    let seen_by = |status: Vec<KeyStatus>| -> Vec<(String, u32)> {
        status.into_iter().map(|k| (k.identity, k.remaining)).collect()
    };
    assert_eq!(seen_by(a.status().await), [("user:1".to_string(), 0)]);
    assert_eq!(seen_by(b.status().await), [("user:1".to_string(), 0)]);
    assert_eq!(b.reset("user:1").await, 1);
    assert!(a.check("user:1", "search", limit).await.allowed);
}

#[tokio::test]
async fn redis_outage_falls_back_to_memory_and_recovers() {
    let Some(mut server) = RedisServer::start() else { return };
    let l = redis_limiter(&server).await;
    let limit = Limit::per_minute(3);
    assert!(l.check("user:1", "search", limit).await.allowed);

    server.stop();
    let started = Instant::now();
    let d = l.check("user:1", "search", limit).await;
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert!(d.allowed);
    let health = l.health();
    assert_eq!((health.status, health.backend), ("degraded", "redis"));
    assert!(health.detail.unwrap().contains("per LogFlow process"));
    // The fallback limits too (it starts from a full budget), without touching the network.
    let started = Instant::now();
    let allowed: Vec<bool> = allowed_in_a_row(&l, "user:1", limit, 4).await;
    assert_eq!(allowed, [true, true, false, false]);
    assert!(started.elapsed() < Duration::from_millis(100), "took {:?}", started.elapsed());
    assert_eq!(l.status().await.len(), 1, "status shows the local counters meanwhile");

    server.restart();
    wait_until(|| l.health().status == "healthy").await;
    let d = l.check("user:2", "search", limit).await;
    assert_eq!((d.allowed, d.remaining), (true, 2));
    let exists: bool =
        redis::cmd("EXISTS").arg("logflow:rl:user:2:search").query_async(&mut raw_conn(&server).await).await.unwrap();
    assert!(exists, "redis decides again");
    assert_eq!(l.health().detail, None);
}

#[tokio::test]
async fn starts_without_redis_and_connects_when_it_appears() {
    let Some(mut server) = RedisServer::start() else { return };
    server.stop();
    let started = Instant::now();
    let handle = RedisHandle::connect(&server.url(), RedisOptions::default()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert!(!handle.is_available());
    let l = RedisLimiter::new(handle.clone());
    assert_eq!(l.health().status, "degraded");
    assert!(l.check("user:1", "search", Limit::per_minute(1)).await.allowed);
    assert!(!l.check("user:1", "search", Limit::per_minute(1)).await.allowed);

    server.restart();
    wait_until(|| handle.is_available()).await;
    assert_eq!(l.health().status, "healthy");
    assert!(l.check("user:1", "search", Limit::per_minute(1)).await.allowed, "redis has its own count");
    assert_eq!(l.status().await.len(), 1);
}

#[tokio::test]
async fn invalid_urls_are_errors() {
    assert!(RedisHandle::connect("http://nope", RedisOptions::default()).await.is_err());
}

async fn allowed_in_a_row(l: &dyn RateLimiter, identity: &str, limit: Limit, n: usize) -> Vec<bool> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(l.check(identity, "search", limit).await.allowed);
    }
    out
}

async fn raw_conn(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// Polls `cond` for up to 5 s (reconnection is retried every second).
async fn wait_until(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
