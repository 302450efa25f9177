//! `/api/v1/rate-limits`: what the limiter is tracking, and resets (admin only).

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ratelimit::window_text;
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rate-limits/status", get(status))
        .route("/api/v1/rate-limits/reset/{id}", delete(reset))
        .route("/api/v1/rate-limits/reset-all", delete(reset_all))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BucketLimit {
    pub bucket: String,
    pub limit: u32,
    pub window_seconds: u64,
    /// e.g. `50 per 1 minute`
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrackedKey {
    /// `user:<id>` or `ip:<address>`
    pub identity: String,
    pub bucket: String,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full budget is back.
    pub reset_seconds: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RateLimitStatus {
    pub enabled: bool,
    /// `memory` or `redis`.
    pub backend: &'static str,
    /// healthy, or degraded when Redis is configured but unreachable (limits then count in-process).
    pub health: String,
    pub limits: Vec<BucketLimit>,
    /// Clients that have used some of their budget recently.
    pub keys: Vec<TrackedKey>,
}

/// View rate limit status (admin).
#[utoipa::path(get, path = "/api/v1/rate-limits/status", tag = "rate-limits", security(("bearer" = [])),
    responses(
        (status = 200, body = RateLimitStatus),
        (status = 401, description = "Missing, expired or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn status(State(st): State<AppState>, _admin: AdminUser) -> Json<RateLimitStatus> {
    let limits = st
        .rate_limits
        .limits
        .iter()
        .map(|(bucket, l)| BucketLimit {
            bucket: bucket.clone(),
            limit: l.count,
            window_seconds: l.window.as_secs(),
            description: format!("{} per {}", l.count, window_text(l.window)),
        })
        .collect();
    let mut keys: Vec<TrackedKey> = st
        .limiter
        .status()
        .await
        .into_iter()
        .map(|k| TrackedKey {
            identity: k.identity,
            bucket: k.bucket,
            limit: k.limit,
            remaining: k.remaining,
            reset_seconds: k.reset_after.as_secs_f64(),
        })
        .collect();
    keys.sort_by(|a, b| (&a.identity, &a.bucket).cmp(&(&b.identity, &b.bucket)));
    let health = st.limiter.health();
    Json(RateLimitStatus {
        enabled: st.rate_limits.enabled,
        backend: st.limiter.backend(),
        health: health.status.to_string(),
        limits,
        keys,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetResponse {
    /// Number of counters removed.
    pub reset: usize,
    pub identity: Option<String>,
}

/// Reset one client's limits (admin).
///
/// `id` is an identity as shown by the status endpoint (`user:42`, `ip:203.0.113.9`), or a bare user
/// id (`42`). Every bucket of that client is reset.
#[utoipa::path(delete, path = "/api/v1/rate-limits/reset/{id}", tag = "rate-limits", security(("bearer" = [])),
    params(("id" = String, Path, description = "user:<id>, ip:<address> or a user id")),
    responses(
        (status = 200, body = ResetResponse),
        (status = 400, description = "Not an identity", body = ErrorBody),
        (status = 401, description = "Missing, expired or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn reset(
    State(st): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ResetResponse>> {
    let identity = if id.parse::<i64>().is_ok() {
        format!("user:{id}")
    } else if let Some(ip) = id.strip_prefix("ip:") {
        ip.parse::<std::net::IpAddr>().map_err(|_| ApiError::BadRequest(format!("'{ip}' is not an IP address")))?;
        id.clone()
    } else if id.strip_prefix("user:").is_some_and(|u| u.parse::<i64>().is_ok()) {
        id.clone()
    } else {
        return Err(ApiError::BadRequest(format!(
            "'{id}' is not an identity: use user:<id>, ip:<address> or a user id"
        )));
    };
    let n = st.limiter.reset(&identity).await;
    tracing::info!(%identity, counters = n, "rate limits reset");
    Ok(Json(ResetResponse { reset: n, identity: Some(identity) }))
}

/// Reset all limits (admin).
#[utoipa::path(delete, path = "/api/v1/rate-limits/reset-all", tag = "rate-limits", security(("bearer" = [])),
    responses(
        (status = 200, body = ResetResponse),
        (status = 401, description = "Missing, expired or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn reset_all(State(st): State<AppState>, _admin: AdminUser) -> Json<ResetResponse> {
    let n = st.limiter.reset_all().await;
    tracing::info!(counters = n, "all rate limits reset");
    Json(ResetResponse { reset: n, identity: None })
}
