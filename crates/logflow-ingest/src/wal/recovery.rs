//! Opening a WAL directory: read the checkpoint, verify every segment, cut damage, pick the
//! active segment and the next LSN.
//!
//! Policy for a bad record (bad length, past EOF, checksum or LSN mismatch):
//!
//! * In the **last** segment it is the expected result of a crash mid-write (a torn tail of
//!   records that were never acknowledged, since acks wait for fsync). The record and everything
//!   after it is cut off, with a `warn!`.
//! * In an **earlier** segment it cannot come from a crash (a segment is fsynced before the next
//!   one is created), so it is media damage. That segment is cut at the bad record as well (the
//!   bytes after it cannot be framed reliably), but later segments hold valid, acknowledged
//!   records and are kept. This is logged with `error!`, and the hole shows up as an LSN gap;
//!   replay simply continues with the next segment.
//!
//! LSN continuity is verified across segments: a gap above the checkpoint is an `error!` (lost
//! records); a gap at or below it is harmless (those records are already indexed). An overlap
//! (two segments claiming the same LSN) cannot be produced by this code, so it is refused.

use std::fs::{self, File};
use std::path::Path;

use tracing::{debug, error, warn};

use super::record::{Next, SegmentReader};
use super::segment::{self, SegmentMeta};
use super::{Lsn, RecoveryReport, Truncation, WalError};

/// Everything `Wal::open` needs to start the writer.
pub(crate) struct Recovered {
    pub report: RecoveryReport,
    /// All segments, the active one last.
    pub segments: Vec<SegmentMeta>,
    pub active: File,
    pub next_lsn: Lsn,
}

pub(crate) fn recover(dir: &Path) -> Result<Recovered, WalError> {
    fs::create_dir_all(dir)?;
    let checkpoint = segment::read_checkpoint(dir)?;
    let mut segments = segment::list_segments(dir)?;
    // Segments the checkpoint covers are already indexed: delete them unread (a checkpoint that
    // crashed before deleting), so neither time nor damage reports are spent on them.
    segment::delete_segments(dir, &segment::split_covered(&mut segments, checkpoint));
    let mut report = RecoveryReport { checkpoint, ..Default::default() };
    let mut expected: Option<Lsn> = None;
    let count = segments.len();
    for (i, seg) in segments.iter_mut().enumerate() {
        if let Some(exp) = expected {
            check_continuity(exp, seg, checkpoint)?;
        }
        let next = scan_segment(seg, i + 1 == count, &mut report)?;
        if next > seg.first_lsn {
            report.last_lsn = next - 1;
        }
        expected = Some(next);
    }
    // Never reuse an LSN: continue after the last record, the last segment's name and the
    // checkpoint, whichever is highest (segments may all have been deleted by a checkpoint).
    let next_lsn = expected.unwrap_or(1).max(checkpoint + 1);
    let active = prepare_active(dir, &mut segments, expected, next_lsn)?;
    // A fresh active segment may have made the old last one deletable.
    segment::delete_segments(dir, &segment::split_covered(&mut segments, checkpoint));
    report.segments = segments.len();
    Ok(Recovered { report, segments, active, next_lsn })
}

fn check_continuity(expected: Lsn, seg: &SegmentMeta, checkpoint: Lsn) -> Result<(), WalError> {
    let first = seg.first_lsn;
    if first < expected {
        return Err(WalError::Corrupt(format!(
            "segment {} starts at lsn {first}, but the previous segment already reaches lsn {}",
            seg.file_name(),
            expected - 1
        )));
    }
    if first > expected {
        if first - 1 > checkpoint {
            error!(
                from = expected,
                to = first - 1,
                segment = %seg.file_name(),
                "WAL records are missing (LSN gap before this segment); they cannot be replayed"
            );
        } else {
            debug!(from = expected, to = first - 1, "LSN gap below the checkpoint (already indexed)");
        }
    }
    Ok(())
}

/// Verify one segment; cut it at the first bad record. Returns the LSN after its last record.
fn scan_segment(seg: &mut SegmentMeta, is_last: bool, report: &mut RecoveryReport) -> Result<Lsn, WalError> {
    let mut reader = SegmentReader::open(&seg.path, seg.first_lsn, None)?;
    let reason = loop {
        match reader.next_record()? {
            Next::Record(..) => {}
            Next::End => break None,
            Next::Bad(reason) => break Some(reason),
        }
    };
    if let Some(reason) = reason {
        let cut =
            Truncation { segment: seg.file_name(), offset: reader.offset(), bytes_dropped: reader.remaining(), reason };
        log_truncation(&cut, is_last);
        segment::truncate(&seg.path, cut.offset)?;
        // The report has room for one truncation: keep the first (earliest in the log).
        report.truncated.get_or_insert(cut);
    }
    seg.len = reader.offset();
    Ok(reader.expect())
}

fn log_truncation(t: &Truncation, is_last: bool) {
    if is_last {
        warn!(segment = %t.segment, offset = t.offset, bytes_dropped = t.bytes_dropped, reason = %t.reason,
            "cutting off a torn or corrupt WAL tail (records before it are intact)");
    } else {
        error!(segment = %t.segment, offset = t.offset, bytes_dropped = t.bytes_dropped, reason = %t.reason,
            "corrupt record in the middle of the WAL: cutting this segment, keeping later segments; \
             the records in between are lost");
    }
}

/// Keep appending to the last segment when it ends exactly where new records start; otherwise
/// start a fresh segment named after `next_lsn` (and drop the last one if it is empty).
fn prepare_active(
    dir: &Path,
    segments: &mut Vec<SegmentMeta>,
    after_last: Option<Lsn>,
    next_lsn: Lsn,
) -> Result<File, WalError> {
    if let Some(last) = segments.last() {
        if after_last == Some(next_lsn) {
            return Ok(segment::open_for_append(&last.path)?);
        }
    }
    let (file, meta) = segment::create_segment(dir, next_lsn)?;
    // The new segment's name now carries the LSN floor, so an empty predecessor holds nothing.
    if segments.last().is_some_and(|s| s.len == 0) {
        let empty = segments.pop().expect("checked");
        segment::delete_segments(dir, &[empty]);
    }
    segments.push(meta);
    Ok(file)
}
