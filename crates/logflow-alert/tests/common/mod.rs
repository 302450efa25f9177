//! The test bench: a real tantivy log store and a real metadata store (SQLite in a temp dir, or
//! a fresh PostgreSQL database), known logs at known instants, rules created through the
//! validator, and local HTTP endpoints for webhooks: a receiver, a redirector, and a tap that
//! counts connections.

#![allow(dead_code)] // Each test target uses its own part of the bench.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use logflow_alert::{validate_new_rule, Engine, EngineConfig, RetryPolicy, TargetPolicy};
use logflow_core::{Level, LogRecord};
use logflow_meta::{AlertRule, MetaStore, NewAlertRule, OpenOptions, TriggeredAlert, TriggeredFilter};
use logflow_store::tantivy_engine::{TantivyStore, WriterConfig};
use serde_json::{json, Value};

/// The instant most tests evaluate at.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 24, 12, 0, 0).unwrap()
}

pub fn mins(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

pub fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

/// A log at `at`.
pub fn log(id: &str, at: DateTime<Utc>, service: &str, level: Level, message: &str) -> LogRecord {
    LogRecord {
        id: id.to_string(),
        timestamp: at,
        service: service.to_string(),
        level,
        message: message.to_string(),
        host: None,
        correlation_id: None,
        request_id: None,
        trace_id: None,
        span_id: None,
        attributes: Default::default(),
    }
}

/// A quick engine: tiny retry delays, short timeouts, no default cooldown.
pub fn config() -> EngineConfig {
    EngineConfig {
        check_interval: Duration::from_secs(60),
        default_cooldown: Duration::ZERO,
        public_url: "http://logflow.test:8000/".to_string(),
        smtp: None,
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        notify_timeout: Duration::from_secs(5),
        notify_targets: TargetPolicy::default(),
    }
}

pub struct Bench {
    _dir: tempfile::TempDir,
    pub logs: TantivyStore,
    pub meta: Arc<dyn MetaStore>,
    lsn: Mutex<u64>,
}

impl Bench {
    /// Both stores in a fresh temp dir (metadata in SQLite).
    pub async fn new() -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("meta.db").display());
        let meta = logflow_meta::open(&url, OpenOptions::default()).await.unwrap();
        Bench::with_meta(dir, meta)
    }

    /// A log store in `dir` and the given metadata store.
    pub fn with_meta(dir: tempfile::TempDir, meta: Arc<dyn MetaStore>) -> Bench {
        let logs =
            TantivyStore::open(&dir.path().join("index"), WriterConfig { heap_bytes: 20 << 20, ..Default::default() })
                .unwrap();
        Bench { _dir: dir, logs, meta, lsn: Mutex::new(0) }
    }

    /// Stores `records`, committed and searchable.
    pub fn add(&self, records: &[LogRecord]) {
        let mut lsn = self.lsn.lock().unwrap();
        *lsn += 1;
        self.logs.add_blocking(*lsn, records).unwrap();
        self.logs.commit_blocking(*lsn).unwrap();
    }

    pub fn engine(&self, cfg: EngineConfig) -> Arc<Engine> {
        Arc::new(Engine::new(self.meta.clone(), Arc::new(self.logs.clone()), cfg, None).unwrap())
    }

    /// Creates a rule from [`base_rule`] with `changes`, after checking that the API would
    /// accept it.
    pub async fn rule(&self, changes: Value) -> AlertRule {
        let rule = rule_fields(changes);
        validate_new_rule(&rule).unwrap_or_else(|e| panic!("{rule:?}: {e}"));
        self.meta.create_rule(rule).await.unwrap()
    }

    /// The rule's alerts, newest first.
    pub async fn alerts(&self, rule_id: i64) -> Vec<TriggeredAlert> {
        self.meta.list_triggered(TriggeredFilter { rule_id: Some(rule_id), ..Default::default() }).await.unwrap()
    }

    pub async fn rule_now(&self, rule_id: i64) -> AlertRule {
        self.meta.get_rule(rule_id).await.unwrap().unwrap()
    }
}

/// A threshold rule on ERROR logs of payment-service over 5 minutes, > 5, console channel.
pub fn base_rule() -> Value {
    json!({
        "name": "payment errors",
        "description": null,
        "rule_type": "threshold",
        "condition": "greater_than",
        "threshold": 5.0,
        "time_window": 5,
        "levels": ["ERROR"],
        "services": ["payment-service"],
        "query": null,
        "anomaly": null,
        "notification_channel": "console",
        "notification_config": {},
        "is_active": true,
        "cooldown_minutes": null,
        "created_by": null
    })
}

/// [`base_rule`] with the fields of `changes` replaced.
pub fn rule_fields(changes: Value) -> NewAlertRule {
    let mut value = base_rule();
    for (k, v) in changes.as_object().expect("changes are an object") {
        value[k] = v.clone();
    }
    serde_json::from_value(value).unwrap()
}

/// What the receiver does with a request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Never answers.
    Hang,
}

/// A local HTTP endpoint (`POST /hook`) that records every request and answers from a script
/// (200 once the script is used up).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
}

#[derive(Default)]
struct ReceiverState {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<(HeaderMap, Value)>>,
}

impl Receiver {
    pub async fn start(script: Vec<Reply>) -> Receiver {
        let state = Arc::new(ReceiverState { script: Mutex::new(script.into()), ..Default::default() });
        let app = Router::new().route("/hook", post(hook)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, state }
    }

    /// Every request's headers and JSON body, in arrival order.
    pub fn requests(&self) -> Vec<(HeaderMap, Value)> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.requests().into_iter().map(|(_, body)| body).collect()
    }
}

async fn hook(State(state): State<Arc<ReceiverState>>, headers: HeaderMap, Json(body): Json<Value>) -> StatusCode {
    state.requests.lock().unwrap().push((headers, body));
    let reply = state.script.lock().unwrap().pop_front().unwrap_or(Reply::Status(200));
    match reply {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK
        }
    }
}

/// A local endpoint answering every request with a redirect (`status`) to `to`; its URL.
pub async fn redirector(status: u16, to: &str) -> String {
    let to = to.to_string();
    let app = Router::new().fallback(move || async move { (StatusCode::from_u16(status).unwrap(), [(LOCATION, to)]) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A local TCP listener that counts the connections it accepts and closes them unanswered: proof
/// that nothing was sent its way.
pub struct Tap {
    pub port: u16,
    connections: Arc<AtomicUsize>,
}

impl Tap {
    pub async fn start() -> Tap {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        Tap { port, connections }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}
