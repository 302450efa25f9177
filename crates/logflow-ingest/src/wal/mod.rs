//! The write-ahead log: durable, checksummed, segmented, with group commit.
//!
//! * Appends are acknowledged only after their bytes are written **and** fsynced (fdatasync).
//!   Concurrent appends share one write and one fsync ([`writer`]), which is what makes ~40 MB/s of
//!   small records possible on a slow disk.
//! * Records live in segment files named `{first_lsn:020}.wal`; each record is framed with its
//!   length, a crc32 and its LSN ([`record`]).
//! * The indexer calls [`Wal::checkpoint`] after committing; fully covered segments are deleted.
//! * [`Wal::open`] verifies everything and cuts off a torn or corrupt tail ([`recovery`] explains
//!   the policy), so after a SIGKILL no acknowledged record is lost and no garbage is replayed.
//!
//! Sharing: `Wal` is `Send + Sync` and all methods take `&self`; it is deliberately not `Clone`
//! (dropping it shuts the writer down), so share it with an `Arc<Wal<T>>`.

mod record;
mod recovery;
mod segment;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};

use parking_lot::Mutex;
use tokio::sync::oneshot;

pub use record::MAX_RECORD_BYTES;
use record::{Next, SegmentReader};
use segment::SegmentMeta;
use writer::{Msg, Request, Writer};

/// Log sequence number: the first record is 1, +1 per record, never reused (not even after every
/// segment was deleted: the checkpoint carries the floor).
pub type Lsn = u64;

#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Rotate when the active segment reaches this size (checked after each group commit, so a
    /// segment can exceed it by up to one batch).
    pub segment_bytes: u64,
    /// Cap on bytes written per group commit (a single larger record still goes alone).
    pub max_batch_bytes: usize,
    /// `false` skips fsync entirely: only for benchmark comparisons, acks are then not durable.
    pub fsync: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self { segment_bytes: 64 << 20, max_batch_bytes: 16 << 20, fsync: true }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RecoveryReport {
    /// Last checkpointed LSN read from disk (0 if none or corrupt).
    pub checkpoint: Lsn,
    /// Highest valid LSN found in the segments (0 if none).
    pub last_lsn: Lsn,
    /// Segment files after recovery, including the active one.
    pub segments: usize,
    /// Set when a torn/corrupt region was cut off. If several segments were cut (only possible
    /// with media damage), this is the earliest; all are logged.
    pub truncated: Option<Truncation>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Truncation {
    pub segment: String,
    pub offset: u64,
    pub bytes_dropped: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WalStats {
    /// Last durable LSN (after open: the recovered last LSN, or the checkpoint if higher).
    pub last_lsn: Lsn,
    pub checkpoint: Lsn,
    pub segments: usize,
    /// Verified/durable bytes in all segments.
    pub bytes_on_disk: u64,
    pub group_commits: u64,
    pub records_appended: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("wal I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("wal is closed")]
    Closed,
    #[error("record of {0} bytes is larger than the limit")]
    TooLarge(usize),
    /// The log on disk is inconsistent in a way recovery must not guess about (overlapping
    /// segments), or a verified segment changed under us during replay.
    #[error("wal is corrupt: {0}")]
    Corrupt(String),
    /// `checkpoint` was asked to cover records that are not durable yet: accepting it would make
    /// a restart skip (lose) them.
    #[error("checkpoint {lsn} is beyond the last durable lsn {last}")]
    CheckpointAhead { lsn: Lsn, last: Lsn },
}

/// State shared by the handle and the writer thread.
pub(crate) struct Shared {
    dir: PathBuf,
    opts: WalOptions,
    /// All segments in LSN order; the last is the active one. Lengths are durable lengths.
    segments: Mutex<Vec<SegmentMeta>>,
    /// Serialises checkpoint writers (the file rename and segment deletion).
    checkpoint_lock: Mutex<()>,
    checkpoint: AtomicU64,
    last_lsn: AtomicU64,
    group_commits: AtomicU64,
    records_appended: AtomicU64,
    closed: AtomicBool,
}

/// `T` is an in-memory companion of each record (e.g. the parsed logs) handed to `sink` after the
/// record is durable, in LSN order, on the writer thread. `sink` must not block for long.
pub struct Wal<T: Send + 'static> {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Msg<T>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl<T: Send + 'static> Wal<T> {
    /// Open or create the WAL in `dir`: read the checkpoint, verify all segments, cut off a
    /// torn/corrupt tail, and start the writer thread. New LSNs continue after the recovered
    /// last LSN and after the checkpoint.
    pub fn open(
        dir: &Path,
        opts: WalOptions,
        sink: Box<dyn FnMut(Lsn, T) + Send>,
    ) -> Result<(Self, RecoveryReport), WalError> {
        let rec = recovery::recover(dir)?;
        let active_len = rec.segments.last().map_or(0, |s| s.len);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            opts,
            segments: Mutex::new(rec.segments),
            checkpoint_lock: Mutex::new(()),
            checkpoint: AtomicU64::new(rec.report.checkpoint),
            last_lsn: AtomicU64::new(rec.next_lsn - 1),
            group_commits: AtomicU64::new(0),
            records_appended: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            shared: shared.clone(),
            rx,
            sink,
            file: rec.active,
            len: active_len,
            next_lsn: rec.next_lsn,
            buf: Vec::new(),
            batch: Vec::new(),
            carry: None,
            stopping: false,
        };
        let handle = thread::Builder::new().name("wal-writer".into()).spawn(move || writer.run())?;
        let wal = Self { shared, tx, writer: Mutex::new(Some(handle)) };
        Ok((wal, rec.report))
    }

    /// Call `f` for every record with lsn > checkpoint, in order, reading from disk. Meant for
    /// start-up, before appends; if appends run concurrently, only what was durable when replay
    /// began is read. Returns the number of records replayed.
    pub fn replay(&self, mut f: impl FnMut(Lsn, Vec<u8>)) -> Result<u64, WalError> {
        let checkpoint = self.shared.checkpoint.load(Ordering::Acquire);
        let segments = self.shared.segments.lock().clone();
        let mut count = 0;
        for (i, seg) in segments.iter().enumerate() {
            // Everything in this segment is below the next one's first LSN.
            if segments.get(i + 1).is_some_and(|next| next.first_lsn <= checkpoint + 1) {
                continue;
            }
            count += replay_segment(seg, checkpoint, &mut f)?;
        }
        Ok(count)
    }

    /// Durably append one record. Resolves once the record is written and fsynced, after
    /// `sink(lsn, item)` was called. Concurrent callers share one write and one fsync. If the
    /// future is dropped after the request was queued, the record is still written and sunk.
    pub async fn append(&self, payload: Vec<u8>, item: T) -> Result<Lsn, WalError> {
        if payload.len() > MAX_RECORD_BYTES {
            return Err(WalError::TooLarge(payload.len()));
        }
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(WalError::Closed);
        }
        let (done, rx) = oneshot::channel();
        let req = Request { payload, item, done };
        self.tx.send(Msg::Append(req)).map_err(|_| WalError::Closed)?;
        rx.await.map_err(|_| WalError::Closed)?
    }

    /// Everything up to `lsn` is safely stored elsewhere: persist the checkpoint atomically and
    /// delete segments whose records are all <= `lsn` (never the active one). A checkpoint at or
    /// below the current one is a no-op; one beyond the last durable LSN is refused.
    pub fn checkpoint(&self, lsn: Lsn) -> Result<(), WalError> {
        let s = &self.shared;
        let _guard = s.checkpoint_lock.lock();
        let last = s.last_lsn.load(Ordering::Acquire);
        if lsn > last {
            return Err(WalError::CheckpointAhead { lsn, last });
        }
        if lsn <= s.checkpoint.load(Ordering::Acquire) {
            return Ok(());
        }
        segment::write_checkpoint(&s.dir, lsn)?;
        s.checkpoint.store(lsn, Ordering::Release);
        // Take the covered segments out under the lock, delete the files outside it.
        let doomed = segment::split_covered(&mut s.segments.lock(), lsn);
        segment::delete_segments(&s.dir, &doomed);
        Ok(())
    }

    pub fn stats(&self) -> WalStats {
        let s = &self.shared;
        let (segments, bytes_on_disk) = {
            let segs = s.segments.lock();
            (segs.len(), segs.iter().map(|seg| seg.len).sum())
        };
        WalStats {
            last_lsn: s.last_lsn.load(Ordering::Acquire),
            checkpoint: s.checkpoint.load(Ordering::Acquire),
            segments,
            bytes_on_disk,
            group_commits: s.group_commits.load(Ordering::Relaxed),
            records_appended: s.records_appended.load(Ordering::Relaxed),
        }
    }

    /// Stop the writer thread after draining queued appends (they are written and acked). New
    /// appends fail with [`WalError::Closed`]. Blocks until the writer has exited; idempotent.
    pub fn shutdown(&self) {
        self.shared.closed.store(true, Ordering::Release);
        let _ = self.tx.send(Msg::Shutdown);
        let mut writer = self.writer.lock();
        // Joining from the writer thread itself (a sink calling shutdown) would deadlock.
        if writer.as_ref().is_some_and(|h| h.thread().id() == thread::current().id()) {
            return;
        }
        if let Some(handle) = writer.take() {
            if handle.join().is_err() {
                tracing::error!("the WAL writer thread panicked (in the sink?)");
            }
        }
    }
}

impl<T: Send + 'static> Drop for Wal<T> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Replay one segment up to its verified/durable length.
fn replay_segment(seg: &SegmentMeta, checkpoint: Lsn, f: &mut impl FnMut(Lsn, Vec<u8>)) -> Result<u64, WalError> {
    let mut reader = match SegmentReader::open(&seg.path, seg.first_lsn, Some(seg.len)) {
        Ok(r) => r,
        // Deleted by a concurrent checkpoint: nothing in it needs replaying any more.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut count = 0;
    loop {
        match reader.next_record()? {
            Next::Record(lsn, payload) if lsn > checkpoint => {
                f(lsn, payload);
                count += 1;
            }
            Next::Record(..) => {}
            Next::End => return Ok(count),
            Next::Bad(reason) => {
                let at = reader.offset();
                let name = seg.file_name();
                return Err(WalError::Corrupt(format!("{name} at offset {at} changed after recovery: {reason}")));
            }
        }
    }
}
