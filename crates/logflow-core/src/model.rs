//! The log record as LogFlow stores and returns it, and the level normalisation rules.
//!
//! A [`LogRecord`] is always normalised: the timestamp is UTC with microsecond precision, the level is
//! one of the five canonical [`Level`]s, and the id is set (server-assigned ULID unless the client gave
//! one). Everything the client sent that is not a known field lives in `attributes`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// Canonical log levels, ordered by severity.
///
/// Normalisation (case-insensitive, surrounding spaces ignored):
///
/// | input | level |
/// |---|---|
/// | `debug`, `trace`, `verbose`, syslog `7` | DEBUG |
/// | `info`, `information`, `informational`, `notice`, syslog `5`, `6` | INFO |
/// | `warn`, `warning`, syslog `4` | WARNING |
/// | `error`, `err`, syslog `3` | ERROR |
/// | `critical`, `crit`, `fatal`, `alert`, `emergency`, `emerg`, `panic`, syslog `0`, `1`, `2` | CRITICAL |
///
/// Anything else is rejected with a per-item error naming the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl Level {
    pub const ALL: [Level; 5] = [Level::Debug, Level::Info, Level::Warning, Level::Error, Level::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    /// Normalise a textual level (see the table on [`Level`]).
    pub fn normalize(raw: &str) -> Option<Level> {
        let s = raw.trim();
        if let Ok(n) = s.parse::<i64>() {
            return Level::from_syslog(n);
        }
        let lower = s.to_ascii_lowercase();
        Some(match lower.as_str() {
            "debug" | "trace" | "verbose" => Level::Debug,
            "info" | "information" | "informational" | "notice" => Level::Info,
            "warn" | "warning" => Level::Warning,
            "error" | "err" => Level::Error,
            "critical" | "crit" | "fatal" | "alert" | "emergency" | "emerg" | "panic" => Level::Critical,
            _ => return None,
        })
    }

    /// Map a syslog severity number (RFC 5424, 0 = emergency .. 7 = debug).
    pub fn from_syslog(n: i64) -> Option<Level> {
        Some(match n {
            0..=2 => Level::Critical,
            3 => Level::Error,
            4 => Level::Warning,
            5 | 6 => Level::Info,
            7 => Level::Debug,
            _ => return None,
        })
    }

    /// True for the levels counted as errors in error rates (ERROR and CRITICAL).
    pub fn is_error(self) -> bool {
        matches!(self, Level::Error | Level::Critical)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::normalize(s).ok_or_else(|| format!("unknown level '{s}'"))
    }
}

/// A stored log record. Serialises to the JSON shape every API returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Log))]
pub struct LogRecord {
    /// Sortable unique id: a ULID assigned by the server unless the client supplied one.
    pub id: String,
    /// UTC, microsecond precision, RFC 3339 on the wire.
    #[serde(with = "rfc3339_micros")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime, example = "2025-10-24T08:30:00.123456Z"))]
    pub timestamp: DateTime<Utc>,
    pub service: String,
    pub level: Level,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// Free-form structured data; nested objects stay searchable by path (`attributes.user.id:42`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: Map<String, Value>,
}

impl LogRecord {
    /// Microseconds since the Unix epoch (the unit every engine stores).
    pub fn timestamp_micros(&self) -> i64 {
        self.timestamp.timestamp_micros()
    }
}

/// Format a timestamp the way LogFlow always writes it: `2025-10-24T08:30:00.123456Z`.
pub fn format_timestamp(ts: &DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Serde adapter: RFC 3339 with microseconds and a `Z` suffix.
pub mod rfc3339_micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_timestamp(ts))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }
}

/// Records together with their JSON encoding, one NDJSON line each, so that the write-ahead log and
/// the store's stored copy reuse one serialisation instead of two.
#[derive(Debug, Clone, Default)]
pub struct EncodedBatch {
    records: Vec<LogRecord>,
    ndjson: Vec<u8>,
    /// End offset (exclusive, before the newline) of each record's line.
    ends: Vec<usize>,
}

impl EncodedBatch {
    pub fn encode(records: Vec<LogRecord>) -> EncodedBatch {
        let mut ndjson = Vec::with_capacity(records.len() * 320);
        let mut ends = Vec::with_capacity(records.len());
        for r in &records {
            serde_json::to_writer(&mut ndjson, r).expect("a LogRecord always serialises");
            ends.push(ndjson.len());
            ndjson.push(b'\n');
        }
        EncodedBatch { records, ndjson, ends }
    }

    /// Parse NDJSON written by [`EncodedBatch::encode`] (e.g. a WAL record being replayed).
    pub fn decode(ndjson: Vec<u8>) -> Result<EncodedBatch, serde_json::Error> {
        let mut records = Vec::new();
        let mut ends = Vec::new();
        let mut start = 0;
        for (i, b) in ndjson.iter().enumerate() {
            if *b == b'\n' {
                if i > start {
                    records.push(serde_json::from_slice(&ndjson[start..i])?);
                    ends.push(i);
                }
                start = i + 1;
            }
        }
        if start < ndjson.len() {
            records.push(serde_json::from_slice(&ndjson[start..])?);
            ends.push(ndjson.len());
        }
        Ok(EncodedBatch { records, ndjson, ends })
    }

    pub fn records(&self) -> &[LogRecord] {
        &self.records
    }

    pub fn ndjson(&self) -> &[u8] {
        &self.ndjson
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Each record with its JSON line (without the newline).
    pub fn iter(&self) -> impl Iterator<Item = (&LogRecord, &[u8])> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|e| e + 1));
        self.records.iter().zip(starts.zip(self.ends.iter())).map(|(r, (s, e))| (r, &self.ndjson[s..*e]))
    }
}

/// Longest id a client may supply (log ids, request and correlation ids).
pub const MAX_ID_LEN: usize = 128;

/// Whether a client-supplied id is acceptable: 1..=128 characters of `A-Z a-z 0-9 . _ : -`, safe in
/// URLs, headers and log lines.
pub fn is_valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Generate a new server-side id: a ULID, lexicographically sortable by creation time.
pub fn new_id() -> String {
    ulid::Ulid::new().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_normalisation_table() {
        let cases = [
            ("debug", Level::Debug),
            ("TRACE", Level::Debug),
            ("Info", Level::Info),
            ("notice", Level::Info),
            ("WARN", Level::Warning),
            ("warning", Level::Warning),
            ("err", Level::Error),
            ("ERROR", Level::Error),
            ("fatal", Level::Critical),
            ("CRIT", Level::Critical),
            ("emerg", Level::Critical),
            (" critical ", Level::Critical),
            ("0", Level::Critical),
            ("3", Level::Error),
            ("4", Level::Warning),
            ("6", Level::Info),
            ("7", Level::Debug),
        ];
        for (raw, want) in cases {
            assert_eq!(Level::normalize(raw), Some(want), "{raw}");
        }
        for bad in ["", "loud", "8", "-1", "warnings"] {
            assert_eq!(Level::normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn encoded_batch_round_trips() {
        let recs: Vec<LogRecord> = (0..3)
            .map(|i| LogRecord {
                id: format!("id-{i}"),
                // Ingest always normalises to microseconds, the precision the encoding keeps.
                timestamp: DateTime::from_timestamp_micros(1_761_294_600_123_456).unwrap(),
                service: "svc".into(),
                level: Level::Info,
                message: format!("line {i}\nwith a newline inside"),
                host: None,
                correlation_id: None,
                request_id: None,
                trace_id: None,
                span_id: None,
                attributes: Map::new(),
            })
            .collect();
        let enc = EncodedBatch::encode(recs.clone());
        for (r, line) in enc.iter() {
            assert_eq!(&serde_json::from_slice::<LogRecord>(line).unwrap(), r);
        }
        let dec = EncodedBatch::decode(enc.ndjson().to_vec()).unwrap();
        assert_eq!(dec.records(), &recs[..]);
        assert_eq!(
            dec.iter().map(|(_, l)| l.to_vec()).collect::<Vec<_>>(),
            enc.iter().map(|(_, l)| l.to_vec()).collect::<Vec<_>>()
        );
        assert!(EncodedBatch::decode(b"{not json}\n".to_vec()).is_err());
    }

    #[test]
    fn level_order_is_severity() {
        assert!(Level::Debug < Level::Info && Level::Error < Level::Critical);
        assert!(Level::Critical.is_error() && !Level::Warning.is_error());
    }

    #[test]
    fn record_round_trips_through_json() {
        let rec = LogRecord {
            id: new_id(),
            timestamp: DateTime::parse_from_rfc3339("2025-10-24T08:30:00.123456+02:00").unwrap().with_timezone(&Utc),
            service: "auth-service".into(),
            level: Level::Warning,
            message: "token expired".into(),
            host: Some("web-1".into()),
            correlation_id: None,
            request_id: None,
            trace_id: None,
            span_id: None,
            attributes: serde_json::json!({"user": {"id": 42}}).as_object().unwrap().clone(),
        };
        let text = serde_json::to_string(&rec).unwrap();
        assert!(text.contains("\"timestamp\":\"2025-10-24T06:30:00.123456Z\""), "{text}");
        assert!(text.contains("\"level\":\"WARNING\""));
        assert!(!text.contains("correlation_id"));
        let back: LogRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, rec);
    }
}
