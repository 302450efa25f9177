//! The typed view of an alert rule: the stored rule keeps strings and JSON (so the store stays
//! ignorant of alerting), and [`RuleSpec::parse`] turns them into the enums and settings the
//! engine evaluates. Validation ([`crate::validate`]) is that same parse, so a rule the API
//! accepted is a rule the engine can run, and both report the same message for the same mistake.

use std::fmt;

use logflow_anomaly::{Severity, MAX_WINDOW_MINUTES, MIN_WINDOW_MINUTES};
use logflow_core::query::{self, Query};
use logflow_core::Level;
use logflow_meta::{AlertRule, NewAlertRule};
use serde_json::Value;

use crate::channel::Channel;

/// Longest rule name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest `time_window` accepted, in minutes (one week).
pub const MAX_WINDOW: i64 = 10_080;
/// Longest `cooldown_minutes` accepted (one week).
pub const MAX_COOLDOWN: i64 = 10_080;

/// How the measured value is compared with the rule's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    GreaterThan,
    LessThan,
    Equals,
    GreaterThanOrEqual,
    LessThanOrEqual,
}

impl Condition {
    /// Every condition, in the order the spec lists them.
    pub const ALL: [Condition; 5] = [
        Condition::GreaterThan,
        Condition::LessThan,
        Condition::Equals,
        Condition::GreaterThanOrEqual,
        Condition::LessThanOrEqual,
    ];

    /// The condition named `name` exactly as stored (`"greater_than"`, ...).
    pub fn parse(name: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::GreaterThan => "greater_than",
            Condition::LessThan => "less_than",
            Condition::Equals => "equals",
            Condition::GreaterThanOrEqual => "greater_than_or_equal",
            Condition::LessThanOrEqual => "less_than_or_equal",
        }
    }

    /// The operator, for messages: `>`, `<`, `=`, `>=`, `<=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Condition::GreaterThan => ">",
            Condition::LessThan => "<",
            Condition::Equals => "=",
            Condition::GreaterThanOrEqual => ">=",
            Condition::LessThanOrEqual => "<=",
        }
    }

    /// Whether `value` meets the condition against `threshold`. Equality tolerates the rounding
    /// of computed values (a relative 1e-9), so a rate of `0.1 + 0.2` equals a threshold of 0.3.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        let equal = (value - threshold).abs() <= 1e-9 * value.abs().max(threshold.abs()).max(1.0);
        match self {
            Condition::GreaterThan => value > threshold && !equal,
            Condition::LessThan => value < threshold && !equal,
            Condition::Equals => equal,
            Condition::GreaterThanOrEqual => value > threshold || equal,
            Condition::LessThanOrEqual => value < threshold || equal,
        }
    }

    fn allowed() -> String {
        Condition::ALL.map(Condition::as_str).join(", ")
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The series an anomaly rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyMetric {
    /// Matching logs per minute.
    LogVolume,
    /// The share of ERROR and CRITICAL logs among the matching logs, per minute (0 to 1).
    ErrorRate,
}

impl AnomalyMetric {
    /// The name in rule settings and in anomaly reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyMetric::LogVolume => "log_volume",
            AnomalyMetric::ErrorRate => "error_rate",
        }
    }

    fn parse(name: &str) -> Option<AnomalyMetric> {
        [AnomalyMetric::LogVolume, AnomalyMetric::ErrorRate].into_iter().find(|m| m.as_str() == name)
    }
}

/// The `anomaly` settings of an anomaly rule:
/// `{"metric": "log_volume" | "error_rate", "service": "...", "min_severity": "high"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalySettings {
    pub metric: AnomalyMetric,
    /// Watch this one service's series (it replaces the rule's `services`); `None` watches the
    /// logs the rule's filters select.
    pub service: Option<String>,
    /// The least severe anomaly that fires the rule (default [`DEFAULT_MIN_SEVERITY`]).
    pub min_severity: Severity,
}

/// Severity an anomaly must reach when a rule does not say.
pub const DEFAULT_MIN_SEVERITY: Severity = Severity::High;

const SEVERITIES: [Severity; 4] = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

impl AnomalySettings {
    /// Reads the settings object; every mistake is reported with the field's path.
    pub fn parse(value: &Value) -> Result<AnomalySettings, String> {
        let Value::Object(map) = value else {
            return Err(format!(
                "anomaly must be an object like {{\"metric\": \"log_volume\", \"min_severity\": \"high\"}}, got {value}"
            ));
        };
        if let Some(unknown) = map.keys().find(|k| !["metric", "service", "min_severity"].contains(&k.as_str())) {
            return Err(format!("anomaly has an unknown field \"{unknown}\"; allowed: metric, service, min_severity"));
        }
        let metric = match map.get("metric") {
            None | Some(Value::Null) => {
                return Err("anomaly.metric is required: \"log_volume\" or \"error_rate\"".into());
            }
            Some(v) => v
                .as_str()
                .and_then(AnomalyMetric::parse)
                .ok_or_else(|| format!("anomaly.metric must be \"log_volume\" or \"error_rate\", got {v}"))?,
        };
        let service = match map.get("service") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(v) => return Err(format!("anomaly.service must be a non-empty string, got {v}")),
        };
        let min_severity = match map.get("min_severity") {
            None | Some(Value::Null) => DEFAULT_MIN_SEVERITY,
            Some(v) => v
                .as_str()
                .and_then(|s| SEVERITIES.into_iter().find(|sev| sev.as_str() == s.trim().to_ascii_lowercase()))
                .ok_or_else(|| format!("anomaly.min_severity must be one of low, medium, high, critical; got {v}"))?,
        };
        Ok(AnomalySettings { metric, service, min_severity })
    }
}

/// What a rule measures.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// The number of matching logs in the window, compared with the threshold.
    Threshold,
    /// A one-minute series over the window, run through the anomaly detectors.
    Anomaly(AnomalySettings),
}

/// A rule's fields, parsed and checked.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    pub kind: RuleKind,
    pub condition: Condition,
    pub threshold: f64,
    /// Minutes.
    pub time_window: i64,
    /// Empty means every level.
    pub levels: Vec<Level>,
    /// Empty means every service.
    pub services: Vec<String>,
    /// `Query::All` when the rule has none.
    pub query: Query,
    pub channel: Channel,
    /// `None`: the engine's default.
    pub cooldown_minutes: Option<i64>,
}

impl RuleSpec {
    /// Parses and checks every field of a rule as written (see [`crate::validate`] for the
    /// rules). The first mistake found is returned as a message for the API's 400 answer.
    pub fn parse(rule: &NewAlertRule) -> Result<RuleSpec, String> {
        check_name(&rule.name)?;
        let condition = Condition::parse(&rule.condition)
            .ok_or_else(|| format!("condition must be one of {}; got \"{}\"", Condition::allowed(), rule.condition))?;
        if !rule.threshold.is_finite() {
            return Err(format!("threshold must be a finite number, got {}", rule.threshold));
        }
        let kind = match rule.rule_type.as_str() {
            "threshold" => {
                if rule.anomaly.as_ref().is_some_and(|v| !v.is_null()) {
                    return Err("anomaly settings apply only to rule_type \"anomaly\"; remove them or change \
                                rule_type"
                        .into());
                }
                RuleKind::Threshold
            }
            "anomaly" => match &rule.anomaly {
                None | Some(Value::Null) => {
                    return Err("an anomaly rule needs anomaly settings: {\"metric\": \"log_volume\" | \
                                \"error_rate\", \"service\": optional, \"min_severity\": \"low\" | \"medium\" | \
                                \"high\" | \"critical\"}"
                        .into())
                }
                Some(settings) => RuleKind::Anomaly(AnomalySettings::parse(settings)?),
            },
            other => return Err(format!("rule_type must be \"threshold\" or \"anomaly\", got \"{other}\"")),
        };
        check_window(&kind, rule.time_window)?;
        let levels = parse_levels(&rule.levels)?;
        if let RuleKind::Anomaly(AnomalySettings { metric: AnomalyMetric::ErrorRate, .. }) = kind {
            if !levels.is_empty() {
                return Err("levels do not apply to an error_rate anomaly rule (the rate is the ERROR and \
                            CRITICAL share of all matching logs); remove them"
                    .into());
            }
        }
        let services = parse_services(&rule.services)?;
        let query = match rule.query.as_deref() {
            None => Query::All,
            Some(text) => query::parse(text).map_err(|e| format!("query is invalid: {e}"))?,
        };
        let channel = Channel::parse(&rule.notification_channel, &rule.notification_config)?;
        if let Some(cooldown) = rule.cooldown_minutes {
            if !(0..=MAX_COOLDOWN).contains(&cooldown) {
                return Err(format!(
                    "cooldown_minutes must be between 0 and {MAX_COOLDOWN} (one week), got {cooldown}"
                ));
            }
        }
        Ok(RuleSpec {
            kind,
            condition,
            threshold: rule.threshold,
            time_window: rule.time_window,
            levels,
            services,
            query,
            channel,
            cooldown_minutes: rule.cooldown_minutes,
        })
    }

    /// Parses a stored rule (see [`RuleSpec::parse`]).
    pub fn of(rule: &AlertRule) -> Result<RuleSpec, String> {
        RuleSpec::parse(&writable(rule))
    }
}

/// The canonical names (`"ERROR"`, ...) of `levels`, which may use any spelling LogFlow accepts
/// at ingest (`"err"`, `"warn"`, `"fatal"`, `"3"`...); the API can store these.
pub fn canonical_levels(levels: &[String]) -> Result<Vec<String>, String> {
    Ok(parse_levels(levels)?.into_iter().map(|l| l.as_str().to_string()).collect())
}

/// The writable fields of a stored rule.
pub(crate) fn writable(rule: &AlertRule) -> NewAlertRule {
    NewAlertRule {
        name: rule.name.clone(),
        description: rule.description.clone(),
        rule_type: rule.rule_type.clone(),
        condition: rule.condition.clone(),
        threshold: rule.threshold,
        time_window: rule.time_window,
        levels: rule.levels.clone(),
        services: rule.services.clone(),
        query: rule.query.clone(),
        anomaly: rule.anomaly.clone(),
        notification_channel: rule.notification_channel.clone(),
        notification_config: rule.notification_config.clone(),
        is_active: rule.is_active,
        cooldown_minutes: rule.cooldown_minutes,
        created_by: rule.created_by,
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("name must not be empty".into());
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(format!("name must be at most {MAX_NAME_CHARS} characters, got {chars}"));
    }
    Ok(())
}

fn check_window(kind: &RuleKind, minutes: i64) -> Result<(), String> {
    let (min, max) = match kind {
        RuleKind::Threshold => (1, MAX_WINDOW),
        RuleKind::Anomaly(_) => (i64::from(MIN_WINDOW_MINUTES), i64::from(MAX_WINDOW_MINUTES)),
    };
    if (min..=max).contains(&minutes) {
        return Ok(());
    }
    Err(match kind {
        RuleKind::Threshold => {
            format!("time_window must be between 1 and {MAX_WINDOW} minutes (one week), got {minutes}")
        }
        RuleKind::Anomaly(_) => format!(
            "time_window of an anomaly rule must be between {min} and {max} minutes (the detectors compare \
             one-minute points of the window), got {minutes}"
        ),
    })
}

fn parse_levels(levels: &[String]) -> Result<Vec<Level>, String> {
    let mut parsed = Vec::with_capacity(levels.len());
    for (i, raw) in levels.iter().enumerate() {
        let level = Level::normalize(raw).ok_or_else(|| {
            format!("levels[{i}]: unknown level \"{raw}\"; use DEBUG, INFO, WARNING, ERROR or CRITICAL")
        })?;
        if !parsed.contains(&level) {
            parsed.push(level);
        }
    }
    Ok(parsed)
}

fn parse_services(services: &[String]) -> Result<Vec<String>, String> {
    services
        .iter()
        .enumerate()
        .map(|(i, s)| match s.trim() {
            "" => Err(format!("services[{i}] must not be empty")),
            s => Ok(s.to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_compare_as_named() {
        use Condition::*;
        let cases = [
            (GreaterThan, [false, false, true]),
            (LessThan, [true, false, false]),
            (Equals, [false, true, false]),
            (GreaterThanOrEqual, [false, true, true]),
            (LessThanOrEqual, [true, true, false]),
        ];
        for (condition, expected) in cases {
            let got = [9.0, 10.0, 11.0].map(|v| condition.holds(v, 10.0));
            assert_eq!(got, expected, "{condition}");
            assert_eq!(Condition::parse(condition.as_str()), Some(condition));
        }
        assert!(Equals.holds(0.1 + 0.2, 0.3));
        assert!(!GreaterThan.holds(0.1 + 0.2, 0.3));
        assert_eq!(Condition::parse("GREATER_THAN"), None);
    }

    #[test]
    fn levels_are_normalised_and_deduplicated() {
        let raw = ["err", "ERROR", "warn", "fatal", "3"].map(String::from);
        assert_eq!(canonical_levels(&raw).unwrap(), ["ERROR", "WARNING", "CRITICAL"]);
    }
}
