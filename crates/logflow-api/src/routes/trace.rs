//! `/api/v1/trace`: the trace context of the current request, and custom trace events logged
//! under the request's ids.

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::request_id::RequestContext;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use logflow_core::ingest::parse_item;
use logflow_core::model::format_timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Service name of the logs written by `POST /api/v1/trace/log`.
pub const TRACE_EVENT_SERVICE: &str = "logflow";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/trace/context", get(context))
        .route("/api/v1/trace/debug", get(debug))
        .route("/api/v1/trace/log", post(log_event))
}

/// Headers whose values never appear in debug output.
const REDACTED_HEADERS: &[&str] = &["authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key"];

/// What the server saw of a request, for debugging proxies and clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceDebug {
    pub request_id: String,
    pub correlation_id: String,
    pub method: String,
    /// Path and query as received.
    pub uri: String,
    /// HTTP version, e.g. `HTTP/1.1`.
    pub version: String,
    /// Address of the TCP peer (a proxy, when there is one).
    pub peer_addr: Option<String>,
    /// Request headers; credentials (`Authorization`, `Cookie`, ...) read `[REDACTED]`.
    #[schema(value_type = Object)]
    pub headers: std::collections::BTreeMap<String, Vec<String>>,
    /// The authenticated admin making the request.
    pub user: String,
    pub timestamp: String,
}

/// Debug request information (admin).
///
/// Echoes the request as the server received it, with credential headers redacted.
#[utoipa::path(get, path = "/api/v1/trace/debug", tag = "trace", security(("bearer" = [])),
    responses(
        (status = 200, body = TraceDebug),
        (status = 401, description = "Missing, expired or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn debug(ctx: RequestContext, AdminUser(admin): AdminUser, req: axum::extract::Request) -> Json<TraceDebug> {
    let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
    let mut out: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for (name, value) in req.headers() {
        let shown = if REDACTED_HEADERS.contains(&name.as_str()) {
            "[REDACTED]".to_string()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        out.entry(name.as_str().to_string()).or_default().push(shown);
    }
    Json(TraceDebug {
        request_id: ctx.request_id,
        correlation_id: ctx.correlation_id,
        method: req.method().to_string(),
        uri: req.uri().to_string(),
        version: format!("{:?}", req.version()),
        peer_addr: peer.map(|p| p.to_string()),
        headers: out,
        user: admin.username,
        timestamp: format_timestamp(&chrono::Utc::now()),
    })
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

/// Body of `POST /api/v1/trace/log` (documentation; the handler validates the JSON itself so
/// that every problem is a 400 with the JSON error shape). Other fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TraceEventRequest {
    /// Event name, e.g. `payment_processed`: non-empty, at most the field size limit (256 bytes).
    pub event: String,
    /// Free-form JSON stored as `attributes.details` (default `{}`).
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    /// Level (normalised as on ingest); default INFO.
    pub level: Option<String>,
    /// Log message; default: the event name.
    pub message: Option<String>,
}

/// The stored trace event.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceEventResponse {
    /// Id of the stored log.
    pub id: String,
    pub correlation_id: String,
    pub request_id: String,
    /// Timestamp of the stored log (time of receipt), RFC 3339 with microseconds.
    pub timestamp: String,
}

/// Log custom trace event.
///
/// Stores the event as a log of service `logflow` carrying this request's correlation and request
/// ids, with `attributes.event` and `attributes.details`, so it is found with
/// `query=correlation_id:<X-Correlation-ID>` and in `/api/v1/correlation/trace/{id}`. Goes through
/// the same durable path as `POST /api/v1/logs`: answered once fsynced in the write-ahead log.
#[utoipa::path(post, path = "/api/v1/trace/log", tag = "trace",
    params(
        ("X-Request-ID" = Option<String>, Header, description = "Request id to use (else one is generated)"),
        ("X-Correlation-ID" = Option<String>, Header, description = "Correlation id of the event (else the request id)"),
    ),
    request_body(content = TraceEventRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Stored", body = TraceEventResponse),
        (status = 400, description = "Not a JSON object, missing/empty/non-string event, or an invalid field", body = ErrorBody),
        (status = 413, description = "Body larger than the limit", body = ErrorBody),
        (status = 503, description = "Indexing is behind; retry after the Retry-After header", body = ErrorBody),
    ))]
pub async fn log_event(
    State(st): State<AppState>,
    ctx: RequestContext,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<TraceEventResponse>)> {
    let body = body.map_err(|r| ApiError::from_body_rejection(r, st.config.max_body_bytes))?;
    let map = event_item(&body, &ctx, st.config.limits.max_field_bytes)?;
    let record = parse_item(map, &st.config.limits, chrono::Utc::now()).map_err(ApiError::BadRequest)?;
    let resp = TraceEventResponse {
        id: record.id.clone(),
        correlation_id: ctx.correlation_id,
        request_id: ctx.request_id,
        timestamp: format_timestamp(&record.timestamp),
    };
    st.ingest(vec![record]).await?;
    Ok((StatusCode::CREATED, Json(resp)))
}

/// The ingest item (as `POST /api/v1/logs` would receive it) for a trace event body.
fn event_item(body: &[u8], ctx: &RequestContext, max_event_bytes: usize) -> ApiResult<Map<String, Value>> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(mut body) = value else {
        return Err(ApiError::BadRequest("request body must be a JSON object with an 'event' field".into()));
    };
    let event = match body.remove("event") {
        None | Some(Value::Null) => return Err(ApiError::BadRequest("missing required field 'event'".into())),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(ApiError::BadRequest("field 'event' must not be empty".into()))
        }
        Some(Value::String(s)) => s,
        Some(_) => return Err(ApiError::BadRequest("field 'event' must be a string".into())),
    };
    if event.len() > max_event_bytes {
        return Err(ApiError::BadRequest(format!(
            "field 'event' is {} bytes, above the limit of {max_event_bytes} bytes",
            event.len()
        )));
    }
    let details = match body.remove("details") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v) => v,
    };
    let message = match body.remove("message") {
        None | Some(Value::Null) => Value::String(event.clone()),
        Some(v) => v, // parse_item rejects non-strings and oversized messages
    };
    let mut item = Map::new();
    item.insert("service".into(), TRACE_EVENT_SERVICE.into());
    item.insert("message".into(), message);
    if let Some(level) = body.remove("level").filter(|l| !l.is_null()) {
        item.insert("level".into(), level);
    }
    item.insert("correlation_id".into(), ctx.correlation_id.clone().into());
    item.insert("request_id".into(), ctx.request_id.clone().into());
    let mut attributes = Map::new();
    attributes.insert("event".into(), Value::String(event));
    attributes.insert("details".into(), details);
    item.insert("attributes".into(), Value::Object(attributes));
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logflow_core::ingest::IngestLimits;
    use logflow_core::Level;
    use serde_json::json;

    fn ctx() -> RequestContext {
        RequestContext { request_id: "r-1".into(), correlation_id: "c-1".into() }
    }

    fn parse(body: &str) -> Result<logflow_core::LogRecord, String> {
        let limits = IngestLimits::default();
        let item = event_item(body.as_bytes(), &ctx(), limits.max_field_bytes).map_err(|e| e.to_string())?;
        parse_item(item, &limits, chrono::Utc::now())
    }

    #[test]
    fn event_becomes_a_logflow_log_with_the_request_ids() {
        let r = parse(r#"{"event": "payment_processed", "details": {"amount": 5}}"#).unwrap();
        assert_eq!(r.service, "logflow");
        assert_eq!(r.level, Level::Info);
        assert_eq!(r.message, "payment_processed");
        assert_eq!((r.correlation_id.as_deref(), r.request_id.as_deref()), (Some("c-1"), Some("r-1")));
        assert_eq!(Value::Object(r.attributes), json!({"event": "payment_processed", "details": {"amount": 5}}));

        let r = parse(r#"{"event": "e", "level": "warn", "message": "custom", "extra": 1}"#).unwrap();
        assert_eq!((r.level, r.message.as_str()), (Level::Warning, "custom"));
        assert_eq!(Value::Object(r.attributes), json!({"event": "e", "details": {}}));
    }

    #[test]
    fn bad_bodies_are_rejected() {
        for (body, want) in [
            ("not json", "not valid JSON"),
            ("[1, 2]", "must be a JSON object"),
            ("\"event\"", "must be a JSON object"),
            ("{}", "missing required field 'event'"),
            (r#"{"event": null}"#, "missing required field 'event'"),
            (r#"{"event": "  "}"#, "must not be empty"),
            (r#"{"event": 42}"#, "must be a string"),
            (r#"{"event": "e", "level": "loud"}"#, "unknown level 'loud'"),
            (r#"{"event": "e", "message": {"a": 1}}"#, "field 'message' must be a string"),
        ] {
            let e = parse(body).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
        let long = format!(r#"{{"event": "{}"}}"#, "e".repeat(300));
        assert!(parse(&long).unwrap_err().contains("above the limit"));
    }
}
