//! Segment files, the checkpoint file and directory durability.
//!
//! A segment is named `{first_lsn:020}.wal`: the zero padding makes lexical order LSN order, and
//! the name alone tells which LSN range a segment can hold (up to the next segment's first LSN),
//! which is what checkpoint deletion and replay skipping rely on without opening the file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing::{error, warn};

use super::Lsn;

const SEGMENT_EXT: &str = ".wal";
const CHECKPOINT_FILE: &str = "checkpoint";
const CHECKPOINT_TMP: &str = "checkpoint.tmp";

/// One segment file as known to the WAL. `len` is the verified (recovered) or durable (written
/// and synced by the writer) length: readers never look past it.
#[derive(Debug, Clone)]
pub(crate) struct SegmentMeta {
    pub first_lsn: Lsn,
    pub path: PathBuf,
    pub len: u64,
}

impl SegmentMeta {
    pub(crate) fn file_name(&self) -> String {
        segment_name(self.first_lsn)
    }
}

pub(crate) fn segment_name(first_lsn: Lsn) -> String {
    format!("{first_lsn:020}{SEGMENT_EXT}")
}

fn parse_segment_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_suffix(SEGMENT_EXT)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|lsn| *lsn > 0)
}

/// All segments in `dir`, in LSN order, with their current file lengths. Files that look like
/// segments but are misnamed are reported and left alone (never deleted: they may be evidence).
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<SegmentMeta>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.ends_with(SEGMENT_EXT) {
            continue;
        }
        match parse_segment_name(name) {
            Some(first_lsn) => {
                let len = entry.metadata()?.len();
                out.push(SegmentMeta { first_lsn, path: entry.path(), len });
            }
            None => warn!(file = name, "ignoring a file in the WAL directory that is not a segment"),
        }
    }
    out.sort_by_key(|s| s.first_lsn);
    Ok(out)
}

/// Create a new, empty segment and make its directory entry durable before anything is written
/// to it, so an acknowledged record can never live in a file that vanishes after a crash.
pub(crate) fn create_segment(dir: &Path, first_lsn: Lsn) -> io::Result<(File, SegmentMeta)> {
    let path = dir.join(segment_name(first_lsn));
    let file = OpenOptions::new().append(true).create_new(true).open(&path)?;
    if let Err(e) = sync_dir(dir) {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok((file, SegmentMeta { first_lsn, path, len: 0 }))
}

/// Open an existing (already verified and truncated) segment to append to it.
pub(crate) fn open_for_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).open(path)
}

/// Cut a segment at `len` and make the new length durable.
pub(crate) fn truncate(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

/// fsync a directory so that file creations, renames and removals in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Read the checkpoint: 8 bytes LSN LE + 4 bytes crc32 of them. Missing means 0. A damaged file
/// also means 0 (replay everything; the indexer filters duplicates) but is logged as an error,
/// because it should never happen given the atomic rename in [`write_checkpoint`].
pub(crate) fn read_checkpoint(dir: &Path) -> io::Result<Lsn> {
    let _ = fs::remove_file(dir.join(CHECKPOINT_TMP)); // left over from a crash mid-checkpoint
    let bytes = match fs::read(dir.join(CHECKPOINT_FILE)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    if bytes.len() == 12 {
        let lsn_bytes: [u8; 8] = bytes[..8].try_into().expect("8 bytes");
        let crc = u32::from_le_bytes(bytes[8..].try_into().expect("4 bytes"));
        if crc32fast::hash(&lsn_bytes) == crc {
            return Ok(Lsn::from_le_bytes(lsn_bytes));
        }
    }
    error!(
        len = bytes.len(),
        "the WAL checkpoint file is corrupt; replaying the whole log (the indexer drops duplicates)"
    );
    Ok(0)
}

/// Persist the checkpoint atomically: write a temp file, fsync it, rename it over the old one,
/// fsync the directory. A crash leaves either the old or the new checkpoint, never a torn one.
pub(crate) fn write_checkpoint(dir: &Path, lsn: Lsn) -> io::Result<()> {
    let lsn_bytes = lsn.to_le_bytes();
    let mut bytes = lsn_bytes.to_vec();
    bytes.extend_from_slice(&crc32fast::hash(&lsn_bytes).to_le_bytes());
    let tmp = dir.join(CHECKPOINT_TMP);
    let mut file = File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(CHECKPOINT_FILE))?;
    sync_dir(dir)
}

/// Remove from `segments` (and return) the leading segments whose records are all `<= lsn`. A
/// segment's records are all below the next segment's first LSN, so only the name of the next
/// segment is needed. The last segment (the active one) is never taken.
pub(crate) fn split_covered(segments: &mut Vec<SegmentMeta>, lsn: Lsn) -> Vec<SegmentMeta> {
    let covered = segments.windows(2).take_while(|w| w[1].first_lsn <= lsn.saturating_add(1)).count();
    segments.drain(..covered).collect()
}

/// Delete segments that a checkpoint covers. Failures are logged, not returned: the checkpoint is
/// already durable, and a leftover segment is only disk space (the next open deletes it again).
pub(crate) fn delete_segments(dir: &Path, doomed: &[SegmentMeta]) {
    if doomed.is_empty() {
        return;
    }
    for seg in doomed {
        match fs::remove_file(&seg.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(segment = %seg.file_name(), error = %e, "could not delete a checkpointed WAL segment")
            }
        }
    }
    if let Err(e) = sync_dir(dir) {
        warn!(error = %e, "could not sync the WAL directory after deleting segments");
    }
}
