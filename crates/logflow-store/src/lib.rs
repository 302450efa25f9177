//! # logflow-store
//!
//! Where logs live once they are durable in the write-ahead log. [`LogStore`] is the engine-facing
//! trait; [`tantivy_engine::TantivyStore`] is the embedded engine (one tantivy index per UTC day),
//! and a real Elasticsearch/OpenSearch engine is the other implementation.
//!
//! ## Contract every engine keeps
//! * **Write path.** The indexer calls [`LogStore::add`] with records in WAL order, tagged with the
//!   LSN of the WAL record they came from, then [`LogStore::commit`] about once a second. After
//!   `commit(lsn)` returns, everything added so far is durable and searchable, and
//!   [`LogStore::committed_lsn`] is at least `lsn`.
//! * **Exactly once.** `add` ignores records whose LSN the engine already committed for them, so
//!   replaying the WAL after a crash never duplicates a log.
//! * **Read path.** [`LogStore::search`] returns hits newest first by `(timestamp, id)` with a
//!   search-after cursor (see [`logflow_core::search`]). [`LogStore::aggregate`] counts the same
//!   matches by service, level, time bucket and message template (see [`aggregate`]). Both see
//!   exactly what has been committed.

pub mod aggregate;
pub mod tantivy_engine;

pub use aggregate::{AggregateRequest, AggregateResult};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use logflow_core::search::{SearchRequest, SearchResult};
use logflow_core::{EncodedBatch, LogRecord};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The query cannot run on this engine (e.g. a range on a full-text field). A client error.
    #[error("{0}")]
    InvalidQuery(String),
    #[error("storage engine error: {0}")]
    Engine(String),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<tantivy::TantivyError> for StoreError {
    fn from(e: tantivy::TantivyError) -> Self {
        StoreError::Engine(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One time partition as reported by [`LogStore::stats`].
#[derive(Debug, Clone, Serialize)]
pub struct PartitionStats {
    pub name: String,
    pub docs: u64,
    pub bytes_on_disk: u64,
    pub committed_lsn: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreStats {
    pub engine: &'static str,
    pub docs: u64,
    pub bytes_on_disk: u64,
    pub partitions: Vec<PartitionStats>,
    /// Milliseconds the last commit took.
    pub last_commit_ms: f64,
}

#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    /// Stage the records of WAL record `lsn` (not yet visible). Records already committed are
    /// skipped. The batch carries each record's JSON, which engines store as the record's source.
    async fn add(&self, lsn: u64, batch: std::sync::Arc<EncodedBatch>) -> Result<()>;
    /// Make everything staged durable and searchable; `lsn` is the last WAL record staged.
    async fn commit(&self, lsn: u64) -> Result<()>;
    /// The LSN up to which every record is durably stored (the WAL may drop what is at or below it).
    fn committed_lsn(&self) -> u64;
    async fn search(&self, req: &SearchRequest) -> Result<SearchResult>;
    /// Counts over the logs matching `req`'s filters, from columnar data only (no log is loaded).
    async fn aggregate(&self, req: &AggregateRequest) -> Result<AggregateResult>;
    async fn get(&self, id: &str) -> Result<Option<LogRecord>>;
    /// Drop whole partitions that ended before `cutoff`. Returns the names dropped.
    async fn apply_retention(&self, cutoff: DateTime<Utc>) -> Result<Vec<String>>;
    async fn stats(&self) -> Result<StoreStats>;
    /// A cheap liveness probe for `/health`.
    async fn health(&self) -> Result<()>;
}

/// Bytes used by the files under `dir`, recursively (0 if it cannot be read).
pub fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
