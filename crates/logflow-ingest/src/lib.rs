//! # logflow-ingest
//!
//! The path from an accepted request to a searchable log:
//!
//! ```text
//! source (HTTP, demo generator, ...) --records--> Pipeline::ingest
//!     -> wal::Wal::append   (group commit: one write + one fsync for many requests; ack after fsync)
//!     -> indexer            (in LSN order: LogStore::add; LogStore::commit about once a second)
//!     -> Wal::checkpoint    (after the commit: old WAL segments are deleted)
//! ```
//!
//! * [`wal`]: the segmented, checksummed write-ahead log.
//! * [`pipeline`]: admission control (backpressure), the indexer loop, replay at start, retention.

pub mod pipeline;
pub mod wal;

pub use pipeline::{IndexedHook, IngestError, Pipeline, PipelineConfig, PipelineStats};
