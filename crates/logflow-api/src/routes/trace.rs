//! `/api/v1/trace`: the trace context of the current request.

use crate::request_id::RequestContext;
use crate::AppState;
use axum::routing::get;
use axum::{Json, Router};
use logflow_core::model::format_timestamp;
use serde::Serialize;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/trace/context", get(context))
}

/// The ids of a request, as also sent in its `X-Request-ID` and `X-Correlation-ID` headers.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceContext {
    /// The client's `X-Request-ID` when valid (1..=128 of `[A-Za-z0-9._:-]`), else a new UUID v4.
    pub request_id: String,
    /// The client's `X-Correlation-ID` when valid, else the request id.
    pub correlation_id: String,
    /// Server time, RFC 3339 with microseconds.
    pub timestamp: String,
}

/// Trace context of this request.
///
/// Echoes the request and correlation ids assigned to this very request.
#[utoipa::path(get, path = "/api/v1/trace/context", tag = "trace",
    params(
        ("X-Request-ID" = Option<String>, Header, description = "Request id to use (else one is generated)"),
        ("X-Correlation-ID" = Option<String>, Header, description = "Correlation id to propagate (else the request id)"),
    ),
    responses((status = 200, body = TraceContext)))]
pub async fn context(ctx: RequestContext) -> Json<TraceContext> {
    Json(TraceContext {
        request_id: ctx.request_id,
        correlation_id: ctx.correlation_id,
        timestamp: format_timestamp(&chrono::Utc::now()),
    })
}
