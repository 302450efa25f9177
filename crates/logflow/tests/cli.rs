//! The command line: help texts, `generate` to a file and to a server, the data directory lock,
//! configuration errors, and graceful shutdown on SIGTERM.

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Run to completion (at most `timeout`), capturing stdout and stderr.
fn run(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawning logflow");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => out.expect("waiting for logflow"),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let out = rx.recv().expect("output after kill").expect("output");
            panic!(
                "logflow did not finish within {timeout:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn logflow(args: &[&str]) -> Command {
    let mut cmd = logflow_cmd();
    cmd.args(args);
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

#[test]
fn help_texts_list_the_commands_and_flags() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--help"], &["serve", "generate", "bench", "Usage: logflow"]),
        (&["serve", "--help"], &["--listen", "--data-dir", "--config", "--demo"]),
        (
            &["generate", "--help"],
            &["--url", "--output", "--rate", "--count", "--duration", "--seed", "--quiet", "--batch-size", "--spike"],
        ),
        (&["bench", "--help"], &["--url", "--logs", "--batch", "--concurrency", "--json"]),
    ];
    for (args, needles) in cases {
        let out = run(logflow(args), Duration::from_secs(10));
        assert!(out.status.success(), "logflow {args:?}: {:?}\n{}", out.status, text(&out.stderr));
        let stdout = text(&out.stdout);
        for n in *needles {
            assert!(stdout.contains(n), "logflow {args:?} should mention {n}:\n{stdout}");
        }
    }
    let out = run(logflow(&["--version"]), Duration::from_secs(10));
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), format!("logflow {}", env!("CARGO_PKG_VERSION")));
    let out = run(logflow(&["no-such-command"]), Duration::from_secs(10));
    assert!(!out.status.success(), "an unknown subcommand must fail");
    assert!(text(&out.stderr).contains("no-such-command"), "{}", text(&out.stderr));
}

fn generate_file(path: &std::path::Path, seed: &str) -> Vec<Value> {
    // --rate: the default (100/s) would make 500 logs take five seconds.
    let out = run(
        logflow(&[
            "generate",
            "--output",
            path.to_str().unwrap(),
            "--count",
            "500",
            "--seed",
            seed,
            "--rate",
            "100000",
        ]),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "generate: {:?}\n{}", out.status, text(&out.stderr));
    let content = std::fs::read_to_string(path).expect("generated file");
    assert!(content.ends_with('\n'), "the file should end with a newline");
    content
        .lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}: {l}", i + 1)))
        .collect()
}

#[test]
fn generate_writes_exactly_count_ndjson_lines() {
    let dir = tempdir();
    let path = dir.path().join("logs.ndjson");
    let lines = generate_file(&path, "1");
    assert_eq!(lines.len(), 500);
    for (i, l) in lines.iter().enumerate() {
        let o = l.as_object().unwrap_or_else(|| panic!("line {} is not an object: {l}", i + 1));
        for f in ["service", "level", "message", "timestamp"] {
            assert!(o.get(f).and_then(Value::as_str).is_some_and(|s| !s.is_empty()), "line {}: no {f}: {l}", i + 1);
        }
        let t = o["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "line {}: timestamp {t}", i + 1);
        let level = o["level"].as_str().unwrap();
        assert!(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(&level), "line {}: level {level}", i + 1);
    }
    let services: std::collections::HashSet<&str> = lines.iter().map(|l| l["service"].as_str().unwrap()).collect();
    assert!(services.len() >= 3, "several services expected: {services:?}");

    // Every generated line is a valid log for the server.
    let server = Server::start(dir.path(), &[]);
    let r = post_raw(&server.url, std::fs::read(&path).unwrap(), &[("content-type", "application/x-ndjson")]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.json["accepted"].as_u64(), r.json["rejected"].as_u64()), (Some(500), Some(0)));
    wait_total(&server.url, "", 500);
}

#[test]
fn generate_seed_is_reproducible() {
    // "--seed: Seed for reproducible output". Timestamps follow the clock; everything else must
    // repeat. Several attempts, since the output may depend on timing.
    let dir = tempdir();
    let strip = |mut v: Vec<Value>| {
        for l in &mut v {
            l.as_object_mut().unwrap().remove("timestamp");
        }
        v
    };
    for attempt in 0..6 {
        let a = strip(generate_file(&dir.path().join(format!("a{attempt}.ndjson")), "1"));
        let b = strip(generate_file(&dir.path().join(format!("b{attempt}.ndjson")), "1"));
        let first = a.iter().zip(&b).position(|(x, y)| x != y);
        assert!(
            first.is_none(),
            "attempt {attempt}: two runs with --seed 1 differ from line {} on:\n{}\n{}",
            first.unwrap() + 1,
            a[first.unwrap()],
            b[first.unwrap()]
        );
    }
}

#[test]
fn generate_delivers_to_a_server() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let out = run(
        logflow(&["generate", "--url", &server.url, "--count", "300", "--rate", "1000", "--quiet"]),
        Duration::from_secs(30),
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "generate --url: {:?}\n{stderr}", out.status);
    let summary: Value = stderr
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON summary on stderr: {stderr}"));
    assert_eq!(summary["sent"], 300, "{summary}");
    assert_eq!(summary["rejected"], 0, "{summary}");
    wait_total(&server.url, "", 300);
    wait_indexed(&server.url);
    assert_eq!(search_total(&server.url, ""), 300);
}

#[test]
fn second_server_on_a_locked_data_dir_refuses_to_start() {
    let dir = tempdir();
    let first = Server::start(dir.path(), &[]);
    let data = dir.path().join("data");
    let out = run(
        logflow(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()]),
        Duration::from_secs(20),
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "the second server should fail: {:?}\n{stderr}", out.status);
    assert!(stderr.contains("in use by another LogFlow process"), "{stderr}");
    assert!(stderr.contains("LOCK"), "{stderr}");
    assert!(!text(&out.stdout).contains("listening"), "it must not say it listens");
    // The first one is unaffected.
    ingest_ok(&first.url, &json!({"service":"s","message":"still here"}));
    wait_total(&first.url, "", 1);
}

#[test]
fn invalid_configuration_is_reported() {
    let dir = tempdir();
    for (k, v, needle) in [
        ("LOGFLOW_RETENTION_DAYS", "soon", "LOGFLOW_RETENTION_DAYS='soon'"),
        ("LOGFLOW_RETENTION_DAYS", "0", "retention_days must be at least 1"),
        ("LOGFLOW_INGEST_MAX_BODY_BYTES", "lots", "LOGFLOW_INGEST_MAX_BODY_BYTES='lots'"),
        ("LOGFLOW_ENVIRONMENT", "staging", "staging"),
    ] {
        let mut cmd = logflow(&["serve", "--listen", "127.0.0.1:0", "--data-dir"]);
        cmd.arg(dir.path().join("data")).env(k, v);
        let out = run(cmd, Duration::from_secs(20));
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{k}={v} should be refused");
        assert!(stderr.contains(needle), "{k}={v}: {stderr}");
    }
}

#[test]
fn sigterm_is_graceful_and_acknowledged_logs_survive() {
    let dir = tempdir();
    // No commit until shutdown: what is searchable after the restart went through the drain.
    let mut server = Server::start(dir.path(), &[("LOGFLOW_INGEST_COMMIT_INTERVAL_MS", "60000")]);
    std::thread::sleep(Duration::from_millis(300));
    let mut want = Vec::new();
    for b in 0..4 {
        let body: Vec<Value> = (0..5)
            .map(|i| json!({"id": format!("g-{b}-{i}"), "service": "graceful", "message": "before SIGTERM"}))
            .collect();
        want.extend(ingest_ok(&server.url, &Value::Array(body)));
    }
    assert_eq!(search_total(&server.url, ""), 0, "nothing should be committed yet");
    let status = server.terminate();
    let stderr = server.stderr();
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM\n{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");

    let server = Server::start(dir.path(), &[]);
    wait_total(&server.url, "", 20);
    wait_indexed(&server.url);
    let mut got = search_ids(&server.url, "");
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(search_total(&server.url, "service=graceful"), 20);
}

#[test]
fn config_file_then_environment_then_flags() {
    let dir = tempdir();
    let cfg = dir.path().join("logflow.toml");
    let elsewhere = dir.path().join("env-data");
    std::fs::write(&cfg, "retention_days = 2\n[ingest]\nmax_body_bytes = 2048\nmax_message_bytes = 100\n").unwrap();
    let cfg_arg = cfg.to_str().unwrap();
    let big = json!({"service":"s","message":"x".repeat(3000)}).to_string().into_bytes();
    let three_days_ago = ts(now_secs() - chrono::Duration::days(3));
    let long_message = json!({"service":"s","message":"y".repeat(150)});

    // The file's values apply; --data-dir wins over LOGFLOW_DATA_DIR.
    let server = Server::start_with_args(
        dir.path(),
        &["--config", cfg_arg],
        &[("LOGFLOW_DATA_DIR", elsewhere.to_str().unwrap())],
    );
    assert!(dir.path().join("data").join("LOCK").exists(), "--data-dir should win over LOGFLOW_DATA_DIR");
    assert!(!elsewhere.exists(), "LOGFLOW_DATA_DIR should have been overridden by --data-dir");
    let r = post_raw(&server.url, big.clone(), &[("content-type", "application/json")]);
    assert_eq!(r.status, 413, "{}", r.text);
    assert!(r.error().contains("2048"), "{}", r.text);
    let r = post_json(&server.url, &json!({"service":"s","message":"m","timestamp":three_days_ago}));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("retention period (2 days)"), "{}", r.text);
    let r = post_json(&server.url, &long_message);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("above the limit of 100 bytes"), "{}", r.text);
    drop(server);

    // The environment wins over the file.
    let server = Server::start_with_args(
        dir.path(),
        &["--config", cfg_arg],
        &[("LOGFLOW_INGEST_MAX_BODY_BYTES", "100000"), ("LOGFLOW_RETENTION_DAYS", "5")],
    );
    let r = post_raw(&server.url, big, &[("content-type", "application/json")]);
    assert_eq!(r.status, 400, "the body limit from the environment applies: {}", r.text);
    assert!(r.text.contains("above the limit of 100 bytes"), "{}", r.text);
    ingest_ok(&server.url, &json!({"service":"s","message":"m","timestamp":three_days_ago}));
    drop(server);

    // A typo in the file is an error naming the key.
    std::fs::write(&cfg, "retention_dayz = 2\n").unwrap();
    let out = run(
        logflow(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--config",
            cfg_arg,
        ]),
        Duration::from_secs(20),
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("retention_dayz") && stderr.contains("unknown field"), "{stderr}");
}
