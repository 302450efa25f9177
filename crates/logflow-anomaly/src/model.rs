//! The vocabulary of anomaly detection: points, anomalies, severities and the reports the API
//! returns as they are (field names are the spec's).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::AnomalyError;

/// Fewer points than this give an empty result with a reason (the spec's minimum sample).
pub const MIN_POINTS: usize = 5;
/// Smallest analysis window the API accepts, in minutes.
pub const MIN_WINDOW_MINUTES: u32 = 10;
/// Largest analysis window the API accepts, in minutes (one day).
pub const MAX_WINDOW_MINUTES: u32 = 1_440;

/// Checks an API `window_minutes` parameter against the spec's range (10 to 1440).
pub fn check_window_minutes(minutes: u32) -> Result<u32, AnomalyError> {
    if (MIN_WINDOW_MINUTES..=MAX_WINDOW_MINUTES).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(AnomalyError::WindowOutOfRange { minutes })
    }
}

/// One observation of a series, e.g. the number of logs in a one-minute bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Point {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub timestamp: DateTime<Utc>,
    pub value: f64,
}

impl Point {
    pub fn new(timestamp: DateTime<Utc>, value: f64) -> Self {
        Point { timestamp, value }
    }
}

/// How urgent an anomaly is, from the spec's table: the higher of the band of its z-score
/// (1.0, 2.5, 3.0, 4.0) and the band of its deviation (100 %, 250 %, 300 %, 400 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    /// z 1.0-2.5 or deviation 100-250 %: monitor.
    Low,
    /// z 2.5-3.0 or deviation 250-300 %: review soon.
    Medium,
    /// z 3.0-4.0 or deviation 300-400 %: urgent investigation.
    High,
    /// z above 4.0 or deviation above 400 %: immediate action.
    Critical,
}

impl Severity {
    /// The band of a z-score (its absolute value), `None` below 1.0.
    pub fn from_z_score(z: f64) -> Option<Severity> {
        Self::band(z.abs(), [1.0, 2.5, 3.0, 4.0])
    }

    /// The band of a deviation in percent (its absolute value), `None` below 100 %.
    pub fn from_deviation_percent(percent: f64) -> Option<Severity> {
        Self::band(percent.abs(), [100.0, 250.0, 300.0, 400.0])
    }

    /// The higher of the two bands; `Low` when neither reaches its first band, since the point
    /// was flagged by a detector all the same.
    pub fn classify(z: f64, deviation_percent: Option<f64>) -> Severity {
        let by_deviation = deviation_percent.and_then(Self::from_deviation_percent);
        Self::from_z_score(z).max(by_deviation).unwrap_or(Severity::Low)
    }

    fn band(value: f64, bounds: [f64; 4]) -> Option<Severity> {
        // The upper bounds are exclusive for Critical only: "> 4.0" is critical, 4.0 is high.
        if value > bounds[3] {
            Some(Severity::Critical)
        } else if value >= bounds[2] {
            Some(Severity::High)
        } else if value >= bounds[1] {
            Some(Severity::Medium)
        } else if value >= bounds[0] {
            Some(Severity::Low)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What kind of deviation an anomaly is (the spec's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AnomalyType {
    /// A sudden increase of more than 100 % over the expected value.
    Spike,
    /// A sudden decrease flagged by a statistical method.
    Drop,
    /// Anything else: a smaller increase, or an unusual pattern found by the Isolation Forest.
    PatternChange,
}

impl AnomalyType {
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyType::Spike => "spike",
            AnomalyType::Drop => "drop",
            AnomalyType::PatternChange => "pattern_change",
        }
    }
}

/// The detection method that reported an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Method {
    /// Deviation from the window's mean in window standard deviations.
    ZScore,
    /// Deviation from an adaptive trailing moving average in typical deviations.
    MovingAverage,
    /// Isolation Forest over value, change and local-context features.
    IsolationForest,
}

/// One anomaly, as the spec's endpoints return it, plus the method that found it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Anomaly {
    /// Timestamp of the anomalous point.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub detected_at: DateTime<Utc>,
    /// The series analysed, e.g. `log_volume` or `error_rate`.
    pub metric_name: String,
    /// The service the series belongs to; `null` for a series over all services.
    pub service: Option<String>,
    pub anomaly_type: AnomalyType,
    /// Human-readable summary, e.g. `log_volume spike: 3000.00 (expected ~225.00)`.
    pub description: String,
    /// The method's statistic: |z| for the z-score, the deviation in typical deviations for the
    /// moving average, the isolation score in (0, 1] for the Isolation Forest.
    pub score: f64,
    pub severity: Severity,
    pub actual_value: f64,
    pub expected_value: f64,
    /// `(actual - expected) / |expected|` in percent; `null` when the expected value is 0.
    pub deviation_percent: Option<f64>,
    /// The method whose detection was kept after merging overlapping ones.
    pub method: Method,
}

/// The result of [`crate::detect`] on one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DetectionReport {
    pub metric_name: String,
    pub service: Option<String>,
    /// Points in the series.
    pub points_analyzed: usize,
    /// Anomalies after merging overlapping detections, most severe first.
    pub anomalies: Vec<Anomaly>,
    /// Why nothing was analysed (too few points), `null` otherwise.
    pub skipped_reason: Option<String>,
}

/// The spec's `/api/v1/anomaly/report`: all anomalies of a period, ranked, with counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnomalyReport {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub period_start: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub period_end: DateTime<Utc>,
    pub total_anomalies: usize,
    /// Most severe first, then highest score, then earliest.
    pub anomalies: Vec<Anomaly>,
    /// Count per severity that occurs (`{"critical": 2, "medium": 2}`).
    pub anomalies_by_severity: BTreeMap<Severity, usize>,
    /// Count per service; anomalies of series over all services count under `all`.
    pub anomalies_by_service: BTreeMap<String, usize>,
}

impl AnomalyReport {
    /// Ranks and counts the anomalies of `[period_start, period_end)`, gathered from any number of
    /// [`DetectionReport`]s.
    pub fn new(period_start: DateTime<Utc>, period_end: DateTime<Utc>, mut anomalies: Vec<Anomaly>) -> Self {
        rank(&mut anomalies);
        let mut anomalies_by_severity = BTreeMap::new();
        let mut anomalies_by_service = BTreeMap::new();
        for anomaly in &anomalies {
            *anomalies_by_severity.entry(anomaly.severity).or_insert(0) += 1;
            let service = anomaly.service.clone().unwrap_or_else(|| "all".to_string());
            *anomalies_by_service.entry(service).or_insert(0) += 1;
        }
        AnomalyReport {
            period_start,
            period_end,
            total_anomalies: anomalies.len(),
            anomalies,
            anomalies_by_severity,
            anomalies_by_service,
        }
    }
}

/// Most severe first, then highest score, then earliest.
pub(crate) fn rank(anomalies: &mut [Anomaly]) {
    anomalies.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then(b.score.total_cmp(&a.score)).then(a.detected_at.cmp(&b.detected_at))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn severity_follows_the_spec_table() {
        assert_eq!(Severity::from_z_score(0.99), None);
        assert_eq!(Severity::from_z_score(1.0), Some(Severity::Low));
        assert_eq!(Severity::from_z_score(-2.6), Some(Severity::Medium));
        assert_eq!(Severity::from_z_score(3.5), Some(Severity::High));
        assert_eq!(Severity::from_z_score(4.0), Some(Severity::High));
        assert_eq!(Severity::from_z_score(4.01), Some(Severity::Critical));
        assert_eq!(Severity::from_deviation_percent(99.0), None);
        assert_eq!(Severity::from_deviation_percent(260.0), Some(Severity::Medium));
        assert_eq!(Severity::from_deviation_percent(1233.3), Some(Severity::Critical));
        // The higher band wins; a flagged point is at least low.
        assert_eq!(Severity::classify(1.2, Some(350.0)), Severity::High);
        assert_eq!(Severity::classify(4.5, Some(-20.0)), Severity::Critical);
        assert_eq!(Severity::classify(0.5, None), Severity::Low);
    }

    #[test]
    fn window_minutes_are_checked() {
        assert_eq!(check_window_minutes(10).unwrap(), 10);
        assert_eq!(check_window_minutes(1_440).unwrap(), 1_440);
        assert!(check_window_minutes(9).is_err());
        assert!(check_window_minutes(1_441).is_err());
    }

    fn anomaly(minute: u32, service: Option<&str>, severity: Severity, score: f64) -> Anomaly {
        Anomaly {
            detected_at: Utc.with_ymd_and_hms(2025, 10, 26, 16, minute, 0).unwrap(),
            metric_name: "log_volume".into(),
            service: service.map(String::from),
            anomaly_type: AnomalyType::Spike,
            description: String::new(),
            score,
            severity,
            actual_value: 3000.0,
            expected_value: 225.0,
            deviation_percent: Some(1233.3),
            method: Method::ZScore,
        }
    }

    #[test]
    fn report_ranks_and_counts_with_the_spec_field_names() {
        let start = Utc.with_ymd_and_hms(2025, 10, 26, 16, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2025, 10, 26, 17, 0, 0).unwrap();
        let report = AnomalyReport::new(
            start,
            end,
            vec![
                anomaly(1, Some("auth-service"), Severity::Medium, 2.6),
                anomaly(2, Some("payment-service"), Severity::Critical, 5.0),
                anomaly(3, Some("payment-service"), Severity::Critical, 6.0),
                anomaly(4, None, Severity::Medium, 2.7),
            ],
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["total_anomalies"], 4);
        assert_eq!(json["period_start"], "2025-10-26T16:00:00Z");
        assert_eq!(json["anomalies_by_severity"], serde_json::json!({"critical": 2, "medium": 2}));
        assert_eq!(
            json["anomalies_by_service"],
            serde_json::json!({"payment-service": 2, "auth-service": 1, "all": 1})
        );
        let scores: Vec<f64> = report.anomalies.iter().map(|a| a.score).collect();
        assert_eq!(scores, [6.0, 5.0, 2.7, 2.6]);
        let first = &json["anomalies"][0];
        for field in [
            "detected_at",
            "metric_name",
            "service",
            "anomaly_type",
            "description",
            "score",
            "severity",
            "actual_value",
            "expected_value",
            "deviation_percent",
            "method",
        ] {
            assert!(first.get(field).is_some(), "missing {field}");
        }
        assert_eq!(first["anomaly_type"], "spike");
        assert_eq!(first["severity"], "critical");
        assert_eq!(first["method"], "z_score");
    }
}
