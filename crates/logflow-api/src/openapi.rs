//! The OpenAPI document, generated from the handlers' annotations; Swagger UI (vendored, no CDN)
//! at `/docs`, the JSON at `/openapi.json`.

use crate::metrics;
use crate::routes::{correlation, health, logs, trace};
use crate::AppState;
use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(title = "LogFlow API", description = "Log aggregation and analysis: ingest, search, metrics, alerts."),
    paths(logs::ingest, logs::search, logs::recent, logs::get_log, health::health, trace::context, trace::log_event,
        correlation::trace, metrics::metrics),
    components(schemas(
        logs::IngestResponse, logs::SearchResponse, logs::LogResponse, health::HealthResponse, trace::TraceContext,
        trace::TraceEventRequest, trace::TraceEventResponse, correlation::CorrelationTrace, correlation::ServiceBreakdown,
        crate::error::ErrorBody, logflow_core::LogRecord, logflow_core::Level
    )),
    tags(
        (name = "logs", description = "Ingest and search logs"),
        (name = "health", description = "Service health"),
        (name = "trace", description = "Request and correlation ids, trace events, correlation traces"),
        (name = "observability", description = "Prometheus metrics"),
    )
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
