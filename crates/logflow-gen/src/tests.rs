//! Behavioural tests of the generator output.

use crate::{GenConfig, Generator, Spike, DEFAULT_SERVICES};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

fn seeded(seed: u64) -> Generator {
    Generator::new(GenConfig { seed: Some(seed), ..GenConfig::default() })
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-10-24T08:30:00Z").unwrap().with_timezone(&Utc)
}

fn ts(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).unwrap().with_timezone(&Utc)
}

fn lines(g: &mut Generator, n: usize) -> Vec<Value> {
    let mut out = String::new();
    g.write_ndjson(n, t0(), Duration::minutes(10), &mut out);
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Share of ERROR+CRITICAL among `logs`.
fn error_share(logs: &[Value]) -> f64 {
    let errs = logs.iter().filter(|l| matches!(l["level"].as_str(), Some("ERROR" | "CRITICAL"))).count();
    errs as f64 / logs.len() as f64
}

#[test]
fn same_seed_same_output_different_seed_different_output() {
    let (mut a, mut b, mut c) = (seeded(7), seeded(7), seeded(8));
    let (mut sa, mut sb, mut sc) = (String::new(), String::new(), String::new());
    for (g, s) in [(&mut a, &mut sa), (&mut b, &mut sb), (&mut c, &mut sc)] {
        g.write_ndjson(500, t0(), Duration::seconds(60), s);
    }
    assert_eq!(sa, sb);
    assert_ne!(sa, sc);
    assert_eq!(seeded(3).flow(t0()), seeded(3).flow(t0()));
}

#[test]
fn flows_share_ids_and_move_forward_in_time() {
    let mut g = seeded(42);
    let known: HashSet<&str> = DEFAULT_SERVICES.iter().copied().collect();
    let mut lengths = HashMap::new();
    for _ in 0..2000 {
        let flow = g.flow(t0());
        assert!((2..=6).contains(&flow.len()), "flow of {} logs", flow.len());
        *lengths.entry(flow.len()).or_insert(0) += 1;
        let corr = flow[0]["correlation_id"].as_str().unwrap();
        let trace = flow[0]["trace_id"].as_str().unwrap();
        assert_eq!(trace.len(), 32);
        let mut spans = HashSet::new();
        let mut reqs = HashSet::new();
        for w in flow.windows(2) {
            assert!(ts(&w[0]) <= ts(&w[1]), "time went backwards: {w:?}");
        }
        for log in &flow {
            assert_eq!(log["correlation_id"], corr);
            assert_eq!(log["trace_id"], trace);
            assert!(spans.insert(log["span_id"].as_str().unwrap().to_string()));
            assert!(reqs.insert(log["request_id"].as_str().unwrap().to_string()));
            assert!(known.contains(log["service"].as_str().unwrap()));
            assert!(ts(log) >= t0());
        }
        // Flows enter through the gateway, which writes the access log last.
        let last = flow.last().unwrap();
        assert_eq!(last["service"], "api-gateway");
        assert!(last["attributes"]["http"]["status"].is_u64(), "{last}");
        assert!(flow[..flow.len() - 1].iter().all(|l| l["service"] != "api-gateway"));
        // Plausible order: payment never happens before the order it pays for.
        let pos = |s: &str| flow.iter().position(|l| l["service"] == s);
        if let (Some(o), Some(p)) = (pos("order-service"), pos("payment-service")) {
            assert!(o < p);
        }
    }
    assert!(lengths.len() >= 4, "flow lengths lack variety: {lengths:?}");
}

#[test]
fn failures_propagate_upstream() {
    let mut g = Generator::new(GenConfig { seed: Some(5), error_rate: 0.4, ..GenConfig::default() });
    let mut saw_caller = false;
    let mut failed = 0;
    for _ in 0..500 {
        let flow = g.flow(t0());
        let first_err =
            flow[..flow.len() - 1].iter().position(|l| matches!(l["level"].as_str(), Some("ERROR" | "CRITICAL")));
        let Some(i) = first_err else { continue };
        if flow[i]["service"] == "notification-service" {
            continue; // fire-and-forget: may fail without failing the request
        }
        failed += 1;
        let access = flow.last().unwrap();
        let status = access["attributes"]["http"]["status"].as_u64().unwrap();
        assert!(status >= 500, "failed flow answered {status}: {flow:#?}");
        assert!(matches!(access["level"].as_str(), Some("ERROR" | "WARNING")));
        // The flow stops at the failure: only the caller's report and the access log follow.
        assert!(flow.len() - i <= 3, "{flow:#?}");
        if flow.len() - i == 3 {
            let caller = &flow[i + 1];
            assert!(matches!(caller["level"].as_str(), Some("ERROR" | "WARNING")));
            assert_eq!(caller["attributes"]["downstream"], flow[i]["service"]);
            assert_eq!(caller["attributes"]["cause"], flow[i]["attributes"]["cause"]);
            saw_caller = true;
        }
    }
    assert!(failed > 50 && saw_caller);
}

#[test]
fn every_route_hint_names_a_template() {
    let g = seeded(1);
    assert_eq!(g.m.routes.len(), 9);
    for r in &g.m.routes {
        for s in &r.steps {
            assert!(s.info_tpl.is_some(), "{} {}: no INFO template starts with {:?}", r.method, r.route, s.hint);
        }
        let notifies = r.steps.iter().any(|s| g.m.services[s.svc].name == "notification-service");
        assert_eq!(r.notify.is_some(), notifies, "{}", r.route);
    }
}

#[test]
fn level_mix_over_10k_logs() {
    let logs = lines(&mut seeded(11), 10_000);
    assert_eq!(logs.len(), 10_000);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for l in &logs {
        *counts.entry(l["level"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let share = |lvl: &str| *counts.get(lvl).unwrap_or(&0) as f64 / logs.len() as f64;
    println!("level mix: {counts:?}");
    assert!((0.06..0.14).contains(&share("DEBUG")), "{counts:?}");
    assert!((0.62..0.80).contains(&share("INFO")), "{counts:?}");
    assert!((0.08..0.18).contains(&share("WARNING")), "{counts:?}");
    assert!(share("CRITICAL") > 0.0 && share("CRITICAL") < share("ERROR"), "{counts:?}");
    let e = error_share(&logs);
    assert!((0.021..0.039).contains(&e), "error share {e} for error_rate 0.03");
}

#[test]
fn error_share_matches_error_rate() {
    for rate in [0.01, 0.07, 0.2] {
        let mut g = Generator::new(GenConfig { seed: Some(3), error_rate: rate, ..GenConfig::default() });
        let e = error_share(&lines(&mut g, 20_000));
        println!("error_rate {rate}: share {e:.4}");
        assert!((rate * 0.75..rate * 1.25).contains(&e), "error_rate {rate}: share {e}");
    }
}

#[test]
fn errors_spike_raises_the_error_share() {
    let mut g = seeded(9);
    let base = error_share(&lines(&mut g, 5000));
    g.set_spike(Spike::Errors { error_rate: 0.3 });
    let spiked = error_share(&lines(&mut g, 5000));
    g.set_spike(Spike::None);
    let after = error_share(&lines(&mut g, 5000));
    assert!(spiked > 0.2 && spiked > base * 4.0, "base {base}, spiked {spiked}");
    assert!(after < 0.06, "after {after}");
    // A volume spike does not change the logs themselves.
    g.set_spike(Spike::Volume { factor: 10.0 });
    assert!(error_share(&lines(&mut g, 5000)) < 0.06);
}

#[test]
fn ndjson_lines_are_complete_and_about_250_bytes() {
    let mut g = seeded(1);
    let mut out = String::new();
    let start = t0();
    let span = Duration::seconds(30);
    g.write_ndjson(10_000, start, span, &mut out);
    assert!(out.ends_with('\n'));
    let mut total = 0;
    let mut with_ids = 0;
    for line in out.lines() {
        total += line.len() + 1;
        let v: Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().expect("each line is an object");
        for key in ["timestamp", "service", "level", "message", "host"] {
            assert!(obj[key].is_string(), "{key} missing in {line}");
        }
        assert!(obj["attributes"].is_object());
        assert!(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(&obj["level"].as_str().unwrap()));
        let at = ts(&v);
        assert!(at >= start && at < start + span, "{at} outside window");
        if obj.contains_key("correlation_id") {
            with_ids += 1;
            for key in ["request_id", "trace_id", "span_id"] {
                assert!(obj[key].is_string());
            }
        }
    }
    assert_eq!(out.lines().count(), 10_000);
    let avg = total as f64 / 10_000.0;
    println!("average line: {avg:.1} bytes");
    assert!((150.0..400.0).contains(&avg), "average line {avg} bytes");
    assert!(with_ids > 6000 && with_ids < 9000, "{with_ids} logs with request context");
}

#[test]
fn attributes_carry_structured_fields() {
    let logs = lines(&mut seeded(21), 3000);
    let attr = |k: &str| logs.iter().filter(|l| !l["attributes"][k].is_null()).count();
    for key in ["user_id", "duration_ms", "order_id", "http", "cause", "sku", "amount"] {
        assert!(attr(key) > 0, "no log has attributes.{key}");
    }
    let access = logs.iter().find(|l| l["attributes"]["http"].is_object()).unwrap();
    let http = &access["attributes"]["http"];
    assert!(http["method"].is_string() && http["status"].is_u64());
    assert!(access["attributes"]["duration_ms"].is_u64());
    let host = logs[0]["host"].as_str().unwrap();
    assert!(host.matches('-').count() >= 2, "{host}");
    // Message values and attributes agree.
    for l in logs.iter().filter(|l| l["attributes"]["order_id"].is_string()).take(50) {
        let msg = l["message"].as_str().unwrap();
        let id = l["attributes"]["order_id"].as_str().unwrap();
        assert!(id.starts_with("ORD-"));
        if msg.contains("ORD-") {
            assert!(msg.contains(id), "{l}");
        }
    }
}

#[test]
fn custom_and_partial_service_lists_work() {
    let svcs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for services in [
        svcs(&["billing", "ledger", "web\"quoted"]),
        svcs(&["payment-service"]),
        svcs(&["auth-service", "user-service", "mailer"]),
        svcs(&[]),
    ] {
        let allowed: HashSet<String> = if services.is_empty() {
            DEFAULT_SERVICES.iter().map(|s| s.to_string()).collect()
        } else {
            services.iter().cloned().collect()
        };
        let mut g = Generator::new(GenConfig { services: services.clone(), seed: Some(2), error_rate: 0.05 });
        for l in lines(&mut g, 2000) {
            assert!(allowed.contains(l["service"].as_str().unwrap()), "{l}");
        }
        for _ in 0..200 {
            let f = g.flow(t0());
            assert!((2..=6).contains(&f.len()));
        }
    }
}

#[test]
fn zero_span_and_tiny_batches() {
    let mut g = seeded(4);
    for n in [0, 1, 2, 3, 7] {
        let mut out = String::new();
        g.write_ndjson(n, t0(), Duration::zero(), &mut out);
        assert_eq!(out.lines().count(), n);
        for l in out.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(ts(&v), t0());
        }
    }
    let b = g.batch(10, t0(), Duration::seconds(1));
    assert_eq!(b.len(), 10);
}

/// `n` logs per chunk over consecutive one-second windows from `t0()` (as the pacer cuts a run).
fn chunked(seed: u64, chunks: &[usize]) -> Vec<Value> {
    let mut g = seeded(seed);
    let mut out = String::new();
    let mut logs = Vec::new();
    for (i, &n) in chunks.iter().enumerate() {
        out.clear();
        let start = t0() + Duration::seconds(i as i64);
        g.write_ndjson(n, start, Duration::seconds(1), &mut out);
        assert_eq!(out.lines().count(), n);
        for l in out.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            let at = ts(&v);
            assert!(at >= start && at < start + Duration::seconds(1), "{at} outside chunk {i}");
            logs.push(v);
        }
    }
    logs
}

#[test]
fn seeded_sequence_does_not_depend_on_chunking() {
    // What `logflow generate --seed` promises: the chunks come from wall-clock pacing, so only
    // timestamps may depend on them.
    let a = chunked(1, &[100; 10]);
    let b = chunked(1, &[333, 333, 333, 1]);
    let c = chunked(1, &[1, 2, 3, 994]);
    assert_eq!(a.len(), 1000);
    let key = |v: &Value| {
        let k = ["service", "level", "message", "correlation_id", "attributes"].map(|f| v[f].clone());
        (k, v["host"].clone(), v["request_id"].clone(), v["span_id"].clone(), v["trace_id"].clone())
    };
    for (i, ((x, y), z)) in a.iter().zip(&b).zip(&c).enumerate() {
        assert_eq!(key(x), key(y), "line {i} differs:\n{x}\n{y}");
        assert_eq!(key(x), key(z), "line {i} differs:\n{x}\n{z}");
    }
    // Flows continue across chunk boundaries rather than being cut: every flow still ends with
    // the gateway's access log, and its timestamps never go backwards.
    let mut flows: HashMap<&str, Vec<&Value>> = HashMap::new();
    for l in &b {
        if let Some(id) = l["correlation_id"].as_str() {
            flows.entry(id).or_default().push(l);
        }
    }
    let last = b.iter().rev().find_map(|l| l["correlation_id"].as_str());
    for (id, flow) in &flows {
        for w in flow.windows(2) {
            assert!(ts(w[0]) <= ts(w[1]), "time went backwards in flow {id}: {w:?}");
        }
        if Some(*id) != last {
            assert!(flow.last().unwrap()["attributes"]["http"]["status"].is_u64(), "flow {id} was cut: {flow:?}");
        }
    }
}
