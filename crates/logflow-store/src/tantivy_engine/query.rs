//! Compiling the engine-neutral query AST and the search filters into a tantivy query.
//!
//! Mapping by field kind:
//! * `message` (full text): words go through the field's tokenizer, so `Term` of `user-42`
//!   becomes the phrase `user 42`; wildcards match single indexed words (lowercased).
//! * wildcards everywhere: `*` and `?` with the query language's `\` escapes (`pay\*` is the
//!   literal `pay*`), compiled by core's [`wildcard_to_regex`].
//! * keyword fields (`service`, `level`, `host`, ids): exact values; wildcards and ranges work on
//!   the raw value.
//! * `attributes.<path>`: a value matches as text, and also as a number or boolean when it parses
//!   as one, since JSON values keep their type in the index. Ranges compare numbers when both
//!   bounds are numeric, else text.

use super::schema::{to_datetime, Fields};
use crate::{Result, StoreError};
use logflow_core::query::{integer_bounds, wildcard_to_regex, Bound as QBound, Field, Query};
use logflow_core::Level;
use std::ops::Bound;
use tantivy::columnar::Cardinality;
use tantivy::query::{
    AllQuery, AllScorer, BooleanQuery, EmptyQuery, EmptyScorer, EnableScoring, ExistsQuery, Explanation,
    InvertedIndexRangeQuery, Occur, PhraseQuery, Query as TQuery, RangeQuery, RegexQuery, Scorer, TermQuery,
    TermSetQuery, Weight,
};
use tantivy::schema::{Field as TField, IndexRecordOption, Type};
use tantivy::tokenizer::TokenizerManager;
use tantivy::{DateTime, DocId, Score, SegmentReader, Term};

pub type BoxQuery = Box<dyn TQuery>;

/// Compiles queries; cheap to build per search.
pub struct Compiler<'a> {
    pub fields: &'a Fields,
    pub tokenizers: &'a TokenizerManager,
}

impl Compiler<'_> {
    /// The clauses (to be ANDed) of a search or aggregation filter: the query, any of `services`,
    /// any of `levels` (empty = all). The time range is added per partition, by the caller.
    pub fn filters(&self, query: &Query, services: &[String], levels: &[Level]) -> Result<Vec<BoxQuery>> {
        let mut must: Vec<BoxQuery> = Vec::new();
        if *query != Query::All {
            must.push(self.compile(query)?);
        }
        if !services.is_empty() {
            let terms = services.iter().map(|s| Term::from_field_text(self.fields.service, s));
            must.push(Box::new(TermSetQuery::new(terms)));
        }
        if !levels.is_empty() {
            let terms = levels.iter().map(|l| Term::from_field_text(self.fields.level, l.as_str()));
            must.push(Box::new(TermSetQuery::new(terms)));
        }
        Ok(must)
    }

    pub fn compile(&self, q: &Query) -> Result<BoxQuery> {
        Ok(match q {
            Query::All => Box::new(AllQuery),
            Query::Term { field, value } => self.term(field, value)?,
            Query::Phrase { field, text } => self.phrase(field, text)?,
            Query::Wildcard { field, pattern } => self.wildcard(field, pattern)?,
            Query::Range { field, lower, upper } => self.range(field, lower, upper)?,
            Query::And(items) => {
                let mut clauses = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Query::Not(inner) => clauses.push((Occur::MustNot, self.compile(inner)?)),
                        other => clauses.push((Occur::Must, self.compile(other)?)),
                    }
                }
                if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Or(items) => {
                let clauses =
                    items.iter().map(|i| Ok((Occur::Should, self.compile(i)?))).collect::<Result<Vec<_>>>()?;
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as BoxQuery),
                (Occur::MustNot, self.compile(inner)?),
            ])),
        })
    }

    fn keyword_field(&self, field: &Field) -> Option<TField> {
        let f = self.fields;
        Some(match field {
            Field::Service => f.service,
            Field::Level => f.level,
            Field::Host => f.host,
            Field::Id => f.id,
            Field::CorrelationId => f.correlation_id,
            Field::RequestId => f.request_id,
            Field::TraceId => f.trace_id,
            Field::SpanId => f.span_id,
            Field::Message | Field::Attribute(_) => return None,
        })
    }

    fn tokens(&self, text: &str) -> Vec<String> {
        let mut analyzer =
            self.tokenizers.get(super::schema::MESSAGE_TOKENIZER).expect("default tokenizer is always registered");
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(tok) = stream.next() {
            out.push(tok.text.clone());
        }
        out
    }

    /// Full text: one token is a term query, several are a phrase, none match nothing.
    fn message_text(&self, text: &str) -> BoxQuery {
        let terms: Vec<Term> =
            self.tokens(text).iter().map(|t| Term::from_field_text(self.fields.message, t)).collect();
        match terms.len() {
            0 => Box::new(EmptyQuery),
            1 => Box::new(TermQuery::new(terms[0].clone(), IndexRecordOption::Basic)),
            _ => Box::new(PhraseQuery::new(terms)),
        }
    }

    fn term(&self, field: &Field, value: &str) -> Result<BoxQuery> {
        if let Some(f) = self.keyword_field(field) {
            return Ok(Box::new(TermQuery::new(Term::from_field_text(f, value), IndexRecordOption::Basic)));
        }
        match field {
            Field::Attribute(path) => Ok(self.attribute_value(path, value)),
            _ => Ok(self.message_text(value)),
        }
    }

    fn phrase(&self, field: &Field, text: &str) -> Result<BoxQuery> {
        match field {
            Field::Message => Ok(self.message_text(text)),
            other => self.term(other, text),
        }
    }

    /// An attribute value matches as text, and as a number or boolean when it parses as one.
    fn attribute_value(&self, path: &str, value: &str) -> BoxQuery {
        let base = || Term::from_field_json_path(self.fields.attributes, path, false);
        let mut terms = Vec::with_capacity(3);
        let mut t = base();
        t.append_type_and_str(value);
        terms.push(t);
        if let Ok(i) = value.parse::<i64>() {
            let mut t = base();
            t.append_type_and_fast_value(i);
            terms.push(t);
        }
        // JSON numbers above i64::MAX are indexed as u64; small ones may be too, depending on the
        // writer, so the u64 form is always tried for non-negative integers.
        if let Ok(u) = value.parse::<u64>() {
            let mut t = base();
            t.append_type_and_fast_value(u);
            terms.push(t);
        }
        if let Ok(x) = value.parse::<f64>() {
            if x.is_finite() {
                let mut t = base();
                t.append_type_and_fast_value(x);
                terms.push(t);
            }
        }
        if let Ok(b) = value.parse::<bool>() {
            let mut t = base();
            t.append_type_and_fast_value(b);
            terms.push(t);
        }
        Box::new(TermSetQuery::new(terms))
    }

    fn wildcard(&self, field: &Field, pattern: &str) -> Result<BoxQuery> {
        if pattern == "*" {
            return Ok(self.exists(field));
        }
        let (tfield, prefix, body) = match field {
            // Indexed message tokens are lowercase. Lowercasing the pattern keeps its escapes
            // intact: `\`, `*` and `?` have no case and no character lowercases to one of them
            // (an escaped letter stays escaped: `\P` becomes `\p`, still a literal `p`).
            Field::Message => (self.fields.message, String::new(), pattern.to_lowercase()),
            Field::Attribute(path) => {
                // JSON terms are keyed `path \0 s value` in the field's dictionary.
                let json_path = path.replace('.', "\u{1}");
                (self.fields.attributes, format!("{}\\x00s", regex_escape(&json_path)), pattern.to_string())
            }
            other => (self.keyword_field(other).expect("keyword field"), String::new(), pattern.to_string()),
        };
        let regex = format!("{prefix}{}", wildcard_to_regex(&body));
        RegexQuery::from_pattern(&regex, tfield)
            .map(|q| Box::new(q) as BoxQuery)
            .map_err(|e| StoreError::InvalidQuery(format!("wildcard '{pattern}' cannot be used: {e}")))
    }

    fn exists(&self, field: &Field) -> BoxQuery {
        match field {
            Field::Message => Box::new(AllQuery),
            Field::Service | Field::Level => Box::new(ExistsQuery::new(field.name(), false)),
            Field::Attribute(path) => self.attribute_exists(path),
            other => {
                let f = self.keyword_field(other).expect("keyword field");
                Box::new(RegexQuery::from_pattern(".*", f).expect("valid regex"))
            }
        }
    }

    fn range(&self, field: &Field, lower: &QBound, upper: &QBound) -> Result<BoxQuery> {
        if matches!((lower, upper), (QBound::Unbounded, QBound::Unbounded)) && *field != Field::Message {
            return Ok(self.exists(field)); // `[* TO *]`: tantivy needs at least one bound
        }
        if let Some(f) = self.keyword_field(field) {
            let conv = |b: &QBound| map_bound(b, |v| Term::from_field_text(f, v));
            return Ok(Box::new(RangeQuery::new(conv(lower), conv(upper))));
        }
        let Field::Attribute(path) = field else {
            return Err(StoreError::InvalidQuery(
                "range queries are not supported on message; use them on keyword fields or attributes".into(),
            ));
        };
        if let (Some(lo), Some(hi)) = (lower.as_number(), upper.as_number()) {
            return Ok(self.attribute_numeric_range(path, lo, hi));
        }
        let base = || Term::from_field_json_path(self.fields.attributes, path, false);
        let conv = |b: &QBound| {
            map_bound(b, |v| {
                let mut t = base();
                t.append_type_and_str(v);
                t
            })
        };
        let (lo, hi) = self.clamp_to_type(path, Type::Str, conv(lower), conv(upper));
        Ok(Box::new(InvertedIndexRangeQuery::new(lo, hi)))
    }

    /// Open ends of a JSON range stop at the edges of this path's terms of type `typ`; the term
    /// dictionary of the JSON field holds every path and type side by side.
    fn clamp_to_type(&self, path: &str, typ: Type, lo: Bound<Term>, hi: Bound<Term>) -> (Bound<Term>, Bound<Term>) {
        let edge = |code: u8| {
            let mut t = Term::from_field_json_path(self.fields.attributes, path, false);
            t.append_bytes(&[code]);
            t
        };
        let lo = match lo {
            Bound::Unbounded => Bound::Included(edge(typ.to_code())),
            b => b,
        };
        let hi = match hi {
            Bound::Unbounded => Bound::Excluded(edge(typ.to_code() + 1)),
            b => b,
        };
        (lo, hi)
    }

    /// JSON numbers are indexed as i64, u64 (above i64::MAX) or f64 (fractions), each with an
    /// order-preserving encoding under its own type tag, so a numeric range is the union of one
    /// term range per type.
    fn attribute_numeric_range(&self, path: &str, lo: Bound<f64>, hi: Bound<f64>) -> BoxQuery {
        let typed = |f: &dyn Fn(&mut Term)| {
            let mut t = Term::from_field_json_path(self.fields.attributes, path, false);
            f(&mut t);
            t
        };
        let mut ranges: Vec<(Occur, BoxQuery)> = Vec::new();
        let mut push = |typ: Type, lower: Bound<Term>, upper: Bound<Term>| {
            let (lower, upper) = self.clamp_to_type(path, typ, lower, upper);
            ranges.push((Occur::Should, Box::new(InvertedIndexRangeQuery::new(lower, upper)) as BoxQuery));
        };
        let float = |b: Bound<f64>| b.map(|x| typed(&|t| t.append_type_and_fast_value(x)));
        push(Type::F64, float(lo), float(hi));
        if let Some((a, b)) = integer_bounds(lo, hi, i64::MIN as f64, i64::MAX as f64) {
            push(
                Type::I64,
                a.map_or(Bound::Unbounded, |v| Bound::Included(typed(&|t| t.append_type_and_fast_value(v as i64)))),
                b.map_or(Bound::Unbounded, |v| Bound::Included(typed(&|t| t.append_type_and_fast_value(v as i64)))),
            );
        }
        if let Some((a, b)) = integer_bounds(lo, hi, 0.0, u64::MAX as f64) {
            push(
                Type::U64,
                a.map_or(Bound::Unbounded, |v| Bound::Included(typed(&|t| t.append_type_and_fast_value(v as u64)))),
                b.map_or(Bound::Unbounded, |v| Bound::Included(typed(&|t| t.append_type_and_fast_value(v as u64)))),
            );
        }
        Box::new(BooleanQuery::new(ranges))
    }

    /// Every term under `path`: its own values (`path \0 ...`) and those of nested paths
    /// (`path \1 sub ...`), i.e. the byte range `[path \0, path \2)`.
    fn attribute_exists(&self, path: &str) -> BoxQuery {
        let lower = Term::from_field_json_path(self.fields.attributes, path, false);
        let upper = Term::from_field_json_path(self.fields.attributes, &format!("{path}\u{2}"), false);
        Box::new(InvertedIndexRangeQuery::new(Bound::Included(lower), Bound::Excluded(upper)))
    }

    /// `timestamp` within `[start, end)` in microseconds; either side open.
    pub fn time_range(&self, start: Option<i64>, end: Option<i64>) -> Option<BoxQuery> {
        if start.is_none() && end.is_none() {
            return None;
        }
        let t = |m: i64| Term::from_field_date(self.fields.timestamp, to_datetime(m));
        let lo = start.map_or(Bound::Unbounded, |m| Bound::Included(t(m)));
        let hi = end.map_or(Bound::Unbounded, |m| Bound::Excluded(t(m)));
        Some(Box::new(TimeRangeQuery { start, end, scan: RangeQuery::new(lo, hi) }))
    }

    pub fn timestamp_eq(&self, micros: i64) -> BoxQuery {
        let t = Term::from_field_date(self.fields.timestamp, to_datetime(micros));
        Box::new(RangeQuery::new(Bound::Included(t.clone()), Bound::Included(t)))
    }
}

/// A time range decided per segment from the timestamp column's minimum and maximum: a segment
/// wholly inside the range matches every document without reading a value, one wholly outside
/// matches none, and only a segment straddling a bound scans the column (`scan`). Logs arrive
/// roughly in time order, so over a long range most segments are wholly inside it.
#[derive(Debug, Clone)]
struct TimeRangeQuery {
    start: Option<i64>,
    end: Option<i64>,
    scan: RangeQuery,
}

impl TQuery for TimeRangeQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(TimeRangeWeight { start: self.start, end: self.end, scan: self.scan.weight(scoring)? }))
    }
}

struct TimeRangeWeight {
    start: Option<i64>,
    end: Option<i64>,
    scan: Box<dyn Weight>,
}

impl Weight for TimeRangeWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let Some(ts) = reader.fast_fields().column_opt::<DateTime>(super::schema::TIMESTAMP)? else {
            return Ok(Box::new(EmptyScorer));
        };
        let (min, max) = (ts.min_value().into_timestamp_micros(), ts.max_value().into_timestamp_micros());
        if self.start.is_some_and(|s| max < s) || self.end.is_some_and(|e| min >= e) {
            return Ok(Box::new(EmptyScorer));
        }
        // Every document has a timestamp (a full column), so all of them are inside.
        let inside = self.start.is_none_or(|s| min >= s) && self.end.is_none_or(|e| max < e);
        if inside && ts.get_cardinality() == Cardinality::Full {
            return Ok(Box::new(AllScorer::new(reader.max_doc())));
        }
        self.scan.scorer(reader, boost)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.scan.explain(reader, doc)
    }
}

fn map_bound(b: &QBound, f: impl Fn(&str) -> Term) -> Bound<Term> {
    match b {
        QBound::Unbounded => Bound::Unbounded,
        QBound::Included(v) => Bound::Included(f(v)),
        QBound::Excluded(v) => Bound::Excluded(f(v)),
    }
}

/// Escape a JSON path for the literal prefix of an attribute wildcard's regex (tantivy_fst
/// regex syntax); the `\u{1}` segment separator is written as `\x01`.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        match c {
            '\u{1}' => out.push_str("\\x01"),
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' | '#' | '&' | '-'
            | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// AND of clauses (an empty list is everything).
pub fn and_all(mut clauses: Vec<BoxQuery>) -> BoxQuery {
    match clauses.len() {
        0 => Box::new(AllQuery),
        1 => clauses.pop().expect("one clause"),
        _ => Box::new(BooleanQuery::new(clauses.into_iter().map(|q| (Occur::Must, q)).collect())),
    }
}
