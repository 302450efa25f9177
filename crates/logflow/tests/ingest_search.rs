//! Ingest a known data set over HTTP and check the exact ids every filter and every construct of
//! the query language returns; recent, get by id, body formats and level normalisation.

mod common;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use common::*;
use serde_json::{json, Value};
use std::io::Write;

/// Timestamp of the fixture record at `minutes` after `t0`.
fn at(t0: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
    t0 + Duration::minutes(minutes)
}

/// The fixture: 16 logs, 10 minutes apart, from `t0` (six hours ago) on. Ids sort by time in the
/// list below; `ALL` is newest first.
fn fixture(t0: DateTime<Utc>) -> Vec<Value> {
    let t = |m| ts(at(t0, m));
    let plus2 = FixedOffset::east_opt(2 * 3600).unwrap();
    vec![
        json!({"id":"a01","timestamp":t(0),"service":"auth","level":"debug","message":"user login started",
               "correlation_id":"corr-1",
               "attributes":{"user_id":42,"http":{"status":200,"method":"GET"},"latency_ms":120,"cache_hit":true}}),
        json!({"id":"a02","timestamp":t(10),"service":"auth","level":"INFO","message":"user login succeeded",
               "correlation_id":"corr-1","user_id":42,"latency_ms":80}),
        json!({"id":"a03","timestamp":t(20),"service":"auth","level":"WARN","message":"password retry limit near",
               "attributes":{"user_id":7,"latency_ms":650}}),
        json!({"id":"a04","timestamp":t(30),"service":"auth","level":"error",
               "message":"login failed: connection refused by ldap","correlation_id":"corr-2",
               "attributes":{"http":{"status":500},"latency_ms":1200}}),
        json!({"id":"p01","timestamp":t(40),"service":"payment","level":"info","message":"payment accepted for order",
               "correlation_id":"corr-2","attributes":{"order_id":"ord-1","amount":19.99,"http":{"status":201}}}),
        json!({"id":"p02","timestamp":t(50),"service":"payment","level":"warning",
               "message":"payment timeout while calling bank","latency_ms":5000,"http":{"status":504}}),
        json!({"id":"p03","timestamp":t(60),"service":"payment","level":"ERROR",
               "message":"payment declined: insufficient funds","user_id":42,"http":{"status":402}}),
        json!({"id":"p04","timestamp":t(70),"service":"payment","level":"fatal","message":"payment ledger corrupted",
               "attributes":{"retry":false}}),
        // Epoch milliseconds, syslog level number.
        json!({"id":"b01","timestamp":at(t0, 80).timestamp_millis(),"service":"billing","level":3,
               "message":"invoice generation failed with timeout","latency_ms":501}),
        // An offset timestamp, `severity` instead of `level`.
        json!({"id":"b02","timestamp":at(t0, 90).with_timezone(&plus2).to_rfc3339(),"service":"billing",
               "severity":"notice","message":"invoice sent to customer","x":"present"}),
        // `@timestamp` and `msg` aliases.
        json!({"id":"b03","@timestamp":t(100),"service":"billing","level":"critical",
               "msg":"billing database connection refused"}),
        json!({"id":"s01","timestamp":t(110),"service":"search-api","level":"trace","message":"query parsed in 3 ms",
               "latency_ms":3}),
        json!({"id":"s02","timestamp":t(120),"service":"search-api","level":"info","message":"payments dashboard loaded",
               "attributes":{"user_id":"42"}}),
        json!({"id":"s03","timestamp":t(130),"service":"search-api","level":"warn","message":"slow query detected",
               "latency_ms":500}),
        json!({"id":"g01","timestamp":t(140),"service":"gateway","level":"info","message":"request forwarded to payment",
               "host":"gw-1","http":{"status":200}}),
        json!({"id":"g02","timestamp":t(150),"service":"gateway","level":"error","message":"upstream timeout",
               "host":"gw-2","trace_id":"tr-9","http":{"status":500}}),
    ]
}

const ALL: [&str; 16] =
    ["g02", "g01", "s03", "s02", "s01", "b03", "b02", "b01", "p04", "p03", "p02", "p01", "a04", "a03", "a02", "a01"];

/// Collects mismatches so one run reports every failing case, not only the first.
#[derive(Default)]
struct Checks {
    failures: Vec<String>,
}

impl Checks {
    /// First page (limit 100) of `qs` must hold exactly `want`, in order, with `total` equal to
    /// its length and a numeric `took_ms`.
    fn ids(&mut self, base: &str, label: &str, qs: &str, want: &[&str]) {
        let r = search(base, &format!("{qs}&limit=100"));
        if r.status != 200 {
            self.failures.push(format!("{label} [{qs}]: HTTP {} {}", r.status, r.text));
            return;
        }
        let got: Vec<String> = r.json["logs"]
            .as_array()
            .map(|a| a.iter().map(|l| l["id"].as_str().unwrap_or("?").to_string()).collect())
            .unwrap_or_default();
        if got != want {
            self.failures.push(format!("{label} [{qs}]: got {got:?}, want {want:?}"));
        }
        if r.json["total"].as_u64() != Some(want.len() as u64) {
            self.failures.push(format!("{label} [{qs}]: total {} != {}", r.json["total"], want.len()));
        }
        if r.json["count"].as_u64() != Some(got.len() as u64) {
            self.failures.push(format!("{label} [{qs}]: count {} != {}", r.json["count"], got.len()));
        }
        if !r.json["took_ms"].as_f64().is_some_and(|t| t >= 0.0) {
            self.failures.push(format!("{label} [{qs}]: took_ms missing: {}", r.text));
        }
        if !r.json["next_cursor"].is_null() {
            self.failures.push(format!("{label} [{qs}]: next_cursor on a partial page: {}", r.json["next_cursor"]));
        }
    }

    fn query(&mut self, base: &str, q: &str, want: &[&str]) {
        self.ids(base, &format!("query `{q}`"), &enc(&[("query", q)]), want);
    }

    fn eq(&mut self, label: &str, got: &Value, want: &Value) {
        if got != want {
            self.failures.push(format!("{label}: got {got}, want {want}"));
        }
    }

    fn finish(self, server: &Server) {
        if !self.failures.is_empty() {
            panic!(
                "{} check(s) failed:\n  {}\n--- server stderr (tail) ---\n{}",
                self.failures.len(),
                self.failures.join("\n  "),
                tail(&server.stderr(), 40)
            );
        }
    }
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

fn start_with_fixture(dir: &std::path::Path) -> (Server, DateTime<Utc>) {
    let server = Server::start(dir, &[]);
    let t0 = now_secs() - Duration::hours(6);
    let body = Value::Array(fixture(t0));
    let r = post_json(&server.url, &body);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["accepted"], 16, "{}", r.text);
    assert_eq!(r.json["rejected"], 0, "{}", r.text);
    assert_eq!(r.json["errors"], json!([]), "{}", r.text);
    assert!(r.json["took_ms"].as_f64().is_some(), "{}", r.text);
    let mut in_order: Vec<&str> = ALL.to_vec();
    in_order.reverse();
    assert_eq!(ids_in(&r.json["ids"]), in_order, "ids are returned in request order");
    wait_total(&server.url, "", 16);
    (server, t0)
}

#[test]
fn filters_return_exact_ids() {
    let dir = tempdir();
    let (server, t0) = start_with_fixture(dir.path());
    let base = server.url.as_str();
    let mut c = Checks::default();
    let t = |m| ts(at(t0, m));
    let minus5 = FixedOffset::west_opt(5 * 3600).unwrap();
    let plus2 = FixedOffset::east_opt(2 * 3600).unwrap();

    c.ids(base, "no filter", "", &ALL);
    c.ids(base, "service", "service=auth", &["a04", "a03", "a02", "a01"]);
    c.ids(base, "services, comma", "service=auth,billing", &["b03", "b02", "b01", "a04", "a03", "a02", "a01"]);
    c.ids(base, "services, repeated", "service=auth&service=gateway", &["g02", "g01", "a04", "a03", "a02", "a01"]);
    c.ids(base, "service is exact", "service=Auth", &[]);
    c.ids(base, "unknown service", "service=nope", &[]);
    c.ids(base, "level", "level=ERROR", &["g02", "b01", "p03", "a04"]);
    c.ids(base, "level alias warn", "level=warn", &["s03", "p02", "a03"]);
    c.ids(base, "level alias fatal", "level=fatal", &["b03", "p04"]);
    c.ids(base, "level syslog 7", "level=7", &["s01", "a01"]);
    c.ids(base, "levels, repeated", "level=WARNING&level=critical", &["s03", "b03", "p04", "p02", "a03"]);
    c.ids(base, "levels, comma", "level=debug,info", &["g01", "s02", "s01", "b02", "p01", "a02", "a01"]);
    c.ids(base, "service and levels", "service=payment&level=error,critical", &["p04", "p03"]);
    c.ids(
        base,
        "start/end",
        &enc(&[("start_time", &t(30)), ("end_time", &t(60))]),
        &["p02", "p01", "a04"], // start inclusive, end exclusive
    );
    c.ids(
        base,
        "start/end with offsets",
        &enc(&[
            ("start_time", &at(t0, 30).with_timezone(&plus2).to_rfc3339()),
            ("end_time", &at(t0, 60).with_timezone(&minus5).to_rfc3339()),
        ]),
        &["p02", "p01", "a04"],
    );
    c.ids(base, "start only", &enc(&[("start_time", &t(145))]), &["g02"]);
    c.ids(base, "end only", &enc(&[("end_time", &t(10))]), &["a01"]);
    // The fixture spans 6 h .. 3.5 h ago: 245 minutes back starts 5 minutes before s02.
    c.ids(base, "since", "since=245m", &["g02", "g01", "s03", "s02"]);
    c.ids(base, "since, nothing recent", "since=1h", &[]);
    c.ids(base, "since before end_time", &enc(&[("since", "30m"), ("end_time", &t(60))]), &["p02", "p01", "a04"]);
    c.ids(base, "query and services", &enc(&[("query", "timeout"), ("service", "payment,gateway")]), &["g02", "p02"]);
    c.ids(base, "query and level", &enc(&[("query", "timeout"), ("level", "error")]), &["g02", "b01"]);
    c.ids(
        base,
        "query and time",
        &enc(&[("query", "user_id:42"), ("start_time", &t(5)), ("end_time", &t(125))]),
        &["s02", "p03", "a02"],
    );
    c.ids(base, "q alias", &enc(&[("q", "ledger")]), &["p04"]);
    c.finish(&server);
}

#[test]
fn query_language_over_http() {
    let dir = tempdir();
    let (server, _t0) = start_with_fixture(dir.path());
    let base = server.url.as_str();
    let mut c = Checks::default();
    let cases: &[(&str, &[&str])] = &[
        // words and phrases
        ("timeout", &["g02", "b01", "p02"]),
        ("LOGIN", &["a04", "a02", "a01"]),
        ("\"connection refused\"", &["b03", "a04"]),
        ("\"refused connection\"", &[]),
        ("message:\"login failed\"", &["a04"]),
        ("msg:ledger", &["p04"]),
        ("nonexistentword", &[]),
        // boolean operators
        ("payment timeout", &["p02"]),
        ("payment AND timeout", &["p02"]),
        ("timeout && upstream", &["g02"]),
        ("+timeout +upstream", &["g02"]),
        ("payment OR invoice", &["g01", "b02", "b01", "p04", "p03", "p02", "p01"]),
        ("timeout || refused", &["g02", "b03", "b01", "p02", "a04"]),
        ("ledger OR invoice sent", &["b02", "p04"]),
        ("(payment OR invoice) AND failed", &["b01"]),
        ("timeout -payment", &["g02", "b01"]),
        ("timeout NOT service:billing", &["g02", "p02"]),
        ("!timeout service:gateway", &["g01"]),
        (
            "-level:debug",
            &["g02", "g01", "s03", "s02", "b03", "b02", "b01", "p04", "p03", "p02", "p01", "a04", "a03", "a02"],
        ),
        // keyword fields
        ("service:auth level:error", &["a04"]),
        ("service:(auth OR billing) -level:debug", &["b03", "b02", "b01", "a04", "a03", "a02"]),
        ("SERVICE:payment", &["p04", "p03", "p02", "p01"]),
        ("service:Payment", &[]),
        ("level:warn", &["s03", "p02", "a03"]),
        ("level:3", &["g02", "b01", "p03", "a04"]),
        ("level:>=warning", &["g02", "s03", "b03", "b01", "p04", "p03", "p02", "a04", "a03"]),
        ("host:gw-1", &["g01"]),
        ("correlation_id:corr-2", &["p01", "a04"]),
        ("correlation_id:corr-1", &["a02", "a01"]),
        ("id:p03", &["p03"]),
        ("trace_id:tr-9", &["g02"]),
        // wildcards and existence
        ("pay*", &["g01", "s02", "p04", "p03", "p02", "p01"]),
        ("service:search-*", &["s03", "s02", "s01"]),
        ("service:pay?ent", &["p04", "p03", "p02", "p01"]),
        ("trace_id:*", &["g02"]),
        ("host:*", &["g02", "g01"]),
        ("attributes.x:*", &["b02"]),
        ("attributes.http:*", &["g02", "g01", "p03", "p02", "p01", "a04", "a01"]),
        ("attributes.order_id:ord-*", &["p01"]),
        ("*", &ALL),
        ("", &ALL),
        // attributes
        ("attributes.user_id:42", &["s02", "p03", "a02", "a01"]),
        ("user_id:42", &["s02", "p03", "a02", "a01"]),
        ("user_id:7", &["a03"]),
        ("user_id:42 -service:search-api", &["p03", "a02", "a01"]),
        ("attributes.latency_ms:>500", &["b01", "p02", "a04", "a03"]),
        ("attributes.latency_ms:>=500", &["s03", "b01", "p02", "a04", "a03"]),
        ("attributes.latency_ms:<100", &["s01", "a02"]),
        ("attributes.latency_ms:[100 TO 600]", &["s03", "b01", "a01"]),
        ("latency_ms:{500 TO 5000}", &["b01", "a04", "a03"]),
        ("attributes.http.status:500", &["g02", "a04"]),
        ("http.status:[500 TO 599]", &["g02", "p02", "a04"]),
        ("attributes.http.method:GET", &["a01"]),
        ("attributes.cache_hit:true", &["a01"]),
        ("retry:false", &["p04"]),
        ("attributes.amount:19.99", &["p01"]),
        ("attributes.amount:>19", &["p01"]),
        ("order_id:ord-1", &["p01"]),
    ];
    for (q, want) in cases {
        c.query(base, q, want);
    }
    c.finish(&server);
}

#[test]
fn stored_records_recent_and_get_by_id() {
    let dir = tempdir();
    let (server, t0) = start_with_fixture(dir.path());
    let base = server.url.as_str();
    let mut c = Checks::default();
    let t = |m| json!(ts(at(t0, m)));

    // Exact stored form: normalised level, UTC microsecond timestamps, unknown fields in attributes.
    let want: Vec<(&str, Value)> = vec![
        (
            "a01",
            json!({"id":"a01","timestamp":t(0),"service":"auth","level":"DEBUG","message":"user login started",
                   "correlation_id":"corr-1",
                   "attributes":{"user_id":42,"http":{"status":200,"method":"GET"},"latency_ms":120,"cache_hit":true}}),
        ),
        (
            "a02",
            json!({"id":"a02","timestamp":t(10),"service":"auth","level":"INFO","message":"user login succeeded",
                   "correlation_id":"corr-1","attributes":{"user_id":42,"latency_ms":80}}),
        ),
        (
            "a03",
            json!({"id":"a03","timestamp":t(20),"service":"auth","level":"WARNING","message":"password retry limit near",
                   "attributes":{"user_id":7,"latency_ms":650}}),
        ),
        (
            "p04",
            json!({"id":"p04","timestamp":t(70),"service":"payment","level":"CRITICAL","message":"payment ledger corrupted",
                   "attributes":{"retry":false}}),
        ),
        (
            "b01",
            json!({"id":"b01","timestamp":t(80),"service":"billing","level":"ERROR",
                   "message":"invoice generation failed with timeout","attributes":{"latency_ms":501}}),
        ),
        (
            "b02",
            json!({"id":"b02","timestamp":t(90),"service":"billing","level":"INFO","message":"invoice sent to customer",
                   "attributes":{"x":"present"}}),
        ),
        (
            "b03",
            json!({"id":"b03","timestamp":t(100),"service":"billing","level":"CRITICAL",
                   "message":"billing database connection refused"}),
        ),
        (
            "s01",
            json!({"id":"s01","timestamp":t(110),"service":"search-api","level":"DEBUG","message":"query parsed in 3 ms",
                   "attributes":{"latency_ms":3}}),
        ),
        (
            "g02",
            json!({"id":"g02","timestamp":t(150),"service":"gateway","level":"ERROR","message":"upstream timeout",
                   "host":"gw-2","trace_id":"tr-9","attributes":{"http":{"status":500}}}),
        ),
    ];
    let all = search_all(base, "");
    for (id, want) in &want {
        let r = get(base, &format!("/api/v1/logs/{id}"));
        if r.status != 200 {
            c.failures.push(format!("GET {id}: HTTP {} {}", r.status, r.text));
            continue;
        }
        c.eq(&format!("GET {id} log"), &r.json["log"], want);
        if r.json["took_ms"].as_f64().is_none() {
            c.failures.push(format!("GET {id}: no took_ms: {}", r.text));
        }
        let in_search = all.iter().find(|l| l["id"] == *id).cloned().unwrap_or(Value::Null);
        c.eq(&format!("search hit {id}"), &in_search, want);
    }
    let r = get(base, "/api/v1/logs/does-not-exist");
    c.eq("unknown id status", &json!(r.status), &json!(404));
    if !r.json["error"].as_str().is_some_and(|e| e.contains("does-not-exist")) {
        c.failures.push(format!("unknown id error should name the id: {}", r.text));
    }

    // recent
    let recent = |qs: &str| {
        let r = get(base, &format!("/api/v1/logs/recent?{qs}"));
        assert_eq!(r.status, 200, "recent?{qs}: {}", r.text);
        (ids_in(&Value::Array(r.json["logs"].as_array().unwrap().iter().map(|l| l["id"].clone()).collect())), r.json)
    };
    let (ids, body) = recent("limit=3");
    c.eq("recent limit=3", &json!(ids), &json!(["g02", "g01", "s03"]));
    c.eq("recent limit=3 count", &body["count"], &json!(3));
    c.eq("recent limit=3 total", &body["total"], &json!(16));
    if body["next_cursor"].as_str().is_none() {
        c.failures.push(format!("recent limit=3 should have a next_cursor: {body}"));
    }
    let (ids, _) = recent("service=auth&limit=2");
    c.eq("recent service=auth limit=2", &json!(ids), &json!(["a04", "a03"]));
    let (ids, _) = recent("level=error,critical");
    c.eq("recent level=error,critical", &json!(ids), &json!(["g02", "b03", "b01", "p04", "p03", "a04"]));
    let (ids, _) = recent("");
    c.eq("recent, default limit", &json!(ids), &json!(ALL));

    // Paging through the fixture: pages of 5 (last partial) and of 4 (exact multiple).
    for limit in [5usize, 4, 16, 1] {
        let first = search(base, &format!("limit={limit}"));
        c.eq(&format!("limit={limit} count"), &first.json["count"], &json!(limit));
        c.eq(&format!("limit={limit} total"), &first.json["total"], &json!(16));
        let paged = search_ids(base, &format!("limit={limit}"));
        c.eq(&format!("paged with limit={limit}"), &json!(paged), &json!(ALL));
    }
    c.finish(&server);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn body_formats_and_normalisation() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = server.url.as_str();
    let now = now_secs() - Duration::minutes(5);
    let t = ts(now);
    let mut expected: Vec<String> = Vec::new();

    // NDJSON with blank lines and CRLF.
    let nd = format!(
        "{}\n\n{}\r\n{}\n",
        json!({"id":"nd-1","service":"svc","message":"first line","timestamp":t}),
        json!({"id":"nd-2","service":"svc","message":"second line","timestamp":t,"level":"WARN"}),
        json!({"id":"nd-3","service":"svc","message":"third line","timestamp":t,"level":"fatal"}),
    );
    let r = post_raw(base, nd.into_bytes(), &[("content-type", "application/x-ndjson")]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.json["accepted"].as_u64(), r.json["rejected"].as_u64()), (Some(3), Some(0)), "{}", r.text);
    assert_eq!(r.json["errors"], json!([]));
    assert!(r.json["took_ms"].as_f64().is_some_and(|x| x >= 0.0), "{}", r.text);
    assert_eq!(ids_in(&r.json["ids"]), ["nd-1", "nd-2", "nd-3"]);
    expected.extend(["nd-1", "nd-2", "nd-3"].map(String::from));

    // A single object; charset parameter on the content type.
    let one = json!({"id":"one-1","service":"svc","message":"single object","timestamp":t,"level":3});
    let r = post_raw(base, one.to_string().into_bytes(), &[("content-type", "application/json; charset=utf-8")]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids_in(&r.json["ids"]), ["one-1"]);
    expected.push("one-1".into());

    // No id: the server assigns a ULID. No level: INFO. No timestamp: time of receipt.
    let before = Utc::now() - Duration::seconds(1);
    let r = post_json(base, &json!({"service":"svc","message":"server assigned id"}));
    let after = Utc::now() + Duration::seconds(1);
    assert_eq!(r.status, 200, "{}", r.text);
    let ulid = ids_in(&r.json["ids"]).remove(0);
    assert_eq!(ulid.len(), 26, "a ULID: {ulid}");
    assert!(ulid.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()), "{ulid}");
    expected.push(ulid.clone());

    // gzip: a JSON array, and NDJSON.
    let arr = json!([
        {"id":"gz-1","service":"svc","message":"gzipped one","timestamp":t,"level":"Information"},
        {"id":"gz-2","service":"svc","message":"gzipped two","timestamp":t,"severity":"err"},
    ]);
    let r = post_raw(
        base,
        gzip(arr.to_string().as_bytes()),
        &[("content-type", "application/json"), ("content-encoding", "gzip")],
    );
    assert_eq!(r.status, 200, "gzip JSON: {}", r.text);
    assert_eq!(ids_in(&r.json["ids"]), ["gz-1", "gz-2"]);
    let nd = format!(
        "{}\n{}\n",
        json!({"id":"gz-3","service":"svc","message":"gz nd","timestamp":t,"level":"7"}),
        json!({"id":"gz-4","service":"svc","message":"gz nd","timestamp":t,"level":"notice"}),
    );
    let r =
        post_raw(base, gzip(nd.as_bytes()), &[("content-type", "application/x-ndjson"), ("content-encoding", "gzip")]);
    assert_eq!(r.status, 200, "gzip NDJSON: {}", r.text);
    assert_eq!(ids_in(&r.json["ids"]), ["gz-3", "gz-4"]);
    expected.extend(["gz-1", "gz-2", "gz-3", "gz-4"].map(String::from));

    // NDJSON sent as application/json, and as text/plain.
    let nd = format!(
        "{}\n{}\n",
        json!({"id":"nj-1","service":"svc","message":"ndjson as json","timestamp":t}),
        json!({"id":"nj-2","service":"svc","message":"ndjson as json","timestamp":t}),
    );
    let r = post_raw(base, nd.clone().into_bytes(), &[("content-type", "application/json")]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids_in(&r.json["ids"]), ["nj-1", "nj-2"]);
    let r = post_raw(base, nd.replace("nj-", "tp-").into_bytes(), &[("content-type", "text/plain")]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids_in(&r.json["ids"]), ["tp-1", "tp-2"]);
    expected.extend(["nj-1", "nj-2", "tp-1", "tp-2"].map(String::from));

    // Unknown top-level fields become attributes (explicit attributes win a clash); host
    // given as a number is kept as text; epoch timestamps in seconds and nanoseconds.
    let r = post_json(
        base,
        &json!([
            {"id":"uk-1","service":"svc","message":"unknown fields","timestamp":t,
             "customer":{"tier":"gold","seats":12},"region":"eu-1","k":2,"attributes":{"k":1},"host":12},
            {"id":"ep-s","service":"svc","message":"epoch seconds","timestamp":now.timestamp()},
            {"id":"ep-n","service":"svc","message":"epoch nanos",
             "timestamp":now.timestamp_nanos_opt().unwrap() + 123_456_789},
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    expected.extend(["uk-1", "ep-s", "ep-n"].map(String::from));

    wait_total(base, "", expected.len() as u64);
    let mut got = search_ids(base, "");
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "exactly the accepted logs are stored");

    let log = |id: &str| {
        let r = get(base, &format!("/api/v1/logs/{id}"));
        assert_eq!(r.status, 200, "GET {id}: {}", r.text);
        r.json["log"].clone()
    };
    for (id, level) in [
        ("nd-1", "INFO"),
        ("nd-2", "WARNING"),
        ("nd-3", "CRITICAL"),
        ("one-1", "ERROR"),
        ("gz-1", "INFO"),
        ("gz-2", "ERROR"),
        ("gz-3", "DEBUG"),
        ("gz-4", "INFO"),
        (ulid.as_str(), "INFO"),
    ] {
        assert_eq!(log(id)["level"], level, "level of {id}");
    }
    let auto = log(&ulid);
    let auto_ts: DateTime<Utc> = auto["timestamp"].as_str().unwrap().parse().unwrap();
    assert!(auto_ts >= before && auto_ts <= after, "default timestamp {auto_ts} not the time of receipt");
    assert_eq!(log("gz-2")["message"], "gzipped two");
    assert_eq!(
        log("uk-1"),
        json!({"id":"uk-1","timestamp":t,"service":"svc","level":"INFO","message":"unknown fields","host":"12",
               "attributes":{"k":1,"customer":{"tier":"gold","seats":12},"region":"eu-1"}})
    );
    assert_eq!(log("ep-s")["timestamp"], json!(ts(now)));
    assert_eq!(log("ep-n")["timestamp"], json!(ts(now + Duration::microseconds(123_456))));

    // Unknown fields are searchable as attributes, in both spellings.
    for q in ["customer.tier:gold", "attributes.customer.tier:gold", "region:eu-1", "customer.seats:>10", "k:1"] {
        assert_eq!(search_ids(base, &enc(&[("query", q)])), ["uk-1"], "query {q}");
    }
    assert_eq!(search_ids(base, &enc(&[("query", "k:2")])), Vec::<String>::new());
    assert_eq!(search_ids(base, &enc(&[("query", "level:critical")])), ["nd-3"]);
}

#[test]
fn health_docs_and_openapi() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = server.url.as_str();
    let r = get(base, "/health");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "healthy", "{}", r.text);
    assert_eq!(
        r.json["services"],
        json!({"storage":"healthy","queue":"healthy","database":"healthy","cache":"healthy"}),
        "{}",
        r.text
    );
    assert_eq!(r.json["components"]["database"]["engine"], "sqlite", "{}", r.text);
    assert_eq!(r.json["components"]["cache"]["engine"], "memory", "{}", r.text);
    assert_eq!(r.json["components"]["storage"]["engine"], "tantivy", "{}", r.text);
    assert_eq!(r.json["components"]["queue"]["pending_bytes"], 0, "{}", r.text);
    assert!(r.json["version"].as_str().is_some_and(|v| !v.is_empty()), "{}", r.text);

    let r = get(base, "/openapi.json");
    assert_eq!(r.status, 200, "{}", r.text);
    let paths = r.json["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/logs",
        "/api/v1/logs/search",
        "/api/v1/logs/recent",
        "/api/v1/logs/{id}",
        "/health",
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/me",
        "/api/v1/auth/users",
        "/api/v1/rate-limits/status",
        "/api/v1/rate-limits/reset/{id}",
        "/api/v1/rate-limits/reset-all",
        "/api/v1/trace/debug",
    ] {
        assert!(paths.contains_key(p), "openapi.json lacks {p}: {:?}", paths.keys());
    }
    assert_eq!(r.json["components"]["securitySchemes"]["bearer"]["scheme"], "bearer", "{}", r.text);
    assert_eq!(r.json["paths"]["/api/v1/auth/users"]["get"]["security"][0]["bearer"], json!([]), "{}", r.text);
    let r = get(base, "/docs/");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text.to_lowercase().contains("swagger"),
        "/docs/ is not Swagger UI: {}",
        &r.text[..r.text.len().min(300)]
    );
}

#[test]
fn unsigned_attribute_values_above_i64_match_exactly() {
    // "An attribute value matches as text, and as a number or boolean when it parses as one":
    // also for unsigned 64-bit values that do not fit an i64 (e.g. hashes, byte counters).
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let body = json!([
        {"id":"u-max","service":"s","message":"m","attributes":{"big":u64::MAX,"small":5}},
        {"id":"u-mid","service":"s","message":"m","attributes":{"big":9_223_372_036_854_775_808u64}},
    ]);
    ingest_ok(&server.url, &body);
    wait_total(&server.url, "", 2);
    assert_eq!(search_ids(&server.url, &enc(&[("query", "small:5")])), ["u-max"]);
    assert_eq!(search_ids(&server.url, &enc(&[("query", "attributes.big:>1")])).len(), 2);
    for (q, want) in [
        ("attributes.big:18446744073709551615", "u-max"),
        ("big:18446744073709551615", "u-max"),
        ("attributes.big:9223372036854775808", "u-mid"),
    ] {
        assert_eq!(search_ids(&server.url, &enc(&[("query", q)])), [want], "query {q}");
    }
}
