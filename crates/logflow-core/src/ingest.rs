//! Turning an ingest request body into validated [`LogRecord`]s.
//!
//! A body is one JSON object, a JSON array of objects, or NDJSON (one object per line). Problems
//! with the body as a whole (empty, not UTF-8, not JSON) reject the request; problems with one item
//! reject only that item, reported with its index, Elasticsearch-bulk style. An item is either
//! stored whole or not at all.
//!
//! Field rules (documented for users in the README):
//! * `service` (string) and `message` (string) are required; `msg` is accepted for `message`.
//! * `level` (string or syslog number) defaults to INFO and is normalised by [`Level::normalize`];
//!   `severity` is accepted when `level` is absent.
//! * `timestamp` (or `@timestamp`): RFC 3339, or a Unix epoch number in seconds, milliseconds,
//!   microseconds or nanoseconds (told apart by magnitude). Defaults to the time of receipt. Logs
//!   older than the retention period or too far in the future are rejected.
//! * `id`: optional, 1..=128 characters of `A-Z a-z 0-9 . _ : -`; a ULID is assigned otherwise.
//! * `host`, `correlation_id`, `request_id`, `trace_id`, `span_id`: optional strings (numbers are
//!   accepted and kept as text).
//! * `attributes`: optional object. Any other top-level field is moved into `attributes`, so
//!   `{"user_id": 42}` is searchable as `attributes.user_id:42` (or `user_id:42`).

use crate::model::{new_id, Level, LogRecord};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value};

/// Limits applied to every item.
#[derive(Debug, Clone)]
pub struct IngestLimits {
    pub max_message_bytes: usize,
    pub max_field_bytes: usize,
    pub max_attributes_bytes: usize,
    pub max_attribute_depth: usize,
    /// Oldest timestamp accepted, as an age (the retention period).
    pub max_age: Duration,
    /// How far in the future a timestamp may be (clock skew allowance).
    pub max_future: Duration,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_message_bytes: 256 * 1024,
            max_field_bytes: 256,
            max_attributes_bytes: 64 * 1024,
            max_attribute_depth: 16,
            max_age: Duration::days(7),
            max_future: Duration::days(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`: an object or an array (NDJSON sent under this type is accepted too).
    Json,
    /// `application/x-ndjson`: one object per line; blank lines are ignored.
    Ndjson,
}

/// A rejected item: its 0-based position in the body and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ItemError {
    pub index: usize,
    pub error: String,
}

/// Why a whole body was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body is empty; send a JSON object, a JSON array or NDJSON lines")]
    Empty,
    #[error("request body is not valid UTF-8 (first invalid byte at offset {0})")]
    InvalidUtf8(usize),
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("request body must be a JSON object or an array of objects, not {0}")]
    WrongShape(&'static str),
}

/// The outcome of parsing one body.
#[derive(Debug, Default)]
pub struct ParsedBatch {
    pub records: Vec<LogRecord>,
    pub errors: Vec<ItemError>,
}

impl ParsedBatch {
    pub fn items(&self) -> usize {
        self.records.len() + self.errors.len()
    }
}

/// Parse and validate a body. `now` is the time of receipt.
pub fn parse_body(
    body: &[u8],
    format: BodyFormat,
    limits: &IngestLimits,
    now: DateTime<Utc>,
) -> Result<ParsedBatch, BodyError> {
    let text = std::str::from_utf8(body).map_err(|e| BodyError::InvalidUtf8(e.valid_up_to()))?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(BodyError::Empty);
    }
    let mut batch = ParsedBatch::default();
    if format == BodyFormat::Ndjson || !(trimmed.starts_with('[') || trimmed.starts_with('{')) {
        if format == BodyFormat::Json {
            // application/json that is neither object nor array: say what it is.
            let v: Value = serde_json::from_str(text).map_err(|e| BodyError::MalformedJson(e.to_string()))?;
            return Err(BodyError::WrongShape(json_kind(&v)));
        }
        parse_ndjson(text, limits, now, &mut batch);
        return Ok(batch);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => {
            for (index, item) in items.into_iter().enumerate() {
                push_item(&mut batch, index, item, limits, now);
            }
        }
        Ok(item @ Value::Object(_)) => push_item(&mut batch, 0, item, limits, now),
        Ok(other) => return Err(BodyError::WrongShape(json_kind(&other))),
        // Several objects, one per line, sent as application/json: treat as NDJSON.
        Err(e) if e.is_data() || e.to_string().starts_with("trailing characters") => {
            if trimmed.starts_with('{') && trimmed.contains('\n') {
                parse_ndjson(text, limits, now, &mut batch);
            } else {
                return Err(BodyError::MalformedJson(e.to_string()));
            }
        }
        Err(e) => return Err(BodyError::MalformedJson(e.to_string())),
    }
    Ok(batch)
}

fn parse_ndjson(text: &str, limits: &IngestLimits, now: DateTime<Utc>, batch: &mut ParsedBatch) {
    let lines = text.split('\n').map(|l| l.trim()).filter(|l| !l.is_empty());
    for (index, line) in lines.enumerate() {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => push_item(batch, index, v, limits, now),
            Err(e) => batch.errors.push(ItemError { index, error: format!("malformed JSON: {e}") }),
        }
    }
}

fn push_item(batch: &mut ParsedBatch, index: usize, item: Value, limits: &IngestLimits, now: DateTime<Utc>) {
    match item {
        Value::Object(map) => match parse_item(map, limits, now) {
            Ok(rec) => batch.records.push(rec),
            Err(error) => batch.errors.push(ItemError { index, error }),
        },
        other => batch
            .errors
            .push(ItemError { index, error: format!("item must be a JSON object, not {}", json_kind(&other)) }),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Validate and normalise one item.
pub fn parse_item(mut map: Map<String, Value>, limits: &IngestLimits, now: DateTime<Utc>) -> Result<LogRecord, String> {
    let service =
        take_string(&mut map, &["service"], limits.max_field_bytes)?.ok_or("missing required field 'service'")?;
    if service.trim().is_empty() {
        return Err("field 'service' must not be empty".into());
    }
    let message = take_string(&mut map, &["message", "msg"], limits.max_message_bytes)?
        .ok_or("missing required field 'message'")?;
    let level = take_level(&mut map)?;
    let timestamp = take_timestamp(&mut map, limits, now)?;
    let id = match take_string(&mut map, &["id"], crate::model::MAX_ID_LEN)? {
        Some(id) if crate::model::is_valid_id(&id) => id,
        Some(id) => {
            return Err(format!(
                "field 'id' ('{}') may only contain letters, digits, '.', '_', ':' and '-'",
                truncate_for_error(&id)
            ))
        }
        None => new_id(),
    };
    let mut optional = |name: &str| take_string(&mut map, &[name], limits.max_field_bytes);
    let host = optional("host")?;
    let correlation_id = optional("correlation_id")?;
    let request_id = optional("request_id")?;
    let trace_id = optional("trace_id")?;
    let span_id = optional("span_id")?;
    let mut attributes = match map.remove("attributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => return Err(format!("field 'attributes' must be an object, not {}", json_kind(&other))),
    };
    // Unknown top-level fields become attributes (explicit attributes win on a name clash).
    for (k, v) in map {
        attributes.entry(k).or_insert(v);
    }
    check_attributes(&attributes, limits)?;
    Ok(LogRecord {
        id,
        timestamp,
        service: service.trim().to_string(),
        level,
        message,
        host,
        correlation_id,
        request_id,
        trace_id,
        span_id,
        attributes,
    })
}

/// Remove the first present key of `names`; strings as is, numbers and booleans as their text.
fn take_string(map: &mut Map<String, Value>, names: &[&str], max_bytes: usize) -> Result<Option<String>, String> {
    let Some((name, value)) = names.iter().find_map(|n| map.remove(*n).map(|v| (*n, v))) else {
        return Ok(None);
    };
    let s = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => return Err(format!("field '{name}' must be a string, not {}", json_kind(&other))),
    };
    if s.len() > max_bytes {
        return Err(format!("field '{name}' is {} bytes, above the limit of {max_bytes} bytes", s.len()));
    }
    Ok(Some(s))
}

fn take_level(map: &mut Map<String, Value>) -> Result<Level, String> {
    let raw = match map.remove("level").or_else(|| map.remove("severity")) {
        None | Some(Value::Null) => return Ok(Level::Info),
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(format!("field 'level' must be a string or a number, not {}", json_kind(&other))),
    };
    Level::normalize(&raw).ok_or_else(|| {
        format!(
            "unknown level '{}'; use DEBUG, INFO, WARNING, ERROR or CRITICAL (or WARN, FATAL, a syslog number 0-7)",
            truncate_for_error(&raw)
        )
    })
}

fn take_timestamp(
    map: &mut Map<String, Value>,
    limits: &IngestLimits,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let value = map.remove("timestamp").or_else(|| map.remove("@timestamp"));
    let ts = match value {
        None | Some(Value::Null) => return Ok(now),
        Some(Value::String(s)) => {
            DateTime::parse_from_rfc3339(s.trim()).map(|t| t.with_timezone(&Utc)).map_err(|e| {
                format!(
                    "field 'timestamp' ('{}') is not RFC 3339 ({e}); example: 2025-10-24T08:30:00Z",
                    truncate_for_error(&s)
                )
            })?
        }
        Some(Value::Number(n)) => epoch_number(n.as_f64().unwrap_or(f64::NAN))
            .ok_or_else(|| format!("field 'timestamp' ({n}) is not a valid Unix epoch"))?,
        Some(other) => {
            return Err(format!("field 'timestamp' must be a string or a number, not {}", json_kind(&other)))
        }
    };
    // Truncate to microseconds: the precision every engine stores.
    let ts = Utc.timestamp_micros(ts.timestamp_micros()).single().ok_or("field 'timestamp' is out of range")?;
    if ts < now - limits.max_age {
        return Err(format!(
            "timestamp {} is older than the retention period ({} days)",
            crate::model::format_timestamp(&ts),
            limits.max_age.num_days()
        ));
    }
    if ts > now + limits.max_future {
        return Err(format!(
            "timestamp {} is more than {} hours in the future",
            crate::model::format_timestamp(&ts),
            limits.max_future.num_hours()
        ));
    }
    Ok(ts)
}

/// Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude.
fn epoch_number(x: f64) -> Option<DateTime<Utc>> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    let micros = if x < 1e11 {
        x * 1e6
    } else if x < 1e14 {
        x * 1e3
    } else if x < 1e17 {
        x
    } else {
        x / 1e3
    };
    Utc.timestamp_micros(micros as i64).single()
}

fn check_attributes(attrs: &Map<String, Value>, limits: &IngestLimits) -> Result<(), String> {
    if attrs.is_empty() {
        return Ok(());
    }
    fn depth(v: &Value) -> usize {
        match v {
            Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
            Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    let d = attrs.values().map(depth).max().unwrap_or(0) + 1;
    if d > limits.max_attribute_depth {
        return Err(format!(
            "attributes are nested {d} levels deep, above the limit of {}",
            limits.max_attribute_depth
        ));
    }
    let size = serde_json::to_vec(attrs).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > limits.max_attributes_bytes {
        return Err(format!(
            "attributes are {size} bytes as JSON, above the limit of {} bytes",
            limits.max_attributes_bytes
        ));
    }
    Ok(())
}

fn truncate_for_error(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-10-24T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn parse(body: &str, format: BodyFormat) -> Result<ParsedBatch, BodyError> {
        parse_body(body.as_bytes(), format, &IngestLimits::default(), now())
    }

    fn one(v: Value) -> Result<LogRecord, String> {
        parse_item(v.as_object().unwrap().clone(), &IngestLimits::default(), now())
    }

    #[test]
    fn single_object_array_and_ndjson() {
        let obj = r#"{"service":"auth","message":"hi"}"#;
        assert_eq!(parse(obj, BodyFormat::Json).unwrap().records.len(), 1);
        let arr = format!("[{obj},{obj},{obj}]");
        assert_eq!(parse(&arr, BodyFormat::Json).unwrap().records.len(), 3);
        let nd = format!("{obj}\n\n{obj}\r\n{obj}\n");
        assert_eq!(parse(&nd, BodyFormat::Ndjson).unwrap().records.len(), 3);
        // NDJSON sent as application/json is accepted.
        assert_eq!(parse(&nd, BodyFormat::Json).unwrap().records.len(), 3);
    }

    #[test]
    fn whole_body_errors() {
        assert_eq!(parse("", BodyFormat::Json).unwrap_err(), BodyError::Empty);
        assert_eq!(parse("  \n ", BodyFormat::Ndjson).unwrap_err(), BodyError::Empty);
        assert!(matches!(parse("{\"service\":", BodyFormat::Json), Err(BodyError::MalformedJson(_))));
        assert!(matches!(parse("[1, 2", BodyFormat::Json), Err(BodyError::MalformedJson(_))));
        assert_eq!(parse("42", BodyFormat::Json).unwrap_err(), BodyError::WrongShape("a number"));
        assert_eq!(parse("\"x\"", BodyFormat::Json).unwrap_err(), BodyError::WrongShape("a string"));
        let bad = b"{\"service\":\"a\",\"message\":\"\xff\xfe\"}";
        let e = parse_body(bad, BodyFormat::Json, &IngestLimits::default(), now()).unwrap_err();
        assert_eq!(e, BodyError::InvalidUtf8(26));
    }

    #[test]
    fn per_item_errors_keep_valid_items() {
        let body =
            r#"[{"service":"a","message":"ok"}, 7, {"service":"a"}, {"service":"b","message":"x","level":"loud"}]"#;
        let b = parse(body, BodyFormat::Json).unwrap();
        assert_eq!(b.records.len(), 1);
        let idx: Vec<usize> = b.errors.iter().map(|e| e.index).collect();
        assert_eq!(idx, vec![1, 2, 3]);
        assert!(b.errors[0].error.contains("must be a JSON object"));
        assert!(b.errors[1].error.contains("'message'"));
        assert!(b.errors[2].error.contains("unknown level 'loud'"));
        let nd = "{\"service\":\"a\",\"message\":\"ok\"}\n{not json}\n";
        let b = parse(nd, BodyFormat::Ndjson).unwrap();
        assert_eq!((b.records.len(), b.errors[0].index), (1, 1));
        assert!(b.errors[0].error.starts_with("malformed JSON"));
    }

    #[test]
    fn normalises_fields() {
        let r = one(json!({"service":" pay ","msg":"m","level":"warn","timestamp":"2025-10-24T13:00:00.1234567+02:00","user_id":42,
                           "attributes":{"user_id":7,"http":{"status":500}}, "host": 12}))
        .unwrap();
        assert_eq!(r.service, "pay");
        assert_eq!(r.message, "m");
        assert_eq!(r.level, Level::Warning);
        assert_eq!(crate::model::format_timestamp(&r.timestamp), "2025-10-24T11:00:00.123456Z");
        assert_eq!(r.attributes["user_id"], json!(7), "explicit attributes win");
        assert_eq!(r.attributes["http"]["status"], json!(500));
        assert_eq!(r.host.as_deref(), Some("12"));
        assert_eq!(r.id.len(), 26, "ULID assigned");
        let r = one(json!({"service":"a","message":"m","level":3,"env":"prod"})).unwrap();
        assert_eq!(r.level, Level::Error);
        assert_eq!(r.attributes["env"], json!("prod"));
        let r = one(json!({"service":"a","message":"m"})).unwrap();
        assert_eq!((r.level, r.timestamp), (Level::Info, now()));
    }

    #[test]
    fn epoch_timestamps_by_magnitude() {
        let want = "2025-10-24T11:00:00.000000Z";
        for ts in
            [json!(1761303600), json!(1761303600000i64), json!(1761303600000000i64), json!(1761303600000000000i64)]
        {
            let r = one(json!({"service":"a","message":"m","timestamp":ts})).unwrap();
            assert_eq!(crate::model::format_timestamp(&r.timestamp), want, "{ts}");
        }
    }

    #[test]
    fn rejects_bad_items_with_reasons() {
        let cases = [
            (json!({"message":"m"}), "missing required field 'service'"),
            (json!({"service":"","message":"m"}), "must not be empty"),
            (json!({"service":["a"],"message":"m"}), "'service' must be a string"),
            (json!({"service":"a","message":{"x":1}}), "'message' must be a string"),
            (json!({"service":"a","message":"m","timestamp":"yesterday"}), "not RFC 3339"),
            (json!({"service":"a","message":"m","timestamp":true}), "must be a string or a number"),
            (json!({"service":"a","message":"m","timestamp":"2020-01-01T00:00:00Z"}), "older than the retention"),
            (json!({"service":"a","message":"m","timestamp":"2035-01-01T00:00:00Z"}), "in the future"),
            (json!({"service":"a","message":"m","id":"has space"}), "field 'id'"),
            (json!({"service":"a","message":"m","attributes":[1]}), "'attributes' must be an object"),
            (json!({"service":"a","message":"m","level":{"x":1}}), "'level' must be"),
        ];
        for (item, want) in cases {
            let e = one(item.clone()).unwrap_err();
            assert!(e.contains(want), "{item}: {e}");
        }
    }

    #[test]
    fn size_limits() {
        let huge = "x".repeat(256 * 1024 + 1);
        let e = one(json!({"service":"a","message":huge})).unwrap_err();
        assert!(e.contains("above the limit of 262144 bytes"), "{e}");
        let mut deep = json!(1);
        for _ in 0..20 {
            deep = json!({ "a": deep });
        }
        let e = one(json!({"service":"a","message":"m","attributes":deep})).unwrap_err();
        assert!(e.contains("nested"), "{e}");
        let big: Map<String, Value> = (0..2000).map(|i| (format!("key{i}"), json!("v".repeat(40)))).collect();
        let e = one(json!({"service":"a","message":"m","attributes":big})).unwrap_err();
        assert!(e.contains("attributes are"), "{e}");
    }

    #[test]
    fn client_ids_are_kept() {
        let r = one(json!({"service":"a","message":"m","id":"order-42:attempt.1"})).unwrap();
        assert_eq!(r.id, "order-42:attempt.1");
    }
}
