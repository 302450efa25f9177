//! Retention: logs older than `retention_days` are refused at ingest, and whole day partitions
//! past the retention period are dropped (at start-up, then every 10 minutes).

mod common;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn partition_dir(data: &Path, t: DateTime<Utc>) -> PathBuf {
    data.join("index").join(t.date_naive().format("%Y-%m-%d").to_string())
}

fn partitions(data: &Path) -> BTreeSet<String> {
    std::fs::read_dir(data.join("index"))
        .expect("index directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| NaiveDate::parse_from_str(n, "%Y-%m-%d").is_ok())
        .collect()
}

fn logs(prefix: &str, t: DateTime<Utc>, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"id": format!("{prefix}-{i}"), "timestamp": ts(t + Duration::seconds(i as i64)),
                   "service": "ret", "message": format!("{prefix} log {i}")})
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn shorter_retention_drops_old_partitions_on_restart() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let now = now_secs();
    let (t10, t8, t6, t0) =
        (now - Duration::days(10), now - Duration::days(8), now - Duration::days(6), now - Duration::minutes(2));

    let mut server = Server::start(dir.path(), &[("LOGFLOW_RETENTION_DAYS", "30")]);
    let mut body = logs("d10", t10, 5);
    body.extend(logs("d8", t8, 3));
    body.extend(logs("d6", t6, 4));
    body.extend(logs("now", t0, 5));
    assert_eq!(ingest_ok(&server.url, &Value::Array(body)).len(), 17);
    wait_total(&server.url, "", 17);
    for t in [t10, t8, t6, t0] {
        assert!(partition_dir(&data, t).is_dir(), "partition of {t} missing: {:?}", partitions(&data));
    }
    let status = server.terminate();
    assert!(status.success(), "SIGTERM exit status {status:?}\n{}", server.stderr());

    let server = Server::start(dir.path(), &[("LOGFLOW_RETENTION_DAYS", "7")]);
    poll_until("retention to drop the 10- and 8-day-old partitions", POLL_TIMEOUT, || {
        (!partition_dir(&data, t10).exists() && !partition_dir(&data, t8).exists()).then_some(())
    });
    let want_dirs: BTreeSet<String> = [t6, t0].iter().map(|t| t.date_naive().format("%Y-%m-%d").to_string()).collect();
    assert_eq!(partitions(&data), want_dirs, "partitions left on disk");

    let mut want = ids("d6", 4);
    want.extend(ids("now", 5));
    let want = sorted(want);
    assert_eq!(sorted(search_ids(&server.url, "")), want, "default search");
    let whole = enc(&[("start_time", &ts(now - Duration::days(60))), ("end_time", &ts(now + Duration::hours(1)))]);
    assert_eq!(sorted(search_ids(&server.url, &whole)), want, "search over the whole range");
    let old_window = enc(&[("start_time", &ts(t10 - Duration::hours(1))), ("end_time", &ts(t8 + Duration::hours(1)))]);
    assert_eq!(search_ids(&server.url, &old_window), Vec::<String>::new(), "search over the dropped days");
    assert_eq!(search_ids(&server.url, "since=3m"), sorted(ids("now", 5)).into_iter().rev().collect::<Vec<_>>());
    for id in ["d10-0", "d8-2"] {
        assert_eq!(get(&server.url, &format!("/api/v1/logs/{id}")).status, 404, "{id} should be gone");
    }
    assert_eq!(get(&server.url, "/api/v1/logs/d6-3").status, 200);
    let h = get(&server.url, "/health");
    assert_eq!(h.json["components"]["storage"]["partitions"], want_dirs.len(), "{}", h.text);
    assert_eq!(h.json["components"]["storage"]["docs"], 9, "{}", h.text);

    // Ingest now refuses what is older than 7 days, per item.
    let r = post_json(&server.url, &Value::Array(logs("late", now - Duration::days(8), 1)));
    assert_eq!(r.status, 400, "{}", r.text);
    let e = r.json["detail"]["errors"][0]["error"].as_str().unwrap_or_default().to_string();
    assert!(e.contains("older than the retention period (7 days)"), "{}", r.text);
    let mut mixed = logs("late", now - Duration::days(7) - Duration::hours(1), 1);
    mixed.extend(logs("fresh", now - Duration::days(7) + Duration::hours(1), 1));
    let r = post_json(&server.url, &Value::Array(mixed));
    assert_eq!(r.status, 207, "{}", r.text);
    assert_eq!(ids_in(&r.json["ids"]), ["fresh-0"]);
    assert_eq!(r.json["errors"][0]["index"], 0, "{}", r.text);
    assert!(r.json["errors"][0]["error"].as_str().unwrap().contains("retention"), "{}", r.text);
    wait_total(&server.url, "", 10);
}

#[test]
fn expired_logs_replayed_from_the_wal_are_not_resurrected() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let now = now_secs();
    let t10 = now - Duration::days(10);
    // No index commit after start-up: the acknowledged logs exist only in the WAL when killed.
    let mut server =
        Server::start(dir.path(), &[("LOGFLOW_RETENTION_DAYS", "30"), ("LOGFLOW_INGEST_COMMIT_INTERVAL_MS", "60000")]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Recent logs first, so that on replay the indexer reaches the old ones well after the
    // start-up retention pass has run.
    const RECENT: usize = 8000;
    for b in 0..RECENT / 2000 {
        let body: Vec<Value> = (0..2000)
            .map(|i| json!({"id": format!("now-{}", b * 2000 + i), "service": "ret", "message": "recent"}))
            .collect();
        assert_eq!(ingest_ok(&server.url, &Value::Array(body)).len(), 2000);
    }
    assert_eq!(ingest_ok(&server.url, &Value::Array(logs("d10", t10, 3))).len(), 3);
    server.sigkill();

    let server = Server::start(dir.path(), &[("LOGFLOW_RETENTION_DAYS", "7")]);
    wait_indexed(&server.url);
    wait_total(&server.url, "service=ret&query=recent", RECENT as u64);
    let old = search_ids(&server.url, &enc(&[("query", "id:d10-*")]));
    assert!(
        old.is_empty(),
        "logs older than the 7-day retention came back from the WAL replay: {old:?} (partitions on disk: {:?})",
        partitions(&data)
    );
    assert_eq!(search_total(&server.url, ""), RECENT as u64);
    assert!(!partition_dir(&data, t10).exists(), "expired partition on disk: {:?}", partitions(&data));
}
