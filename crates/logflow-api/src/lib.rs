//! # logflow-api
//!
//! The HTTP API, with one module per resource under [`routes`], each exposing `router()`. Handlers
//! share one [`AppState`]; every error goes through [`error::ApiError`], so every endpoint answers
//! failures with the same JSON shape. OpenAPI is generated from the handlers ([`openapi`]) and served
//! at `/docs` (Swagger UI) and `/openapi.json`.
//!
//! Observability: [`metrics`] (Prometheus at `/metrics`, per-route HTTP metrics) and
//! [`request_id`] (`X-Request-ID` / `X-Correlation-ID` on every response, a tracing span per
//! request, one access log line per request).

pub mod auth;
pub mod dashboard;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
pub mod request_id;
pub mod routes;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use logflow_core::ingest::IngestLimits;
use logflow_ingest::Pipeline;
use logflow_kv::{Cache, RateLimiter};
use logflow_meta::MetaStore;
use logflow_store::LogStore;
use metrics::Metrics;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_http::decompression::RequestDecompressionLayer;

/// Settings the API needs at request time.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub max_body_bytes: usize,
    pub limits: IngestLimits,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { max_body_bytes: 10 << 20, limits: IngestLimits::default() }
    }
}

/// The engines behind the API besides the log pipeline: metadata, auth, rate limiting and cache.
pub struct Services {
    pub meta: Arc<dyn MetaStore>,
    pub auth: Arc<auth::Auth>,
    pub limiter: Arc<dyn RateLimiter>,
    pub rate_limits: ratelimit::RateLimitSettings,
    pub cache: Arc<dyn Cache>,
    pub cache_ttls: CacheTtls,
    pub metrics: Arc<Metrics>,
    /// Live-tail fan-out; the indexer publishes committed logs to it.
    pub tail: Arc<routes::tail::LiveTail>,
}

/// How long each analytics answer is cached (the spec's TTLs by default).
#[derive(Debug, Clone, Copy)]
pub struct CacheTtls {
    pub overview: Duration,
    pub service: Duration,
    pub system: Duration,
    pub timeseries: Duration,
}

impl Default for CacheTtls {
    fn default() -> Self {
        CacheTtls {
            overview: Duration::from_secs(30),
            service: Duration::from_secs(60),
            system: Duration::from_secs(45),
            timeseries: Duration::from_secs(120),
        }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub store: Arc<dyn LogStore>,
    pub config: Arc<ApiConfig>,
    pub started: Instant,
    pub metrics: Arc<Metrics>,
    pub meta: Arc<dyn MetaStore>,
    pub auth: Arc<auth::Auth>,
    pub limiter: Arc<dyn RateLimiter>,
    pub rate_limits: Arc<ratelimit::RateLimitSettings>,
    pub cache: Arc<dyn Cache>,
    pub cache_ttls: CacheTtls,
    /// Accepted logs per second over the last minute (sampled by [`AppState::spawn_samplers`]).
    pub ingest_rate: Arc<metrics::RateMeter>,
    pub tail: Arc<routes::tail::LiveTail>,
}

impl AppState {
    pub fn new(pipeline: Arc<Pipeline>, config: ApiConfig, services: Services) -> Self {
        AppState {
            store: pipeline.store().clone(),
            pipeline,
            config: Arc::new(config),
            started: Instant::now(),
            metrics: services.metrics,
            meta: services.meta,
            auth: services.auth,
            limiter: services.limiter,
            rate_limits: Arc::new(services.rate_limits),
            cache: services.cache,
            cache_ttls: services.cache_ttls,
            ingest_rate: Arc::new(metrics::RateMeter::default()),
            tail: services.tail,
        }
    }

    /// Starts the background sampling behind rate figures (every 5 s, for as long as the
    /// runtime runs).
    pub fn spawn_samplers(&self) -> tokio::task::JoinHandle<()> {
        let st = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                st.ingest_rate.sample(st.pipeline.stats().accepted_records);
            }
        })
    }

    /// Durably ingest validated records (returns once they are fsynced in the WAL) and count them
    /// in the ingest metrics. Every source goes through here: HTTP ingest, trace events, the demo.
    pub async fn ingest(&self, records: Vec<logflow_core::LogRecord>) -> Result<(), error::ApiError> {
        let n = records.len() as u64;
        self.pipeline.ingest(records).await?;
        self.metrics.record_processed(n);
        Ok(())
    }
}

/// The whole application router.
///
/// Layers, innermost first (each `Router::layer` wraps every route and the fallbacks, after
/// routing, so [`axum::extract::MatchedPath`] is known to all of them): body limit, request
/// decompression, rate limits, HTTP metrics, request/correlation ids with the request's tracing span, and
/// outermost the JSON rewriting of error bodies (which keeps headers, so 404/405/413/415
/// answers carry the ids too).
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    let http_metrics = state.metrics.clone();
    let limiter_state = state.clone();
    Router::new()
        .merge(routes::health::router())
        .merge(routes::auth::router())
        .merge(routes::ratelimits::router())
        .merge(routes::alerts::router())
        .merge(routes::analytics::router())
        .merge(routes::anomaly::router())
        .merge(routes::cache::router())
        .merge(routes::logs::router())
        .merge(routes::tail::router())
        .merge(routes::saved_searches::router())
        .merge(routes::trace::router())
        .merge(routes::correlation::router())
        .merge(metrics::router())
        .merge(openapi::router())
        .merge(dashboard::router())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state)
        // Decompress first so the body limit applies to the real (decompressed) size.
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestDecompressionLayer::new())
        // Refuse over-limit requests before their body is read.
        .layer(axum::middleware::from_fn_with_state(limiter_state, ratelimit::enforce))
        .layer(axum::middleware::from_fn_with_state(http_metrics, metrics::track_http))
        .layer(axum::middleware::from_fn(request_id::propagate_ids))
        .layer(axum::middleware::map_response(error::json_error_bodies))
}
