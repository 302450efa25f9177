//! `GET /health`: overall status and each component's own state.
//!
//! `services` keeps the spec's flat shape (`{"storage": "healthy", ...}`); `components` adds the
//! details behind each state: `storage` (log index), `queue` (WAL and indexer), `database`
//! (metadata: users, rules, alerts) and `cache` (cache and rate limits, in-process or Redis).
//! Overall: `unhealthy` (HTTP 503) when storage or the database is down, `degraded` when a component
//! is impaired but logs are still accepted and searchable, else `healthy`.

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use logflow_core::model::format_timestamp;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// healthy, degraded or unhealthy
    pub status: &'static str,
    pub timestamp: String,
    pub version: &'static str,
    pub uptime_seconds: u64,
    /// Component name -> healthy | degraded | unhealthy.
    pub services: BTreeMap<&'static str, &'static str>,
    #[schema(value_type = Object)]
    pub components: Value,
}

/// Service health.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Healthy or degraded", body = HealthResponse),
              (status = 503, description = "Unhealthy", body = HealthResponse)))]
pub async fn health(State(st): State<AppState>) -> impl IntoResponse {
    let mut services = BTreeMap::new();
    let mut components = serde_json::Map::new();

    let storage = match st.store.health().await {
        Ok(()) => "healthy",
        Err(e) => {
            components.insert("storage_error".into(), json!(e.to_string()));
            "unhealthy"
        }
    };
    services.insert("storage", storage);
    if let Ok(stats) = st.store.stats().await {
        components.insert(
            "storage".into(),
            json!({"status": storage, "engine": stats.engine, "docs": stats.docs,
                   "bytes_on_disk": stats.bytes_on_disk, "partitions": stats.partitions.len()}),
        );
    }

    let p = st.pipeline.stats();
    let queue =
        if !p.indexer_healthy || p.pending_bytes * 5 >= p.max_pending_bytes * 4 { "degraded" } else { "healthy" };
    services.insert("queue", queue);
    components.insert(
        "queue".into(),
        json!({"status": queue, "engine": "wal", "pending_bytes": p.pending_bytes,
               "max_pending_bytes": p.max_pending_bytes, "committed_lsn": p.committed_lsn,
               "wal_segments": p.wal.segments, "indexer_healthy": p.indexer_healthy}),
    );

    let database = match tokio::time::timeout(std::time::Duration::from_secs(2), st.meta.health()).await {
        Ok(Ok(())) => "healthy",
        Ok(Err(e)) => {
            components.insert("database_error".into(), json!(e.to_string()));
            "unhealthy"
        }
        Err(_) => {
            components.insert("database_error".into(), json!("health check timed out after 2 s"));
            "unhealthy"
        }
    };
    let pool = st.meta.pool_stats();
    services.insert("database", database);
    components.insert(
        "database".into(),
        json!({"status": database, "engine": st.meta.backend(), "connections": pool.size, "idle": pool.idle}),
    );

    // Shared cache and rate limits: in-process is always healthy; Redis that is configured but
    // unreachable is `degraded` (requests are still served, with in-process limits and no cache).
    let (limiter, cache_health) = (st.limiter.health(), st.cache.health());
    let cache = if limiter.is_healthy() && cache_health.is_healthy() { "healthy" } else { "degraded" };
    services.insert("cache", cache);
    components.insert(
        "cache".into(),
        json!({"status": cache, "engine": st.cache.backend(), "detail": cache_health.detail.or(limiter.detail)}),
    );

    let status = if services.values().any(|s| *s == "unhealthy") {
        "unhealthy"
    } else if services.values().any(|s| *s == "degraded") {
        "degraded"
    } else {
        "healthy"
    };
    let code = if status == "unhealthy" { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let body = HealthResponse {
        status,
        timestamp: format_timestamp(&chrono::Utc::now()),
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: st.started.elapsed().as_secs(),
        services,
        components: Value::Object(components),
    };
    (code, Json(body))
}
