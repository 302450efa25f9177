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

pub mod error;
pub mod metrics;
pub mod openapi;
pub mod request_id;
pub mod routes;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use logflow_core::ingest::IngestLimits;
use logflow_ingest::Pipeline;
use logflow_store::LogStore;
use metrics::Metrics;
use std::sync::Arc;
use std::time::Instant;
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

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub store: Arc<dyn LogStore>,
    pub config: Arc<ApiConfig>,
    pub started: Instant,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(pipeline: Arc<Pipeline>, config: ApiConfig) -> Self {
        AppState {
            store: pipeline.store().clone(),
            pipeline,
            config: Arc::new(config),
            started: Instant::now(),
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Durably ingest validated records (returns once they are fsynced in the WAL) and count them
    /// in the ingest metrics. Every source goes through here: HTTP ingest, trace events, the demo.
    pub async fn ingest(&self, records: Vec<logflow_core::LogRecord>) -> Result<(), error::ApiError> {
        let tally = metrics::IngestTally::of(&records);
        self.pipeline.ingest(records).await?;
        self.metrics.record_ingested(&tally);
        Ok(())
    }
}

/// The whole application router.
///
/// Layers, innermost first (each `Router::layer` wraps every route and the fallbacks, after
/// routing, so [`axum::extract::MatchedPath`] is known to all of them): body limit, request
/// decompression, HTTP metrics, request/correlation ids with the request's tracing span, and
/// outermost the JSON rewriting of error bodies (which keeps headers, so 404/405/413/415
/// answers carry the ids too).
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    let http_metrics = state.metrics.clone();
    Router::new()
        .merge(routes::health::router())
        .merge(routes::logs::router())
        .merge(routes::trace::router())
        .merge(routes::correlation::router())
        .merge(metrics::router())
        .merge(openapi::router())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state)
        // Decompress first so the body limit applies to the real (decompressed) size.
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(http_metrics, metrics::track_http))
        .layer(axum::middleware::from_fn(request_id::propagate_ids))
        .layer(axum::middleware::map_response(error::json_error_bodies))
}
