//! The one Redis connection a LogFlow process shares, and whether Redis is answering.
//!
//! [`RedisHandle`] wraps a [`ConnectionManager`] (one multiplexed connection, cheap to clone) and
//! adds what a request path needs from a cache or limiter backend: it must never wait for a dead
//! server. Every command is bounded by the response timeout; the first failure that means "Redis is
//! unreachable" marks the handle down, and from then on operations skip Redis at once and use
//! their fallback without touching the network. A background task retries every
//! [`RETRY_INTERVAL`] with a fresh connection and a `PING`; when Redis answers, the new connection is
//! installed and requests use Redis again. While Redis is up, a heartbeat `PING` every
//! [`HEARTBEAT_INTERVAL`] keeps the health current on an idle server too.
//!
//! The connection manager's own reconnect loop is turned off (no retries): its backoff would hold
//! requests waiting, and reconnecting is this module's job.

use crate::{KvError, KvHealth, Result};
use parking_lot::Mutex;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, RetryMethod, Value};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How long requests skip Redis after a failure before the next reconnection attempt.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How often an idle handle checks that Redis still answers (so `/health` is current without
/// traffic).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// Timeouts for talking to Redis. Both are short: a cache or limiter that waits longer than the
/// work it saves is worse than none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisOptions {
    /// Limit for establishing a connection (default 500 ms).
    pub connect_timeout: Duration,
    /// Limit for the answer to one command (default 250 ms).
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions { connect_timeout: Duration::from_millis(500), response_timeout: Duration::from_millis(250) }
    }
}

/// A shared, health-tracked Redis connection. Clones share the connection and its health.
#[derive(Clone)]
pub struct RedisHandle {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    opts: RedisOptions,
    state: Mutex<State>,
}

struct State {
    /// The current connection; `None` until the first successful connect.
    manager: Option<ConnectionManager>,
    /// Bumped for every new connection, so that a late failure of a replaced connection does not
    /// mark its successor down.
    generation: u64,
    /// Why Redis is considered down, or `None` while it answers.
    down: Option<String>,
    /// Whether the reconnect task is running (at most one is).
    probing: bool,
}

impl RedisHandle {
    /// Connects to `url` (`redis://[:password@]host[:port][/db]`).
    ///
    /// Fails only when the URL is invalid. An unreachable server is not an error: the handle starts
    /// down (see [`health`](Self::health)) and keeps retrying in the background, so LogFlow starts
    /// and serves without Redis. Must be called within a Tokio runtime.
    pub async fn connect(url: &str, opts: RedisOptions) -> Result<RedisHandle> {
        let client = redis::Client::open(url).map_err(KvError::InvalidUrl)?;
        let inner = Arc::new(Inner {
            client,
            opts,
            state: Mutex::new(State { manager: None, generation: 0, down: None, probing: false }),
        });
        match inner.try_connect().await {
            Ok(manager) => inner.install(manager),
            Err(e) => inner.mark_down(None, &e),
        }
        tokio::spawn(heartbeat(Arc::downgrade(&inner)));
        Ok(RedisHandle { inner })
    }

    /// `healthy` while Redis answers; `degraded`, with the last error, while requests skip it.
    pub fn health(&self) -> KvHealth {
        match &self.inner.state.lock().down {
            None => KvHealth::healthy("redis"),
            Some(reason) => KvHealth::degraded("redis", format!("redis unavailable: {reason}")),
        }
    }

    /// Whether requests currently go to Redis.
    pub fn is_available(&self) -> bool {
        self.inner.state.lock().down.is_none()
    }

    /// The connection to use for one operation, or `None` while Redis is down (use the fallback).
    pub(crate) fn conn(&self) -> Option<RedisConn> {
        let state = self.inner.state.lock();
        if state.down.is_some() {
            return None;
        }
        let manager = state.manager.clone()?;
        Some(RedisConn { manager, generation: state.generation, inner: self.inner.clone() })
    }
}

impl fmt::Debug for RedisHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("RedisHandle")
            .field("addr", &self.inner.client.get_connection_info().addr)
            .field("down", &state.down)
            .finish()
    }
}

impl Inner {
    /// A fresh connection that has answered a `PING`, within the connect + response timeouts.
    async fn try_connect(&self) -> RedisResult<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.opts.connect_timeout)
            .set_response_timeout(self.opts.response_timeout)
            .set_number_of_retries(0);
        let connect = async {
            let mut manager = ConnectionManager::new_with_config(self.client.clone(), config).await?;
            redis::cmd("PING").query_async::<()>(&mut manager).await?;
            Ok(manager)
        };
        let limit = self.opts.connect_timeout + self.opts.response_timeout;
        tokio::time::timeout(limit, connect).await.unwrap_or_else(|_| Err(timed_out(limit)))
    }

    fn install(&self, manager: ConnectionManager) {
        let mut state = self.state.lock();
        state.manager = Some(manager);
        state.generation += 1;
        state.probing = false;
        if state.down.take().is_some() {
            tracing::info!("redis is available");
        }
    }

    /// Marks Redis down after `error` on connection `generation` (`None`: the initial connect), and
    /// starts the reconnect task unless it runs already.
    fn mark_down(self: &Arc<Self>, generation: Option<u64>, error: &RedisError) {
        let mut state = self.state.lock();
        if generation.is_some_and(|g| g != state.generation) {
            return;
        }
        if state.down.is_none() {
            tracing::warn!(error = %error, "redis unavailable; serving without it and retrying every {RETRY_INTERVAL:?}");
        }
        state.down = Some(error.to_string());
        if !state.probing {
            state.probing = true;
            tokio::spawn(reconnect(Arc::downgrade(self)));
        }
    }
}

/// Retries until Redis answers, or until the handle is dropped.
async fn reconnect(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(RETRY_INTERVAL).await;
        let Some(inner) = inner.upgrade() else { return };
        match inner.try_connect().await {
            Ok(manager) => return inner.install(manager),
            Err(e) => {
                tracing::debug!(error = %e, "redis still unavailable");
                inner.state.lock().down = Some(e.to_string());
            }
        }
    }
}

/// Pings Redis every [`HEARTBEAT_INTERVAL`] while it is up, so an outage is noticed (and reported
/// by [`RedisHandle::health`]) without waiting for a request; ends when the handle is dropped.
async fn heartbeat(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
        let Some(inner) = inner.upgrade() else { return };
        // Down: the reconnect task is on it. Up: a failed PING marks the handle down.
        if let Some(mut conn) = (RedisHandle { inner }).conn() {
            let _ = redis::cmd("PING").query_async::<()>(&mut conn).await;
        }
    }
}

/// Whether `e` means Redis cannot serve now (as opposed to a command being wrong).
fn is_outage(e: &RedisError) -> bool {
    e.is_io_error()
        || e.kind() == ErrorKind::ReadOnly
        || matches!(
            e.retry_method(),
            RetryMethod::Reconnect | RetryMethod::ReconnectFromInitialConnections | RetryMethod::WaitAndRetry
        )
}

fn timed_out(limit: Duration) -> RedisError {
    std::io::Error::new(std::io::ErrorKind::TimedOut, format!("no answer within {limit:?}")).into()
}

/// One operation's connection: every command is bounded by the response timeout, and an outage
/// marks the handle down. Usable wherever the `redis` crate takes an async connection
/// (`query_async`, scripts, pipelines).
pub(crate) struct RedisConn {
    manager: ConnectionManager,
    generation: u64,
    inner: Arc<Inner>,
}

impl RedisConn {
    async fn bounded<T>(&self, request: impl Future<Output = RedisResult<T>>) -> RedisResult<T> {
        let limit = self.inner.opts.response_timeout;
        let result = tokio::time::timeout(limit, request).await.unwrap_or_else(|_| Err(timed_out(limit)));
        if let Err(e) = &result {
            if is_outage(e) {
                self.inner.mark_down(Some(self.generation), e);
            }
        }
        result
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut manager = self.manager.clone();
            self.bounded(async move { manager.req_packed_command(cmd).await }).await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut manager = self.manager.clone();
            self.bounded(async move { manager.req_packed_commands(pipeline, offset, count).await }).await
        })
    }

    fn get_db(&self) -> i64 {
        self.manager.get_db()
    }
}

/// One `SCAN MATCH` walk over the keyspace, a batch at a time (never `KEYS`: it blocks Redis).
pub(crate) struct Scan {
    pattern: String,
    cursor: u64,
    done: bool,
}

impl Scan {
    /// How many keys Redis examines per `SCAN` call.
    const BATCH: usize = 1000;

    /// A walk over the keys matching the Redis glob `pattern`.
    pub(crate) fn new(pattern: String) -> Scan {
        Scan { pattern, cursor: 0, done: false }
    }

    /// The next batch of matching keys (possibly empty), or `None` when the walk is complete.
    pub(crate) async fn next_batch(&mut self, conn: &mut RedisConn) -> RedisResult<Option<Vec<String>>> {
        if self.done {
            return Ok(None);
        }
        let (cursor, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(self.cursor)
            .arg("MATCH")
            .arg(&self.pattern)
            .arg("COUNT")
            .arg(Self::BATCH)
            .query_async(conn)
            .await?;
        self.cursor = cursor;
        self.done = cursor == 0;
        Ok(Some(keys))
    }
}

/// The Redis URL for the spec's `REDIS_HOST`, `REDIS_PORT` (default 6379), `REDIS_PASSWORD` (none
/// when empty) and `REDIS_DB` (default 0) variables. The password is percent-encoded and an IPv6
/// host bracketed, so any value gives a valid URL.
pub fn redis_url_from_env_parts(host: &str, port: Option<u16>, password: Option<&str>, db: Option<u32>) -> String {
    let auth = match password.filter(|p| !p.is_empty()) {
        Some(p) => format!(":{}@", percent_encode(p)),
        None => String::new(),
    };
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() };
    format!("redis://{auth}{host}:{}/{}", port.unwrap_or(6379), db.unwrap_or(0))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_from_env_parts() {
        assert_eq!(redis_url_from_env_parts("localhost", None, None, None), "redis://localhost:6379/0");
        assert_eq!(redis_url_from_env_parts("redis", Some(6380), Some(""), Some(2)), "redis://redis:6380/2");
        assert_eq!(redis_url_from_env_parts("::1", None, None, None), "redis://[::1]:6379/0");
        let url = redis_url_from_env_parts("cache.internal", Some(6379), Some("p@ss:w/rd #1"), Some(3));
        assert_eq!(url, "redis://:p%40ss%3Aw%2Frd%20%231@cache.internal:6379/3");
        // The redis crate reads back exactly what the variables said.
        let info = redis::Client::open(url.as_str()).unwrap().get_connection_info().clone();
        assert_eq!(info.redis.password.as_deref(), Some("p@ss:w/rd #1"));
        assert_eq!(info.redis.db, 3);
        assert_eq!(info.addr.to_string(), "cache.internal:6379");
    }

    #[test]
    fn outages_are_told_from_bad_commands() {
        let io = |kind| RedisError::from(std::io::Error::new(kind, "x"));
        assert!(is_outage(&io(std::io::ErrorKind::ConnectionRefused)));
        assert!(is_outage(&io(std::io::ErrorKind::TimedOut)));
        assert!(is_outage(&RedisError::from((ErrorKind::BusyLoadingError, "loading"))));
        assert!(!is_outage(&RedisError::from((ErrorKind::TypeError, "wrong type"))));
        assert!(!is_outage(&RedisError::from((ErrorKind::ResponseError, "ERR syntax"))));
    }
}
