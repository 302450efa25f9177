//! SIGKILL during ingest: every acknowledged log survives, nothing is stored twice, also after a
//! replay of a replay.

mod common;

use chrono::Utc;
use common::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const THREADS: usize = 4;
const BATCH: usize = 50;

#[derive(Default)]
struct Ledger {
    /// Ids whose request got a 2xx: they must be stored.
    acked: HashSet<String>,
    /// Every id ever sent: nothing else may be stored.
    attempted: HashSet<String>,
}

/// Run `THREADS` clients against `server` for `secs`, then stop the server with `stop_server`
/// (SIGKILL or SIGTERM) while they are still sending; what was acknowledged goes to `ledger`.
fn ingest_then_stop(
    server: &mut Server,
    round: usize,
    secs: f64,
    ledger: &Arc<Mutex<Ledger>>,
    stop_server: impl FnOnce(&mut Server),
) {
    let stop = Arc::new(AtomicBool::new(false));
    let before = ledger.lock().unwrap().acked.len();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (url, stop, ledger) = (server.url.clone(), stop.clone(), ledger.clone());
            std::thread::spawn(move || {
                let mut b = 0usize;
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let ids: Vec<String> = (0..BATCH).map(|i| format!("r{round}-t{t}-b{b:05}-{i:02}")).collect();
                    b += 1;
                    // Odd items are dated yesterday: every batch spans two day partitions, so
                    // replay must skip per partition exactly what each one committed.
                    let yesterday = ts(Utc::now() - chrono::Duration::hours(25));
                    let body: Vec<Value> = ids
                        .iter()
                        .enumerate()
                        .map(|(i, id)| {
                            let mut log = json!({"id": id, "service": format!("crash-{t}"),
                                "level": if i % 10 == 0 {"error"} else {"info"},
                                "message": format!("round {round} thread {t} log {id}"), "attributes": {"n": i}});
                            if i % 2 == 1 {
                                log["timestamp"] = json!(yesterday);
                            }
                            log
                        })
                        .collect();
                    ledger.lock().unwrap().attempted.extend(ids.iter().cloned());
                    let sent = client()
                        .post(format!("{url}/api/v1/logs"))
                        .header("content-type", "application/json")
                        .body(serde_json::to_vec(&body).unwrap())
                        .send();
                    match sent {
                        Ok(resp) if resp.status().as_u16() == 200 => {
                            let reply: Value = match resp.json() {
                                Ok(v) => v,
                                Err(_) => continue, // connection cut while reading the ack
                            };
                            assert_eq!(ids_in(&reply["ids"]), ids, "ack lists the ids in order");
                            ledger.lock().unwrap().acked.extend(ids);
                            // A steady stream, not a flood: keeps the verification paging quick.
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            assert!(status == 503, "unexpected status {status}: {:?}", resp.text());
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(_) => {
                            if stop.load(Ordering::SeqCst) {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let acked_before_kill = ledger.lock().unwrap().acked.len() - before;
    stop_server(server);
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().expect("client thread panicked");
    }
    assert!(acked_before_kill > 0, "round {round}: no batch was acknowledged before the kill");
}

fn ingest_then_kill(server: &mut Server, round: usize, secs: f64, ledger: &Arc<Mutex<Ledger>>) {
    ingest_then_stop(server, round, secs, ledger, Server::sigkill);
}

/// After a restart: everything acknowledged is there exactly once, nothing unknown appeared.
fn verify(server: &Server, ledger: &Arc<Mutex<Ledger>>, label: &str) -> usize {
    let l = ledger.lock().unwrap();
    wait_indexed(&server.url);
    poll_until("every acknowledged log to be searchable", POLL_TIMEOUT, || {
        (search_total(&server.url, "") >= l.acked.len() as u64).then_some(())
    });
    let ids = search_ids(&server.url, "limit=1000");
    let mut seen = HashSet::new();
    let dups: Vec<&String> = ids.iter().filter(|id| !seen.insert(*id)).collect();
    let missing: Vec<&String> = l.acked.iter().filter(|id| !seen.contains(*id)).collect();
    let unknown: Vec<&String> = ids.iter().filter(|id| !l.attempted.contains(*id)).collect();
    assert!(
        dups.is_empty() && missing.is_empty() && unknown.is_empty(),
        "{label}: {} stored, {} acked, {} attempted; {} duplicated (e.g. {:?}), {} acked but missing (e.g. {:?}), \
         {} never sent (e.g. {:?})\n--- server stderr ---\n{}",
        ids.len(),
        l.acked.len(),
        l.attempted.len(),
        dups.len(),
        dups.iter().take(5).collect::<Vec<_>>(),
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        unknown.len(),
        unknown.iter().take(5).collect::<Vec<_>>(),
        server.stderr()
    );
    assert_eq!(search_total(&server.url, ""), ids.len() as u64, "{label}: total agrees with the pages");
    // Spot-check the per-field index survived too.
    let errors = search_total(&server.url, "level=error");
    let want_errors = ids
        .iter()
        .filter(|id| {
            id.ends_with("-00")
                || id.ends_with("-10")
                || id.ends_with("-20")
                || id.ends_with("-30")
                || id.ends_with("-40")
        })
        .count();
    assert_eq!(errors, want_errors as u64, "{label}: level=error count");
    ids.len()
}

#[test]
fn acknowledged_logs_survive_sigkill_twice_without_duplicates() {
    let dir = tempdir();
    let ledger = Arc::new(Mutex::new(Ledger::default()));

    let mut server = Server::start(dir.path(), &[]);
    ingest_then_kill(&mut server, 1, 2.0, &ledger);
    let mut server = Server::start(dir.path(), &[]);
    let n1 = verify(&server, &ledger, "after the first SIGKILL");

    // Ingest more on the recovered server, kill it again: replay after replay.
    ingest_then_kill(&mut server, 2, 1.5, &ledger);
    let mut server = Server::start(dir.path(), &[]);
    let n2 = verify(&server, &ledger, "after the second SIGKILL");
    assert!(n2 > n1, "the second round added nothing ({n1} -> {n2})");

    // A graceful restart on top changes nothing.
    let status = server.terminate();
    assert!(status.success(), "SIGTERM exit status {status:?}\n{}", server.stderr());
    let server = Server::start(dir.path(), &[]);
    let n3 = verify(&server, &ledger, "after a graceful restart");
    assert_eq!(n3, n2, "a clean restart changed the number of stored logs");
}

#[test]
fn sigterm_under_load_exits_cleanly_and_keeps_acknowledged_logs() {
    let dir = tempdir();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut server = Server::start(dir.path(), &[]);
    ingest_then_stop(&mut server, 1, 1.0, &ledger, |s| {
        let started = std::time::Instant::now();
        let status = s.terminate();
        assert_eq!(status.code(), Some(0), "exit status after SIGTERM under load\n{}", s.stderr());
        assert!(started.elapsed() < Duration::from_secs(10), "graceful shutdown took {:?}", started.elapsed());
    });
    let server = Server::start(dir.path(), &[]);
    verify(&server, &ledger, "after SIGTERM under load");
}
