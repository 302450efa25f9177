//! Cursor pagination stays exact while new logs keep arriving.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const N: usize = 3000;
const PAGE: usize = 100;

/// Log `i` of the original set: the first 150 share one timestamp (more than a page), the rest
/// come in runs of 7 identical timestamps. Ids are a permutation of 0..N so that id order
/// differs from insertion order.
fn original(base: DateTime<Utc>, i: usize) -> (String, DateTime<Utc>) {
    let id = format!("pg-{:04}", (i * 7919) % N);
    let ts =
        if i < 150 { base } else { base + Duration::seconds(1 + ((i - 150) / 7) as i64) + Duration::microseconds(123) };
    (id, ts)
}

#[test]
fn cursor_pages_are_exact_under_concurrent_ingest() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let url = server.url.clone();
    let base = now_secs() - Duration::hours(2);

    let logs: Vec<(String, DateTime<Utc>)> = (0..N).map(|i| original(base, i)).collect();
    // Two requests of ~400 KB each: large bodies take the server's off-runtime parsing path.
    let padding = "x".repeat(200);
    for chunk in logs.chunks(1500) {
        let body: Vec<Value> = chunk
            .iter()
            .map(|(id, t)| {
                json!({"id": id, "timestamp": ts(*t), "service": "pager", "message": format!("log {id} {padding}")})
            })
            .collect();
        let ids = ingest_ok(&url, &Value::Array(body));
        assert_eq!(ids.len(), chunk.len());
    }
    wait_total(&url, "", N as u64);

    let mut expected = logs.clone();
    expected.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));

    // First page before any concurrent ingest.
    let mut pages: Vec<Value> = Vec::new();
    let first = search(&url, &format!("limit={PAGE}"));
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["total"], N as u64);
    pages.extend(first.json["logs"].as_array().unwrap().iter().cloned());
    let mut cursor = first.json["next_cursor"].as_str().expect("a next_cursor").to_string();

    // Meanwhile: newer logs keep arriving (timestamps = time of receipt, newer than all above).
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (url, stop, sent) = (url.clone(), stop.clone(), sent.clone());
        std::thread::spawn(move || {
            let mut batch = 0;
            while !stop.load(Ordering::Relaxed) {
                let body: Vec<Value> = (0..20)
                    .map(|i| json!({"id": format!("new-{batch:04}-{i:02}"), "service": "pager", "message": "new"}))
                    .collect();
                ingest_ok(&url, &Value::Array(body));
                sent.fetch_add(20, Ordering::Relaxed);
                batch += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };

    let mut totals = Vec::new();
    let mut page_no = 1;
    loop {
        // Every few pages, wait for a commit of new logs so that pages really interleave with
        // index changes.
        if page_no % 5 == 0 {
            let seen = totals.last().copied().unwrap_or(N as u64);
            poll_until("new logs to become searchable", POLL_TIMEOUT, || (search_total(&url, "") > seen).then_some(()));
        }
        let r = search(&url, &format!("limit={PAGE}&{}", enc(&[("cursor", &cursor)])));
        assert_eq!(r.status, 200, "page {page_no}: {}", r.text);
        let logs = r.json["logs"].as_array().unwrap();
        assert_eq!(r.json["count"].as_u64(), Some(logs.len() as u64));
        totals.push(r.json["total"].as_u64().unwrap());
        pages.extend(logs.iter().cloned());
        page_no += 1;
        match r.json["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
        assert!(page_no <= N / PAGE + 2, "too many pages");
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    assert!(
        totals.last().copied().unwrap_or(0) > N as u64,
        "the concurrent ingest never became visible (totals {totals:?}); the test proved nothing"
    );
    assert!(sent.load(Ordering::Relaxed) > 0);

    let got: Vec<(String, String)> = pages
        .iter()
        .map(|l| (l["id"].as_str().unwrap().to_string(), l["timestamp"].as_str().unwrap().to_string()))
        .collect();
    let mut seen = HashSet::new();
    let dups: Vec<&String> = got.iter().map(|(id, _)| id).filter(|id| !seen.insert(*id)).collect();
    assert!(dups.is_empty(), "ids returned twice: {dups:?}");
    let new: Vec<&String> = got.iter().map(|(id, _)| id).filter(|id| !id.starts_with("pg-")).collect();
    assert!(new.is_empty(), "logs newer than the first page leaked into later pages: {new:?}");
    let want: Vec<(String, String)> = expected.iter().map(|(id, t)| (id.clone(), ts(*t))).collect();
    assert_eq!(got.len(), want.len(), "number of paged logs");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "position {i} (page {}) differs", i / PAGE + 1);
    }

    // A time window, with page sizes that end inside runs of equal timestamps.
    let (from, to) = (base, base + Duration::seconds(100));
    let window: Vec<String> =
        expected.iter().filter(|(_, t)| *t >= from && *t < to).map(|(id, _)| id.clone()).collect();
    assert!(window.len() > 700, "window of {} logs", window.len());
    for limit in ["7", "149", "1000"] {
        let qs = enc(&[("start_time", &ts(from)), ("end_time", &ts(to)), ("service", "pager"), ("limit", limit)]);
        assert_eq!(search_ids(&url, &qs), window, "time window paged with limit {limit}");
    }

    // Paging everything now includes the new logs exactly once each, newest first.
    let total = (N + sent.load(Ordering::Relaxed)) as u64;
    wait_total(&url, "", total);
    let all = search_ids(&url, "limit=100");
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "duplicates when paging everything");
    assert_eq!(all.len() as u64, total);
}

#[test]
fn invalid_cursor_is_400() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    ingest_ok(&server.url, &json!({"service":"s","message":"m"}));
    for bad in ["zzz", "%%%", "bm90LWEtY3Vyc29y", "MTIzOg", "not a cursor at all"] {
        let r = search(&server.url, &enc(&[("cursor", bad)]));
        assert_eq!(r.status, 400, "cursor {bad:?}: {}", r.text);
        assert!(r.error().contains("invalid cursor"), "cursor {bad:?}: {}", r.text);
    }
}
