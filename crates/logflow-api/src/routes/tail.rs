//! `GET /api/v1/logs/tail`: live tail over Server-Sent Events.
//!
//! The indexer publishes every committed log to [`LiveTail`] (a bounded broadcast ring, one slot a
//! log); each subscriber filters with the same query language as search, evaluated in memory by
//! [`Matcher`] (which mirrors the store's semantics), and receives one `log` event a match. A
//! subscriber that falls more than [`RING_CAPACITY`] logs behind loses the oldest and is told how
//! many with a `lagged` event, so a slow browser never holds memory on the server.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::logs::{parse_params, parse_query};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::stream::{self, StreamExt};
use logflow_core::matcher::Matcher;
use logflow_core::LogRecord;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Logs buffered for the slowest subscriber before it starts losing the oldest.
pub const RING_CAPACITY: usize = 8192;
/// Concurrent tails the server accepts; more get a 503 with Retry-After.
pub const MAX_SUBSCRIBERS: usize = 64;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/logs/tail", get(tail))
}

/// Fan-out of newly indexed logs to live-tail subscribers.
pub struct LiveTail {
    tx: broadcast::Sender<Arc<LogRecord>>,
    closed: watch::Sender<bool>,
    subscribers: AtomicUsize,
    max_subscribers: usize,
}

impl Default for LiveTail {
    fn default() -> Self {
        Self::new(RING_CAPACITY, MAX_SUBSCRIBERS)
    }
}

impl LiveTail {
    pub fn new(capacity: usize, max_subscribers: usize) -> Self {
        LiveTail {
            tx: broadcast::channel(capacity).0,
            closed: watch::channel(false).0,
            subscribers: AtomicUsize::new(0),
            max_subscribers,
        }
    }

    /// Called by the indexer with each committed batch; costs nothing while nobody tails.
    pub fn publish(&self, records: &[LogRecord]) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        for r in records {
            // An error only means the last subscriber left meanwhile.
            let _ = self.tx.send(Arc::new(r.clone()));
        }
    }

    /// Ends every open stream (graceful shutdown waits for open connections).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Open tails.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }

    fn subscribe(self: &Arc<Self>) -> Option<Subscription> {
        let mut n = self.subscribers.load(Ordering::Relaxed);
        loop {
            if n >= self.max_subscribers {
                return None;
            }
            match self.subscribers.compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        Some(Subscription { rx: self.tx.subscribe(), closed: self.closed.subscribe(), tail: self.clone() })
    }
}

/// One subscriber's receiver; gives its slot back when the client goes away.
struct Subscription {
    rx: broadcast::Receiver<Arc<LogRecord>>,
    closed: watch::Receiver<bool>,
    tail: Arc<LiveTail>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.tail.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Subscription {
    /// The next event for this subscriber, or `None` once the server shuts down.
    async fn next(&mut self, matcher: &Matcher) -> Option<Event> {
        loop {
            if *self.closed.borrow() {
                return None;
            }
            tokio::select! {
                _ = self.closed.changed() => return None,
                got = self.rx.recv() => match got {
                    Ok(rec) if matcher.matches(&rec) => return Some(log_event(&rec)),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        return Some(Event::default().event("lagged").data(format!("{{\"dropped\":{n}}}")))
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    }
}

fn log_event(rec: &LogRecord) -> Event {
    // A LogRecord always serialises; the fallback keeps the stream alive regardless.
    let data = serde_json::to_string(rec).unwrap_or_else(|_| "{}".into());
    Event::default().event("log").id(rec.id.clone()).data(data)
}

/// Stream logs as they are indexed.
///
/// Server-Sent Events (`text/event-stream`, e.g. the browser's `EventSource`). Takes the same
/// `query`, `service` and `level` parameters as search (time parameters are ignored: a tail shows
/// what arrives from now on). Events: `log` (one matching log as JSON, the event id is the log id)
/// and `lagged` (`{"dropped": N}`: the client read too slowly and N logs were skipped). A comment
/// is sent every 15 s to keep proxies from closing an idle stream.
#[utoipa::path(get, path = "/api/v1/logs/tail", tag = "logs",
    params(
        ("query" = Option<String>, Query, description = "Query string, as for search"),
        ("service" = Option<String>, Query, description = "Service name(s)"),
        ("level" = Option<String>, Query, description = "Level(s)"),
    ),
    responses(
        (status = 200, description = "An event stream of `log` and `lagged` events", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed query or parameter", body = ErrorBody),
        (status = 503, description = "Too many open tails; retry after the Retry-After header", body = ErrorBody),
    ))]
pub async fn tail(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let p = parse_params(raw)?;
    let query = parse_query(p.query.as_deref())?;
    let matcher = Matcher::new(&query, &p.services, &p.levels);
    let Some(sub) = st.tail.subscribe() else {
        return Err(ApiError::Unavailable {
            message: format!("too many live tails open (at most {})", st.tail.max_subscribers),
            retry_after_secs: 5,
        });
    };
    // A first comment puts the response head on the wire at once, so the client knows the
    // stream is open even when nothing matches for a while.
    let opened = stream::once(async { Ok::<_, Infallible>(Event::default().comment("tail open")) });
    let events = opened.chain(stream::unfold((sub, matcher), |(mut sub, matcher)| async move {
        let ev = sub.next(&matcher).await?;
        Some((Ok::<_, Infallible>(ev), (sub, matcher)))
    }));
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    // Proxies (nginx) must not buffer the stream.
    Ok(([(header::CACHE_CONTROL, "no-cache"), (header::HeaderName::from_static("x-accel-buffering"), "no")], sse)
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use logflow_core::query::Query;
    use logflow_core::Level;

    fn rec(id: &str, service: &str, level: Level) -> LogRecord {
        serde_json::from_value(serde_json::json!({
            "id": id, "timestamp": Utc::now().to_rfc3339(), "service": service,
            "level": level.to_string(), "message": format!("hello from {service}"),
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn subscribers_get_matching_logs_in_order() {
        let tail = Arc::new(LiveTail::new(16, 4));
        tail.publish(&[rec("early", "a", Level::Info)]); // nobody listens: dropped
        let mut sub = tail.subscribe().unwrap();
        let m = Matcher::new(&Query::All, &["a".to_string()], &[]);
        tail.publish(&[rec("1", "a", Level::Info), rec("2", "b", Level::Info), rec("3", "a", Level::Error)]);
        for want in ["1", "3"] {
            let ev = format!("{:?}", sub.next(&m).await.unwrap());
            assert!(ev.contains(&format!("\\\"id\\\":\\\"{want}\\\"")), "{ev}");
        }
        tail.close();
        assert!(sub.next(&m).await.is_none(), "a closed tail ends the stream");
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_what_it_lost() {
        let tail = Arc::new(LiveTail::new(4, 4));
        let mut sub = tail.subscribe().unwrap();
        let batch: Vec<_> = (0..10).map(|i| rec(&i.to_string(), "a", Level::Info)).collect();
        tail.publish(&batch);
        let ev = format!("{:?}", sub.next(&Matcher::new(&Query::All, &[], &[])).await.unwrap());
        assert!(ev.contains("lagged") && ev.contains("{\\\"dropped\\\":6}"), "{ev}");
    }

    #[tokio::test]
    async fn subscriber_slots_are_bounded_and_given_back() {
        let tail = Arc::new(LiveTail::new(4, 2));
        let a = tail.subscribe().unwrap();
        let _b = tail.subscribe().unwrap();
        assert!(tail.subscribe().is_none());
        assert_eq!(tail.subscribers(), 2);
        drop(a);
        assert!(tail.subscribe().is_some());
    }
}
