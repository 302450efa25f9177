//! Observability of the real server: Prometheus metrics at `/metrics` (every family of the spec,
//! route-template labels with bounded cardinality, ingest counters), request and correlation ids
//! on every response, `/api/v1/trace/context`, and the request id in the server's log.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Every family of the spec, as named in the Prometheus text format, and its type.
const FAMILIES: [(&str, &str); 21] = [
    ("http_requests_total", "counter"),
    ("http_request_duration_seconds", "histogram"),
    ("logs_processed_total", "counter"),
    ("logs_indexed_total", "counter"),
    ("elasticsearch_queries_total", "counter"),
    ("elasticsearch_query_duration_seconds", "histogram"),
    ("alerts_triggered_total", "counter"),
    ("alerts_checked_total", "counter"),
    ("cache_hits_total", "counter"),
    ("cache_misses_total", "counter"),
    ("database_queries_total", "counter"),
    ("database_connections", "gauge"),
    ("auth_attempts_total", "counter"),
    ("users_registered_total", "counter"),
    ("rate_limit_exceeded_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_cpu_seconds_total", "counter"),
    ("process_open_fds", "gauge"),
    ("process_start_time_seconds", "gauge"),
    ("logflow_wal_pending_bytes", "gauge"),
    ("logflow_index_docs", "gauge"),
];

/// Upper bounds of the latency histogram buckets, as printed in `le`.
const BUCKETS: [&str; 14] =
    ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"];

/// GET /metrics; requires 200 and the Prometheus text content type.
fn scrape(base: &str) -> String {
    let r = get(base, "/metrics");
    assert_eq!(r.status, 200, "{}", r.text);
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "content-type {ct:?}");
    r.text
}

/// The value of the sample `series` (name and labels exactly as printed), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Sample lines of `name` whose labels contain every one of `labels` (e.g. `endpoint="/x"`).
fn samples<'a>(text: &'a str, name: &str, labels: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .filter(|l| labels.iter().all(|lab| l.contains(lab)))
        .collect()
}

fn random_hex() -> String {
    format!("{:016x}", RandomState::new().build_hasher().finish())
}

/// `text` without ANSI colour sequences (the text log format colours field names).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ params final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 36
        && s.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
        && b[14] == b'4'
}

#[test]
fn metrics_describe_every_family_and_count_requests_by_route() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = server.url.as_str();

    // Every family is described from the start, even those of features still to come.
    let text = scrape(base);
    for (name, kind) in FAMILIES {
        let help = format!("# HELP {name} ");
        assert!(text.lines().any(|l| l.starts_with(&help)), "no HELP line for {name}:\n{text}");
        let typ = format!("# TYPE {name} {kind}");
        assert!(text.lines().any(|l| l == typ), "no TYPE {kind} line for {name}:\n{text}");
    }
    assert!(value(&text, "process_resident_memory_bytes").unwrap() > 1e6, "{text}");
    assert!(value(&text, "process_open_fds").unwrap() >= 3.0, "{text}");
    assert!(value(&text, "process_cpu_seconds_total").is_some(), "{text}");
    let start = value(&text, "process_start_time_seconds").unwrap();
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(start <= now + 1.0 && start > now - 600.0, "start time {start}, now {now}");

    // Traffic: three good searches, one bad, one recent, one ingest.
    for _ in 0..3 {
        assert_eq!(search(base, "query=payment").status, 200);
    }
    assert_eq!(search(base, "limit=0").status, 400);
    assert_eq!(get(base, "/api/v1/logs/recent").status, 200);
    let ids = ingest_ok(base, &json!([{"service": "m", "message": "one"}, {"service": "m", "message": "two"}]));
    wait_indexed(base);

    let text = scrape(base);
    let search_ok = r#"http_requests_total{method="GET",endpoint="/api/v1/logs/search",status="200"}"#;
    let search_bad = r#"http_requests_total{method="GET",endpoint="/api/v1/logs/search",status="400"}"#;
    assert_eq!(value(&text, search_ok), Some(3.0), "{text}");
    assert_eq!(value(&text, search_bad), Some(1.0), "{text}");
    assert_eq!(
        value(&text, r#"http_requests_total{method="POST",endpoint="/api/v1/logs",status="200"}"#),
        Some(1.0),
        "{text}"
    );
    // The earlier scrape counted itself.
    assert!(value(&text, r#"http_requests_total{method="GET",endpoint="/metrics",status="200"}"#).unwrap() >= 1.0);
    for le in BUCKETS {
        let bucket =
            format!(r#"http_request_duration_seconds_bucket{{method="GET",endpoint="/api/v1/logs/search",le="{le}"}}"#);
        assert!(value(&text, &bucket).is_some(), "missing {bucket}:\n{text}");
    }
    let count = r#"http_request_duration_seconds_count{method="GET",endpoint="/api/v1/logs/search"}"#;
    assert_eq!(value(&text, count), Some(4.0), "{text}");
    let inf = r#"http_request_duration_seconds_bucket{method="GET",endpoint="/api/v1/logs/search",le="+Inf"}"#;
    assert_eq!(value(&text, inf), Some(4.0), "{text}");

    // Store queries: the bad search never reached the store; wait_indexed does not search.
    let q = |op: &str| {
        value(&text, &format!(r#"elasticsearch_queries_total{{operation="{op}",backend="tantivy"}}"#)).unwrap_or(0.0)
    };
    assert_eq!(q("search"), 3.0, "{text}");
    assert_eq!(q("recent"), 1.0, "{text}");
    assert!(value(&text, r#"elasticsearch_query_duration_seconds_count{operation="search",backend="tantivy"}"#)
        .is_some_and(|n| n == 3.0));
    assert_eq!(get(base, &format!("/api/v1/logs/{}", ids[0])).status, 200);
    let text = scrape(base);
    assert_eq!(value(&text, r#"elasticsearch_queries_total{operation="get",backend="tantivy"}"#), Some(1.0), "{text}");

    // Scrape-time gauges.
    assert_eq!(value(&text, "logflow_index_docs"), Some(2.0), "{text}");
    assert_eq!(value(&text, "logflow_wal_pending_bytes"), Some(0.0), "{text}");

    // OpenMetrics on request.
    let r = get_with_headers(base, "/metrics", &[("accept", "application/openmetrics-text; version=1.0.0")]);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap_or_default().starts_with("application/openmetrics-text"));
    assert!(r.text.contains("# TYPE http_requests counter\n"), "{}", r.text);
    assert!(r.text.ends_with("# EOF\n"), "{}", r.text);
}

#[test]
fn endpoint_label_is_the_route_template_whatever_the_path() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = server.url.clone();

    let ids: Vec<String> = (0..1000).map(|i| format!("nosuch{i}x{}", random_hex())).collect();
    std::thread::scope(|s| {
        for chunk in ids.chunks(125) {
            let base = base.as_str();
            s.spawn(move || {
                for id in chunk {
                    let r = get(base, &format!("/api/v1/logs/{id}"));
                    assert_eq!(r.status, 404, "{}", r.text);
                }
            });
        }
    });
    let unknown: Vec<String> = (0..50).map(|i| format!("/nowhere-{i}-{}", random_hex())).collect();
    for path in &unknown {
        assert_eq!(get(&base, path).status, 404);
    }

    let text = scrape(&base);
    let by_id = samples(&text, "http_requests_total", &[r#"endpoint="/api/v1/logs/{id}""#]);
    assert_eq!(
        by_id,
        [r#"http_requests_total{method="GET",endpoint="/api/v1/logs/{id}",status="404"} 1000"#],
        "one series per status for the template"
    );
    let durations = samples(&text, "http_request_duration_seconds_count", &[r#"endpoint="/api/v1/logs/{id}""#]);
    assert_eq!(durations.len(), 1, "{durations:?}");
    let unmatched = samples(&text, "http_requests_total", &[r#"endpoint="unmatched""#]);
    assert_eq!(unmatched, [r#"http_requests_total{method="GET",endpoint="unmatched",status="404"} 50"#]);
    for raw in ids.iter().chain(&unknown) {
        assert!(!text.contains(raw.as_str()), "raw path {raw} leaked into /metrics");
    }
    assert!(!text.contains("nosuch") && !text.contains("nowhere"));
}

#[test]
fn log_counters_follow_accepted_logs() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = server.url.as_str();
    let processed = |text: &str| value(text, "logs_processed_total").expect("logs_processed_total");
    let indexed = |text: &str, service: &str, level: &str| {
        value(text, &format!(r#"logs_indexed_total{{service="{service}",level="{level}"}}"#)).unwrap_or(0.0)
    };

    let before = scrape(base);
    assert_eq!(processed(&before), 0.0);

    // 7 ERROR + 3 INFO for "x", 1 WARNING for "y", and 2 rejected items: 207.
    let mut items: Vec<Value> =
        (0..7).map(|i| json!({"service": "x", "level": "error", "message": format!("e{i}")})).collect();
    items.extend((0..3).map(|i| json!({"service": "x", "level": "INFO", "message": format!("i{i}")})));
    items.push(json!({"service": "y", "level": "warn", "message": "w"}));
    items.push(json!({"service": "x", "level": "ERROR"})); // no message
    items.push(json!({"message": "no service"}));
    let r = post_json(base, &Value::Array(items));
    assert_eq!(r.status, 207, "{}", r.text);
    assert_eq!(r.json["accepted"], 11);

    // A request with every item rejected, and a malformed body, count nothing.
    assert_eq!(post_json(base, &json!([{"service": "x"}])).status, 400);
    assert_eq!(post_raw(base, b"{not json".to_vec(), &[("content-type", "application/json")]).status, 400);

    // logs_indexed_total counts at the index commit, logs_processed_total at acceptance.
    wait_indexed(base);
    let after = scrape(base);
    assert_eq!(processed(&after) - processed(&before), 11.0, "{after}");
    assert_eq!(indexed(&after, "x", "ERROR"), 7.0, "{after}");
    assert_eq!(indexed(&after, "x", "INFO"), 3.0, "{after}");
    assert_eq!(indexed(&after, "y", "WARNING"), 1.0, "{after}");

    // NDJSON counts the same way.
    let nd = b"{\"service\":\"x\",\"level\":\"error\",\"message\":\"n1\"}\n{\"service\":\"x\",\"level\":\"critical\",\"message\":\"n2\"}\n";
    let r = post_raw(base, nd.to_vec(), &[("content-type", "application/x-ndjson")]);
    assert_eq!(r.status, 200, "{}", r.text);
    wait_indexed(base);
    let last = scrape(base);
    assert_eq!(processed(&last), 13.0, "{last}");
    assert_eq!(indexed(&last, "x", "ERROR"), 8.0, "{last}");
    assert_eq!(indexed(&last, "x", "CRITICAL"), 1.0, "{last}");
}

#[test]
fn every_response_carries_request_and_correlation_ids() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[("LOGFLOW_INGEST_MAX_BODY_BYTES", "4096")]);
    let base = server.url.as_str();
    let ids = |r: &Resp| {
        let rid = r.header("x-request-id").unwrap_or_else(|| panic!("no X-Request-ID on {} {}", r.status, r.text));
        let cid = r.header("x-correlation-id").unwrap_or_else(|| panic!("no X-Correlation-ID on {}", r.status));
        (rid, cid)
    };

    // None sent: a new UUID v4, and the correlation id is the request id; each request its own.
    let (rid, cid) = ids(&get(base, "/health"));
    assert!(is_uuid_v4(&rid), "{rid}");
    assert_eq!(cid, rid);
    let (rid2, _) = ids(&get(base, "/health"));
    assert_ne!(rid, rid2);

    // Valid ids are echoed.
    let r = get_with_headers(base, "/health", &[("x-request-id", "req-123.a_b:c")]);
    assert_eq!(ids(&r), ("req-123.a_b:c".to_string(), "req-123.a_b:c".to_string()));
    let r = get_with_headers(base, "/health", &[("x-request-id", "req-9"), ("x-correlation-id", "my-transaction-123")]);
    assert_eq!(ids(&r), ("req-9".to_string(), "my-transaction-123".to_string()));
    let r = get_with_headers(base, "/health", &[("x-correlation-id", "only-corr")]);
    let (rid, cid) = ids(&r);
    assert!(is_uuid_v4(&rid), "{rid}");
    assert_eq!(cid, "only-corr");
    let longest = "a".repeat(128);
    assert_eq!(ids(&get_with_headers(base, "/health", &[("x-request-id", &longest)])).0, longest);

    // Invalid ids are replaced, never echoed.
    for bad in ["x".repeat(300), "has spaces".to_string(), "a;b".to_string(), "a".repeat(129)] {
        let r = get_with_headers(base, "/health", &[("x-request-id", &bad), ("x-correlation-id", &bad)]);
        let (rid, cid) = ids(&r);
        assert!(is_uuid_v4(&rid), "{bad:?} -> {rid}");
        assert_eq!(cid, rid, "an invalid correlation id falls back to the request id");
    }

    // Error responses carry them too: 404 (unknown route and unknown id), 400, 405, 413.
    let h = [("x-request-id", "err-req"), ("x-correlation-id", "err-corr")];
    let want = ("err-req".to_string(), "err-corr".to_string());
    let r = get_with_headers(base, "/no/such/route", &h);
    assert_eq!(r.status, 404);
    assert_eq!(ids(&r), want);
    let r = get_with_headers(base, "/api/v1/logs/nope", &h);
    assert_eq!(r.status, 404);
    assert_eq!(ids(&r), want);
    let r = get_with_headers(base, "/api/v1/logs/search?limit=0", &h);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.error().contains("limit"));
    assert_eq!(ids(&r), want);
    let r = get(base, "/api/v1/logs/search?query=(a");
    assert_eq!(r.status, 400);
    let (rid, cid) = ids(&r);
    assert!(is_uuid_v4(&rid) && cid == rid);
    let r = Resp::read(client().delete(format!("{base}/health")).header("x-request-id", "del-1").send().unwrap());
    assert_eq!(r.status, 405);
    assert_eq!(ids(&r).0, "del-1");
    r.error();
    let big = json!({"service": "s", "message": "x".repeat(8000)}).to_string().into_bytes();
    let r = post_raw(base, big, &[("content-type", "application/json"), ("x-request-id", "big-1")]);
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(ids(&r).0, "big-1");
    r.error();
}

#[test]
fn trace_context_echoes_its_own_ids() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = server.url.as_str();

    let r = get(base, "/api/v1/trace/context");
    assert_eq!(r.status, 200, "{}", r.text);
    let rid = r.header("x-request-id").unwrap();
    assert!(is_uuid_v4(&rid));
    assert_eq!(r.json["request_id"], rid.as_str(), "{}", r.text);
    assert_eq!(r.json["correlation_id"], rid.as_str(), "{}", r.text);
    let t = chrono::DateTime::parse_from_rfc3339(r.json["timestamp"].as_str().expect("timestamp")).unwrap();
    assert!((chrono::Utc::now() - t.to_utc()).num_seconds().abs() < 60, "{t}");

    let r = get_with_headers(
        base,
        "/api/v1/trace/context",
        &[("x-request-id", "ctx-req-1"), ("x-correlation-id", "ctx-corr-1")],
    );
    assert_eq!(r.json["request_id"], "ctx-req-1", "{}", r.text);
    assert_eq!(r.json["correlation_id"], "ctx-corr-1", "{}", r.text);
    assert_eq!(r.header("x-correlation-id").as_deref(), Some("ctx-corr-1"));

    let r = get_with_headers(base, "/api/v1/trace/context", &[("x-request-id", "not valid!")]);
    let rid = r.json["request_id"].as_str().unwrap();
    assert!(is_uuid_v4(rid));
    assert_eq!(r.header("x-request-id").as_deref(), Some(rid));

    // Documented in OpenAPI, with /metrics.
    let doc = get(base, "/openapi.json");
    assert_eq!(doc.status, 200);
    for path in ["/api/v1/trace/context", "/metrics"] {
        assert!(doc.json["paths"].get(path).is_some(), "{path} missing from /openapi.json");
    }
}

#[test]
fn server_log_lines_carry_the_request_id() {
    let dir = tempdir();
    for format in ["text", "json"] {
        let server = Server::start(dir.path(), &[("LOGFLOW_LOG_FORMAT", format)]);
        let rid = format!("log-{format}-{}", random_hex());
        let cid = format!("corr-{format}-{}", random_hex());
        let r = get_with_headers(
            &server.url,
            "/api/v1/logs/search?query=x",
            &[("x-request-id", &rid), ("x-correlation-id", &cid)],
        );
        assert_eq!(r.status, 200);
        let line = poll_until("the request's log line", Duration::from_secs(10), || {
            let log = strip_ansi(&server.stderr());
            log.lines().find(|l| l.contains(&rid) && l.contains("request completed")).map(str::to_string)
        });
        assert!(line.contains(&cid), "{line}");
        assert!(line.contains("/api/v1/logs/search"), "{line}");
        if format == "json" {
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(v["status"], 200, "{line}");
            assert_eq!(v["span"]["request_id"], rid.as_str(), "{line}");
            assert_eq!(v["span"]["correlation_id"], cid.as_str(), "{line}");
        } else {
            assert!(line.contains("status=200"), "{line}");
        }
    }
}
