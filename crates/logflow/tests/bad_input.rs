//! Bad requests are refused with the documented status and a JSON error naming the problem, and
//! nothing of a refused request (or of a refused item) is stored.

mod common;

use chrono::Duration;
use common::*;
use serde_json::{json, Value};
use std::io::Write;

const MAX_BODY: usize = 4096;
const MAX_MESSAGE: usize = 1000;

fn start(dir: &std::path::Path) -> Server {
    Server::start(
        dir,
        &[
            ("LOGFLOW_INGEST_MAX_BODY_BYTES", &MAX_BODY.to_string()),
            ("LOGFLOW_INGEST_MAX_MESSAGE_BYTES", &MAX_MESSAGE.to_string()),
        ],
    )
}

/// Expect `status` and a JSON error containing every one of `needles`.
fn expect_error(r: &Resp, status: u16, needles: &[&str], label: &str) {
    assert_eq!(r.status, status, "{label}: {}", r.text);
    let e = r.error();
    for n in needles {
        assert!(e.contains(n), "{label}: error {e:?} should mention {n:?} (body {})", r.text);
    }
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "{label}: content-type {ct:?}");
}

/// A request whose every item is rejected: 400, `detail.errors` lists each index with a reason.
fn expect_all_rejected(r: &Resp, per_item: &[(usize, &str)], label: &str) {
    expect_error(r, 400, &[&format!("all {} items were rejected", per_item.len())], label);
    let errors =
        r.json["detail"]["errors"].as_array().unwrap_or_else(|| panic!("{label}: no detail.errors: {}", r.text));
    assert_eq!(errors.len(), per_item.len(), "{label}: {}", r.text);
    for (e, (index, needle)) in errors.iter().zip(per_item) {
        assert_eq!(e["index"], *index, "{label}: {}", r.text);
        let msg = e["error"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{label}: item {index}: {msg:?} should mention {needle:?}");
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn bad_bodies_are_refused_and_only_valid_items_are_stored() {
    let dir = tempdir();
    let server = start(dir.path());
    let base = server.url.as_str();
    let json_ct = [("content-type", "application/json")];
    let nd_ct = [("content-type", "application/x-ndjson")];
    let t = ts(now_secs() - Duration::minutes(1));

    // Whole-body problems.
    expect_error(&post_raw(base, b"{\"service\":".to_vec(), &json_ct), 400, &["not valid JSON"], "truncated object");
    expect_error(&post_raw(base, b"[1, 2".to_vec(), &json_ct), 400, &["not valid JSON"], "truncated array");
    expect_error(&post_raw(base, b"{service: 'a'}".to_vec(), &json_ct), 400, &["not valid JSON"], "not JSON");
    expect_error(&post_raw(base, Vec::new(), &json_ct), 400, &["empty"], "empty body");
    expect_error(&post_raw(base, b"  \n\t ".to_vec(), &nd_ct), 400, &["empty"], "blank NDJSON");
    expect_error(&post_raw(base, b"42".to_vec(), &json_ct), 400, &["object or an array", "a number"], "a number");
    expect_error(&post_raw(base, b"\"text\"".to_vec(), &json_ct), 400, &["a string"], "a string");
    let mut bad_utf8 = b"{\"service\":\"a\",\"message\":\"".to_vec();
    bad_utf8.extend([0xff, 0xfe, b'"', b'}']);
    expect_error(&post_raw(base, bad_utf8, &json_ct), 400, &["UTF-8", "offset 26"], "invalid UTF-8");

    // Unsupported content types.
    for ct in ["application/xml", "text/xml", "multipart/form-data; boundary=x"] {
        let r = post_raw(base, b"<log><service>a</service></log>".to_vec(), &[("content-type", ct)]);
        expect_error(&r, 415, &["not supported", "application/x-ndjson"], ct);
    }

    // Too large: raw, and gzip that only exceeds the limit once decompressed.
    let big = json!({"service":"a","message":"x".repeat(8 * 1024)}).to_string();
    assert!(big.len() > 2 * MAX_BODY);
    expect_error(&post_raw(base, big.clone().into_bytes(), &json_ct), 413, &["4096"], "8 KiB body");
    let zipped = gzip(big.as_bytes());
    assert!(zipped.len() < MAX_BODY, "the compressed body must be under the limit");
    let r = post_raw(base, zipped, &[("content-type", "application/json"), ("content-encoding", "gzip")]);
    expect_error(&r, 413, &["4096"], "gzip bomb");

    // Per-item problems in single-item bodies: every item rejected -> 400 with detail.
    let one = |item: Value, needle: &str, label: &str| {
        let r = post_json(base, &item);
        expect_all_rejected(&r, &[(0, needle)], label);
    };
    one(
        json!({"service":[1,2],"message":"m","timestamp":t}),
        "field 'service' must be a string, not an array",
        "service array",
    );
    one(
        json!({"service":"a","message":{"text":"m"},"timestamp":t}),
        "field 'message' must be a string, not an object",
        "message object",
    );
    one(
        json!({"service":"a","message":"m","timestamp":true}),
        "'timestamp' must be a string or a number",
        "timestamp bool",
    );
    one(
        json!({"service":"a","message":"m","attributes":[1,2]}),
        "'attributes' must be an object, not an array",
        "attributes array",
    );
    one(json!({"service":"a","message":"m","level":"loud"}), "unknown level 'loud'", "unknown level");
    one(json!({"service":"a","message":"m","level":9}), "unknown level '9'", "syslog 9");
    one(
        json!({"service":"a","message":"x".repeat(MAX_MESSAGE + 1)}),
        &format!("above the limit of {MAX_MESSAGE} bytes"),
        "huge message",
    );
    one(json!({"message":"m"}), "missing required field 'service'", "no service");
    one(json!({"service":"a"}), "missing required field 'message'", "no message");
    one(json!({"service":"  ","message":"m"}), "must not be empty", "blank service");
    one(json!({"service":"a","message":"m","timestamp":"yesterday"}), "not RFC 3339", "bad timestamp");
    one(json!({"service":"a","message":"m","timestamp":"2035-01-01T00:00:00Z"}), "in the future", "future");
    one(json!({"service":"a","message":"m","timestamp":"2001-01-01T00:00:00Z"}), "retention", "ancient");
    one(json!({"service":"a","message":"m","id":"has space"}), "field 'id'", "bad id");
    let r = post_json(base, &json!([7, {"message":"m"}, null]));
    expect_all_rejected(
        &r,
        &[(0, "must be a JSON object"), (1, "'service'"), (2, "must be a JSON object")],
        "array of junk",
    );

    // Mixed batches: 207, the bad indexes listed, the good ones stored.
    let r = post_json(
        base,
        &json!([
            {"id":"ok-0","service":"mixed","message":"valid zero","timestamp":t},
            7,
            {"id":"bad-2","service":"mixed"},
            {"id":"ok-3","service":"mixed","message":"valid three","timestamp":t,"level":"warn"},
            {"id":"bad-4","service":"mixed","message":"m","level":"loud"},
            {"id":"bad-5","service":"mixed","message":"x".repeat(MAX_MESSAGE + 1)},
            {"id":"ok-6","service":"mixed","message":"valid six","timestamp":t,"attributes":{"k":"v"}},
        ]),
    );
    assert_eq!(r.status, 207, "{}", r.text);
    assert_eq!((r.json["accepted"].as_u64(), r.json["rejected"].as_u64()), (Some(3), Some(4)), "{}", r.text);
    assert_eq!(ids_in(&r.json["ids"]), ["ok-0", "ok-3", "ok-6"]);
    let idx: Vec<u64> = r.json["errors"].as_array().unwrap().iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(idx, [1, 2, 4, 5], "{}", r.text);
    assert!(r.json["errors"][2]["error"].as_str().unwrap().contains("unknown level 'loud'"), "{}", r.text);

    let nd = format!(
        "{}\n{{not json}}\n{}\n\n{}\n",
        json!({"id":"nd-ok-0","service":"mixed","message":"nd valid","timestamp":t}),
        json!({"id":"nd-bad-2","service":"mixed","message":"m","timestamp":false}),
        json!({"id":"nd-ok-3","service":"mixed","message":"nd valid too","timestamp":t}),
    );
    let r = post_raw(base, nd.into_bytes(), &nd_ct);
    assert_eq!(r.status, 207, "{}", r.text);
    assert_eq!(ids_in(&r.json["ids"]), ["nd-ok-0", "nd-ok-3"]);
    let errs = r.json["errors"].as_array().unwrap();
    assert_eq!(errs.iter().map(|e| e["index"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2], "{}", r.text);
    assert!(errs[0]["error"].as_str().unwrap().starts_with("malformed JSON"), "{}", r.text);

    // Exactly the valid items of the mixed batches are stored; nothing else.
    let want = ["nd-ok-3", "nd-ok-0", "ok-6", "ok-3", "ok-0"];
    wait_total(base, "", want.len() as u64);
    wait_indexed(base);
    std::thread::sleep(std::time::Duration::from_millis(3 * COMMIT_MS.parse::<u64>().unwrap()));
    let mut got = search_ids(base, "");
    got.sort();
    let mut want_sorted = want.to_vec();
    want_sorted.sort();
    assert_eq!(got, want_sorted, "stored logs");
    let r = get(base, "/api/v1/logs/ok-3");
    assert_eq!(r.json["log"]["level"], "WARNING");
    assert_eq!(r.json["log"]["message"], "valid three");
}

#[test]
fn bad_search_parameters_are_400_with_a_reason() {
    let dir = tempdir();
    let server = start(dir.path());
    let base = server.url.as_str();
    ingest_ok(base, &json!({"service":"s","message":"m"}));

    // Query syntax errors carry the 0-based position, in the message and in `detail`.
    for (q, needle, pos) in [
        ("(a", "unclosed '('", 0),
        ("a AND", "'AND' must be followed by a term", 2),
        ("service:auth )", "unmatched ')'", 13),
        ("level:*", "wildcards are not supported on level", 6),
        ("x:[1 TO 2", "unclosed range", 2),
        ("@timestamp:1", "cannot filter on timestamp", 0),
    ] {
        let r = search(base, &enc(&[("query", q)]));
        expect_error(&r, 400, &["invalid query", needle, &format!("at position {pos}")], q);
        assert_eq!(r.json["detail"]["position"], pos, "query {q:?}: {}", r.text);
        assert_eq!(r.json["detail"]["query"], q, "query {q:?}: {}", r.text);
    }
    for q in ["timestamp:2025", "message:>5", "\"unclosed phrase", "a OR OR b", "field:", "level:loud"] {
        let r = search(base, &enc(&[("query", q)]));
        assert_eq!(r.status, 400, "query {q:?}: {}", r.text);
        assert!(r.error().starts_with("invalid query"), "query {q:?}: {}", r.text);
    }
    let long = "a ".repeat(3000);
    let r = search(base, &enc(&[("query", &long)]));
    expect_error(&r, 400, &["too long"], "long query");

    for (qs, needles) in [
        ("limit=0", &["limit must be between 1 and 10000"][..]),
        ("limit=10001", &["limit must be between 1 and 10000"]),
        ("limit=ten", &["limit must be a whole number", "ten"]),
        ("limit=-1", &["whole number"]),
        ("since=5x", &["not a duration"]),
        ("since=0m", &["must be positive"]),
        ("since=1.5h", &["not a duration"]),
        ("level=loud", &["unknown level 'loud'"]),
        ("level=error,verbose,nope", &["unknown level 'nope'"]),
        ("start_time=2025-10-24T10:00:00Z&end_time=2025-10-24T09:00:00Z", &["must be before"]),
        ("start_time=2025-10-24T10:00:00Z&end_time=2025-10-24T10:00:00Z", &["must be before"]),
        ("start_time=yesterday", &["RFC 3339", "yesterday"]),
        ("end_time=2025-13-01T00:00:00Z", &["RFC 3339"]),
        ("start_time=2025-10-24T10:00:00Z&since=1h", &["either start_time or since"]),
        ("cursor=zzz", &["invalid cursor"]),
    ] {
        expect_error(&search(base, qs), 400, needles, qs);
    }
    for qs in ["limit=0", "level=loud", "limit=x"] {
        expect_error(&get(base, &format!("/api/v1/logs/recent?{qs}")), 400, &[], &format!("recent?{qs}"));
    }
}

/// Every error must carry the documented body `{"error": "..."}`, whatever layer produced it.
fn expect_json_error(r: &Resp, status: u16, label: &str) {
    assert_eq!(r.status, status, "{label}: {}", r.text);
    assert!(
        r.json["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{label} answered {} with a non-JSON error body {:?} (content-type {:?}); every error must be {{\"error\": ...}}",
        r.status,
        r.text,
        r.header("content-type")
    );
}

#[test]
fn unknown_routes_answer_json_404() {
    let dir = tempdir();
    let server = start(dir.path());
    let base = server.url.as_str();
    for path in ["/api/v1/nope", "/nope/deeper", "/api/v2/logs", "/api/v1/logs/a/b", "/api/v1/logs/search/x"] {
        let r = get(base, path);
        expect_error(&r, 404, &["no route", path], path);
    }
    let r = Resp::from(client().post(format!("{base}/nope")).body("{}").send().unwrap());
    expect_error(&r, 404, &["no route"], "POST /nope");
}

#[test]
fn unsupported_method_answers_json_405() {
    let dir = tempdir();
    let server = start(dir.path());
    let base = server.url.as_str();
    for (method, path) in
        [("GET", "/api/v1/logs"), ("DELETE", "/api/v1/logs"), ("PUT", "/api/v1/logs/search"), ("POST", "/health")]
    {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = Resp::from(client().request(m, format!("{base}{path}")).body("{}").send().unwrap());
        expect_json_error(&r, 405, &format!("{method} {path}"));
    }
}

#[test]
fn unsupported_content_encoding_answers_json_415() {
    let dir = tempdir();
    let server = start(dir.path());
    let body = br#"{"service":"a","message":"m"}"#.to_vec();
    let r = post_raw(&server.url, body, &[("content-type", "application/json"), ("content-encoding", "br")]);
    expect_json_error(&r, 415, "Content-Encoding: br");
    // A body that claims gzip but is not: a JSON 400 (this one already works).
    let r = post_raw(
        &server.url,
        b"not gzip".to_vec(),
        &[("content-type", "application/json"), ("content-encoding", "gzip")],
    );
    expect_error(&r, 400, &["gzip"], "bad gzip");
    assert_eq!(search_total(&server.url, ""), 0);
}

#[test]
fn undecodable_log_id_answers_json_400() {
    let dir = tempdir();
    let server = start(dir.path());
    // %FF is not UTF-8: the id cannot be decoded.
    let r = get(&server.url, "/api/v1/logs/%FF");
    expect_json_error(&r, 400, "GET /api/v1/logs/%FF");
}

#[test]
fn backpressure_is_503_with_retry_after() {
    let dir = tempdir();
    // Pending limit of one byte and no commit for a minute: the second batch must be refused.
    let server = Server::start(
        dir.path(),
        &[("LOGFLOW_INGEST_MAX_PENDING_BYTES", "1"), ("LOGFLOW_INGEST_COMMIT_INTERVAL_MS", "60000")],
    );
    let base = server.url.as_str();
    // The indexer's first tick fires at start-up; let it pass so that the next one is 60 s away.
    std::thread::sleep(std::time::Duration::from_millis(300));
    ingest_ok(base, &json!({"id":"first","service":"s","message":"admitted"}));
    let r = post_json(base, &json!({"id":"second","service":"s","message":"refused"}));
    expect_error(&r, 503, &["slow down"], "backpressure");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"), "Retry-After header");
    let h = get(base, "/health");
    assert_eq!(h.json["services"]["queue"], "degraded", "{}", h.text);
    assert_eq!(h.json["status"], "degraded", "{}", h.text);
}
