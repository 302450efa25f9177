//! # In-memory query matching (live tail)
//!
//! [`Matcher`] decides whether one [`LogRecord`] matches a [`Query`] plus the `services` / `levels`
//! filters of a [`SearchRequest`](crate::search::SearchRequest), without an index, so that a live
//! stream of logs can be filtered with **exactly** the semantics of the tantivy store's search
//! (`logflow-store`, `tantivy_engine/query.rs` and `schema.rs`). The time range is not part of a
//! matcher: a live tail filters on time itself.
//!
//! Everything that can be decided from the query alone (lowercased message tokens, wildcard
//! patterns, JSON paths, the typed forms of an attribute value, numeric range bounds) is computed
//! once in [`Matcher::new`]; [`Matcher::matches`] only walks the record (the message is tokenized
//! at most once per call, and only when the query looks at it).
//!
//! ## What is mirrored (per field kind)
//!
//! * **message**: indexed with tantivy's `default` analyzer: `SimpleTokenizer` (maximal runs of
//!   `char::is_alphanumeric` characters), then `RemoveLongFilter::limit(40)` (a token of 40 or more
//!   UTF-8 bytes, measured *before* lowercasing, is dropped but keeps its position), then
//!   `LowerCaser` (per-char `char::to_lowercase`, no final-sigma rule). A term or phrase runs the
//!   same analyzer over the query text: no token matches nothing, one token is a term, several
//!   are a phrase (consecutive positions). Wildcards match single indexed tokens, with the pattern
//!   lowercased by `str::to_lowercase` (escapes survive it); `message:*` matches every log.
//! * **keyword fields** (`service`, `level`, `host`, `id`, `correlation_id`, `request_id`,
//!   `trace_id`, `span_id`): the raw value, exact and case-sensitive, also for `level` (the
//!   parser canonicalises level values; a hand-built `level:warn` term matches nothing). Ranges
//!   compare the raw values as byte strings (so a hand-built level range is alphabetical).
//!   Wildcards match the whole value.
//! * **attributes**: a JSON field with raw strings. A term matches a string leaf exactly, and an
//!   integer / float / boolean leaf when the query text parses as one (`42` matches `42`,
//!   `42.0` matches `42.0` but not the integer `42`). Arrays are transparent (each element is a
//!   value at the same path), nested objects extend the path. Wildcards only see string leaves.
//!   A range is numeric when both bounds parse as finite numbers (only number leaves), else a
//!   text range (only string leaves). `path:*` and `path:[* TO *]` mean "some value at or below
//!   this path".
//! * **wildcards** (every field): `*` and `?` honour the query language's `\` escapes exactly as
//!   the store's regex (core's `wildcard_to_regex`) does: `pay\*` is the literal `pay*`, `a\?b*`
//!   starts with a literal `a?b`, `x\\*` with a literal `x\`.
//! * `All`, `And`, `Or` and `Not` are plain boolean logic (`And([])` matches everything and
//!   `Or([])` nothing, as the compiled `BooleanQuery`s do).
//!
//! ## Store quirks mirrored on purpose
//!
//! Each is commented where it is implemented; in short:
//!
//! 1. **`*` and `?` never match a newline**: tantivy's regex `.` excludes `\n`. So `host:*`
//!    (a `.*` regex on non-fast keyword fields) misses a host containing a newline, while
//!    `service:*` / `level:*` (an exists query on their fast columns) match every log.
//! 2. **Long message tokens leave gaps in phrases.** A dropped (≥ 40-byte) token keeps its
//!    position in the indexed message, but is also dropped from the query, whose remaining tokens
//!    are then required at *consecutive* positions: searching `alpha <long> beta` cannot find a
//!    message `alpha <long> beta`, but finds `alpha beta`.
//! 3. **Date-like attribute strings are not strings.** tantivy converts every JSON string that
//!    starts with an ASCII digit and parses as RFC 3339 (the `time` crate's parser) into a date.
//!    The store never queries dates, so such a value is only visible to `path:*`; a term,
//!    wildcard or text range on it matches nothing.
//! 4. **Attribute keys containing a dot cannot be reached** from the query language: a path
//!    `a.b` is split into the segments `a`, `b` (tantivy's `split_json_path`, where `\.` would
//!    escape a dot but the query parser never produces a backslash in a field name), while the
//!    key `"a.b"` is indexed as one segment. Keys containing `\0` are skipped, with their values,
//!    by tantivy's JSON indexer.
//! 5. Raw tokens longer than tantivy's `MAX_TOKEN_LEN` (65 530 bytes) are not indexed: such a
//!    keyword value or attribute string matches nothing (not even `field:*`). The exists queries
//!    on the fast `service` / `level` columns are taken to match every log.
//! 6. `-0.0` and `0.0` are different floats in the index (exact bit patterns, ordered
//!    `-0.0 < 0.0`), and integer range bounds are derived from the `f64` bounds exactly as the
//!    store does (`ceil` / `floor` in `f64`).
//!
//! Differences that cannot be mirrored by a boolean matcher: the store *rejects* a range on
//! `message` (`InvalidQuery`, the parser never produces one), here it matches nothing; and a
//! wildcard whose regex automaton is too large makes the store's search fail, while the matcher
//! evaluates it.

use crate::model::{Level, LogRecord};
use crate::query::{decode_pattern, integer_bounds, Bound as QBound, Field, Query};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Ordering;
use std::ops::Bound;

/// `RemoveLongFilter::limit(40)` of tantivy's `default` analyzer: a token is kept when its UTF-8
/// length (before lowercasing) is below this.
const MESSAGE_TOKEN_LIMIT: usize = 40;
/// tantivy's `MAX_TOKEN_LEN`: longer raw tokens are dropped by the indexer.
const MAX_TOKEN_LEN: usize = u16::MAX as usize - 5;
/// Separator of JSON path segments in tantivy terms.
const PATH_SEP: char = '\u{1}';

/// A compiled query plus search filters, matching records one at a time.
///
/// ```
/// use logflow_core::matcher::Matcher;
/// use logflow_core::query::parse;
/// # use logflow_core::{Level, LogRecord};
/// # let rec: LogRecord = serde_json::from_value(serde_json::json!({
/// #     "id": "01J", "timestamp": "2025-10-24T08:30:00Z", "service": "auth",
/// #     "level": "ERROR", "message": "Connection refused (retry 3)",
/// #     "attributes": {"user": {"id": 42}}
/// # })).unwrap();
/// let m = Matcher::new(&parse("\"connection refused\" user.id:42").unwrap(), &[], &[Level::Error]);
/// assert!(m.matches(&rec));
/// ```
#[derive(Debug, Clone)]
pub struct Matcher {
    root: Node,
    /// Any of these (exact) services; empty = all.
    services: Vec<String>,
    /// Any of these levels; empty = all.
    levels: Vec<Level>,
}

impl Matcher {
    /// Compile `query` and the `services` / `levels` filters (empty = no filter), with the
    /// semantics of `SearchRequest { query, services, levels, .. }` on the tantivy store.
    pub fn new(query: &Query, services: &[String], levels: &[Level]) -> Matcher {
        Matcher { root: compile(query), services: services.to_vec(), levels: levels.to_vec() }
    }

    /// True when the store's search would return `record` (time range aside).
    pub fn matches(&self, record: &LogRecord) -> bool {
        if !self.services.is_empty() && !self.services.contains(&record.service) {
            return false;
        }
        if !self.levels.is_empty() && !self.levels.contains(&record.level) {
            return false;
        }
        self.root.eval(&Doc { rec: record, tokens: OnceCell::new() })
    }
}

// ----- compiled form -----

#[derive(Debug, Clone)]
enum Node {
    All,
    Nothing,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// One lowercased message token, anywhere.
    MessageTerm(String),
    /// Lowercased message tokens at consecutive positions.
    MessagePhrase(Vec<String>),
    /// Some indexed message token matches.
    MessageWildcard(Glob),
    Keyword(Keyword, KeywordTest),
    /// `path` is the tantivy JSON path (segments joined by `\u{1}`).
    AttrValue {
        path: String,
        value: AttrValue,
    },
    AttrWildcard {
        path: String,
        glob: Glob,
    },
    AttrExists {
        path: String,
    },
    AttrNumRange {
        path: String,
        range: NumRange,
    },
    AttrTextRange {
        path: String,
        lower: Bound<String>,
        upper: Bound<String>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Keyword {
    Service,
    Level,
    Host,
    Id,
    CorrelationId,
    RequestId,
    TraceId,
    SpanId,
}

impl Keyword {
    fn of(field: &Field) -> Option<Keyword> {
        Some(match field {
            Field::Service => Keyword::Service,
            Field::Level => Keyword::Level,
            Field::Host => Keyword::Host,
            Field::Id => Keyword::Id,
            Field::CorrelationId => Keyword::CorrelationId,
            Field::RequestId => Keyword::RequestId,
            Field::TraceId => Keyword::TraceId,
            Field::SpanId => Keyword::SpanId,
            Field::Message | Field::Attribute(_) => return None,
        })
    }

    /// The indexed raw value, if any.
    fn value(self, rec: &LogRecord) -> Option<&str> {
        let v = match self {
            Keyword::Service => Some(rec.service.as_str()),
            Keyword::Level => Some(rec.level.as_str()),
            Keyword::Host => rec.host.as_deref(),
            Keyword::Id => Some(rec.id.as_str()),
            Keyword::CorrelationId => rec.correlation_id.as_deref(),
            Keyword::RequestId => rec.request_id.as_deref(),
            Keyword::TraceId => rec.trace_id.as_deref(),
            Keyword::SpanId => rec.span_id.as_deref(),
        };
        // tantivy drops (with a warning) a raw token longer than MAX_TOKEN_LEN.
        v.filter(|v| v.len() <= MAX_TOKEN_LEN)
    }
}

#[derive(Debug, Clone)]
enum KeywordTest {
    Eq(String),
    Glob(Glob),
    Range(Bound<String>, Bound<String>),
    /// The store's `.*` regex over the field's terms: any value without a newline (quirk 1).
    AnyWithoutNewline,
}

impl KeywordTest {
    fn matches(&self, v: &str) -> bool {
        match self {
            KeywordTest::Eq(want) => v == want,
            KeywordTest::Glob(glob) => glob.matches(v),
            KeywordTest::Range(lower, upper) => in_text_range(v, lower, upper),
            KeywordTest::AnyWithoutNewline => !v.contains('\n'),
        }
    }
}

/// The typed forms the store tries for an attribute term (its `attribute_value`).
#[derive(Debug, Clone)]
struct AttrValue {
    /// None when no indexed string can equal it (date-like or too long).
    text: Option<String>,
    int: Option<i64>,
    uint: Option<u64>,
    float: Option<f64>,
    boolean: Option<bool>,
}

impl AttrValue {
    fn new(value: &str) -> AttrValue {
        // A string leaf equal to a date-like value was indexed as a date (quirk 3), and one
        // longer than MAX_TOKEN_LEN was not indexed at all (quirk 5).
        let text = (value.len() <= MAX_TOKEN_LEN && !is_tantivy_date(value)).then(|| value.to_string());
        AttrValue {
            text,
            int: value.parse().ok(),
            uint: value.parse().ok(),
            float: value.parse::<f64>().ok().filter(|x| x.is_finite()),
            boolean: value.parse().ok(),
        }
    }

    fn matches(&self, leaf: &Value) -> bool {
        match leaf {
            Value::String(s) => self.text.as_deref() == Some(s.as_str()),
            // Equal float terms have equal bits: -0.0 is not 0.0 (quirk 6).
            Value::Number(n) => match JsonNumber::of(n) {
                JsonNumber::I64(i) => self.int == Some(i),
                JsonNumber::U64(u) => self.uint == Some(u),
                JsonNumber::F64(x) => self.float.is_some_and(|q| q.to_bits() == x.to_bits()),
            },
            Value::Bool(b) => self.boolean == Some(*b),
            Value::Null | Value::Array(_) | Value::Object(_) => false,
        }
    }
}

/// How tantivy indexes a JSON number (serde_json -> `OwnedValue` -> JSON term): `i64` when it
/// fits, else `u64`, else `f64`. Each type has its own term space.
enum JsonNumber {
    I64(i64),
    U64(u64),
    F64(f64),
}

impl JsonNumber {
    fn of(n: &Number) -> JsonNumber {
        if let Some(i) = n.as_i64() {
            JsonNumber::I64(i)
        } else if let Some(u) = n.as_u64() {
            JsonNumber::U64(u)
        } else {
            JsonNumber::F64(n.as_f64().unwrap_or(f64::NAN))
        }
    }
}

/// A numeric attribute range: one term range per number type, as the store builds them.
#[derive(Debug, Clone)]
struct NumRange {
    lower: Bound<f64>,
    upper: Bound<f64>,
    /// Inclusive integer bounds (None = open) for i64 values; None when no i64 can match.
    int: Option<(Option<i64>, Option<i64>)>,
    /// The same for u64 values (numbers above i64::MAX).
    uint: Option<(Option<u64>, Option<u64>)>,
}

impl NumRange {
    fn new(lower: Bound<f64>, upper: Bound<f64>) -> NumRange {
        // The store's `v as i64` / `v as u64` casts of the same bounds.
        let int = integer_bounds(lower, upper, i64::MIN as f64, i64::MAX as f64)
            .map(|(a, b)| (a.map(|v| v as i64), b.map(|v| v as i64)));
        let uint =
            integer_bounds(lower, upper, 0.0, u64::MAX as f64).map(|(a, b)| (a.map(|v| v as u64), b.map(|v| v as u64)));
        NumRange { lower, upper, int, uint }
    }

    fn matches(&self, leaf: &Value) -> bool {
        let Value::Number(n) = leaf else {
            return false;
        };
        match JsonNumber::of(n) {
            JsonNumber::I64(i) => self.int.is_some_and(|(a, b)| a.is_none_or(|a| i >= a) && b.is_none_or(|b| i <= b)),
            JsonNumber::U64(u) => self.uint.is_some_and(|(a, b)| a.is_none_or(|a| u >= a) && b.is_none_or(|b| u <= b)),
            // tantivy's order-preserving f64 encoding orders like `total_cmp` (-0.0 < 0.0).
            JsonNumber::F64(x) => {
                let above = match self.lower {
                    Bound::Unbounded => true,
                    Bound::Included(lo) => x.total_cmp(&lo) != Ordering::Less,
                    Bound::Excluded(lo) => x.total_cmp(&lo) == Ordering::Greater,
                };
                let below = match self.upper {
                    Bound::Unbounded => true,
                    Bound::Included(hi) => x.total_cmp(&hi) != Ordering::Greater,
                    Bound::Excluded(hi) => x.total_cmp(&hi) == Ordering::Less,
                };
                above && below
            }
        }
    }
}

// ----- compiling the AST (mirrors the store's `Compiler::compile`) -----

fn compile(q: &Query) -> Node {
    match q {
        Query::All => Node::All,
        Query::Term { field, value } => term(field, value),
        // The store sends a phrase on any other field through its term path.
        Query::Phrase { field, text } => term(field, text),
        Query::Wildcard { field, pattern } => wildcard(field, pattern),
        Query::Range { field, lower, upper } => range(field, lower, upper),
        Query::And(items) => Node::And(items.iter().map(compile).collect()),
        Query::Or(items) => Node::Or(items.iter().map(compile).collect()),
        Query::Not(inner) => Node::Not(Box::new(compile(inner))),
    }
}

fn term(field: &Field, value: &str) -> Node {
    if let Some(k) = Keyword::of(field) {
        return Node::Keyword(k, KeywordTest::Eq(value.to_string()));
    }
    match field {
        Field::Attribute(path) => Node::AttrValue { path: json_path(path), value: AttrValue::new(value) },
        _ => message_text(value),
    }
}

/// Full text: no token matches nothing, one is a term, several are a phrase.
fn message_text(text: &str) -> Node {
    // Dropped long tokens simply disappear from the query (quirk 2): the remaining ones are
    // expected at consecutive positions.
    let mut terms: Vec<String> = tokenize(text).into_iter().flatten().map(Cow::into_owned).collect();
    match terms.len() {
        0 => Node::Nothing,
        1 => Node::MessageTerm(terms.remove(0)),
        _ => Node::MessagePhrase(terms),
    }
}

fn wildcard(field: &Field, pattern: &str) -> Node {
    if pattern == "*" {
        return exists(field);
    }
    match field {
        // Indexed message tokens are lowercase; the store lowercases the whole pattern with
        // `str::to_lowercase` (which, unlike the indexer, applies the final-sigma rule).
        Field::Message => Node::MessageWildcard(Glob::new(&pattern.to_lowercase())),
        // The store builds this regex prefix with a plain `.` -> `\u{1}` replacement, without
        // `split_json_path`'s backslash escapes; identical for every path the parser produces.
        Field::Attribute(path) => Node::AttrWildcard { path: path.replace('.', "\u{1}"), glob: Glob::new(pattern) },
        other => match Keyword::of(other) {
            Some(k) => Node::Keyword(k, KeywordTest::Glob(Glob::new(pattern))),
            None => unreachable!("message and attributes are handled above"),
        },
    }
}

fn exists(field: &Field) -> Node {
    match field {
        Field::Message => Node::All,
        // An ExistsQuery on the fast column: every log has a service and a level.
        Field::Service | Field::Level => Node::All,
        Field::Attribute(path) => Node::AttrExists { path: json_path(path) },
        other => match Keyword::of(other) {
            Some(k) => Node::Keyword(k, KeywordTest::AnyWithoutNewline),
            None => unreachable!("message and attributes are handled above"),
        },
    }
}

fn range(field: &Field, lower: &QBound, upper: &QBound) -> Node {
    if *field == Field::Message {
        // The store rejects this with InvalidQuery (and the parser never produces it).
        return Node::Nothing;
    }
    if matches!((lower, upper), (QBound::Unbounded, QBound::Unbounded)) {
        return exists(field);
    }
    if let Some(k) = Keyword::of(field) {
        return Node::Keyword(k, KeywordTest::Range(text_bound(lower), text_bound(upper)));
    }
    let Field::Attribute(path) = field else { unreachable!("message and keyword fields are handled above") };
    let path = json_path(path);
    match (lower.as_number(), upper.as_number()) {
        (Some(lo), Some(hi)) => Node::AttrNumRange { path, range: NumRange::new(lo, hi) },
        _ => Node::AttrTextRange { path, lower: text_bound(lower), upper: text_bound(upper) },
    }
}

fn text_bound(b: &QBound) -> Bound<String> {
    match b {
        QBound::Unbounded => Bound::Unbounded,
        QBound::Included(v) => Bound::Included(v.clone()),
        QBound::Excluded(v) => Bound::Excluded(v.clone()),
    }
}

fn in_text_range(v: &str, lower: &Bound<String>, upper: &Bound<String>) -> bool {
    // Terms compare as bytes, which is `str`'s order.
    let above = match lower {
        Bound::Unbounded => true,
        Bound::Included(lo) => v >= lo.as_str(),
        Bound::Excluded(lo) => v > lo.as_str(),
    };
    let below = match upper {
        Bound::Unbounded => true,
        Bound::Included(hi) => v <= hi.as_str(),
        Bound::Excluded(hi) => v < hi.as_str(),
    };
    above && below
}

/// The JSON path of a query's attribute path as tantivy's `Term::from_field_json_path` builds
/// it (expand_dots off): `split_json_path` splits on unescaped dots (`\x` is a literal `x`, a
/// trailing backslash vanishes) and the segments are joined with `\u{1}`.
fn json_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut escaped = false;
    for c in path.chars() {
        if escaped {
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '.' => out.push(PATH_SEP),
            c => out.push(c),
        }
    }
    out
}

// ----- evaluation -----

/// One record being matched, with its message tokens computed on first use.
struct Doc<'a> {
    rec: &'a LogRecord,
    tokens: OnceCell<Vec<Option<Cow<'a, str>>>>,
}

impl<'a> Doc<'a> {
    /// Indexed message tokens by position (None where a long token was dropped).
    fn tokens(&self) -> &[Option<Cow<'a, str>>] {
        self.tokens.get_or_init(|| tokenize(&self.rec.message))
    }
}

impl Node {
    fn eval(&self, doc: &Doc<'_>) -> bool {
        let attrs = &doc.rec.attributes;
        match self {
            Node::All => true,
            Node::Nothing => false,
            Node::And(items) => items.iter().all(|n| n.eval(doc)),
            Node::Or(items) => items.iter().any(|n| n.eval(doc)),
            Node::Not(inner) => !inner.eval(doc),
            Node::MessageTerm(t) => doc.tokens().iter().any(|tok| tok.as_deref() == Some(t.as_str())),
            Node::MessagePhrase(terms) => doc
                .tokens()
                .windows(terms.len())
                .any(|w| w.iter().zip(terms).all(|(tok, t)| tok.as_deref() == Some(t.as_str()))),
            Node::MessageWildcard(glob) => doc.tokens().iter().flatten().any(|t| glob.matches(t)),
            Node::Keyword(k, test) => k.value(doc.rec).is_some_and(|v| test.matches(v)),
            Node::AttrValue { path, value } => any_at_path(attrs, path, &mut |leaf| value.matches(leaf)),
            Node::AttrWildcard { path, glob } => {
                any_at_path(attrs, path, &mut |leaf| indexed_str(leaf).is_some_and(|s| glob.matches(s)))
            }
            Node::AttrExists { path } => exists_at_path(attrs, path),
            Node::AttrNumRange { path, range } => any_at_path(attrs, path, &mut |leaf| range.matches(leaf)),
            Node::AttrTextRange { path, lower, upper } => {
                any_at_path(attrs, path, &mut |leaf| indexed_str(leaf).is_some_and(|s| in_text_range(s, lower, upper)))
            }
        }
    }
}

/// tantivy's `default` analyzer: SimpleTokenizer, RemoveLongFilter(40), LowerCaser. Positions
/// are kept, so a dropped token is a `None` at its position.
fn tokenize(text: &str) -> Vec<Option<Cow<'_, str>>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (c.is_alphanumeric() && i < text.len(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let token = &text[s..i];
                out.push((token.len() < MESSAGE_TOKEN_LIMIT).then(|| lowercase(token)));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// tantivy's `LowerCaser`: ASCII fast path, else per-char `to_lowercase` (no final sigma).
fn lowercase(token: &str) -> Cow<'_, str> {
    if token.is_ascii() {
        if token.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(token.to_ascii_lowercase())
        } else {
            Cow::Borrowed(token)
        }
    } else {
        Cow::Owned(token.chars().flat_map(char::to_lowercase).collect())
    }
}

/// A string leaf as the index holds it: None for non-strings, date-like strings (indexed as
/// dates, quirk 3) and strings over MAX_TOKEN_LEN (not indexed, quirk 5).
fn indexed_str(leaf: &Value) -> Option<&str> {
    match leaf {
        Value::String(s) if s.len() <= MAX_TOKEN_LEN && !is_tantivy_date(s) => Some(s),
        _ => None,
    }
}

/// True when `f` holds for a value whose tantivy JSON path is exactly `path`. Arrays are
/// transparent (their elements are values at the array's path); an object's members are at
/// deeper paths. Paths are compared as tantivy does, as `\u{1}`-joined strings, so this also
/// holds for (absurd) keys containing `\u{1}`.
fn any_at_path(map: &Map<String, Value>, path: &str, f: &mut dyn FnMut(&Value) -> bool) -> bool {
    for (key, value) in map {
        // tantivy's JSON indexer skips a key containing its end-of-path byte, with its value.
        if key.contains('\0') {
            continue;
        }
        if path == key {
            if any_value_here(value, f) {
                return true;
            }
        } else if let Some(rest) = path.strip_prefix(key.as_str()).and_then(|r| r.strip_prefix(PATH_SEP)) {
            if any_value_below(value, rest, f) {
                return true;
            }
        }
    }
    false
}

fn any_value_here(value: &Value, f: &mut dyn FnMut(&Value) -> bool) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|v| any_value_here(v, f)),
        Value::Object(_) => false,
        leaf => f(leaf),
    }
}

fn any_value_below(value: &Value, rest: &str, f: &mut dyn FnMut(&Value) -> bool) -> bool {
    match value {
        Value::Object(map) => any_at_path(map, rest, f),
        Value::Array(items) => items.iter().any(|v| any_value_below(v, rest, f)),
        _ => false,
    }
}

/// The store's `attribute_exists`: some indexed term whose path is `path` or starts with
/// `path \u{1}` (the byte range `[path \0, path \2)`).
fn exists_at_path(map: &Map<String, Value>, path: &str) -> bool {
    map.iter().any(|(key, value)| {
        if key.contains('\0') {
            return false;
        }
        if path == key || key.strip_prefix(path).is_some_and(|r| r.starts_with(PATH_SEP)) {
            return has_indexed_term(value);
        }
        match path.strip_prefix(key.as_str()).and_then(|r| r.strip_prefix(PATH_SEP)) {
            Some(rest) => exists_below(value, rest),
            None => false,
        }
    })
}

fn exists_below(value: &Value, rest: &str) -> bool {
    match value {
        Value::Object(map) => exists_at_path(map, rest),
        Value::Array(items) => items.iter().any(|v| exists_below(v, rest)),
        _ => false,
    }
}

/// Whether indexing `value` emits at least one term: null, empty arrays and empty objects emit
/// none, nor does a string over MAX_TOKEN_LEN (unless it is date-like: dates are not tokens).
fn has_indexed_term(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => s.len() <= MAX_TOKEN_LEN || is_tantivy_date(s),
        Value::Bool(_) | Value::Number(_) => true,
        Value::Array(items) => items.iter().any(has_indexed_term),
        Value::Object(map) => map.iter().any(|(k, v)| !k.contains('\0') && has_indexed_term(v)),
    }
}

// ----- wildcard patterns -----

/// A wildcard pattern as the store compiles it (core's `wildcard_to_regex`): an unescaped `*` is
/// `.*`, an unescaped `?` is `.`, and every other character is literal, with the query
/// language's escapes read by the same `decode_pattern` (`\*`, `\?` and `\\` are a literal `*`,
/// `?` and backslash; `\x` is `x`; a trailing lone backslash is itself). The regex `.` never
/// matches `\n` (quirk 1), so the pattern is split at its literal newlines, which must line up
/// with the text's.
#[derive(Debug, Clone)]
struct Glob {
    /// The pattern between literal newlines.
    lines: Vec<Vec<GlobItem>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum GlobItem {
    Char(char),
    /// `*`: any run of characters (no newline).
    Any,
    /// `?`: exactly one character (not a newline).
    One,
}

impl Glob {
    fn new(pattern: &str) -> Glob {
        let mut lines = vec![Vec::new()];
        for (c, literal) in decode_pattern(pattern) {
            let item = match (c, literal) {
                ('*', false) => GlobItem::Any,
                ('?', false) => GlobItem::One,
                ('\n', _) => {
                    lines.push(Vec::new());
                    continue;
                }
                (c, _) => GlobItem::Char(c),
            };
            lines.last_mut().expect("at least one line").push(item);
        }
        Glob { lines }
    }

    /// Whole-text match (tantivy's regex automaton must accept the entire term).
    fn matches(&self, text: &str) -> bool {
        let mut text_lines = text.split('\n');
        for line in &self.lines {
            match text_lines.next() {
                Some(t) if glob_line(line, t) => {}
                _ => return false,
            }
        }
        text_lines.next().is_none()
    }
}

/// Classic linear-backtracking glob match of one newline-free line.
fn glob_line(p: &[GlobItem], t: &str) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen: its pattern index and the text index it currently extends to.
    let mut star: Option<(usize, usize)> = None;
    loop {
        let c = t[ti..].chars().next();
        match (p.get(pi), c) {
            (Some(GlobItem::Any), _) => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            (Some(GlobItem::One), Some(c)) => {
                pi += 1;
                ti += c.len_utf8();
                continue;
            }
            (Some(GlobItem::Char(x)), Some(c)) if *x == c => {
                pi += 1;
                ti += c.len_utf8();
                continue;
            }
            (None, None) => return true,
            _ => {}
        }
        let Some((sp, st)) = star else {
            return false;
        };
        let Some(c) = t[st..].chars().next() else {
            return false;
        };
        star = Some((sp, st + c.len_utf8()));
        pi = sp + 1;
        ti = st + c.len_utf8();
    }
}

// ----- RFC 3339 detection, as tantivy converts JSON strings -----

/// tantivy turns a JSON string into a date when it starts with an ASCII digit and
/// `time::OffsetDateTime::parse(text, &Rfc3339)` accepts it (time 0.3). That parser is
/// reproduced here: `YYYY-MM-DD`, **any single byte** as the separator, `hh:mm:ss`, an optional
/// `.` and one or more digits, then `Z`/`z` or `±hh:mm` (hour ≤ 23, minute ≤ 59), nothing after;
/// the date must exist, hour ≤ 23, minute ≤ 59, second ≤ 60, and a leap second (60) is only
/// accepted at 23:59:60 UTC on the last day of a month.
fn is_tantivy_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(u8::is_ascii_digit) && parse_rfc3339(b).is_some()
}

fn parse_rfc3339(b: &[u8]) -> Option<()> {
    use chrono::{Datelike, NaiveDate, Timelike};
    let digits = |at: usize, n: usize| -> Option<u32> {
        let d = b.get(at..at + n)?;
        d.iter().all(u8::is_ascii_digit).then(|| d.iter().fold(0, |acc, x| acc * 10 + u32::from(x - b'0')))
    };
    let lit = |at: usize, c: u8| (b.get(at) == Some(&c)).then_some(());
    let year = digits(0, 4)?;
    lit(4, b'-')?;
    let month = digits(5, 2)?;
    lit(7, b'-')?;
    let day = digits(8, 2)?;
    b.get(10)?; // any separator byte
    let hour = digits(11, 2)?;
    lit(13, b':')?;
    let minute = digits(14, 2)?;
    lit(16, b':')?;
    let second = digits(17, 2)?;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !b.get(i)?.is_ascii_digit() {
            return None;
        }
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset_secs: i64 = match *b.get(i)? {
        b'Z' | b'z' => {
            i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            let oh = digits(i + 1, 2).filter(|h| *h <= 23)?;
            lit(i + 3, b':')?;
            let om = digits(i + 4, 2).filter(|m| *m <= 59)?;
            i += 6;
            let secs = i64::from(oh * 3600 + om * 60);
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    if i != b.len() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    if second == 60 {
        // Accepted only as the last second of a month in UTC.
        let utc = date.and_hms_opt(hour, minute, 59)? - chrono::Duration::seconds(offset_secs);
        let last_of_month = utc.date().succ_opt().is_none_or(|next| next.month() != utc.month());
        if !(utc.hour() == 23 && utc.minute() == 59 && utc.second() == 59 && last_of_month) {
            return None;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn rec(message: &str, attrs: Value) -> LogRecord {
        LogRecord {
            id: "01J9".into(),
            timestamp: Utc.with_ymd_and_hms(2025, 10, 24, 12, 0, 0).unwrap(),
            service: "auth-service".into(),
            level: Level::Warning,
            message: message.into(),
            host: Some("web-1".into()),
            correlation_id: Some("corr-7".into()),
            request_id: None,
            trace_id: Some("abc123".into()),
            span_id: None,
            attributes: attrs.as_object().cloned().unwrap_or_default(),
        }
    }

    fn q(query: &str, r: &LogRecord) -> bool {
        Matcher::new(&parse(query).unwrap_or_else(|e| panic!("{query}: {e}")), &[], &[]).matches(r)
    }

    fn ast(query: Query, r: &LogRecord) -> bool {
        Matcher::new(&query, &[], &[]).matches(r)
    }

    fn check(r: &LogRecord, yes: &[&str], no: &[&str]) {
        for query in yes {
            assert!(q(query, r), "{query} should match");
        }
        for query in no {
            assert!(!q(query, r), "{query} should not match");
        }
    }

    #[test]
    fn all_matches_everything() {
        let r = rec("", json!({}));
        assert!(ast(Query::All, &r));
        check(&r, &["*", "", "message:*"], &[]);
    }

    #[test]
    fn message_terms_are_tokens_case_insensitive() {
        let r = rec("Payment FAILED: connection refused (retry 3/5) for order-42", json!({}));
        check(
            &r,
            &["payment", "PAYMENT", "failed", "msg:refused", "3", "\"failed\"", "order-42", "order_42", "retry\\ 3"],
            &["pay", "payments", "ord", "-payment", "42-order", "connection\\ failed", "\\-"],
        );
        // Punctuation splits tokens (`foo-bar` is the phrase `foo bar`), and nothing-but-
        // punctuation yields no token, which matches nothing.
        assert!(!ast(Query::Term { field: Field::Message, value: "!!!".into() }, &r));
        assert!(ast(Query::Not(Box::new(Query::Term { field: Field::Message, value: "--".into() })), &r));
    }

    #[test]
    fn unicode_tokens_and_lowercasing() {
        let r = rec("Déjà vu: ÉCOLE straße ΟΔΟΣ 東京タワー", json!({}));
        check(&r, &["école", "ÉCOLE", "déjà", "\"ÉCOLE STRAßE\"", "οδοσ", "東京タワー"], &["ecole", "strasse", "東京"]);
        // The query is lowercased like the index (per char, no final sigma) …
        assert!(q("ΟΔΟΣ", &r));
        // … but a wildcard pattern goes through `str::to_lowercase`, whose final sigma (ς)
        // differs from the indexed σ.
        assert!(!q("ΟΔΟΣ*", &r));
        assert!(q("οδοσ*", &r));
    }

    #[test]
    fn phrases_need_consecutive_tokens_in_order() {
        let r = rec("payment failed: connection refused; foo foo bar", json!({}));
        check(
            &r,
            &["\"connection refused\"", "\"FAILED connection\"", "\"foo foo bar\"", "\"foo bar\"", "\"refused; foo\""],
            &["\"refused connection\"", "\"payment connection\"", "\"foo foo foo\"", "\"bar foo\""],
        );
    }

    #[test]
    fn long_tokens_are_dropped_but_keep_their_position() {
        let long = "x".repeat(40);
        let short = "y".repeat(39);
        let r = rec(&format!("alpha {long} beta {short} gamma"), json!({}));
        let phrase = format!("\"beta {short} gamma\"");
        check(&r, &[&short, "alpha", "beta", &phrase], &[&long]);
        // The dropped token leaves a gap in the message but vanishes from the query.
        assert!(!q(&format!("\"alpha {long} beta\""), &r));
        assert!(q(&format!("\"alpha {long} beta\""), &rec("alpha beta", json!({}))));
        // Length is measured before lowercasing: 20 × 'İ' is 40 bytes, dropped.
        let dotted = "İ".repeat(20);
        assert!(!q(&dotted, &rec(&dotted, json!({}))));
    }

    #[test]
    fn message_wildcards_match_single_tokens() {
        let r = rec("Payment deadlock for order-42 at 10.0.0.1", json!({}));
        check(
            &r,
            &["pay*", "PAY*", "dead?ock", "*lock", "or*er", "?", "1*", "message:*", "**"],
            &["order-4*", "pay?", "*-42", "10.0*", "deadlock?"],
        );
        // Escapes are honoured: `\*`, `\?` and `\\` are literal, and since tokens are
        // alphanumeric they can never match one.
        check(&r, &["\\p\\a\\y*", "P\\AY*", "de\\ad?ock"], &["pay\\**", "dead\\?oc*", "pay\\\\*"]);
        // In a pattern, an escaped letter is that letter, also once the pattern is lowercased
        // (`P\AY*` -> `p\ay*`).
        let wildcard = |pattern: &str| Query::Wildcard { field: Field::Message, pattern: pattern.into() };
        assert!(ast(wildcard("P\\AY*"), &r));
        assert!(ast(wildcard("\\p\\a\\y\\m*"), &r));
        assert!(!ast(wildcard("PAY\\*"), &r));
        let literal = rec("pay* now, a?b, x\\y", json!({}));
        check(&literal, &["pay\\*", "x\\\\y"], &["pay\\**", "a\\?b*", "x\\\\*", "pay\\?*"]);
        // `pay\*` (no unescaped wildcard) is the term `pay*`, i.e. the token `pay`: not `payment`.
        assert!(!q("pay\\*", &r));
        assert!(!q("pay\\**", &rec("pay\\ment", json!({}))), "tokens never contain a backslash");
        // `**` is a regex needing one token, unlike `*`.
        assert!(!q("message:**", &rec("!!!", json!({}))));
        assert!(q("message:*", &rec("!!!", json!({}))));
    }

    #[test]
    fn keyword_fields_are_exact() {
        let r = rec("m", json!({}));
        check(
            &r,
            &[
                "service:auth-service",
                "level:warn",
                "level:>=info",
                "host:web-1",
                "id:01J9",
                "correlation_id:corr-7",
                "trace_id:abc123",
                "service:\"auth-service\"",
            ],
            &["service:auth", "service:Auth-Service", "level:error", "host:WEB-1", "request_id:x", "id:01j9"],
        );
        // Level terms are compared raw: a hand-built non-canonical value matches nothing.
        assert!(!ast(Query::Term { field: Field::Level, value: "warning".into() }, &r));
        // A phrase on a keyword field is an exact term.
        assert!(ast(Query::Phrase { field: Field::Service, text: "auth-service".into() }, &r));
    }

    #[test]
    fn keyword_wildcards_and_exists() {
        let mut r = rec("m", json!({}));
        check(
            &r,
            &["service:auth-*", "service:*-service", "service:a?th*", "host:*", "trace_id:*", "id:*", "service:*"],
            &["service:Auth*", "request_id:*", "span_id:*", "host:web-?1", "service:*-svc"],
        );
        // `.` in the store's regex does not match a newline (quirk 1).
        r.host = Some("a\nb".into());
        assert!(!q("host:*", &r));
        assert!(!q("host:a*", &r));
        assert!(q("host:[* TO *]", &rec("m", json!({}))));
        r.host = Some(String::new());
        assert!(q("host:*", &r));
        assert!(ast(Query::Term { field: Field::Host, value: String::new() }, &r));
        // Hand-built wildcards on level work on the raw value.
        assert!(ast(Query::Wildcard { field: Field::Level, pattern: "WARN*".into() }, &r));
        assert!(!ast(Query::Wildcard { field: Field::Level, pattern: "warn*".into() }, &r));
        // Escapes in a keyword wildcard are honoured: the query `a\\*` (an escaped backslash)
        // keeps the pattern `a\\*`, a literal `a\` followed by anything.
        r.host = Some("a\\b".into());
        check(&r, &["host:a\\\\*", "host:a\\\\?", "host:?\\\\b"], &["host:a\\\\\\\\*", "host:a\\**", "host:a\\?*"]);
        r.host = Some("a\\\\b".into());
        check(&r, &["host:a\\\\*", "host:a\\\\\\\\*", "host:a\\\\\\\\?"], &["host:a\\\\?"]);
        r.host = Some("a*b".into());
        check(&r, &["host:a\\**", "host:a\\*?", "host:*\\*b", "host:a?b"], &["host:a\\?*", "host:a\\\\*"]);
        r.host = Some("axb".into());
        check(&r, &["host:a?b", "host:a*"], &["host:a\\**", "host:a\\*?", "host:a\\?*"]);
        r.host = Some("a?b".into());
        check(&r, &["host:a\\?*", "host:a\\??", "host:a?b"], &["host:a\\**"]);
        // A hand-built pattern whose only `*` is escaped is the literal value.
        let literal = |host: &str| {
            let mut r = rec("m", json!({}));
            r.host = Some(host.into());
            ast(Query::Wildcard { field: Field::Host, pattern: "pay\\*".into() }, &r)
        };
        assert!(literal("pay*"));
        assert!(!literal("payment"));
        assert!(!literal("pay\\*"));
    }

    #[test]
    fn keyword_ranges_compare_bytes() {
        let r = rec("m", json!({}));
        check(
            &r,
            &["service:[a TO b]", "service:>auth", "service:{auth TO auth-service]", "id:<01K", "host:[* TO *]"],
            &["service:{auth-service TO *]", "service:[B TO Z]", "request_id:[* TO *]", "id:>01J9"],
        );
        // A hand-built range on level is alphabetical, not by severity.
        let lvl = |lo: &str, hi: &str| Query::Range {
            field: Field::Level,
            lower: QBound::Included(lo.into()),
            upper: QBound::Included(hi.into()),
        };
        assert!(ast(lvl("INFO", "WARNING"), &r));
        assert!(!ast(lvl("A", "INFO"), &r));
    }

    #[test]
    fn attribute_terms_try_every_type() {
        let r = rec(
            "m",
            json!({
                "user": {"id": 42, "name": "Alice", "roles": ["admin", "dev"]},
                "amount": 12.0, "ratio": 0.5, "ok": true, "code": "500",
                "big": 18446744073709551615u64, "neg": -5, "zero": -0.0, "nothing": null,
                "items": [{"sku": "X-1", "qty": 2}, {"sku": "Y-2", "qty": [3, 4]}],
                "k.dot": 1
            }),
        );
        check(
            &r,
            &[
                "attributes.user.id:42",
                "user.id:42",
                "user.id:+42",
                "user.name:Alice",
                "user.roles:dev",
                "amount:12",
                "amount:12.0",
                "amount:1.2e1",
                "ratio:.5",
                "ok:true",
                "code:500",
                "big:18446744073709551615",
                "neg:-5",
                "zero:-0",
                "items.sku:Y-2",
                "items.qty:4",
                "attributes.user.id:(1 OR 42)",
            ],
            &[
                "user.id:42.0",
                "user.name:alice",
                "User.name:Alice",
                "user:42",
                "ok:TRUE",
                "ok:1",
                "code:500.0",
                "zero:0",
                "nothing:null",
                "items:X-1",
                "k.dot:1",
                "user.id:4*",
            ],
        );
        // An escaped dot in a hand-built path reaches a dotted key (tantivy's split_json_path).
        assert!(ast(Query::Term { field: Field::Attribute("k\\.dot".into()), value: "1".into() }, &r));
    }

    #[test]
    fn date_like_strings_are_only_visible_to_exists() {
        let r =
            rec("m", json!({"at": "2025-01-02T03:04:05.6+01:00", "day": "2025-01-02", "odd": "2025-13-01T00:00:00Z"}));
        check(
            &r,
            &["at:*", "day:2025-01-02", "day:2025*", "odd:2025-13-01T00\\:00\\:00Z", "odd:2025*"],
            &["at:2025-01-02T03\\:04\\:05.6+01\\:00", "at:2025*", "at:[0 TO 9]", "at:>2"],
        );
        let cases = [
            ("2025-01-02T03:04:05Z", true),
            ("2025-01-02 03:04:05z", true),
            ("2025-01-02x03:04:05.123456789123-23:59", true),
            ("2016-12-31T23:59:60Z", true),
            ("2017-01-01T00:59:60+01:00", true),
            ("2016-12-30T23:59:60Z", false),
            ("2024-02-29T00:00:00Z", true),
            ("2023-02-29T00:00:00Z", false),
            ("2025-01-02T24:00:00Z", false),
            ("2025-01-02T03:04:05", false),
            ("2025-01-02T03:04:05.Z", false),
            ("2025-01-02T03:04:05+24:00", false),
            ("2025-01-02T03:04:05+01:60", false),
            ("2025-01-02T03:04:05Z ", false),
            ("2025-00-02T03:04:05Z", false),
            ("2025-01-02é03:04:05Z", false),
            ("T2025-01-02T03:04:05Z", false),
        ];
        for (text, want) in cases {
            assert_eq!(is_tantivy_date(text), want, "{text}");
        }
    }

    #[test]
    fn attribute_wildcards_see_only_strings() {
        let r = rec("m", json!({"region": "eu-west", "status": 503, "tags": ["a\\\\b", "Z"], "ml": "a\nb"}));
        check(
            &r,
            &["region:eu-*", "region:*west", "region:??-west", "tags:a\\\\*", "tags:?", "ml:*"],
            &["region:EU-*", "status:5*", "region:eu", "ml:a*", "ml:a?b"],
        );
        // Escapes are honoured, as on keyword fields.
        let r = rec("m", json!({"raw": ["pay*", "a?b", "x\\y"], "other": "payment"}));
        check(
            &r,
            &["raw:pay\\*", "raw:pay\\**", "raw:a\\?b*", "raw:a\\??", "raw:x\\\\*", "raw:x\\\\?"],
            &["other:pay\\**", "raw:pay\\?*", "raw:a\\**", "raw:x\\\\\\\\*", "raw:payment"],
        );
    }

    #[test]
    fn attribute_exists_covers_nested_paths() {
        let r = rec(
            "m",
            json!({"user": {"id": 1}, "n": null, "e": "", "ea": [], "eo": {}, "nested_null": {"x": null}, "arr": [null, 0]}),
        );
        check(
            &r,
            &["user:*", "user.id:*", "e:*", "arr:*", "user:[* TO *]", "attributes.user.id:[* TO *]"],
            &["n:*", "ea:*", "eo:*", "nested_null:*", "us:*", "user.name:*", "missing:*"],
        );
    }

    #[test]
    fn attribute_numeric_ranges() {
        let r = rec("m", json!({"lat": 150, "f": 99.5, "big": 18446744073709551615u64, "s": "120", "z": -0.0}));
        check(
            &r,
            &[
                "lat:>100",
                "lat:[150 TO 150]",
                "lat:{149.5 TO 150.5}",
                "lat:[100 TO *]",
                "f:>=99.5",
                "f:<100",
                "big:>1e19",
                "big:>=18446744073709551615",
                "z:<0",
                "z:[-0 TO -0]",
            ],
            &["lat:>150", "lat:{150 TO 200]", "f:>99.5", "s:>100", "big:<1e19", "z:>=0", "lat:>inf"],
        );
    }

    #[test]
    fn attribute_text_ranges() {
        let r = rec("m", json!({"region": "eu-west", "n": 5, "s": "120"}));
        check(
            &r,
            &["region:[eu TO ev]", "region:>a", "region:[a TO *]", "s:[1 TO a]", "region:{eu TO eu-west]"],
            &["region:{eu-west TO *]", "region:[A TO Z]", "n:[0 TO a]", "s:[2 TO a]"],
        );
    }

    #[test]
    fn boolean_operators() {
        let r = rec("payment failed", json!({}));
        check(
            &r,
            &["payment OR nothing", "payment failed", "-nothing", "NOT (nothing OR other)", "a OR payment b OR failed"],
            &["payment nothing", "-payment", "NOT failed", "payment AND NOT failed", "nothing OR (failed other)"],
        );
        assert!(ast(Query::And(vec![]), &r));
        assert!(!ast(Query::Or(vec![]), &r));
    }

    #[test]
    fn message_range_matches_nothing() {
        let r = rec("m", json!({}));
        let range = Query::Range { field: Field::Message, lower: QBound::Unbounded, upper: QBound::Unbounded };
        assert!(!ast(range, &r));
    }

    #[test]
    fn service_and_level_filters() {
        let r = rec("m", json!({}));
        let m = |services: &[&str], levels: &[Level]| {
            let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
            Matcher::new(&Query::All, &services, levels).matches(&r)
        };
        assert!(m(&[], &[]));
        assert!(m(&["x", "auth-service"], &[]));
        assert!(!m(&["Auth-Service"], &[]));
        assert!(m(&[], &[Level::Error, Level::Warning]));
        assert!(!m(&["auth-service"], &[Level::Error]));
    }

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| Glob::new(p).matches(t);
        assert!(g("a*b*c", "aXbYbZc"));
        assert!(g("*", ""));
        assert!(!g("?", ""));
        assert!(g("?é?", "xéy"));
        assert!(!g("a*c", "abd"));
        assert!(g("a\n*", "a\nzz"));
        assert!(!g("a*", "a\nz"));
        assert!(!g("a\nb", "a\nb\nc"));
        // Escapes: `\*`, `\?`, `\\` are literal, `\x` is `x`, a trailing lone `\` is itself.
        assert!(g("a\\*", "a*"));
        assert!(!g("a\\*", "ab"));
        assert!(g("a\\?", "a?"));
        assert!(!g("a\\?", "ab"));
        assert!(g("a\\\\*", "a\\bc"));
        assert!(!g("a\\\\*", "abc"));
        assert!(g("\\a\\b", "ab"));
        assert!(g("a\\", "a\\"));
        assert!(g("a\\\\", "a\\"));
        assert!(!g("a\\\\", "a\\\\"));
        assert!(g("a\\\n*", "a\nz"));
    }

    #[test]
    fn tokenizer_keeps_positions() {
        let toks = tokenize("Hello, WORLD!! x1_y2 ok");
        let got: Vec<Option<&str>> = toks.iter().map(|t| t.as_deref()).collect();
        assert_eq!(got, [Some("hello"), Some("world"), Some("x1"), Some("y2"), Some("ok")]);
        let long = "a".repeat(45);
        let text = format!("{long} b");
        let toks = tokenize(&text);
        assert_eq!(toks.len(), 2);
        assert!(toks[0].is_none());
    }
}
