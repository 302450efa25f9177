//! Compiling the engine-neutral query AST and the search filters into a tantivy query.
//!
//! Mapping by field kind:
//! * `message` (full text): words go through the field's tokenizer, so `Term` of `user-42`
//!   becomes the phrase `user 42`; wildcards match single indexed words (lowercased).
//! * keyword fields (`service`, `level`, `host`, ids): exact values; wildcards and ranges work on
//!   the raw value.
//! * `attributes.<path>`: a value matches as text, and also as a number or boolean when it parses
//!   as one, since JSON values keep their type in the index. Ranges compare numbers when both
//!   bounds are numeric, else text.

use super::schema::{to_datetime, Fields};
use crate::{Result, StoreError};
use logflow_core::query::{Bound as QBound, Field, Query};
use logflow_core::search::SearchRequest;
use std::ops::Bound;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, Occur, PhraseQuery, Query as TQuery, RangeQuery, RegexQuery,
    TermQuery, TermSetQuery,
};
use tantivy::schema::{Field as TField, IndexRecordOption};
use tantivy::tokenizer::TokenizerManager;
use tantivy::Term;

pub type BoxQuery = Box<dyn TQuery>;

/// Compiles queries; cheap to build per search.
pub struct Compiler<'a> {
    pub fields: &'a Fields,
    pub tokenizers: &'a TokenizerManager,
}

impl Compiler<'_> {
    /// The full filter of a request, ignoring the cursor and time range (added per partition).
    pub fn request(&self, req: &SearchRequest) -> Result<Vec<BoxQuery>> {
        let mut must: Vec<BoxQuery> = Vec::new();
        if req.query != Query::All {
            must.push(self.compile(&req.query)?);
        }
        if !req.services.is_empty() {
            let terms = req.services.iter().map(|s| Term::from_field_text(self.fields.service, s));
            must.push(Box::new(TermSetQuery::new(terms)));
        }
        if !req.levels.is_empty() {
            let terms = req.levels.iter().map(|l| Term::from_field_text(self.fields.level, l.as_str()));
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
            if i >= 0 {
                let mut t = base();
                t.append_type_and_fast_value(i as u64);
                terms.push(t);
            }
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
            Field::Service | Field::Level | Field::Id => Box::new(ExistsQuery::new(field.name(), false)),
            Field::Attribute(path) => Box::new(ExistsQuery::new(format!("attributes.{path}"), true)),
            other => {
                let f = self.keyword_field(other).expect("keyword field");
                Box::new(RegexQuery::from_pattern(".*", f).expect("valid regex"))
            }
        }
    }

    fn range(&self, field: &Field, lower: &QBound, upper: &QBound) -> Result<BoxQuery> {
        if let Some(f) = self.keyword_field(field) {
            let conv = |b: &QBound| map_bound(b, |v| Term::from_field_text(f, v));
            return Ok(Box::new(RangeQuery::new(conv(lower), conv(upper))));
        }
        let Field::Attribute(path) = field else {
            return Err(StoreError::InvalidQuery(
                "range queries are not supported on message; use them on keyword fields or attributes".into(),
            ));
        };
        let numeric = |b: &QBound| match b {
            QBound::Unbounded => Some(None),
            QBound::Included(v) | QBound::Excluded(v) => v.parse::<f64>().ok().filter(|x| x.is_finite()).map(Some),
        };
        let base = || Term::from_field_json_path(self.fields.attributes, path, false);
        if numeric(lower).is_some() && numeric(upper).is_some() {
            let conv = |b: &QBound| {
                map_bound(b, |v| {
                    let mut t = base();
                    t.append_type_and_fast_value(v.parse::<f64>().expect("checked numeric"));
                    t
                })
            };
            return Ok(Box::new(RangeQuery::new(conv(lower), conv(upper))));
        }
        let conv = |b: &QBound| {
            map_bound(b, |v| {
                let mut t = base();
                t.append_type_and_str(v);
                t
            })
        };
        Ok(Box::new(RangeQuery::new(conv(lower), conv(upper))))
    }

    /// `timestamp` within `[start, end)` in microseconds; either side open.
    pub fn time_range(&self, start: Option<i64>, end: Option<i64>) -> Option<BoxQuery> {
        if start.is_none() && end.is_none() {
            return None;
        }
        let t = |m: i64| Term::from_field_date(self.fields.timestamp, to_datetime(m));
        let lo = start.map_or(Bound::Unbounded, |m| Bound::Included(t(m)));
        let hi = end.map_or(Bound::Unbounded, |m| Bound::Excluded(t(m)));
        Some(Box::new(RangeQuery::new(lo, hi)))
    }

    pub fn timestamp_eq(&self, micros: i64) -> BoxQuery {
        let t = Term::from_field_date(self.fields.timestamp, to_datetime(micros));
        Box::new(RangeQuery::new(Bound::Included(t.clone()), Bound::Included(t)))
    }
}

fn map_bound(b: &QBound, f: impl Fn(&str) -> Term) -> Bound<Term> {
    match b {
        QBound::Unbounded => Bound::Unbounded,
        QBound::Included(v) => Bound::Included(f(v)),
        QBound::Excluded(v) => Bound::Excluded(f(v)),
    }
}

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

/// `*` -> any run, `?` -> one char, everything else literal.
fn wildcard_to_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() * 2);
    for c in pattern.chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex_escape(&c.to_string())),
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
