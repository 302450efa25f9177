//! Anomaly endpoints over a known series: a volume burst and an error-rate jump are found at the
//! minute they happened; windows are validated; too few points give an empty answer with a reason.

mod common;

use chrono::{Duration as ChronoDuration, DurationRound, Utc};
use common::*;
use serde_json::{json, Value};

#[test]
fn volume_spikes_and_error_rate_jumps_are_found() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = &server.url;
    let end = Utc::now().duration_trunc(ChronoDuration::minutes(1)).unwrap();
    let spike_minute = end - ChronoDuration::minutes(20);
    let error_minute = end - ChronoDuration::minutes(40);
    let mut items = Vec::new();
    for m in 1..=60 {
        let minute = end - ChronoDuration::minutes(m);
        let n = if minute == spike_minute { 400 } else { 20 + (m % 3) as usize };
        for i in 0..n {
            // A background of one error every fourth minute; 16 errors in the error minute.
            let error = (minute == error_minute && i < 16) || (i == 0 && m % 4 == 0);
            let level = if error { "ERROR" } else { "INFO" };
            let at = minute + ChronoDuration::milliseconds((i as i64 * 997) % 60_000);
            items.push(json!({"service": "pay", "level": level, "message": "charge", "timestamp": ts(at)}));
        }
    }
    // A quiet second service with logs in only three minutes.
    for m in [3, 9, 15] {
        items.push(json!({"service": "rare", "level": "INFO", "message": "tick", "timestamp": ts(end - ChronoDuration::minutes(m))}));
    }
    let total = items.len() as u64;
    for chunk in items.chunks(2000) {
        ingest_ok(base, &Value::Array(chunk.to_vec()));
    }
    wait_total(base, "", total);

    let r = get(base, "/api/v1/anomaly/detect/log-volume?window_minutes=60&service=pay");
    assert_eq!(r.status, 200, "{}", r.text);
    let found = r.json.as_array().unwrap();
    let minute_of = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:00").to_string();
    let spike =
        found.iter().find(|a| a["detected_at"].as_str().is_some_and(|d| d.starts_with(&minute_of(spike_minute))));
    let spike = spike.unwrap_or_else(|| panic!("no anomaly at {spike_minute}: {}", r.text));
    assert_eq!(spike["anomaly_type"], "spike");
    assert_eq!(spike["metric_name"], "log_volume");
    assert_eq!(spike["service"], "pay");
    assert_eq!(spike["actual_value"], 400.0);
    assert!(["high", "critical"].contains(&spike["severity"].as_str().unwrap()), "{spike}");
    assert_eq!(found[0], *spike, "the burst is the most severe: {}", r.text);

    let r = get(base, "/api/v1/anomaly/detect/error-rate?window_minutes=60&service=pay");
    assert_eq!(r.status, 200, "{}", r.text);
    let top = &r.json[0];
    assert_eq!(top["metric_name"], "error_rate", "{}", r.text);
    assert!(top["detected_at"].as_str().unwrap().starts_with(&minute_of(error_minute)), "{}", r.text);
    assert_eq!(top["anomaly_type"], "spike");

    // Too few points: the rare service's error rate has three.
    let r = get(base, "/api/v1/anomaly/detect/error-rate?window_minutes=60&service=rare");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!([]));
    assert!(r.header("x-anomaly-skipped").is_some_and(|h| h.contains('5')), "{:?}", r.headers);

    let r = get(base, "/api/v1/anomaly/report?window_minutes=60");
    assert_eq!(r.status, 200, "{}", r.text);
    let rep = &r.json;
    assert!(rep["total_anomalies"].as_u64().unwrap() >= 2, "{}", r.text);
    assert_eq!(rep["total_anomalies"].as_u64().unwrap() as usize, rep["anomalies"].as_array().unwrap().len());
    assert!(rep["anomalies_by_service"]["pay"].as_u64().unwrap() >= 2, "{}", r.text);
    let by_severity: u64 =
        rep["anomalies_by_severity"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(by_severity, rep["total_anomalies"].as_u64().unwrap());
    assert!(rep["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["service"] == "rare" && s["metric_name"] == "error_rate"));
    let period = (rep["period_end"].as_str().unwrap(), rep["period_start"].as_str().unwrap());
    assert!(period.0 > period.1);

    for bad in ["window_minutes=5", "window_minutes=1441", "window_minutes=abc"] {
        for path in ["/api/v1/anomaly/detect/log-volume", "/api/v1/anomaly/detect/error-rate", "/api/v1/anomaly/report"]
        {
            let r = get(base, &format!("{path}?{bad}"));
            assert_eq!(r.status, 400, "{path}?{bad}: {}", r.text);
            r.error();
        }
    }
}
