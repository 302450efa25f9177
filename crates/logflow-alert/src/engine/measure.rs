//! Measuring one rule against the log store at one instant: the count of a threshold rule, or
//! the newest significant anomaly of an anomaly rule's one-minute series.

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use logflow_anomaly::{detect, Anomaly, DetectOptions, Point};
use logflow_core::model::format_timestamp;
use logflow_core::search::SearchRequest;
use logflow_core::time::TimeRange;
use logflow_core::Level;
use logflow_store::aggregate::{AggregateRequest, Histogram};
use logflow_store::LogStore;
use reqwest::Url;

use crate::error::AlertError;
use crate::rule::{AnomalyMetric, AnomalySettings, RuleKind, RuleSpec};

/// Log ids kept with an alert as examples.
pub(crate) const SAMPLE_SIZE: usize = 5;

/// The condition recorded on alerts of anomaly rules (their rule's `condition` does not apply).
pub(crate) const ANOMALY_CONDITION: &str = "anomaly";

/// A rule's state at one instant.
#[derive(Debug, Clone)]
pub(crate) struct Measurement {
    /// Whether the rule's condition holds.
    pub fires: bool,
    /// The count (threshold rules) or the series value (anomaly rules: of the anomaly when
    /// firing, of the last minute otherwise).
    pub value: f64,
    /// What `value` was compared with: the rule's threshold, or the anomaly's expected value.
    pub threshold: f64,
    /// The alert's recorded condition: the rule's, or [`ANOMALY_CONDITION`].
    pub condition: String,
    pub sample_log_ids: Vec<String>,
    /// What was measured, as a sentence ("57 ERROR logs ... in the last 5 minutes").
    pub summary: String,
    /// The search that lists the logs the rule counted.
    pub search: SearchLink,
}

impl Measurement {
    /// The alert message when the rule fires.
    pub fn trigger_message(&self, spec: &RuleSpec) -> String {
        match spec.kind {
            RuleKind::Threshold => {
                format!("{} (condition {} {} holds)", self.summary, spec.condition.symbol(), spec.threshold)
            }
            RuleKind::Anomaly(_) => self.summary.clone(),
        }
    }

    /// The message of the recovery notification.
    pub fn recovery_message(&self, spec: &RuleSpec) -> String {
        match spec.kind {
            RuleKind::Threshold => format!(
                "Recovered: {} (condition {} {} no longer holds)",
                self.summary,
                spec.condition.symbol(),
                spec.threshold
            ),
            RuleKind::Anomaly(_) => format!("Recovered: {}", self.summary),
        }
    }
}

/// The parameters of a LogFlow search, rendered as a link by [`SearchLink::url`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SearchLink {
    pub query: Option<String>,
    pub services: Vec<String>,
    pub levels: Vec<Level>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl SearchLink {
    /// `{search_endpoint}?query=..&service=..&level=..&start_time=..&end_time=..`, every value
    /// form-encoded; services and levels repeat their parameter.
    pub fn url(&self, search_endpoint: &Url) -> String {
        let mut url = search_endpoint.clone();
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(query) = self.query.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
                pairs.append_pair("query", query);
            }
            for service in &self.services {
                pairs.append_pair("service", service);
            }
            for level in &self.levels {
                pairs.append_pair("level", level.as_str());
            }
            pairs.append_pair("start_time", &format_timestamp(&self.start));
            pairs.append_pair("end_time", &format_timestamp(&self.end));
        }
        url.into()
    }
}

/// Measures `spec` at `now`. `query_text` is the rule's query as written (for the link);
/// `recent` is how far back an anomaly still fires an anomaly rule.
pub(crate) async fn measure(
    store: &dyn LogStore,
    spec: &RuleSpec,
    query_text: Option<&str>,
    now: DateTime<Utc>,
    recent: TimeDelta,
) -> Result<Measurement, AlertError> {
    match &spec.kind {
        RuleKind::Threshold => threshold(store, spec, query_text, now).await,
        RuleKind::Anomaly(settings) => anomaly(store, spec, settings, query_text, now, recent).await,
    }
}

/// Counts the matching logs of `[now - window, now)` and keeps a few ids.
async fn threshold(
    store: &dyn LogStore,
    spec: &RuleSpec,
    query_text: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Measurement, AlertError> {
    let start = now - TimeDelta::minutes(spec.time_window);
    let search = SearchLink {
        query: query_text.map(String::from),
        services: spec.services.clone(),
        levels: spec.levels.clone(),
        start,
        end: now,
    };
    let (count, sample_log_ids) = count_and_sample(store, spec, &search).await?;
    let value = count as f64;
    let summary = format!(
        "{count} {} in the last {} minute{}",
        selection(&search, count == 1),
        spec.time_window,
        if spec.time_window == 1 { "" } else { "s" }
    );
    Ok(Measurement {
        fires: spec.condition.holds(value, spec.threshold),
        value,
        threshold: spec.threshold,
        condition: spec.condition.as_str().to_string(),
        sample_log_ids,
        summary,
        search,
    })
}

/// Builds the one-minute series of the complete minutes of the window, runs the detectors, and
/// fires on the most severe anomaly of at least `min_severity` found within `recent`.
async fn anomaly(
    store: &dyn LogStore,
    spec: &RuleSpec,
    settings: &AnomalySettings,
    query_text: Option<&str>,
    now: DateTime<Utc>,
    recent: TimeDelta,
) -> Result<Measurement, AlertError> {
    // Whole minutes only: the current, partial minute would look like a drop.
    let end = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    let start = end - TimeDelta::minutes(spec.time_window);
    let services = settings.service.clone().map_or_else(|| spec.services.clone(), |s| vec![s]);
    let levels = match settings.metric {
        AnomalyMetric::LogVolume => spec.levels.clone(),
        AnomalyMetric::ErrorRate => Vec::new(),
    };
    let mut request = AggregateRequest::new(TimeRange { start: Some(start), end: Some(end) });
    request.query = spec.query.clone();
    request.services = services.clone();
    request.levels = levels.clone();
    request.histogram = Some(Histogram { interval_ms: 60_000 });
    let buckets: HashMap<i64, _> =
        store.aggregate(&request).await?.histogram.into_iter().map(|b| (b.start_ms, b)).collect();

    let series: Vec<Point> = (0..spec.time_window)
        .filter_map(|minute| {
            let at = start + TimeDelta::minutes(minute);
            let bucket = buckets.get(&at.timestamp_millis());
            let total = bucket.map_or(0, |b| b.total);
            let value = match settings.metric {
                AnomalyMetric::LogVolume => total as f64,
                // A minute without logs has no error rate: leave it out rather than call it 0.
                AnomalyMetric::ErrorRate => {
                    let counts = bucket.filter(|_| total > 0)?.counts_by_level;
                    (counts.get(Level::Error) + counts.get(Level::Critical)) as f64 / total as f64
                }
            };
            Some(Point::new(at, value))
        })
        .collect();
    let mut options = DetectOptions::new(settings.metric.as_str());
    options.service = settings.service.clone();
    let report = detect(&series, &options);
    let found = report
        .anomalies
        .iter()
        .filter(|a| a.detected_at >= end - recent && a.severity >= settings.min_severity)
        .max_by_key(|a| (a.severity, a.detected_at));

    let search_levels = match settings.metric {
        AnomalyMetric::LogVolume => levels,
        AnomalyMetric::ErrorRate => vec![Level::Error, Level::Critical],
    };
    let link = |start, end| SearchLink {
        query: query_text.map(String::from),
        services: services.clone(),
        levels: search_levels.clone(),
        start,
        end,
    };
    let subject = match &settings.service {
        Some(service) => format!("{} of {service}", settings.metric.as_str()),
        None => settings.metric.as_str().to_string(),
    };
    Ok(match found {
        Some(anomaly) => {
            // Examples from the anomalous minute itself.
            let minute = link(anomaly.detected_at, anomaly.detected_at + TimeDelta::minutes(1));
            let (_, sample_log_ids) = count_and_sample(store, spec, &minute).await?;
            Measurement {
                fires: true,
                value: anomaly.actual_value,
                threshold: anomaly.expected_value,
                condition: ANOMALY_CONDITION.to_string(),
                sample_log_ids,
                summary: describe_anomaly(anomaly, &subject),
                search: link(start, end),
            }
        }
        None => Measurement {
            fires: false,
            value: series.last().map_or(0.0, |p| p.value),
            threshold: 0.0,
            condition: ANOMALY_CONDITION.to_string(),
            sample_log_ids: Vec::new(),
            summary: format!(
                "no {} or more severe anomaly in {subject} over the last {} minutes",
                settings.min_severity.as_str(),
                recent.num_minutes()
            ),
            search: link(start, end),
        },
    })
}

/// The number of logs `search` selects (with the rule's query) and the newest few ids.
async fn count_and_sample(
    store: &dyn LogStore,
    spec: &RuleSpec,
    search: &SearchLink,
) -> Result<(u64, Vec<String>), AlertError> {
    let mut request = SearchRequest::new(spec.query.clone());
    request.services = search.services.clone();
    request.levels = search.levels.clone();
    request.range = TimeRange { start: Some(search.start), end: Some(search.end) };
    request.limit = SAMPLE_SIZE;
    request.count_total = true;
    let result = store.search(&request).await?;
    Ok((result.total, result.hits.into_iter().map(|h| h.id).collect()))
}

/// "ERROR logs from payment-service matching \"timeout\"", or "logs" without filters.
fn selection(search: &SearchLink, singular: bool) -> String {
    let mut text = search.levels.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("/");
    if !text.is_empty() {
        text.push(' ');
    }
    text.push_str(if singular { "log" } else { "logs" });
    if !search.services.is_empty() {
        text.push_str(" from ");
        text.push_str(&search.services.join(", "));
    }
    if let Some(query) = search.query.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        text.push_str(&format!(" matching \"{query}\""));
    }
    text
}

fn describe_anomaly(anomaly: &Anomaly, subject: &str) -> String {
    format!(
        "{} {} in {subject} in the minute from {}: {}",
        anomaly.severity.as_str(),
        anomaly.anomaly_type.as_str().replace('_', " "),
        anomaly.detected_at.format("%Y-%m-%dT%H:%MZ"),
        anomaly.description
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn search_links_encode_every_parameter() {
        let base = Url::parse("https://logs.example.com/prefix/api/v1/logs/search").unwrap();
        let link = SearchLink {
            query: Some("message:\"card declined\" AND amount:>100 & more".into()),
            services: vec!["payment-service".into(), "auth service".into()],
            levels: vec![Level::Error, Level::Critical],
            start: Utc.with_ymd_and_hms(2025, 10, 24, 11, 55, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2025, 10, 24, 12, 0, 0).unwrap(),
        };
        let url = Url::parse(&link.url(&base)).unwrap();
        assert_eq!(url.path(), "/prefix/api/v1/logs/search");
        let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
        let expected = [
            ("query", "message:\"card declined\" AND amount:>100 & more"),
            ("service", "payment-service"),
            ("service", "auth service"),
            ("level", "ERROR"),
            ("level", "CRITICAL"),
            ("start_time", "2025-10-24T11:55:00.000000Z"),
            ("end_time", "2025-10-24T12:00:00.000000Z"),
        ];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_string(), v.to_string())));
        // Nothing that would split or end a parameter is left raw.
        let raw = url.query().unwrap();
        assert!(!raw.contains(' ') && !raw.contains('"') && raw.matches('&').count() == 6, "{raw}");
    }

    #[test]
    fn selections_read_as_a_phrase() {
        let mut link = SearchLink { query: None, services: vec![], levels: vec![], start: Utc::now(), end: Utc::now() };
        assert_eq!(selection(&link, false), "logs");
        assert_eq!(selection(&link, true), "log");
        link.levels = vec![Level::Error, Level::Critical];
        link.services = vec!["api".into(), "db".into()];
        link.query = Some(" timeout ".into());
        assert_eq!(selection(&link, false), "ERROR/CRITICAL logs from api, db matching \"timeout\"");
    }
}
