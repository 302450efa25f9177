//! Engine tests: filters, the query language end to end, cursor pagination with timestamp ties,
//! exactly-once replay, retention, lookups by id.

use super::*;
use chrono::{Duration as ChronoDuration, TimeZone};
use logflow_core::query::{parse, Query};
use logflow_core::search::{Cursor, SearchRequest};
use logflow_core::time::TimeRange;
use logflow_core::Level;
use serde_json::json;
use std::collections::HashSet;

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 24, 12, 0, 0).unwrap()
}

pub(super) fn rec(
    id: &str,
    secs: i64,
    service: &str,
    level: Level,
    message: &str,
    attrs: serde_json::Value,
) -> LogRecord {
    LogRecord {
        id: id.to_string(),
        timestamp: t0() + ChronoDuration::seconds(secs),
        service: service.into(),
        level,
        message: message.into(),
        host: Some(format!("{service}-1")),
        correlation_id: Some(format!("corr-{}", secs % 3)),
        request_id: None,
        trace_id: None,
        span_id: None,
        attributes: attrs.as_object().cloned().unwrap_or_default(),
    }
}

pub(super) fn open() -> (tempfile::TempDir, TantivyStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = TantivyStore::open(dir.path(), WriterConfig { heap_bytes: 20 << 20, ..Default::default() }).unwrap();
    (dir, store)
}

fn sample() -> Vec<LogRecord> {
    vec![
        rec("a1", 1, "auth-service", Level::Info, "user alice logged in", json!({"user_id": 42, "region": "eu-west"})),
        rec("a2", 2, "auth-service", Level::Warning, "token expired for user bob", json!({"user_id": 7})),
        rec(
            "p1",
            3,
            "payment-service",
            Level::Error,
            "payment failed: connection refused",
            json!({"amount": 99.5, "card": {"brand": "visa"}}),
        ),
        rec("p2", 4, "payment-service", Level::Info, "payment accepted", json!({"amount": 12.0, "latency_ms": 850})),
        rec(
            "o1",
            5,
            "order-service",
            Level::Critical,
            "database deadlock detected",
            json!({"retry": true, "latency_ms": 120}),
        ),
        rec("o2", 6, "order-service", Level::Debug, "cache hit for order-42", json!({})),
    ]
}

fn ids(store: &TantivyStore, q: &str) -> Vec<String> {
    let mut req = SearchRequest::new(parse(q).unwrap_or_else(|e| panic!("{q}: {e}")));
    req.limit = 100;
    let res = store.search_blocking(&req).unwrap_or_else(|e| panic!("{q}: {e}"));
    assert_eq!(res.total as usize, res.hits.len(), "{q}");
    res.hits.into_iter().map(|h| h.id).collect()
}

fn store_with_sample() -> (tempfile::TempDir, TantivyStore) {
    let (dir, store) = open();
    store.add_blocking(1, &sample()).unwrap();
    store.commit_blocking(1).unwrap();
    (dir, store)
}

#[test]
fn query_language_end_to_end() {
    let (_d, s) = store_with_sample();
    let cases: &[(&str, &[&str])] = &[
        ("*", &["o2", "o1", "p2", "p1", "a2", "a1"]),
        ("payment", &["p2", "p1"]),
        ("PAYMENT", &["p2", "p1"]),
        ("\"connection refused\"", &["p1"]),
        ("\"refused connection\"", &[]),
        ("payment AND failed", &["p1"]),
        ("payment failed", &["p1"]),
        ("deadlock OR expired", &["o1", "a2"]),
        ("payment AND NOT failed", &["p2"]),
        ("payment -failed", &["p2"]),
        ("service:auth-service", &["a2", "a1"]),
        ("service:auth-*", &["a2", "a1"]),
        ("service:*-service AND level:error", &["p1"]),
        ("level:warn", &["a2"]),
        ("level:(error OR critical)", &["o1", "p1"]),
        ("pay*", &["p2", "p1"]),
        ("dead?ock", &["o1"]),
        ("order-42", &["o2"]),
        ("attributes.user_id:42", &["a1"]),
        ("user_id:7", &["a2"]),
        ("attributes.region:eu-west", &["a1"]),
        ("attributes.card.brand:visa", &["p1"]),
        ("attributes.retry:true", &["o1"]),
        ("attributes.amount:99.5", &["p1"]),
        ("attributes.latency_ms:>500", &["p2"]),
        ("attributes.latency_ms:[100 TO 200]", &["o1"]),
        ("attributes.latency_ms:*", &["o1", "p2"]),
        // Open-ended ranges stay within their own path and type (regression: they ran into
        // the terms of other attribute paths).
        ("attributes.latency_ms:<200", &["o1"]),
        ("attributes.amount:<50", &["p2"]),
        ("attributes.amount:>=12", &["p2", "p1"]),
        ("attributes.region:[a TO *]", &["a1"]),
        ("attributes.card:*", &["p1"]),
        ("attributes.latency_ms:[* TO *]", &["o1", "p2"]),
        ("attributes.region:eu-*", &["a1"]),
        ("host:payment-service-1", &["p2", "p1"]),
        ("id:p1", &["p1"]),
        ("correlation_id:corr-0", &["o2", "p1"]),
        ("NOT service:order-service AND NOT service:auth-service", &["p2", "p1"]),
    ];
    for (q, want) in cases {
        assert_eq!(ids(&s, q), *want, "query {q}");
    }
}

fn ast_ids(store: &TantivyStore, q: Query) -> Vec<String> {
    let mut req = SearchRequest::new(q.clone());
    req.limit = 100;
    let res = store.search_blocking(&req).unwrap_or_else(|e| panic!("{q:?}: {e}"));
    res.hits.into_iter().map(|h| h.id).collect()
}

#[test]
fn escaped_wildcards_are_literal() {
    let (_d, s) = open();
    let recs = [
        rec("lit", 1, "pay*", Level::Info, "pay* accepted", json!({"v": ["pay*", "x"]})),
        rec("word", 2, "payment", Level::Info, "payment accepted", json!({"v": "payment"})),
        rec("bs", 3, "pay\\ment", Level::Info, "x\\y accepted", json!({"v": "pay\\ment"})),
        rec("qm", 4, "a?b", Level::Info, "a?b accepted", json!({"v": "a?b"})),
        rec("ab", 5, "axb", Level::Info, "axb accepted", json!({"v": "axb"})),
    ];
    s.add_blocking(1, &recs).unwrap();
    s.commit_blocking(1).unwrap();
    let cases: &[(&str, &[&str])] = &[
        // `pay\*` is the literal text `pay*`: on the message, the token `pay`; never `payment`.
        ("pay\\*", &["lit"]),
        ("service:pay\\*", &["lit"]),
        ("v:pay\\*", &["lit"]),
        ("pay*", &["word", "lit"]),
        ("service:pay*", &["bs", "word", "lit"]),
        // A literal `*` followed by a wildcard: message tokens never contain a `*`.
        ("pay\\**", &[]),
        ("service:pay\\**", &["lit"]),
        ("v:pay\\**", &["lit"]),
        ("service:pay\\?*", &[]),
        // `\?` is a literal `?`, `?` any one character.
        ("service:a\\?b*", &["qm"]),
        ("service:a?b", &["ab", "qm"]),
        ("v:a\\??", &["qm"]),
        ("a\\?b*", &[]),
        // `\\` is a literal backslash.
        ("service:pay\\\\*", &["bs"]),
        ("v:pay\\\\m*", &["bs"]),
        ("service:pay\\\\\\\\*", &[]),
        ("x\\\\y", &["bs"]),
        ("x\\\\*", &[]),
        // Escaped letters in the pattern stay letters after the message pattern is lowercased.
        ("P\\AY*", &["word", "lit"]),
    ];
    for (q, want) in cases {
        assert_eq!(ids(&s, q), *want, "query {q}");
    }
    // The parser never keeps an escape before a letter; hand-built patterns may.
    use logflow_core::query::Field;
    let wildcard = |field: Field, pattern: &str| Query::Wildcard { field, pattern: pattern.into() };
    assert_eq!(ast_ids(&s, wildcard(Field::Service, "pay\\*")), ["lit"]);
    assert_eq!(ast_ids(&s, wildcard(Field::Attribute("v".into()), "pay\\*")), ["lit"]);
    assert_eq!(ast_ids(&s, wildcard(Field::Message, "pay\\*")), Vec::<String>::new());
    assert_eq!(ast_ids(&s, wildcard(Field::Message, "P\\AY\\M*")), ["word"]);
    assert_eq!(ast_ids(&s, wildcard(Field::Service, "\\p\\a\\y*")), ["bs", "word", "lit"]);
    // A trailing lone backslash is a literal backslash.
    assert_eq!(ast_ids(&s, wildcard(Field::Service, "pay\\")), Vec::<String>::new());
}

/// Core's `wildcard_to_regex` escapes every regex metacharacter, including `#&-~` (reserved
/// for set operations in the regex syntax tantivy_fst uses); each escaped one must compile and
/// match only itself.
#[test]
fn escaped_regex_characters_match_themselves() {
    use logflow_core::query::Field;
    const SPECIAL: &str = "\\.+*?()|[]{}^$#&-~";
    let (_d, s) = open();
    let mut recs: Vec<LogRecord> = SPECIAL
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let v = format!("a{c}b");
            rec(&format!("c{i:02}"), i as i64, &v, Level::Info, &format!("{v} A{c}B"), json!({"v": v, "n": {"w": v}}))
        })
        .collect();
    recs.push(rec("plain", 50, "axb", Level::Info, "axb", json!({"v": "axb", "n": {"w": "axb"}})));
    s.add_blocking(1, &recs).unwrap();
    s.commit_blocking(1).unwrap();
    let wildcard = |field: Field, pattern: String| Query::Wildcard { field, pattern };
    let fields = || [Field::Service, Field::Attribute("v".into()), Field::Attribute("n.w".into())];
    for (i, c) in SPECIAL.chars().enumerate() {
        let want = [format!("c{i:02}")];
        for field in fields() {
            for pattern in [format!("a\\{c}b"), format!("a\\{c}?"), format!("?\\{c}b"), format!("*\\{c}*")] {
                let got = ast_ids(&s, wildcard(field.clone(), pattern.clone()));
                assert_eq!(got, want, "{field:?} {pattern}");
            }
        }
        // The same through the query language (`host` keeps its `-1` suffix).
        for q in [format!("service:a\\{c}?"), format!("host:*\\{c}b-1"), format!("v:a\\{c}*"), format!("n.w:?\\{c}?")] {
            assert_eq!(ids(&s, &q), want, "query {q}");
        }
        // Message tokens are alphanumeric, so they never contain the character: the pattern
        // compiles and matches nothing.
        let got = ast_ids(&s, wildcard(Field::Message, format!("A\\{c}*")));
        assert!(got.is_empty(), "message A\\{c}*: {got:?}");
    }
    // Every record but `plain` has the tokens `a` and `b`.
    assert_eq!(ast_ids(&s, wildcard(Field::Message, "\\A".into())).len(), SPECIAL.chars().count());
}

#[test]
fn filters_and_time_range() {
    let (_d, s) = store_with_sample();
    let mut req = SearchRequest::new(Query::All);
    req.services = vec!["auth-service".into(), "order-service".into()];
    req.levels = vec![Level::Info, Level::Critical, Level::Warning];
    let got: Vec<String> = s.search_blocking(&req).unwrap().hits.into_iter().map(|h| h.id).collect();
    assert_eq!(got, ["o1", "a2", "a1"]);
    req.range =
        TimeRange { start: Some(t0() + ChronoDuration::seconds(2)), end: Some(t0() + ChronoDuration::seconds(5)) };
    let got: Vec<String> = s.search_blocking(&req).unwrap().hits.into_iter().map(|h| h.id).collect();
    assert_eq!(got, ["a2"], "end is exclusive, start inclusive");
}

#[test]
fn pagination_is_exact_across_timestamp_ties_and_days() {
    let (_d, s) = open();
    // 3 days x 3 timestamps x 40 logs sharing each timestamp.
    let mut all = Vec::new();
    for day in 0..3 {
        for sec in 0..3 {
            for n in 0..40 {
                let mut r = rec(&format!("d{day}s{sec}n{n:02}"), 0, "svc", Level::Info, "tick", json!({}));
                r.timestamp = t0() - ChronoDuration::days(day) + ChronoDuration::seconds(sec);
                all.push(r);
            }
        }
    }
    s.add_blocking(1, &all).unwrap();
    s.commit_blocking(1).unwrap();
    let mut expected = all.clone();
    expected.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then(b.id.cmp(&a.id)));
    for limit in [1, 7, 40, 41, 100, 360, 500] {
        let mut seen = Vec::new();
        let mut req = SearchRequest::new(Query::All);
        req.limit = limit;
        loop {
            let page = s.search_blocking(&req).unwrap();
            assert_eq!(page.total, 360);
            seen.extend(page.hits.iter().map(|h| h.id.clone()));
            match page.next_cursor {
                Some(c) => req.after = Some(Cursor::decode(&c).unwrap()),
                None => break,
            }
            assert!(seen.len() <= 360, "runaway pagination at limit {limit}");
        }
        let want: Vec<String> = expected.iter().map(|r| r.id.clone()).collect();
        assert_eq!(seen, want, "limit {limit}");
    }
}

#[test]
fn replay_of_committed_lsns_is_skipped() {
    let (dir, s) = open();
    let batch = sample();
    s.add_blocking(5, &batch).unwrap();
    s.commit_blocking(5).unwrap();
    drop(s);
    let s = TantivyStore::open(dir.path(), WriterConfig::default()).unwrap();
    // A replay of LSN 5 (already committed) must not duplicate; LSN 6 is new.
    s.add_blocking(5, &batch).unwrap();
    s.add_blocking(6, &[rec("n1", 9, "svc", Level::Info, "new", json!({}))]).unwrap();
    s.commit_blocking(6).unwrap();
    assert_eq!(ids(&s, "*").len(), 7);
    let unique: HashSet<String> = ids(&s, "*").into_iter().collect();
    assert_eq!(unique.len(), 7);
}

#[test]
fn uncommitted_docs_are_invisible() {
    let (_d, s) = open();
    s.add_blocking(1, &sample()).unwrap();
    assert!(ids(&s, "*").is_empty());
    s.commit_blocking(1).unwrap();
    assert_eq!(ids(&s, "*").len(), 6);
}

#[test]
fn retention_drops_whole_partitions() {
    let (dir, s) = open();
    let mut old = rec("old", 0, "svc", Level::Info, "old news", json!({}));
    old.timestamp = t0() - ChronoDuration::days(10);
    let mut mid = rec("mid", 0, "svc", Level::Info, "mid news", json!({}));
    mid.timestamp = t0() - ChronoDuration::days(3);
    let new = rec("new", 0, "svc", Level::Info, "new news", json!({}));
    s.add_blocking(1, &[old, mid, new]).unwrap();
    s.commit_blocking(1).unwrap();
    assert_eq!(dir_count(dir.path()), 3);
    let dropped = s.inner.apply_retention(t0() - ChronoDuration::days(7)).unwrap();
    assert_eq!(dropped, vec!["2025-10-14".to_string()]);
    assert_eq!(ids(&s, "news"), ["new", "mid"]);
    assert_eq!(dir_count(dir.path()), 2);
    // The partition covering the cutoff itself is kept.
    let dropped = s.inner.apply_retention(t0() - ChronoDuration::days(3)).unwrap();
    assert!(dropped.is_empty());
}

#[test]
fn expired_days_are_not_recreated_after_retention() {
    let (dir, s) = open();
    s.inner.apply_retention(t0() - ChronoDuration::days(7)).unwrap();
    // A WAL replay after downtime may carry logs that expired meanwhile: they must stay dropped.
    let mut old = rec("old", 0, "svc", Level::Info, "old news", json!({}));
    old.timestamp = t0() - ChronoDuration::days(9);
    s.add_blocking(1, &[old, rec("new", 0, "svc", Level::Info, "new news", json!({}))]).unwrap();
    s.commit_blocking(1).unwrap();
    assert_eq!(ids(&s, "news"), ["new"]);
    assert_eq!(dir_count(dir.path()), 1);
}

fn dir_count(p: &Path) -> usize {
    std::fs::read_dir(p).unwrap().count()
}

#[test]
fn get_by_id_across_partitions() {
    let (_d, s) = open();
    let mut old = rec("yesterday-1", 0, "svc", Level::Error, "old", json!({"k": "v"}));
    old.timestamp = t0() - ChronoDuration::days(1);
    s.add_blocking(1, &[old.clone(), rec("today-1", 0, "svc", Level::Info, "new", json!({}))]).unwrap();
    s.commit_blocking(1).unwrap();
    assert_eq!(s.inner.get("yesterday-1").unwrap(), Some(old));
    assert_eq!(s.inner.get("missing").unwrap(), None);
}

#[test]
fn range_on_message_is_a_client_error() {
    let (_d, s) = store_with_sample();
    // The parser already refuses this; the engine must too, for ASTs built by other callers.
    use logflow_core::query::{Bound, Field};
    let q = Query::Range { field: Field::Message, lower: Bound::Included("a".into()), upper: Bound::Unbounded };
    let req = SearchRequest::new(q);
    assert!(matches!(s.search_blocking(&req), Err(StoreError::InvalidQuery(_))));
}

#[test]
fn stats_report_partitions() {
    let (_d, s) = store_with_sample();
    let st = s.inner.stats();
    assert_eq!((st.docs, st.partitions.len()), (6, 1));
    assert!(st.bytes_on_disk > 0);
    assert_eq!(st.partitions[0].committed_lsn, 1);
}
