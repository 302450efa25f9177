//! The writer thread: group commit.
//!
//! Each round blocks for one request, then takes whatever else is already queued (up to
//! `max_batch_bytes`), frames it all into one buffer, issues one `write` and one `fdatasync`,
//! and only then hands each item to the sink and acknowledges its caller. While one fsync is in
//! flight the next batch piles up in the channel, so the number of fsyncs adapts to the load
//! without any timer or artificial delay.

use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use tokio::sync::oneshot;
use tracing::{debug, error, info};

use super::record::{self, HEADER_LEN};
use super::segment;
use super::{Lsn, Shared, WalError};

pub(crate) type Sink<T> = Box<dyn FnMut(Lsn, T) + Send>;

pub(crate) struct Request<T> {
    pub payload: Vec<u8>,
    pub item: T,
    pub done: oneshot::Sender<Result<Lsn, WalError>>,
}

pub(crate) enum Msg<T> {
    Append(Request<T>),
    /// Finish what is queued, then stop.
    Shutdown,
}

pub(crate) struct Writer<T> {
    pub shared: Arc<Shared>,
    pub rx: Receiver<Msg<T>>,
    pub sink: Sink<T>,
    /// The active segment, opened in append mode.
    pub file: File,
    /// Durable length of the active segment: where a failed write is rolled back to.
    pub len: u64,
    pub next_lsn: Lsn,
    pub buf: Vec<u8>,
    pub batch: Vec<Request<T>>,
    /// A request that did not fit in the previous batch.
    pub carry: Option<Request<T>>,
    pub stopping: bool,
}

impl<T: Send + 'static> Writer<T> {
    pub(crate) fn run(mut self) {
        while let Some(first) = self.next_request() {
            self.collect(first);
            if let Err(e) = self.commit() {
                error!(error = %e, "unrecoverable WAL I/O error; the WAL is closed (restart to recover)");
                break;
            }
            self.maybe_rotate();
        }
        self.shared.closed.store(true, Ordering::Release);
        info!(next_lsn = self.next_lsn, "WAL writer stopped");
        // Dropping `rx` now fails any request still queued with `WalError::Closed`.
    }

    /// Block for the next request; once stopping, only take what is already queued.
    fn next_request(&mut self) -> Option<Request<T>> {
        if let Some(r) = self.carry.take() {
            return Some(r);
        }
        loop {
            let msg = if self.stopping { self.rx.try_recv().ok()? } else { self.rx.recv().ok()? };
            match msg {
                Msg::Append(r) => return Some(r),
                Msg::Shutdown => self.stopping = true,
            }
        }
    }

    /// Add everything already queued to the batch, up to `max_batch_bytes` (at least one request).
    fn collect(&mut self, first: Request<T>) {
        let limit = self.shared.opts.max_batch_bytes;
        let mut bytes = HEADER_LEN + first.payload.len();
        self.batch.push(first);
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Append(r) => {
                    let n = HEADER_LEN + r.payload.len();
                    if bytes + n > limit {
                        self.carry = Some(r);
                        return;
                    }
                    bytes += n;
                    self.batch.push(r);
                }
                Msg::Shutdown => self.stopping = true,
            }
        }
    }

    /// Write and sync the batch, then publish it. `Err` only for a failure the WAL cannot
    /// continue after (fsync error, or a failed write that could not be rolled back).
    fn commit(&mut self) -> io::Result<()> {
        self.buf.clear();
        for (i, r) in self.batch.iter().enumerate() {
            record::encode(&mut self.buf, self.next_lsn + i as u64, &r.payload);
        }
        if let Err(e) = self.file.write_all(&self.buf) {
            error!(error = %e, records = self.batch.len(), "WAL write failed; rolling back the batch");
            self.fail_batch(&e);
            return self.rollback();
        }
        if self.shared.opts.fsync {
            // After a failed fsync the kernel may have dropped the dirty pages and will not report
            // the error again, so a retry proves nothing: fail the batch and stop the WAL.
            if let Err(e) = self.file.sync_data() {
                self.fail_batch(&e);
                let _ = self.rollback();
                return Err(e);
            }
        }
        self.publish();
        Ok(())
    }

    /// Cut the active segment back to its durable length, dropping a partial batch.
    fn rollback(&mut self) -> io::Result<()> {
        self.file.set_len(self.len)?;
        self.file.sync_data()
    }

    fn fail_batch(&mut self, e: &io::Error) {
        for r in self.batch.drain(..) {
            let err = io::Error::new(e.kind(), e.to_string());
            let _ = r.done.send(Err(WalError::Io(err)));
        }
    }

    /// The batch is durable: update the bookkeeping, then sink and acknowledge in LSN order.
    fn publish(&mut self) {
        let n = self.batch.len() as u64;
        let first = self.next_lsn;
        self.next_lsn += n;
        self.len += self.buf.len() as u64;
        if let Some(active) = self.shared.segments.lock().last_mut() {
            active.len = self.len;
        }
        let s = &self.shared;
        s.last_lsn.store(self.next_lsn - 1, Ordering::Release);
        s.records_appended.fetch_add(n, Ordering::Relaxed);
        s.group_commits.fetch_add(1, Ordering::Relaxed);
        for (lsn, r) in (first..).zip(self.batch.drain(..)) {
            (self.sink)(lsn, r.item);
            // The caller may have given up (future dropped); the record is durable regardless.
            let _ = r.done.send(Ok(lsn));
        }
    }

    /// Start a new segment once the active one has outgrown `segment_bytes`. A failure is not
    /// fatal: the current segment keeps taking records and rotation is retried next batch.
    fn maybe_rotate(&mut self) {
        if self.len < self.shared.opts.segment_bytes {
            return;
        }
        match self.rotate() {
            Ok(()) => debug!(first_lsn = self.next_lsn, "WAL segment rotated"),
            Err(e) => {
                error!(error = %e, "WAL segment rotation failed; staying on the current segment")
            }
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.shared.opts.fsync {
            self.file.sync_all()?;
        }
        let (file, meta) = segment::create_segment(&self.shared.dir, self.next_lsn)?;
        self.file = file;
        self.len = 0;
        self.shared.segments.lock().push(meta);
        Ok(())
    }
}
