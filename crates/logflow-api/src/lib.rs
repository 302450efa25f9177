//! # logflow-api
//!
//! The HTTP API, with one module per resource under [`routes`], each exposing `router()`. Handlers
//! share one [`AppState`]; every error goes through [`error::ApiError`], so every endpoint answers
//! failures with the same JSON shape. OpenAPI is generated from the handlers ([`openapi`]) and served
//! at `/docs` (Swagger UI) and `/openapi.json`.

pub mod error;
pub mod openapi;
pub mod routes;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use logflow_core::ingest::IngestLimits;
use logflow_ingest::Pipeline;
use logflow_store::LogStore;
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
}

impl AppState {
    pub fn new(pipeline: Arc<Pipeline>, config: ApiConfig) -> Self {
        AppState { store: pipeline.store().clone(), pipeline, config: Arc::new(config), started: Instant::now() }
    }
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .merge(routes::health::router())
        .merge(routes::logs::router())
        .merge(openapi::router())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state)
        // Decompress first so the body limit applies to the real (decompressed) size.
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::map_response(error::json_error_bodies))
}
