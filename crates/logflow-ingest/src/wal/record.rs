//! On-disk record framing and a verifying sequential reader.
//!
//! ```text
//! len: u32 LE | crc32: u32 LE | lsn: u64 LE | payload (len bytes)
//! ```
//!
//! The crc covers the lsn bytes and the payload, so a record copied to the wrong place, or a
//! zero-filled region (lsn 0 is never valid), cannot pass for a good record. The length is not
//! covered, but a wrong length makes the crc land on the wrong bytes, which fails just the same.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::Lsn;

/// Bytes before the payload: len + crc + lsn.
pub(crate) const HEADER_LEN: usize = 16;

/// Largest payload accepted by `append` (and believed by the reader): anything longer in a header
/// is garbage, and refusing it before allocating keeps a corrupt length from exhausting memory.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// The checksum stored in the header.
pub(crate) fn checksum(lsn: Lsn, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&lsn.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Append one framed record to `buf`. The caller guarantees `payload.len() <= MAX_RECORD_BYTES`.
pub(crate) fn encode(buf: &mut Vec<u8>, lsn: Lsn, payload: &[u8]) {
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&checksum(lsn, payload).to_le_bytes());
    buf.extend_from_slice(&lsn.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// What the reader found at its current offset.
pub(crate) enum Next {
    Record(Lsn, Vec<u8>),
    /// Clean end: the offset is exactly the end of the readable range.
    End,
    /// The bytes at the current offset are not a valid record; the reason says why. The reader's
    /// offset stays at the start of the bad record, which is where a truncation must cut.
    Bad(String),
}

/// Reads and verifies the records of one segment in order, up to `end` bytes.
pub(crate) struct SegmentReader {
    reader: BufReader<File>,
    offset: u64,
    end: u64,
    expect: Lsn,
}

impl SegmentReader {
    /// `first_lsn` comes from the segment's name: the first record must carry it, and each next
    /// record the one after. `limit` caps the bytes read (the durable length of a live segment).
    pub(crate) fn open(path: &Path, first_lsn: Lsn, limit: Option<u64>) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let end = limit.map_or(len, |l| l.min(len));
        let reader = BufReader::with_capacity(1 << 20, file);
        Ok(Self { reader, offset: 0, end, expect: first_lsn })
    }

    /// Offset of the next unread record (after `Bad`: of the bad record).
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The LSN the next record must carry.
    pub(crate) fn expect(&self) -> Lsn {
        self.expect
    }

    /// Bytes from the current offset to the end of the readable range.
    pub(crate) fn remaining(&self) -> u64 {
        self.end - self.offset
    }

    pub(crate) fn next_record(&mut self) -> io::Result<Next> {
        let remaining = self.remaining();
        if remaining == 0 {
            return Ok(Next::End);
        }
        if remaining < HEADER_LEN as u64 {
            return Ok(Next::Bad(format!("torn header ({remaining} trailing bytes)")));
        }
        let mut header = [0u8; HEADER_LEN];
        self.reader.read_exact(&mut header)?;
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as u64;
        let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        let lsn = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        if len > MAX_RECORD_BYTES as u64 {
            return Ok(Next::Bad(format!("garbage record length {len}")));
        }
        if len > remaining - HEADER_LEN as u64 {
            return Ok(Next::Bad(format!("record length {len} runs past the end of the segment")));
        }
        let mut payload = vec![0u8; len as usize];
        self.reader.read_exact(&mut payload)?;
        if checksum(lsn, &payload) != crc {
            return Ok(Next::Bad("checksum mismatch".to_string()));
        }
        if lsn != self.expect {
            return Ok(Next::Bad(format!("lsn {lsn} where {} was expected", self.expect)));
        }
        self.offset += HEADER_LEN as u64 + len;
        self.expect += 1;
        Ok(Next::Record(lsn, payload))
    }
}
