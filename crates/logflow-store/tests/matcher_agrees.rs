//! Differential test: for every query, the in-memory [`Matcher`] (live tail) must select exactly
//! the records that the tantivy store's search returns.
//!
//! A few hundred deterministic pseudo-random records (services, levels, messages with
//! punctuation / mixed case / Unicode / long tokens, hosts, ids, nested attributes of every JSON
//! type) are indexed over several days and commits, then each query of a list covering every
//! syntax feature (plus hand-built ASTs the parser never produces, and service / level filters)
//! runs on both sides. Every disagreement is reported with the query and the differing ids.

use chrono::{Duration, TimeZone, Utc};
use logflow_core::matcher::Matcher;
use logflow_core::query::{parse, Bound, Field, Query};
use logflow_core::search::SearchRequest;
use logflow_core::{Level, LogRecord};
use logflow_store::tantivy_engine::{TantivyStore, WriterConfig};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Knuth's MMIX LCG: deterministic, no dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.next(100) < percent
    }
}

const RECORDS: usize = 420;

const SERVICES: &[&str] =
    &["auth-service", "payment-service", "order-service", "Gateway", "billing api", "auth", "AUTH-SERVICE"];

const HOSTS: &[Option<&str>] = &[
    None,
    Some("web-1"),
    Some("web-2"),
    Some("10.0.0.1:8080"),
    Some(""),
    Some("DB-Primary"),
    Some("db-primary"),
    Some("line\nbreak"),
    Some("a\\b"),
    Some("a\\\\b"),
    Some("a*b"),
    Some("a?b"),
    Some("pay*"),
    Some("x\\y"),
];

fn message_fragments() -> Vec<String> {
    let mut v: Vec<String> = [
        "User alice logged in",
        "payment failed: connection refused",
        "Timeout after 30s (retry 3/5)",
        "GET /api/v1/orders?id=42 -> 500",
        "cache hit for order-42",
        "Connection REFUSED by upstream 10.0.0.1:8080",
        "Déjà vu: ÉCOLE straße",
        "ΟΔΟΣ σίγμα",
        "foo foo bar",
        "pay payment payments paid",
        "deadlock detected in tx_9f3a",
        "disk usage 93.5% on /dev/sda1",
        "alpha beta",
        "!!!",
        "",
        "line one\nline two",
        "tab\tseparated\tvalues",
        "İstanbul İİİİİİİİİİİİİİİİİİİİ",
        "e-mail: bob@example.com",
        "東京タワー visit",
        "pay\\ment literal backslash",
        "refused connection",
        "Payment* wildcard char",
        "pay* a?b x\\y literal wildcards",
        "user_id=42 ok",
        "UPPER lower MiXeD",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("token={} accepted", "a".repeat(45)));
    v.push(format!("alpha {} beta", "x".repeat(40)));
    v.push(format!("gamma {} delta", "y".repeat(39)));
    v
}

fn attributes(rng: &mut Lcg, i: usize) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |rng: &mut Lcg, percent: usize, key: &str, value: Value| {
        if rng.chance(percent) {
            m.insert(key.to_string(), value);
        }
    };
    let user = {
        let mut u = Map::new();
        u.insert("id".into(), json!(rng.next(60)));
        u.insert("name".into(), json!(*rng.pick(&["alice", "Alice", "bob", "Bob Smith", ""])));
        let roles: Vec<&str> = ["admin", "dev", "ops"].into_iter().filter(|_| rng.chance(40)).collect();
        u.insert("roles".into(), json!(roles));
        Value::Object(u)
    };
    put(rng, 70, "user", user);
    let latency = if rng.chance(70) { json!(rng.next(1000)) } else { json!(rng.next(1000) as f64 + 0.5) };
    put(rng, 70, "latency_ms", latency);
    let status = if rng.chance(80) { json!(*rng.pick(&[200, 201, 404, 500, 503])) } else { json!("500") };
    put(rng, 60, "status", status);
    let ok = json!(rng.chance(50));
    put(rng, 50, "ok", ok);
    let amount = json!(*rng.pick(&[12.0, 99.5, 0.0, -0.0, -3.25, 1e20, 150.0]));
    put(rng, 50, "amount", amount);
    let region = json!(*rng.pick(&["eu-west", "eu-east", "us-east", "EU-West", "ap-south-1"]));
    put(rng, 60, "region", region);
    let tags = match rng.next(4) {
        0 => json!(["a", "b"]),
        1 => json!(["b", 3, true]),
        2 => json!([null, ["nested", 7], {"k": "v"}]),
        _ => json!("a"),
    };
    put(rng, 50, "tags", tags);
    let items = if rng.chance(50) {
        json!([{"sku": "X-1", "qty": 2}, {"sku": "Y-2", "qty": [3, 4]}])
    } else {
        json!([{"sku": "Z-9", "qty": 1}])
    };
    put(rng, 40, "items", items);
    let big = match rng.next(3) {
        0 => json!(18446744073709551615u64),
        1 => json!(9223372036854775808u64),
        _ => json!(i64::MIN),
    };
    put(rng, 30, "big", big);
    put(rng, 30, "neg", json!(-5));
    let date = json!(*rng.pick(&[
        "2025-01-01T00:00:00Z",
        "2025-01-01",
        "2025-13-01T00:00:00Z",
        "2025-01-01 10:00:00+02:00",
        "2016-12-31T23:59:60Z",
        "2016-12-30T23:59:60Z",
    ]));
    put(rng, 40, "date", date);
    let code = json!(*rng.pick(&["500", "404", "abc", "12.0"]));
    put(rng, 40, "code", code);
    put(rng, 20, "k.dot", json!(1));
    put(rng, 20, "nothing", Value::Null);
    put(rng, 20, "empty", json!(""));
    put(rng, 15, "empty_arr", json!([]));
    put(rng, 15, "empty_obj", json!({}));
    put(rng, 15, "nested_null", json!({"x": null}));
    put(rng, 20, "ml", json!("a\nb"));
    put(rng, 20, "Mixed", json!("CaseValue"));
    let deep = json!({"a": {"b": {"c": i % 10}}});
    put(rng, 30, "deep", deep);
    let zero = json!(*rng.pick(&[json!(0), json!(0.0), json!(-0.0)]));
    put(rng, 30, "zero", zero);
    put(rng, 20, "ratio", json!(0.5));
    let path_like = json!(*rng.pick(&["a\\b", "a\\\\b", "a*b", "pay*", "a?b", "x\\y", "payment", "pay*ment"]));
    put(rng, 25, "raw", path_like);
    m
}

fn records() -> Vec<LogRecord> {
    let mut rng = Lcg(0x1ee7);
    let fragments = message_fragments();
    let t0 = Utc.with_ymd_and_hms(2025, 10, 22, 8, 0, 0).unwrap();
    let mut recs: Vec<LogRecord> = (0..RECORDS)
        .map(|i| {
            let parts = 1 + rng.next(3);
            let message = (0..parts).map(|_| rng.pick(&fragments).as_str()).collect::<Vec<_>>().join(" ");
            let opt = |rng: &mut Lcg, percent: usize, v: String| rng.chance(percent).then_some(v);
            LogRecord {
                id: format!("r{i:04}"),
                // ~3 days, so several day partitions; some records share a timestamp.
                timestamp: t0 + Duration::seconds((i as i64 / 2) * 1300),
                service: rng.pick(SERVICES).to_string(),
                level: *rng.pick(&Level::ALL),
                message,
                host: rng.pick(HOSTS).map(str::to_string),
                correlation_id: opt(&mut rng, 60, format!("corr-{}", i % 7)),
                request_id: opt(&mut rng, 30, format!("req-{:x}", i * 7919)),
                trace_id: opt(&mut rng, 40, format!("{:016x}", (i as u64).wrapping_mul(0x9e3779b97f4a7c15))),
                span_id: opt(&mut rng, 20, format!("span-{}", i % 3)),
                attributes: attributes(&mut rng, i),
            }
        })
        .collect();
    // Raw values above tantivy's MAX_TOKEN_LEN (65530 bytes) are not indexed, except a
    // date-like string (a date term); keys containing NUL are skipped by the JSON indexer.
    let huge = "h".repeat(70_000);
    for (n, r) in recs.iter_mut().step_by(97).enumerate() {
        if n % 2 == 0 {
            r.host = Some(huge.clone());
        }
        r.attributes.insert("huge".into(), json!(huge));
        r.attributes.insert("hugedate".into(), json!(format!("2025-01-01T00:00:00.{}Z", "1".repeat(70_000))));
        r.attributes.insert("outer".into(), json!({"nul\u{0}key": 1}));
        r.attributes.insert("nul\u{0}top".into(), json!("v"));
    }
    recs
}

/// Query strings covering every syntax feature and store quirk.
const QUERIES: &[&str] = &[
    // everything
    "*",
    "",
    "message:*",
    "message:**",
    // message words, case, punctuation, Unicode
    "timeout",
    "TIMEOUT",
    "payment",
    "pay",
    "payment failed",
    "payment AND failed",
    "payment OR deadlock",
    "order-42",
    "order_42",
    "10.0.0.1",
    "10.0.0.1:8080",
    "api/v1",
    "/dev/sda1",
    "93.5%",
    "bob@example.com",
    "école",
    "ÉCOLE",
    "straße",
    "ΟΔΟΣ",
    "σίγμα",
    "東京タワー",
    "東京",
    "istanbul",
    "İstanbul",
    "two\\ words",
    "retry\\ 3",
    "\\-",
    "\\!\\!\\!",
    "\"!!!\"",
    // phrases
    "\"connection refused\"",
    "\"refused connection\"",
    "\"Connection REFUSED by\"",
    "\"foo foo bar\"",
    "\"foo bar\"",
    "\"foo foo foo\"",
    "\"line one line two\"",
    "\"two tab\"",
    "\"alpha beta\"",
    "\"alpha xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx beta\"",
    "\"gamma yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy delta\"",
    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "token=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    // message wildcards
    "pay*",
    "PAY*",
    "pay?",
    "dead?ock",
    "*ment",
    "*ment*",
    "p*t",
    "?",
    "order-4*",
    "pay\\*",
    "pay\\**",
    "pay\\?*",
    "payment\\*",
    "a\\?b",
    "a\\?b*",
    "x\\\\y",
    "x\\\\*",
    "P\\AY*",
    "\\p\\a\\y*",
    "ΟΔΟΣ*",
    "οδοσ*",
    "σίγμ?",
    "msg:us*r",
    // boolean structure
    "-timeout",
    "NOT timeout",
    "!payment",
    "payment -failed",
    "payment AND NOT failed",
    "timeout OR refused",
    "(timeout OR refused) -level:debug",
    "a OR alpha beta",
    "NOT (foo OR bar) NOT alpha",
    "+payment +failed",
    "payment && (failed || deadlock)",
    // service
    "service:auth-service",
    "service:AUTH-SERVICE",
    "service:auth",
    "service:auth*",
    "service:Auth*",
    "service:*-service",
    "service:\"billing api\"",
    "service:billing\\ api",
    "service:(auth OR Gateway)",
    "service:*",
    "service:[a TO m]",
    "service:{auth TO payment-service}",
    "service:>=order",
    "service:<B",
    "-service:auth*",
    // level
    "level:warn",
    "level:ERROR",
    "level:>=warning",
    "level:<info",
    "level:[info TO error}",
    "-level:debug",
    "level:(error OR critical)",
    // host
    "host:10.0.0.1:8080",
    "host:web-*",
    "host:web-?",
    "host:*",
    "host:[* TO *]",
    "-host:*",
    "host:DB-Primary",
    "host:db-primary",
    "host:[a TO w]",
    "host:>DB",
    "host:line*",
    "host:a\\\\*",
    "host:a\\\\\\\\*",
    "host:a\\**",
    "host:a\\*?",
    "host:a?b",
    "host:a\\?b",
    "host:a\\?*",
    "host:a\\??",
    "host:pay\\*",
    "host:pay\\**",
    "host:pay*",
    "host:x\\\\*",
    "host:x\\\\?",
    "host:*\\\\*",
    "host:*\\**",
    "host:*\\?*",
    "service:auth\\-*",
    "service:billing\\ a*",
    // ids
    "id:r0001",
    "id:r00*",
    "id:r0??7",
    "id:>r0300",
    "id:[r0100 TO r0120]",
    "id:{r0100 TO r0120}",
    "correlation_id:corr-3",
    "correlation_id:*",
    "-correlation_id:*",
    "request_id:*",
    "request_id:req-*",
    "trace_id:0*",
    "trace_id:[8 TO *]",
    "span_id:[* TO *]",
    "span_id:(span-1 OR span-2)",
    // attributes: terms across types
    "attributes.user.id:42",
    "user.id:42",
    "user.id:+42",
    "user.id:42.0",
    "user.id:(1 OR 2 OR 3)",
    "user.name:alice",
    "user.name:Alice",
    "user.name:\"Bob Smith\"",
    "user.name:*",
    "User.name:alice",
    "user.roles:admin",
    "user.roles:*",
    "user:*",
    "user:42",
    "amount:12",
    "amount:12.0",
    "amount:1.2e1",
    "amount:99.5",
    "amount:0",
    "amount:-0",
    "amount:1e20",
    "amount:100000000000000000000",
    "ratio:.5",
    "ok:true",
    "ok:false",
    "ok:TRUE",
    "ok:1",
    "status:500",
    "status:5*",
    "code:500",
    "code:12",
    "code:12.0",
    "code:5*",
    "big:18446744073709551615",
    "big:9223372036854775808",
    "big:-9223372036854775808",
    "neg:-5",
    "zero:0",
    "zero:-0",
    "zero:0.0",
    "tags:a",
    "tags:3",
    "tags:true",
    "tags:nested",
    "tags:7",
    "tags.k:v",
    "tags:*",
    "tags.k:*",
    "items.sku:X-1",
    "items.qty:4",
    "items.qty:>1",
    "items:*",
    "deep.a.b.c:3",
    "deep.a:*",
    "deep.a.b.c:[2 TO 4]",
    "k.dot:1",
    "k.dot:*",
    "k:*",
    "Mixed:CaseValue",
    "mixed:CaseValue",
    "raw:a\\\\b",
    "raw:a\\\\*",
    "raw:a\\\\\\\\*",
    "raw:a\\*b",
    "raw:a\\**",
    "raw:pay\\*",
    "raw:pay\\**",
    "raw:pay\\?*",
    "raw:pay*",
    "raw:a\\?b",
    "raw:a\\?b*",
    "raw:a\\??",
    "raw:x\\\\*",
    "raw:x\\\\?",
    "raw:*\\\\*",
    "raw:*\\**",
    "raw:*\\?*",
    // attributes: existence edge cases
    "nothing:*",
    "empty:*",
    "empty_arr:*",
    "empty_obj:*",
    "nested_null:*",
    "ml:*",
    "ml:a*",
    "ml:a?b",
    "missing:*",
    "huge:*",
    "huge:h*",
    "huge:[a TO z]",
    "hugedate:*",
    "outer:*",
    "host:hhh*",
    // date-like strings
    "date:*",
    "date:2025-01-01T00\\:00\\:00Z",
    "date:2025-01-01",
    "date:2025*",
    "date:\"2025-01-01 10:00:00+02:00\"",
    "date:2025-13-01T00:00:00Z",
    "date:\"2016-12-30T23:59:60Z\"",
    "date:\"2016-12-31T23:59:60Z\"",
    "date:[0 TO 9]",
    "date:[2025 TO 2026]",
    // attribute numeric ranges
    "latency_ms:>500",
    "latency_ms:>=500",
    "latency_ms:<100",
    "latency_ms:<=99.5",
    "latency_ms:[100 TO 200]",
    "latency_ms:{100 TO 200}",
    "latency_ms:[100.5 TO 200.5}",
    "latency_ms:[* TO *]",
    "latency_ms:[500 TO *]",
    "latency_ms:{* TO 10]",
    "amount:>=12",
    "amount:<0",
    "amount:[-0 TO 0]",
    "amount:>1e19",
    "big:>1e19",
    "big:>=18446744073709551615",
    "big:<0",
    "big:[9223372036854775807 TO 9223372036854775808]",
    "status:[400 TO 599]",
    "status:{404 TO 503}",
    "code:[400 TO 599]",
    "zero:<0",
    "zero:>=0",
    "zero:[-0 TO -0]",
    "latency_ms:>inf",
    "latency_ms:>-1e400",
    // attribute text ranges
    "region:[eu TO ev]",
    "region:>m",
    "region:[a TO *]",
    "region:{eu-east TO eu-west]",
    "region:[A TO Z]",
    "code:[1 TO a]",
    "code:>=abc",
    "status:[1 TO a]",
    "user.name:[a TO b]",
    "user.name:<B",
    // combinations
    "service:auth* level:>=warn user.id:[1 TO 30]",
    "payment -service:payment-service",
    "NOT service:order-service AND NOT service:auth-service",
    "(user.roles:admin OR ok:true) -region:eu*",
    "timeout OR (service:Gateway level:error) OR latency_ms:>900",
    "service:(auth-service OR Gateway) AND (pay* OR \"connection refused\")",
    "-(host:* AND correlation_id:*)",
];

/// Queries combined with service / level filters.
fn filtered() -> Vec<(&'static str, Vec<String>, Vec<Level>)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        ("*", s(&["auth-service", "Gateway"]), vec![]),
        ("*", vec![], vec![Level::Error, Level::Critical]),
        ("payment", s(&["payment-service"]), vec![Level::Info]),
        ("-timeout", s(&["billing api", "auth"]), vec![Level::Debug, Level::Warning]),
        ("*", s(&["auth-service*", "AUTH"]), vec![]),
        ("level:error", vec![], vec![Level::Info]),
        ("user.id:<30", s(&["order-service", "auth-service", "AUTH-SERVICE"]), vec![Level::Warning, Level::Error]),
    ]
}

/// Hand-built ASTs the parser never produces; the store still has to answer them.
fn hand_built() -> Vec<(String, Query)> {
    let attr = |p: &str| Field::Attribute(p.to_string());
    let term = |field: Field, v: &str| Query::Term { field, value: v.to_string() };
    let cases = vec![
        Query::And(vec![]),
        Query::Or(vec![]),
        Query::And(vec![Query::All, term(Field::Message, "payment")]),
        Query::Or(vec![Query::All, term(Field::Message, "payment")]),
        Query::Not(Box::new(Query::All)),
        term(Field::Level, "warn"),
        term(Field::Level, "WARNING"),
        term(Field::Host, ""),
        term(Field::Message, "!!!"),
        term(attr("k\\.dot"), "1"),
        term(attr("empty"), ""),
        term(attr("outer.nul\u{0}key"), "1"),
        term(attr("nul\u{0}top"), "v"),
        term(attr("user.name"), ""),
        Query::Phrase { field: Field::Service, text: "billing api".into() },
        Query::Phrase { field: attr("user.name"), text: "Bob Smith".into() },
        Query::Phrase { field: Field::Message, text: "connection".into() },
        Query::Wildcard { field: Field::Level, pattern: "WARN*".into() },
        Query::Wildcard { field: Field::Level, pattern: "*".into() },
        Query::Wildcard { field: Field::Message, pattern: "**".into() },
        Query::Wildcard { field: attr("k.dot"), pattern: "*".into() },
        // Escapes the parser never keeps (before a letter, trailing) or without any wildcard.
        Query::Wildcard { field: Field::Host, pattern: "pay\\*".into() },
        Query::Wildcard { field: Field::Host, pattern: "\\a\\*b".into() },
        Query::Wildcard { field: Field::Host, pattern: "a\\".into() },
        Query::Wildcard { field: Field::Host, pattern: "a\\\\b".into() },
        Query::Wildcard { field: attr("raw"), pattern: "pay\\*".into() },
        Query::Wildcard { field: attr("raw"), pattern: "a\\".into() },
        Query::Wildcard { field: attr("raw"), pattern: "\\x\\\\\\y".into() },
        Query::Wildcard { field: Field::Message, pattern: "pay\\*".into() },
        Query::Wildcard { field: Field::Message, pattern: "P\\AY\\M*".into() },
        Query::Wildcard { field: Field::Message, pattern: "\\d\\EAD?ock".into() },
        Query::Range {
            field: Field::Level,
            lower: Bound::Included("INFO".into()),
            upper: Bound::Included("WARNING".into()),
        },
        Query::Range { field: Field::Level, lower: Bound::Unbounded, upper: Bound::Unbounded },
        Query::Range { field: Field::Service, lower: Bound::Excluded("auth".into()), upper: Bound::Unbounded },
        Query::Range { field: attr("k\\.dot"), lower: Bound::Included("0".into()), upper: Bound::Included("5".into()) },
    ];
    cases.into_iter().map(|q| (format!("{q:?}"), q)).collect()
}

fn store_ids(store: &TantivyStore, query: &Query, services: &[String], levels: &[Level]) -> BTreeSet<String> {
    let mut req = SearchRequest::new(query.clone());
    req.services = services.to_vec();
    req.levels = levels.to_vec();
    req.limit = logflow_core::search::MAX_LIMIT;
    req.count_total = true;
    let res = store.search_blocking(&req).unwrap_or_else(|e| panic!("store search failed for {query:?}: {e}"));
    assert_eq!(res.total as usize, res.hits.len(), "{query:?}: total and hits differ");
    res.hits.into_iter().map(|h| h.id).collect()
}

#[test]
fn matcher_agrees_with_the_tantivy_store() {
    let recs = records();
    let dir = tempfile::tempdir().unwrap();
    let store = TantivyStore::open(dir.path(), WriterConfig { heap_bytes: 20 << 20, ..Default::default() }).unwrap();
    // Several commits, so the days have several segments.
    for (n, chunk) in recs.chunks(RECORDS / 4 + 1).enumerate() {
        let lsn = n as u64 + 1;
        store.add_blocking(lsn, chunk).unwrap();
        store.commit_blocking(lsn).unwrap();
    }

    let mut cases: Vec<(String, Query, Vec<String>, Vec<Level>)> = Vec::new();
    for q in QUERIES {
        let parsed = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        cases.push((q.to_string(), parsed, vec![], vec![]));
    }
    for (q, services, levels) in filtered() {
        let label = format!("{q} [services={services:?} levels={levels:?}]");
        cases.push((label, parse(q).unwrap(), services, levels));
    }
    for (label, q) in hand_built() {
        cases.push((label, q, vec![], vec![]));
    }

    let mut report = String::new();
    let mut failures = 0;
    let mut interesting = 0;
    for (label, query, services, levels) in &cases {
        let want = store_ids(&store, query, services, levels);
        let matcher = Matcher::new(query, services, levels);
        let got: BTreeSet<String> = recs.iter().filter(|r| matcher.matches(r)).map(|r| r.id.clone()).collect();
        if !want.is_empty() && want.len() < recs.len() {
            interesting += 1;
        }
        if got != want {
            failures += 1;
            let only_store: Vec<&String> = want.difference(&got).collect();
            let only_matcher: Vec<&String> = got.difference(&want).collect();
            let _ = writeln!(
                report,
                "\nquery {label:?} (AST {query:?}): store {} hits, matcher {}\n  only in store:   {only_store:?}\n  only in matcher: {only_matcher:?}",
                want.len(),
                got.len()
            );
            for id in only_store.iter().chain(&only_matcher).take(2) {
                let rec = recs.iter().find(|r| &&r.id == id).unwrap();
                let _ = writeln!(report, "  e.g. {}", serde_json::to_string(rec).unwrap());
            }
        }
    }
    assert!(failures == 0, "{failures} of {} queries disagree:{report}", cases.len());
    // Keep the test meaningful if the data or the queries drift: most queries must select
    // some but not all records.
    assert!(interesting * 3 > cases.len() * 2, "only {interesting} of {} queries are selective", cases.len());
    println!("{} queries agree ({interesting} selective) over {} records", cases.len(), recs.len());
}
