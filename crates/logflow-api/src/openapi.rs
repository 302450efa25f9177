//! The OpenAPI document, generated from the handlers' annotations; Swagger UI (vendored, no CDN)
//! at `/docs`, the JSON at `/openapi.json`.

use crate::metrics;
use crate::routes::{
    alerts, analytics, anomaly, auth, cache, correlation, health, logs, ratelimits, saved_searches, tail, trace,
};
use crate::AppState;
use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(title = "LogFlow API", description = "Log aggregation and analysis: ingest, search, metrics, alerts."),
    paths(logs::ingest, logs::search, logs::recent, logs::get_log, health::health, trace::context, trace::debug,
        trace::log_event, correlation::trace, metrics::metrics, auth::register, auth::login, auth::me, auth::update_me,
        auth::list_users, ratelimits::status, ratelimits::reset, ratelimits::reset_all, analytics::overview,
        analytics::service, analytics::system, analytics::timeseries, cache::stats, cache::clear, anomaly::log_volume,
        anomaly::error_rate, anomaly::report, alerts::create_rule, alerts::list_rules, alerts::get_rule,
        alerts::update_rule, alerts::delete_rule, alerts::list_triggered, alerts::acknowledge, alerts::resolve, tail::tail,
        saved_searches::list, saved_searches::create, saved_searches::remove),
    components(schemas(
        logs::IngestResponse, logs::SearchResponse, logs::LogResponse, health::HealthResponse, trace::TraceContext,
        trace::TraceEventRequest, trace::TraceEventResponse, correlation::CorrelationTrace, correlation::ServiceBreakdown,
        crate::error::ErrorBody, logflow_core::LogRecord, logflow_core::Level, trace::TraceDebug,
        auth::UserResponse, auth::RegisterRequest, auth::LoginRequest, auth::TokenResponse, auth::UpdateMeRequest,
        auth::UserList, ratelimits::RateLimitStatus, ratelimits::BucketLimit, ratelimits::TrackedKey,
        ratelimits::ResetResponse, analytics::Overview, analytics::RangeInfo, analytics::Rates,
        analytics::ServiceSummary, analytics::ErrorGroup, analytics::PartitionInfo, analytics::TimeSeries,
        analytics::Bucket, cache::CacheStatsResponse, cache::ClearResponse, anomaly::ReportResponse,
        anomaly::SeriesSkipped, logflow_anomaly::Anomaly, logflow_anomaly::Severity, logflow_anomaly::AnomalyType,
        logflow_anomaly::Method, alerts::CreateRuleRequest, saved_searches::CreateSavedSearch,
        saved_searches::SavedSearchList
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "logs", description = "Ingest and search logs"),
        (name = "health", description = "Service health"),
        (name = "trace", description = "Request and correlation ids, trace events, correlation traces"),
        (name = "observability", description = "Prometheus metrics"),
        (name = "auth", description = "Users, login (JWT bearer tokens) and roles"),
        (name = "rate-limits", description = "Rate limit status and resets (admin)"),
        (name = "metrics", description = "Analytics over stored logs and the pipeline (cached)"),
        (name = "cache", description = "Analytics cache statistics and clearing"),
        (name = "anomaly", description = "Anomalies in log volume and error rate"),
        (name = "alerts", description = "Alert rules and triggered alerts"),
        (name = "saved-searches", description = "Each user's saved searches (used by the dashboard)"),
    )
)]
pub struct ApiDoc;

/// The `bearer` security scheme (JWT from `POST /api/v1/auth/login`) that protected routes name.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
