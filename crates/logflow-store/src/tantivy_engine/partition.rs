//! One UTC day of logs: a tantivy index in its own directory.
//!
//! Each partition records in its commit payload the last WAL LSN it has committed, so replay after a
//! crash can skip exactly the records this partition already holds (see the crate docs). The
//! writer is opened lazily and closed when the partition goes quiet, so old days cost no memory.
//!
//! A partition keeps the schema it was created with; one created before a field was added lacks
//! it for good, and documents written into it leave that field out (see `schema.rs`).

use super::schema::{self, Optional};
use crate::{Result, StoreError};
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;
use tantivy::schema::Schema;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher, TantivyDocument};

/// Tuning of the embedded engine's writers and storage.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub threads: usize,
    pub heap_bytes: usize,
    pub zstd_level: i32,
    pub docstore_blocksize: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig { threads: 1, heap_bytes: 96 << 20, zstd_level: 3, docstore_blocksize: 64 << 10 }
    }
}

pub struct Partition {
    pub day: NaiveDate,
    pub name: String,
    pub dir: PathBuf,
    index: Index,
    /// The later-added fields this partition's schema has.
    optional: Optional,
    reader: IndexReader,
    writer: Mutex<Option<IndexWriter>>,
    committed_lsn: AtomicU64,
    staged: AtomicBool,
    last_write: Mutex<Instant>,
}

impl Partition {
    pub fn dir_name(day: NaiveDate) -> String {
        day.format("%Y-%m-%d").to_string()
    }

    /// Open the partition stored in `dir`, creating it with `schema` if absent. An existing
    /// partition keeps its own schema, which must be `schema` or an older prefix of it.
    pub fn open(root: &Path, day: NaiveDate, schema: &Schema, cfg: &WriterConfig) -> Result<Partition> {
        let name = Self::dir_name(day);
        let dir = root.join(&name);
        let index = if dir.join("meta.json").exists() {
            Index::open_in_dir(&dir)?
        } else {
            std::fs::create_dir_all(&dir)?;
            let settings = IndexSettings {
                docstore_compression: Compressor::Zstd(ZstdCompressor { compression_level: Some(cfg.zstd_level) }),
                docstore_blocksize: cfg.docstore_blocksize,
                ..IndexSettings::default()
            };
            Index::builder().schema(schema.clone()).settings(settings).create_in_dir(&dir)?
        };
        let own_schema = index.schema();
        schema::check_prefix(&own_schema, schema)
            .map_err(|e| StoreError::Engine(format!("partition {}: {e}", dir.display())))?;
        let committed = index.load_metas()?.payload.and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Partition {
            day,
            name,
            dir,
            index,
            optional: Optional::of(&own_schema),
            reader,
            writer: Mutex::new(None),
            committed_lsn: AtomicU64::new(committed),
            staged: AtomicBool::new(false),
            last_write: Mutex::new(Instant::now()),
        })
    }

    /// `[start, end)` of the day in microseconds.
    pub fn bounds_micros(&self) -> (i64, i64) {
        let start = Utc.from_utc_datetime(&self.day.and_hms_opt(0, 0, 0).expect("midnight"));
        let end = start + chrono::Duration::days(1);
        (start.timestamp_micros(), end.timestamp_micros())
    }

    /// True when the day shares time with `[start, end)` (microseconds, either side open).
    pub fn overlaps(&self, start: Option<i64>, end: Option<i64>) -> bool {
        let (p_start, p_end) = self.bounds_micros();
        start.is_none_or(|s| s < p_end) && end.is_none_or(|e| e > p_start)
    }

    /// The later-added fields this partition has (documents for it must leave out the others).
    pub fn optional(&self) -> Optional {
        self.optional
    }

    pub fn ends_before(&self, cutoff: DateTime<Utc>) -> bool {
        self.day
            .checked_add_days(Days::new(1))
            .is_some_and(|next| Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0).expect("midnight")) <= cutoff)
    }

    pub fn committed_lsn(&self) -> u64 {
        self.committed_lsn.load(Ordering::Acquire)
    }

    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    pub fn tokenizers(&self) -> &tantivy::tokenizer::TokenizerManager {
        self.index.tokenizers()
    }

    /// Stage documents (invisible until [`Partition::commit`]).
    pub fn add(&self, docs: impl Iterator<Item = TantivyDocument>, cfg: &WriterConfig) -> Result<()> {
        let mut guard = self.writer.lock();
        if guard.is_none() {
            *guard = Some(self.index.writer_with_num_threads(cfg.threads, cfg.heap_bytes)?);
        }
        let writer = guard.as_ref().expect("writer just opened");
        for doc in docs {
            writer.add_document(doc)?;
        }
        self.staged.store(true, Ordering::Release);
        *self.last_write.lock() = Instant::now();
        Ok(())
    }

    /// Commit staged documents with `lsn` as the payload, then make them searchable.
    /// Returns false when nothing was staged.
    pub fn commit(&self, lsn: u64) -> Result<bool> {
        if !self.staged.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        let mut guard = self.writer.lock();
        let writer = guard.as_mut().expect("staged implies a writer");
        let committed = writer.prepare_commit().and_then(|mut prepared| {
            prepared.set_payload(&lsn.to_string());
            prepared.commit()
        });
        if let Err(e) = committed {
            // Still staged: the next commit retries, and the WAL checkpoint does not advance.
            self.staged.store(true, Ordering::Release);
            return Err(e.into());
        }
        self.committed_lsn.store(lsn, Ordering::Release);
        drop(guard);
        self.reader.reload()?;
        Ok(true)
    }

    /// Close the writer when the partition has been quiet for `idle`, releasing its memory.
    pub fn close_writer_if_idle(&self, idle: std::time::Duration) {
        if self.staged.load(Ordering::Acquire) || self.last_write.lock().elapsed() < idle {
            return;
        }
        if let Some(writer) = self.writer.lock().take() {
            if let Err(e) = writer.wait_merging_threads() {
                tracing::warn!(partition = %self.name, error = %e, "closing idle index writer");
            }
        }
    }

    pub fn bytes_on_disk(&self) -> u64 {
        crate::dir_size(&self.dir)
    }
}
