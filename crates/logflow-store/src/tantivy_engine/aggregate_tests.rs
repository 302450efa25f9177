//! Aggregation tests: exact counts against hand-computed and brute-force expectations, histogram
//! alignment and range edges, filters consistent with search, templates, partitions written by
//! the schema before templates existed.

use super::tests::{open, rec, t0};
use super::*;
use crate::aggregate::{
    Histogram, HistogramBucket, LevelCounts, ServiceLevelCount, TemplateCount, TopTemplates, MAX_HISTOGRAM_BUCKETS,
    TEMPLATE_SERVICES,
};
use chrono::{Duration as ChronoDuration, TimeZone};
use logflow_core::query::{parse, Query};
use logflow_core::search::SearchRequest;
use logflow_core::template::message_template;
use logflow_core::time::TimeRange;
use logflow_core::Level;
use serde_json::json;
use std::collections::HashMap;
use tantivy::schema::Schema;

fn at(secs: i64) -> DateTime<Utc> {
    t0() + ChronoDuration::seconds(secs)
}

fn range(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> TimeRange {
    TimeRange { start, end }
}

fn everything() -> AggregateRequest {
    AggregateRequest::new(TimeRange::default())
}

fn store_with(logs: &[LogRecord]) -> (tempfile::TempDir, TantivyStore) {
    let (dir, s) = open();
    s.add_blocking(1, logs).unwrap();
    s.commit_blocking(1).unwrap();
    (dir, s)
}

fn log(id: &str, secs: i64, service: &str, level: Level, message: &str) -> LogRecord {
    rec(id, secs, service, level, message, json!({}))
}

/// `(service, level, count, first, last)` rows of a result, first/last as seconds after t0.
fn service_levels(res: &AggregateResult) -> Vec<(&str, Level, u64, i64, i64)> {
    let secs = |t: DateTime<Utc>| (t - t0()).num_seconds();
    res.by_service_level
        .iter()
        .map(|r| (r.service.as_str(), r.level, r.count, secs(r.first_ts), secs(r.last_ts)))
        .collect()
}

fn counts(pairs: &[(Level, u64)]) -> LevelCounts {
    let mut c = LevelCounts::default();
    for (level, n) in pairs {
        c.add(*level, *n);
    }
    c
}

fn bucket(start: DateTime<Utc>, pairs: &[(Level, u64)]) -> HistogramBucket {
    let counts_by_level = counts(pairs);
    HistogramBucket { start_ms: start.timestamp_millis(), total: counts_by_level.total(), counts_by_level }
}

#[test]
fn counts_by_service_and_level_with_first_and_last_seen() {
    let (_d, s) = store_with(&[
        log("a1", 1, "auth", Level::Info, "login"),
        log("a2", 5, "auth", Level::Info, "login"),
        log("a3", 3, "auth", Level::Error, "denied"),
        log("p1", 2, "pay", Level::Critical, "down"),
        log("p2", 9, "pay", Level::Critical, "down"),
        log("p3", 7, "pay", Level::Critical, "down"),
        log("p4", 4, "pay", Level::Debug, "tick"),
    ]);
    let mut req = everything();
    req.by_service_level = true;
    let res = s.aggregate_blocking(&req).unwrap();
    assert_eq!(res.total, 7);
    assert_eq!(
        service_levels(&res),
        [
            ("auth", Level::Info, 2, 1, 5),
            ("auth", Level::Error, 1, 3, 3),
            ("pay", Level::Debug, 1, 4, 4),
            ("pay", Level::Critical, 3, 2, 9),
        ]
    );
    assert!(res.histogram.is_empty() && res.top_templates.is_empty(), "only what was asked");
}

#[test]
fn histogram_buckets_are_epoch_aligned_and_split_by_level() {
    // t0 is 12:00:00 UTC.
    let (_d, s) = store_with(&[
        log("a", 0, "svc", Level::Info, "m"),
        log("b", 59, "svc", Level::Error, "m"),
        log("c", 60, "svc", Level::Info, "m"),
        log("d", 61, "svc", Level::Info, "m"),
        log("e", 3599, "svc", Level::Warning, "m"),
        log("f", 3600, "svc", Level::Critical, "m"),
    ]);
    let mut req = everything();
    req.histogram = Some(Histogram { interval_ms: 60_000 });
    let res = s.aggregate_blocking(&req).unwrap();
    assert_eq!(
        res.histogram,
        [
            bucket(at(0), &[(Level::Info, 1), (Level::Error, 1)]),
            bucket(at(60), &[(Level::Info, 2)]),
            bucket(at(3540), &[(Level::Warning, 1)]),
            bucket(at(3600), &[(Level::Critical, 1)]),
        ],
        "only buckets with logs, in time order"
    );
    // 7-minute buckets start at multiples of 7 minutes since the epoch, not at the range start.
    req.histogram = Some(Histogram { interval_ms: 420_000 });
    req.range = range(Some(at(1)), None);
    let res = s.aggregate_blocking(&req).unwrap();
    let mut want: BTreeMap<i64, u64> = BTreeMap::new();
    for secs in [59, 60, 61, 3599, 3600] {
        *want.entry(at(secs).timestamp_millis().div_euclid(420_000) * 420_000).or_default() += 1;
    }
    let got: BTreeMap<i64, u64> = res.histogram.iter().map(|b| (b.start_ms, b.total)).collect();
    assert_eq!(got, want);
    assert!(got.len() > 1 && got.keys().all(|start| start % 420_000 == 0));
    assert_eq!(res.total, 5);
}

#[test]
fn range_edges_match_search() {
    let logs: Vec<LogRecord> = (0..10).map(|i| log(&format!("l{i}"), i * 10, "svc", Level::Info, "m")).collect();
    let (_d, s) = store_with(&logs);
    // The logs are at 0, 10, ..., 90 s, in one segment: ranges straddling it, holding it whole
    // (the end is exclusive: `..90` straddles it, `..91` holds it), and missing it.
    let ranges = [
        (Some(10), Some(50)),
        (Some(0), Some(1)),
        (None, Some(30)),
        (Some(90), None),
        (Some(0), Some(90)),
        (Some(0), Some(91)),
        (Some(-5), None),
        (Some(95), Some(99)),
        (Some(-9), Some(0)),
    ];
    for (start, end) in ranges {
        let r = range(start.map(at), end.map(at));
        let want = logs.iter().filter(|l| r.contains(l.timestamp)).count() as u64;
        let mut search = SearchRequest::new(Query::All);
        search.range = r;
        assert_eq!(s.search_blocking(&search).unwrap().total, want, "search, range {start:?}..{end:?}");
        let mut req = AggregateRequest::new(r);
        let total_only = s.aggregate_blocking(&req).unwrap().total;
        req.histogram = Some(Histogram { interval_ms: 1_000 });
        let res = s.aggregate_blocking(&req).unwrap();
        assert_eq!((total_only, res.total), (want, want), "range {start:?}..{end:?}");
        assert_eq!(res.histogram.iter().map(|b| b.total).sum::<u64>(), want);
    }
    // Start inclusive, end exclusive.
    let res = s.aggregate_blocking(&AggregateRequest::new(range(Some(at(10)), Some(at(50))))).unwrap();
    assert_eq!(res.total, 4);
}

#[test]
fn filters_match_search() {
    let (_d, s) = store_with(&[
        log("a1", 1, "auth-service", Level::Info, "user alice logged in"),
        log("a2", 2, "auth-service", Level::Warning, "token expired for user bob"),
        log("p1", 3, "payment-service", Level::Error, "payment failed: connection refused"),
        log("p2", 4, "payment-service", Level::Info, "payment accepted"),
        log("o1", 5, "order-service", Level::Critical, "database deadlock detected"),
        log("o2", 6, "order-service", Level::Error, "payment lookup failed"),
    ]);
    let cases: &[(&str, &[&str], &[Level], u64)] = &[
        ("*", &[], &[], 6),
        ("payment", &[], &[], 3),
        ("payment failed", &[], &[], 2),
        ("payment", &["payment-service"], &[], 2),
        ("*", &["auth-service", "order-service"], &[Level::Info, Level::Critical], 2),
        ("*", &[], &[Level::Error, Level::Critical], 3),
        ("level:error OR deadlock", &[], &[], 3),
        ("NOT service:order-service", &[], &[Level::Info], 2),
    ];
    for (q, services, levels, want) in cases {
        let mut search = SearchRequest::new(parse(q).unwrap());
        search.services = services.iter().map(|s| s.to_string()).collect();
        search.levels = levels.to_vec();
        let mut req = everything();
        req.query = search.query.clone();
        req.services = search.services.clone();
        req.levels = search.levels.clone();
        req.by_service_level = true;
        let res = s.aggregate_blocking(&req).unwrap();
        assert_eq!(res.total, *want, "{q} {services:?} {levels:?}");
        assert_eq!(s.search_blocking(&search).unwrap().total, *want, "search agrees: {q}");
        assert_eq!(res.by_service_level.iter().map(|r| r.count).sum::<u64>(), *want);
        for row in &res.by_service_level {
            assert!(services.is_empty() || services.contains(&row.service.as_str()));
            assert!(levels.is_empty() || levels.contains(&row.level));
        }
    }
}

#[test]
fn top_templates_group_messages_differing_in_values() {
    let (_d, s) = store_with(&[
        log("e1", 1, "pay", Level::Error, "charge 1001 failed after 250ms"),
        log("e2", 2, "pay", Level::Error, "charge 1002 failed after 3s"),
        log("e3", 3, "order", Level::Critical, "charge 77 failed after 1.5s"),
        log("e4", 4, "pay", Level::Error, "charge 5 failed after 9ms"),
        log("e5", 5, "auth", Level::Error, "user 'alice' not found"),
        log("e6", 6, "auth", Level::Error, "user 'bob' not found"),
        log("e7", 7, "pay", Level::Error, "refund failed"),
        // Not errors: left out of "top error messages", however frequent.
        log("i1", 8, "pay", Level::Info, "charge 1 failed after 1ms"),
        log("i2", 9, "pay", Level::Info, "heartbeat"),
        log("i3", 10, "pay", Level::Info, "heartbeat"),
        log("i4", 11, "pay", Level::Info, "heartbeat"),
        log("i5", 12, "pay", Level::Info, "heartbeat"),
    ]);
    let mut req = everything();
    req.top_templates = Some(TopTemplates { levels: vec![Level::Error, Level::Critical], limit: 10 });
    let res = s.aggregate_blocking(&req).unwrap();
    let got: Vec<(&str, u64, Vec<&str>, i64)> = res
        .top_templates
        .iter()
        .map(|t| {
            (
                t.template.as_str(),
                t.count,
                t.services.iter().map(String::as_str).collect(),
                (t.last_ts - t0()).num_seconds(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("charge <num> failed after <num>", 4, vec!["pay", "order"], 4),
            ("user <str> not found", 2, vec!["auth"], 6),
            ("refund failed", 1, vec!["pay"], 7),
        ]
    );
    assert_eq!(res.total, 12, "the template level filter narrows templates only");
    // The limit keeps the most frequent; no level filter means every level.
    req.top_templates = Some(TopTemplates { levels: vec![], limit: 2 });
    let res = s.aggregate_blocking(&req).unwrap();
    let got: Vec<(&str, u64)> = res.top_templates.iter().map(|t| (t.template.as_str(), t.count)).collect();
    assert_eq!(got, [("charge <num> failed after <num>", 5), ("heartbeat", 4)]);
    // The request's filters apply too.
    req.services = vec!["auth".into()];
    let res = s.aggregate_blocking(&req).unwrap();
    assert_eq!(res.top_templates.len(), 1);
    assert_eq!((res.top_templates[0].template.as_str(), res.total), ("user <str> not found", 2));
}

#[test]
fn template_services_list_the_most_frequent_few() {
    let mut logs = Vec::new();
    for (service, n) in [("a", 1), ("b", 4), ("c", 3), ("d", 2), ("e", 4)] {
        for i in 0..n {
            logs.push(log(&format!("{service}{i}"), i, service, Level::Error, &format!("job {i} failed")));
        }
    }
    let (_d, s) = store_with(&logs);
    let mut req = everything();
    req.top_templates = Some(TopTemplates { levels: vec![Level::Error], limit: 5 });
    let res = s.aggregate_blocking(&req).unwrap();
    assert_eq!(res.top_templates.len(), 1);
    assert_eq!(res.top_templates[0].count, 14);
    assert_eq!(res.top_templates[0].services, ["b", "e", "c"], "by count, ties by name");
}

#[test]
fn spans_partitions_and_prunes_by_range() {
    let day = 86_400;
    let (_d, s) = store_with(&[
        log("d0a", -2 * day, "svc", Level::Info, "m"),
        log("d1a", -day, "svc", Level::Error, "m"),
        log("d1b", -day + 3600, "svc", Level::Info, "m"),
        log("d2a", 0, "svc", Level::Info, "m"),
        log("d2b", 10, "other", Level::Warning, "m"),
        log("d3a", day, "svc", Level::Critical, "m"),
    ]);
    let mut req = AggregateRequest::new(range(Some(at(-day + 1)), Some(at(day))));
    req.by_service_level = true;
    req.histogram = Some(Histogram { interval_ms: 86_400_000 });
    let res = s.aggregate_blocking(&req).unwrap();
    assert_eq!(res.total, 3, "d1b, d2a, d2b");
    let midnight = |days: i64| Utc.with_ymd_and_hms(2025, 10, 24, 0, 0, 0).unwrap() + ChronoDuration::days(days);
    assert_eq!(
        res.histogram,
        [bucket(midnight(-1), &[(Level::Info, 1)]), bucket(midnight(0), &[(Level::Info, 1), (Level::Warning, 1)])]
    );
    assert_eq!(service_levels(&res), [("other", Level::Warning, 1, 10, 10), ("svc", Level::Info, 2, -day + 3600, 0)]);
    // Unbounded: every day, by metadata alone when only the total is wanted.
    assert_eq!(s.aggregate_blocking(&everything()).unwrap().total, 6);
    let mut req = everything();
    req.by_service_level = true;
    assert_eq!(s.aggregate_blocking(&req).unwrap().total, 6);
}

#[test]
fn uncommitted_logs_are_not_counted() {
    let (_d, s) = store_with(&[log("a", 1, "svc", Level::Error, "boom 1")]);
    s.add_blocking(2, &[log("b", 2, "svc", Level::Error, "boom 2")]).unwrap();
    let mut req = everything();
    req.by_service_level = true;
    req.histogram = Some(Histogram { interval_ms: 60_000 });
    req.top_templates = Some(TopTemplates { levels: vec![], limit: 5 });
    let res = s.aggregate_blocking(&req).unwrap();
    assert_eq!(res.total, 1);
    assert_eq!(res.by_service_level[0].count, 1);
    assert_eq!(res.histogram[0].total, 1);
    assert_eq!(res.top_templates[0].count, 1);
    assert_eq!(s.aggregate_blocking(&everything()).unwrap().total, 1);
    s.commit_blocking(2).unwrap();
    assert_eq!(s.aggregate_blocking(&req).unwrap().top_templates[0].count, 2);
}

#[test]
fn unusable_histograms_are_client_errors() {
    let (_d, s) = store_with(&[log("a", 1, "svc", Level::Info, "m")]);
    for interval_ms in [0, -60_000, i64::MAX] {
        let mut req = everything();
        req.histogram = Some(Histogram { interval_ms });
        assert!(matches!(s.aggregate_blocking(&req), Err(StoreError::InvalidQuery(_))), "{interval_ms}");
    }
    // One millisecond over a whole day is too many buckets; over a minute it is fine.
    let mut req = everything();
    req.histogram = Some(Histogram { interval_ms: 1 });
    assert!(matches!(s.aggregate_blocking(&req), Err(StoreError::InvalidQuery(_))));
    req.range = range(Some(at(0)), Some(at(60)));
    assert_eq!(s.aggregate_blocking(&req).unwrap().histogram.len(), 1);
    // The limit counts the time that exists: an unbounded range over one day at 1 s is fine.
    const { assert!(86_400 < MAX_HISTOGRAM_BUCKETS) };
    req.range = TimeRange::default();
    req.histogram = Some(Histogram { interval_ms: 1_000 });
    assert_eq!(s.aggregate_blocking(&req).unwrap().total, 1);
}

/// A tiny deterministic generator (no dependency for one test).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `(count, first, last)` of a (service, level) pair.
type SeenAt = (u64, DateTime<Utc>, DateTime<Utc>);
/// `(count, last, count per service)` of a template.
type TemplateSeen = (u64, DateTime<Utc>, HashMap<String, u64>);
/// A request shape: query word, services, levels, start and end (seconds after t0), interval.
type Shape<'a> = (Option<&'a str>, &'a [&'a str], &'a [Level], Option<i64>, Option<i64>, i64);

/// Brute force over the records themselves, for [`matches_brute_force_over_many_segments`].
fn expected(logs: &[LogRecord], req: &AggregateRequest, query_word: Option<&str>) -> AggregateResult {
    let mut out = AggregateResult::default();
    let mut by_sl: BTreeMap<(String, Level), SeenAt> = BTreeMap::new();
    let mut hist: BTreeMap<i64, LevelCounts> = BTreeMap::new();
    let mut templates: HashMap<String, TemplateSeen> = HashMap::new();
    for r in logs {
        let keep = req.range.contains(r.timestamp)
            && (req.services.is_empty() || req.services.contains(&r.service))
            && (req.levels.is_empty() || req.levels.contains(&r.level))
            && query_word.is_none_or(|w| r.message.split(|c: char| !c.is_alphanumeric()).any(|m| m == w));
        if !keep {
            continue;
        }
        out.total += 1;
        let e = by_sl.entry((r.service.clone(), r.level)).or_insert((0, r.timestamp, r.timestamp));
        *e = (e.0 + 1, e.1.min(r.timestamp), e.2.max(r.timestamp));
        let interval = req.histogram.unwrap().interval_ms;
        hist.entry(r.timestamp.timestamp_millis().div_euclid(interval) * interval).or_default().add(r.level, 1);
        let tt = req.top_templates.as_ref().unwrap();
        if tt.levels.contains(&r.level) {
            let e = templates.entry(message_template(&r.message)).or_insert((0, r.timestamp, HashMap::new()));
            e.0 += 1;
            e.1 = e.1.max(r.timestamp);
            *e.2.entry(r.service.clone()).or_default() += 1;
        }
    }
    out.by_service_level = by_sl
        .into_iter()
        .map(|((service, level), (count, first_ts, last_ts))| ServiceLevelCount {
            service,
            level,
            count,
            first_ts,
            last_ts,
        })
        .collect();
    out.histogram = hist
        .into_iter()
        .map(|(start_ms, c)| HistogramBucket { start_ms, total: c.total(), counts_by_level: c })
        .collect();
    let mut top: Vec<TemplateCount> = templates
        .into_iter()
        .map(|(template, (count, last_ts, services))| {
            let mut services: Vec<(String, u64)> = services.into_iter().collect();
            services.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let services = services.into_iter().take(TEMPLATE_SERVICES).map(|(s, _)| s).collect();
            TemplateCount { template, count, services, last_ts }
        })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.template.cmp(&b.template)));
    top.truncate(req.top_templates.as_ref().unwrap().limit);
    out.top_templates = top;
    out
}

#[test]
fn matches_brute_force_over_many_segments() {
    let (_d, s) = open();
    let services = ["api", "auth", "billing", "search", "mail"];
    let messages =
        ["request {} timeout after {}ms", "user {} logged in", "cache miss for key {}", "job {} failed: disk full"];
    let mut rng = Lcg(42);
    let mut logs = Vec::new();
    // Four commits, so several segments per day; three days.
    for batch in 0..4u64 {
        let mut staged = Vec::new();
        for i in 0..700 {
            let secs = rng.below(3 * 86_400) as i64 - 2 * 86_400;
            let msg = messages[rng.below(4) as usize].replacen("{}", &rng.below(1000).to_string(), 1).replacen(
                "{}",
                &rng.below(90).to_string(),
                1,
            );
            let level = Level::ALL[rng.below(5) as usize];
            let mut r = log(&format!("b{batch}n{i}"), 0, services[rng.below(5) as usize], level, &msg);
            r.timestamp = at(secs) + ChronoDuration::microseconds(rng.below(1_000_000) as i64);
            staged.push(r);
        }
        s.add_blocking(batch + 1, &staged).unwrap();
        s.commit_blocking(batch + 1).unwrap();
        logs.extend(staged);
    }
    let shapes: &[Shape] = &[
        (None, &[], &[], None, None, 3_600_000),
        (None, &[], &[], Some(-86_400 - 1234), Some(40_000), 300_000),
        (Some("timeout"), &[], &[], None, Some(0), 900_000),
        (None, &["auth", "mail"], &[Level::Error, Level::Info], Some(-100_000), None, 86_400_000),
        (Some("failed"), &["billing"], &[], Some(-3 * 86_400), Some(3 * 86_400), 60_000),
    ];
    for (word, svcs, levels, start, end, interval_ms) in shapes {
        let mut req = AggregateRequest::new(range(start.map(at), end.map(at)));
        req.query = word.map_or(Query::All, |w| parse(w).unwrap());
        req.services = svcs.iter().map(|s| s.to_string()).collect();
        req.levels = levels.to_vec();
        req.by_service_level = true;
        req.histogram = Some(Histogram { interval_ms: *interval_ms });
        req.top_templates = Some(TopTemplates { levels: vec![Level::Error, Level::Critical], limit: 7 });
        let got = s.aggregate_blocking(&req).unwrap();
        assert!(got.total > 0, "a case that matches nothing proves little: {word:?} {svcs:?}");
        assert_eq!(got, expected(&logs, &req, *word), "{word:?} {svcs:?} {levels:?} {start:?}..{end:?}");
    }
}

/// The schema before `template` was added: today's minus its last field.
fn schema_without_template() -> Schema {
    let (current, _) = schema::build_schema();
    let mut b = Schema::builder();
    for (_, entry) in current.fields().filter(|(_, e)| e.name() != schema::TEMPLATE) {
        b.add_field(entry.clone());
    }
    b.build()
}

/// Writes a day partition the way a server from before templates did.
fn write_old_partition(root: &Path, logs: &[LogRecord], lsn: u64) {
    let dir = root.join(partition::Partition::dir_name(logs[0].timestamp.date_naive()));
    std::fs::create_dir_all(&dir).unwrap();
    let index = tantivy::Index::create_in_dir(&dir, schema_without_template()).unwrap();
    let (_, fields) = schema::build_schema();
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 15 << 20).unwrap();
    for r in logs {
        let source = serde_json::to_vec(r).unwrap();
        writer.add_document(schema::to_document(&fields, schema::Optional { template: false }, r, &source)).unwrap();
    }
    let mut prepared = writer.prepare_commit().unwrap();
    prepared.set_payload(&lsn.to_string());
    prepared.commit().unwrap();
}

#[test]
fn partitions_written_before_templates_still_open_search_and_aggregate() {
    let dir = tempfile::tempdir().unwrap();
    let yesterday = |secs| {
        let mut r = log(&format!("old{secs}"), secs, "legacy", Level::Error, &format!("old failure {secs}"));
        r.timestamp -= ChronoDuration::days(1);
        r
    };
    write_old_partition(dir.path(), &[yesterday(1), yesterday(2)], 3);
    let s = TantivyStore::open(dir.path(), WriterConfig { heap_bytes: 20 << 20, ..Default::default() }).unwrap();
    assert!(!s.inner.partitions_newest_first()[0].optional().template);
    // More logs for the old day (into its old schema) and for a new day (with templates).
    s.add_blocking(4, &[yesterday(3), log("new1", 1, "fresh", Level::Error, "new failure 1")]).unwrap();
    s.add_blocking(5, &[log("new2", 2, "fresh", Level::Error, "new failure 2")]).unwrap();
    s.commit_blocking(5).unwrap();
    assert_eq!(s.search_blocking(&SearchRequest::new(parse("failure").unwrap())).unwrap().total, 5);
    let mut req = everything();
    req.by_service_level = true;
    req.histogram = Some(Histogram { interval_ms: 3_600_000 });
    req.top_templates = Some(TopTemplates { levels: vec![Level::Error], limit: 10 });
    let res = s.aggregate_blocking(&req).unwrap();
    assert_eq!(res.total, 5);
    assert_eq!(
        service_levels(&res),
        [("fresh", Level::Error, 2, 1, 2), ("legacy", Level::Error, 3, 1 - 86_400, 3 - 86_400)]
    );
    assert_eq!(res.histogram.iter().map(|b| b.total).sum::<u64>(), 5);
    // Old logs have no template: only the new day's count.
    let templates: Vec<(&str, u64)> = res.top_templates.iter().map(|t| (t.template.as_str(), t.count)).collect();
    assert_eq!(templates, [("new failure <num>", 2)]);
    // Replay protection still reads the old partition's payload.
    assert_eq!(s.inner.partitions_newest_first()[1].committed_lsn(), 5);
}

#[test]
fn a_partition_with_an_incompatible_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("2025-10-24");
    std::fs::create_dir_all(&day).unwrap();
    let mut b = Schema::builder();
    b.add_u64_field("id", tantivy::schema::INDEXED);
    tantivy::Index::create_in_dir(&day, b.build()).unwrap();
    let err = TantivyStore::open(dir.path(), WriterConfig::default()).err().expect("refused");
    assert!(err.to_string().contains("field 'id'"), "{err}");
}

#[tokio::test]
async fn the_trait_method_runs_on_the_blocking_pool() {
    let (_d, s) = store_with(&[log("a", 1, "svc", Level::Info, "m"), log("b", 2, "svc", Level::Error, "m")]);
    let store: Arc<dyn LogStore> = Arc::new(s);
    let mut req = everything();
    req.levels = vec![Level::Error];
    assert_eq!(store.aggregate(&req).await.unwrap().total, 1);
}
