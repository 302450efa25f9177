//! # logflow-core
//!
//! The pure heart of LogFlow: no I/O, no async, most of the unit tests.
//!
//! * [`model`]: the stored log record ([`LogRecord`]) and its [`Level`] with the normalisation rules.
//! * [`ingest`]: turning an HTTP body (JSON object, JSON array or NDJSON) into validated records,
//!   with a per-item error for every rejected item.
//! * [`query`]: the Lucene-like query language (terms, phrases, AND/OR/NOT, `field:value`,
//!   wildcards, attribute paths) parsed into an engine-neutral AST that each log store compiles.
//! * [`time`]: RFC 3339 and relative (`15m`, `1h`, `7d`) time parsing.
//! * [`search`]: the engine-neutral search request/response and the search-after cursor.
//! * [`matcher`]: in-memory evaluation of a query against one record (live tail), with the same
//!   semantics as the tantivy store's search.
//! * [`template`]: message templates (variable parts replaced by placeholders) for grouping messages.

pub mod ingest;
pub mod matcher;
pub mod model;
pub mod query;
pub mod search;
pub mod template;
pub mod time;

pub use model::{EncodedBatch, Level, LogRecord};
