//! Metrics and analytics endpoints over known logs (exact counts), and their cache: hits and
//! misses, TTL expiry, clearing by pattern (admin only), and a real Redis stopped mid-test.

mod common;

use chrono::{DateTime, Duration as ChronoDuration, Timelike, Utc};
use common::*;
use logflow_testkit::RedisServer;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn log(service: &str, level: &str, message: &str, at: DateTime<Utc>) -> Value {
    json!({"service": service, "level": level, "message": message, "timestamp": ts(at)})
}

/// A known data set, relative to `now`:
/// - `api`: 8 INFO and 2 ERROR ("timeout after 30s for user 1234" / "... 40s for user 987": one
///   group) in the last 10 minutes, one of the INFO 10 s ago; 20 % errors -> degraded.
/// - `db`: 1 INFO and 1 CRITICAL ("disk 'data-7' full") 20 minutes ago: 50 % errors and silent.
/// - `web`: 5 INFO 10 s ago and 3 WARNING 90 s ago; healthy.
fn seed(base: &str, now: DateTime<Utc>) -> usize {
    let mut items = Vec::new();
    for i in 0..7 {
        items.push(log("api", "INFO", &format!("GET /items/{i} 200"), now - ChronoDuration::minutes(3 + i)));
    }
    items.push(log("api", "INFO", "GET /items/99 200", now - ChronoDuration::seconds(10)));
    items.push(log("api", "ERROR", "timeout after 30s for user 1234", now - ChronoDuration::minutes(4)));
    items.push(log("api", "ERROR", "timeout after 40s for user 987", now - ChronoDuration::minutes(5)));
    items.push(log("db", "INFO", "checkpoint done", now - ChronoDuration::minutes(21)));
    items.push(log("db", "CRITICAL", "disk 'data-7' full", now - ChronoDuration::minutes(20)));
    for _ in 0..5 {
        items.push(log("web", "INFO", "render ok", now - ChronoDuration::seconds(10)));
    }
    for _ in 0..3 {
        items.push(log("web", "WARNING", "slow render", now - ChronoDuration::seconds(90)));
    }
    let n = items.len();
    ingest_ok(base, &Value::Array(items));
    wait_total(base, "", n as u64);
    n
}

fn service<'a>(overview: &'a Value, name: &str) -> &'a Value {
    overview["services"].as_array().unwrap().iter().find(|s| s["service"] == name).unwrap_or(&Value::Null)
}

#[test]
fn overview_service_and_system_metrics_are_exact() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = &server.url;
    let now = Utc::now();
    let n = seed(base, now);

    let r = get(base, "/api/v1/metrics/overview");
    assert_eq!(r.status, 200, "{}", r.text);
    let o = &r.json;
    assert_eq!(o["total_logs"], n);
    assert_eq!(o["active_services"], 3);
    assert_eq!(o["logs_by_level"], json!({"DEBUG": 0, "INFO": 14, "WARNING": 3, "ERROR": 2, "CRITICAL": 1}));
    assert_eq!(o["error_rate"], 15.0, "3 of 20");
    assert_eq!(o["error_rate_by_service"], json!({"api": 20.0, "db": 50.0, "web": 0.0}));
    // Last minute: 1 api + 5 web (10 s ago); the minute before: 3 web (90 s ago).
    assert_eq!(o["logs_per_minute"], 6, "{o}");
    assert_eq!(o["logs_per_second"], 0.1);
    assert_eq!(o["previous_logs_per_minute"], 3);
    assert_eq!(o["trend_percent"], 100.0);
    let top = o["top_errors"].as_array().unwrap();
    assert_eq!(top.len(), 2, "the two timeouts are one group: {top:?}");
    assert_eq!(top[0]["count"], 2);
    assert_eq!(top[0]["services"], json!(["api"]));
    assert!(top[0]["message"].as_str().unwrap().starts_with("timeout after"), "{top:?}");
    assert_eq!(top[1]["count"], 1);
    assert_eq!(service(o, "api")["status"], "degraded");
    assert_eq!(service(o, "db")["status"], "unhealthy");
    assert!(service(o, "db")["silent_seconds"].as_i64().unwrap() >= 20 * 60);
    assert_eq!(service(o, "web")["status"], "healthy");
    assert_eq!(service(o, "web")["total_logs"], 8);

    // Filters and ranges are the search endpoint's.
    let r = get(base, "/api/v1/metrics/overview?since=15m");
    assert_eq!(r.json["total_logs"], n - 2, "db's logs are older than 15 minutes");
    let r = get(base, "/api/v1/metrics/overview?level=ERROR,CRITICAL");
    assert_eq!(r.json["total_logs"], 3);
    assert_eq!(r.json["error_rate"], 100.0);
    let r = get(base, "/api/v1/metrics/overview?query=timeout");
    assert_eq!(r.json["total_logs"], 2);
    assert_eq!(get(base, "/api/v1/metrics/overview?query=(").status, 400);
    assert_eq!(get(base, "/api/v1/metrics/overview?since=soon").status, 400);

    let r = get(base, "/api/v1/metrics/service/api");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["total_logs"], 10);
    assert_eq!(r.json["service"], "api");
    assert_eq!(r.json["logs_by_level"]["ERROR"], 2);
    assert_eq!(r.json["error_rate"], 20.0);
    assert_eq!(r.json["all_time_logs"], 10);
    assert_eq!(r.json["active_services"], 1);
    let r = get(base, "/api/v1/metrics/service/nope");
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.error().contains("nope"));

    let r = get(base, "/api/v1/metrics/system");
    assert_eq!(r.status, 200, "{}", r.text);
    let s = &r.json;
    assert_eq!(s["index"]["documents"], n);
    assert_eq!(s["ingest"]["accepted_total"], n);
    assert_eq!(s["ingest"]["indexed_total"], n);
    assert_eq!(s["wal"]["pending_bytes"], 0);
    assert!(s["index"]["partitions"].as_array().is_some_and(|p| !p.is_empty()));
    assert!(s["memory"]["resident_bytes"].as_f64().unwrap() > 0.0);
    assert!(s["uptime_seconds"].is_u64());
}

#[test]
fn timeseries_buckets_are_exact_and_zero_filled() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = &server.url;
    // Ten whole minutes ending at the last full minute.
    let end = Utc::now().with_second(0).unwrap().with_nanosecond(0).unwrap() - ChronoDuration::minutes(1);
    let start = end - ChronoDuration::minutes(10);
    let mut items = Vec::new();
    for (minute, level, n) in [(0, "INFO", 3), (0, "ERROR", 1), (4, "WARNING", 2), (9, "INFO", 5)] {
        for i in 0..n {
            let at = start + ChronoDuration::minutes(minute) + ChronoDuration::seconds(5 * i + 1);
            items.push(log(if i % 2 == 0 { "a" } else { "b" }, level, "tick", at));
        }
    }
    // Outside the range on both sides.
    items.push(log("a", "INFO", "before", start - ChronoDuration::seconds(1)));
    items.push(log("a", "INFO", "at the end (exclusive)", end));
    ingest_ok(base, &Value::Array(items));
    wait_total(base, "", 13);

    let qs = enc(&[("interval", "1m"), ("start_time", &ts(start)), ("end_time", &ts(end))]);
    let r = get(base, &format!("/api/v1/metrics/timeseries?{qs}"));
    assert_eq!(r.status, 200, "{}", r.text);
    let buckets = r.json["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 10);
    assert_eq!(r.json["total"], 11);
    assert_eq!(buckets[0]["timestamp"], ts(start));
    assert_eq!(buckets[0]["total"], 4);
    assert_eq!(buckets[0]["levels"], json!({"DEBUG": 0, "INFO": 3, "WARNING": 0, "ERROR": 1, "CRITICAL": 0}));
    assert_eq!(buckets[4]["levels"]["WARNING"], 2);
    assert_eq!(buckets[9]["total"], 5);
    let zeros: Vec<usize> = (0..10).filter(|&i| buckets[i]["total"] == 0).collect();
    assert_eq!(zeros, [1, 2, 3, 5, 6, 7, 8]);

    // Filters, coarser buckets, validation.
    let qs = enc(&[("interval", "5m"), ("start_time", &ts(start)), ("end_time", &ts(end)), ("service", "a")]);
    let r = get(base, &format!("/api/v1/metrics/timeseries?{qs}"));
    let totals: Vec<u64> = r.json["buckets"].as_array().unwrap().iter().map(|b| b["total"].as_u64().unwrap()).collect();
    assert_eq!(totals.iter().sum::<u64>(), 7, "{}", r.text);
    let qs = enc(&[("start_time", &ts(start)), ("end_time", &ts(end)), ("level", "ERROR")]);
    assert_eq!(get(base, &format!("/api/v1/metrics/timeseries?{qs}")).json["total"], 1);
    let r = get(base, "/api/v1/metrics/timeseries?interval=2m");
    assert_eq!(r.status, 400);
    assert!(r.error().contains("1m, 5m, 15m, 1h, 1d"), "{}", r.text);
    let r = get(base, "/api/v1/metrics/timeseries?interval=1m&since=30d");
    assert_eq!(r.status, 400);
    assert!(r.error().contains("buckets"), "{}", r.text);
    // The default range: the last 60 intervals.
    let r = get(base, "/api/v1/metrics/timeseries?interval=1h");
    assert_eq!(r.json["buckets"].as_array().unwrap().len(), 60, "{}", r.text);
}

fn cache_header(r: &Resp) -> String {
    r.header("x-cache").unwrap_or_default()
}

#[test]
fn answers_are_cached_until_ttl_and_cleared_by_pattern() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[("LOGFLOW_CACHE_OVERVIEW_TTL_SECS", "2")]);
    let base = &server.url;
    let now = Utc::now();
    ingest_ok(base, &json!([log("a", "INFO", "one", now)]));
    wait_total(base, "", 1);

    let first = get(base, "/api/v1/metrics/overview?service=a&since=1h");
    assert_eq!((cache_header(&first).as_str(), &first.json["total_logs"]), ("MISS", &json!(1)));
    // New logs do not show while the answer is cached; parameter order does not matter.
    ingest_ok(base, &json!([log("a", "INFO", "two", now)]));
    wait_total(base, "", 2);
    let second = get(base, "/api/v1/metrics/overview?since=1h&service=a");
    assert_eq!((cache_header(&second).as_str(), &second.json["total_logs"]), ("HIT", &json!(1)));
    // Another parameter value is another key.
    assert_eq!(cache_header(&get(base, "/api/v1/metrics/overview?service=b&since=1h")), "MISS");
    // After the TTL the answer is recomputed.
    std::thread::sleep(Duration::from_millis(2300));
    let third = get(base, "/api/v1/metrics/overview?service=a&since=1h");
    assert_eq!((cache_header(&third).as_str(), &third.json["total_logs"]), ("MISS", &json!(2)));

    assert_eq!(cache_header(&get(base, "/api/v1/metrics/timeseries")), "MISS");
    assert_eq!(cache_header(&get(base, "/api/v1/metrics/timeseries")), "HIT");
    let stats = get(base, "/api/v1/cache/stats").json;
    assert_eq!(stats["backend"], "memory");
    assert_eq!((stats["hits"].as_u64(), stats["misses"].as_u64()), (Some(2), Some(4)), "{stats}");
    assert!((stats["hit_rate"].as_f64().unwrap() - 2.0 / 6.0).abs() < 1e-9, "{stats}");
    assert_eq!(stats["ttl_seconds"]["overview"], 2);
    assert_eq!(stats["ttl_seconds"]["timeseries"], 120);

    // Clearing is for admins, and by pattern.
    let user = register_user(base, "ursula");
    assert_eq!(call("DELETE", base, "/api/v1/cache/clear", None, None).status, 401);
    assert_eq!(call("DELETE", base, "/api/v1/cache/clear", Some(&user), None).status, 403);
    let admin = token(base, "admin", "admin123");
    let r = call("DELETE", base, "/api/v1/cache/clear?pattern=metrics:timeseries:*", Some(&admin), None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["cleared"], 1);
    assert_eq!(cache_header(&get(base, "/api/v1/metrics/timeseries")), "MISS");
    assert_eq!(cache_header(&get(base, "/api/v1/metrics/overview?service=a&since=1h")), "HIT", "other keys stay");

    let metrics = get(base, "/metrics").text;
    assert!(metrics.contains(r#"cache_hits_total{cache_key_prefix="metrics:overview"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"cache_misses_total{cache_key_prefix="metrics:timeseries"} 2"#), "{metrics}");
}

#[test]
fn redis_cache_survives_a_restart() {
    let Some(mut redis) = RedisServer::start() else { return };
    let dir = tempdir();
    let url = redis.url();
    let server = Server::start(dir.path(), &[("REDIS_URL", url.as_str())]);
    let base = &server.url;
    ingest_ok(base, &json!([log("a", "ERROR", "boom", Utc::now())]));
    wait_total(base, "", 1);

    assert_eq!(cache_header(&get(base, "/api/v1/metrics/overview")), "MISS");
    let hit = get(base, "/api/v1/metrics/overview");
    assert_eq!((cache_header(&hit).as_str(), &hit.json["total_logs"]), ("HIT", &json!(1)));
    let stats = get(base, "/api/v1/cache/stats").json;
    assert_eq!(stats["backend"], "redis");
    assert!(stats["keys"].as_u64().unwrap() >= 1, "{stats}");

    redis.stop();
    let started = Instant::now();
    let r = get(base, "/api/v1/metrics/overview");
    assert_eq!((r.status, cache_header(&r).as_str()), (200, "MISS"), "answered uncached: {}", r.text);
    assert_eq!(r.json["total_logs"], 1);
    assert!(started.elapsed() < Duration::from_secs(3), "no long wait for a dead Redis");
    let h = get(base, "/health").json;
    assert_eq!(h["services"]["cache"], "degraded", "{h}");
    assert_eq!(get(base, "/api/v1/cache/stats").json["status"], "degraded");

    redis.restart();
    poll_until("Redis used again", POLL_TIMEOUT, || {
        let _ = get(base, "/api/v1/metrics/overview");
        (cache_header(&get(base, "/api/v1/metrics/overview")) == "HIT").then_some(())
    });
    assert_eq!(get(base, "/health").json["services"]["cache"], "healthy");
}
