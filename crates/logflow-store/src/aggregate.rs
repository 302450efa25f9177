//! Engine-neutral aggregation request and result: what the metrics endpoints need (totals, counts
//! by service and level, a time histogram split by level, the most frequent message templates),
//! computed by the engine from columnar data without loading a single log.
//!
//! Filters mean what they mean for search: the query, services and levels are ANDed, and the time
//! range is half-open `[start, end)`. Timestamps are UTC.

use chrono::{DateTime, Utc};
use logflow_core::query::Query;
use logflow_core::time::TimeRange;
use logflow_core::Level;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// Most histogram buckets one request may span (`1m` over 60 days is 86 400). Bounds the engine's
/// memory, and the zero-filled series an API builds from the result.
pub const MAX_HISTOGRAM_BUCKETS: i64 = 100_000;

/// Services listed per template in [`TemplateCount::services`].
pub const TEMPLATE_SERVICES: usize = 3;

/// What to aggregate, over the logs matching the filters.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateRequest {
    pub query: Query,
    /// Any of these services (empty = all).
    pub services: Vec<String>,
    /// Any of these levels (empty = all).
    pub levels: Vec<Level>,
    pub range: TimeRange,
    /// Count per (service, level), with the first and last timestamp of each.
    pub by_service_level: bool,
    pub histogram: Option<Histogram>,
    pub top_templates: Option<TopTemplates>,
}

impl AggregateRequest {
    /// Every log in `range`, nothing but the total requested; set the other fields to add
    /// filters and breakdowns.
    pub fn new(range: TimeRange) -> Self {
        AggregateRequest {
            query: Query::All,
            services: Vec::new(),
            levels: Vec::new(),
            range,
            by_service_level: false,
            histogram: None,
            top_templates: None,
        }
    }
}

/// Counts per fixed interval, split by level. Buckets are aligned to the Unix epoch (UTC): a
/// bucket starts at a multiple of `interval_ms`, so `1h` buckets start on the hour and `1d`
/// buckets at UTC midnight, whatever the requested range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram {
    /// Bucket width in milliseconds; positive. At most [`MAX_HISTOGRAM_BUCKETS`] buckets may fit in
    /// the request's range clipped to the stored days (an unbounded range reaches them all).
    pub interval_ms: i64,
}

/// The most frequent message templates (see [`logflow_core::template`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopTemplates {
    /// Only logs of these levels (empty = all), on top of the request's own filters; e.g.
    /// ERROR and CRITICAL for "top error messages".
    pub levels: Vec<Level>,
    /// How many templates to return, most frequent first.
    pub limit: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AggregateResult {
    /// Logs matching the filters.
    pub total: u64,
    /// Sorted by service, then level; only pairs with logs. Empty unless requested.
    pub by_service_level: Vec<ServiceLevelCount>,
    /// Sorted by time; only buckets with logs (callers zero-fill). Empty unless requested.
    pub histogram: Vec<HistogramBucket>,
    /// Most frequent first (ties: the template text). Empty unless requested. Logs stored before
    /// templates existed have none and are left out.
    pub top_templates: Vec<TemplateCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceLevelCount {
    pub service: String,
    pub level: Level,
    pub count: u64,
    /// Oldest matching log of this service and level.
    pub first_ts: DateTime<Utc>,
    /// Newest matching log of this service and level ("last seen").
    pub last_ts: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramBucket {
    /// Start of the bucket, milliseconds since the Unix epoch; it covers
    /// `[start_ms, start_ms + interval_ms)`.
    pub start_ms: i64,
    pub counts_by_level: LevelCounts,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateCount {
    pub template: String,
    pub count: u64,
    /// Up to [`TEMPLATE_SERVICES`] services logging it, most frequent first.
    pub services: Vec<String>,
    /// Newest log with this template.
    pub last_ts: DateTime<Utc>,
}

/// A count per [`Level`]. Serialises as `{"DEBUG": n, "INFO": n, ...}` with all five levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelCounts([u64; Level::ALL.len()]);

impl LevelCounts {
    pub fn get(&self, level: Level) -> u64 {
        self.0[level as usize]
    }

    pub fn add(&mut self, level: Level, n: u64) {
        self.0[level as usize] += n;
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Every level, in severity order, with its count (zeros included).
    pub fn iter(&self) -> impl Iterator<Item = (Level, u64)> + '_ {
        Level::ALL.into_iter().map(|l| (l, self.get(l)))
    }
}

impl Serialize for LevelCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(Level::ALL.len()))?;
        for (level, n) in self.iter() {
            map.serialize_entry(level.as_str(), &n)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_counts_index_by_level_and_serialise_all_levels() {
        let mut c = LevelCounts::default();
        c.add(Level::Error, 3);
        c.add(Level::Debug, 1);
        c.add(Level::Error, 2);
        assert_eq!((c.get(Level::Error), c.get(Level::Info), c.total()), (5, 0, 6));
        assert_eq!(
            serde_json::to_value(c).unwrap(),
            serde_json::json!({"DEBUG": 1, "INFO": 0, "WARNING": 0, "ERROR": 5, "CRITICAL": 0})
        );
    }
}
