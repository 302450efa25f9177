//! Admission control, the indexer loop, replay at start and retention.
//!
//! Memory stays bounded: every byte accepted into the WAL counts as *pending* until the store has
//! committed it. Past `max_pending_bytes`, [`Pipeline::ingest`] refuses with
//! [`IngestError::Backpressure`] (HTTP 503 + Retry-After) instead of queueing more.

use crate::wal::{Lsn, RecoveryReport, Wal, WalOptions, WalStats};
use chrono::Utc;
use logflow_core::{EncodedBatch, LogRecord};
use logflow_store::LogStore;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Called with the records of each batch once it is committed (searchable); e.g. to count
/// `logs_indexed_total`. Runs on the indexer task, so it must be quick.
pub type IndexedHook = Arc<dyn Fn(&[LogRecord]) + Send + Sync>;

#[derive(Clone)]
pub struct PipelineConfig {
    pub wal_dir: PathBuf,
    pub wal: WalOptions,
    /// How often staged logs are committed (made searchable). About 1 s.
    pub commit_interval: Duration,
    /// Accepted-but-not-yet-committed bytes above which ingest answers 503.
    pub max_pending_bytes: u64,
    /// Logs older than this are dropped by retention (whole partitions).
    pub retention_days: u32,
    pub retention_check_interval: Duration,
    pub on_indexed: Option<IndexedHook>,
}

impl PipelineConfig {
    pub fn new(wal_dir: PathBuf) -> Self {
        PipelineConfig {
            wal_dir,
            wal: WalOptions::default(),
            commit_interval: Duration::from_secs(1),
            max_pending_bytes: 32 << 20,
            retention_days: 7,
            retention_check_interval: Duration::from_secs(600),
            on_indexed: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("ingest is behind by {pending_bytes} bytes; retry after {retry_after_secs} s")]
    Backpressure { pending_bytes: u64, retry_after_secs: u64 },
    #[error("the write-ahead log failed: {0}")]
    Wal(#[from] crate::wal::WalError),
    #[error("shutting down")]
    ShuttingDown,
}

/// The in-memory companion of a WAL record, handed to the indexer after the fsync.
struct Entry {
    batch: Arc<EncodedBatch>,
    bytes: u64,
}

#[derive(Default)]
struct Counters {
    accepted_records: AtomicU64,
    indexed_records: AtomicU64,
    pending_bytes: AtomicU64,
    rejected_backpressure: AtomicU64,
    commits: AtomicU64,
    last_commit_ms: AtomicU64,
    committed_lsn: AtomicU64,
    replayed_records: AtomicU64,
    indexer_errors: AtomicU64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineStats {
    pub accepted_records: u64,
    pub indexed_records: u64,
    pub pending_bytes: u64,
    pub max_pending_bytes: u64,
    pub rejected_backpressure: u64,
    pub commits: u64,
    pub last_commit_ms: u64,
    pub committed_lsn: u64,
    pub replayed_records: u64,
    pub indexer_errors: u64,
    pub indexer_healthy: bool,
    pub wal: WalStats,
    pub recovery: RecoveryReport,
}

pub struct Pipeline {
    wal: Arc<Wal<Entry>>,
    store: Arc<dyn LogStore>,
    cfg: PipelineConfig,
    counters: Arc<Counters>,
    recovery: RecoveryReport,
    indexer_healthy: Arc<AtomicBool>,
    shutdown_tx: watch::Sender<bool>,
    tasks: parking_lot::Mutex<Vec<JoinHandle<()>>>,
    closing: AtomicBool,
}

impl Pipeline {
    /// Open the WAL, replay what the store has not committed, and start the indexer and retention.
    pub async fn start(cfg: PipelineConfig, store: Arc<dyn LogStore>) -> anyhow::Result<Arc<Pipeline>> {
        let (tx, rx) = mpsc::unbounded_channel::<(Lsn, Entry)>();
        let sink_tx = tx.clone();
        let sink = Box::new(move |lsn: Lsn, entry: Entry| {
            // The indexer only goes away at shutdown, after the WAL writer stopped.
            let _ = sink_tx.send((lsn, entry));
        });
        let dir = cfg.wal_dir.clone();
        let opts = cfg.wal.clone();
        let (wal, recovery) = tokio::task::spawn_blocking(move || Wal::open(&dir, opts, sink)).await??;
        if let Some(t) = &recovery.truncated {
            tracing::warn!(segment = %t.segment, offset = t.offset, bytes_dropped = t.bytes_dropped, reason = %t.reason,
                "the write-ahead log had a damaged tail; it was cut off (records before it are intact)");
        }
        let wal = Arc::new(wal);
        let counters = Arc::new(Counters::default());
        let replayed = replay(&wal, &tx, &counters).await?;
        if replayed > 0 {
            tracing::info!(records = replayed, "replaying write-ahead log records not yet indexed");
        }
        drop(tx);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let indexer_healthy = Arc::new(AtomicBool::new(true));
        let indexer = Indexer {
            store: store.clone(),
            wal: wal.clone(),
            counters: counters.clone(),
            healthy: indexer_healthy.clone(),
            interval: cfg.commit_interval,
            on_indexed: cfg.on_indexed.clone(),
        };
        let mut tasks = vec![tokio::spawn(indexer.run(rx, shutdown_rx.clone()))];
        tasks.push(tokio::spawn(retention_loop(
            store.clone(),
            cfg.retention_days,
            cfg.retention_check_interval,
            shutdown_rx,
        )));
        Ok(Arc::new(Pipeline {
            wal,
            store,
            cfg,
            counters,
            recovery,
            indexer_healthy,
            shutdown_tx,
            tasks: parking_lot::Mutex::new(tasks),
            closing: AtomicBool::new(false),
        }))
    }

    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.store
    }

    /// Durably accept validated records. Returns once they are fsynced in the WAL.
    pub async fn ingest(&self, records: Vec<LogRecord>) -> Result<Lsn, IngestError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(IngestError::ShuttingDown);
        }
        let pending = self.counters.pending_bytes.load(Ordering::Acquire);
        if pending >= self.cfg.max_pending_bytes {
            self.counters.rejected_backpressure.fetch_add(1, Ordering::Relaxed);
            return Err(IngestError::Backpressure { pending_bytes: pending, retry_after_secs: 1 });
        }
        let batch = EncodedBatch::encode(records);
        let payload = batch.ndjson().to_vec();
        let bytes = payload.len() as u64;
        let n = batch.len() as u64;
        self.counters.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
        let entry = Entry { batch: Arc::new(batch), bytes };
        match self.wal.append(payload, entry).await {
            Ok(lsn) => {
                self.counters.accepted_records.fetch_add(n, Ordering::Relaxed);
                Ok(lsn)
            }
            Err(e) => {
                self.counters.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
                Err(e.into())
            }
        }
    }

    pub fn stats(&self) -> PipelineStats {
        let c = &self.counters;
        PipelineStats {
            accepted_records: c.accepted_records.load(Ordering::Relaxed),
            indexed_records: c.indexed_records.load(Ordering::Relaxed),
            pending_bytes: c.pending_bytes.load(Ordering::Relaxed),
            max_pending_bytes: self.cfg.max_pending_bytes,
            rejected_backpressure: c.rejected_backpressure.load(Ordering::Relaxed),
            commits: c.commits.load(Ordering::Relaxed),
            last_commit_ms: c.last_commit_ms.load(Ordering::Relaxed),
            committed_lsn: c.committed_lsn.load(Ordering::Relaxed),
            replayed_records: c.replayed_records.load(Ordering::Relaxed),
            indexer_errors: c.indexer_errors.load(Ordering::Relaxed),
            indexer_healthy: self.indexer_healthy.load(Ordering::Relaxed),
            wal: self.wal.stats(),
            recovery: self.recovery.clone(),
        }
    }

    /// Stop accepting, drain the WAL writer, commit what is staged, stop background tasks.
    pub async fn shutdown(&self) {
        self.closing.store(true, Ordering::Release);
        let wal = self.wal.clone();
        let _ = tokio::task::spawn_blocking(move || wal.shutdown()).await;
        let _ = self.shutdown_tx.send(true);
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock());
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Feed every WAL record after the checkpoint to the indexer, before new appends arrive.
async fn replay(
    wal: &Arc<Wal<Entry>>,
    tx: &mpsc::UnboundedSender<(Lsn, Entry)>,
    counters: &Arc<Counters>,
) -> anyhow::Result<u64> {
    let wal = wal.clone();
    let tx = tx.clone();
    let counters = counters.clone();
    tokio::task::spawn_blocking(move || {
        let mut records = 0u64;
        wal.replay(|lsn, payload| match EncodedBatch::decode(payload) {
            Ok(batch) => {
                let bytes = batch.ndjson().len() as u64;
                records += batch.len() as u64;
                counters.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
                let _ = tx.send((lsn, Entry { batch: Arc::new(batch), bytes }));
            }
            // The checksum matched, so this is not disk damage but a record we cannot read
            // (e.g. written by a newer version). Keep going; say so loudly.
            Err(e) => tracing::error!(lsn, error = %e, "skipping undecodable write-ahead log record"),
        })?;
        counters.replayed_records.store(records, Ordering::Relaxed);
        Ok(records)
    })
    .await?
}

struct Indexer {
    store: Arc<dyn LogStore>,
    wal: Arc<Wal<Entry>>,
    counters: Arc<Counters>,
    healthy: Arc<AtomicBool>,
    interval: Duration,
    on_indexed: Option<IndexedHook>,
}

/// What has been added to the store since its last commit.
#[derive(Default)]
struct Staged {
    lsn: Option<Lsn>,
    bytes: u64,
    records: u64,
    /// Kept only when someone wants to hear about committed records.
    batches: Vec<Arc<EncodedBatch>>,
}

impl Indexer {
    /// Stage entries as they come; commit every `interval`. At shutdown (signalled after the WAL
    /// writer has drained), stage what is still queued, commit, and exit.
    async fn run(self, mut rx: mpsc::UnboundedReceiver<(Lsn, Entry)>, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut staged = Staged::default();
        loop {
            tokio::select! {
                msg = rx.recv() => {
                    let Some((lsn, entry)) = msg else { break };
                    self.stage(lsn, entry, &mut staged).await;
                }
                _ = ticker.tick() => {
                    if staged.lsn.is_some() && self.commit(&staged).await {
                        staged = Staged::default();
                    }
                }
                _ = shutdown.changed() => {
                    while let Ok((lsn, entry)) = rx.try_recv() {
                        self.stage(lsn, entry, &mut staged).await;
                    }
                    break;
                }
            }
        }
        if staged.lsn.is_some() {
            self.commit(&staged).await;
        }
        tracing::info!("indexer stopped");
    }

    /// Stage one entry, retrying until the store takes it: dropping it would lose acked logs.
    async fn stage(&self, lsn: Lsn, entry: Entry, staged: &mut Staged) {
        let mut backoff = Duration::from_millis(100);
        while let Err(e) = self.store.add(lsn, entry.batch.clone()).await {
            self.counters.indexer_errors.fetch_add(1, Ordering::Relaxed);
            self.healthy.store(false, Ordering::Relaxed);
            tracing::error!(lsn, error = %e, "indexing failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
        staged.lsn = Some(lsn);
        staged.bytes += entry.bytes;
        staged.records += entry.batch.len() as u64;
        if self.on_indexed.is_some() {
            staged.batches.push(entry.batch);
        }
    }

    async fn commit(&self, staged: &Staged) -> bool {
        let Some(lsn) = staged.lsn else { return true };
        let started = Instant::now();
        if let Err(e) = self.store.commit(lsn).await {
            self.counters.indexer_errors.fetch_add(1, Ordering::Relaxed);
            self.healthy.store(false, Ordering::Relaxed);
            tracing::error!(lsn, error = %e, "index commit failed; will retry");
            return false;
        }
        self.healthy.store(true, Ordering::Relaxed);
        // Before the counters: whoever sees nothing pending also sees the hook's effects.
        if let Some(hook) = &self.on_indexed {
            for batch in &staged.batches {
                hook(batch.records());
            }
        }
        let c = &self.counters;
        c.commits.fetch_add(1, Ordering::Relaxed);
        c.last_commit_ms.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        c.committed_lsn.store(lsn, Ordering::Relaxed);
        c.indexed_records.fetch_add(staged.records, Ordering::Relaxed);
        c.pending_bytes.fetch_sub(staged.bytes, Ordering::AcqRel);
        let wal = self.wal.clone();
        match tokio::task::spawn_blocking(move || wal.checkpoint(lsn)).await {
            Ok(Ok(())) => {}
            // The data is committed; a failed checkpoint only means more replay after a crash.
            Ok(Err(e)) => tracing::warn!(lsn, error = %e, "write-ahead log checkpoint failed"),
            Err(e) => tracing::warn!(lsn, error = %e, "write-ahead log checkpoint task failed"),
        }
        true
    }
}

async fn retention_loop(store: Arc<dyn LogStore>, days: u32, every: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        let cutoff = Utc::now() - chrono::Duration::days(days as i64);
        match store.apply_retention(cutoff).await {
            Ok(dropped) if !dropped.is_empty() => tracing::info!(?dropped, "retention dropped partitions"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "retention failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logflow_core::query::Query;
    use logflow_core::search::SearchRequest;
    use logflow_core::Level;
    use logflow_store::tantivy_engine::{TantivyStore, WriterConfig};

    fn records(n: usize, tag: &str) -> Vec<LogRecord> {
        (0..n)
            .map(|i| LogRecord {
                id: format!("{tag}-{i:05}"),
                timestamp: Utc::now(),
                service: "svc".into(),
                level: Level::Info,
                message: format!("message {tag} {i}"),
                host: None,
                correlation_id: None,
                request_id: None,
                trace_id: None,
                span_id: None,
                attributes: Default::default(),
            })
            .collect()
    }

    async fn count(store: &Arc<dyn LogStore>) -> u64 {
        store.search(&SearchRequest::new(Query::All)).await.unwrap().total
    }

    async fn start(dir: &std::path::Path, max_pending: u64) -> Arc<Pipeline> {
        let store: Arc<dyn LogStore> = Arc::new(
            TantivyStore::open(&dir.join("index"), WriterConfig { heap_bytes: 20 << 20, ..Default::default() })
                .unwrap(),
        );
        let mut cfg = PipelineConfig::new(dir.join("wal"));
        cfg.commit_interval = Duration::from_millis(100);
        cfg.max_pending_bytes = max_pending;
        Pipeline::start(cfg, store).await.unwrap()
    }

    async fn wait_for(store: &Arc<dyn LogStore>, n: u64) {
        for _ in 0..100 {
            if count(store).await == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} logs, have {}", count(store).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ingested_logs_become_searchable_and_wal_is_checkpointed() {
        let dir = tempfile::tempdir().unwrap();
        let p = start(dir.path(), 64 << 20).await;
        for i in 0..5 {
            p.ingest(records(100, &format!("b{i}"))).await.unwrap();
        }
        wait_for(p.store(), 500).await;
        // Logs become searchable at the store commit; the counters and the WAL checkpoint follow
        // just after it, so they are polled rather than read once.
        let mut st = p.stats();
        for _ in 0..100 {
            if st.pending_bytes == 0 && st.wal.checkpoint == st.committed_lsn {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            st = p.stats();
        }
        assert_eq!((st.accepted_records, st.indexed_records, st.pending_bytes), (500, 500, 0));
        assert_eq!(st.wal.checkpoint, st.committed_lsn);
        assert!(st.committed_lsn > 0);
        p.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn restart_replays_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let p = start(dir.path(), 64 << 20).await;
        p.ingest(records(50, "x")).await.unwrap();
        wait_for(p.store(), 50).await;
        p.ingest(records(30, "y")).await.unwrap();
        p.shutdown().await;
        drop(p);
        let p = start(dir.path(), 64 << 20).await;
        wait_for(p.store(), 80).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(count(p.store()).await, 80);
        p.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backpressure_when_pending_exceeds_limit() {
        let dir = tempfile::tempdir().unwrap();
        // A limit smaller than one batch: the first is admitted, then ingest refuses until commit.
        let p = start(dir.path(), 1).await;
        p.ingest(records(10, "a")).await.unwrap();
        let err = p.ingest(records(10, "b")).await.unwrap_err();
        assert!(matches!(err, IngestError::Backpressure { retry_after_secs: 1, .. }), "{err}");
        wait_for(p.store(), 10).await;
        p.ingest(records(10, "c")).await.unwrap();
        assert_eq!(p.stats().rejected_backpressure, 1);
        p.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn indexed_hook_sees_committed_records_once() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn LogStore> = Arc::new(
            TantivyStore::open(&dir.path().join("index"), WriterConfig { heap_bytes: 20 << 20, ..Default::default() })
                .unwrap(),
        );
        let seen = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
        let mut cfg = PipelineConfig::new(dir.path().join("wal"));
        cfg.commit_interval = Duration::from_millis(100);
        let sink = seen.clone();
        cfg.on_indexed = Some(Arc::new(move |records: &[LogRecord]| {
            sink.lock().extend(records.iter().map(|r| r.id.clone()));
        }));
        let p = Pipeline::start(cfg, store).await.unwrap();
        let batch = records(20, "h");
        let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
        p.ingest(batch).await.unwrap();
        p.ingest(records(5, "i")).await.unwrap();
        wait_for(p.store(), 25).await;
        for _ in 0..100 {
            if p.stats().pending_bytes == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let seen = seen.lock().clone();
        assert_eq!(seen.len(), 25, "each committed record exactly once");
        assert_eq!(&seen[..20], &ids[..]);
        p.shutdown().await;
    }
}
