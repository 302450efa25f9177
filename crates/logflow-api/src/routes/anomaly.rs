//! `/api/v1/anomaly`: anomalies in log volume and error rate over a recent window.
//!
//! Series are one point per whole minute of the window (`window_minutes`, 10..=1440, ending at the
//! last full minute), built from the store's histogram aggregation: log volume is the count per
//! minute (empty minutes count 0); error rate is the ERROR + CRITICAL share in percent (minutes
//! without logs are left out). The batch detectors of `logflow-anomaly` analyse them.
//!
//! The detect endpoints answer the spec's JSON array; when there were too few points to analyse
//! (fewer than 5) the array is empty and `X-Anomaly-Skipped` says why. The report adds
//! `skipped_reason` per analysed series.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::metrics::BACKEND_TANTIVY;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use logflow_anomaly::{check_window_minutes, detect, Anomaly, AnomalyReport, DetectOptions, DetectionReport, Point};
use logflow_core::time::TimeRange;
use logflow_core::Level;
use logflow_store::aggregate::Histogram;
use logflow_store::AggregateRequest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/anomaly/detect/log-volume", get(log_volume))
        .route("/api/v1/anomaly/detect/error-rate", get(error_rate))
        .route("/api/v1/anomaly/report", get(report))
}

/// Services analysed one by one in a report (the busiest ones).
pub const REPORT_SERVICES: usize = 20;

#[derive(Debug, Deserialize, IntoParams)]
pub struct AnomalyParams {
    /// Minutes to analyse, 10..=1440 (default 60).
    pub window_minutes: Option<i64>,
    /// Only this service (default: all services together).
    pub service: Option<String>,
}

/// Which series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    LogVolume,
    ErrorRate,
}

impl Metric {
    fn name(self) -> &'static str {
        match self {
            Metric::LogVolume => "log_volume",
            Metric::ErrorRate => "error_rate",
        }
    }
}

/// The analysed period: whole minutes ending at the last full minute.
fn period(window_minutes: Option<i64>, now: DateTime<Utc>) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let minutes = window_minutes.unwrap_or(60);
    let minutes = u32::try_from(minutes)
        .ok()
        .and_then(|m| check_window_minutes(m).ok())
        .ok_or_else(|| ApiError::BadRequest(format!("window_minutes must be between 10 and 1440, got {minutes}")))?;
    let end = now.duration_trunc(ChronoDuration::minutes(1)).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((end - ChronoDuration::minutes(minutes.into()), end))
}

/// One point per minute of `[start, end)` for `metric`, from one histogram aggregation.
pub async fn series(
    st: &AppState,
    metric: Metric,
    service: Option<&str>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> ApiResult<Vec<Point>> {
    let mut req = AggregateRequest::new(TimeRange { start: Some(start), end: Some(end) });
    req.services = service.map(|s| vec![s.to_string()]).unwrap_or_default();
    req.histogram = Some(Histogram { interval_ms: 60_000 });
    let agg = st.metrics.time_store_query("aggregate", BACKEND_TANTIVY, st.store.aggregate(&req)).await?;
    let by_minute: BTreeMap<i64, _> = agg.histogram.into_iter().map(|b| (b.start_ms, b)).collect();
    let mut points = Vec::new();
    let mut t = start;
    while t < end {
        let bucket = by_minute.get(&t.timestamp_millis());
        match (metric, bucket) {
            (Metric::LogVolume, b) => points.push(Point::new(t, b.map_or(0, |b| b.total) as f64)),
            (Metric::ErrorRate, Some(b)) if b.total > 0 => {
                let errors = b.counts_by_level.get(Level::Error) + b.counts_by_level.get(Level::Critical);
                points.push(Point::new(t, errors as f64 * 100.0 / b.total as f64));
            }
            (Metric::ErrorRate, _) => {}
        }
        t += ChronoDuration::minutes(1);
    }
    Ok(points)
}

async fn detect_one(
    st: &AppState,
    metric: Metric,
    service: Option<&str>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> ApiResult<DetectionReport> {
    let points = series(st, metric, service, start, end).await?;
    let mut opts = DetectOptions::new(metric.name());
    if let Some(s) = service {
        opts = opts.with_service(s);
    }
    // Detection is CPU work (an isolation forest): keep it off the async workers.
    tokio::task::spawn_blocking(move || detect(&points, &opts)).await.map_err(|e| ApiError::Internal(e.into()))
}

fn anomalies_response(report: DetectionReport) -> Response {
    let reason = report.skipped_reason.clone();
    let mut resp = Json(report.anomalies).into_response();
    if let Some(r) = reason.and_then(|r| HeaderValue::from_str(&r).ok()) {
        resp.headers_mut().insert("x-anomaly-skipped", r);
    }
    resp
}

/// Detect log volume anomalies.
///
/// Logs per minute over the window (all services, or one), analysed by z-score, adaptive moving
/// average and isolation forest; overlapping detections merged keeping the highest severity.
#[utoipa::path(get, path = "/api/v1/anomaly/detect/log-volume", tag = "anomaly", params(AnomalyParams),
    responses(
        (status = 200, description = "Anomalies, most severe first (empty with X-Anomaly-Skipped when under 5 points)", body = [logflow_anomaly::Anomaly]),
        (status = 400, description = "window_minutes outside 10..=1440", body = ErrorBody),
    ))]
pub async fn log_volume(State(st): State<AppState>, Query(p): Query<AnomalyParams>) -> ApiResult<Response> {
    let (start, end) = period(p.window_minutes, Utc::now())?;
    Ok(anomalies_response(detect_one(&st, Metric::LogVolume, p.service.as_deref(), start, end).await?))
}

/// Detect error rate anomalies.
///
/// The ERROR + CRITICAL share of each minute's logs (minutes without logs left out).
#[utoipa::path(get, path = "/api/v1/anomaly/detect/error-rate", tag = "anomaly", params(AnomalyParams),
    responses(
        (status = 200, description = "Anomalies, most severe first (empty with X-Anomaly-Skipped when under 5 points)", body = [logflow_anomaly::Anomaly]),
        (status = 400, description = "window_minutes outside 10..=1440", body = ErrorBody),
    ))]
pub async fn error_rate(State(st): State<AppState>, Query(p): Query<AnomalyParams>) -> ApiResult<Response> {
    let (start, end) = period(p.window_minutes, Utc::now())?;
    Ok(anomalies_response(detect_one(&st, Metric::ErrorRate, p.service.as_deref(), start, end).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesSkipped {
    pub metric_name: String,
    pub service: Option<String>,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportResponse {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub report: AnomalyReport,
    /// Series that had too few points to analyse.
    pub skipped: Vec<SeriesSkipped>,
}

/// Comprehensive anomaly report.
///
/// Log volume and error rate of all services together and of each of the busiest services (up to
/// 20; or only `service`), with counts by severity and by service.
#[utoipa::path(get, path = "/api/v1/anomaly/report", tag = "anomaly", params(AnomalyParams),
    responses(
        (status = 200, body = ReportResponse),
        (status = 400, description = "window_minutes outside 10..=1440", body = ErrorBody),
    ))]
pub async fn report(State(st): State<AppState>, Query(p): Query<AnomalyParams>) -> ApiResult<Json<ReportResponse>> {
    let (start, end) = period(p.window_minutes, Utc::now())?;
    let mut targets: Vec<Option<String>> = Vec::new();
    match &p.service {
        Some(s) => targets.push(Some(s.clone())),
        None => {
            targets.push(None);
            let mut req = AggregateRequest::new(TimeRange { start: Some(start), end: Some(end) });
            req.by_service_level = true;
            let agg = st.metrics.time_store_query("aggregate", BACKEND_TANTIVY, st.store.aggregate(&req)).await?;
            let mut volume: BTreeMap<String, u64> = BTreeMap::new();
            for c in agg.by_service_level {
                *volume.entry(c.service).or_default() += c.count;
            }
            let mut busiest: Vec<(String, u64)> = volume.into_iter().collect();
            busiest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            targets.extend(busiest.into_iter().take(REPORT_SERVICES).map(|(s, _)| Some(s)));
        }
    }
    let mut anomalies: Vec<Anomaly> = Vec::new();
    let mut skipped = Vec::new();
    for service in &targets {
        for metric in [Metric::LogVolume, Metric::ErrorRate] {
            let r = detect_one(&st, metric, service.as_deref(), start, end).await?;
            if let Some(reason) = r.skipped_reason {
                skipped.push(SeriesSkipped { metric_name: r.metric_name, service: r.service, reason });
            }
            anomalies.extend(r.anomalies);
        }
    }
    Ok(Json(ReportResponse { report: AnomalyReport::new(start, end, anomalies), skipped }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_minutes_within_limits() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T10:30:45Z").unwrap().with_timezone(&Utc);
        let (s, e) = period(Some(60), now).unwrap();
        assert_eq!(e.to_rfc3339(), "2026-01-01T10:30:00+00:00");
        assert_eq!(s.to_rfc3339(), "2026-01-01T09:30:00+00:00");
        assert_eq!(period(None, now).unwrap(), (s, e));
        for bad in [9, 1441, -5, 0] {
            let err = period(Some(bad), now).unwrap_err().to_string();
            assert!(err.contains("between 10 and 1440"), "{err}");
        }
        assert!(period(Some(10), now).is_ok() && period(Some(1440), now).is_ok());
    }
}
