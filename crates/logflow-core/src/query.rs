//! # The LogFlow query language
//!
//! Searches take a query string that looks like a Lucene / Kibana query, with one important
//! difference: **clauses separated only by whitespace are combined with AND** (as in Loki or
//! VictoriaLogs), so `payment timeout` finds logs containing *both* words.
//! Time is not part of the query string: use the `start_time` / `end_time` or `since` parameters.
//!
//! ## Examples
//!
//! | Query | Finds logs … |
//! |---|---|
//! | `timeout` | whose message contains the word `timeout` (case-insensitive) |
//! | `"connection refused"` | whose message contains that phrase |
//! | `payment timeout` | whose message contains both words |
//! | `service:auth-service level:error` | from `auth-service` at level ERROR |
//! | `level:>=warning` | at level WARNING, ERROR or CRITICAL |
//! | `service:(auth OR billing) -level:debug` | from either service, except DEBUG logs |
//! | `attributes.user.id:42` | whose attribute `user.id` is 42 |
//! | `user_id:42` | same as `attributes.user_id:42` (unknown fields are attributes) |
//! | `attributes.latency_ms:>500` | whose `latency_ms` attribute is above 500 |
//! | `attributes.status:[500 TO 599]` | with a status between 500 and 599 inclusive |
//! | `pay*` | with a message word starting with `pay` |
//! | `trace_id:*` | that have a trace id at all |
//! | `*` (or an empty query) | every log |
//!
//! ## Words and phrases
//!
//! A bare word searches the **message** as full text, case-insensitively: `timeout`.
//! Double quotes search a phrase: `"connection refused"` (a quoted single word is just a word).
//! Inside quotes, `\"` is a literal quote and `\\` a literal backslash.
//!
//! ## Fields
//!
//! `field:value` searches one field. There is no space after the colon. Field names are
//! case-insensitive and may contain letters, digits, `_`, `.`, `@` and `-`.
//!
//! | Field | Matching |
//! |---|---|
//! | `message` (alias `msg`) | full text, as for bare words |
//! | `service`, `host` | exact value |
//! | `level` | exact level; aliases are accepted: `level:warn` means `level:WARNING`, `level:3` means ERROR |
//! | `id`, `correlation_id`, `request_id`, `trace_id`, `span_id` | exact value |
//! | `attributes.<path>` | exact value of a (possibly nested) attribute: `attributes.user.id:42` |
//! | any other name | an attribute: `user_id:42` is `attributes.user_id:42` |
//!
//! On every field except `message`, quotes only protect spaces and special characters:
//! `service:"billing api"` matches the exact value `billing api`.
//! A colon inside a value needs no escaping: `host:10.0.0.1:8080`.
//! `field:(a OR b)` applies the field to every clause in the parentheses, so it means
//! `field:a OR field:b`.
//! Filtering on `timestamp` is an error: use the time parameters instead.
//!
//! ## Operators
//!
//! | Operator | Meaning |
//! |---|---|
//! | `a b` | both (implicit AND) |
//! | `a AND b`, `a && b` | both |
//! | `a OR b`, `a \|\| b` | either |
//! | `NOT a`, `!a`, `-a` | not `a`, e.g. `error -service:healthcheck` |
//! | `+a` | `a` is required (the same as plain `a`) |
//! | `( … )` | grouping |
//!
//! `AND`, `OR` and `NOT` are keywords only in upper case; `and`, `or`, `not` are ordinary words.
//! Precedence is NOT, then AND, then OR: `a OR b c` means `a OR (b AND c)`.
//! A query made only of negations (`-level:debug`) matches every log except those.
//!
//! ## Wildcards
//!
//! `*` matches any run of characters and `?` exactly one: `pay*`, `service:auth-*`, `us?r`.
//! `field:*` means "the field exists". Wildcards are not allowed on `level` or inside quotes.
//!
//! ## Ranges
//!
//! Ranges work on every field except `message`:
//!
//! * `attributes.latency_ms:>500`, `:>=500`, `:<500`, `:<=500`
//! * `attributes.status:[500 TO 599]` inclusive, `{500 TO 600}` exclusive; the brackets can be
//!   mixed (`[500 TO 600}`) and `*` is an open end (`[500 TO *]`). `TO` is upper case.
//! * On `level`, ranges follow severity: `level:>=warning` means WARNING, ERROR or CRITICAL.
//!
//! ## Escaping
//!
//! A backslash makes the next character literal: `\:`, `\*`, `\?`, `\"`, `\(`, `\)`, `\\`, `\-`
//! and a backslash before a space. `pay\*` searches the literal text `pay*`, not a wildcard, and
//! `\-5` searches for `-5` instead of meaning "not 5".
//!
//! ## Errors and limits
//!
//! A malformed query is rejected with a message and the **0-based character position** of the
//! problem, e.g. `unclosed '(': missing ')' at position 0`. Queries are limited to 4096 bytes,
//! 32 levels of nesting (parentheses and negations) and 256 clauses.
//!
//! ## For engine authors
//!
//! [`parse`] returns a [`Query`] that is already normalised, so an engine only has to map
//! each variant:
//!
//! * `And`/`Or` are flattened and have at least two children; they never contain [`Query::All`]
//!   (it is folded away). `Not` may appear anywhere, including at the top level (pair it with
//!   "match all").
//! * [`Query::Phrase`] is only produced for `message`. A message [`Query::Term`] or phrase is raw
//!   user text: run it through the message tokenizer (a term such as `foo-bar` may yield several
//!   tokens and should then be matched as a phrase).
//! * `level` terms are already canonical (`WARNING`), and level ranges are expanded to an `Or` of
//!   level terms, so engines never see a range on `level`.
//! * [`Query::Wildcard`] patterns use `*` and `?` with `\` escaping (`\*`, `\?`, `\\`) exactly
//!   like OpenSearch's `wildcard` query; [`wildcard_to_regex`] converts one to a regex for tantivy.
//!
//! ```
//! use logflow_core::query::{parse, Field, Query};
//!
//! let q = parse("service:auth level:warn").unwrap();
//! assert_eq!(
//!     q,
//!     Query::And(vec![
//!         Query::Term { field: Field::Service, value: "auth".into() },
//!         Query::Term { field: Field::Level, value: "WARNING".into() },
//!     ])
//! );
//! assert_eq!(q.to_string(), "service:auth AND level:WARNING");
//! ```

use crate::model::Level;
use std::fmt::{self, Write as _};
use std::ops::RangeBounds;

/// Longest accepted query, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Deepest accepted nesting of parentheses and negations.
pub const MAX_DEPTH: usize = 32;
/// Most clauses (words, phrases, wildcards, ranges) in one query.
pub const MAX_CLAUSES: usize = 256;

const ATTRIBUTES_PREFIX: &str = "attributes.";

/// A searchable field of a log record.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// Default field for bare terms; also `message:` / `msg:`.
    Message,
    Service,
    Level,
    Host,
    Id,
    CorrelationId,
    RequestId,
    TraceId,
    SpanId,
    /// `attributes.user.id` -> Attribute("user.id"). Also any field name that is not one of the
    /// known ones above is treated as an attribute path (ingest stores unknown top-level fields in
    /// attributes), e.g. `user_id:42` -> Attribute("user_id").
    Attribute(String),
}

impl Field {
    /// Resolve a field name as written in a query (known names are case-insensitive; attribute
    /// paths keep their case because attribute keys are case-sensitive).
    ///
    /// This never fails; the query parser rejects `timestamp` and malformed names before
    /// calling it.
    pub fn parse(name: &str) -> Field {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "message" | "msg" => Field::Message,
            "service" => Field::Service,
            "level" => Field::Level,
            "host" => Field::Host,
            "id" => Field::Id,
            "correlation_id" => Field::CorrelationId,
            "request_id" => Field::RequestId,
            "trace_id" => Field::TraceId,
            "span_id" => Field::SpanId,
            // The prefix is ASCII, so its byte length is a char boundary in `name` too.
            _ if lower.starts_with(ATTRIBUTES_PREFIX) => Field::Attribute(name[ATTRIBUTES_PREFIX.len()..].to_string()),
            _ => Field::Attribute(name.to_string()),
        }
    }

    /// Canonical name: `message`, `service`, …, `attributes.user.id`.
    pub fn name(&self) -> String {
        let known = match self {
            Field::Message => "message",
            Field::Service => "service",
            Field::Level => "level",
            Field::Host => "host",
            Field::Id => "id",
            Field::CorrelationId => "correlation_id",
            Field::RequestId => "request_id",
            Field::TraceId => "trace_id",
            Field::SpanId => "span_id",
            Field::Attribute(path) => return format!("{ATTRIBUTES_PREFIX}{path}"),
        };
        known.to_string()
    }

    /// True for the fields matched by exact value (everything but message and attributes).
    pub fn is_keyword(&self) -> bool {
        !matches!(self, Field::Message | Field::Attribute(_))
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The engine-neutral query AST (see the module docs for the invariants [`parse`] guarantees).
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Matches every log (empty query string or `*`).
    All,
    /// A single term. For Message it is a word of the full text (engines lowercase it);
    /// for keyword fields (service, level, host, ids) it is the exact value;
    /// for Attribute it is the value as written (engines try number/bool/string forms).
    Term {
        field: Field,
        value: String,
    },
    /// A quoted phrase: `"connection refused"` or `message:"connection refused"`.
    /// Only produced for [`Field::Message`]; quotes on other fields give an exact [`Query::Term`].
    Phrase {
        field: Field,
        text: String,
    },
    /// A term containing `*` or `?` (not escaped): `pay*`, `service:auth-*`, `us?r`.
    /// In `pattern`, `\*`, `\?` and `\\` are literal characters. `field:*` means "field exists".
    Wildcard {
        field: Field,
        pattern: String,
    },
    /// Range: `attributes.latency_ms:>500`, `>=`, `<`, `<=`, or `[a TO b]` / `{a TO b}` (exclusive),
    /// `*` open end. Never on message or level (level ranges are expanded to level terms).
    Range {
        field: Field,
        lower: Bound,
        upper: Bound,
    },
    And(Vec<Query>),
    Or(Vec<Query>),
    Not(Box<Query>),
}

/// One end of a [`Query::Range`]; values are raw strings (engines decide numeric vs text).
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Unbounded,
    Included(String),
    Excluded(String),
}

impl Bound {
    /// The bound as a finite number, or `None` when its value is not one. A range is numeric
    /// when both its bounds are; engines and the matcher decide it the same way through here.
    pub fn as_number(&self) -> Option<std::ops::Bound<f64>> {
        let finite = |v: &str| v.parse::<f64>().ok().filter(|x| x.is_finite());
        match self {
            Bound::Unbounded => Some(std::ops::Bound::Unbounded),
            Bound::Included(v) => finite(v).map(std::ops::Bound::Included),
            Bound::Excluded(v) => finite(v).map(std::ops::Bound::Excluded),
        }
    }
}

/// The integer interval `[a, b]` (`None` = open) equivalent to the real-number range `lo..hi`,
/// clamped to `[min, max]`; `None` when it holds no integer of that range. Used for integer-typed
/// values of numeric ranges (the store's i64/u64 term ranges, the matcher's comparisons).
pub fn integer_bounds(
    lo: std::ops::Bound<f64>,
    hi: std::ops::Bound<f64>,
    min: f64,
    max: f64,
) -> Option<(Option<f64>, Option<f64>)> {
    use std::ops::Bound as B;
    let a = match lo {
        B::Unbounded => None,
        B::Included(x) => Some(x.ceil()),
        B::Excluded(x) => Some(x.floor() + 1.0),
    };
    let b = match hi {
        B::Unbounded => None,
        B::Included(x) => Some(x.floor()),
        B::Excluded(x) => Some(x.ceil() - 1.0),
    };
    if a.is_some_and(|a| a > max) || b.is_some_and(|b| b < min) || matches!((a, b), (Some(a), Some(b)) if a > b) {
        return None;
    }
    Some((a.filter(|a| *a > min), b.filter(|b| *b < max)))
}

/// A query the parser rejected: what is wrong and where (0-based character offset).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct QueryError {
    pub position: usize,
    pub message: String,
}

impl QueryError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        QueryError { position, message: message.into() }
    }
}

impl Query {
    /// Conjunction with the AST invariants: nested `And`s are flattened, `All` is dropped
    /// (it is the identity of AND), and zero/one child collapses to `All`/the child.
    pub fn and(items: Vec<Query>) -> Query {
        let mut flat = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Query::And(inner) => flat.extend(inner),
                Query::All => {}
                other => flat.push(other),
            }
        }
        collapse(flat, Query::All, Query::And)
    }

    /// Disjunction with the AST invariants: nested `Or`s are flattened, any `All` makes the
    /// whole disjunction `All`, and one child collapses to the child.
    pub fn or(items: Vec<Query>) -> Query {
        let mut flat = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Query::Or(inner) => flat.extend(inner),
                Query::All => return Query::All,
                other => flat.push(other),
            }
        }
        collapse(flat, Query::All, Query::Or)
    }
}

fn collapse(mut items: Vec<Query>, empty: Query, many: fn(Vec<Query>) -> Query) -> Query {
    match items.len() {
        0 => empty,
        1 => items.remove(0),
        _ => many(items),
    }
}

/// Parse a query string (see the module docs for the syntax).
pub fn parse(input: &str) -> Result<Query, QueryError> {
    if input.len() > MAX_QUERY_BYTES {
        // Report the first character past the limit, in characters like every other position.
        let position = input.char_indices().take_while(|(byte, _)| *byte < MAX_QUERY_BYTES).count();
        return fail(position, format!("query is too long ({} bytes, at most {MAX_QUERY_BYTES} allowed)", input.len()));
    }
    let mut parser = Parser::new(input);
    parser.skip_ws();
    if parser.peek().is_none() {
        return Ok(Query::All);
    }
    let query = parser.parse_or(None)?;
    parser.skip_ws();
    match parser.peek() {
        None => Ok(query),
        // parse_or only stops early at a ')' that no '(' opened.
        Some(_) => fail(parser.pos, "unmatched ')'"),
    }
}

/// Convert a [`Query::Wildcard`] pattern to a regular expression (regex-crate syntax, meant to
/// match a whole term, as tantivy's `RegexQuery` does): `pay*` -> `pay.*`, `a\*b?` -> `a\*b.`.
pub fn wildcard_to_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    for (c, literal) in decode_pattern(pattern) {
        match (c, literal) {
            ('*', false) => out.push_str(".*"),
            ('?', false) => out.push('.'),
            _ => {
                if "\\.+*?()|[]{}^$#&-~".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
    out
}

type PResult<T> = Result<T, QueryError>;

fn fail<T>(position: usize, message: impl Into<String>) -> PResult<T> {
    Err(QueryError::new(position, message))
}

/// An unquoted word: each character with whether it was backslash-escaped (escaped characters
/// are never operators, wildcards or separators).
type Word = Vec<(char, bool)>;

/// What starts at the cursor, as far as the boolean grammar is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Peek {
    End,
    Open,
    Close,
    /// Operator as written (for error messages) and its length in characters.
    And(&'static str, usize),
    Or(&'static str, usize),
    Not(&'static str, usize),
    Plus,
    /// Anything else starts a clause (word, phrase, field or range).
    Atom,
}

/// Characters that end a word and a keyword (besides the caller's extra stop characters).
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

fn is_field_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '-')
}

/// Recursive-descent parser working on characters, so that error positions are character
/// offsets and multi-byte input can never split a UTF-8 sequence.
///
/// Grammar (whitespace between tokens is skipped):
///
/// ```text
/// or     := and (("OR" | "||") and)*
/// and    := unary ((("AND" | "&&")? unary)*      -- no operator means AND
/// unary  := ("+")* (("NOT" | "!" | "-") unary | "(" or ")" | clause)
/// clause := phrase | range | word | name ":" value
/// value  := "(" or ")" | phrase | range | word   -- the group/phrase/word takes the field
/// range  := (">" | ">=" | "<" | "<=") bound | ("[" | "{") bound "TO" bound ("]" | "}")
/// ```
struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Current nesting of parentheses and negations.
    depth: usize,
    /// Clauses seen so far.
    clauses: usize,
}

impl Parser {
    fn new(input: &str) -> Self {
        Parser { chars: input.chars().collect(), pos: 0, depth: 0, clauses: 0 }
    }

    // ----- cursor helpers -----

    fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// True when `kw` is at the cursor as a whole word (so `ANDROID` and `AND:x` are not `AND`).
    fn keyword_at(&self, kw: &str, extra_ends: &[char]) -> bool {
        let mut len = 0;
        for c in kw.chars() {
            if self.peek_at(len) != Some(c) {
                return false;
            }
            len += 1;
        }
        self.peek_at(len).is_none_or(|c| ends_word(c) || extra_ends.contains(&c))
    }

    fn peek_op(&self) -> Peek {
        let Some(c) = self.peek() else {
            return Peek::End;
        };
        match c {
            '(' => Peek::Open,
            ')' => Peek::Close,
            '+' => Peek::Plus,
            '!' => Peek::Not("!", 1),
            '-' => Peek::Not("-", 1),
            '&' if self.peek_at(1) == Some('&') => Peek::And("&&", 2),
            '|' if self.peek_at(1) == Some('|') => Peek::Or("||", 2),
            _ if self.keyword_at("AND", &[]) => Peek::And("AND", 3),
            _ if self.keyword_at("OR", &[]) => Peek::Or("OR", 2),
            _ if self.keyword_at("NOT", &[]) => Peek::Not("NOT", 3),
            _ => Peek::Atom,
        }
    }

    /// Step over an operator and make sure a term follows it, so `a AND`, `a AND OR b` and
    /// `NOT )` are reported at the dangling operator rather than somewhere later.
    fn consume_operator(&mut self, name: &str, len: usize) -> PResult<()> {
        let at = self.pos;
        self.pos += len;
        self.skip_ws();
        match self.peek_op() {
            Peek::End | Peek::Close | Peek::And(..) | Peek::Or(..) => {
                fail(at, format!("'{name}' must be followed by a term"))
            }
            _ => Ok(()),
        }
    }

    fn enter(&mut self, at: usize) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return fail(at, format!("query is nested too deeply (at most {MAX_DEPTH} levels)"));
        }
        Ok(())
    }

    fn count_clause(&mut self, at: usize) -> PResult<()> {
        self.clauses += 1;
        if self.clauses > MAX_CLAUSES {
            return fail(at, format!("too many clauses (at most {MAX_CLAUSES} allowed)"));
        }
        Ok(())
    }

    // ----- boolean structure -----

    /// `ctx` is the field given by an enclosing `field:( … )`, or None for the default (message).
    fn parse_or(&mut self, ctx: Option<&Field>) -> PResult<Query> {
        let mut items = vec![self.parse_and(ctx)?];
        loop {
            self.skip_ws();
            let Peek::Or(name, len) = self.peek_op() else {
                break;
            };
            self.consume_operator(name, len)?;
            items.push(self.parse_and(ctx)?);
        }
        Ok(Query::or(items))
    }

    fn parse_and(&mut self, ctx: Option<&Field>) -> PResult<Query> {
        let mut items = vec![self.parse_unary(ctx)?];
        loop {
            self.skip_ws();
            match self.peek_op() {
                Peek::End | Peek::Close | Peek::Or(..) => break,
                Peek::And(name, len) => self.consume_operator(name, len)?,
                // Anything else starts another clause: whitespace alone means AND.
                _ => {}
            }
            items.push(self.parse_unary(ctx)?);
        }
        Ok(Query::and(items))
    }

    fn parse_unary(&mut self, ctx: Option<&Field>) -> PResult<Query> {
        self.skip_ws();
        // `+` only says "required", which every clause already is. A loop (not recursion)
        // keeps `++++…` from growing the stack.
        while self.peek_op() == Peek::Plus {
            self.consume_operator("+", 1)?;
        }
        let start = self.pos;
        match self.peek_op() {
            Peek::Not(name, len) => {
                self.enter(start)?;
                self.consume_operator(name, len)?;
                let inner = self.parse_unary(ctx)?;
                self.depth -= 1;
                Ok(Query::Not(Box::new(inner)))
            }
            Peek::Open => self.parse_group(ctx),
            Peek::Atom => self.parse_clause(ctx),
            Peek::And(name, _) | Peek::Or(name, _) => fail(start, format!("'{name}' must be preceded by a term")),
            Peek::Close => fail(start, "unmatched ')'"),
            Peek::End | Peek::Plus => fail(start, "expected a term"),
        }
    }

    fn parse_group(&mut self, ctx: Option<&Field>) -> PResult<Query> {
        let open = self.pos;
        self.enter(open)?;
        self.pos += 1;
        self.skip_ws();
        match self.peek() {
            None => return fail(open, "unclosed '(': missing ')'"),
            Some(')') => return fail(open, "empty parentheses '()'"),
            Some(_) => {}
        }
        let inner = self.parse_or(ctx)?;
        self.skip_ws();
        if self.peek() != Some(')') {
            return fail(open, "unclosed '(': missing ')'");
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(inner)
    }

    // ----- clauses -----

    fn parse_clause(&mut self, ctx: Option<&Field>) -> PResult<Query> {
        let start = self.pos;
        match self.peek() {
            Some('"') => return self.parse_quoted_value(ctx, start),
            Some('[' | '{' | '<' | '>') => {
                let field = range_field(ctx, start)?;
                return self.parse_range(field, start);
            }
            _ => {}
        }
        let word = self.read_word(&[':'])?;
        if self.peek() != Some(':') {
            return self.word_query(ctx, &word, start);
        }
        let (field, raw_name) = field_from_word(&word, start)?;
        self.pos += 1;
        self.parse_value(field, &raw_name)
    }

    /// The value right after `name:`. Colons inside it are literal (`host:10.0.0.1:8080`).
    fn parse_value(&mut self, field: Field, raw_name: &str) -> PResult<Query> {
        let at = self.pos;
        match self.peek() {
            None | Some(')') => fail(at, format!("missing value after '{raw_name}:'")),
            Some(c) if c.is_whitespace() => {
                fail(at, format!("missing value after '{raw_name}:' (no space is allowed after ':')"))
            }
            Some('(') => self.parse_group(Some(&field)),
            Some('"') => self.parse_quoted_value(Some(&field), at),
            Some('[' | '{' | '<' | '>') => {
                check_range_field(&field, at)?;
                self.parse_range(field, at)
            }
            Some(_) => {
                let word = self.read_word(&[])?;
                self.word_query(Some(&field), &word, at)
            }
        }
    }

    fn parse_quoted_value(&mut self, ctx: Option<&Field>, at: usize) -> PResult<Query> {
        let text = self.read_quoted()?;
        if text.trim().is_empty() {
            return fail(at, "empty phrase \"\"");
        }
        self.count_clause(at)?;
        match ctx {
            None | Some(Field::Message) => Ok(message_text(text.trim())),
            // Elsewhere quotes only protect spaces and special characters: exact value.
            Some(field) => term(field.clone(), text, at),
        }
    }

    fn word_query(&mut self, ctx: Option<&Field>, word: &[(char, bool)], at: usize) -> PResult<Query> {
        if ctx.is_none() && matches!(word, [('*', false)]) {
            return Ok(Query::All);
        }
        self.count_clause(at)?;
        let field = ctx.cloned().unwrap_or(Field::Message);
        if !has_wildcard(word) {
            return term(field, word_text(word), at);
        }
        if field == Field::Level {
            return fail(
                at,
                "wildcards are not supported on level; use e.g. level:(ERROR OR CRITICAL) or level:>=WARNING",
            );
        }
        Ok(Query::Wildcard { field, pattern: wildcard_pattern(word) })
    }

    // ----- ranges -----

    fn parse_range(&mut self, field: Field, at: usize) -> PResult<Query> {
        let (lower, upper) =
            if matches!(self.peek(), Some('[' | '{')) { self.bracket_bounds()? } else { self.comparison_bounds()? };
        self.count_clause(at)?;
        if field == Field::Level {
            return level_range(&lower, &upper, at);
        }
        Ok(Query::Range { field, lower, upper })
    }

    /// `>v`, `>=v`, `<v`, `<=v`.
    fn comparison_bounds(&mut self) -> PResult<(Bound, Bound)> {
        let op_at = self.pos;
        let (op, len) = match (self.peek(), self.peek_at(1)) {
            (Some('>'), Some('=')) => (">=", 2),
            (Some('<'), Some('=')) => ("<=", 2),
            (Some('>'), _) => (">", 1),
            _ => ("<", 1),
        };
        self.pos += len;
        let at = self.pos;
        if let Some(c @ ('<' | '>' | '=')) = self.peek() {
            return fail(op_at, format!("invalid comparison '{op}{c}'; use >, >=, < or <="));
        }
        let Some(value) = self.read_bound(&[], &format!("missing value after '{op}'"))? else {
            return fail(at, format!("'*' is not a value for '{op}'; write e.g. >=100 or [100 TO *]"));
        };
        Ok(match op {
            ">" => (Bound::Excluded(value), Bound::Unbounded),
            ">=" => (Bound::Included(value), Bound::Unbounded),
            "<" => (Bound::Unbounded, Bound::Excluded(value)),
            _ => (Bound::Unbounded, Bound::Included(value)),
        })
    }

    /// `[a TO b]`, `{a TO b}` or a mix of the two brackets.
    fn bracket_bounds(&mut self) -> PResult<(Bound, Bound)> {
        const UNCLOSED: &str = "unclosed range: missing ']' or '}'";
        const STOPS: &[char] = &[']', '}'];
        let open = self.pos;
        let lower_inclusive = self.peek() == Some('[');
        self.pos += 1;
        self.skip_ws();
        if self.peek().is_none() {
            return fail(open, UNCLOSED);
        }
        if self.keyword_at("TO", STOPS) {
            return fail(self.pos, "missing lower bound before 'TO' (use * for an open end)");
        }
        let lower = self.read_bound(STOPS, "missing lower bound (use * for an open end)")?;
        self.skip_ws();
        if self.peek().is_none() {
            return fail(open, UNCLOSED);
        }
        if !self.keyword_at("TO", STOPS) {
            return fail(self.pos, "expected 'TO' between the range bounds, e.g. [100 TO 500]");
        }
        self.pos += 2;
        self.skip_ws();
        if self.peek().is_none() {
            return fail(open, UNCLOSED);
        }
        let upper = self.read_bound(STOPS, "missing upper bound after 'TO' (use * for an open end)")?;
        self.skip_ws();
        let upper_inclusive = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            None => return fail(open, UNCLOSED),
            Some(_) => return fail(self.pos, "expected ']' or '}' to close the range"),
        };
        self.pos += 1;
        Ok((make_bound(lower, lower_inclusive), make_bound(upper, upper_inclusive)))
    }

    /// A range bound: a quoted string or a word; `None` for a bare `*` (open end).
    fn read_bound(&mut self, stops: &[char], missing: &str) -> PResult<Option<String>> {
        let at = self.pos;
        if self.peek() == Some('"') {
            let text = self.read_quoted()?;
            if text.is_empty() {
                return fail(at, missing);
            }
            return Ok(Some(text));
        }
        let word = self.read_word(stops)?;
        if word.is_empty() {
            return fail(at, missing);
        }
        if matches!(word.as_slice(), [('*', false)]) {
            return Ok(None);
        }
        if has_wildcard(&word) {
            return fail(at, "wildcards are not allowed in a range bound");
        }
        Ok(Some(word_text(&word)))
    }

    // ----- lexing -----

    /// Read an unquoted word up to whitespace, a parenthesis or one of `stops`, resolving
    /// backslash escapes.
    fn read_word(&mut self, stops: &[char]) -> PResult<Word> {
        let mut word = Vec::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                let Some(escaped) = self.peek_at(1) else {
                    return fail(
                        self.pos,
                        "dangling '\\' at the end of the query (write \\\\ for a literal backslash)",
                    );
                };
                word.push((escaped, true));
                self.pos += 2;
                continue;
            }
            if c == '"' {
                // `foo"bar"` is almost certainly a typo; guessing would silently change results.
                return fail(
                    self.pos,
                    "unexpected '\"' inside a term (put a space before a phrase, or write \\\" for a literal quote)",
                );
            }
            if ends_word(c) || stops.contains(&c) {
                break;
            }
            word.push((c, false));
            self.pos += 1;
        }
        Ok(word)
    }

    /// Read a double-quoted string starting at the cursor; `\x` is a literal `x`.
    fn read_quoted(&mut self) -> PResult<String> {
        let open = self.pos;
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return fail(open, "unterminated quote: missing closing '\"'"),
                Some('"') => {
                    self.pos += 1;
                    return Ok(text);
                }
                Some('\\') => {
                    let Some(escaped) = self.peek_at(1) else {
                        return fail(open, "unterminated quote: missing closing '\"'");
                    };
                    text.push(escaped);
                    self.pos += 2;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

// ----- clause helpers (no parser state) -----

fn word_text(word: &[(char, bool)]) -> String {
    word.iter().map(|&(c, _)| c).collect()
}

fn has_wildcard(word: &[(char, bool)]) -> bool {
    word.iter().any(|&(c, escaped)| !escaped && matches!(c, '*' | '?'))
}

/// Build a wildcard pattern, keeping escaped `*`, `?` and `\` escaped so they stay literal.
fn wildcard_pattern(word: &[(char, bool)]) -> String {
    let mut pattern = String::with_capacity(word.len() + 2);
    for &(c, escaped) in word {
        if escaped && matches!(c, '*' | '?' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

/// Split a wildcard pattern into characters, each flagged `true` when literal (also used by the
/// in-memory matcher, so that both engines read escapes the same way).
pub(crate) fn decode_pattern(pattern: &str) -> Vec<(char, bool)> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push((chars.next().unwrap_or('\\'), true)),
            '*' | '?' => out.push((c, false)),
            _ => out.push((c, true)),
        }
    }
    out
}

/// Quoted message text: several words make a phrase, one word is just a term.
fn message_text(text: &str) -> Query {
    if text.contains(char::is_whitespace) {
        Query::Phrase { field: Field::Message, text: text.to_string() }
    } else {
        Query::Term { field: Field::Message, value: text.to_string() }
    }
}

/// An exact term; levels are normalised here so engines only ever see canonical names.
fn term(field: Field, value: String, at: usize) -> PResult<Query> {
    let value = if field == Field::Level { normalize_level(&value, at)?.as_str().to_string() } else { value };
    Ok(Query::Term { field, value })
}

fn normalize_level(raw: &str, at: usize) -> PResult<Level> {
    Level::normalize(raw).ok_or_else(|| {
        QueryError::new(
            at,
            format!(
                "unknown level '{raw}' (expected DEBUG, INFO, WARNING, ERROR or CRITICAL, \
                 an alias such as warn or fatal, or a syslog number 0-7)"
            ),
        )
    })
}

fn field_from_word(word: &[(char, bool)], start: usize) -> PResult<(Field, String)> {
    if word.is_empty() {
        return fail(start, "missing field name before ':' (write \\: to search for a literal ':')");
    }
    for (offset, &(c, escaped)) in word.iter().enumerate() {
        // The first escaped character ends the scan, so `start + offset` is still exact.
        if escaped || !is_field_char(c) {
            return fail(
                start + offset,
                format!(
                    "invalid character '{c}' in field name (field names use letters, digits, \
                     '_', '.', '@' and '-'; write \\: to search for a literal ':')"
                ),
            );
        }
    }
    let name = word_text(word);
    check_field_name(&name, start)?;
    Ok((Field::parse(&name), name))
}

fn check_field_name(name: &str, at: usize) -> PResult<()> {
    let lower = name.to_ascii_lowercase();
    if lower == "timestamp" || lower == "@timestamp" {
        return fail(at, "the query cannot filter on timestamp: use start_time/end_time or since to filter by time");
    }
    if lower == "attributes" {
        return fail(at, "'attributes' needs a path, e.g. attributes.user.id:42");
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return fail(at, format!("invalid field name '{name}': empty path segment"));
    }
    Ok(())
}

fn range_field(ctx: Option<&Field>, at: usize) -> PResult<Field> {
    match ctx {
        None => fail(
            at,
            "a range needs a field, e.g. attributes.latency_ms:>500 \
             (put a \\ before '<', '>', '[' or '{' to search for it as text)",
        ),
        Some(field) => {
            check_range_field(field, at)?;
            Ok(field.clone())
        }
    }
}

fn check_range_field(field: &Field, at: usize) -> PResult<()> {
    if *field == Field::Message {
        return fail(at, "ranges are not supported on message; search words or phrases instead");
    }
    Ok(())
}

fn make_bound(value: Option<String>, inclusive: bool) -> Bound {
    match value {
        None => Bound::Unbounded,
        Some(v) if inclusive => Bound::Included(v),
        Some(v) => Bound::Excluded(v),
    }
}

/// Levels are ordered by severity, not alphabetically, so a range is expanded here into the
/// matching level terms instead of asking every engine to get the ordering right.
fn level_range(lower: &Bound, upper: &Bound, at: usize) -> PResult<Query> {
    let range = (level_bound(lower, at)?, level_bound(upper, at)?);
    let terms: Vec<Query> = Level::ALL
        .into_iter()
        .filter(|level| range.contains(level))
        .map(|level| Query::Term { field: Field::Level, value: level.as_str().to_string() })
        .collect();
    if terms.is_empty() {
        return fail(at, "this level range matches no level");
    }
    Ok(Query::or(terms))
}

fn level_bound(bound: &Bound, at: usize) -> PResult<std::ops::Bound<Level>> {
    use std::ops::Bound as B;
    Ok(match bound {
        Bound::Unbounded => B::Unbounded,
        Bound::Included(v) => B::Included(normalize_level(v, at)?),
        Bound::Excluded(v) => B::Excluded(normalize_level(v, at)?),
    })
}

// ----- canonical printing -----

/// Prints a canonical query string that [`parse`] turns back into the same AST
/// (e.g. `service:(a OR b)` prints as `service:a OR service:b`).
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::All => f.write_str("*"),
            Query::Term { field, value } => {
                write_prefix(f, field)?;
                write_escaped(f, value.chars().map(|c| (c, true)), false)
            }
            Query::Phrase { field, text } => {
                write_prefix(f, field)?;
                write_quoted(f, text)
            }
            Query::Wildcard { field, pattern } => {
                // A bare `*` would read back as All, so the message field stays explicit.
                if *field == Field::Message && pattern == "*" {
                    return f.write_str("message:*");
                }
                write_prefix(f, field)?;
                write_escaped(f, decode_pattern(pattern), false)
            }
            Query::Range { field, lower, upper } => write_range(f, field, lower, upper),
            Query::And(items) => write_joined(f, items, " AND "),
            Query::Or(items) => write_joined(f, items, " OR "),
            Query::Not(inner) => {
                f.write_str("NOT ")?;
                write_operand(f, inner)
            }
        }
    }
}

fn write_prefix(f: &mut fmt::Formatter<'_>, field: &Field) -> fmt::Result {
    if *field == Field::Message {
        return Ok(());
    }
    write!(f, "{}:", field.name())
}

fn write_range(f: &mut fmt::Formatter<'_>, field: &Field, lower: &Bound, upper: &Bound) -> fmt::Result {
    write_prefix(f, field)?;
    f.write_char(if matches!(lower, Bound::Excluded(_)) { '{' } else { '[' })?;
    write_bound(f, lower)?;
    f.write_str(" TO ")?;
    write_bound(f, upper)?;
    f.write_char(if matches!(upper, Bound::Excluded(_)) { '}' } else { ']' })
}

fn write_bound(f: &mut fmt::Formatter<'_>, bound: &Bound) -> fmt::Result {
    match bound {
        Bound::Unbounded => f.write_char('*'),
        Bound::Included(v) | Bound::Excluded(v) => write_escaped(f, v.chars().map(|c| (c, true)), true),
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, items: &[Query], separator: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write_operand(f, item)?;
    }
    Ok(())
}

/// Compound operands are always parenthesised: unambiguous and easy to read.
fn write_operand(f: &mut fmt::Formatter<'_>, q: &Query) -> fmt::Result {
    if matches!(q, Query::And(_) | Query::Or(_)) {
        write!(f, "({q})")
    } else {
        write!(f, "{q}")
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

/// Write a word, escaping every literal character the parser would otherwise interpret.
/// Characters flagged `false` are wildcards and are written as they are.
fn write_escaped(
    f: &mut fmt::Formatter<'_>,
    chars: impl IntoIterator<Item = (char, bool)>,
    in_range: bool,
) -> fmt::Result {
    let chars: Vec<(char, bool)> = chars.into_iter().collect();
    let text = word_text(&chars);
    let keyword = matches!(text.as_str(), "AND" | "OR" | "NOT") || (in_range && text == "TO");
    for (i, &(c, literal)) in chars.iter().enumerate() {
        if (literal && needs_escape(c, i == 0, in_range)) || (i == 0 && keyword) {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    Ok(())
}

fn needs_escape(c: char, first: bool, in_range: bool) -> bool {
    c.is_whitespace()
        || matches!(c, '\\' | '(' | ')' | '"' | ':' | '*' | '?')
        || (first && matches!(c, '-' | '+' | '!' | '&' | '|' | '<' | '>' | '[' | '{'))
        || (in_range && matches!(c, ']' | '}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> Query {
        match parse(input) {
            Ok(q) => q,
            Err(e) => panic!("{input:?} failed: {e}"),
        }
    }

    fn err(input: &str) -> QueryError {
        match parse(input) {
            Ok(q) => panic!("{input:?} should fail but parsed to {q:?}"),
            Err(e) => e,
        }
    }

    /// Assert the error position and that the message mentions `needle`.
    fn assert_err(input: &str, position: usize, needle: &str) {
        let e = err(input);
        assert_eq!(e.position, position, "{input:?}: {e}");
        assert!(e.message.contains(needle), "{input:?}: {e} (wanted {needle:?})");
    }

    fn t(field: Field, value: &str) -> Query {
        Query::Term { field, value: value.into() }
    }

    fn m(value: &str) -> Query {
        t(Field::Message, value)
    }

    fn attr(path: &str) -> Field {
        Field::Attribute(path.into())
    }

    fn wc(field: Field, pattern: &str) -> Query {
        Query::Wildcard { field, pattern: pattern.into() }
    }

    fn range(field: Field, lower: Bound, upper: Bound) -> Query {
        Query::Range { field, lower, upper }
    }

    fn inc(v: &str) -> Bound {
        Bound::Included(v.into())
    }

    fn exc(v: &str) -> Bound {
        Bound::Excluded(v.into())
    }

    fn and(items: Vec<Query>) -> Query {
        Query::And(items)
    }

    fn or(items: Vec<Query>) -> Query {
        Query::Or(items)
    }

    fn not(q: Query) -> Query {
        Query::Not(Box::new(q))
    }

    #[test]
    fn empty_and_star_match_all() {
        for input in ["", "   ", "\t\n", "*", "  *  ", "(*)"] {
            assert_eq!(ok(input), Query::All, "{input:?}");
        }
    }

    #[test]
    fn bare_terms_search_the_message() {
        assert_eq!(ok("timeout"), m("timeout"));
        assert_eq!(ok("Timeout"), m("Timeout"));
        assert_eq!(ok("auth-service"), m("auth-service"));
        assert_eq!(ok("payment timeout"), and(vec![m("payment"), m("timeout")]));
        assert_eq!(ok("naïve 中文"), and(vec![m("naïve"), m("中文")]));
    }

    #[test]
    fn phrases() {
        let phrase = Query::Phrase { field: Field::Message, text: "connection refused".into() };
        assert_eq!(ok("\"connection refused\""), phrase);
        assert_eq!(ok("message:\"connection refused\""), phrase);
        assert_eq!(ok("msg:\"connection refused\""), phrase);
        assert_eq!(ok("\"  connection refused \""), phrase);
        // A single quoted word is a plain term, and quotes disable wildcards.
        assert_eq!(ok("\"error\""), m("error"));
        assert_eq!(ok("\" error \""), m("error"));
        assert_eq!(ok("\"pay*\""), m("pay*"));
        assert_eq!(
            ok(r#""say \"hi\" \\ there""#),
            Query::Phrase { field: Field::Message, text: r#"say "hi" \ there"#.into() }
        );
        assert_eq!(ok("\"a\"\"b\""), and(vec![m("a"), m("b")]));
    }

    #[test]
    fn quoted_values_on_other_fields_are_exact_terms() {
        assert_eq!(ok("service:\"billing api\""), t(Field::Service, "billing api"));
        assert_eq!(ok("host:\"web*\""), t(Field::Host, "web*"));
        assert_eq!(ok("attributes.error:\"no route\""), t(attr("error"), "no route"));
        assert_eq!(ok("level:\"fatal\""), t(Field::Level, "CRITICAL"));
    }

    #[test]
    fn known_fields() {
        let cases = [
            ("message:boom", m("boom")),
            ("msg:boom", m("boom")),
            ("service:auth-service", t(Field::Service, "auth-service")),
            ("SERVICE:auth", t(Field::Service, "auth")),
            ("Host:web-1", t(Field::Host, "web-1")),
            ("id:01J9ZQ", t(Field::Id, "01J9ZQ")),
            ("correlation_id:c-1", t(Field::CorrelationId, "c-1")),
            ("request_id:r-1", t(Field::RequestId, "r-1")),
            ("trace_id:abc", t(Field::TraceId, "abc")),
            ("span_id:def", t(Field::SpanId, "def")),
            ("host:10.0.0.1:8080", t(Field::Host, "10.0.0.1:8080")),
            ("service:Auth", t(Field::Service, "Auth")),
        ];
        for (input, want) in cases {
            assert_eq!(ok(input), want, "{input}");
        }
    }

    #[test]
    fn attribute_paths_and_unknown_fields() {
        assert_eq!(ok("attributes.user.id:42"), t(attr("user.id"), "42"));
        assert_eq!(ok("Attributes.User.Id:42"), t(attr("User.Id"), "42"));
        assert_eq!(ok("user_id:42"), t(attr("user_id"), "42"));
        assert_eq!(ok("@version:1"), t(attr("@version"), "1"));
        assert_eq!(ok("http-status:404"), t(attr("http-status"), "404"));
        assert_eq!(ok("attributes.delta:-5"), t(attr("delta"), "-5"));
        assert_eq!(ok("attributes.ok:true"), t(attr("ok"), "true"));
        assert_eq!(ok("a:b:c"), t(attr("a"), "b:c"));
    }

    #[test]
    fn field_parse_and_name() {
        let cases = [
            ("message", Field::Message, "message"),
            ("MSG", Field::Message, "message"),
            ("service", Field::Service, "service"),
            ("level", Field::Level, "level"),
            ("host", Field::Host, "host"),
            ("id", Field::Id, "id"),
            ("correlation_id", Field::CorrelationId, "correlation_id"),
            ("request_id", Field::RequestId, "request_id"),
            ("trace_id", Field::TraceId, "trace_id"),
            ("span_id", Field::SpanId, "span_id"),
            ("attributes.x.y", attr("x.y"), "attributes.x.y"),
            ("user_id", attr("user_id"), "attributes.user_id"),
        ];
        for (raw, field, name) in cases {
            assert_eq!(Field::parse(raw), field, "{raw}");
            assert_eq!(field.name(), name);
            assert_eq!(Field::parse(&field.name()), field, "name round trip");
        }
        assert!(Field::Service.is_keyword() && Field::Level.is_keyword());
        assert!(!Field::Message.is_keyword() && !attr("x").is_keyword());
    }

    #[test]
    fn boolean_operators_and_symbols() {
        let ab = and(vec![m("a"), m("b")]);
        let a_or_b = or(vec![m("a"), m("b")]);
        assert_eq!(ok("a AND b"), ab);
        assert_eq!(ok("a && b"), ab);
        assert_eq!(ok("a&&b"), m("a&&b"), "operators inside a word are text");
        assert_eq!(ok("a b"), ab);
        assert_eq!(ok("+a +b"), ab);
        assert_eq!(ok("a OR b"), a_or_b);
        assert_eq!(ok("a || b"), a_or_b);
        assert_eq!(ok("NOT a"), not(m("a")));
        assert_eq!(ok("!a"), not(m("a")));
        assert_eq!(ok("-a"), not(m("a")));
        assert_eq!(ok("a -b"), and(vec![m("a"), not(m("b"))]));
        assert_eq!(ok("a NOT b"), and(vec![m("a"), not(m("b"))]));
        assert_eq!(ok("a AND NOT b"), and(vec![m("a"), not(m("b"))]));
        assert_eq!(ok("a OR !b"), or(vec![m("a"), not(m("b"))]));
        assert_eq!(ok("NOT NOT a"), not(not(m("a"))));
        assert_eq!(ok("error -service:healthcheck"), and(vec![m("error"), not(t(Field::Service, "healthcheck"))]));
        // Lower-case keywords and keyword-like words are plain text.
        assert_eq!(ok("a and b"), and(vec![m("a"), m("and"), m("b")]));
        assert_eq!(ok("ANDROID"), m("ANDROID"));
        assert_eq!(ok("AND:x"), t(attr("AND"), "x"));
        assert_eq!(ok("a AND(b)"), ab);
    }

    #[test]
    fn precedence_not_and_or() {
        assert_eq!(ok("a OR b AND c"), or(vec![m("a"), and(vec![m("b"), m("c")])]));
        assert_eq!(ok("a b OR c d"), or(vec![and(vec![m("a"), m("b")]), and(vec![m("c"), m("d")])]));
        assert_eq!(ok("NOT a AND b"), and(vec![not(m("a")), m("b")]));
        assert_eq!(ok("NOT a OR b"), or(vec![not(m("a")), m("b")]));
        assert_eq!(ok("a OR b OR c"), or(vec![m("a"), m("b"), m("c")]));
    }

    #[test]
    fn parentheses_group_and_flatten() {
        assert_eq!(ok("(a OR b) c"), and(vec![or(vec![m("a"), m("b")]), m("c")]));
        assert_eq!(ok("NOT (a OR b)"), not(or(vec![m("a"), m("b")])));
        assert_eq!(ok("-(a b)"), not(and(vec![m("a"), m("b")])));
        assert_eq!(ok("(a AND b) AND c"), and(vec![m("a"), m("b"), m("c")]));
        assert_eq!(ok("a OR (b OR (c))"), or(vec![m("a"), m("b"), m("c")]));
        assert_eq!(ok("((a))"), m("a"));
        assert_eq!(ok("( a )b"), and(vec![m("a"), m("b")]));
    }

    #[test]
    fn all_is_folded_away() {
        assert_eq!(ok("* error"), m("error"));
        assert_eq!(ok("error AND *"), m("error"));
        assert_eq!(ok("* OR error"), Query::All);
        assert_eq!(ok("NOT *"), not(Query::All));
        assert_eq!(Query::and(vec![]), Query::All);
        assert_eq!(Query::or(vec![m("a")]), m("a"));
    }

    #[test]
    fn field_grouping_applies_the_field_inside() {
        let svc = |v| t(Field::Service, v);
        assert_eq!(ok("service:(auth OR billing)"), or(vec![svc("auth"), svc("billing")]));
        assert_eq!(ok("service:(auth billing)"), and(vec![svc("auth"), svc("billing")]));
        assert_eq!(ok("service:(-auth)"), not(svc("auth")));
        assert_eq!(ok("service:(auth OR host:web-1)"), or(vec![svc("auth"), t(Field::Host, "web-1")]));
        assert_eq!(ok("service:(auth-* OR \"my api\")"), or(vec![wc(Field::Service, "auth-*"), svc("my api")]));
        assert_eq!(ok("level:(warn OR err)"), or(vec![t(Field::Level, "WARNING"), t(Field::Level, "ERROR")]));
        assert_eq!(
            ok("message:(\"a b\" c)"),
            and(vec![Query::Phrase { field: Field::Message, text: "a b".into() }, m("c")])
        );
        assert_eq!(ok("service:(*)"), wc(Field::Service, "*"));
        assert_eq!(ok("service:(a OR b) c"), and(vec![or(vec![svc("a"), svc("b")]), m("c")]));
    }

    #[test]
    fn wildcards() {
        assert_eq!(ok("pay*"), wc(Field::Message, "pay*"));
        assert_eq!(ok("us?r"), wc(Field::Message, "us?r"));
        assert_eq!(ok("**"), wc(Field::Message, "**"));
        assert_eq!(ok("service:auth-*"), wc(Field::Service, "auth-*"));
        assert_eq!(ok("service:*"), wc(Field::Service, "*"));
        assert_eq!(ok("message:*"), wc(Field::Message, "*"));
        assert_eq!(ok("attributes.user.name:jo*"), wc(attr("user.name"), "jo*"));
    }

    #[test]
    fn escapes() {
        assert_eq!(ok(r"pay\*"), m("pay*"));
        assert_eq!(ok(r"what\?"), m("what?"));
        assert_eq!(ok(r"pay\**"), wc(Field::Message, r"pay\**"));
        assert_eq!(ok(r"a\\b*"), wc(Field::Message, r"a\\b*"));
        assert_eq!(ok(r"a\:b*"), wc(Field::Message, "a:b*"));
        assert_eq!(ok(r"a\:b"), m("a:b"));
        assert_eq!(ok(r#"\"quoted\""#), m("\"quoted\""));
        assert_eq!(ok(r"\(x\)"), m("(x)"));
        assert_eq!(ok(r"c\\d"), m(r"c\d"));
        assert_eq!(ok(r"\-5"), m("-5"));
        assert_eq!(ok(r"\AND"), m("AND"));
        assert_eq!(ok(r"\*"), m("*"));
        assert_eq!(ok(r"two\ words"), m("two words"));
        assert_eq!(ok(r"\>5"), m(">5"));
        assert_eq!(ok(r"service:a\ b"), t(Field::Service, "a b"));
    }

    #[test]
    fn comparison_ranges() {
        let lat = || attr("latency_ms");
        let cases = [
            ("attributes.latency_ms:>500", exc("500"), Bound::Unbounded),
            ("attributes.latency_ms:>=500", inc("500"), Bound::Unbounded),
            ("attributes.latency_ms:<500", Bound::Unbounded, exc("500")),
            ("attributes.latency_ms:<=500", Bound::Unbounded, inc("500")),
            ("attributes.latency_ms:>-1.5", exc("-1.5"), Bound::Unbounded),
            ("attributes.latency_ms:>=\"1 000\"", inc("1 000"), Bound::Unbounded),
        ];
        for (input, lower, upper) in cases {
            assert_eq!(ok(input), range(lat(), lower, upper), "{input}");
        }
    }

    #[test]
    fn bracket_ranges() {
        let st = || attr("status");
        let cases = [
            ("status:[500 TO 599]", inc("500"), inc("599")),
            ("status:{500 TO 600}", exc("500"), exc("600")),
            ("status:[500 TO 600}", inc("500"), exc("600")),
            ("status:{499 TO 599]", exc("499"), inc("599")),
            ("status:[* TO 500]", Bound::Unbounded, inc("500")),
            ("status:{500 TO *}", exc("500"), Bound::Unbounded),
            ("status:[* TO *]", Bound::Unbounded, Bound::Unbounded),
            ("status:[ 500   TO   599 ]", inc("500"), inc("599")),
            ("status:[\"a b\" TO \"c d\"]", inc("a b"), inc("c d")),
            (r"status:[\* TO \]]", inc("*"), inc("]")),
        ];
        for (input, lower, upper) in cases {
            assert_eq!(ok(input), range(st(), lower, upper), "{input}");
        }
        assert_eq!(ok("service:[a TO m]"), range(Field::Service, inc("a"), inc("m")));
        assert_eq!(ok("id:>01J9"), range(Field::Id, exc("01J9"), Bound::Unbounded));
    }

    #[test]
    fn ranges_inside_field_groups() {
        let x = || attr("x");
        assert_eq!(
            ok("attributes.x:(>1 AND <5)"),
            and(vec![range(x(), exc("1"), Bound::Unbounded), range(x(), Bound::Unbounded, exc("5"))])
        );
        assert_eq!(ok("attributes.x:([1 TO 2] OR 7)"), or(vec![range(x(), inc("1"), inc("2")), t(x(), "7")]));
    }

    #[test]
    fn level_values_are_normalised() {
        let lvl = |v| t(Field::Level, v);
        assert_eq!(ok("level:warn"), lvl("WARNING"));
        assert_eq!(ok("LEVEL:Error"), lvl("ERROR"));
        assert_eq!(ok("level:err"), lvl("ERROR"));
        assert_eq!(ok("level:fatal"), lvl("CRITICAL"));
        assert_eq!(ok("level:3"), lvl("ERROR"));
        assert_eq!(ok("level:notice"), lvl("INFO"));
        assert_eq!(ok("-level:debug"), not(lvl("DEBUG")));
    }

    #[test]
    fn level_ranges_expand_by_severity() {
        let lvl = |v| t(Field::Level, v);
        assert_eq!(ok("level:>=warning"), or(vec![lvl("WARNING"), lvl("ERROR"), lvl("CRITICAL")]));
        assert_eq!(ok("level:>error"), lvl("CRITICAL"));
        assert_eq!(ok("level:<info"), lvl("DEBUG"));
        assert_eq!(ok("level:<=info"), or(vec![lvl("DEBUG"), lvl("INFO")]));
        assert_eq!(ok("level:[info TO error}"), or(vec![lvl("INFO"), lvl("WARNING")]));
        assert_eq!(
            ok("level:>=warn service:api"),
            and(vec![or(vec![lvl("WARNING"), lvl("ERROR"), lvl("CRITICAL")]), t(Field::Service, "api")])
        );
    }

    #[test]
    fn error_unbalanced_parentheses() {
        assert_err("(a OR b", 0, "unclosed '('");
        assert_err("a (b (c)", 2, "unclosed '('");
        assert_err("(", 0, "unclosed '('");
        assert_err("a OR b)", 6, "unmatched ')'");
        assert_err(")", 0, "unmatched ')'");
        assert_err("()", 0, "empty parentheses");
        assert_err("a ( )", 2, "empty parentheses");
        assert_err("service:(a", 8, "unclosed '('");
        assert_err("service:()", 8, "empty parentheses");
        // Positions count characters, not bytes.
        assert_err("é 中 (x", 4, "unclosed '('");
    }

    #[test]
    fn error_unterminated_quote() {
        assert_err("\"abc", 0, "unterminated quote");
        assert_err("a \"b c", 2, "unterminated quote");
        assert_err("service:\"x", 8, "unterminated quote");
        assert_err("\"ends with \\", 0, "unterminated quote");
        assert_err("foo\"bar\"", 3, "unexpected '\"'");
    }

    #[test]
    fn error_dangling_operators() {
        assert_err("a AND", 2, "'AND' must be followed by a term");
        assert_err("a &&", 2, "'&&' must be followed by a term");
        assert_err("a OR", 2, "'OR' must be followed by a term");
        assert_err("a ||", 2, "'||' must be followed by a term");
        assert_err("OR b", 0, "'OR' must be preceded by a term");
        assert_err("AND b", 0, "'AND' must be preceded by a term");
        assert_err("a AND OR b", 2, "'AND' must be followed by a term");
        assert_err("a OR AND b", 2, "'OR' must be followed by a term");
        assert_err("(a OR) b", 3, "'OR' must be followed by a term");
        assert_err("a (AND b)", 3, "'AND' must be preceded by a term");
        assert_err("NOT", 0, "'NOT' must be followed by a term");
        assert_err("a NOT", 2, "'NOT' must be followed by a term");
        assert_err("a -", 2, "'-' must be followed by a term");
        assert_err("!", 0, "'!' must be followed by a term");
        assert_err("+", 0, "'+' must be followed by a term");
        assert_err("(NOT)", 1, "'NOT' must be followed by a term");
    }

    #[test]
    fn error_field_syntax() {
        assert_err("service:", 8, "missing value after 'service:'");
        assert_err("service: auth", 8, "no space is allowed");
        assert_err("(service:)", 9, "missing value after 'service:'");
        assert_err(":foo", 0, "missing field name");
        assert_err("a :foo", 2, "missing field name");
        assert_err("foo/bar:x", 3, "invalid character '/'");
        assert_err(r"a\ b:x", 1, "invalid character ' '");
        assert_err("attributes:x", 0, "'attributes' needs a path");
        assert_err("attributes.:x", 0, "empty path segment");
        assert_err("a..b:x", 0, "empty path segment");
        assert_err("a\\", 1, "dangling '\\'");
    }

    #[test]
    fn error_timestamp_field() {
        for input in ["timestamp:>2025-01-01", "a TIMESTAMP:x", "@timestamp:x"] {
            let e = err(input);
            assert!(e.message.contains("use start_time/end_time or since to filter by time"), "{e}");
        }
        assert_eq!(err("a timestamp:x").position, 2);
        // An attribute that happens to be called timestamp is fine.
        assert_eq!(ok("attributes.timestamp:x"), t(attr("timestamp"), "x"));
    }

    #[test]
    fn error_level_values() {
        assert_err("level:xyz", 6, "unknown level 'xyz'");
        assert_err("service:a level:(warn OR loud)", 25, "unknown level 'loud'");
        assert_err("level:\"\"", 6, "empty phrase");
        assert_err("level:warn*", 6, "wildcards are not supported on level");
        assert_err("level:*", 6, "wildcards are not supported on level");
        assert_err("level:>=loud", 6, "unknown level 'loud'");
        assert_err("level:>CRITICAL", 6, "matches no level");
    }

    #[test]
    fn error_empty_phrase() {
        assert_err("\"\"", 0, "empty phrase");
        assert_err("a \"   \"", 2, "empty phrase");
        assert_err("message:\"\"", 8, "empty phrase");
    }

    #[test]
    fn error_bad_ranges() {
        assert_err(">500", 0, "a range needs a field");
        assert_err("a [1 TO 2]", 2, "a range needs a field");
        assert_err("message:>5", 8, "not supported on message");
        assert_err("x:>", 3, "missing value after '>'");
        assert_err("x:>= 5", 4, "missing value after '>='");
        assert_err("x:>*", 3, "'*' is not a value");
        assert_err("x:>>5", 2, "invalid comparison '>>'");
        assert_err("x:<>5", 2, "invalid comparison '<>'");
        assert_err("x:[1 TO 2", 2, "unclosed range");
        assert_err("x:[", 2, "unclosed range");
        assert_err("x:[1", 2, "unclosed range");
        assert_err("x:[1 TO", 2, "unclosed range");
        assert_err("x:[1 2]", 5, "expected 'TO'");
        assert_err("x:[1 to 2]", 5, "expected 'TO'");
        assert_err("x:[TO 2]", 3, "missing lower bound");
        assert_err("x:[1 TO ]", 8, "missing upper bound");
        assert_err("x:[1 TO 2 3]", 10, "expected ']' or '}'");
        assert_err("x:[1 TO 2)", 9, "expected ']' or '}'");
        assert_err("x:[a* TO b]", 3, "wildcards are not allowed");
        assert_err("x:[\"\" TO b]", 3, "missing lower bound");
    }

    #[test]
    fn error_limits() {
        let long = "a ".repeat(MAX_QUERY_BYTES / 2) + "b";
        assert_err(&long, MAX_QUERY_BYTES, "query is too long");
        let multibyte = "é".repeat(MAX_QUERY_BYTES / 2 + 1);
        assert_err(&multibyte, MAX_QUERY_BYTES / 2, "query is too long");

        let nested = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(ok(&nested(MAX_DEPTH)), m("a"));
        assert_err(&nested(MAX_DEPTH + 1), MAX_DEPTH, "nested too deeply");
        let nots = |n: usize| format!("{}a", "-".repeat(n));
        assert!(parse(&nots(MAX_DEPTH)).is_ok());
        assert_err(&nots(MAX_DEPTH + 1), MAX_DEPTH, "nested too deeply");
        // Many `+` (a no-op) must not recurse.
        assert_eq!(ok(&format!("{}a", "+".repeat(3000))), m("a"));

        let clauses = |n: usize| vec!["x"; n].join(" ");
        assert!(parse(&clauses(MAX_CLAUSES)).is_ok());
        assert_err(&clauses(MAX_CLAUSES + 1), MAX_CLAUSES * 2, "too many clauses");
    }

    #[test]
    fn error_display_includes_position() {
        assert_eq!(err("(a").to_string(), "unclosed '(': missing ')' at position 0");
    }

    #[test]
    fn display_is_canonical() {
        let cases = [
            ("timeout", "timeout"),
            ("a b OR c", "(a AND b) OR c"),
            ("service:(a OR b) -level:debug", "(service:a OR service:b) AND NOT level:DEBUG"),
            ("\"connection  refused\"", "\"connection  refused\""),
            ("user_id:42", "attributes.user_id:42"),
            ("msg:pay*", "pay*"),
            (r"pay\**", r"pay\**"),
            ("message:*", "message:*"),
            ("attributes.latency_ms:>500", "attributes.latency_ms:{500 TO *]"),
            ("x:[* TO 5}", "attributes.x:[* TO 5}"),
            (r"\AND \-x a\:b", r"\AND AND \-x AND a\:b"),
            ("service:\"my api\"", r"service:my\ api"),
            ("NOT (a OR b)", "NOT (a OR b)"),
            ("", "*"),
        ];
        for (input, want) in cases {
            assert_eq!(ok(input).to_string(), want, "{input}");
        }
    }

    #[test]
    fn display_round_trips() {
        let inputs = [
            "a b OR c -d",
            "service:(auth OR billing) level:>=warn attributes.user.id:42",
            "\"say \\\"hi\\\"\" pay\\** us?r",
            "x:[\"a b\" TO \\*] y:{\\TO TO \\]}",
            "host:10.0.0.1:8080 a\\:b \\( \\&& \\|| \\+x \\!x \\[x \\{x \\<x \\>x",
            "NOT NOT (a OR (b c)) !d",
            "service:* message:*",
            "a\\ b\\\tc",
        ];
        for input in inputs {
            let q = ok(input);
            assert_eq!(parse(&q.to_string()), Ok(q.clone()), "{input} -> {q}");
        }
    }

    #[test]
    fn wildcard_patterns_to_regex() {
        assert_eq!(wildcard_to_regex("pay*"), "pay.*");
        assert_eq!(wildcard_to_regex("us?r"), "us.r");
        assert_eq!(wildcard_to_regex(r"a\*b\?c\\*"), r"a\*b\?c\\.*");
        assert_eq!(wildcard_to_regex("auth-*.v1"), r"auth\-.*\.v1");
    }

    /// Deterministic pseudo-random generator (Knuth's MMIX LCG): no extra dependency.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, bound: usize) -> usize {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % bound
        }
    }

    #[test]
    fn garbage_never_panics_and_successes_round_trip() {
        const PIECES: &[&str] = &[
            "a",
            "b",
            "foo",
            "AND",
            "OR",
            "NOT",
            "TO",
            "&&",
            "||",
            "!",
            "-",
            "+",
            "(",
            ")",
            "\"",
            "\\",
            ":",
            "*",
            "?",
            "[",
            "]",
            "{",
            "}",
            "<",
            ">",
            "=",
            "level",
            "warn",
            "service",
            "attributes.x",
            "timestamp",
            " ",
            " ",
            " ",
            "é",
            "中",
            "\t",
            "@",
            ".",
            "5",
        ];
        let mut rng = Lcg(0x5eed);
        let mut parsed = 0;
        for _ in 0..30_000 {
            let mut input = String::new();
            for _ in 0..rng.next(24) {
                if rng.next(10) == 0 {
                    // An arbitrary char, including controls and non-ASCII.
                    input.push(char::from_u32(rng.next(0x3000) as u32).unwrap_or('?'));
                } else {
                    input.push_str(PIECES[rng.next(PIECES.len())]);
                }
            }
            match parse(&input) {
                Ok(q) => {
                    parsed += 1;
                    let printed = q.to_string();
                    assert_eq!(parse(&printed), Ok(q), "{input:?} printed as {printed:?}");
                }
                Err(e) => assert!(e.position <= input.chars().count(), "{input:?}: position out of range: {e}"),
            }
        }
        // Keep the round-trip half of the property meaningful if the alphabet changes.
        assert!(parsed > 3_000, "only {parsed} random inputs parsed");
    }
}
