//! `/api/v1/correlation`: every log of one correlation id, as a timeline across services.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::metrics::BACKEND_TANTIVY;
use crate::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use logflow_core::model::{format_timestamp, is_valid_id};
use logflow_core::query::{Field, Query};
use logflow_core::search::{Cursor, SearchRequest, MAX_LIMIT};
use logflow_core::LogRecord;
use serde::Serialize;
use utoipa::ToSchema;

/// Most logs one trace loads; request flows have tens, not thousands.
const MAX_TRACE_LOGS: usize = 5 * MAX_LIMIT;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/correlation/trace/{correlation_id}", get(trace))
}

/// One service's part of a correlated flow.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct ServiceBreakdown {
    pub service: String,
    /// Timestamp of the service's first log in the flow.
    pub first_seen: String,
    /// Timestamp of the service's last log in the flow.
    pub last_seen: String,
    pub log_count: usize,
    /// `last_seen - first_seen`, in milliseconds.
    pub time_ms: f64,
}

/// Every log of one correlation id, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CorrelationTrace {
    pub correlation_id: String,
    pub total_logs: usize,
    /// Timestamp of the first log.
    pub start_time: String,
    /// Timestamp of the last log.
    pub end_time: String,
    /// `end_time - start_time`, in milliseconds.
    pub duration_ms: f64,
    /// Services in order of their first log.
    pub services: Vec<String>,
    /// Per service, in the order of `services`.
    pub service_breakdown: Vec<ServiceBreakdown>,
    /// The first ERROR or CRITICAL log, or null.
    pub first_error: Option<LogRecord>,
    /// Oldest first (ties by id).
    pub logs: Vec<LogRecord>,
    /// True when the id has more than 50,000 logs: only the newest 50,000 are in this trace.
    pub truncated: bool,
}

fn millis_between(from: &DateTime<Utc>, to: &DateTime<Utc>) -> f64 {
    (*to - *from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3
}

/// Build the trace of `logs`, which must be non-empty and oldest first.
fn build_trace(correlation_id: String, logs: Vec<LogRecord>) -> CorrelationTrace {
    let mut breakdown: Vec<(String, DateTime<Utc>, DateTime<Utc>, usize)> = Vec::new();
    for log in &logs {
        match breakdown.iter_mut().find(|b| b.0 == log.service) {
            Some(b) => {
                b.2 = log.timestamp;
                b.3 += 1;
            }
            None => breakdown.push((log.service.clone(), log.timestamp, log.timestamp, 1)),
        }
    }
    let (start, end) = (logs[0].timestamp, logs[logs.len() - 1].timestamp);
    CorrelationTrace {
        correlation_id,
        total_logs: logs.len(),
        start_time: format_timestamp(&start),
        end_time: format_timestamp(&end),
        duration_ms: millis_between(&start, &end),
        services: breakdown.iter().map(|b| b.0.clone()).collect(),
        service_breakdown: breakdown
            .into_iter()
            .map(|(service, first, last, log_count)| ServiceBreakdown {
                service,
                first_seen: format_timestamp(&first),
                last_seen: format_timestamp(&last),
                log_count,
                time_ms: millis_between(&first, &last),
            })
            .collect(),
        first_error: logs.iter().find(|l| l.level.is_error()).cloned(),
        logs,
        truncated: false,
    }
}

/// Trace a correlation id across services.
///
/// Every log with this `correlation_id`, oldest first, with the services involved (in order of
/// first appearance), each service's share of the flow, and the first ERROR or CRITICAL log.
#[utoipa::path(get, path = "/api/v1/correlation/trace/{correlation_id}", tag = "trace",
    params(("correlation_id" = String, Path, description = "Correlation id (1..=128 of `[A-Za-z0-9._:-]`)")),
    responses(
        (status = 200, body = CorrelationTrace),
        (status = 400, description = "Invalid correlation id", body = ErrorBody),
        (status = 404, description = "No log has this correlation id", body = ErrorBody),
    ))]
pub async fn trace(
    State(st): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<CorrelationTrace>> {
    let Path(id) = id.map_err(|e| ApiError::BadRequest(format!("invalid correlation id: {}", e.body_text())))?;
    if !is_valid_id(&id) {
        return Err(ApiError::BadRequest(
            "invalid correlation id: use 1 to 128 characters of A-Z a-z 0-9 . _ : -".into(),
        ));
    }
    let mut req = SearchRequest::new(Query::Term { field: Field::CorrelationId, value: id.clone() });
    req.limit = MAX_LIMIT;
    req.count_total = false;
    let mut logs: Vec<LogRecord> = Vec::new();
    let mut truncated = false;
    loop {
        let page = st.metrics.time_store_query("correlation_trace", BACKEND_TANTIVY, st.store.search(&req)).await?;
        let last = page.hits.last().map(Cursor::of);
        logs.extend(page.hits);
        match (page.next_cursor, last) {
            // A runaway id (e.g. a constant sent by a misconfigured client) must not pull an
            // unbounded number of logs into memory: keep the newest MAX_TRACE_LOGS.
            (Some(_), Some(_)) if logs.len() >= MAX_TRACE_LOGS => {
                truncated = true;
                break;
            }
            (Some(_), Some(last)) => req.after = Some(last),
            _ => break,
        }
    }
    if logs.is_empty() {
        return Err(ApiError::NotFound(format!("no log has correlation id '{id}'")));
    }
    // The store answers newest first by (timestamp, id): reversed, oldest first.
    logs.reverse();
    let mut trace = build_trace(id, logs);
    trace.truncated = truncated;
    Ok(Json(trace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use logflow_core::Level;

    fn log(id: &str, secs: i64, micros: u32, service: &str, level: Level) -> LogRecord {
        LogRecord {
            id: id.into(),
            timestamp: DateTime::from_timestamp(1_700_000_000 + secs, micros * 1000).unwrap(),
            service: service.into(),
            level,
            message: "m".into(),
            host: None,
            correlation_id: Some("c".into()),
            request_id: None,
            trace_id: None,
            span_id: None,
            attributes: Default::default(),
        }
    }

    #[test]
    fn trace_summarises_services_and_errors() {
        let logs = vec![
            log("a", 0, 0, "gw", Level::Info),
            log("b", 0, 250_000, "pay", Level::Info),
            log("c", 1, 0, "pay", Level::Error),
            log("d", 1, 500, "gw", Level::Critical),
        ];
        let t = build_trace("c".into(), logs);
        assert_eq!(t.total_logs, 4);
        assert_eq!(t.services, ["gw", "pay"]);
        assert_eq!(t.duration_ms, 1000.5);
        assert_eq!(t.start_time, "2023-11-14T22:13:20.000000Z");
        assert_eq!(t.first_error.as_ref().map(|l| l.id.as_str()), Some("c"));
        assert_eq!(
            t.service_breakdown.iter().map(|b| (b.service.as_str(), b.log_count, b.time_ms)).collect::<Vec<_>>(),
            [("gw", 2, 1000.5), ("pay", 2, 750.0)]
        );

        let t = build_trace("c".into(), vec![log("a", 0, 0, "gw", Level::Warning)]);
        assert!(t.first_error.is_none());
        assert_eq!((t.duration_ms, t.service_breakdown[0].time_ms), (0.0, 0.0));
    }
}
