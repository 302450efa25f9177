//! The OpenAPI document, generated from the handlers' annotations; Swagger UI (vendored, no CDN)
//! at `/docs`, the JSON at `/openapi.json`.

use crate::routes::{health, logs};
use crate::AppState;
use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(title = "LogFlow API", description = "Log aggregation and analysis: ingest, search, metrics, alerts."),
    paths(logs::ingest, logs::search, logs::recent, logs::get_log, health::health),
    components(schemas(
        logs::IngestResponse, logs::SearchResponse, logs::LogResponse, health::HealthResponse,
        crate::error::ErrorBody, logflow_core::LogRecord, logflow_core::Level
    )),
    tags((name = "logs", description = "Ingest and search logs"), (name = "health", description = "Service health"))
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
