//! `/api/v1/logs`: durable ingest, search with a search-after cursor, recent logs, lookup by id.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::metrics::BACKEND_TANTIVY;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use logflow_core::ingest::{parse_body, BodyFormat, ItemError};
use logflow_core::query::{self, Query};
use logflow_core::search::{Cursor, SearchRequest, DEFAULT_LIMIT, MAX_LIMIT};
use logflow_core::time::TimeRange;
use logflow_core::{Level, LogRecord};
use serde::Serialize;
use std::time::Instant;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/logs", post(ingest))
        .route("/api/v1/logs/search", get(search))
        .route("/api/v1/logs/recent", get(recent))
        .route("/api/v1/logs/{id}", get(get_log))
}

/// Outcome of an ingest request. `errors` lists each rejected item by its 0-based index.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    pub accepted: usize,
    pub rejected: usize,
    /// Ids of the accepted logs, in request order.
    pub ids: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<ItemError>,
    pub took_ms: f64,
}

/// One page of logs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    /// Logs matching the query and filters (all pages).
    pub total: u64,
    /// Logs in this page.
    pub count: usize,
    pub took_ms: f64,
    pub logs: Vec<LogRecord>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogResponse {
    pub log: LogRecord,
    pub took_ms: f64,
}

fn millis(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// Ingest logs: one JSON object, a JSON array, or NDJSON.
///
/// Answers only once the accepted logs are fsynced in the write-ahead log. 200 when every item was
/// accepted, 207 when some were rejected (see `errors`), 400 when none was.
#[utoipa::path(post, path = "/api/v1/logs", tag = "logs",
    request_body(description = "A log object, an array of them (application/json), or NDJSON lines (application/x-ndjson)",
        content((Object = "application/json"), (String = "application/x-ndjson"))),
    responses(
        (status = 200, description = "All accepted", body = IngestResponse),
        (status = 207, description = "Some items rejected", body = IngestResponse),
        (status = 400, description = "Malformed body or every item rejected", body = ErrorBody),
        (status = 413, description = "Body larger than the limit", body = ErrorBody),
        (status = 415, description = "Unsupported Content-Type", body = ErrorBody),
        (status = 503, description = "Indexing is behind; retry after the Retry-After header", body = ErrorBody),
    ))]
pub async fn ingest(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let body = body.map_err(|r| ApiError::from_body_rejection(r, st.config.max_body_bytes))?;
    let format = body_format(&headers)?;
    let limits = st.config.limits.clone();
    let now = Utc::now();
    // Large bodies are parsed off the async workers so they never stall other requests.
    let parsed = if body.len() > 256 << 10 {
        tokio::task::spawn_blocking(move || parse_body(&body, format, &limits, now))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
    } else {
        parse_body(&body, format, &limits, now)
    };
    let batch = parsed.map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if batch.items() == 0 {
        return Err(ApiError::BadRequest("request body contains no logs".into()));
    }
    if batch.records.is_empty() {
        return Err(ApiError::BadRequestWithDetail {
            message: format!("all {} items were rejected", batch.errors.len()),
            detail: serde_json::json!({ "errors": batch.errors }),
        });
    }
    let ids: Vec<String> = batch.records.iter().map(|r| r.id.clone()).collect();
    let accepted = batch.records.len();
    st.ingest(batch.records).await?;
    let status = if batch.errors.is_empty() { StatusCode::OK } else { StatusCode::MULTI_STATUS };
    let resp =
        IngestResponse { accepted, rejected: batch.errors.len(), ids, errors: batch.errors, took_ms: millis(started) };
    Ok((status, Json(resp)).into_response())
}

fn body_format(headers: &HeaderMap) -> ApiResult<BodyFormat> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BodyFormat::Json);
    };
    let ct = ct.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match ct.as_str() {
        // curl -d sends form-urlencoded by default; the body is sniffed as JSON or NDJSON anyway.
        "application/json" | "application/x-www-form-urlencoded" | "" => Ok(BodyFormat::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonlines"
        | "application/x-jsonlines"
        | "text/plain" => Ok(BodyFormat::Ndjson),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type '{other}' is not supported; use application/json or application/x-ndjson"
        ))),
    }
}

/// Parsed query string of the search endpoints. `service` and `level` may repeat or be
/// comma-separated.
#[derive(Debug, Default)]
pub(crate) struct SearchParams {
    pub query: Option<String>,
    pub services: Vec<String>,
    pub levels: Vec<Level>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub since: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

pub(crate) fn parse_params(raw: Option<String>) -> ApiResult<SearchParams> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}")))?;
    let mut p = SearchParams::default();
    for (key, value) in pairs {
        match key.as_str() {
            "query" | "q" => p.query = Some(value),
            "service" => p.services.extend(split_list(&value).map(str::to_string)),
            "level" => {
                for l in split_list(&value) {
                    p.levels.push(l.parse().map_err(|e: String| {
                        ApiError::BadRequest(format!("{e}; use DEBUG, INFO, WARNING, ERROR or CRITICAL"))
                    })?);
                }
            }
            "start_time" => p.start_time = Some(value),
            "end_time" => p.end_time = Some(value),
            "since" => p.since = Some(value),
            "limit" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| ApiError::BadRequest(format!("limit must be a whole number, got '{value}'")))?;
                if n == 0 || n > MAX_LIMIT {
                    return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}, got {n}")));
                }
                p.limit = Some(n);
            }
            "cursor" | "search_after" => p.cursor = Some(value).filter(|v| !v.is_empty()),
            _ => {} // unknown parameters are ignored, as most log APIs do
        }
    }
    Ok(p)
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// The parsed `query` parameter (`Query::All` when absent); a 400 names the problem and position.
pub(crate) fn parse_query(q: Option<&str>) -> ApiResult<Query> {
    match q {
        Some(q) => query::parse(q).map_err(|e| ApiError::BadRequestWithDetail {
            message: format!("invalid query: {e}"),
            detail: serde_json::json!({ "position": e.position, "query": q }),
        }),
        None => Ok(Query::All),
    }
}

fn build_request(p: SearchParams) -> ApiResult<SearchRequest> {
    let query = parse_query(p.query.as_deref())?;
    let range = TimeRange::from_params(p.start_time.as_deref(), p.end_time.as_deref(), p.since.as_deref(), Utc::now())
        .map_err(ApiError::BadRequest)?;
    let after = p.cursor.as_deref().map(Cursor::decode).transpose().map_err(ApiError::BadRequest)?;
    Ok(SearchRequest {
        query,
        services: p.services,
        levels: p.levels,
        range,
        limit: p.limit.unwrap_or(DEFAULT_LIMIT),
        after,
        count_total: true,
    })
}

async fn run_search(
    st: &AppState,
    operation: &'static str,
    req: SearchRequest,
    started: Instant,
) -> ApiResult<Json<SearchResponse>> {
    let res = st.metrics.time_store_query(operation, BACKEND_TANTIVY, st.store.search(&req)).await?;
    Ok(Json(SearchResponse {
        total: res.total,
        count: res.hits.len(),
        took_ms: millis(started),
        logs: res.hits,
        next_cursor: res.next_cursor,
    }))
}

/// Search logs, newest first.
///
/// `query` uses the LogFlow query language: words, `"phrases"`, `AND`/`OR`/`NOT`, `field:value`,
/// wildcards (`pay*`), ranges (`attributes.latency_ms:>500`), attribute paths
/// (`attributes.user_id:42`). Page with `cursor` (the previous response's `next_cursor`): pages stay
/// exact while logs keep arriving.
#[utoipa::path(get, path = "/api/v1/logs/search", tag = "logs",
    params(
        ("query" = Option<String>, Query, description = "Query string, e.g. `payment AND level:error`"),
        ("service" = Option<String>, Query, description = "Service name; repeat or comma-separate for several"),
        ("level" = Option<String>, Query, description = "DEBUG, INFO, WARNING, ERROR, CRITICAL; repeat or comma-separate"),
        ("start_time" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("end_time" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("since" = Option<String>, Query, description = "Relative start: 15m, 1h, 7d (instead of start_time)"),
        ("limit" = Option<usize>, Query, description = "Page size, 1..=10000, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, body = SearchResponse),
        (status = 400, description = "Malformed query or parameter", body = ErrorBody),
    ))]
pub async fn search(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Json<SearchResponse>> {
    let started = Instant::now();
    let req = build_request(parse_params(raw)?)?;
    run_search(&st, "search", req, started).await
}

/// The most recent logs, optionally filtered by service and level.
#[utoipa::path(get, path = "/api/v1/logs/recent", tag = "logs",
    params(
        ("limit" = Option<usize>, Query, description = "How many, 1..=10000, default 50"),
        ("service" = Option<String>, Query, description = "Service name(s)"),
        ("level" = Option<String>, Query, description = "Level(s)"),
    ),
    responses((status = 200, body = SearchResponse), (status = 400, body = ErrorBody)))]
pub async fn recent(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Json<SearchResponse>> {
    let started = Instant::now();
    let mut p = parse_params(raw)?;
    p.query = None;
    run_search(&st, "recent", build_request(p)?, started).await
}

/// One log by its id.
#[utoipa::path(get, path = "/api/v1/logs/{id}", tag = "logs",
    params(("id" = String, Path, description = "Log id")),
    responses((status = 200, body = LogResponse), (status = 404, body = ErrorBody)))]
pub async fn get_log(
    State(st): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<LogResponse>> {
    let started = Instant::now();
    let Path(id) = id.map_err(|e| ApiError::BadRequest(format!("invalid log id: {}", e.body_text())))?;
    match st.metrics.time_store_query("get", BACKEND_TANTIVY, st.store.get(&id)).await? {
        Some(log) => Ok(Json(LogResponse { log, took_ms: millis(started) })),
        None => Err(ApiError::NotFound(format!("no log with id '{id}'"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_accept_repeats_and_lists() {
        let p = parse_params(Some("service=a,b&service=c&level=warn&level=ERROR,critical&limit=10".into())).unwrap();
        assert_eq!(p.services, ["a", "b", "c"]);
        assert_eq!(p.levels, [Level::Warning, Level::Error, Level::Critical]);
        assert_eq!(p.limit, Some(10));
    }

    #[test]
    fn params_reject_bad_values() {
        for (q, want) in [
            ("limit=0", "between 1 and 10000"),
            ("limit=10001", "between 1 and 10000"),
            ("limit=ten", "whole number"),
            ("level=loud", "unknown level 'loud'"),
        ] {
            let e = parse_params(Some(q.into())).unwrap_err().to_string();
            assert!(e.contains(want), "{q}: {e}");
        }
        let e = build_request(parse_params(Some("query=(a".into())).unwrap()).unwrap_err();
        assert!(e.to_string().starts_with("invalid query"), "{e}");
        let e = build_request(parse_params(Some("cursor=zzz".into())).unwrap()).unwrap_err();
        assert!(e.to_string().contains("invalid cursor"), "{e}");
        let e = build_request(parse_params(Some("since=5x".into())).unwrap()).unwrap_err();
        assert!(e.to_string().contains("not a duration"), "{e}");
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert_eq!(body_format(&h).unwrap(), BodyFormat::Json);
        h.insert(header::CONTENT_TYPE, "application/x-ndjson".parse().unwrap());
        assert_eq!(body_format(&h).unwrap(), BodyFormat::Ndjson);
        h.insert(header::CONTENT_TYPE, "application/json; charset=utf-8".parse().unwrap());
        assert_eq!(body_format(&h).unwrap(), BodyFormat::Json);
        h.insert(header::CONTENT_TYPE, "application/xml".parse().unwrap());
        assert_eq!(body_format(&h).unwrap_err().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
