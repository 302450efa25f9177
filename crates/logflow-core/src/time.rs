//! Time parsing shared by every endpoint that takes a time range.
//!
//! Absolute times are RFC 3339 (`2025-10-24T08:30:00Z`, any offset, converted to UTC). Relative
//! durations (`since=15m`) are a positive integer followed by a unit: `s`, `m`, `h`, `d`, `w`.

use chrono::{DateTime, Duration, Utc};

/// Parse an RFC 3339 timestamp into UTC.
pub fn parse_rfc3339(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("'{raw}' is not an RFC 3339 timestamp ({e}); example: 2025-10-24T08:30:00Z"))
}

/// Parse a relative duration such as `15m`, `1h`, `7d`, `30s`, `2w`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    let err = || format!("'{raw}' is not a duration; use a number and a unit s, m, h, d or w (e.g. 15m, 1h, 7d)");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().map_err(|_| err())?;
    if n <= 0 {
        return Err(format!("duration '{raw}' must be positive"));
    }
    let secs_per_unit = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(err()),
    };
    // Cap at ~100 years so the arithmetic below can never overflow.
    n.checked_mul(secs_per_unit)
        .filter(|secs| *secs <= 100 * 365 * 86_400)
        .map(Duration::seconds)
        .ok_or_else(|| format!("duration '{raw}' is too large"))
}

/// A resolved, half-open time window `[start, end)`; either side may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// Resolve the API's `start_time`, `end_time` and `since` parameters against `now`.
    /// `since` and `start_time` are mutually exclusive.
    pub fn from_params(
        start_time: Option<&str>,
        end_time: Option<&str>,
        since: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TimeRange, String> {
        let start_time = start_time.filter(|s| !s.trim().is_empty());
        let end_time = end_time.filter(|s| !s.trim().is_empty());
        let since = since.filter(|s| !s.trim().is_empty());
        if start_time.is_some() && since.is_some() {
            return Err("give either start_time or since, not both".into());
        }
        let end = end_time.map(parse_rfc3339).transpose()?;
        let start = match (start_time, since) {
            (Some(s), _) => Some(parse_rfc3339(s)?),
            (None, Some(d)) => Some(end.unwrap_or(now) - parse_duration(d)?),
            (None, None) => None,
        };
        if let (Some(s), Some(e)) = (start, end) {
            if s >= e {
                return Err(format!(
                    "start_time ({}) must be before end_time ({})",
                    crate::model::format_timestamp(&s),
                    crate::model::format_timestamp(&e)
                ));
            }
        }
        Ok(TimeRange { start, end })
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m").unwrap(), Duration::minutes(15));
        assert_eq!(parse_duration("1h").unwrap(), Duration::hours(1));
        assert_eq!(parse_duration("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_duration("30s").unwrap(), Duration::seconds(30));
        assert_eq!(parse_duration("2w").unwrap(), Duration::days(14));
        for bad in ["", "m", "15", "1y", "-5m", "0m", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_converts_to_utc() {
        assert_eq!(t("2025-10-24T10:30:00+02:00"), t("2025-10-24T08:30:00Z"));
        let e = parse_rfc3339("yesterday").unwrap_err();
        assert!(e.contains("RFC 3339"), "{e}");
    }

    #[test]
    fn range_from_params() {
        let now = t("2025-10-24T12:00:00Z");
        let r = TimeRange::from_params(None, None, Some("1h"), now).unwrap();
        assert_eq!(r.start, Some(t("2025-10-24T11:00:00Z")));
        assert_eq!(r.end, None);
        let r = TimeRange::from_params(None, Some("2025-10-24T06:00:00Z"), Some("1h"), now).unwrap();
        assert_eq!(r.start, Some(t("2025-10-24T05:00:00Z")));
        assert!(TimeRange::from_params(Some("2025-10-24T06:00:00Z"), None, Some("1h"), now).is_err());
        let e =
            TimeRange::from_params(Some("2025-10-24T06:00:00Z"), Some("2025-10-24T05:00:00Z"), None, now).unwrap_err();
        assert!(e.contains("must be before"), "{e}");
        assert_eq!(TimeRange::from_params(Some(""), None, None, now).unwrap(), TimeRange::default());
    }

    #[test]
    fn range_is_half_open() {
        let r = TimeRange { start: Some(t("2025-01-01T00:00:00Z")), end: Some(t("2025-01-02T00:00:00Z")) };
        assert!(r.contains(t("2025-01-01T00:00:00Z")));
        assert!(!r.contains(t("2025-01-02T00:00:00Z")));
    }
}
