//! Shared helpers of the black-box integration tests: start the real `logflow` binary on a free
//! port, talk to it over HTTP, poll with deadlines.
//!
//! Every test uses its own temporary directory (data under `DIR/data`, each server's stderr in
//! `DIR/server-N.log`) and port 0, so test binaries and tests can run in parallel.

#![allow(dead_code)]

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_logflow");
/// How long a server may take to print its "listening" line.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Default deadline of the polling helpers.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(20);
/// Commit interval used by the tests (the default is 1 s).
pub const COMMIT_MS: &str = "200";

/// A `logflow` command with every configuration variable of the caller's environment removed,
/// so the tests do not depend on the shell they run in.
pub fn logflow_cmd() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        let spec_names = ["SECRET_KEY", "ACCESS_TOKEN_EXPIRE_MINUTES", "DATABASE_URL", "REDIS_URL"];
        if k.starts_with("LOGFLOW_")
            || k.starts_with("POSTGRES_")
            || k.starts_with("REDIS_")
            || spec_names.contains(&k.as_str())
            || matches!(k.as_str(), "RUST_LOG" | "ENVIRONMENT" | "LOG_LEVEL")
        {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A running `logflow serve`. Dropping it SIGKILLs the process and waits for it.
pub struct Server {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The test's directory (the data directory is `root/data`).
    pub root: PathBuf,
    pub stderr_path: PathBuf,
    child: Option<Child>,
}

fn next_log_path(root: &Path) -> PathBuf {
    (0..).map(|n| root.join(format!("server-{n}.log"))).find(|p| !p.exists()).expect("a free log file name")
}

impl Server {
    /// Start `logflow serve --listen 127.0.0.1:0 --data-dir ROOT/data` with the test defaults
    /// (commit interval 200 ms; rate limits off, since every test client shares 127.0.0.1)
    /// overridden by `envs`, and wait for its "listening" line.
    pub fn start(root: &Path, envs: &[(&str, &str)]) -> Server {
        match Server::try_start(root, envs) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Server::start`], but a server that exits or never says it listens is an `Err`
    /// carrying its stderr.
    pub fn try_start(root: &Path, envs: &[(&str, &str)]) -> Result<Server, String> {
        Server::try_start_with_args(root, &[], envs)
    }

    /// Like [`Server::start`] with extra `serve` arguments (e.g. `--config FILE`).
    pub fn start_with_args(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> Server {
        match Server::try_start_with_args(root, args, envs) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    pub fn try_start_with_args(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> Result<Server, String> {
        let stderr_path = next_log_path(root);
        let stderr = std::fs::File::create(&stderr_path).expect("creating the server log file");
        let mut cmd = logflow_cmd();
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(root.join("data"))
            .args(args)
            .env("LOGFLOW_INGEST_COMMIT_INTERVAL_MS", COMMIT_MS)
            .env("LOGFLOW_LOG_LEVEL", "info")
            .env("LOGFLOW_INDEX_WRITER_HEAP_MB", "32")
            .env("LOGFLOW_RATE_LIMIT_ENABLED", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawning logflow serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<Result<String, String>>();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut seen = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("logflow: listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(Ok(url.trim().to_string()));
                    }
                } else {
                    seen.push(line);
                }
            }
            // Keep draining until the process exits; report EOF if it never said it listens.
            if let Some(tx) = tx {
                let _ = tx.send(Err(format!("stdout closed before the listening line; stdout was {seen:?}")));
            }
        });
        let outcome = rx.recv_timeout(START_TIMEOUT);
        let fail = |child: &mut Child, why: String| {
            let _ = child.kill();
            let status = child.wait().ok();
            let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            format!("logflow serve did not start ({why}); exit status {status:?}\n--- stderr ---\n{log}")
        };
        match outcome {
            Ok(Ok(url)) => {
                assert!(url.starts_with("http://127.0.0.1:"), "unexpected listening line: {url}");
                Ok(Server { url, root: root.to_path_buf(), stderr_path, child: Some(child) })
            }
            Ok(Err(why)) => Err(fail(&mut child, why)),
            Err(_) => Err(fail(&mut child, format!("no listening line within {START_TIMEOUT:?}"))),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("server is running").id() as i32
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush or commit anything.
    pub fn sigkill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait (at most 30 s) for a graceful exit; returns the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server is running");
        signal(&child, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the server") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not exit within 30 s of SIGTERM\n--- stderr ---\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, sig).expect("sending a signal to the server");
}

// ----- HTTP -----

/// One shared blocking client (30 s timeout).
pub fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| Client::builder().timeout(Duration::from_secs(30)).build().expect("HTTP client"))
}

/// A response, read whole. `json` is `Value::Null` when the body is not JSON.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl From<reqwest::blocking::Response> for Resp {
    fn from(r: reqwest::blocking::Response) -> Resp {
        Resp::read(r)
    }
}

impl Resp {
    pub fn read(r: reqwest::blocking::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().expect("reading the response body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, text, json }
    }

    /// The `error` string of an error body; panics (with the body) if the body is not the
    /// documented `{"error": "..."}` shape.
    pub fn error(&self) -> String {
        match self.json.get("error").and_then(Value::as_str) {
            Some(e) if !e.is_empty() => e.to_string(),
            _ => panic!("expected a JSON error body with an \"error\" string, got {} {:?}", self.status, self.text),
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
}

/// POST `body` (as JSON) to `/api/v1/logs`.
pub fn post_json(base: &str, body: &Value) -> Resp {
    post_raw(base, serde_json::to_vec(body).unwrap(), &[("content-type", "application/json")])
}

/// POST raw bytes to `/api/v1/logs` with the given headers.
pub fn post_raw(base: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Resp {
    let mut req = client().post(format!("{base}/api/v1/logs")).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Resp::read(req.send().expect("POST /api/v1/logs"))
}

/// POST a JSON body and require 200 with every item accepted; returns the ids.
pub fn ingest_ok(base: &str, body: &Value) -> Vec<String> {
    let r = post_json(base, body);
    assert_eq!(r.status, 200, "ingest failed: {}", r.text);
    assert_eq!(r.json["rejected"], 0, "{}", r.text);
    ids_in(&r.json["ids"])
}

/// GET `base + path_and_query`.
pub fn get(base: &str, path_and_query: &str) -> Resp {
    Resp::read(client().get(format!("{base}{path_and_query}")).send().expect("GET"))
}

/// URL-encode query parameters: `enc(&[("query", "a b")])` -> `query=a+b`.
pub fn enc(params: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.query().unwrap_or("").to_string()
}

/// One search request; `qs` is an encoded query string (see [`enc`]).
pub fn search(base: &str, qs: &str) -> Resp {
    get(base, &format!("/api/v1/logs/search?{qs}"))
}

/// Every log matching `qs`, following `next_cursor` to the end (page size 1000 unless `qs`
/// sets `limit`). Panics on an error or a cursor loop.
pub fn search_all(base: &str, qs: &str) -> Vec<Value> {
    let qs = if qs.split('&').any(|kv| kv.starts_with("limit=")) {
        qs.to_string()
    } else if qs.is_empty() {
        "limit=1000".to_string()
    } else {
        format!("{qs}&limit=1000")
    };
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100_000 {
        let page_qs = match &cursor {
            Some(c) => format!("{qs}&{}", enc(&[("cursor", c)])),
            None => qs.clone(),
        };
        let r = search(base, &page_qs);
        assert_eq!(r.status, 200, "search {page_qs}: {}", r.text);
        let logs = r.json["logs"].as_array().expect("logs array").clone();
        assert_eq!(r.json["count"].as_u64(), Some(logs.len() as u64), "count of {page_qs}");
        out.extend(logs);
        match r.json["next_cursor"].as_str() {
            Some(c) => {
                assert_ne!(Some(c), cursor.as_deref(), "cursor did not advance");
                cursor = Some(c.to_string());
            }
            None => return out,
        }
    }
    panic!("more than 100000 pages for {qs}");
}

/// Ids of every log matching `qs`, in result order, following cursors.
pub fn search_ids(base: &str, qs: &str) -> Vec<String> {
    search_all(base, qs).iter().map(|l| l["id"].as_str().expect("id").to_string()).collect()
}

/// The `total` of a search.
pub fn search_total(base: &str, qs: &str) -> u64 {
    let qs = if qs.is_empty() { "limit=1".to_string() } else { format!("{qs}&limit=1") };
    let r = search(base, &qs);
    assert_eq!(r.status, 200, "search {qs}: {}", r.text);
    r.json["total"].as_u64().expect("total")
}

pub fn ids_in(v: &Value) -> Vec<String> {
    v.as_array().expect("array of ids").iter().map(|x| x.as_str().expect("string id").to_string()).collect()
}

// ----- polling -----

/// Call `f` every 50 ms until it returns `Some`, or panic after `timeout` naming `what`.
pub fn poll_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until a search for `qs` reports exactly `n` matches.
pub fn wait_total(base: &str, qs: &str, n: u64) {
    let deadline = Instant::now() + POLL_TIMEOUT;
    loop {
        let last = search_total(base, qs);
        if last == n {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {n} logs matching '{qs}'; last total {last}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until everything accepted has been committed to the index (no pending ingest bytes).
pub fn wait_indexed(base: &str) {
    poll_until("the ingest queue to drain", POLL_TIMEOUT, || {
        let r = get(base, "/health");
        (r.status == 200 && r.json["components"]["queue"]["pending_bytes"] == 0).then_some(())
    });
}

// ----- time -----

/// RFC 3339 with microseconds and `Z`: the form LogFlow returns.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `now`, truncated to whole seconds (handy for exact timestamp assertions).
pub fn now_secs() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("logflow-it-").tempdir().expect("temp dir")
}

/// GET `base + path_and_query` with extra request headers.
pub fn get_with_headers(base: &str, path_and_query: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = client().get(format!("{base}{path_and_query}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Resp::read(req.send().expect("GET"))
}

// ----- auth -----

/// Any request: `method` to `base + path`, with an optional bearer token and JSON body.
pub fn call(method: &str, base: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
    let mut req = client().request(method, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    Resp::read(req.send().expect("HTTP request"))
}

/// Log in with the OAuth2 password form (as the spec's curl does); returns the response.
pub fn login(base: &str, username: &str, password: &str) -> Resp {
    let body = enc(&[("username", username), ("password", password)]);
    let req = client()
        .post(format!("{base}/api/v1/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    Resp::read(req.send().expect("POST /api/v1/auth/login"))
}

/// Log in and return the access token (panics on failure).
pub fn token(base: &str, username: &str, password: &str) -> String {
    let r = login(base, username, password);
    assert_eq!(r.status, 200, "login as {username} failed: {}", r.text);
    r.json["access_token"].as_str().expect("access_token").to_string()
}

/// Register a user (password `secure123`, the spec's example) and return its token.
pub fn register_user(base: &str, username: &str) -> String {
    let body = serde_json::json!({"username": username, "email": format!("{username}@example.com"),
        "password": "secure123", "full_name": format!("{username} tester")});
    let r = call("POST", base, "/api/v1/auth/register", None, Some(&body));
    assert_eq!(r.status, 201, "register {username}: {}", r.text);
    token(base, username, "secure123")
}
