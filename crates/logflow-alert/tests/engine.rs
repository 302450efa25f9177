//! The engine end to end on real stores: a tantivy log store with known logs and a SQLite (or
//! PostgreSQL) metadata store, ticking at chosen instants.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use common::*;
use logflow_alert::{Engine, EngineConfig, EngineObserver, TickReport};
use logflow_core::Level;
use logflow_meta::{alert_status, notification_status, OpenOptions};
use serde_json::json;

/// Six ERROR logs of payment-service within the 5 minutes before `t0`, `e1` the newest, and
/// logs each filter of the base rule must leave out.
fn payment_errors() -> Vec<logflow_core::LogRecord> {
    let mut logs: Vec<_> = (1..=6)
        .map(|i| log(&format!("e{i}"), t0() - secs(30 * i), "payment-service", Level::Error, "payment failed"))
        .collect();
    logs.extend([
        log("info", t0() - secs(20), "payment-service", Level::Info, "payment accepted"),
        log("other-service", t0() - secs(20), "auth-service", Level::Error, "login failed"),
        log("too-old", t0() - mins(6), "payment-service", Level::Error, "payment failed"),
        log("at-now", t0(), "payment-service", Level::Error, "payment failed"),
    ]);
    logs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_fires_once_then_recovers() {
    let bench = Bench::new().await;
    bench.add(&payment_errors());
    let rule = bench.rule(json!({})).await;
    let engine = bench.engine(config());

    let report = engine.tick(t0()).await;
    assert_eq!(report, TickReport { checked: 1, triggered: 1, ..Default::default() });
    engine.wait_for_deliveries().await;
    let alerts = bench.alerts(rule.id).await;
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!((alert.value, alert.threshold, alert.time_window), (6.0, 5.0, 5));
    assert_eq!((alert.condition.as_str(), alert.rule_name.as_str()), ("greater_than", "payment errors"));
    assert_eq!(alert.sample_log_ids, ["e1", "e2", "e3", "e4", "e5"]);
    assert_eq!(alert.triggered_at, t0());
    assert!(
        alert.message.contains("6 ERROR logs from payment-service in the last 5 minutes (condition > 5 holds)"),
        "{}",
        alert.message
    );
    assert_eq!(alert.status, alert_status::TRIGGERED);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::SENT, 1));
    let stored = bench.rule_now(rule.id).await;
    assert_eq!((stored.trigger_count, stored.last_triggered, stored.last_checked), (1, Some(t0()), Some(t0())));

    // The same instant again: already claimed, nothing evaluated.
    assert_eq!(engine.tick(t0()).await, TickReport { skipped_claimed: 1, ..Default::default() });

    // A minute later the condition still holds (7 logs now): the open alert is not repeated.
    assert_eq!(engine.tick(t0() + mins(1)).await, TickReport { checked: 1, ..Default::default() });
    assert_eq!(bench.alerts(rule.id).await.len(), 1);

    // Once the logs have left the window the alert recovers, once.
    assert_eq!(engine.tick(t0() + mins(10)).await, TickReport { checked: 1, recovered: 1, ..Default::default() });
    assert_eq!(engine.tick(t0() + mins(11)).await, TickReport { checked: 1, ..Default::default() });
    let alerts = bench.alerts(rule.id).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].recovered_at, Some(t0() + mins(10)));
    assert_eq!(alerts[0].status, alert_status::TRIGGERED, "recovery does not resolve on the user's behalf");
    assert!(!alerts[0].is_open());
    assert_eq!(bench.rule_now(rule.id).await.trigger_count, 1);
}

/// A burst of six payment errors just before `at`.
fn burst(at: chrono::DateTime<chrono::Utc>, tag: &str) -> Vec<logflow_core::LogRecord> {
    (1..=6)
        .map(|i| log(&format!("{tag}-{i}"), at - secs(10 * i), "payment-service", Level::Error, "payment failed"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldown_keeps_a_flapping_rule_quiet() {
    let bench = Bench::new().await;
    let rule = bench.rule(json!({"cooldown_minutes": 30})).await;
    let engine = bench.engine(config());
    bench.add(&burst(t0(), "a"));
    assert_eq!(engine.tick(t0()).await.triggered, 1);
    assert_eq!(engine.tick(t0() + mins(10)).await.recovered, 1);

    // Fires again 15 minutes after the first firing: within the 30-minute cooldown.
    bench.add(&burst(t0() + mins(15), "b"));
    let report = engine.tick(t0() + mins(15)).await;
    assert_eq!(report, TickReport { checked: 1, suppressed: 1, ..Default::default() });
    assert_eq!(bench.alerts(rule.id).await.len(), 1);

    // 31 minutes after: the cooldown is over.
    bench.add(&burst(t0() + mins(31), "c"));
    assert_eq!(engine.tick(t0() + mins(31)).await.triggered, 1);
    let alerts = bench.alerts(rule.id).await;
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].triggered_at, t0() + mins(31));
    assert_eq!(alerts[0].sample_log_ids[0], "c-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_cooldown_applies_to_rules_without_their_own() {
    let bench = Bench::new().await;
    let inherits = bench.rule(json!({"name": "inherits"})).await;
    let none = bench.rule(json!({"name": "no cooldown", "cooldown_minutes": 0})).await;
    let engine = bench.engine(EngineConfig { default_cooldown: Duration::from_secs(20 * 60), ..config() });
    bench.add(&burst(t0(), "a"));
    assert_eq!(engine.tick(t0()).await.triggered, 2);
    assert_eq!(engine.tick(t0() + mins(10)).await.recovered, 2);
    bench.add(&burst(t0() + mins(15), "b"));
    let report = engine.tick(t0() + mins(15)).await;
    assert_eq!((report.triggered, report.suppressed), (1, 1));
    assert_eq!(bench.alerts(inherits.id).await.len(), 1);
    assert_eq!(bench.alerts(none.id).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_condition_compares_the_count_with_the_threshold() {
    let bench = Bench::new().await;
    bench.add(
        &(1..=3)
            .map(|i| log(&format!("x{i}"), t0() - mins(i), "payment-service", Level::Error, "failed"))
            .collect::<Vec<_>>(),
    );
    // (condition, threshold, fires with a count of 3)
    let cases = [
        ("greater_than", 2.0, true),
        ("greater_than", 3.0, false),
        ("less_than", 4.0, true),
        ("less_than", 3.0, false),
        ("equals", 3.0, true),
        ("equals", 2.0, false),
        ("greater_than_or_equal", 3.0, true),
        ("greater_than_or_equal", 4.0, false),
        ("less_than_or_equal", 3.0, true),
        ("less_than_or_equal", 2.0, false),
    ];
    for (condition, threshold, _) in cases {
        bench
            .rule(json!({"name": format!("{condition} {threshold}"), "condition": condition, "threshold": threshold}))
            .await;
    }
    // Silence: no logs at all from a service is a count of 0, which is less than 1.
    let silence = bench
        .rule(json!({"name": "silence", "condition": "less_than", "threshold": 1, "services": ["quiet-service"]}))
        .await;
    let engine = bench.engine(config());
    let report = engine.tick(t0()).await;
    assert_eq!((report.checked, report.triggered), (11, 6));

    let fired: BTreeMap<String, f64> = bench
        .meta
        .list_triggered(Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.rule_name, a.value))
        .collect();
    for (condition, threshold, fires) in cases {
        let name = format!("{condition} {threshold}");
        assert_eq!(fired.get(&name), fires.then_some(&3.0), "{name}");
    }
    assert_eq!(fired.get("silence"), Some(&0.0));
    assert!(bench.alerts(silence.id).await[0].sample_log_ids.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_services_query_and_window_select_what_is_counted() {
    let bench = Bench::new().await;
    bench.add(&[
        log("a", t0() - mins(1), "payment-service", Level::Error, "payment timeout talking to bank"),
        log("b", t0() - mins(2), "payment-service", Level::Error, "card declined"),
        log("c", t0() - mins(3), "payment-service", Level::Info, "payment accepted"),
        log("d", t0() - mins(1), "auth-service", Level::Warning, "token expired"),
        log("e", t0() - mins(4), "auth-service", Level::Critical, "auth database timeout"),
        // The window is [t0 - 5 min, t0): its first microsecond is in, t0 itself is not.
        log("f", t0() - mins(5), "order-service", Level::Info, "order created"),
        log("g", t0(), "order-service", Level::Error, "order failed: timeout"),
        log("h", t0() - mins(5) - TimeDelta::microseconds(1), "order-service", Level::Error, "older timeout"),
    ]);
    // Rules that always fire (count >= 0), so each alert records its count.
    let cases = [
        ("everything", json!({"levels": [], "services": []}), 6.0),
        ("error levels in any spelling", json!({"levels": ["err", "fatal"], "services": []}), 3.0),
        ("two services", json!({"levels": [], "services": ["auth-service", "order-service"]}), 3.0),
        ("query", json!({"levels": [], "services": [], "query": "timeout"}), 2.0),
        ("field query", json!({"levels": [], "services": [], "query": "service:payment-service AND level:error"}), 2.0),
        ("all filters", json!({"levels": ["ERROR"], "services": ["payment-service"], "query": "declined"}), 1.0),
        ("nothing matches", json!({"levels": ["DEBUG"], "services": []}), 0.0),
    ];
    for (name, changes, _) in &cases {
        let mut changes = changes.clone();
        changes["name"] = json!(name);
        changes["condition"] = json!("greater_than_or_equal");
        changes["threshold"] = json!(0);
        bench.rule(changes).await;
    }
    let engine = bench.engine(config());
    assert_eq!(engine.tick(t0()).await.triggered, cases.len() as u64);
    let alerts: BTreeMap<String, logflow_meta::TriggeredAlert> = bench
        .meta
        .list_triggered(Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.rule_name.clone(), a))
        .collect();
    for (name, _, count) in &cases {
        assert_eq!(alerts[*name].value, *count, "{name}");
    }
    // Samples are the newest matches, ties broken by id (descending), at most five.
    assert_eq!(alerts["everything"].sample_log_ids, ["d", "a", "b", "c", "e"]);
    assert_eq!(alerts["query"].sample_log_ids, ["a", "e"]);
    assert_eq!(alerts["all filters"].sample_log_ids, ["b"]);
    assert!(
        alerts["all filters"].message.contains("1 ERROR log from payment-service matching \"declined\""),
        "{}",
        alerts["all filters"].message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_rule_is_reported_and_the_others_still_run() {
    let bench = Bench::new().await;
    bench.add(&payment_errors());
    // Written around the validator, as an old row or a manual edit could be.
    bench.meta.create_rule(rule_fields(json!({"name": "broken", "query": "(payment"}))).await.unwrap();
    bench.meta.create_rule(rule_fields(json!({"name": "odd condition", "condition": "above"}))).await.unwrap();
    let good = bench.rule(json!({"name": "good"})).await;
    let engine = bench.engine(config());
    let report = engine.tick(t0()).await;
    assert_eq!(report, TickReport { checked: 3, triggered: 1, errors: 2, ..Default::default() });
    assert_eq!(bench.alerts(good.id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_rules_are_not_evaluated() {
    let bench = Bench::new().await;
    bench.add(&payment_errors());
    let rule = bench.rule(json!({"is_active": false})).await;
    let report = bench.engine(config()).tick(t0()).await;
    assert_eq!(report, TickReport::default());
    assert!(bench.alerts(rule.id).await.is_empty());
}

#[derive(Default)]
struct Counts {
    checked: AtomicU64,
    ticks: AtomicU64,
    triggered: Mutex<Vec<String>>,
}

impl EngineObserver for Counts {
    fn checked(&self, n: u64) {
        self.checked.fetch_add(n, Ordering::SeqCst);
        self.ticks.fetch_add(1, Ordering::SeqCst);
    }
    fn triggered(&self, rule_name: &str) {
        self.triggered.lock().unwrap().push(rule_name.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_hears_checks_and_firings() {
    let bench = Bench::new().await;
    bench.add(&payment_errors());
    bench.rule(json!({"name": "fires"})).await;
    bench.rule(json!({"name": "quiet", "threshold": 100})).await;
    let counts = Arc::new(Counts::default());
    let engine = Engine::new(bench.meta.clone(), Arc::new(bench.logs.clone()), config(), Some(counts.clone())).unwrap();
    engine.tick(t0()).await;
    engine.tick(t0() + mins(1)).await;
    assert_eq!(counts.checked.load(Ordering::SeqCst), 4);
    assert_eq!(*counts.triggered.lock().unwrap(), ["fires"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_engine_ticks_until_shutdown() {
    let bench = Bench::new().await;
    let now = chrono::Utc::now();
    bench.add(&burst(now, "live"));
    let rule = bench.rule(json!({})).await;
    let counts = Arc::new(Counts::default());
    let cfg = EngineConfig { check_interval: Duration::from_millis(50), ..config() };
    let engine =
        Arc::new(Engine::new(bench.meta.clone(), Arc::new(bench.logs.clone()), cfg, Some(counts.clone())).unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let handle = engine.clone().spawn(stopped);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while counts.ticks.load(Ordering::SeqCst) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "the engine did not keep ticking");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let alerts = bench.alerts(rule.id).await;
    assert_eq!(alerts.len(), 1, "fired once across ticks");
    assert_eq!(alerts[0].notification_status, notification_status::SENT);

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), handle).await.expect("stops on shutdown").unwrap();
    let ticks = counts.ticks.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(counts.ticks.load(Ordering::SeqCst), ticks, "no tick after shutdown");

    // A dropped sender stops it too.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let handle = engine.spawn(stopped);
    drop(stop);
    tokio::time::timeout(Duration::from_secs(5), handle).await.expect("stops when the sender is gone").unwrap();
}

/// Two processes on one PostgreSQL database, ticking at the same instant: one evaluates and
/// fires, the other skips the claimed rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_engines_on_one_postgres_fire_once() {
    let Some(db) = logflow_testkit::pg_database().await else { return };
    let meta_a = logflow_meta::open(&db.url, OpenOptions::default()).await.unwrap();
    let meta_b = logflow_meta::open(&db.url, OpenOptions::default()).await.unwrap();
    let bench = Bench::with_meta(tempfile::tempdir().unwrap(), meta_a.clone());
    bench.add(&payment_errors());
    let rules: Vec<_> = ten_rules(&bench).await;
    let engine_a = Engine::new(meta_a, Arc::new(bench.logs.clone()), config(), None).unwrap();
    let engine_b = Engine::new(meta_b, Arc::new(bench.logs.clone()), config(), None).unwrap();

    for (i, at) in [t0(), t0() + mins(1), t0() + mins(2)].into_iter().enumerate() {
        let (a, b) = tokio::join!(engine_a.tick(at), engine_b.tick(at));
        assert_eq!(a.checked + b.checked, rules.len() as u64, "tick {i}: each rule evaluated once");
        assert_eq!(a.skipped_claimed + b.skipped_claimed, rules.len() as u64, "tick {i}");
        let expected_triggers = if i == 0 { rules.len() as u64 } else { 0 };
        assert_eq!(a.triggered + b.triggered, expected_triggers, "tick {i}");
    }
    engine_a.wait_for_deliveries().await;
    engine_b.wait_for_deliveries().await;
    for rule in &rules {
        let alerts = bench.alerts(rule.id).await;
        assert_eq!(alerts.len(), 1, "{}", rule.name);
        assert_eq!(alerts[0].notification_status, notification_status::SENT);
        assert_eq!(bench.rule_now(rule.id).await.trigger_count, 1);
    }
}

async fn ten_rules(bench: &Bench) -> Vec<logflow_meta::AlertRule> {
    let mut rules = Vec::new();
    for i in 0..10 {
        rules.push(bench.rule(json!({"name": format!("rule {i}")})).await);
    }
    rules
}

/// `per_minute(m)` logs of `service` in each minute `m` from 30 minutes before `t0` to 5 minutes
/// after (`m` = 29 is the last minute before `t0`), `errors(m)` of them ERROR and the rest INFO.
fn series(service: &str, per_minute: impl Fn(i64) -> i64, errors: impl Fn(i64) -> i64) -> Vec<logflow_core::LogRecord> {
    let start = t0() - mins(30);
    let mut logs = Vec::new();
    for m in 0..35 {
        for i in 0..per_minute(m) {
            let level = if i < errors(m) { Level::Error } else { Level::Info };
            let at = start + mins(m) + TimeDelta::milliseconds(i * 50);
            logs.push(log(&format!("{service}-{m:02}-{i:03}"), at, service, level, "request handled"));
        }
    }
    logs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomaly_rules_fire_on_a_burst_and_recover_after_it() {
    let bench = Bench::new().await;
    // `api`: about 20 logs a minute, and 200 in the last minute before t0. `steady`: no burst.
    bench.add(&series("api", |m| if m == 29 { 200 } else { 20 + m % 3 }, |_| 0));
    bench.add(&series("steady", |m| 20 + m % 3, |_| 0));
    // `checkout`: 1 error in 20 a minute, and half of the logs errors in the last minute before t0.
    bench.add(&series("checkout", |_| 20, |m| if m == 29 { 10 } else { 1 }));
    let anomaly = |name: &str, services: serde_json::Value, settings: serde_json::Value| {
        json!({"name": name, "rule_type": "anomaly", "time_window": 30, "levels": [], "services": services,
               "anomaly": settings})
    };
    let volume = bench.rule(anomaly("api volume", json!(["api"]), json!({"metric": "log_volume"}))).await;
    let steady = bench
        .rule(anomaly(
            "steady volume",
            json!([]),
            json!({"metric": "log_volume", "service": "steady", "min_severity": "medium"}),
        ))
        .await;
    let errors =
        bench.rule(anomaly("checkout errors", json!([]), json!({"metric": "error_rate", "service": "checkout"}))).await;
    let engine = bench.engine(config());

    // Mid-minute: the partial minute t0..t0+30s is not part of the series.
    let report = engine.tick(t0() + secs(30)).await;
    assert_eq!((report.checked, report.triggered, report.errors), (3, 2, 0));

    let alert = &bench.alerts(volume.id).await[0];
    assert_eq!((alert.condition.as_str(), alert.value), ("anomaly", 200.0));
    assert!((20.0..=23.0).contains(&alert.threshold), "expected value {}", alert.threshold);
    assert_eq!(alert.sample_log_ids.len(), 5);
    assert!(alert.sample_log_ids.iter().all(|id| id.starts_with("api-29-")), "{:?}", alert.sample_log_ids);
    assert!(alert.message.contains("spike in log_volume"), "{}", alert.message);
    assert!(bench.alerts(steady.id).await.is_empty(), "a series without a burst does not fire");
    let alert = &bench.alerts(errors.id).await[0];
    assert_eq!(alert.value, 0.5);
    assert!(alert.message.contains("error_rate of checkout"), "{}", alert.message);
    assert!(alert.sample_log_ids.iter().all(|id| id.starts_with("checkout-29-")), "{:?}", alert.sample_log_ids);

    // Five minutes on, the burst is no longer recent: both recover.
    let report = engine.tick(t0() + mins(5)).await;
    assert_eq!((report.triggered, report.recovered), (0, 2));
    assert!(bench.alerts(volume.id).await[0].recovered_at.is_some());
}
