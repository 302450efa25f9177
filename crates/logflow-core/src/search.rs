//! Engine-neutral search request and response, and the search-after cursor.
//!
//! Results are ordered newest first by `(timestamp, id)`, both descending. A page's `next_cursor`
//! encodes the sort key of its last hit; the next page returns only hits strictly after that key in
//! this order. Logs that arrive meanwhile are newer than the cursor, so they never shift later pages
//! (unlike offset pagination), and no hit is returned twice or skipped.

use crate::model::{Level, LogRecord};
use crate::query::Query;
use crate::time::TimeRange;
use base64::Engine as _;
use serde::Serialize;

/// Default and maximum page sizes from the API contract.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 10_000;

/// Sort key of a hit: the position a cursor points at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub timestamp_micros: i64,
    pub id: String,
}

impl Cursor {
    pub fn of(rec: &LogRecord) -> Cursor {
        Cursor { timestamp_micros: rec.timestamp_micros(), id: rec.id.clone() }
    }

    /// Opaque URL-safe token.
    pub fn encode(&self) -> String {
        let raw = format!("{}:{}", self.timestamp_micros, self.id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(token: &str) -> Result<Cursor, String> {
        let bad = || "invalid cursor: pass the next_cursor value of a previous response unchanged".to_string();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (ts, id) = text.split_once(':').ok_or_else(bad)?;
        let timestamp_micros = ts.parse().map_err(|_| bad())?;
        if id.is_empty() {
            return Err(bad());
        }
        Ok(Cursor { timestamp_micros, id: id.to_string() })
    }

    /// True when `(ts, id)` comes after this cursor in newest-first order.
    pub fn is_before(&self, ts: i64, id: &str) -> bool {
        ts < self.timestamp_micros || (ts == self.timestamp_micros && id < self.id.as_str())
    }
}

/// What to search for. Filters are ANDed.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: Query,
    /// Any of these services (empty = all).
    pub services: Vec<String>,
    /// Any of these levels (empty = all).
    pub levels: Vec<Level>,
    pub range: TimeRange,
    pub limit: usize,
    pub after: Option<Cursor>,
    /// Skip counting every match (e.g. for tail/recent views); `total` is then the page size.
    pub count_total: bool,
}

impl SearchRequest {
    pub fn new(query: Query) -> Self {
        SearchRequest {
            query,
            services: Vec::new(),
            levels: Vec::new(),
            range: TimeRange::default(),
            limit: DEFAULT_LIMIT,
            after: None,
            count_total: true,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// Matches of the query and filters, ignoring the cursor.
    pub total: u64,
    pub hits: Vec<LogRecord>,
    /// Present when more hits may follow.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_rejects_garbage() {
        let c = Cursor { timestamp_micros: 1_700_000_000_123_456, id: "01HZX".into() };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in ["", "%%%", "bm90LWEtY3Vyc29y", "MTIzOg"] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursor_order_is_newest_first() {
        let c = Cursor { timestamp_micros: 100, id: "m".into() };
        assert!(c.is_before(99, "z"));
        assert!(c.is_before(100, "a"));
        assert!(!c.is_before(100, "m"));
        assert!(!c.is_before(101, "a"));
    }
}
