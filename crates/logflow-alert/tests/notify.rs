//! Notifications end to end: the engine fires on real stores and delivers to a real local HTTP
//! receiver (webhook, Slack) or a real SMTP server (email), retrying as configured and recording
//! the outcome on the alert.

mod common;

use std::time::{Duration, Instant};

use common::*;
use logflow_alert::{EngineConfig, RetryPolicy, SmtpConfig, SmtpTls, TargetPolicy};
use logflow_core::Level;
use logflow_meta::notification_status;
use logflow_testkit::SmtpSink;
use reqwest::Url;
use serde_json::{json, Value};

/// Six payment errors ("payment timeout") in the 5 minutes before `t0`; `e1` the newest.
fn errors(bench: &Bench) {
    let logs: Vec<_> = (1..=6)
        .map(|i| log(&format!("e{i}"), t0() - secs(30 * i), "payment-service", Level::Error, "payment timeout"))
        .collect();
    bench.add(&logs);
}

fn webhook_rule(name: &str, url: &str) -> Value {
    json!({"name": name, "notification_channel": "webhook", "notification_config": {"url": url}})
}

/// The query parameters of a URL, in order.
fn params(url: &str) -> Vec<(String, String)> {
    Url::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_posts_the_notification_then_the_recovery() {
    let bench = Bench::new().await;
    errors(&bench);
    let receiver = Receiver::start(vec![]).await;
    let rule = bench
        .rule(json!({
            "query": "timeout OR declined",
            "notification_channel": "webhook",
            "notification_config": {"url": receiver.url, "headers": {"X-Token": "s3cret"}},
        }))
        .await;
    let engine = bench.engine(config());
    engine.tick(t0()).await;
    engine.wait_for_deliveries().await;

    let alert = bench.alerts(rule.id).await.remove(0);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::SENT, 1));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let (headers, body) = &requests[0];
    assert_eq!(headers["x-token"], "s3cret");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["kind"], "triggered");
    assert_eq!(body["alert_id"], alert.id);
    assert_eq!(body["rule_id"], rule.id);
    assert_eq!(body["rule_name"], "payment errors");
    assert_eq!(body["condition"], "greater_than");
    assert_eq!(body["value"], 6.0);
    assert_eq!(body["threshold"], 5.0);
    assert_eq!(body["time_window_minutes"], 5);
    assert_eq!(body["triggered_at"], "2025-10-24T12:00:00Z");
    assert_eq!(body["recovered_at"], Value::Null);
    assert_eq!(body["sample_log_ids"], json!(["e1", "e2", "e3", "e4", "e5"]));
    assert_eq!(body["message"], alert.message);
    let search_url = body["search_url"].as_str().unwrap();
    assert!(search_url.starts_with("http://logflow.test:8000/api/v1/logs/search?"), "{search_url}");
    let expected = [
        ("query", "timeout OR declined"),
        ("service", "payment-service"),
        ("level", "ERROR"),
        ("start_time", "2025-10-24T11:55:00.000000Z"),
        ("end_time", "2025-10-24T12:00:00.000000Z"),
    ];
    assert_eq!(params(search_url), expected.map(|(k, v)| (k.to_string(), v.to_string())));

    engine.tick(t0() + mins(10)).await;
    engine.wait_for_deliveries().await;
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 2);
    let recovered = &bodies[1];
    assert_eq!(recovered["kind"], "recovered");
    assert_eq!(recovered["alert_id"], alert.id);
    assert_eq!(recovered["value"], 0.0);
    assert_eq!(recovered["triggered_at"], "2025-10-24T12:00:00Z");
    assert_eq!(recovered["recovered_at"], "2025-10-24T12:10:00Z");
    assert!(recovered["message"].as_str().unwrap().starts_with("Recovered: 0 ERROR logs"), "{recovered}");
    assert_eq!(params(recovered["search_url"].as_str().unwrap())[3].1, "2025-10-24T12:05:00.000000Z");
    // The alert keeps the outcome of the triggered notification.
    let alert = bench.alerts(rule.id).await.remove(0);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::SENT, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_webhook_is_retried_until_it_answers() {
    let bench = Bench::new().await;
    errors(&bench);
    let receiver = Receiver::start(vec![Reply::Status(500), Reply::Status(503)]).await;
    let rule = bench.rule(webhook_rule("flaky", &receiver.url)).await;
    let engine = bench.engine(config());
    engine.tick(t0()).await;
    engine.wait_for_deliveries().await;

    assert_eq!(receiver.requests().len(), 3);
    let alert = bench.alerts(rule.id).await.remove(0);
    assert_eq!(alert.notification_status, notification_status::SENT);
    assert_eq!((alert.notification_attempts, alert.notification_error), (3, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_recorded_as_failures() {
    let bench = Bench::new().await;
    errors(&bench);
    let refusing = Receiver::start(vec![Reply::Status(404), Reply::Status(500), Reply::Status(500)]).await;
    let down = Receiver::start(vec![Reply::Status(500); 3]).await;
    let refused = bench.rule(webhook_rule("refused", &refusing.url)).await;
    let failing = bench.rule(webhook_rule("failing", &down.url)).await;
    // Nothing listens on this port.
    let closed = format!("http://127.0.0.1:{}/hook", logflow_testkit::free_port());
    let unreachable = bench.rule(webhook_rule("unreachable", &closed)).await;
    let engine = bench.engine(config());
    engine.tick(t0()).await;
    engine.wait_for_deliveries().await;

    // A 404 will not get better: one attempt.
    let alert = bench.alerts(refused.id).await.remove(0);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::FAILED, 1));
    assert_eq!(alert.notification_error.as_deref(), Some("HTTP 404 Not Found"));
    assert_eq!(refusing.requests().len(), 1);
    // 5xx: every attempt of the budget.
    let alert = bench.alerts(failing.id).await.remove(0);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::FAILED, 3));
    assert_eq!(alert.notification_error.as_deref(), Some("HTTP 500 Internal Server Error"));
    let alert = bench.alerts(unreachable.id).await.remove(0);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::FAILED, 3));
    let error = alert.notification_error.unwrap();
    assert!(error.starts_with("cannot connect"), "{error}");
    assert!(!error.contains("127.0.0.1"), "the URL (which may hold a token) stays out of the error: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_never_answers_times_out_without_holding_up_other_rules() {
    let bench = Bench::new().await;
    errors(&bench);
    let hanging = Receiver::start(vec![Reply::Hang; 5]).await;
    let healthy = Receiver::start(vec![]).await;
    let stuck = bench.rule(webhook_rule("stuck", &hanging.url)).await;
    let fine = bench.rule(webhook_rule("fine", &healthy.url)).await;
    let timeout = Duration::from_millis(400);
    let retry =
        RetryPolicy { max_attempts: 2, base_delay: Duration::from_millis(10), max_delay: Duration::from_millis(10) };
    let engine = bench.engine(EngineConfig { notify_timeout: timeout, retry, ..config() });

    let started = Instant::now();
    let report = engine.tick(t0()).await;
    assert_eq!(report.triggered, 2);
    assert!(started.elapsed() < timeout, "the tick waited for a delivery: {:?}", started.elapsed());
    // The healthy webhook is served while the other one is still hanging.
    while healthy.requests().is_empty() {
        assert!(started.elapsed() < timeout, "the healthy webhook waited for the stuck one");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // And the next tick runs meanwhile too.
    engine.tick(t0() + mins(1)).await;
    assert_eq!(bench.rule_now(stuck.id).await.last_checked, Some(t0() + mins(1)));

    engine.wait_for_deliveries().await;
    assert!(started.elapsed() >= timeout * 2, "both attempts waited for their timeout");
    assert_eq!(hanging.requests().len(), 2);
    let alert = bench.alerts(stuck.id).await.remove(0);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::FAILED, 2));
    let error = alert.notification_error.unwrap();
    assert!(error.starts_with("request timed out"), "{error}");
    let alert = bench.alerts(fine.id).await.remove(0);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::SENT, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_an_incoming_webhook_message() {
    let bench = Bench::new().await;
    errors(&bench);
    let slack = Receiver::start(vec![]).await;
    let rule = bench
        .rule(json!({"name": "payments <prod>", "notification_channel": "slack", "notification_config": {"url": slack.url}}))
        .await;
    let engine = bench.engine(config());
    engine.tick(t0()).await;
    engine.wait_for_deliveries().await;

    let alert = bench.alerts(rule.id).await.remove(0);
    assert_eq!(alert.notification_status, notification_status::SENT);
    let bodies = slack.bodies();
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with(":rotating_light: ALERT payments &lt;prod&gt;: 6 ERROR logs"), "{text}");
    let blocks = body["blocks"].as_array().unwrap();
    let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["header", "section", "section", "context", "actions"]);
    assert_eq!(blocks[0]["text"], json!({"type": "plain_text", "text": "ALERT payments <prod>"}));
    let fields: Vec<&str> =
        blocks[2]["fields"].as_array().unwrap().iter().map(|f| f["text"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        ["*Value*\n6", "*Threshold*\n&gt; 5", "*Window*\n5 min", "*Triggered at*\n2025-10-24T12:00:00Z"]
    );
    assert!(blocks[3]["elements"][0]["text"].as_str().unwrap().contains("`e1` `e2`"));
    let button = &blocks[4]["elements"][0];
    assert_eq!(button["type"], "button");
    let url = button["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://logflow.test:8000/api/v1/logs/search?service=payment-service&level=ERROR"),
        "{url}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_metadata_is_refused_whatever_the_policy() {
    let bench = Bench::new().await;
    errors(&bench);
    // The API refuses this URL; a rule stored before it did (or around it) still cannot use it.
    let metadata = webhook_rule("metadata", "http://169.254.169.254/latest/meta-data/iam/security-credentials/");
    let rule = bench.meta.create_rule(rule_fields(metadata)).await.unwrap();
    // The default policy, which allows private targets.
    let engine = bench.engine(config());
    engine.tick(t0()).await;
    engine.wait_for_deliveries().await;

    // Refused before any connection, and not retried.
    let alert = bench.alerts(rule.id).await.remove(0);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::FAILED, 1));
    assert_eq!(
        alert.notification_error.as_deref(),
        Some("refused: 169.254.169.254 is link-local (cloud metadata); alert notifications may not go there")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_are_refused_when_connecting_unless_allowed() {
    let bench = Bench::new().await;
    errors(&bench);
    let tap = Tap::start().await;
    // Host names, so only what they resolve to (127.0.0.1) can give them away.
    let hook = bench.rule(webhook_rule("webhook", &format!("http://localhost:{}/hook", tap.port))).await;
    let slack = bench
        .rule(json!({"name": "slack", "notification_channel": "slack",
                     "notification_config": {"url": format!("http://localhost:{}/services/T/B/X", tap.port)}}))
        .await;
    let strict = EngineConfig { notify_targets: TargetPolicy { allow_private: false }, ..config() };
    let engine = bench.engine(strict);
    engine.tick(t0()).await;
    engine.wait_for_deliveries().await;

    for rule in [&hook, &slack] {
        let alert = bench.alerts(rule.id).await.remove(0);
        assert_eq!(
            (alert.notification_status.as_str(), alert.notification_attempts),
            (notification_status::FAILED, 1),
            "{}",
            rule.name
        );
        let error = alert.notification_error.unwrap();
        assert!(error.starts_with("refused: localhost resolves to "), "{error}");
        assert!(
            error.ends_with(
                ", which is loopback; alert notifications may not go there (private targets are not allowed)"
            ),
            "{error}"
        );
    }
    assert_eq!(tap.connections(), 0, "a refused target was connected to");

    // Allowed (the default), the same kind of URL is delivered.
    let receiver = Receiver::start(vec![]).await;
    let local = bench.rule(webhook_rule("allowed", &receiver.url.replace("127.0.0.1", "localhost"))).await;
    let engine = bench.engine(config());
    engine.tick(t0() + mins(1)).await;
    engine.wait_for_deliveries().await;
    let alert = bench.alerts(local.id).await.remove(0);
    assert_eq!(alert.notification_error, None);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::SENT, 1));
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let bench = Bench::new().await;
    errors(&bench);
    let tap = Tap::start().await;
    let target = format!("http://127.0.0.1:{}/hook", tap.port);
    let found = bench.rule(webhook_rule("found", &redirector(302, &target).await)).await;
    let temporary = bench.rule(webhook_rule("temporary", &redirector(307, &target).await)).await;
    let engine = bench.engine(config());
    engine.tick(t0()).await;
    engine.wait_for_deliveries().await;

    for (rule, status) in [(&found, "302 Found"), (&temporary, "307 Temporary Redirect")] {
        let alert = bench.alerts(rule.id).await.remove(0);
        assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::FAILED, 1));
        assert_eq!(
            alert.notification_error.unwrap(),
            format!("HTTP {status}: redirects are not followed; set the rule's URL to the final address")
        );
    }
    assert_eq!(tap.connections(), 0, "a redirect was followed");
}

fn smtp(sink: &SmtpSink) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(sink.port),
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "LogFlow Alerts <alerts@logflow.test>".into(),
    }
}

fn email_rule(to: Value) -> Value {
    json!({"notification_channel": "email", "notification_config": {"to": to}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_a_real_smtp_server() {
    let Some(sink) = SmtpSink::start() else { return };
    let bench = Bench::new().await;
    errors(&bench);
    let rule = bench.rule(email_rule(json!(["oncall@example.com", "Ops Team <ops@example.com>"]))).await;
    let engine = bench.engine(EngineConfig { smtp: Some(smtp(&sink)), ..config() });
    engine.tick(t0()).await;
    engine.wait_for_deliveries().await;

    let alert = bench.alerts(rule.id).await.remove(0);
    assert_eq!(alert.notification_error, None);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::SENT, 1));
    let mails = sink.messages();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.mail_from, "alerts@logflow.test");
    assert_eq!(mail.rcpt_to, ["oncall@example.com", "ops@example.com"]);
    assert_eq!(mail.header("Subject").as_deref(), Some("[LogFlow] ALERT: payment errors"));
    assert_eq!(mail.header("From").as_deref(), Some("\"LogFlow Alerts\" <alerts@logflow.test>"));
    let body = mail.text();
    for expected in [
        "6 ERROR logs from payment-service in the last 5 minutes (condition > 5 holds)",
        "Condition:    > 5 (greater_than)",
        "Value:        6",
        "Window:       5 minutes",
        "Triggered at: 2025-10-24T12:00:00Z",
        "Sample logs:  e1, e2, e3, e4, e5",
        "Matching logs: http://logflow.test:8000/api/v1/logs/search?service=payment-service&level=ERROR&start_time=",
    ] {
        assert!(body.contains(expected), "{expected:?} missing from:\n{body}");
    }

    engine.tick(t0() + mins(10)).await;
    engine.wait_for_deliveries().await;
    let mails = sink.messages();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].header("Subject").as_deref(), Some("[LogFlow] RECOVERED: payment errors"));
    assert!(mails[1].text().contains("Recovered at: 2025-10-24T12:10:00Z"), "{}", mails[1].text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_logs_in_to_the_relay() {
    let Some(sink) = SmtpSink::start_with_login("logflow", "hunter2") else { return };
    let bench = Bench::new().await;
    errors(&bench);
    let rule = bench.rule(email_rule(json!("oncall@example.com"))).await;
    let cfg = SmtpConfig { username: Some("logflow".into()), password: Some("hunter2".into()), ..smtp(&sink) };
    let engine = bench.engine(EngineConfig { smtp: Some(cfg.clone()), ..config() });
    engine.tick(t0()).await;
    engine.wait_for_deliveries().await;
    assert_eq!(bench.alerts(rule.id).await[0].notification_status, notification_status::SENT);
    assert_eq!(sink.messages().len(), 1);

    // A wrong password is a permanent refusal: one attempt, the server's answer recorded.
    let bench = Bench::new().await;
    errors(&bench);
    let rule = bench.rule(email_rule(json!("oncall@example.com"))).await;
    let wrong = SmtpConfig { password: Some("wrong".into()), ..cfg };
    let engine = bench.engine(EngineConfig { smtp: Some(wrong), ..config() });
    engine.tick(t0()).await;
    engine.wait_for_deliveries().await;
    let alert = bench.alerts(rule.id).await.remove(0);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::FAILED, 1));
    let error = alert.notification_error.unwrap();
    assert!(error.starts_with("SMTP: ") && error.contains("535"), "{error}");
    assert!(!error.contains("wrong"), "the password stays out of the error: {error}");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_without_an_smtp_relay_fails_clearly() {
    let bench = Bench::new().await;
    errors(&bench);
    let rule = bench.rule(email_rule(json!("oncall@example.com"))).await;
    let engine = bench.engine(config());
    engine.tick(t0()).await;
    engine.wait_for_deliveries().await;
    let alert = bench.alerts(rule.id).await.remove(0);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::FAILED, 1));
    assert!(alert.notification_error.unwrap().contains("SMTP settings"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_engine_settings_are_refused() {
    let bench = Bench::new().await;
    let build = |cfg: EngineConfig| {
        logflow_alert::Engine::new(bench.meta.clone(), std::sync::Arc::new(bench.logs.clone()), cfg, None)
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(build(config()), None);
    let e = build(EngineConfig { public_url: "logflow.example.com".into(), ..config() }).unwrap();
    assert!(e.contains("public_url \"logflow.example.com\" is not an http(s) URL"), "{e}");
    let e = build(EngineConfig { check_interval: Duration::ZERO, ..config() }).unwrap();
    assert!(e.contains("check_interval must be positive"), "{e}");
    let bad_from = SmtpConfig {
        host: "127.0.0.1".into(),
        port: None,
        tls: SmtpTls::Starttls,
        username: None,
        password: None,
        from: "not an address".into(),
    };
    let e = build(EngineConfig { smtp: Some(bad_from), ..config() }).unwrap();
    assert!(e.contains("smtp from address \"not an address\""), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_server_that_never_answers_times_out() {
    // Accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let bench = Bench::new().await;
    errors(&bench);
    let rule = bench.rule(email_rule(json!("oncall@example.com"))).await;
    let silent = SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "alerts@logflow.test".into(),
    };
    let retry =
        RetryPolicy { max_attempts: 2, base_delay: Duration::from_millis(10), max_delay: Duration::from_millis(10) };
    let timeout = Duration::from_millis(300);
    let engine = bench.engine(EngineConfig { smtp: Some(silent), notify_timeout: timeout, retry, ..config() });
    engine.tick(t0()).await;
    let started = Instant::now();
    engine.wait_for_deliveries().await;
    assert!(started.elapsed() < Duration::from_secs(5), "the delivery outlived its budget: {:?}", started.elapsed());
    let alert = bench.alerts(rule.id).await.remove(0);
    assert_eq!((alert.notification_status.as_str(), alert.notification_attempts), (notification_status::FAILED, 2));
    assert!(alert.notification_error.unwrap().starts_with("SMTP: "));
}
