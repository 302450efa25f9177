//! `/api/v1/metrics/*`: analytics over the stored logs (overview, one service, time series) and the
//! ingest pipeline itself (system). Log figures come from the store's aggregations over columnar
//! fields ([`logflow_store::LogStore::aggregate`]): no document is loaded.
//!
//! Every answer is cached (see [`crate::cache_keys`]) for the spec's TTL per endpoint, under a key
//! made of every parameter that changes it; `X-Cache: HIT|MISS` says which. Relative ranges
//! (`since=1h`, or the default) are keyed by their text, so a cached answer is at most one TTL old.
//!
//! Time parameters are the search endpoint's: `start_time`, `end_time` (RFC 3339) or `since`
//! (`15m`, `24h`), plus `query`, `service` and `level` filters. Defaults: the last 24 hours for the
//! overview and service metrics, the last 60 intervals for a time series.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::metrics::{ProcessStats, BACKEND_TANTIVY};
use crate::routes::logs::{parse_params, parse_query, SearchParams};
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use logflow_core::model::format_timestamp;
use logflow_core::time::TimeRange;
use logflow_core::Level;
use logflow_store::aggregate::{Histogram, LevelCounts, TopTemplates};
use logflow_store::{AggregateRequest, AggregateResult};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/metrics/overview", get(overview))
        .route("/api/v1/metrics/service/{name}", get(service))
        .route("/api/v1/metrics/system", get(system))
        .route("/api/v1/metrics/timeseries", get(timeseries))
}

/// Error rate (percent of ERROR + CRITICAL) from which a service is `degraded` / `unhealthy`.
pub const DEGRADED_ERROR_RATE: f64 = 5.0;
pub const UNHEALTHY_ERROR_RATE: f64 = 25.0;
/// Silence (seconds since the service's last log) from which it is `degraded` / `unhealthy`.
pub const DEGRADED_SILENCE_SECS: i64 = 5 * 60;
pub const UNHEALTHY_SILENCE_SECS: i64 = 15 * 60;
/// Error message groups listed in an overview.
pub const TOP_ERRORS: usize = 10;
/// Buckets of a time series without a start.
pub const DEFAULT_BUCKETS: i64 = 60;
/// Most buckets one time series may have (a week of minutes).
pub const MAX_BUCKETS: i64 = 7 * 24 * 60;

/// The parameters that change an answer, in a canonical order: the cache key's suffix.
fn canonical(raw: Option<&str>, extra: &[&str]) -> ApiResult<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}")))?;
    let mut kept: Vec<(String, String)> = pairs
        .into_iter()
        .filter_map(|(k, v)| {
            let k = if k == "q" { "query".to_string() } else { k };
            let known = ["query", "service", "level", "start_time", "end_time", "since"].contains(&k.as_str())
                || extra.contains(&k.as_str());
            known.then_some((k, v))
        })
        .collect();
    kept.sort();
    serde_urlencoded::to_string(kept).map_err(|e| ApiError::Internal(e.into()))
}

/// The request's time range, with `default_since` when it names no start.
fn range_of(p: &SearchParams, default_since: &str, now: DateTime<Utc>) -> ApiResult<TimeRange> {
    let since = if p.start_time.is_none() { p.since.as_deref().or(Some(default_since)) } else { None };
    TimeRange::from_params(p.start_time.as_deref(), p.end_time.as_deref(), since, now).map_err(ApiError::BadRequest)
}

/// Serves `key` from the cache, or computes, caches and serves it; `X-Cache` says which.
async fn cached<F, Fut>(
    st: &AppState,
    prefix: &'static str,
    key: String,
    ttl: Duration,
    compute: F,
) -> ApiResult<Response>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Value>>,
{
    let (value, hit) = logflow_kv::get_or_compute(&*st.cache, &key, ttl, compute).await?;
    if hit {
        st.metrics.cache_hit(prefix);
    } else {
        st.metrics.cache_miss(prefix);
    }
    let mut resp = Json(value).into_response();
    resp.headers_mut().insert("x-cache", HeaderValue::from_static(if hit { "HIT" } else { "MISS" }));
    Ok(resp)
}

async fn aggregate(st: &AppState, req: &AggregateRequest) -> ApiResult<AggregateResult> {
    Ok(st.metrics.time_store_query("aggregate", BACKEND_TANTIVY, st.store.aggregate(req)).await?)
}

fn filtered(p: &SearchParams, range: TimeRange) -> ApiResult<AggregateRequest> {
    let mut req = AggregateRequest::new(range);
    req.query = parse_query(p.query.as_deref())?;
    req.services = p.services.clone();
    req.levels = p.levels.clone();
    Ok(req)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn error_rate(errors: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        round2(errors as f64 * 100.0 / total as f64)
    }
}

fn errors_in(c: &LevelCounts) -> u64 {
    c.get(Level::Error) + c.get(Level::Critical)
}

/// `healthy`, `degraded` or `unhealthy` from a service's error rate and silence.
pub fn health_status(error_rate: f64, silent_secs: i64) -> &'static str {
    if error_rate >= UNHEALTHY_ERROR_RATE || silent_secs >= UNHEALTHY_SILENCE_SECS {
        "unhealthy"
    } else if error_rate >= DEGRADED_ERROR_RATE || silent_secs >= DEGRADED_SILENCE_SECS {
        "degraded"
    } else {
        "healthy"
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RangeInfo {
    /// Inclusive start (RFC 3339); absent for an open range.
    pub start_time: Option<String>,
    /// Exclusive end (RFC 3339).
    pub end_time: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rates {
    /// Logs in the minute before the range's end.
    pub logs_per_minute: u64,
    pub logs_per_second: f64,
    /// Logs in the minute before that.
    pub previous_logs_per_minute: u64,
    /// Change against the previous minute, percent (null when the previous minute had none).
    pub trend_percent: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceSummary {
    pub service: String,
    pub total_logs: u64,
    pub errors: u64,
    /// ERROR + CRITICAL share, percent.
    pub error_rate: f64,
    /// healthy, degraded (error rate >= 5 % or silent >= 5 min) or unhealthy (>= 25 % or >= 15 min).
    pub status: &'static str,
    pub last_seen: String,
    /// Seconds between the service's last log and the end of the range.
    pub silent_seconds: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorGroup {
    /// The message with ids, numbers and quoted values replaced by placeholders.
    pub message: String,
    pub count: u64,
    pub services: Vec<String>,
    pub last_seen: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    pub time_range: RangeInfo,
    pub total_logs: u64,
    #[serde(flatten)]
    pub rates: Rates,
    pub active_services: usize,
    /// DEBUG, INFO, WARNING, ERROR, CRITICAL -> count.
    #[schema(value_type = Object)]
    pub logs_by_level: LevelCounts,
    /// ERROR + CRITICAL share of all logs, percent.
    pub error_rate: f64,
    /// Service -> error rate, percent.
    pub error_rate_by_service: BTreeMap<String, f64>,
    pub top_errors: Vec<ErrorGroup>,
    pub services: Vec<ServiceSummary>,
    pub generated_at: String,
}

/// Computes the overview of the logs matching `req`'s filters (one service's, for the service page).
async fn compute_overview(st: &AppState, req: AggregateRequest, now: DateTime<Utc>) -> ApiResult<Overview> {
    let end = req.range.end.unwrap_or(now).min(now);
    let mut main = req.clone();
    main.by_service_level = true;
    main.top_templates = Some(TopTemplates { levels: vec![Level::Error, Level::Critical], limit: TOP_ERRORS });
    let minute = |from: i64, to: i64| {
        let mut r = req.clone();
        r.range = TimeRange {
            start: Some(end - ChronoDuration::seconds(from)),
            end: Some(end - ChronoDuration::seconds(to)),
        };
        r
    };
    let (last_minute, previous_minute) = (minute(60, 0), minute(120, 60));
    let (agg, last, prev) =
        tokio::try_join!(aggregate(st, &main), aggregate(st, &last_minute), aggregate(st, &previous_minute))?;

    let mut levels = LevelCounts::default();
    let mut per_service: BTreeMap<String, (LevelCounts, DateTime<Utc>)> = BTreeMap::new();
    for c in &agg.by_service_level {
        levels.add(c.level, c.count);
        let e = per_service.entry(c.service.clone()).or_insert((LevelCounts::default(), c.last_ts));
        e.0.add(c.level, c.count);
        e.1 = e.1.max(c.last_ts);
    }
    let services: Vec<ServiceSummary> = per_service
        .iter()
        .map(|(name, (counts, last_ts))| {
            let rate = error_rate(errors_in(counts), counts.total());
            let silent = (end - *last_ts).num_seconds().max(0);
            ServiceSummary {
                service: name.clone(),
                total_logs: counts.total(),
                errors: errors_in(counts),
                error_rate: rate,
                status: health_status(rate, silent),
                last_seen: format_timestamp(last_ts),
                silent_seconds: silent,
            }
        })
        .collect();
    let trend_percent =
        (prev.total > 0).then(|| round2((last.total as f64 - prev.total as f64) * 100.0 / prev.total as f64));
    Ok(Overview {
        time_range: RangeInfo {
            start_time: req.range.start.map(|s| format_timestamp(&s)),
            end_time: format_timestamp(&end),
        },
        total_logs: agg.total,
        rates: Rates {
            logs_per_minute: last.total,
            logs_per_second: round2(last.total as f64 / 60.0),
            previous_logs_per_minute: prev.total,
            trend_percent,
        },
        active_services: services.len(),
        error_rate: error_rate(errors_in(&levels), levels.total()),
        logs_by_level: levels,
        error_rate_by_service: services.iter().map(|s| (s.service.clone(), s.error_rate)).collect(),
        top_errors: agg
            .top_templates
            .into_iter()
            .map(|t| ErrorGroup {
                message: t.template,
                count: t.count,
                services: t.services,
                last_seen: format_timestamp(&t.last_ts),
            })
            .collect(),
        services,
        generated_at: format_timestamp(&now),
    })
}

fn to_value<T: Serialize>(v: &T) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(|e| ApiError::Internal(e.into()))
}

/// Overall metrics.
///
/// Totals, rates (last minute against the one before), active services, counts by level, error
/// rates overall and per service, the most frequent error messages (grouped by template), and each
/// service's health. Cached 30 s.
#[utoipa::path(get, path = "/api/v1/metrics/overview", tag = "metrics",
    params(
        ("start_time" = Option<String>, Query, description = "RFC 3339 start (inclusive)"),
        ("end_time" = Option<String>, Query, description = "RFC 3339 end (exclusive); default now"),
        ("since" = Option<String>, Query, description = "Relative start such as 15m, 24h, 7d (default 24h)"),
        ("query" = Option<String>, Query, description = "Search query restricting the logs counted"),
        ("service" = Option<String>, Query, description = "Only these services (repeat or comma-separate)"),
        ("level" = Option<String>, Query, description = "Only these levels (repeat or comma-separate)"),
    ),
    responses(
        (status = 200, description = "Overview (header X-Cache: HIT or MISS)", body = Overview),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
    ))]
pub async fn overview(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let key = format!("metrics:overview:{}", canonical(raw.as_deref(), &[])?);
    let p = parse_params(raw)?;
    let now = Utc::now();
    let req = filtered(&p, range_of(&p, "24h", now)?)?;
    let ttl = st.cache_ttls.overview;
    cached(&st, "metrics:overview", key, ttl, || async { to_value(&compute_overview(&st, req, now).await?) }).await
}

/// Metrics of one service.
///
/// The overview restricted to one service, plus when it was first and last seen. 404 for a
/// service that has never logged. Cached 60 s.
#[utoipa::path(get, path = "/api/v1/metrics/service/{name}", tag = "metrics",
    params(
        ("name" = String, Path, description = "Service name"),
        ("start_time" = Option<String>, Query, description = "RFC 3339 start (inclusive)"),
        ("end_time" = Option<String>, Query, description = "RFC 3339 end (exclusive); default now"),
        ("since" = Option<String>, Query, description = "Relative start (default 24h)"),
        ("query" = Option<String>, Query, description = "Search query restricting the logs counted"),
        ("level" = Option<String>, Query, description = "Only these levels"),
    ),
    responses(
        (status = 200, description = "Service metrics (header X-Cache)", body = Overview),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
        (status = 404, description = "No log of this service was ever stored", body = ErrorBody),
    ))]
pub async fn service(
    State(st): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let key = format!("metrics:service:{name}:{}", canonical(raw.as_deref(), &[])?);
    let mut p = parse_params(raw)?;
    p.services = vec![name.clone()];
    let now = Utc::now();
    let req = filtered(&p, range_of(&p, "24h", now)?)?;
    let ttl = st.cache_ttls.service;
    cached(&st, "metrics:service", key, ttl, || async {
        let mut ever = AggregateRequest::new(TimeRange::default());
        ever.services = vec![name.clone()];
        ever.by_service_level = true;
        let ever = aggregate(&st, &ever).await?;
        if ever.total == 0 {
            return Err(ApiError::NotFound(format!("no log of service '{name}' has been stored")));
        }
        let overview = compute_overview(&st, req, now).await?;
        let mut v = to_value(&overview)?;
        let first = ever.by_service_level.iter().map(|c| c.first_ts).min();
        let last = ever.by_service_level.iter().map(|c| c.last_ts).max();
        v["service"] = Value::String(name.clone());
        v["first_seen"] = first.map(|t| Value::String(format_timestamp(&t))).unwrap_or(Value::Null);
        v["last_seen"] = last.map(|t| Value::String(format_timestamp(&t))).unwrap_or(Value::Null);
        v["all_time_logs"] = Value::from(ever.total);
        Ok(v)
    })
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartitionInfo {
    pub name: String,
    pub docs: u64,
    pub bytes_on_disk: u64,
}

/// System metrics.
///
/// The ingest pipeline itself: ingest rate (last minute), accepted/indexed/rejected counts, WAL
/// backlog, index size and documents per partition, commit latency, memory and uptime. Cached 45 s.
#[utoipa::path(get, path = "/api/v1/metrics/system", tag = "metrics",
    responses((status = 200, description = "System metrics (header X-Cache)", body = Object)))]
pub async fn system(State(st): State<AppState>) -> ApiResult<Response> {
    let ttl = st.cache_ttls.system;
    cached(&st, "metrics:system", "metrics:system".to_string(), ttl, || async {
        let p = st.pipeline.stats();
        let s = st.store.stats().await?;
        let proc = ProcessStats::read();
        let partitions: Vec<PartitionInfo> = s
            .partitions
            .iter()
            .map(|x| PartitionInfo { name: x.name.clone(), docs: x.docs, bytes_on_disk: x.bytes_on_disk })
            .collect();
        let pool = st.meta.pool_stats();
        Ok(serde_json::json!({
            "ingest": {
                "logs_per_second": round2(st.ingest_rate.per_second()),
                "accepted_total": p.accepted_records,
                "indexed_total": p.indexed_records,
                "rejected_backpressure_total": p.rejected_backpressure,
                "replayed_at_start": p.replayed_records,
                "indexer_healthy": p.indexer_healthy,
                "indexer_errors": p.indexer_errors,
            },
            "wal": {
                "pending_bytes": p.pending_bytes,
                "max_pending_bytes": p.max_pending_bytes,
                "backlog_ratio": if p.max_pending_bytes == 0 { 0.0 } else { round2(p.pending_bytes as f64 / p.max_pending_bytes as f64) },
                "segments": p.wal.segments,
                "committed_lsn": p.committed_lsn,
            },
            "index": {
                "engine": s.engine,
                "documents": s.docs,
                "bytes_on_disk": s.bytes_on_disk,
                "partitions": partitions,
                "commits": p.commits,
                "last_commit_ms": p.last_commit_ms,
            },
            "memory": {
                "resident_bytes": proc.resident_bytes,
                "virtual_bytes": proc.virtual_bytes,
            },
            "database": {"engine": st.meta.backend(), "connections": pool.size, "idle": pool.idle},
            "cache": {"engine": st.cache.backend(), "status": st.cache.health().status},
            "uptime_seconds": st.started.elapsed().as_secs(),
            "version": env!("CARGO_PKG_VERSION"),
            "generated_at": format_timestamp(&Utc::now()),
        }))
    })
    .await
}

/// `1m`, `5m`, `15m`, `1h`, `1d`.
fn parse_interval(raw: Option<&str>) -> ApiResult<(&'static str, i64)> {
    match raw.unwrap_or("1m") {
        "1m" => Ok(("1m", 60)),
        "5m" => Ok(("5m", 300)),
        "15m" => Ok(("15m", 900)),
        "1h" => Ok(("1h", 3600)),
        "1d" => Ok(("1d", 86400)),
        other => Err(ApiError::BadRequest(format!("interval must be one of 1m, 5m, 15m, 1h, 1d, not '{other}'"))),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    /// Start of the bucket (RFC 3339); buckets are aligned to UTC (1h on the hour, 1d at midnight).
    pub timestamp: String,
    pub total: u64,
    /// DEBUG, INFO, WARNING, ERROR, CRITICAL -> count.
    #[schema(value_type = Object)]
    pub levels: LevelCounts,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimeSeries {
    pub interval: &'static str,
    pub interval_seconds: i64,
    pub time_range: RangeInfo,
    pub total: u64,
    /// Every bucket of the range in time order, empty ones with zeros.
    pub buckets: Vec<Bucket>,
}

/// Time series.
///
/// Log counts per bucket, split by level, over the range (default: the last 60 intervals), with
/// empty buckets filled with zeros. Cached 120 s.
#[utoipa::path(get, path = "/api/v1/metrics/timeseries", tag = "metrics",
    params(
        ("interval" = Option<String>, Query, description = "1m (default), 5m, 15m, 1h or 1d"),
        ("start_time" = Option<String>, Query, description = "RFC 3339 start (inclusive)"),
        ("end_time" = Option<String>, Query, description = "RFC 3339 end (exclusive); default now"),
        ("since" = Option<String>, Query, description = "Relative start (default 60 intervals)"),
        ("query" = Option<String>, Query, description = "Search query restricting the logs counted"),
        ("service" = Option<String>, Query, description = "Only these services"),
        ("level" = Option<String>, Query, description = "Only these levels"),
    ),
    responses(
        (status = 200, description = "Buckets (header X-Cache)", body = TimeSeries),
        (status = 400, description = "Invalid parameter, or more than a week of minutes", body = ErrorBody),
    ))]
pub async fn timeseries(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let key = format!("metrics:timeseries:{}", canonical(raw.as_deref(), &["interval"])?);
    let interval_param = serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or(""))
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == "interval")
        .map(|(_, v)| v);
    let (interval, secs) = parse_interval(interval_param.as_deref())?;
    let p = parse_params(raw)?;
    let now = Utc::now();
    let step = secs * 1000;
    let range = TimeRange::from_params(p.start_time.as_deref(), p.end_time.as_deref(), p.since.as_deref(), now)
        .map_err(ApiError::BadRequest)?;
    let end = range.end.unwrap_or(now);
    // Default: the last 60 buckets, the newest being the one `end` falls in.
    let start = range.start.unwrap_or_else(|| {
        let newest = (end.timestamp_millis() - 1).div_euclid(step) * step;
        DateTime::from_timestamp_millis(newest - (DEFAULT_BUCKETS - 1) * step).unwrap_or(end)
    });
    let first = start.timestamp_millis().div_euclid(step) * step;
    let last = (end.timestamp_millis() - 1).div_euclid(step) * step;
    let buckets = (last - first) / step + 1;
    if buckets > MAX_BUCKETS {
        return Err(ApiError::BadRequest(format!(
            "{buckets} buckets of {interval} is more than the {MAX_BUCKETS} a series may have; use a larger interval or a shorter range"
        )));
    }
    let mut req = filtered(&p, TimeRange { start: Some(start), end: Some(end) })?;
    req.histogram = Some(Histogram { interval_ms: step });
    let ttl = st.cache_ttls.timeseries;
    cached(&st, "metrics:timeseries", key, ttl, || async {
        let agg = aggregate(&st, &req).await?;
        let mut filled: BTreeMap<i64, LevelCounts> =
            (0..buckets).map(|i| (first + i * step, LevelCounts::default())).collect();
        for b in agg.histogram {
            if let Some(slot) = filled.get_mut(&b.start_ms) {
                *slot = b.counts_by_level;
            }
        }
        let series = TimeSeries {
            interval,
            interval_seconds: secs,
            time_range: RangeInfo { start_time: Some(format_timestamp(&start)), end_time: format_timestamp(&end) },
            total: agg.total,
            buckets: filled
                .into_iter()
                .map(|(ms, levels)| Bucket {
                    timestamp: format_timestamp(&DateTime::from_timestamp_millis(ms).unwrap_or_default()),
                    total: levels.total(),
                    levels,
                })
                .collect(),
        };
        to_value(&series)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_thresholds() {
        assert_eq!(health_status(0.0, 0), "healthy");
        assert_eq!(health_status(4.99, 299), "healthy");
        assert_eq!(health_status(5.0, 0), "degraded");
        assert_eq!(health_status(0.0, 300), "degraded");
        assert_eq!(health_status(25.0, 0), "unhealthy");
        assert_eq!(health_status(0.0, 900), "unhealthy");
    }

    #[test]
    fn cache_keys_ignore_order_and_unrelated_parameters() {
        let a = canonical(Some("service=b&level=ERROR&since=1h&utm=x"), &[]).unwrap();
        let b = canonical(Some("since=1h&level=ERROR&service=b"), &[]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, canonical(Some("since=2h&level=ERROR&service=b"), &[]).unwrap());
        assert_eq!(canonical(Some("q=x"), &[]).unwrap(), canonical(Some("query=x"), &[]).unwrap());
        assert_ne!(canonical(Some("interval=5m"), &["interval"]).unwrap(), canonical(None, &["interval"]).unwrap());
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval(None).unwrap(), ("1m", 60));
        assert_eq!(parse_interval(Some("1d")).unwrap(), ("1d", 86400));
        assert!(parse_interval(Some("2m")).is_err());
    }
}
