//! Aggregations (see [`crate::aggregate`]) as a tantivy collector over fast columns.
//!
//! Per segment, counts accumulate in dense vectors indexed by term ordinal (service, level,
//! template) and by bucket number, reading the columns a block of documents at a time; no string
//! is touched per document and no document is loaded. Ordinals become strings once per segment,
//! when the segment fruits merge, and the partial results of segments and partitions then merge
//! by string.
//!
//! Only partitions overlapping the time range are read, and a time bound outside a partition's
//! day is left out of its query, so an unfiltered request over whole days walks every document
//! without a filter, and one that only wants the total reads segment metadata alone. The segments
//! of a partition are collected in parallel on the store's aggregation pool.

use super::partition::Partition;
use super::query::{and_all, Compiler};
use super::schema::{self, Fields};
use crate::aggregate::{
    AggregateRequest, AggregateResult, HistogramBucket, LevelCounts, ServiceLevelCount, TemplateCount,
    MAX_HISTOGRAM_BUCKETS, TEMPLATE_SERVICES,
};
use crate::{Result, StoreError};
use chrono::{DateTime, Utc};
use logflow_core::Level;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::EnableScoring;
use tantivy::{DocId, Executor, Score, SegmentOrdinal, SegmentReader, COLLECT_BLOCK_BUFFER_LEN};

const LEVELS: usize = Level::ALL.len();
const BLOCK: usize = COLLECT_BLOCK_BUFFER_LEN;

/// Aggregate over `partitions`, running the segments of each on `pool`.
pub fn aggregate(
    fields: &Fields,
    partitions: &[Arc<Partition>],
    pool: &Executor,
    req: &AggregateRequest,
) -> Result<AggregateResult> {
    let start = req.range.start.map(|t| t.timestamp_micros());
    let end = req.range.end.map(|t| t.timestamp_micros());
    let partitions: Vec<&Arc<Partition>> = partitions.iter().filter(|p| p.overlaps(start, end)).collect();
    let plan = Plan::new(req, &partitions, start, end)?;
    let mut acc = Partial::default();
    for p in partitions {
        let (p_start, p_end) = p.bounds_micros();
        let compiler = Compiler { fields, tokenizers: p.tokenizers() };
        let mut clauses = compiler.filters(&req.query, &req.services, &req.levels)?;
        clauses.extend(compiler.time_range(start.filter(|s| *s > p_start), end.filter(|e| *e < p_end)));
        let searcher = p.searcher();
        if clauses.is_empty() && !plan.reads_rows() {
            acc.total += searcher.num_docs();
            continue;
        }
        let scoring = EnableScoring::disabled_from_searcher(&searcher);
        acc.merge(searcher.search_with_executor(&and_all(clauses), &AggCollector { plan }, pool, scoring)?);
    }
    Ok(acc.finish(&plan))
}

/// The validated request, as the collectors need it.
#[derive(Debug, Clone, Copy)]
struct Plan {
    by_service_level: bool,
    /// Histogram bucket width in microseconds.
    interval_us: Option<i64>,
    /// Levels whose templates count, one bit per level; `None`: no templates wanted.
    template_levels: Option<u8>,
    template_limit: usize,
    start: Option<i64>,
    end: Option<i64>,
}

impl Plan {
    fn new(
        req: &AggregateRequest,
        partitions: &[&Arc<Partition>],
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Plan> {
        let interval_us = match req.histogram {
            None => None,
            Some(h) => {
                let us = h.interval_ms.checked_mul(1000).filter(|_| h.interval_ms > 0).ok_or_else(|| {
                    StoreError::InvalidQuery(format!("histogram interval of {} ms is not usable", h.interval_ms))
                })?;
                check_bucket_count(partitions, start, end, us)?;
                Some(us)
            }
        };
        let templates = req.top_templates.as_ref().filter(|t| t.limit > 0);
        let level_bits = |levels: &[Level]| levels.iter().fold(0u8, |bits, l| bits | 1 << *l as u8);
        Ok(Plan {
            by_service_level: req.by_service_level,
            interval_us,
            template_levels: templates.map(|t| level_bits(if t.levels.is_empty() { &Level::ALL } else { &t.levels })),
            template_limit: templates.map_or(0, |t| t.limit),
            start,
            end,
        })
    }

    /// Whether any per-document column must be read (otherwise only the total is wanted).
    fn reads_rows(&self) -> bool {
        self.by_service_level || self.interval_us.is_some() || self.template_levels.is_some()
    }
}

/// Refuses a histogram of more than [`MAX_HISTOGRAM_BUCKETS`] over the time the request can reach:
/// its range clipped to the days that exist.
fn check_bucket_count(partitions: &[&Arc<Partition>], start: Option<i64>, end: Option<i64>, us: i64) -> Result<()> {
    let Some(first) = partitions.iter().map(|p| p.bounds_micros().0).min() else { return Ok(()) };
    let last = partitions.iter().map(|p| p.bounds_micros().1).max().unwrap_or(first);
    let lo = start.map_or(first, |s| s.max(first));
    let hi = end.map_or(last, |e| e.min(last));
    let buckets = (hi - 1).div_euclid(us) - lo.div_euclid(us) + 1;
    if buckets > MAX_HISTOGRAM_BUCKETS {
        return Err(StoreError::InvalidQuery(format!(
            "a histogram interval of {} ms makes {buckets} buckets over this time range (at most \
             {MAX_HISTOGRAM_BUCKETS}); use a larger interval or a shorter range",
            us / 1000
        )));
    }
    Ok(())
}

struct AggCollector {
    plan: Plan,
}

impl Collector for AggCollector {
    type Fruit = Partial;
    type Child = SegmentAgg;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<SegmentAgg> {
        SegmentAgg::new(self.plan, segment)
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<SegmentCounts>) -> tantivy::Result<Partial> {
        let mut acc = Partial::default();
        for fruit in fruits {
            fruit.resolve_into(&mut acc)?;
        }
        Ok(acc)
    }
}

/// Counts of one (service, level) pair, or of a template: how many and when.
#[derive(Debug, Clone, Copy)]
struct Seen {
    count: u64,
    first: i64,
    last: i64,
}

impl Default for Seen {
    fn default() -> Self {
        Seen { count: 0, first: i64::MAX, last: i64::MIN }
    }
}

impl Seen {
    fn add(&mut self, ts: i64) {
        self.count += 1;
        self.first = self.first.min(ts);
        self.last = self.last.max(ts);
    }

    fn merge(&mut self, other: &Seen) {
        self.count += other.count;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }
}

/// One template of one segment, by ordinal.
struct TemplateCell {
    ord: u64,
    seen: Seen,
    /// `(service ordinal, count)`; a template usually comes from one or a few services.
    services: Vec<(u64, u64)>,
}

/// A segment's counts, by ordinal, with the dictionaries that name them.
struct SegmentCounts {
    total: u64,
    services: Option<StrColumn>,
    templates: Option<StrColumn>,
    /// Indexed by `service ordinal * LEVELS + level`.
    by_service_level: Vec<Seen>,
    /// Bucket number (time / interval) of `histogram[0]`.
    first_bucket: i64,
    histogram: Vec<[u64; LEVELS]>,
    /// Index into `template_cells` of each template ordinal (`u32::MAX`: none yet).
    template_slot: Vec<u32>,
    template_cells: Vec<TemplateCell>,
}

/// Per-block scratch space: the columns' values of the block's documents.
struct Buffers {
    ts: [Option<tantivy::DateTime>; BLOCK],
    level: [Option<u64>; BLOCK],
    service: [Option<u64>; BLOCK],
    template: [Option<u64>; BLOCK],
    /// Positions in the block of the documents whose template counts, and their doc ids.
    template_rows: Vec<usize>,
    template_docs: Vec<DocId>,
}

struct SegmentAgg {
    plan: Plan,
    ts: Option<Column<tantivy::DateTime>>,
    level: Option<Column<u64>>,
    service: Option<Column<u64>>,
    template: Option<Column<u64>>,
    /// Level (index into `Level::ALL`) of each level ordinal; `None` for an unknown string.
    level_of_ord: Vec<Option<usize>>,
    counts: SegmentCounts,
    buf: Box<Buffers>,
}

impl SegmentAgg {
    fn new(plan: Plan, segment: &SegmentReader) -> tantivy::Result<SegmentAgg> {
        let ff = segment.fast_fields();
        let rows = plan.reads_rows();
        let wants_service = plan.by_service_level || plan.template_levels.is_some();
        let services = if wants_service { ff.str(schema::SERVICE)? } else { None };
        // Partitions created before templates existed have no such column: no templates there.
        let templates = if plan.template_levels.is_some() { ff.str(schema::TEMPLATE)? } else { None };
        let level = if rows { ff.str(schema::LEVEL)? } else { None };
        let ts = if rows { ff.column_opt::<tantivy::DateTime>(schema::TIMESTAMP)? } else { None };
        let level_of_ord = match &level {
            Some(col) => level_ordinals(col)?,
            None => Vec::new(),
        };
        let (first_bucket, histogram) = match (plan.interval_us, &ts) {
            (Some(us), Some(ts)) => histogram_span(&plan, ts, us),
            _ => (0, Vec::new()),
        };
        let num_services = services.as_ref().map_or(0, |s| s.num_terms());
        let num_templates = templates.as_ref().map_or(0, |t| t.num_terms());
        Ok(SegmentAgg {
            plan,
            ts,
            level: level.map(|c| c.ords().clone()),
            service: services.as_ref().map(|c| c.ords().clone()),
            template: templates.as_ref().map(|c| c.ords().clone()),
            level_of_ord,
            counts: SegmentCounts {
                total: 0,
                by_service_level: if plan.by_service_level {
                    vec![Seen::default(); num_services * LEVELS]
                } else {
                    Vec::new()
                },
                services,
                first_bucket,
                histogram,
                template_slot: vec![u32::MAX; num_templates],
                templates,
                template_cells: Vec::new(),
            },
            buf: Box::new(Buffers {
                ts: [None; BLOCK],
                level: [None; BLOCK],
                service: [None; BLOCK],
                template: [None; BLOCK],
                template_rows: Vec::with_capacity(BLOCK),
                template_docs: Vec::with_capacity(BLOCK),
            }),
        })
    }

    fn block(&mut self, docs: &[DocId]) {
        let n = docs.len();
        let c = &mut self.counts;
        c.total += n as u64;
        if !self.plan.reads_rows() {
            return;
        }
        let b = &mut *self.buf;
        read(&self.level, docs, &mut b.level[..n]);
        read(&self.ts, docs, &mut b.ts[..n]);
        read(&self.service, docs, &mut b.service[..n]);
        b.template_rows.clear();
        for i in 0..n {
            // Every document is written with a level and a timestamp; one without counts in the
            // total only.
            let Some(level) = b.level[i].and_then(|o| self.level_of_ord.get(o as usize).copied().flatten()) else {
                continue;
            };
            let Some(ts) = b.ts[i].map(|t| t.into_timestamp_micros()) else { continue };
            if let Some(us) = self.plan.interval_us {
                let bucket = ts.div_euclid(us) - c.first_bucket;
                if let Some(cell) = usize::try_from(bucket).ok().and_then(|k| c.histogram.get_mut(k)) {
                    cell[level] += 1;
                }
            }
            if let (true, Some(svc)) = (self.plan.by_service_level, b.service[i]) {
                c.by_service_level[svc as usize * LEVELS + level].add(ts);
            }
            if self.plan.template_levels.is_some_and(|bits| bits & (1 << level) != 0) {
                b.template_rows.push(i);
            }
        }
        if b.template_rows.is_empty() || self.template.is_none() {
            return;
        }
        b.template_docs.clear();
        b.template_docs.extend(b.template_rows.iter().map(|&i| docs[i]));
        let m = b.template_docs.len();
        read(&self.template, &b.template_docs, &mut b.template[..m]);
        for (k, &i) in b.template_rows.iter().enumerate() {
            let (Some(ord), Some(ts)) = (b.template[k], b.ts[i]) else { continue };
            c.add_template(ord, b.service[i], ts.into_timestamp_micros());
        }
    }
}

impl SegmentCounts {
    fn add_template(&mut self, ord: u64, service: Option<u64>, ts: i64) {
        let slot = &mut self.template_slot[ord as usize];
        if *slot == u32::MAX {
            *slot = self.template_cells.len() as u32;
            self.template_cells.push(TemplateCell { ord, seen: Seen::default(), services: Vec::new() });
        }
        let cell = &mut self.template_cells[*slot as usize];
        cell.seen.add(ts);
        if let Some(svc) = service {
            match cell.services.iter_mut().find(|(s, _)| *s == svc) {
                Some((_, n)) => *n += 1,
                None => cell.services.push((svc, 1)),
            }
        }
    }

    /// Name the ordinals and add the counts to `acc`.
    fn resolve_into(self, acc: &mut Partial) -> io::Result<()> {
        acc.total += self.total;
        for (k, cell) in self.histogram.iter().enumerate() {
            if cell.iter().any(|&n| n > 0) {
                let sum = acc.histogram.entry(self.first_bucket + k as i64).or_default();
                for (s, n) in sum.iter_mut().zip(cell) {
                    *s += n;
                }
            }
        }
        let used = |i: &usize| self.by_service_level[*i].count > 0;
        let service_ords = (0..self.by_service_level.len()).filter(used).map(|i| (i / LEVELS) as u64);
        let template_service_ords = self.template_cells.iter().flat_map(|c| c.services.iter().map(|(s, _)| *s));
        let services = names(self.services.as_ref(), service_ords.chain(template_service_ords).collect())?;
        for (i, seen) in self.by_service_level.iter().enumerate().filter(|(i, _)| used(i)) {
            let key = (services[&((i / LEVELS) as u64)].clone(), Level::ALL[i % LEVELS]);
            acc.by_service_level.entry(key).or_default().merge(seen);
        }
        let templates = names(self.templates.as_ref(), self.template_cells.iter().map(|c| c.ord).collect())?;
        for cell in self.template_cells {
            let t = acc.templates.entry(templates[&cell.ord].clone()).or_default();
            t.seen.merge(&cell.seen);
            for (svc, n) in cell.services {
                *t.services.entry(services[&svc].clone()).or_default() += n;
            }
        }
        Ok(())
    }
}

impl SegmentCollector for SegmentAgg {
    type Fruit = SegmentCounts;

    fn collect(&mut self, doc: DocId, _: Score) {
        self.block(&[doc]);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        for chunk in docs.chunks(BLOCK) {
            self.block(chunk);
        }
    }

    fn harvest(self) -> SegmentCounts {
        self.counts
    }
}

/// The first value of each document (`None` when it has none or the column is missing).
fn read<T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static>(
    col: &Option<Column<T>>,
    docs: &[DocId],
    out: &mut [Option<T>],
) {
    out.fill(None);
    if let Some(col) = col {
        col.first_vals(docs, out);
    }
}

/// The level of each ordinal of the `level` column (the canonical names as written).
fn level_ordinals(col: &StrColumn) -> io::Result<Vec<Option<usize>>> {
    let mut out = Vec::with_capacity(col.num_terms());
    let mut terms = col.dictionary().stream()?;
    while terms.advance() {
        out.push(Level::ALL.iter().position(|l| l.as_str().as_bytes() == terms.key()));
    }
    Ok(out)
}

/// First bucket number and the zeroed buckets for the segment's timestamps within the range.
fn histogram_span(plan: &Plan, ts: &Column<tantivy::DateTime>, us: i64) -> (i64, Vec<[u64; LEVELS]>) {
    let lo = ts.min_value().into_timestamp_micros().max(plan.start.unwrap_or(i64::MIN));
    let hi = ts.max_value().into_timestamp_micros().min(plan.end.map_or(i64::MAX, |e| e - 1));
    if lo > hi {
        return (0, Vec::new());
    }
    let first = lo.div_euclid(us);
    // Within a day, and the request's whole span was checked against the bucket limit.
    let len = (hi.div_euclid(us) - first + 1).min(MAX_HISTOGRAM_BUCKETS);
    (first, vec![[0; LEVELS]; len as usize])
}

/// The strings of `ords` in a str column.
fn names(col: Option<&StrColumn>, mut ords: Vec<u64>) -> io::Result<HashMap<u64, String>> {
    let mut out = HashMap::with_capacity(ords.len());
    let Some(col) = col else { return Ok(out) };
    ords.sort_unstable();
    ords.dedup();
    let mut next = ords.iter();
    let all_found = col.dictionary().sorted_ords_to_term_cb(ords.iter().copied(), |term| {
        let ord = *next.next().expect("one callback per ordinal");
        out.insert(ord, String::from_utf8_lossy(term).into_owned());
        Ok(())
    })?;
    if !all_found {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "term ordinal missing from its column dictionary"));
    }
    Ok(out)
}

#[derive(Default)]
struct TemplateTotals {
    seen: Seen,
    services: HashMap<String, u64>,
}

/// Counts named by string: of a partition, then of the whole request.
#[derive(Default)]
struct Partial {
    total: u64,
    by_service_level: HashMap<(String, Level), Seen>,
    /// By bucket number.
    histogram: BTreeMap<i64, [u64; LEVELS]>,
    templates: HashMap<String, TemplateTotals>,
}

impl Partial {
    fn merge(&mut self, other: Partial) {
        self.total += other.total;
        for (key, seen) in other.by_service_level {
            self.by_service_level.entry(key).or_default().merge(&seen);
        }
        for (bucket, counts) in other.histogram {
            let sum = self.histogram.entry(bucket).or_default();
            for (s, n) in sum.iter_mut().zip(counts) {
                *s += n;
            }
        }
        for (template, t) in other.templates {
            let sum = self.templates.entry(template).or_default();
            sum.seen.merge(&t.seen);
            for (svc, n) in t.services {
                *sum.services.entry(svc).or_default() += n;
            }
        }
    }

    fn finish(self, plan: &Plan) -> AggregateResult {
        let mut by_service_level: Vec<ServiceLevelCount> = self
            .by_service_level
            .into_iter()
            .map(|((service, level), seen)| ServiceLevelCount {
                service,
                level,
                count: seen.count,
                first_ts: utc(seen.first),
                last_ts: utc(seen.last),
            })
            .collect();
        by_service_level.sort_unstable_by(|a, b| a.service.cmp(&b.service).then(a.level.cmp(&b.level)));
        let interval_ms = plan.interval_us.map_or(0, |us| us / 1000);
        let histogram = self
            .histogram
            .into_iter()
            .map(|(bucket, counts)| {
                let mut by_level = LevelCounts::default();
                for (level, n) in Level::ALL.into_iter().zip(counts) {
                    by_level.add(level, n);
                }
                HistogramBucket { start_ms: bucket * interval_ms, total: by_level.total(), counts_by_level: by_level }
            })
            .collect();
        let mut top_templates: Vec<TemplateCount> = self
            .templates
            .into_iter()
            .map(|(template, t)| {
                let mut services: Vec<(String, u64)> = t.services.into_iter().collect();
                services.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                TemplateCount {
                    template,
                    count: t.seen.count,
                    services: services.into_iter().take(TEMPLATE_SERVICES).map(|(s, _)| s).collect(),
                    last_ts: utc(t.seen.last),
                }
            })
            .collect();
        top_templates.sort_unstable_by(|a, b| b.count.cmp(&a.count).then_with(|| a.template.cmp(&b.template)));
        top_templates.truncate(plan.template_limit);
        AggregateResult { total: self.total, by_service_level, histogram, top_templates }
    }
}

fn utc(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}
