//! `/api/v1/cache`: statistics of the analytics cache, and clearing it (admin).

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;
use axum::extract::{Query, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/cache/stats", get(stats)).route("/api/v1/cache/clear", delete(clear))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CacheStatsResponse {
    /// `memory` or `redis`.
    pub backend: &'static str,
    /// healthy, or degraded when Redis is configured but unreachable (answers are then uncached).
    pub status: &'static str,
    /// Hits and misses counted by this server since it started.
    pub hits: u64,
    pub misses: u64,
    /// hits / (hits + misses), 0..1.
    pub hit_rate: f64,
    /// Entries currently cached.
    pub keys: u64,
    /// Memory used: the cache's weight in process, Redis's `used_memory` with Redis.
    pub memory_bytes: Option<u64>,
    /// TTL per endpoint, seconds.
    #[schema(value_type = Object)]
    pub ttl_seconds: serde_json::Value,
}

/// Cache statistics.
#[utoipa::path(get, path = "/api/v1/cache/stats", tag = "cache", responses((status = 200, body = CacheStatsResponse)))]
pub async fn stats(State(st): State<AppState>) -> Json<CacheStatsResponse> {
    let s = st.cache.stats().await;
    let t = st.cache_ttls;
    Json(CacheStatsResponse {
        backend: st.cache.backend(),
        status: st.cache.health().status,
        hits: s.hits,
        misses: s.misses,
        hit_rate: s.hit_rate,
        keys: s.keys,
        memory_bytes: s.memory_bytes,
        ttl_seconds: serde_json::json!({
            "overview": t.overview.as_secs(), "service": t.service.as_secs(),
            "system": t.system.as_secs(), "timeseries": t.timeseries.as_secs(),
        }),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ClearParams {
    /// Glob over cache keys (`*` and `?`), e.g. `metrics:*` or `metrics:service:*`; default `*`.
    pub pattern: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClearResponse {
    pub pattern: String,
    /// Entries removed.
    pub cleared: usize,
}

/// Clear cache entries (admin).
#[utoipa::path(delete, path = "/api/v1/cache/clear", tag = "cache", security(("bearer" = [])), params(ClearParams),
    responses(
        (status = 200, body = ClearResponse),
        (status = 400, description = "Empty or overlong pattern", body = ErrorBody),
        (status = 401, description = "Missing, expired or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn clear(
    State(st): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(p): Query<ClearParams>,
) -> ApiResult<Json<ClearResponse>> {
    let pattern = p.pattern.unwrap_or_else(|| "*".to_string());
    if pattern.trim().is_empty() || pattern.len() > 256 {
        return Err(ApiError::BadRequest("pattern must be 1 to 256 characters, e.g. metrics:*".into()));
    }
    let cleared = st.cache.clear(&pattern).await;
    tracing::info!(%pattern, cleared, admin = %admin.username, "cache cleared");
    Ok(Json(ClearResponse { pattern, cleared }))
}
