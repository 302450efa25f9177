//! Rate limits through the real binary: exact counts, per user and per IP, headers, admin resets,
//! and a budget shared by two servers on one real Redis that is stopped and restarted mid-test.

mod common;

use common::*;
use logflow_testkit::RedisServer;
use serde_json::Value;
use std::time::Duration;

const SECRET: &str = "integration-test-secret-0123456789";

fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> Server {
    let mut envs =
        vec![("SECRET_KEY", SECRET), ("LOGFLOW_RATE_LIMIT_ENABLED", "true"), ("LOGFLOW_RATE_LIMIT_SEARCH", "5/minute")];
    envs.extend_from_slice(extra);
    Server::start(dir, &envs)
}

fn search_as(base: &str, token: Option<&str>, forwarded_for: Option<&str>) -> Resp {
    let mut req = client().get(format!("{base}/api/v1/logs/search?query=x"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    Resp::read(req.send().unwrap())
}

/// Uses up a 5-per-minute budget and checks the headers on the way.
fn exhaust(base: &str, token: Option<&str>, forwarded_for: Option<&str>) {
    for i in 0..5 {
        let r = search_as(base, token, forwarded_for);
        assert_eq!(r.status, 200, "request {} of 5: {}", i + 1, r.text);
        assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("5"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some((4 - i).to_string()), "request {}", i + 1);
        assert!(r.header("x-ratelimit-reset").is_some());
    }
    assert_limited(&search_as(base, token, forwarded_for));
}

fn assert_limited(r: &Resp) {
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.error(), "Rate limit exceeded: 5 per 1 minute");
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=12).contains(&retry), "one request comes back after 60/5 s, not {retry}");
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
}

#[test]
fn limits_per_ip_and_per_user_with_admin_resets() {
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    let base = &server.url;
    // Log in before the budget matters (login has its own bucket).
    let alice = register_user(base, "alice");
    let bob = register_user(base, "bob");
    let admin = token(base, "admin", "admin123");

    exhaust(base, None, None);
    // Other buckets are separate; routes without limits are free.
    assert_eq!(get(base, "/api/v1/logs/recent").status, 200);
    assert_eq!(get(base, "/health").status, 200);
    let r = post_json(base, &serde_json::json!({"service": "s", "message": "not limited"}));
    assert_eq!(r.status, 200, "ingest is never rate limited");
    assert!(r.header("x-ratelimit-limit").is_none());

    // Each user has their own budget, not the IP's.
    exhaust(base, Some(&alice), None);
    exhaust(base, Some(&bob), None);

    // X-Forwarded-For is not believed from an untrusted peer.
    assert_limited(&search_as(base, None, Some("203.0.113.7")));

    // Status shows who used what; resets restore budgets.
    let status = call("GET", base, "/api/v1/rate-limits/status", Some(&admin), None);
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.json["backend"], "memory");
    let keys = status.json["keys"].as_array().unwrap();
    let search_key = |identity: &str| {
        keys.iter().find(|k| k["identity"] == identity && k["bucket"] == "search").cloned().unwrap_or(Value::Null)
    };
    assert_eq!(search_key("ip:127.0.0.1")["remaining"], 0, "{}", status.text);
    let alice_id = call("GET", base, "/api/v1/auth/me", Some(&alice), None).json["id"].as_i64().unwrap();
    assert_eq!(search_key(&format!("user:{alice_id}"))["remaining"], 0);
    let limits = status.json["limits"].as_array().unwrap();
    let search_limit = limits.iter().find(|l| l["bucket"] == "search").unwrap();
    assert_eq!(search_limit["description"], "5 per 1 minute");
    let login_limit = limits.iter().find(|l| l["bucket"] == "auth_login").unwrap();
    assert_eq!(login_limit["description"], "20 per 1 hour", "the spec's default");

    let r = call("DELETE", base, &format!("/api/v1/rate-limits/reset/{alice_id}"), Some(&admin), None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["reset"].as_u64().unwrap() >= 1);
    assert_eq!(search_as(base, Some(&alice), None).status, 200, "alice's budget is back");
    assert_eq!(search_as(base, Some(&bob), None).status, 429, "bob's is not");
    assert_eq!(call("DELETE", base, "/api/v1/rate-limits/reset/nonsense", Some(&admin), None).status, 400);

    let r = call("DELETE", base, "/api/v1/rate-limits/reset-all", Some(&admin), None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(search_as(base, Some(&bob), None).status, 200);
    assert_eq!(search_as(base, None, None).status, 200);
}

#[test]
fn trusted_proxies_key_by_forwarded_client() {
    let dir = tempdir();
    let server = start(dir.path(), &[("LOGFLOW_RATE_LIMIT_TRUSTED_PROXIES", "127.0.0.1")]);
    let base = &server.url;
    exhaust(base, None, Some("203.0.113.7"));
    // Another client behind the same proxy has its own budget; a spoofed left-most entry is ignored.
    exhaust(base, None, Some("198.51.100.1, 203.0.113.8"));
    assert_limited(&search_as(base, None, Some("203.0.113.8")));
}

#[test]
fn login_attempts_are_limited() {
    let dir = tempdir();
    let server = start(dir.path(), &[("LOGFLOW_RATE_LIMIT_AUTH_LOGIN", "3/hour")]);
    for _ in 0..3 {
        assert_eq!(login(&server.url, "admin", "wrong-guess1").status, 401);
    }
    let r = login(&server.url, "admin", "admin123");
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.error(), "Rate limit exceeded: 3 per 1 hour");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=1200).contains(&retry), "{retry}");
}

fn health_of(base: &str) -> Value {
    get(base, "/health").json
}

#[test]
fn two_servers_share_one_budget_on_redis_and_survive_its_restart() {
    let Some(mut redis) = RedisServer::start() else { return };
    let url = redis.url();
    let (d1, d2) = (tempdir(), tempdir());
    let a = start(d1.path(), &[("REDIS_URL", url.as_str())]);
    let b = start(d2.path(), &[("REDIS_URL", url.as_str())]);
    assert_eq!(health_of(&a.url)["services"]["cache"], "healthy", "{}", health_of(&a.url));

    for i in 0..5 {
        let base = if i % 2 == 0 { &a.url } else { &b.url };
        let r = search_as(base, None, None);
        assert_eq!(r.status, 200, "request {}: {}", i + 1, r.text);
        assert_eq!(r.header("x-ratelimit-remaining"), Some((4 - i).to_string()));
    }
    assert_limited(&search_as(&a.url, None, None));
    assert_limited(&search_as(&b.url, None, None));

    let admin = token(&a.url, "admin", "admin123");
    let status = call("GET", &a.url, "/api/v1/rate-limits/status", Some(&admin), None);
    assert_eq!(status.json["backend"], "redis", "{}", status.text);

    // Redis goes away: both servers keep answering, with in-process limits, and say degraded.
    redis.stop();
    let started = std::time::Instant::now();
    let r = get(&a.url, "/api/v1/logs/recent");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(started.elapsed() < Duration::from_secs(3), "no long blocking without Redis");
    poll_until("cache degraded", POLL_TIMEOUT, || {
        let h = health_of(&a.url);
        (h["services"]["cache"] == "degraded" && h["status"] == "degraded").then_some(())
    });
    let r = search_as(&b.url, None, None);
    assert!(r.status == 200 || r.status == 429, "served from the fallback: {}", r.text);

    // Redis is back (empty): shared limits resume.
    redis.restart();
    poll_until("cache healthy again", POLL_TIMEOUT, || {
        (health_of(&a.url)["services"]["cache"] == "healthy" && health_of(&b.url)["services"]["cache"] == "healthy")
            .then_some(())
    });
    poll_until("limits counted in Redis again", POLL_TIMEOUT, || {
        let r = search_as(&a.url, Some(&admin), None);
        let remaining = r.header("x-ratelimit-remaining")?;
        // The admin's first request on the restarted Redis leaves 4; then b sees the same budget.
        (remaining == "4").then_some(())
    });
    let r = search_as(&b.url, Some(&admin), None);
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("3"), "b shares a's budget: {}", r.text);
}

#[test]
fn redis_down_at_start_is_degraded_not_fatal() {
    let port = logflow_testkit::free_port();
    let dir = tempdir();
    let url = format!("redis://127.0.0.1:{port}");
    let server = start(dir.path(), &[("REDIS_URL", url.as_str())]);
    let h = health_of(&server.url);
    assert_eq!(h["services"]["cache"], "degraded", "{h}");
    assert_eq!(h["status"], "degraded");
    exhaust(&server.url, None, None);
}
