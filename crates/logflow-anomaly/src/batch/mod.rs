//! Window analysis for the API's `detect` and `report` endpoints: three complementary detectors
//! over one window of a series, their detections classified, graded and merged.
//!
//! 1. `zscore`: deviation from the window's mean (spec threshold 1.0).
//! 2. `moving_average`: deviation from a trailing average whose length adapts to the series, in
//!    units of the typical deviation.
//! 3. [`isolation_forest`]: points isolated quickly in the space of value, change from the previous
//!    point, deviation from the trailing average and trailing spread.
//!
//! Detections of the same or adjacent points are one incident: the most severe is kept (spec:
//! "removes overlapping detections, keeps highest severity").

pub mod isolation_forest;
mod moving_average;
mod zscore;

use crate::model::{rank, Anomaly, AnomalyType, DetectionReport, Method, Point, Severity, MIN_POINTS};
use isolation_forest::{IsolationForest, DEFAULT_SAMPLE_SIZE};

/// What to analyse and how sensitively.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectOptions {
    /// Name of the series in the anomalies, e.g. `log_volume` or `error_rate`.
    pub metric_name: String,
    /// The service the series belongs to, `None` for all services.
    pub service: Option<String>,
    /// |z| above which the z-score method reports a point (spec default 1.0).
    pub z_threshold: f64,
    /// Typical deviations from the moving average above which that method reports a point.
    pub moving_average_threshold: f64,
    /// Share of points the Isolation Forest may report (scikit-learn's `contamination`).
    pub contamination: f64,
    /// Isolation score a point must also exceed, so a window without outliers reports none.
    pub min_isolation_score: f64,
    /// Trees in the Isolation Forest.
    pub trees: usize,
    /// Seed of the Isolation Forest's random generator: the same window gives the same result.
    pub seed: u64,
    /// Detections at most this many points apart are merged into one anomaly.
    pub merge_gap_points: usize,
}

impl DetectOptions {
    /// The spec's defaults for the series `metric_name`.
    pub fn new(metric_name: impl Into<String>) -> Self {
        DetectOptions {
            metric_name: metric_name.into(),
            service: None,
            z_threshold: 1.0,
            moving_average_threshold: 3.0,
            contamination: 0.1,
            min_isolation_score: 0.6,
            trees: 100,
            seed: 42,
            merge_gap_points: 1,
        }
    }

    /// The same options for one service's series.
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }
}

/// One method's finding at one point, before classification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Detection {
    pub(crate) index: usize,
    pub(crate) method: Method,
    /// The method's own statistic (see [`Anomaly::score`]).
    pub(crate) score: f64,
    /// Signed deviation in standard deviations, which grades the severity.
    pub(crate) z: f64,
    pub(crate) expected: f64,
}

/// Runs the three detectors over `series` and returns the merged, graded anomalies, most severe
/// first. Points are analysed in time order; non-finite values are ignored. Fewer than
/// [`MIN_POINTS`] points give no anomalies and a `skipped_reason`, not an error.
pub fn detect(series: &[Point], options: &DetectOptions) -> DetectionReport {
    let mut points: Vec<Point> = series.iter().copied().filter(|p| p.value.is_finite()).collect();
    points.sort_by_key(|p| p.timestamp);
    let mut report = DetectionReport {
        metric_name: options.metric_name.clone(),
        service: options.service.clone(),
        points_analyzed: points.len(),
        anomalies: Vec::new(),
        skipped_reason: None,
    };
    if points.len() < MIN_POINTS {
        report.skipped_reason =
            Some(format!("at least {MIN_POINTS} data points are needed for detection, got {}", points.len()));
        return report;
    }
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    // Both the moving average and the Isolation Forest's features use the same trailing windows.
    let window = moving_average::adaptive_window(&values);
    let trailing = moving_average::trailing_stats(&values, window);
    let mut detections = zscore::detect(&values, options.z_threshold);
    detections.extend(moving_average::detect_with(&values, window, &trailing, options.moving_average_threshold));
    detections.extend(isolation_detect(&values, &trailing, options));

    report.anomalies = merge(detections, &values, options.merge_gap_points)
        .into_iter()
        .map(|(detection, severity)| to_anomaly(&points, detection, severity, options))
        .collect();
    rank(&mut report.anomalies);
    report
}

/// The Isolation Forest's detections: the `contamination` share of points with the highest
/// isolation scores, among those above `min_isolation_score`.
fn isolation_detect(values: &[f64], trailing: &[Option<(f64, f64)>], options: &DetectOptions) -> Vec<Detection> {
    const DIMENSIONS: usize = 4;
    let features: Vec<f64> = values
        .iter()
        .enumerate()
        .flat_map(|(i, &value)| {
            let change = if i == 0 { 0.0 } else { value - values[i - 1] };
            let (mean, std) = trailing[i].unwrap_or((value, 0.0));
            [value, change, value - mean, std]
        })
        .collect();
    let scores = IsolationForest::fit_and_score_flat(
        &features,
        values.len(),
        DIMENSIONS,
        options.trees,
        DEFAULT_SAMPLE_SIZE,
        options.seed,
    );

    let allowed = (options.contamination.clamp(0.0, 0.5) * values.len() as f64).floor() as usize;
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mean, std) = zscore::mean_std(values);
    order
        .into_iter()
        .take(allowed)
        .filter(|&i| scores[i] > options.min_isolation_score)
        .map(|index| Detection {
            index,
            method: Method::IsolationForest,
            score: scores[index],
            z: if std > 0.0 { (values[index] - mean) / std } else { 0.0 },
            expected: trailing[index].map_or(mean, |(m, _)| m),
        })
        .collect()
}

/// Groups detections of the same or nearby points (at most `gap` points apart, chained) and keeps
/// the most severe of each group, then the one with the largest |z|, then the earliest.
fn merge(mut detections: Vec<Detection>, values: &[f64], gap: usize) -> Vec<(Detection, Severity)> {
    detections.sort_by_key(|d| d.index);
    let mut merged: Vec<(Detection, Severity)> = Vec::new();
    let mut group_end = None;
    for detection in detections {
        let severity = Severity::classify(detection.z, deviation_of(values[detection.index], detection.expected));
        let joins = group_end.is_some_and(|end: usize| detection.index <= end + gap);
        group_end = Some(detection.index);
        match merged.last_mut() {
            Some((kept, kept_severity)) if joins => {
                if (severity, detection.z.abs()) > (*kept_severity, kept.z.abs()) {
                    *kept = detection;
                    *kept_severity = severity;
                }
            }
            _ => merged.push((detection, severity)),
        }
    }
    merged
}

/// The API record of a kept detection. Its type follows the spec's table: `spike` above the expected
/// value by more than 100 %, `drop` below it when a statistical method found it, `pattern_change`
/// otherwise (smaller increases, and what only the Isolation Forest finds unusual).
fn to_anomaly(points: &[Point], detection: Detection, severity: Severity, options: &DetectOptions) -> Anomaly {
    let point = points[detection.index];
    let deviation = deviation_of(point.value, detection.expected);
    let anomaly_type = if point.value > detection.expected && deviation.is_none_or(|d| d > 100.0) {
        AnomalyType::Spike
    } else if point.value < detection.expected && detection.method != Method::IsolationForest {
        AnomalyType::Drop
    } else {
        AnomalyType::PatternChange
    };
    Anomaly {
        detected_at: point.timestamp,
        metric_name: options.metric_name.clone(),
        service: options.service.clone(),
        anomaly_type,
        description: format!(
            "{} {}: {:.2} (expected ~{:.2})",
            options.metric_name,
            anomaly_type.as_str(),
            point.value,
            detection.expected
        ),
        score: detection.score,
        severity,
        actual_value: point.value,
        expected_value: detection.expected,
        deviation_percent: deviation,
        method: detection.method,
    }
}

/// `(actual - expected) / |expected|` in percent, `None` when the expected value is 0.
fn deviation_of(actual: f64, expected: f64) -> Option<f64> {
    (expected.abs() > f64::EPSILON).then(|| (actual - expected) / expected.abs() * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    fn minutes(values: &[f64]) -> Vec<Point> {
        let start = Utc.with_ymd_and_hms(2025, 10, 26, 16, 0, 0).unwrap();
        values.iter().enumerate().map(|(i, &v)| Point::new(start + Duration::minutes(i as i64), v)).collect()
    }

    fn steady(n: usize) -> Vec<f64> {
        (0..n).map(|i| 225.0 + [0.0, 4.0, -3.0, 2.0, -1.0][i % 5]).collect()
    }

    #[test]
    fn fewer_than_five_points_is_an_empty_result_with_a_reason() {
        let report = detect(&minutes(&[1.0, 2.0, 300.0, 4.0]), &DetectOptions::new("log_volume"));
        assert!(report.anomalies.is_empty());
        assert_eq!(report.points_analyzed, 4);
        assert!(report.skipped_reason.unwrap().contains("at least 5"));
        let json = serde_json::to_value(detect(&minutes(&steady(10)), &DetectOptions::new("x"))).unwrap();
        assert!(json["skipped_reason"].is_null());
    }

    #[test]
    fn a_volume_spike_is_one_critical_spike() {
        let mut values = steady(60);
        values[22] = 3000.0;
        let options = DetectOptions::new("log_volume").with_service("payment-service");
        let report = detect(&minutes(&values), &options);
        let spikes: Vec<&Anomaly> = report.anomalies.iter().filter(|a| a.actual_value == 3000.0).collect();
        assert_eq!(spikes.len(), 1, "{:?}", report.anomalies);
        let spike = spikes[0];
        assert_eq!(spike.anomaly_type, AnomalyType::Spike);
        assert_eq!(spike.severity, Severity::Critical);
        assert_eq!(spike.service.as_deref(), Some("payment-service"));
        assert!((200.0..300.0).contains(&spike.expected_value), "{spike:?}");
        assert!(spike.deviation_percent.unwrap() > 900.0);
        assert!(spike.description.starts_with("log_volume spike: 3000.00 (expected ~"), "{}", spike.description);
        assert_eq!(report.anomalies[0], *spike, "the most severe comes first");
    }

    #[test]
    fn a_drop_is_reported_as_a_drop() {
        let mut values = steady(60);
        values[40] = 5.0;
        let report = detect(&minutes(&values), &DetectOptions::new("log_volume"));
        let drop = report.anomalies.iter().find(|a| a.actual_value == 5.0).expect("drop found");
        assert_eq!(drop.anomaly_type, AnomalyType::Drop);
        assert!(drop.severity >= Severity::High, "{drop:?}");
        assert!(drop.deviation_percent.unwrap() < -90.0);
    }

    #[test]
    fn overlapping_detections_keep_the_most_severe() {
        let at = |index, method, z| Detection { index, method, score: z, z, expected: 10.0 };
        let values = [10.0, 10.0, 12.0, 50.0, 11.0, 10.0, 10.0, 10.0, 13.0];
        let merged = merge(
            vec![
                at(2, Method::ZScore, 1.2),
                at(3, Method::MovingAverage, 4.5),
                at(3, Method::ZScore, 2.0),
                at(4, Method::IsolationForest, 0.5),
                at(8, Method::ZScore, 1.1),
            ],
            &values,
            1,
        );
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].0.index, 3);
        assert_eq!(merged[0].0.method, Method::MovingAverage);
        assert_eq!(merged[0].1, Severity::Critical);
        assert_eq!(merged[1].0.index, 8);
    }

    #[test]
    fn results_are_reproducible_and_a_flat_series_is_quiet() {
        let mut values = steady(300);
        values[100] = 900.0;
        values[200] = 10.0;
        let options = DetectOptions::new("error_rate");
        assert_eq!(detect(&minutes(&values), &options), detect(&minutes(&values), &options));
        assert!(detect(&minutes(&[7.0; 30]), &options).anomalies.is_empty());
    }

    #[test]
    fn unordered_input_and_non_finite_values_are_handled() {
        let mut points = minutes(&steady(30));
        points.reverse();
        points.push(Point::new(points[0].timestamp + Duration::minutes(1), f64::NAN));
        let report = detect(&points, &DetectOptions::new("log_volume"));
        assert_eq!(report.points_analyzed, 30);
    }
}
