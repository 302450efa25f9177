//! The embedded engine: one tantivy index per UTC day under `<data>/index/`.
//!
//! Day partitions make retention a directory delete and let a time-bounded query open only the
//! days it overlaps. The engine is synchronous inside; the [`LogStore`] impl runs it on tokio's
//! blocking pool so searches never stall the async runtime.

mod aggregate;
mod partition;
mod query;
mod schema;
mod search;

pub use partition::WriterConfig;

use crate::{AggregateRequest, AggregateResult, LogStore, PartitionStats, Result, StoreError, StoreStats};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use logflow_core::search::{SearchRequest, SearchResult};
use logflow_core::{EncodedBatch, LogRecord};
use parking_lot::{Mutex, RwLock};
use partition::Partition;
use schema::Fields;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tantivy::schema::Schema;
use tantivy::Executor;

/// Writers of partitions without writes for this long are closed.
const WRITER_IDLE: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct TantivyStore {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    schema: Schema,
    fields: Fields,
    cfg: WriterConfig,
    partitions: RwLock<BTreeMap<NaiveDate, Arc<Partition>>>,
    /// Serialises the write path (add/commit/retention) against itself.
    write_lock: Mutex<()>,
    committed: AtomicU64,
    last_commit_micros: AtomicU64,
    /// Runs an aggregation's segments in parallel, one thread per core: an aggregation reads
    /// every matching document, unlike a search page.
    aggregate_pool: Executor,
    /// The latest retention cutoff applied (micros, i64::MIN if none): days ending before it are
    /// never re-created, e.g. by a WAL replay of logs that expired while the server was down.
    retention_cutoff: AtomicI64,
}

impl TantivyStore {
    /// Open every partition under `root` (created if missing).
    pub fn open(root: &Path, cfg: WriterConfig) -> Result<TantivyStore> {
        std::fs::create_dir_all(root)?;
        let (schema, fields) = schema::build_schema();
        let mut partitions = BTreeMap::new();
        for entry in std::fs::read_dir(root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            let Ok(day) = NaiveDate::parse_from_str(&name, "%Y-%m-%d") else {
                tracing::warn!(path = %entry.path().display(), "ignoring unexpected entry in the index directory");
                continue;
            };
            let p = Partition::open(root, day, &schema, &cfg)?;
            tracing::info!(partition = %name, docs = p.searcher().num_docs(), committed_lsn = p.committed_lsn(), "opened partition");
            partitions.insert(day, Arc::new(p));
        }
        Ok(TantivyStore {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                schema,
                fields,
                cfg,
                partitions: RwLock::new(partitions),
                write_lock: Mutex::new(()),
                committed: AtomicU64::new(0),
                last_commit_micros: AtomicU64::new(0),
                aggregate_pool: Executor::multi_thread(
                    std::thread::available_parallelism().map_or(1, |n| n.get()),
                    "logflow-aggregate-",
                )?,
                retention_cutoff: AtomicI64::new(i64::MIN),
            }),
        })
    }

    /// Synchronous add of plain records (tests, tools); the async trait method is the hot path.
    pub fn add_blocking(&self, lsn: u64, records: &[LogRecord]) -> Result<()> {
        self.inner.add(lsn, &EncodedBatch::encode(records.to_vec()))
    }

    pub fn commit_blocking(&self, lsn: u64) -> Result<()> {
        self.inner.commit(lsn)
    }

    pub fn search_blocking(&self, req: &SearchRequest) -> Result<SearchResult> {
        search::search(&self.inner.fields, &self.inner.partitions_newest_first(), req)
    }

    pub fn aggregate_blocking(&self, req: &AggregateRequest) -> Result<AggregateResult> {
        let inner = &self.inner;
        aggregate::aggregate(&inner.fields, &inner.partitions_newest_first(), &inner.aggregate_pool, req)
    }
}

impl Inner {
    fn partitions_newest_first(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().values().rev().cloned().collect()
    }

    fn partition_for(&self, day: NaiveDate) -> Result<Arc<Partition>> {
        if let Some(p) = self.partitions.read().get(&day) {
            return Ok(p.clone());
        }
        let mut map = self.partitions.write();
        if let Some(p) = map.get(&day) {
            return Ok(p.clone());
        }
        let p = Arc::new(Partition::open(&self.root, day, &self.schema, &self.cfg)?);
        tracing::info!(partition = %p.name, "created partition");
        map.insert(day, p.clone());
        Ok(p)
    }

    fn add(&self, lsn: u64, batch: &EncodedBatch) -> Result<()> {
        let _w = self.write_lock.lock();
        let mut by_day: BTreeMap<NaiveDate, Vec<(&LogRecord, &[u8])>> = BTreeMap::new();
        for (rec, source) in batch.iter() {
            by_day.entry(rec.timestamp.date_naive()).or_default().push((rec, source));
        }
        let cutoff = self.retention_cutoff.load(Ordering::Acquire);
        for (day, recs) in by_day {
            if day_end_micros(day) <= cutoff {
                tracing::info!(%day, logs = recs.len(), lsn, "skipping logs older than the retention period");
                continue;
            }
            let p = self.partition_for(day)?;
            if p.committed_lsn() >= lsn {
                continue; // already durable in this partition: a replayed WAL record
            }
            let (f, has) = (self.fields, p.optional());
            let docs = recs.into_iter().map(move |(r, source)| schema::to_document(&f, has, r, source));
            p.add(docs, &self.cfg)?;
        }
        Ok(())
    }

    fn commit(&self, lsn: u64) -> Result<()> {
        let _w = self.write_lock.lock();
        let started = Instant::now();
        let partitions = self.partitions_newest_first();
        for p in &partitions {
            if let Err(e) = p.commit(lsn) {
                // Staged docs of the other partitions stay staged; the WAL still holds everything,
                // and the next commit (or a replay) retries.
                tracing::error!(partition = %p.name, error = %e, "commit failed");
                return Err(e);
            }
            p.close_writer_if_idle(WRITER_IDLE);
        }
        self.committed.store(lsn, Ordering::Release);
        self.last_commit_micros.store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<LogRecord>> {
        search::get_by_id(&self.fields, &self.partitions_newest_first(), id)
    }

    fn apply_retention(&self, cutoff: DateTime<Utc>) -> Result<Vec<String>> {
        let _w = self.write_lock.lock();
        self.retention_cutoff.fetch_max(cutoff.timestamp_micros(), Ordering::AcqRel);
        let expired: Vec<Arc<Partition>> = {
            let mut map = self.partitions.write();
            let days: Vec<NaiveDate> = map.values().filter(|p| p.ends_before(cutoff)).map(|p| p.day).collect();
            days.iter().filter_map(|d| map.remove(d)).collect()
        };
        let mut dropped = Vec::new();
        for p in expired {
            let (name, dir) = (p.name.clone(), p.dir.clone());
            drop(p); // searches still holding the partition keep their files open until done (unlinked)
            std::fs::remove_dir_all(&dir)?;
            tracing::info!(partition = %name, "retention dropped partition");
            dropped.push(name);
        }
        Ok(dropped)
    }

    fn stats(&self) -> StoreStats {
        let partitions: Vec<PartitionStats> = self
            .partitions_newest_first()
            .iter()
            .map(|p| PartitionStats {
                name: p.name.clone(),
                docs: p.searcher().num_docs(),
                bytes_on_disk: p.bytes_on_disk(),
                committed_lsn: p.committed_lsn(),
            })
            .collect();
        StoreStats {
            engine: "tantivy",
            docs: partitions.iter().map(|p| p.docs).sum(),
            bytes_on_disk: partitions.iter().map(|p| p.bytes_on_disk).sum(),
            partitions,
            last_commit_ms: self.last_commit_micros.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

fn day_end_micros(day: NaiveDate) -> i64 {
    let next = day.succ_opt().unwrap_or(day).and_hms_opt(0, 0, 0).expect("midnight");
    next.and_utc().timestamp_micros()
}

/// Run blocking engine work off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Engine(format!("engine task failed: {e}")))?
}

#[async_trait]
impl LogStore for TantivyStore {
    async fn add(&self, lsn: u64, batch: Arc<EncodedBatch>) -> Result<()> {
        let inner = self.inner.clone();
        blocking(move || inner.add(lsn, &batch)).await
    }

    async fn commit(&self, lsn: u64) -> Result<()> {
        let inner = self.inner.clone();
        blocking(move || inner.commit(lsn)).await
    }

    fn committed_lsn(&self) -> u64 {
        self.inner.committed.load(Ordering::Acquire)
    }

    async fn search(&self, req: &SearchRequest) -> Result<SearchResult> {
        let store = self.clone();
        let req = req.clone();
        blocking(move || store.search_blocking(&req)).await
    }

    async fn aggregate(&self, req: &AggregateRequest) -> Result<AggregateResult> {
        let store = self.clone();
        let req = req.clone();
        blocking(move || store.aggregate_blocking(&req)).await
    }

    async fn get(&self, id: &str) -> Result<Option<LogRecord>> {
        let inner = self.inner.clone();
        let id = id.to_string();
        blocking(move || inner.get(&id)).await
    }

    async fn apply_retention(&self, cutoff: DateTime<Utc>) -> Result<Vec<String>> {
        let inner = self.inner.clone();
        blocking(move || inner.apply_retention(cutoff)).await
    }

    async fn stats(&self) -> Result<StoreStats> {
        let inner = self.inner.clone();
        blocking(move || Ok(inner.stats())).await
    }

    async fn health(&self) -> Result<()> {
        if self.inner.root.is_dir() {
            Ok(())
        } else {
            Err(StoreError::Engine(format!("index directory {} is missing", self.inner.root.display())))
        }
    }
}

#[cfg(test)]
mod aggregate_tests;
#[cfg(test)]
mod tests;
