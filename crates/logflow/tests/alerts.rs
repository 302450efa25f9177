//! Alert rules and triggered alerts through the real binary: CRUD with validation and ownership,
//! then the engine end to end (logs cross a threshold -> one alert, a webhook POST to a real
//! listener and an email to a real SMTP server), and the acknowledge/resolve workflow.

mod common;

use common::*;
use logflow_testkit::SmtpSink;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tiny HTTP server that answers 200 to every POST and keeps the JSON bodies.
fn webhook_listener() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let sink = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice(&body) {
                    sink.lock().unwrap().push(v);
                }
            }
            let _ = reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, bodies)
}

fn rule(name: &str, channel: &str, config: Value) -> Value {
    json!({"name": name, "description": "errors of pay", "condition": "greater_than", "threshold": 3,
           "time_window": 5, "levels": ["ERROR"], "services": ["pay"], "notification_channel": channel,
           "notification_config": config, "is_active": true})
}

#[test]
fn rules_are_validated_and_owned() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = &server.url;
    let alice = register_user(base, "alice");
    let bob = register_user(base, "bob");
    let admin = token(base, "admin", "admin123");

    let body = rule("High errors", "console", json!({}));
    assert_eq!(call("POST", base, "/api/v1/alerts/rules", None, Some(&body)).status, 401);
    let bad = [
        (json!({"condition": "bigger_than"}), "condition"),
        (json!({"time_window": -5}), "time_window"),
        (json!({"notification_channel": "webhook", "notification_config": {"url": "ftp://x"}}), "http"),
        (json!({"notification_channel": "email", "notification_config": {}}), "to"),
        (json!({"levels": ["LOUD"]}), "LOUD"),
        (json!({"query": "a AND ("}), "query"),
        (json!({"name": ""}), "name"),
    ];
    for (change, expected) in bad {
        let mut b = body.clone();
        for (k, v) in change.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = call("POST", base, "/api/v1/alerts/rules", Some(&alice), Some(&b));
        assert_eq!(r.status, 400, "{change}: {}", r.text);
        assert!(r.error().contains(expected), "{change}: expected '{expected}' in {}", r.text);
    }
    let r = call("POST", base, "/api/v1/alerts/rules", Some(&alice), Some(&body));
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_i64().unwrap();
    assert_eq!(r.json["trigger_count"], 0);

    // Reads are open.
    assert_eq!(get(base, "/api/v1/alerts/rules").json.as_array().unwrap().len(), 1);
    assert_eq!(get(base, &format!("/api/v1/alerts/rules/{id}")).json["name"], "High errors");
    assert_eq!(get(base, "/api/v1/alerts/rules/999").status, 404);

    // Only the owner or an admin changes it; absent fields are kept.
    let path = format!("/api/v1/alerts/rules/{id}");
    assert_eq!(call("PUT", base, &path, Some(&bob), Some(&json!({"threshold": 10}))).status, 403);
    let r = call("PUT", base, &path, Some(&alice), Some(&json!({"threshold": 10})));
    assert_eq!(
        (r.status, &r.json["threshold"], &r.json["name"]),
        (200, &json!(10.0), &json!("High errors")),
        "{}",
        r.text
    );
    assert_eq!(call("PUT", base, &path, Some(&alice), Some(&json!({"condition": "nope"}))).status, 400);
    let r = call("PUT", base, &path, Some(&admin), Some(&json!({"is_active": false})));
    assert_eq!((r.status, &r.json["is_active"]), (200, &json!(false)));
    assert_eq!(get(base, "/api/v1/alerts/rules?active_only=true").json, json!([]));
    assert_eq!(call("DELETE", base, &path, Some(&bob), None).status, 403);
    assert_eq!(call("DELETE", base, &path, Some(&alice), None).status, 204);
    assert_eq!(get(base, &path).status, 404);
}

#[test]
fn engine_fires_once_notifies_and_alerts_are_acknowledged_and_resolved() {
    let Some(smtp) = SmtpSink::start() else { return };
    let (hook_url, hooks) = webhook_listener();
    let dir = tempdir();
    let smtp_port = smtp.port.to_string();
    let server = Server::start(
        dir.path(),
        &[
            ("LOGFLOW_ALERTING_CHECK_INTERVAL_SECS", "1"),
            ("LOGFLOW_SMTP_HOST", "127.0.0.1"),
            ("LOGFLOW_SMTP_PORT", &smtp_port),
            ("LOGFLOW_SMTP_TLS", "none"),
            ("LOGFLOW_SMTP_FROM", "LogFlow <alerts@example.com>"),
        ],
    );
    let base = &server.url;
    let alice = register_user(base, "alice");
    let web = call(
        "POST",
        base,
        "/api/v1/alerts/rules",
        Some(&alice),
        Some(&rule("Pay errors (webhook)", "webhook", json!({"url": hook_url}))),
    );
    assert_eq!(web.status, 201, "{}", web.text);
    let mail = call(
        "POST",
        base,
        "/api/v1/alerts/rules",
        Some(&alice),
        Some(&rule("Pay errors (email)", "email", json!({"to": ["oncall@example.com"]}))),
    );
    assert_eq!(mail.status, 201, "{}", mail.text);

    // 3 errors: at the threshold, not above it. Nothing fires.
    let errors = |n: usize| -> Value {
        Value::Array(
            (0..n)
                .map(|i| json!({"service": "pay", "level": "ERROR", "message": format!("card declined {i}")}))
                .collect(),
        )
    };
    ingest_ok(base, &errors(3));
    ingest_ok(base, &json!([{"service": "other", "level": "ERROR", "message": "not counted"}]));
    wait_total(base, "", 4);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(get(base, "/api/v1/alerts/triggered").json, json!([]));

    // Two more: 5 > 3. Each rule fires exactly once.
    ingest_ok(base, &errors(2));
    let alerts = poll_until("two triggered alerts", POLL_TIMEOUT, || {
        let v = get(base, "/api/v1/alerts/triggered").json;
        (v.as_array()?.len() == 2).then_some(v)
    });
    for a in alerts.as_array().unwrap() {
        assert_eq!(a["value"], 5.0, "{a}");
        assert_eq!(a["threshold"], 3.0);
        assert_eq!(a["status"], "triggered");
        assert_eq!(a["sample_log_ids"].as_array().unwrap().len(), 5, "the five matching logs: {a}");
    }
    let hook = poll_until("the webhook POST", POLL_TIMEOUT, || hooks.lock().unwrap().first().cloned());
    assert_eq!(hook["rule_name"], "Pay errors (webhook)");
    assert_eq!(hook["value"], 5.0);
    assert_eq!(hook["threshold"], 3.0);
    assert_eq!(hook["time_window_minutes"], 5);
    assert!(hook["search_url"].as_str().unwrap().contains("/api/v1/logs/search?"), "{hook}");
    let email = poll_until("the email", POLL_TIMEOUT, || smtp.messages().into_iter().next());
    assert_eq!(email.rcpt_to, ["oncall@example.com"]);
    assert!(
        email.header("subject").unwrap_or_default().contains("Pay errors (email)"),
        "{:?}",
        email.header("subject")
    );
    assert!(email.text().contains("/api/v1/logs/search?"), "{}", email.text());

    // Later ticks do not fire again while the alerts are open.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(get(base, "/api/v1/alerts/triggered").json.as_array().unwrap().len(), 2);
    assert_eq!(hooks.lock().unwrap().len(), 1);

    // The workflow: acknowledge, then resolve; invalid transitions are 409; a login is needed.
    let id = alerts[0]["id"].as_i64().unwrap();
    let ack = format!("/api/v1/alerts/triggered/{id}/acknowledge");
    let res = format!("/api/v1/alerts/triggered/{id}/resolve");
    assert_eq!(call("POST", base, &ack, None, None).status, 401);
    let r = call("POST", base, &ack, Some(&alice), None);
    assert_eq!((r.status, &r.json["status"]), (200, &json!("acknowledged")), "{}", r.text);
    assert!(r.json["acknowledged_by"].is_i64() && r.json["acknowledged_at"].is_string());
    assert_eq!(call("POST", base, &ack, Some(&alice), None).status, 409);
    let r = call("POST", base, &res, Some(&alice), None);
    assert_eq!((r.status, &r.json["status"]), (200, &json!("resolved")), "{}", r.text);
    let r = call("POST", base, &res, Some(&alice), None);
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(call("POST", base, "/api/v1/alerts/triggered/999/resolve", Some(&alice), None).status, 404);

    // History stays queryable, by status and rule.
    assert_eq!(get(base, "/api/v1/alerts/triggered?status=resolved").json.as_array().unwrap().len(), 1);
    let rule_id = web.json["id"].as_i64().unwrap();
    let by_rule = get(base, &format!("/api/v1/alerts/triggered?rule_id={rule_id}")).json;
    assert_eq!(by_rule.as_array().unwrap().len(), 1);
    assert_eq!(get(base, "/api/v1/alerts/triggered?status=bogus").status, 400);
    let r = get(base, &format!("/api/v1/alerts/rules/{rule_id}"));
    assert_eq!(r.json["trigger_count"], 1, "{}", r.text);

    let metrics = get(base, "/metrics").text;
    assert!(metrics.contains(r#"alerts_triggered_total{rule_name="Pay errors (webhook)"} 1"#), "{metrics}");
    assert!(!metrics.contains("alerts_checked_total 0\n"), "{metrics}");
}

/// An anomaly rule on log volume fires when `logflow generate --spike volume` bursts.
#[test]
fn anomaly_rule_fires_on_a_generated_spike() {
    use chrono::{Duration as ChronoDuration, DurationRound, Utc};
    let dir = tempdir();
    let server = Server::start(dir.path(), &[("LOGFLOW_ALERTING_CHECK_INTERVAL_SECS", "1")]);
    let base = &server.url;
    // A steady half hour before now: 18-22 logs a minute.
    let minute = Utc::now().duration_trunc(ChronoDuration::minutes(1)).unwrap();
    let mut items = Vec::new();
    for m in 1..=30 {
        for i in 0..(18 + (m % 3) * 2) {
            let at = minute - ChronoDuration::minutes(m) + ChronoDuration::seconds(i * 2);
            items.push(json!({"service": "checkout", "level": "INFO", "message": "order placed", "timestamp": ts(at)}));
        }
    }
    let n = items.len() as u64;
    ingest_ok(base, &Value::Array(items));
    wait_total(base, "", n);

    // The burst: 20x a 50 logs/s stream for 3 s, then the rule is created.
    let out = logflow_cmd()
        .args(["generate", "--url", base, "--services", "checkout", "--rate", "50", "--duration", "3"])
        .args(["--spike", "volume", "--spike-factor", "20", "--quiet", "--seed", "7"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let alice = register_user(base, "alice");
    let body = json!({"name": "Checkout volume anomaly", "rule_type": "anomaly", "time_window": 30,
        "anomaly": {"metric": "log_volume", "service": "checkout", "min_severity": "high"},
        "notification_channel": "console"});
    let r = call("POST", base, "/api/v1/alerts/rules", Some(&alice), Some(&body));
    assert_eq!(r.status, 201, "{}", r.text);
    let rule_id = r.json["id"].as_i64().unwrap();

    // The engine fires within a minute (the burst's minute may have to end first).
    let alert = poll_until("the anomaly alert", Duration::from_secs(90), || {
        let v = get(base, &format!("/api/v1/alerts/triggered?rule_id={rule_id}")).json;
        v.as_array()?.first().cloned()
    });
    assert_eq!(alert["rule_name"], "Checkout volume anomaly");
    assert!(alert["value"].as_f64().unwrap() > 500.0, "the burst's minute: {alert}");
    assert!(alert["threshold"].as_f64().unwrap() < 100.0, "expected volume near the baseline: {alert}");
    assert!(server.stderr().contains("Checkout volume anomaly"), "console notification in the server log");
}

/// Two servers sharing one PostgreSQL evaluate a rule once per tick: one alert, not two.
#[test]
fn two_servers_on_one_postgres_fire_once() {
    let Some(db) = tokio::runtime::Runtime::new().unwrap().block_on(logflow_testkit::pg_database()) else { return };
    let (d1, d2) = (tempdir(), tempdir());
    let envs = [("DATABASE_URL", db.url.as_str()), ("LOGFLOW_ALERTING_CHECK_INTERVAL_SECS", "1")];
    let a = Server::start(d1.path(), &envs);
    let b = Server::start(d2.path(), &envs);
    let alice = register_user(&a.url, "alice");
    let r =
        call("POST", &b.url, "/api/v1/alerts/rules", Some(&alice), Some(&rule("Shared rule", "console", json!({}))));
    assert_eq!(r.status, 201, "the user and token work on both servers: {}", r.text);
    // Both servers see the same errors (each has its own log store).
    let errors: Value =
        (0..5).map(|i| json!({"service": "pay", "level": "ERROR", "message": format!("e{i}")})).collect();
    for s in [&a, &b] {
        ingest_ok(&s.url, &errors);
        wait_total(&s.url, "", 5);
    }
    poll_until("an alert", POLL_TIMEOUT, || {
        (get(&a.url, "/api/v1/alerts/triggered").json.as_array()?.len() == 1).then_some(())
    });
    std::thread::sleep(Duration::from_millis(3000));
    let all = get(&b.url, "/api/v1/alerts/triggered").json;
    assert_eq!(all.as_array().unwrap().len(), 1, "fired once across both servers: {all}");
    assert_eq!(get(&a.url, &format!("/api/v1/alerts/rules/{}", r.json["id"])).json["trigger_count"], 1);
}
