//! Tracing features of the real server: custom trace events (`POST /api/v1/trace/log`) stored
//! under the request's ids, the correlation trace of a flow across services
//! (`GET /api/v1/correlation/trace/{id}`), and the Grafana dashboard, whose every PromQL
//! expression must only use metric families `/metrics` exports.

mod common;

use chrono::Duration;
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};

fn random_hex() -> String {
    format!("{:016x}", std::collections::hash_map::RandomState::new().build_hasher().finish())
}

/// POST raw bytes to `base + path` with extra headers.
fn post_to(base: &str, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Resp {
    let mut req = client().post(format!("{base}{path}")).header("content-type", "application/json").body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Resp::read(req.send().expect("POST"))
}

fn post_event(base: &str, body: &Value, headers: &[(&str, &str)]) -> Resp {
    post_to(base, "/api/v1/trace/log", &serde_json::to_vec(body).unwrap(), headers)
}

#[test]
fn trace_events_are_stored_under_the_request_ids() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = server.url.as_str();
    let corr = format!("txn-{}", random_hex());
    let rid = format!("req-{}", random_hex());

    let details = json!({"amount": 99.5, "currency": "EUR", "user": {"id": 42}});
    let r = post_event(
        base,
        &json!({"event": "payment_processed", "details": details}),
        &[("x-correlation-id", &corr), ("x-request-id", &rid)],
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["correlation_id"], corr.as_str(), "{}", r.text);
    assert_eq!(r.json["request_id"], rid.as_str(), "{}", r.text);
    assert_eq!(r.header("x-correlation-id").as_deref(), Some(corr.as_str()));
    let id = r.json["id"].as_str().expect("id").to_string();
    let stamp = r.json["timestamp"].as_str().expect("timestamp").to_string();
    assert!(chrono::DateTime::parse_from_rfc3339(&stamp).is_ok(), "{stamp}");

    // Without a correlation header the correlation id is the (generated) request id; level and
    // message may be given.
    let r = post_event(
        base,
        &json!({"event": "refund_failed", "level": "err", "message": "refund failed: card expired"}),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let (rid2, corr2) =
        (r.json["request_id"].as_str().unwrap().to_string(), r.json["correlation_id"].as_str().unwrap());
    assert_eq!(corr2, rid2);
    assert_eq!(r.header("x-request-id").as_deref(), Some(rid2.as_str()));
    let id2 = r.json["id"].as_str().unwrap().to_string();

    // Bad bodies: JSON 400s, nothing stored.
    for (body, want) in [
        (&b"{\"details\": {}}"[..], "missing required field 'event'"),
        (b"{\"event\": \"\"}", "must not be empty"),
        (b"{\"event\": 7}", "must be a string"),
        (b"[{\"event\": \"x\"}]", "must be a JSON object"),
        (b"\"payment_processed\"", "must be a JSON object"),
        (b"{not json", "not valid JSON"),
        (b"{\"event\": \"x\", \"level\": \"loud\"}", "unknown level"),
    ] {
        let r = post_to(base, "/api/v1/trace/log", body, &[]);
        assert_eq!(r.status, 400, "{}: {}", String::from_utf8_lossy(body), r.text);
        assert!(r.error().contains(want), "{}: {}", String::from_utf8_lossy(body), r.text);
    }

    wait_indexed(base);
    let logs = search_all(base, &enc(&[("query", &format!("correlation_id:{corr}"))]));
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = &logs[0];
    assert_eq!(log["id"], id.as_str());
    assert_eq!(log["service"], "logflow");
    assert_eq!(log["level"], "INFO");
    assert_eq!(log["message"], "payment_processed");
    assert_eq!(log["timestamp"], stamp.as_str());
    assert_eq!(log["correlation_id"], corr.as_str());
    assert_eq!(log["request_id"], rid.as_str());
    assert_eq!(log["attributes"], json!({"event": "payment_processed", "details": details}));

    // Searchable by its attributes and request id too.
    assert_eq!(search_ids(base, &enc(&[("query", "attributes.event:payment_processed")])), [id.as_str()]);
    assert_eq!(search_ids(base, &enc(&[("query", &format!("request_id:{rid}"))])), [id.as_str()]);
    let logs = search_all(base, &enc(&[("query", &format!("correlation_id:{rid2}"))]));
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!((&logs[0]["id"], &logs[0]["level"]), (&json!(id2), &json!("ERROR")));
    assert_eq!(logs[0]["message"], "refund failed: card expired");
    assert_eq!(logs[0]["attributes"], json!({"event": "refund_failed", "details": {}}));
    assert_eq!(search_total(base, "service=logflow"), 2, "the rejected events stored nothing");

    // The event is part of its correlation trace.
    let r = get(base, &format!("/api/v1/correlation/trace/{corr}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["total_logs"], 1);
    assert_eq!(r.json["services"], json!(["logflow"]));
}

#[test]
fn correlation_trace_orders_a_flow_across_services() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = server.url.as_str();

    let r = get(base, "/api/v1/correlation/trace/flow-unknown");
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.error().contains("flow-unknown"), "{}", r.text);

    let flow = format!("flow-{}", random_hex());
    let t0 = now_secs() - Duration::minutes(10);
    let at = |micros: i64| ts(t0 + Duration::microseconds(micros));
    let item = |key: &str, micros: i64, service: &str, level: &str, corr: &str| {
        json!({"id": key, "timestamp": at(micros), "service": service, "level": level,
               "message": format!("{key} step"), "correlation_id": corr})
    };
    // The flow, sent out of order and mixed with noise: other ids (one sharing a prefix), a log
    // naming the flow in its message only, a log without a correlation id.
    let body = json!([
        item("f4-pay-ok", 400_000, "payment-service", "INFO", &flow),
        item("noise-1", 100_000, "api-gateway", "ERROR", &format!("{flow}0")),
        item("f1-gw-in", 0, "api-gateway", "INFO", &flow),
        item("f3-pay-err", 350_000, "payment-service", "ERROR", &flow),
        {"id": "noise-2", "timestamp": at(200_000), "service": "auth-service", "level": "CRITICAL",
         "message": format!("about {flow}")},
        item("f5-gw-out", 1_000_500, "api-gateway", "INFO", &flow),
        item("noise-3", 300_000, "payment-service", "ERROR", "other-flow"),
        item("f2-auth", 120_000, "auth-service", "INFO", &flow),
    ]);
    ingest_ok(base, &body);
    // More noise in another batch, earlier than the flow.
    ingest_ok(base, &json!([item("noise-4", -5_000_000, "auth-service", "ERROR", "other-flow")]));
    wait_indexed(base);

    let r = get(base, &format!("/api/v1/correlation/trace/{flow}"));
    assert_eq!(r.status, 200, "{}", r.text);
    let t = &r.json;
    assert_eq!(t["correlation_id"], flow.as_str());
    assert_eq!(t["total_logs"], 5);
    let order: Vec<&str> = t["logs"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(order, ["f1-gw-in", "f2-auth", "f3-pay-err", "f4-pay-ok", "f5-gw-out"]);
    assert!(t["logs"].as_array().unwrap().iter().all(|l| l["correlation_id"] == flow.as_str()));
    assert_eq!(t["services"], json!(["api-gateway", "auth-service", "payment-service"]));
    assert_eq!(t["start_time"], at(0).as_str());
    assert_eq!(t["end_time"], at(1_000_500).as_str());
    assert_eq!(t["duration_ms"].as_f64(), Some(1000.5));
    assert_eq!(t["first_error"]["id"], "f3-pay-err");
    assert_eq!(t["first_error"]["level"], "ERROR");
    let breakdown: Vec<(String, u64, f64, String, String)> = t["service_breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["service"].as_str().unwrap().to_string(),
                b["log_count"].as_u64().unwrap(),
                b["time_ms"].as_f64().unwrap(),
                b["first_seen"].as_str().unwrap().to_string(),
                b["last_seen"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        breakdown,
        [
            ("api-gateway".to_string(), 2, 1000.5, at(0), at(1_000_500)),
            ("auth-service".to_string(), 1, 0.0, at(120_000), at(120_000)),
            ("payment-service".to_string(), 2, 50.0, at(350_000), at(400_000)),
        ]
    );

    // A flow without errors has first_error null.
    let r = get(base, "/api/v1/correlation/trace/other-flow");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["total_logs"], 2);
    assert_eq!(r.json["first_error"]["id"], "noise-4");
    let r = get(base, &format!("/api/v1/correlation/trace/{flow}0"));
    assert_eq!((r.json["total_logs"].as_u64(), r.json["first_error"]["id"].as_str()), (Some(1), Some("noise-1")));
    ingest_ok(base, &json!({"service": "s", "message": "calm", "correlation_id": "calm-flow"}));
    wait_indexed(base);
    let r = get(base, "/api/v1/correlation/trace/calm-flow");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["first_error"], Value::Null, "{}", r.text);
    assert_eq!(r.json["duration_ms"].as_f64(), Some(0.0));

    // Unknown and invalid ids.
    let r = get(base, "/api/v1/correlation/trace/no-such-flow");
    assert_eq!(r.status, 404, "{}", r.text);
    r.error();
    for bad in ["bad%20id", "semi%3Bcolon", &"x".repeat(129)] {
        let r = get(base, &format!("/api/v1/correlation/trace/{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(r.error().contains("invalid correlation id"), "{bad}: {}", r.text);
    }
}

// ----- the Grafana dashboard -----

/// PromQL keywords (never metric names).
const PROMQL_KEYWORDS: [&str; 7] = ["bool", "and", "or", "unless", "offset", "inf", "nan"];
/// Modifiers whose parenthesised list holds label names, not metrics.
const GROUPING: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Open,
    Close,
    Other,
}

/// Metric names used by a PromQL expression: identifiers outside strings, label matchers
/// (`{...}`), range selectors (`[...]`) and grouping lists (`by (...)`), that are neither
/// keywords nor function calls / aggregations (an identifier followed by `(` or by a grouping
/// modifier, as in `sum by (x) (...)`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let b: Vec<char> = expr.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        i += 1;
        match c {
            '"' | '\'' | '`' => {
                while i < b.len() && b[i] != c {
                    i += if b[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                toks.push(Tok::Other);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < b.len() && b[i] != close {
                    i += 1;
                }
                i += 1;
                toks.push(Tok::Other);
            }
            '(' => toks.push(Tok::Open),
            ')' => toks.push(Tok::Close),
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i - 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_' || b[i] == ':') {
                    i += 1;
                }
                toks.push(Tok::Ident(b[start..i].iter().collect()));
            }
            c if c.is_ascii_digit() || c == '.' => {
                // A number or duration (0.95, 1e3, 1d): skip it whole.
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '.') {
                    i += 1;
                }
                toks.push(Tok::Other);
            }
            c if c.is_whitespace() => {}
            _ => toks.push(Tok::Other),
        }
    }
    let is_grouping = |t: Option<&Tok>| matches!(t, Some(Tok::Ident(w)) if GROUPING.contains(&w.as_str()));
    let mut out = BTreeSet::new();
    let mut k = 0;
    while k < toks.len() {
        if let Tok::Ident(word) = &toks[k] {
            if GROUPING.contains(&word.as_str()) {
                // Skip the label list, if any (`group_left` may have none).
                if toks.get(k + 1) == Some(&Tok::Open) {
                    k += 1;
                    while k < toks.len() && toks[k] != Tok::Close {
                        k += 1;
                    }
                }
            } else if toks.get(k + 1) != Some(&Tok::Open)
                && !is_grouping(toks.get(k + 1))
                && !PROMQL_KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
            {
                out.insert(word.clone());
            }
        }
        k += 1;
    }
    out
}

/// `# TYPE` lines of a scrape: family name -> type.
fn families(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.trim().to_string()))
        .collect()
}

/// True when `name` is a series name of an exported family: the family itself, a counter's
/// `_total` series (for encoders that print the TYPE without it), or a histogram's/summary's
/// `_bucket`/`_sum`/`_count` series.
fn exported(name: &str, fams: &HashMap<String, String>) -> bool {
    if fams.contains_key(name) {
        return true;
    }
    if let Some(base) = name.strip_suffix("_total") {
        if fams.get(base).is_some_and(|k| k == "counter") {
            return true;
        }
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .and_then(|base| fams.get(base))
            .is_some_and(|k| k == "histogram" || (k == "summary" && *suffix != "_bucket"))
    })
}

#[test]
fn promql_scanner_finds_metric_names_only() {
    let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{job="x"}[5m])) by (le, endpoint))"#
        ),
        ["http_request_duration_seconds_bucket"]
    );
    assert_eq!(
        names(
            r#"sum(rate(a_total{status=~"5.."}[5m])) / ignoring(status) group_left sum by (svc) (rate(b_total[1h] offset 1d)) > bool 0.5"#
        ),
        ["a_total", "b_total"]
    );
    assert_eq!(names("up_gauge"), ["up_gauge"]);
    assert_eq!(names("topk(3, sum without (instance, job) (c:recorded:rate5m)) or vector(0)"), ["c:recorded:rate5m"]);

    let fams: HashMap<String, String> = [("h", "histogram"), ("c_total", "counter"), ("d", "counter"), ("g", "gauge")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    for ok in ["h_bucket", "h_sum", "h_count", "c_total", "d_total", "g"] {
        assert!(exported(ok, &fams), "{ok}");
    }
    assert!(exported("h", &fams), "a family name is exported");
    for bad in ["g_total", "g_bucket", "c", "d_bucket", "missing_total"] {
        assert!(!exported(bad, &fams), "{bad}");
    }
}

#[test]
fn dashboard_uses_only_exported_metrics() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards/grafana-logflow.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(dash["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "schemaVersion {}", dash["schemaVersion"]);
    assert!(
        dash["__inputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS datasource input"
    );

    let mut exprs = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {}", panel["title"]);
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push(target["expr"].as_str().expect("expr").to_string());
        }
    }
    let used: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    for expected in [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "cache_hits_total",
        "cache_misses_total",
        "logs_processed_total",
        "logs_indexed_total",
        "alerts_triggered_total",
        "logflow_wal_pending_bytes",
    ] {
        assert!(used.contains(expected), "the dashboard has no panel on {expected}: {used:?}");
    }

    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = server.url.as_str();
    ingest_ok(base, &json!([{"service": "a", "message": "one"}, {"service": "b", "level": "error", "message": "two"}]));
    assert_eq!(search(base, "query=one").status, 200);
    assert_eq!(get(base, "/nope").status, 404);
    wait_indexed(base);
    let r = get(base, "/metrics");
    assert_eq!(r.status, 200, "{}", r.text);
    let fams = families(&r.text);
    let missing: Vec<&String> = used.iter().filter(|m| !exported(m, &fams)).collect();
    assert!(missing.is_empty(), "metrics used by the dashboard but not exported: {missing:?}\n{}", r.text);
}
