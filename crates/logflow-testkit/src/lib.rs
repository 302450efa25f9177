//! Test support for real engines, shared by every crate's tests.
//!
//! - [`pg_database`] creates a fresh PostgreSQL database on the server named by
//!   `LOGFLOW_TEST_DATABASE_URL` (set by `scripts/services.sh`) and drops it when the guard is dropped.
//! - [`RedisServer`] runs a private `redis-server` on a free port, which a test may stop and restart.
//! - [`SmtpSink`] runs a private SMTP server (Python's `aiosmtpd`) on a free port and keeps every
//!   message it receives for the test to read.
//! - [`browser::Chromedriver`] runs Debian's `chromedriver` and gives headless Chromium sessions.
//!
//! Without the server these return `None` after printing why, so a local run skips the test; with
//! `LOGFLOW_REQUIRE_SERVICES=1` (set by `.ci/run`) a missing server panics instead.

pub mod browser;

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// True when a missing engine must fail the test rather than skip it.
pub fn services_required() -> bool {
    std::env::var("LOGFLOW_REQUIRE_SERVICES").map(|v| v == "1" || v == "true").unwrap_or(false)
}

/// Skip (print and return `None`) or fail, depending on [`services_required`].
pub fn missing<T>(what: &str) -> Option<T> {
    if services_required() {
        panic!("{what} (LOGFLOW_REQUIRE_SERVICES=1, so this is a failure; run scripts/services.sh)");
    }
    eprintln!("SKIPPED: {what}; run `eval \"$(scripts/services.sh)\"` to test against the real server");
    None
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().unwrap().port()
}

/// A throwaway PostgreSQL database; dropped (with its connections) when this guard goes.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

/// Creates a fresh database on the test PostgreSQL server.
pub async fn pg_database() -> Option<PgDatabase> {
    use sqlx::Connection;
    let Ok(admin_url) = std::env::var("LOGFLOW_TEST_DATABASE_URL") else {
        return missing("LOGFLOW_TEST_DATABASE_URL is not set, so there is no PostgreSQL to test against");
    };
    let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) => return missing(&format!("cannot connect to PostgreSQL at {admin_url}: {e}")),
    };
    let name = format!("logflow_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let _ = conn.close().await;
    let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin_url.clone());
    Some(PgDatabase { url: format!("{base}/{name}"), admin_url, name })
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside or outside a runtime: do it on a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
                }
            })
        })
        .join();
    }
}

/// A private redis-server process on a free port. Killed when dropped.
pub struct RedisServer {
    pub port: u16,
    bin: String,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one, or returns `None` (skip) when no `redis-server` binary is available.
    pub fn start() -> Option<RedisServer> {
        let bin = std::env::var("LOGFLOW_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        if Command::new(&bin).arg("--version").stdout(Stdio::null()).status().is_err() {
            return missing(&format!("no redis-server binary ({bin})"));
        }
        let mut s = RedisServer { port: free_port(), bin, child: None };
        s.restart();
        Some(s)
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would); the port stays reserved for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// (Re)starts the server on the same port and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(&self.bin)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The SMTP server of [`SmtpSink`]: accepts every message and writes each to `<dir>/NNNNNN.eml`
/// as the envelope sender (line 1), the envelope recipients separated by spaces (line 2) and the
/// raw message. The file is complete before the server answers 250, so a message is readable as
/// soon as the client's send returns. Given a login and password it advertises AUTH over plain
/// text and requires them. It exits when its stdin closes, i.e. when the test process is gone.
const SMTP_SINK_PY: &str = r#"
import asyncio, os, sys, threading
from aiosmtpd.smtp import SMTP, AuthResult

port, out = int(sys.argv[1]), sys.argv[2]
login = sys.argv[3].encode() if len(sys.argv) > 3 else None
password = sys.argv[4].encode() if len(sys.argv) > 4 else None

class Sink:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Sink.count += 1
        name = os.path.join(out, "%06d" % Sink.count)
        with open(name + ".tmp", "wb") as f:
            f.write(envelope.mail_from.encode() + b"\n")
            f.write(" ".join(envelope.rcpt_tos).encode() + b"\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(name + ".tmp", name + ".eml")
        return "250 Message accepted for delivery"

def authenticator(server, session, envelope, mechanism, data):
    # handled=False: aiosmtpd then answers a refusal with 535 itself.
    return AuthResult(success=(data.login == login and data.password == password), handled=False)

def smtp():
    if login is None:
        return SMTP(Sink(), hostname="localhost")
    return SMTP(Sink(), hostname="localhost", auth_required=True, auth_require_tls=False,
                authenticator=authenticator)

def exit_with_parent():
    sys.stdin.read()
    os._exit(0)

async def main():
    threading.Thread(target=exit_with_parent, daemon=True).start()
    server = await asyncio.get_running_loop().create_server(smtp, "127.0.0.1", port)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"#;

/// One message an [`SmtpSink`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`).
    pub rcpt_to: Vec<String>,
    /// The message as sent: headers, blank line, body (transfer encoding untouched).
    pub data: String,
}

impl ReceivedMail {
    /// The value of the first header called `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            match value.as_mut() {
                Some(v) if line.starts_with([' ', '\t']) => v.push_str(line),
                Some(_) => break,
                None => {
                    if let Some((key, rest)) = line.split_once(':') {
                        if key.eq_ignore_ascii_case(name) {
                            value = Some(rest.trim().to_string());
                        }
                    }
                }
            }
        }
        value
    }

    /// Everything after the headers, as sent.
    pub fn body(&self) -> &str {
        self.data.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }

    /// The body with a `quoted-printable` transfer encoding undone (other encodings as sent),
    /// with `\n` line ends: the text the recipient reads.
    pub fn text(&self) -> String {
        let body = self.body();
        let quoted = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|encoding| encoding.eq_ignore_ascii_case("quoted-printable"));
        if !quoted {
            return body.replace("\r\n", "\n");
        }
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
            match (bytes[i], hex) {
                (b'=', Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (byte, _) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    }
}

/// A private SMTP server (Python's `aiosmtpd`) on a free port that keeps what it receives.
/// Killed, and its messages deleted, when dropped.
pub struct SmtpSink {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

impl SmtpSink {
    /// Starts one that accepts mail from anyone, or returns `None` (skip) when `python3` with
    /// `aiosmtpd` is not available.
    pub fn start() -> Option<SmtpSink> {
        Self::launch(&[])
    }

    /// Starts one that requires `AUTH` (PLAIN or LOGIN, over plain text) with these credentials.
    pub fn start_with_login(login: &str, password: &str) -> Option<SmtpSink> {
        Self::launch(&[login, password])
    }

    fn launch(auth: &[&str]) -> Option<SmtpSink> {
        let python = std::env::var("LOGFLOW_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let available = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            return missing(&format!("no {python} with the aiosmtpd module (pip install aiosmtpd)"));
        }
        let dir = std::env::temp_dir().join(format!("logflow-smtp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the SMTP sink's directory");
        let port = free_port();
        let child = Command::new(&python)
            .args(["-c", SMTP_SINK_PY, &port.to_string(), dir.to_str().expect("UTF-8 temp dir")])
            .args(auth)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn python3 for the SMTP sink");
        let mut sink = SmtpSink { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(sink);
            }
            if let Ok(Some(status)) = sink.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut err) = sink.child.stderr.take() {
                    let _ = err.read_to_string(&mut stderr);
                }
                panic!("the SMTP sink exited ({status}): {stderr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the SMTP sink did not start on port {port}");
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("read the SMTP sink's directory")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|ext| ext == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let raw = std::fs::read(path).expect("read a received message");
                let text = String::from_utf8_lossy(&raw);
                let mut parts = text.splitn(3, '\n');
                let mail_from = parts.next().unwrap_or_default().to_string();
                let rcpt_to = parts.next().unwrap_or_default().split_whitespace().map(String::from).collect();
                ReceivedMail { mail_from, rcpt_to, data: parts.next().unwrap_or_default().to_string() }
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
