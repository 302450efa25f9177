//! WAL tests: group commit, crash damage of every kind, checkpoints, shutdown.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tempfile::TempDir;

use super::*;

type Seen = Arc<Mutex<Vec<(Lsn, u64)>>>;

fn open(dir: &Path, opts: WalOptions) -> (Wal<u64>, RecoveryReport, Seen) {
    let seen: Seen = Arc::default();
    let sink_seen = seen.clone();
    let sink = Box::new(move |lsn, item| sink_seen.lock().push((lsn, item)));
    let (wal, report) = Wal::open(dir, opts, sink).expect("open");
    (wal, report, seen)
}

fn small_segments() -> WalOptions {
    WalOptions { segment_bytes: 4096, ..WalOptions::default() }
}

/// A deterministic payload of varying length (1..=~150 bytes).
fn payload(i: u64) -> Vec<u8> {
    format!("record-{i};").repeat(1 + (i % 9) as usize).into_bytes()
}

fn replay_all(wal: &Wal<u64>) -> Vec<(Lsn, Vec<u8>)> {
    let mut out = Vec::new();
    let n = wal.replay(|lsn, p| out.push((lsn, p))).expect("replay");
    assert_eq!(n as usize, out.len());
    out
}

/// Replay must return exactly `lsns`, each with its original payload.
fn assert_replay(wal: &Wal<u64>, lsns: impl IntoIterator<Item = Lsn>) {
    let got = replay_all(wal);
    let want: Vec<(Lsn, Vec<u8>)> = lsns.into_iter().map(|l| (l, payload(l))).collect();
    assert_eq!(got.len(), want.len(), "replayed lsns: {:?}", got.iter().map(|r| r.0).collect::<Vec<_>>());
    assert!(got == want, "replayed records differ");
}

/// Sequential appends whose payload is `payload(expected lsn)`.
async fn append_range(wal: &Wal<u64>, lsns: std::ops::RangeInclusive<Lsn>) {
    for lsn in lsns {
        assert_eq!(wal.append(payload(lsn), lsn).await.expect("append"), lsn);
    }
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    files
}

fn first_lsn_of(path: &Path) -> Lsn {
    path.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

/// Byte offset at which record `lsn` starts in a single-segment WAL written by `append_range(1..)`.
fn record_start(lsn: Lsn) -> u64 {
    (1..lsn).map(|l| 16 + payload(l).len() as u64).sum()
}

/// xorshift64: deterministic "random" offsets without a dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A closed single-segment WAL holding records 1..=100, and that segment's pristine bytes.
async fn hundred_records(dir: &Path) -> (PathBuf, Vec<u8>) {
    let (wal, _, _) = open(dir, WalOptions::default());
    append_range(&wal, 1..=100).await;
    wal.shutdown();
    let files = segment_files(dir);
    assert_eq!(files.len(), 1);
    let bytes = fs::read(&files[0]).unwrap();
    assert_eq!(bytes.len() as u64, record_start(101));
    (files[0].clone(), bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_group_committed_and_replayable() {
    let dir = TempDir::new().unwrap();
    let (wal, report, seen) = open(dir.path(), WalOptions::default());
    assert_eq!((report.last_lsn, report.checkpoint, report.segments), (0, 0, 1));
    let wal = Arc::new(wal);
    let (tasks, per_task) = (32u64, 200u64);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let wal = wal.clone();
        handles.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..per_task {
                let item = t * 1000 + i;
                let body = format!("task {t} item {i} ").repeat(1 + (i % 5) as usize).into_bytes();
                acked.push((wal.append(body.clone(), item).await.unwrap(), item, body));
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for h in handles {
        acked.extend(h.await.unwrap());
    }
    acked.sort_by_key(|a| a.0);
    let n = tasks * per_task;
    assert!(acked.iter().map(|a| a.0).eq(1..=n), "LSNs must be unique and contiguous");
    let sunk = seen.lock().clone();
    assert!(sunk.iter().map(|s| s.0).eq(1..=n), "sink must see LSNs in order");
    assert!(sunk.iter().zip(&acked).all(|(s, a)| s.1 == a.1), "sink got the wrong item for an lsn");
    let stats = wal.stats();
    assert_eq!((stats.records_appended, stats.last_lsn), (n, n));
    assert!(stats.group_commits < stats.records_appended, "no batching: {stats:?}");
    wal.shutdown();
    drop(wal);

    let (wal, report, _) = open(dir.path(), WalOptions::default());
    assert_eq!(report.last_lsn, n);
    assert!(report.truncated.is_none());
    let replayed = replay_all(&wal);
    assert_eq!(replayed.len(), acked.len());
    for ((lsn, body), (alsn, _, abody)) in replayed.iter().zip(&acked) {
        assert_eq!((lsn, body), (alsn, abody));
    }
}

#[tokio::test]
async fn torn_tail_is_cut_and_appends_continue() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..8 {
        let dir = TempDir::new().unwrap();
        let (seg, _) = hundred_records(dir.path()).await;
        // A cut strictly inside record k (first round: inside the last record).
        let k = if round == 0 { 100 } else { 1 + rng.below(100) };
        let size = record_start(k + 1) - record_start(k);
        let cut = record_start(k) + 1 + rng.below(size - 1);
        OpenOptions::new().write(true).open(&seg).unwrap().set_len(cut).unwrap();

        let (wal, report, _) = open(dir.path(), WalOptions::default());
        let t = report.truncated.as_ref().expect("truncation reported");
        assert_eq!((t.offset, t.bytes_dropped), (record_start(k), cut - record_start(k)), "{t:?}");
        assert_eq!(report.last_lsn, k - 1);
        assert_eq!(fs::metadata(&seg).unwrap().len(), record_start(k), "file not truncated");
        assert_replay(&wal, 1..k);
        append_range(&wal, k..=k + 2).await;
        assert_replay(&wal, 1..=k + 2);
        drop(wal);

        let (wal, report, _) = open(dir.path(), WalOptions::default());
        assert!(report.truncated.is_none(), "a clean log must not report a truncation");
        assert_replay(&wal, 1..=k + 2);
    }
}

#[tokio::test]
async fn bit_flip_in_last_record_drops_only_that_record() {
    let dir = TempDir::new().unwrap();
    let (seg, pristine) = hundred_records(dir.path()).await;
    let start = record_start(100) as usize;
    // Every header byte (len, crc, lsn) and a few payload bytes.
    let positions = (0..16).chain([16, 17, 30, pristine.len() - start - 1]);
    for (bit, pos) in positions.enumerate() {
        let mut bytes = pristine.clone();
        bytes[start + pos] ^= 1 << (bit % 8);
        fs::write(&seg, &bytes).unwrap();
        let (wal, report, _) = open(dir.path(), WalOptions::default());
        let t = report.truncated.as_ref().unwrap_or_else(|| panic!("flip at {pos} not detected"));
        assert_eq!(t.offset, start as u64, "flip at {pos}: {t:?}");
        assert_eq!(report.last_lsn, 99);
        assert_replay(&wal, 1..=99);
        drop(wal);
    }
}

#[tokio::test]
async fn garbage_after_last_record_is_cut() {
    let dir = TempDir::new().unwrap();
    let (seg, pristine) = hundred_records(dir.path()).await;
    let mut rng = Rng(42);
    let mut huge_len = vec![0xFF, 0xFF, 0xFF, 0x7F];
    huge_len.extend_from_slice(&[7; 40]);
    let mut stale_copy = Vec::new(); // a valid record, but with an old LSN
    record::encode(&mut stale_copy, 50, &payload(50));
    let garbage: Vec<Vec<u8>> = vec![
        vec![0],
        vec![0; 16],
        vec![0; 4096],
        (0..1000).map(|_| rng.below(256) as u8).collect(),
        huge_len,
        stale_copy,
    ];
    for g in garbage {
        let mut bytes = pristine.clone();
        bytes.extend_from_slice(&g);
        fs::write(&seg, &bytes).unwrap();
        let (wal, report, _) = open(dir.path(), WalOptions::default());
        let t = report.truncated.as_ref().expect("garbage not detected");
        assert_eq!((t.offset, t.bytes_dropped), (pristine.len() as u64, g.len() as u64));
        assert_eq!(report.last_lsn, 100);
        assert_eq!(fs::read(&seg).unwrap(), pristine);
        assert_replay(&wal, 1..=100);
        drop(wal);
    }
}

#[tokio::test]
async fn checkpoint_deletes_covered_segments_and_survives_reopen() {
    let dir = TempDir::new().unwrap();
    let (wal, _, _) = open(dir.path(), small_segments());
    append_range(&wal, 1..=600).await;
    let before = segment_files(dir.path());
    assert!(before.len() > 10, "expected many segments, got {}", before.len());

    assert!(matches!(wal.checkpoint(601), Err(WalError::CheckpointAhead { lsn: 601, last: 600 })));
    wal.checkpoint(300).unwrap();
    let after = segment_files(dir.path());
    // The first kept segment holds lsn 301 (it starts at or before it, the next one after it).
    assert!(first_lsn_of(&after[0]) <= 301 && first_lsn_of(&after[1]) > 301, "{after:?}");
    assert!(before.ends_with(&after), "only a prefix may be deleted");
    assert_eq!(wal.stats().segments, after.len());
    assert_eq!(wal.stats().checkpoint, 300);
    assert_replay(&wal, 301..=600);
    wal.checkpoint(200).unwrap(); // lower: a no-op
    assert_eq!(wal.stats().checkpoint, 300);
    drop(wal);

    let (wal, report, _) = open(dir.path(), small_segments());
    assert_eq!((report.checkpoint, report.last_lsn), (300, 600));
    assert_replay(&wal, 301..=600);
    append_range(&wal, 601..=601).await;
    wal.checkpoint(601).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1, "only the active segment may remain");
    assert_replay(&wal, []);
    drop(wal);

    let (wal, report, _) = open(dir.path(), small_segments());
    assert_eq!(report.checkpoint, 601);
    append_range(&wal, 602..=602).await;
    wal.checkpoint(602).unwrap();
    drop(wal);

    // Every segment gone: LSNs still continue after the checkpoint, never from 1.
    for f in segment_files(dir.path()) {
        fs::remove_file(f).unwrap();
    }
    let (wal, report, _) = open(dir.path(), small_segments());
    assert_eq!((report.checkpoint, report.last_lsn), (602, 0));
    assert_eq!(wal.stats().last_lsn, 602);
    append_range(&wal, 603..=605).await;
    assert_replay(&wal, 603..=605);
}

#[tokio::test]
async fn corrupt_checkpoint_file_means_replay_everything() {
    for garbage in [vec![], vec![1, 2, 3, 4, 5], vec![0xAB; 12]] {
        let dir = TempDir::new().unwrap();
        let (wal, _, _) = open(dir.path(), WalOptions::default());
        append_range(&wal, 1..=50).await;
        wal.checkpoint(30).unwrap();
        drop(wal);
        fs::write(dir.path().join("checkpoint"), &garbage).unwrap();

        let (wal, report, _) = open(dir.path(), WalOptions::default());
        assert_eq!((report.checkpoint, report.last_lsn), (0, 50));
        assert_replay(&wal, 1..=50);
        append_range(&wal, 51..=51).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_drains_queued_appends() {
    let dir = TempDir::new().unwrap();
    let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
    let gate_rx = Mutex::new(gate_rx);
    let seen: Seen = Arc::default();
    let sink_seen = seen.clone();
    // The first record blocks the writer in the sink, so the others queue up behind it.
    let sink = Box::new(move |lsn, item| {
        if lsn == 1 {
            let _ = gate_rx.lock().recv();
        }
        sink_seen.lock().push((lsn, item));
    });
    let (wal, _) = Wal::open(dir.path(), WalOptions::default(), sink).unwrap();
    let wal = Arc::new(wal);
    let mut handles = Vec::new();
    for i in 1..=101u64 {
        let wal = wal.clone();
        handles.push(tokio::spawn(async move { wal.append(payload(i), i).await }));
        if i == 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await; // let all 100 queue
    let stopper = {
        let wal = wal.clone();
        tokio::task::spawn_blocking(move || wal.shutdown())
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(matches!(wal.append(vec![1], 0).await, Err(WalError::Closed)));
    gate_tx.send(()).unwrap();
    stopper.await.unwrap();

    let mut lsns: Vec<Lsn> = Vec::new();
    for h in handles {
        lsns.push(h.await.unwrap().expect("queued append must be acked"));
    }
    lsns.sort();
    assert!(lsns.iter().copied().eq(1..=101));
    assert_eq!(seen.lock().len(), 101);
    assert!(matches!(wal.append(vec![1], 0).await, Err(WalError::Closed)));
    wal.shutdown(); // idempotent
}

#[tokio::test]
async fn corruption_in_an_earlier_segment_keeps_later_segments() {
    let dir = TempDir::new().unwrap();
    let (wal, _, _) = open(dir.path(), small_segments());
    append_range(&wal, 1..=300).await;
    drop(wal);
    let files = segment_files(dir.path());
    let victim = &files[2];
    let (first, next_first) = (first_lsn_of(victim), first_lsn_of(&files[3]));
    // Damage the 3rd record of the victim segment (inside its payload).
    let start: u64 = (first..first + 2).map(|l| 16 + payload(l).len() as u64).sum();
    let mut bytes = fs::read(victim).unwrap();
    bytes[start as usize + 20] ^= 0x10;
    fs::write(victim, &bytes).unwrap();

    let (wal, report, _) = open(dir.path(), small_segments());
    let t = report.truncated.as_ref().expect("reported");
    assert_eq!((t.segment.as_str(), t.offset), (victim.file_name().unwrap().to_str().unwrap(), start));
    assert_eq!(report.last_lsn, 300);
    assert_eq!(segment_files(dir.path()).len(), files.len(), "later segments must be kept");
    let lost = first + 2..next_first;
    assert_replay(&wal, (1..=300).filter(|l| !lost.contains(l)));
    append_range(&wal, 301..=302).await;
}

#[tokio::test]
async fn empty_segment_left_by_a_crash_during_rotation_is_harmless() {
    let dir = TempDir::new().unwrap();
    let (_, _) = hundred_records(dir.path()).await;
    fs::write(dir.path().join(segment::segment_name(101)), b"").unwrap();
    let (wal, report, _) = open(dir.path(), WalOptions::default());
    assert!(report.truncated.is_none());
    assert_eq!((report.last_lsn, report.segments), (100, 2));
    append_range(&wal, 101..=102).await;
    assert_replay(&wal, 1..=102);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_respect_max_batch_bytes() {
    let dir = TempDir::new().unwrap();
    let opts = WalOptions { max_batch_bytes: 1000, ..WalOptions::default() };
    let (wal, _, _) = open(dir.path(), opts);
    let wal = Arc::new(wal);
    let mut handles = Vec::new();
    for t in 0..16u64 {
        let wal = wal.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..50 {
                wal.append(vec![b'x'; 200], t * 100 + i).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    // 216 framed bytes each: at most 4 records per 1000-byte batch.
    let stats = wal.stats();
    assert_eq!(stats.records_appended, 800);
    assert!(stats.group_commits >= 200, "{stats:?}");
}

#[tokio::test]
async fn oversized_record_is_refused() {
    let dir = TempDir::new().unwrap();
    let (wal, _, _) = open(dir.path(), WalOptions::default());
    let err = wal.append(vec![0; MAX_RECORD_BYTES + 1], 0).await.unwrap_err();
    assert!(matches!(err, WalError::TooLarge(n) if n == MAX_RECORD_BYTES + 1));
    assert_eq!(wal.append(Vec::new(), 0).await.unwrap(), 1, "an empty payload is a valid record");
    drop(wal);
    let (_, report, _) = open(dir.path(), WalOptions::default());
    assert!(report.truncated.is_none());
    assert_eq!(report.last_lsn, 1);
}

#[tokio::test]
async fn open_deletes_segments_of_a_checkpoint_that_crashed_before_deleting() {
    let dir = TempDir::new().unwrap();
    let (wal, _, _) = open(dir.path(), small_segments());
    append_range(&wal, 1..=300).await;
    drop(wal);
    let before = segment_files(dir.path());
    segment::write_checkpoint(dir.path(), 150).unwrap(); // as if the process died right after

    let (wal, report, _) = open(dir.path(), small_segments());
    let after = segment_files(dir.path());
    assert!(after.len() < before.len() && first_lsn_of(&after[0]) <= 151 && first_lsn_of(&after[1]) > 151);
    assert_eq!((report.checkpoint, report.last_lsn, report.segments), (150, 300, after.len()));
    assert_replay(&wal, 151..=300);
}
