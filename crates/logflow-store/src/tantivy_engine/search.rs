//! Newest-first search with a search-after cursor over day partitions.
//!
//! Order is `(timestamp desc, id desc)`. tantivy's top-k by fast field breaks timestamp ties
//! arbitrarily, so each partition is read in two steps: the top `need` hits by timestamp, then the
//! complete set of hits sharing the boundary timestamp, ordered by id (read from the stored record,
//! which the page needs anyway). That makes every page exact
//! even when thousands of logs share one microsecond (a batch ingested without timestamps).

use super::partition::Partition;
use super::query::{and_all, BoxQuery, Compiler};
use super::schema::{self, Fields};
use crate::{Result, StoreError};
use logflow_core::query::Query;
use logflow_core::search::{Cursor, SearchRequest, SearchResult};
use logflow_core::LogRecord;
use std::sync::Arc;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DateTime, DocAddress, Order, Searcher, TantivyDocument, Term};

/// A candidate hit with its record loaded (ties are broken by the record's id).
struct Hit {
    ts: i64,
    rec: LogRecord,
}

pub fn search(fields: &Fields, partitions: &[Arc<Partition>], req: &SearchRequest) -> Result<SearchResult> {
    let start = req.range.start.map(|t| t.timestamp_micros());
    let end = req.range.end.map(|t| t.timestamp_micros());
    let mut total = 0u64;
    let mut hits: Vec<LogRecord> = Vec::with_capacity(req.limit.min(1024));
    // Unfiltered: a partition's match count is its document count, known without a pass.
    let matches_all =
        req.query == Query::All && req.services.is_empty() && req.levels.is_empty() && start.is_none() && end.is_none();
    for p in partitions {
        if !p.overlaps(start, end) {
            continue;
        }
        let p_start = p.bounds_micros().0;
        let compiler = Compiler { fields, tokenizers: p.tokenizers() };
        let searcher = p.searcher();
        let mut clauses = compiler.filters(&req.query, &req.services, &req.levels)?;
        clauses.extend(compiler.time_range(start, end));
        let base = and_all(clauses);
        let need = req.limit.saturating_sub(hits.len());
        // Once the page is full, or the cursor is past this whole day, only counting is left.
        let page_wanted = need > 0 && req.after.as_ref().is_none_or(|c| c.timestamp_micros >= p_start);
        let mut counted = None;
        if page_wanted {
            let count_in_pass = req.count_total && !matches_all;
            let (page, n) =
                partition_page(&compiler, fields, &searcher, &base, req.after.as_ref(), need, count_in_pass)?;
            hits.extend(page.into_iter().map(|h| h.rec));
            counted = n;
        }
        if req.count_total {
            total += match counted {
                Some(n) => n,
                None if matches_all => searcher.num_docs(),
                None => searcher.search(&base, &Count)? as u64,
            };
        } else if need == 0 {
            break;
        }
    }
    if !req.count_total {
        total = hits.len() as u64;
    }
    let next_cursor =
        (hits.len() == req.limit && req.limit > 0).then(|| hits.last().map(|h| Cursor::of(h).encode())).flatten();
    Ok(SearchResult { total, hits, next_cursor })
}

/// Up to `need` hits of one partition after `cursor`, in order. With `count` and no cursor, the
/// page's own pass also counts every match of `base` (returned as `Some`), saving a second pass.
fn partition_page(
    c: &Compiler,
    fields: &Fields,
    searcher: &Searcher,
    base: &BoxQuery,
    cursor: Option<&Cursor>,
    need: usize,
    count: bool,
) -> Result<(Vec<Hit>, Option<u64>)> {
    let mut out = Vec::new();
    let mut query = base.box_clone();
    if let Some(cur) = cursor {
        // Hits sharing the cursor's timestamp come first: those with a smaller id.
        let q = and_all(vec![base.box_clone(), c.timestamp_eq(cur.timestamp_micros)]);
        let mut ties = ties_of(fields, searcher, &q, cur.timestamp_micros)?;
        ties.retain(|h| h.rec.id.as_str() < cur.id.as_str());
        out.extend(ties.into_iter().take(need));
        if out.len() == need {
            return Ok((out, None));
        }
        let older = c.time_range(None, Some(cur.timestamp_micros)).expect("bounded range");
        query = and_all(vec![base.box_clone(), older]);
    }
    let want = need - out.len();
    let collector = TopDocs::with_limit(want).order_by_fast_field::<DateTime>(schema::TIMESTAMP, Order::Desc);
    let (top, counted) = if count && cursor.is_none() {
        let (top, n) = searcher.search(&query, &(collector, Count))?;
        (top, Some(n as u64))
    } else {
        (searcher.search(&query, &collector)?, None)
    };
    let Some(last_ts) = top.last().map(|(ts, _)| ts.into_timestamp_micros()) else {
        return Ok((out, counted));
    };
    let page_is_full = top.len() == want;
    let mut sure = Vec::with_capacity(top.len());
    for (ts, addr) in &top {
        let ts = ts.into_timestamp_micros();
        // On a full page the run at `last_ts` may be cut arbitrarily; it is re-read whole below.
        if !page_is_full || ts > last_ts {
            sure.push(Hit { ts, rec: load(fields, searcher, *addr)? });
        }
    }
    sort_hits(&mut sure);
    let room = want - sure.len();
    out.extend(sure);
    if page_is_full {
        let q = and_all(vec![query.box_clone(), c.timestamp_eq(last_ts)]);
        out.extend(ties_of(fields, searcher, &q, last_ts)?.into_iter().take(room));
    }
    Ok((out, counted))
}

fn ties_of(fields: &Fields, searcher: &Searcher, q: &BoxQuery, ts: i64) -> Result<Vec<Hit>> {
    let set = searcher.search(q, &DocSetCollector)?;
    let mut hits =
        set.into_iter().map(|addr| Ok(Hit { ts, rec: load(fields, searcher, addr)? })).collect::<Result<Vec<_>>>()?;
    sort_hits(&mut hits);
    Ok(hits)
}

fn sort_hits(hits: &mut [Hit]) {
    hits.sort_unstable_by(|a, b| b.ts.cmp(&a.ts).then_with(|| b.rec.id.cmp(&a.rec.id)));
}

fn load(fields: &Fields, searcher: &Searcher, addr: DocAddress) -> Result<LogRecord> {
    let doc: TantivyDocument = searcher.doc(addr)?;
    let bytes = doc
        .get_first(fields.source)
        .and_then(|v| v.as_bytes())
        .ok_or_else(|| StoreError::Engine("stored document has no source".into()))?;
    serde_json::from_slice(bytes).map_err(|e| StoreError::Engine(format!("corrupt stored document: {e}")))
}

pub fn get_by_id(fields: &Fields, partitions: &[Arc<Partition>], id: &str) -> Result<Option<LogRecord>> {
    let q = TermQuery::new(Term::from_field_text(fields.id, id), IndexRecordOption::Basic);
    for p in partitions {
        let searcher = p.searcher();
        if let Some((_, addr)) = searcher.search(&q, &TopDocs::with_limit(1))?.first() {
            return load(fields, &searcher, *addr).map(Some);
        }
    }
    Ok(None)
}
