//! Prometheus metrics: the [`Metrics`] registry shared through [`AppState`], the HTTP middleware
//! that counts and times every request ([`track_http`]), and `GET /metrics`.
//!
//! Names and labels follow the spec's "Prometheus Metrics" section. Counters are registered
//! without their `_total` suffix: the encoder adds it (`http_requests` -> `http_requests_total`).
//!
//! * **Bounded cardinality.** `endpoint` is the route *template* (`/api/v1/logs/{id}`, from axum's
//!   [`MatchedPath`]), never the raw path; requests no route matched count as `unmatched`;
//!   non-standard methods count as `OTHER`. `logs_indexed_total` is keyed by client-supplied
//!   service names, so it keeps at most [`MAX_INDEXED_SERIES`] series and counts the rest under
//!   `service="other"`.
//! * **Families are always described.** prometheus-client skips families without series; every
//!   family here is wrapped in [`Described`] so that features still to come (alerts, cache, auth,
//!   ...) show their `# HELP`/`# TYPE` lines from the start, as dashboards and alert rules expect.
//! * **Scrape-time values.** Process metrics are read from `/proc` (Linux; absent elsewhere) and
//!   the WAL/index gauges from the pipeline and the store, when `/metrics` is requested.
//! * `/metrics` counts itself in `http_requests_total` like any other route.
//!
//! The `elasticsearch_*` families keep the spec's names; `backend` says which engine served the
//! query (`tantivy` for the embedded store).

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use logflow_core::{Level, LogRecord};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the latency histograms: 1 ms .. 10 s.
pub const LATENCY_BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// At most this many `{service, level}` series in `logs_indexed_total`; further services count
/// as `service="other"`.
pub const MAX_INDEXED_SERIES: usize = 1000;

/// `endpoint` of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Backend label of the embedded store.
pub const BACKEND_TANTIVY: &str = "tantivy";

/// Content type of the OpenMetrics text format (served when the scraper asks for it).
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: &'static str,
    pub endpoint: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpDurationLabels {
    pub method: &'static str,
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IndexedLabels {
    pub service: String,
    pub level: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueryLabels {
    pub operation: &'static str,
    pub backend: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub cache_key_prefix: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// A metric whose `# HELP`/`# TYPE` lines are written even while it has no series.
#[derive(Debug)]
struct Described<M>(M);

impl<M: EncodeMetric> EncodeMetric for Described<M> {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }
    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }
    fn is_empty(&self) -> bool {
        false
    }
}

/// Every metric family of the server, and the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<HttpDurationLabels>,
    logs_processed: Counter,
    logs_indexed: Family<IndexedLabels, Counter>,
    /// Series created in `logs_indexed` (the family cannot tell its size).
    logs_indexed_series: AtomicUsize,
    store_queries: Family<QueryLabels, Counter>,
    store_query_duration: HistogramFamily<QueryLabels>,
    alerts_triggered: Family<RuleLabels, Counter>,
    alerts_checked: Counter,
    cache_hits: Family<CacheLabels, Counter>,
    cache_misses: Family<CacheLabels, Counter>,
    database_queries: Family<OperationLabels, Counter>,
    database_connections: Gauge,
    auth_attempts: Family<ResultLabels, Counter>,
    users_registered: Counter,
    rate_limit_exceeded: Family<EndpointLabels, Counter>,
    wal_pending_bytes: Gauge,
    index_docs: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            logs_processed: Counter::default(),
            logs_indexed: Family::default(),
            logs_indexed_series: AtomicUsize::new(0),
            store_queries: Family::default(),
            store_query_duration: Family::new_with_constructor(latency_histogram),
            alerts_triggered: Family::default(),
            alerts_checked: Counter::default(),
            cache_hits: Family::default(),
            cache_misses: Family::default(),
            database_queries: Family::default(),
            database_connections: Gauge::default(),
            auth_attempts: Family::default(),
            users_registered: Counter::default(),
            rate_limit_exceeded: Family::default(),
            wal_pending_bytes: Gauge::default(),
            index_docs: Gauge::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "http_requests",
            "HTTP requests by method, route template and status",
            Described(m.http_requests.clone()),
        );
        r.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route template",
            Described(m.http_duration.clone()),
        );
        r.register(
            "logs_processed",
            "Logs accepted by ingest (durable in the write-ahead log)",
            m.logs_processed.clone(),
        );
        r.register(
            "logs_indexed",
            "Logs accepted for indexing, by service and level",
            Described(m.logs_indexed.clone()),
        );
        r.register(
            "elasticsearch_queries",
            "Log store queries by operation (search, get, recent) and backend",
            Described(m.store_queries.clone()),
        );
        r.register(
            "elasticsearch_query_duration_seconds",
            "Log store query latency by operation and backend",
            Described(m.store_query_duration.clone()),
        );
        r.register("alerts_triggered", "Alerts triggered, by rule", Described(m.alerts_triggered.clone()));
        r.register("alerts_checked", "Alert rule evaluations", m.alerts_checked.clone());
        r.register("cache_hits", "Cache hits by key prefix", Described(m.cache_hits.clone()));
        r.register("cache_misses", "Cache misses by key prefix", Described(m.cache_misses.clone()));
        r.register("database_queries", "Metadata database queries by operation", Described(m.database_queries.clone()));
        r.register("database_connections", "Open metadata database connections", m.database_connections.clone());
        r.register("auth_attempts", "Authentication attempts by result", Described(m.auth_attempts.clone()));
        r.register("users_registered", "Users registered", m.users_registered.clone());
        r.register(
            "rate_limit_exceeded",
            "Requests refused by the rate limiter, by route template",
            Described(m.rate_limit_exceeded.clone()),
        );
        r.register(
            "logflow_wal_pending_bytes",
            "Bytes accepted into the write-ahead log but not yet committed to the index",
            m.wal_pending_bytes.clone(),
        );
        r.register("logflow_index_docs", "Documents in the log index", m.index_docs.clone());
        r.register_collector(Box::new(ProcessCollector));
        Metrics { registry, ..m }
    }

    // ----- HTTP -----

    /// Count and time one HTTP request. `endpoint` must be a route template (or [`UNMATCHED`]).
    pub fn observe_http(&self, method: &Method, endpoint: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        self.http_requests.get_or_create(&HttpLabels { method, endpoint: endpoint.to_string(), status }).inc();
        self.http_duration
            .get_or_create(&HttpDurationLabels { method, endpoint: endpoint.to_string() })
            .observe(elapsed.as_secs_f64());
    }

    // ----- ingest and store -----

    /// `logs_processed_total`: logs accepted (durable in the WAL).
    pub fn record_processed(&self, n: u64) {
        self.logs_processed.inc_by(n);
    }

    /// `logs_indexed_total{service, level}`: logs committed to the index (searchable). Called by
    /// the indexer through the pipeline's hook.
    pub fn record_indexed(&self, records: &[LogRecord]) {
        let mut counts: HashMap<(&str, Level), u64> = HashMap::new();
        for r in records {
            *counts.entry((r.service.as_str(), r.level)).or_default() += 1;
        }
        for ((service, level), n) in counts {
            let mut labels = IndexedLabels { service: service.to_string(), level: level.as_str() };
            if self.logs_indexed.get(&labels).is_none()
                && self.logs_indexed_series.fetch_add(1, Ordering::Relaxed) >= MAX_INDEXED_SERIES
            {
                // Two batches creating the same series at once may both count it: the cap is
                // then reached a little early, never exceeded.
                self.logs_indexed_series.fetch_sub(1, Ordering::Relaxed);
                labels.service = "other".to_string();
            }
            self.logs_indexed.get_or_create(&labels).inc_by(n);
        }
    }

    /// Count and time one log store query (`operation`: search, get, recent).
    pub fn observe_store_query(&self, operation: &'static str, backend: &'static str, elapsed: Duration) {
        let labels = QueryLabels { operation, backend };
        self.store_queries.get_or_create(&labels).inc();
        self.store_query_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// Run a log store call, recording it with [`Metrics::observe_store_query`] (failures too).
    pub async fn time_store_query<F: Future>(&self, operation: &'static str, backend: &'static str, f: F) -> F::Output {
        let started = Instant::now();
        let out = f.await;
        self.observe_store_query(operation, backend, started.elapsed());
        out
    }

    // ----- features still to come: alerts, cache, metadata database, auth, rate limiting -----

    pub fn alert_triggered(&self, rule_name: &str) {
        self.alerts_triggered.get_or_create(&RuleLabels { rule_name: rule_name.to_string() }).inc();
    }

    pub fn alerts_checked(&self, n: u64) {
        self.alerts_checked.inc_by(n);
    }

    pub fn cache_hit(&self, cache_key_prefix: &str) {
        self.cache_hits.get_or_create(&CacheLabels { cache_key_prefix: cache_key_prefix.to_string() }).inc();
    }

    pub fn cache_miss(&self, cache_key_prefix: &str) {
        self.cache_misses.get_or_create(&CacheLabels { cache_key_prefix: cache_key_prefix.to_string() }).inc();
    }

    pub fn database_query(&self, operation: &str) {
        self.database_queries.get_or_create(&OperationLabels { operation: operation.to_string() }).inc();
    }

    /// `result`: e.g. success, failure, locked.
    pub fn auth_attempt(&self, result: &str) {
        self.auth_attempts.get_or_create(&ResultLabels { result: result.to_string() }).inc();
    }

    pub fn user_registered(&self) {
        self.users_registered.inc();
    }

    /// `endpoint` must be a route template, as in `http_requests_total`.
    pub fn rate_limit_exceeded(&self, endpoint: &str) {
        self.rate_limit_exceeded.get_or_create(&EndpointLabels { endpoint: endpoint.to_string() }).inc();
    }

    // ----- exposition -----

    /// Refresh the gauges read at scrape time from the pipeline, the store and the database pool.
    pub async fn refresh(&self, st: &AppState) {
        let p = st.pipeline.stats();
        self.database_connections.set(i64::from(st.meta.pool_stats().size));
        self.wal_pending_bytes.set(i64::try_from(p.pending_bytes).unwrap_or(i64::MAX));
        match st.store.stats().await {
            Ok(s) => {
                self.index_docs.set(i64::try_from(s.docs).unwrap_or(i64::MAX));
            }
            Err(e) => tracing::warn!(error = %e, "metrics: could not read the store's stats"),
        }
    }

    /// The Prometheus text format (0.0.4), or OpenMetrics 1.0 when `openmetrics`.
    pub fn encode(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 << 10);
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        }
        Ok(out)
    }
}

/// The `method` label: the standard methods by name, anything else as `OTHER`.
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Middleware counting and timing every request by route template. Install it with
/// `axum::middleware::from_fn_with_state(metrics, track_http)` via `Router::layer`, so that it
/// runs after routing and sees [`MatchedPath`].
pub async fn track_http(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let endpoint = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let resp = next.run(req).await;
    metrics.observe_http(&method, endpoint.as_deref().unwrap_or(UNMATCHED), resp.status().as_u16(), started.elapsed());
    resp
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Prometheus metrics.
///
/// The Prometheus text format (0.0.4) by default; OpenMetrics 1.0 when the `Accept` header asks
/// for `application/openmetrics-text`.
#[utoipa::path(get, path = "/metrics", tag = "observability",
    responses((status = 200, description = "Metrics in the Prometheus text exposition format",
        content((String = "text/plain"), (String = "application/openmetrics-text")))))]
pub async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    st.metrics.refresh(&st).await;
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    match st.metrics.encode(openmetrics) {
        Ok(body) => {
            let ct = if openmetrics {
                OPENMETRICS_CONTENT_TYPE
            } else {
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE
            };
            ([(header::CONTENT_TYPE, HeaderValue::from_static(ct))], body).into_response()
        }
        Err(e) => crate::error::ApiError::Internal(anyhow::anyhow!("encoding metrics: {e}")).into_response(),
    }
}

/// Process metrics read from `/proc/self` at scrape time (Linux). A value that cannot be read
/// is left out rather than reported as zero.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let p = ProcessStats::read();
        if let Some(v) = p.cpu_seconds {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                c.metric_type(),
            )?)?;
        }
        let gauges = [
            ("process_resident_memory_bytes", "Resident memory size in bytes.", p.resident_bytes),
            ("process_virtual_memory_bytes", "Virtual memory size in bytes.", p.virtual_bytes),
            ("process_open_fds", "Number of open file descriptors.", p.open_fds),
            ("process_max_fds", "Maximum number of open file descriptors.", p.max_fds),
            ("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", p.start_time),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                let g = ConstGauge::new(v);
                g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
            }
        }
        Ok(())
    }
}

/// This process's resource use (Linux `/proc`; `None` where unreadable).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub start_time: Option<f64>,
}

impl ProcessStats {
    pub fn read() -> ProcessStats {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let boot_time = std::fs::read_to_string("/proc/stat").ok().and_then(|s| parse_boot_time(&s));
        let mut p = stat.as_deref().map(|s| parse_stat(s, clock_ticks(), page_size(), boot_time)).unwrap_or_default();
        p.open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count().saturating_sub(1) as f64);
        p.max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|s| parse_max_fds(&s));
        p
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn page_size() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as f64
    } else {
        4096.0
    }
}

/// Parse `/proc/self/stat` (see proc(5)). The command name (field 2) may contain spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str, ticks: f64, page: f64, boot_time: Option<f64>) -> ProcessStats {
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return ProcessStats::default();
    };
    // rest[0] is field 3 (state), so field N is rest[N - 3].
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |field: usize| f.get(field - 3).and_then(|v| v.parse::<f64>().ok());
    let cpu = match (num(14), num(15)) {
        (Some(u), Some(s)) => Some((u + s) / ticks),
        _ => None,
    };
    ProcessStats {
        cpu_seconds: cpu,
        virtual_bytes: num(23),
        resident_bytes: num(24).map(|pages| pages * page),
        start_time: match (num(22), boot_time) {
            (Some(start), Some(boot)) => Some(boot + start / ticks),
            _ => None,
        },
        ..ProcessStats::default()
    }
}

fn parse_boot_time(proc_stat: &str) -> Option<f64> {
    proc_stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

fn parse_max_fds(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// A rate over the last minute from periodic samples of a growing total (e.g. accepted logs).
#[derive(Debug, Default)]
pub struct RateMeter {
    samples: parking_lot::Mutex<std::collections::VecDeque<(Instant, u64)>>,
}

impl RateMeter {
    /// Samples older than this are dropped.
    pub const WINDOW: Duration = Duration::from_secs(60);

    pub fn sample(&self, total: u64) {
        self.sample_at(Instant::now(), total);
    }

    fn sample_at(&self, now: Instant, total: u64) {
        let mut s = self.samples.lock();
        s.push_back((now, total));
        // Keep one sample at or beyond the window's edge so the rate spans the whole minute.
        while s.len() > 2 && s.get(1).is_some_and(|(t, _)| now.duration_since(*t) >= Self::WINDOW) {
            s.pop_front();
        }
    }

    /// Per second between the oldest and newest sample (0 with fewer than two).
    pub fn per_second(&self) -> f64 {
        let s = self.samples.lock();
        match (s.front(), s.back()) {
            (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => {
                n1.saturating_sub(*n0) as f64 / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// `alerts_checked_total` and `alerts_triggered_total{rule_name}` from the alert engine.
impl logflow_alert::EngineObserver for Metrics {
    fn checked(&self, n: u64) {
        self.alerts_checked(n);
    }

    fn triggered(&self, rule_name: &str) {
        self.alert_triggered(rule_name);
    }
}

/// Counts every metadata store operation in `database_queries_total{operation}`.
impl logflow_meta::QueryObserver for Metrics {
    fn query(&self, operation: &'static str) {
        self.database_query(operation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request as HttpRequest, StatusCode};
    use axum::middleware::from_fn_with_state;
    use tower::ServiceExt;

    /// Every family the spec names, as it appears in the 0.0.4 text format.
    const FAMILIES: [(&str, &str); 21] = [
        ("http_requests_total", "counter"),
        ("http_request_duration_seconds", "histogram"),
        ("logs_processed_total", "counter"),
        ("logs_indexed_total", "counter"),
        ("elasticsearch_queries_total", "counter"),
        ("elasticsearch_query_duration_seconds", "histogram"),
        ("alerts_triggered_total", "counter"),
        ("alerts_checked_total", "counter"),
        ("cache_hits_total", "counter"),
        ("cache_misses_total", "counter"),
        ("database_queries_total", "counter"),
        ("database_connections", "gauge"),
        ("auth_attempts_total", "counter"),
        ("users_registered_total", "counter"),
        ("rate_limit_exceeded_total", "counter"),
        ("logflow_wal_pending_bytes", "gauge"),
        ("logflow_index_docs", "gauge"),
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ];

    #[test]
    fn every_family_is_described_before_it_has_series() {
        let text = Metrics::new().encode(false).unwrap();
        for (name, kind) in FAMILIES {
            assert!(text.contains(&format!("# HELP {name} ")), "no HELP for {name}:\n{text}");
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "no TYPE {kind} for {name}:\n{text}");
        }
        let om = Metrics::new().encode(true).unwrap();
        assert!(om.contains("# TYPE http_requests counter\n"), "{om}");
        assert!(om.ends_with("# EOF\n"), "{om}");
    }

    #[test]
    fn recorders_produce_labelled_series() {
        let m = Metrics::new();
        m.observe_http(&Method::GET, "/api/v1/logs/{id}", 404, Duration::from_millis(3));
        m.observe_http(&Method::from_bytes(b"PURGE").unwrap(), UNMATCHED, 404, Duration::from_millis(1));
        m.observe_store_query("search", BACKEND_TANTIVY, Duration::from_millis(2));
        m.alert_triggered("high errors");
        m.alerts_checked(3);
        m.cache_hit("search");
        m.cache_miss("search");
        m.database_query("select");
        m.auth_attempt("success");
        m.user_registered();
        m.rate_limit_exceeded("/api/v1/logs");
        let text = m.encode(false).unwrap();
        for line in [
            r#"http_requests_total{method="GET",endpoint="/api/v1/logs/{id}",status="404"} 1"#,
            r#"http_requests_total{method="OTHER",endpoint="unmatched",status="404"} 1"#,
            r#"http_request_duration_seconds_bucket{method="GET",endpoint="/api/v1/logs/{id}",le="0.005"} 1"#,
            r#"http_request_duration_seconds_bucket{method="GET",endpoint="/api/v1/logs/{id}",le="0.001"} 0"#,
            r#"http_request_duration_seconds_count{method="GET",endpoint="/api/v1/logs/{id}"} 1"#,
            r#"elasticsearch_queries_total{operation="search",backend="tantivy"} 1"#,
            r#"elasticsearch_query_duration_seconds_count{operation="search",backend="tantivy"} 1"#,
            r#"alerts_triggered_total{rule_name="high errors"} 1"#,
            "alerts_checked_total 3",
            r#"cache_hits_total{cache_key_prefix="search"} 1"#,
            r#"cache_misses_total{cache_key_prefix="search"} 1"#,
            r#"database_queries_total{operation="select"} 1"#,
            r#"auth_attempts_total{result="success"} 1"#,
            "users_registered_total 1",
            r#"rate_limit_exceeded_total{endpoint="/api/v1/logs"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
    }

    fn record(service: &str, level: Level) -> LogRecord {
        let mut m = serde_json::Map::new();
        m.insert("service".into(), service.into());
        m.insert("message".into(), "m".into());
        m.insert("level".into(), level.as_str().into());
        logflow_core::ingest::parse_item(m, &Default::default(), chrono::Utc::now()).unwrap()
    }

    #[test]
    fn indexed_logs_count_by_service_and_level() {
        let m = Metrics::new();
        let recs = vec![record("a", Level::Error), record("a", Level::Error), record("b", Level::Info)];
        m.record_processed(3);
        m.record_indexed(&recs);
        m.record_processed(1);
        m.record_indexed(&recs[..1]);
        let text = m.encode(false).unwrap();
        assert!(text.contains("logs_processed_total 4\n"), "{text}");
        assert!(text.contains("logs_indexed_total{service=\"a\",level=\"ERROR\"} 3\n"), "{text}");
        assert!(text.contains("logs_indexed_total{service=\"b\",level=\"INFO\"} 1\n"), "{text}");
    }

    #[test]
    fn indexed_series_are_capped() {
        let m = Metrics::new();
        for i in 0..MAX_INDEXED_SERIES + 50 {
            m.record_indexed(&[record(&format!("svc-{i}"), Level::Info)]);
        }
        // A service already tracked keeps its own series.
        m.record_indexed(&[record("svc-0", Level::Info)]);
        let text = m.encode(false).unwrap();
        let series = text.lines().filter(|l| l.starts_with("logs_indexed_total{")).count();
        assert_eq!(series, MAX_INDEXED_SERIES + 1, "the cap plus service=\"other\"");
        assert!(text.contains("logs_indexed_total{service=\"other\",level=\"INFO\"} 50\n"));
        assert!(text.contains("logs_indexed_total{service=\"svc-0\",level=\"INFO\"} 2\n"));
    }

    #[tokio::test]
    async fn middleware_labels_by_route_template() {
        let m = Arc::new(Metrics::new());
        let app: Router = Router::new()
            .route("/items/{id}", get(|| async { "ok" }))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .layer(from_fn_with_state(m.clone(), track_http));
        for path in ["/items/1", "/items/2", "/items/abc", "/nowhere/1", "/nowhere/2"] {
            let _ = app.clone().oneshot(HttpRequest::get(path).body(Body::empty()).unwrap()).await.unwrap();
        }
        let resp = app.clone().oneshot(HttpRequest::post("/items/3").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        let text = m.encode(false).unwrap();
        for line in [
            r#"http_requests_total{method="GET",endpoint="/items/{id}",status="200"} 3"#,
            r#"http_requests_total{method="GET",endpoint="unmatched",status="404"} 2"#,
            r#"http_requests_total{method="POST",endpoint="/items/{id}",status="405"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        assert!(!text.contains("abc") && !text.contains("/nowhere"), "{text}");
    }

    #[test]
    fn proc_stat_parsing() {
        // Field 2 with spaces and a parenthesis; utime 150, stime 50, starttime 1000, vsize, rss.
        let mut fields = vec!["0"; 50];
        fields[14 - 3] = "150";
        fields[15 - 3] = "50";
        fields[22 - 3] = "1000";
        fields[23 - 3] = "8192000";
        fields[24 - 3] = "10";
        let stat = format!("4242 (weird ) name) {}", fields.join(" "));
        let p = parse_stat(&stat, 100.0, 4096.0, Some(1_700_000_000.0));
        assert_eq!(p.cpu_seconds, Some(2.0));
        assert_eq!(p.resident_bytes, Some(40960.0));
        assert_eq!(p.virtual_bytes, Some(8192000.0));
        assert_eq!(p.start_time, Some(1_700_000_010.0));
        assert_eq!(parse_boot_time("cpu 1 2 3\nbtime 1700000000\nprocesses 5\n"), Some(1_700_000_000.0));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024.0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_are_read_on_linux() {
        let p = ProcessStats::read();
        assert!(p.resident_bytes.unwrap() > 0.0);
        assert!(p.open_fds.unwrap() >= 3.0, "{p:?}");
        assert!(p.cpu_seconds.is_some() && p.max_fds.is_some());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let start = p.start_time.unwrap();
        assert!(start <= now + 1.0 && start > now - 86400.0 * 365.0, "start {start} now {now}");
    }

    #[test]
    fn rate_meter_spans_the_last_minute() {
        let m = RateMeter::default();
        assert_eq!(m.per_second(), 0.0);
        let t0 = Instant::now();
        m.sample_at(t0, 0);
        m.sample_at(t0 + Duration::from_secs(10), 500);
        assert_eq!(m.per_second(), 50.0);
        for i in 2..=20u64 {
            m.sample_at(t0 + Duration::from_secs(10 * i), 500 + (i - 1) * 100);
        }
        // Only the last minute (plus one edge sample) is kept: 10 per second lately.
        assert_eq!(m.per_second(), 10.0);
        assert!(m.samples.lock().len() <= 8);
    }
}
