//! The one error type every handler returns, mapped to HTTP once, here.
//!
//! Every error body has the same shape: `{"error": "<what went wrong>", "detail": <optional JSON>}`.
//! Server-side failures (500) are logged with their cause and answered without internals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub detail: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    BadRequestWithDetail { message: String, detail: Value },
    /// 401: no credentials, or a token that is malformed, expired, tampered with or of a deleted user.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but the role (or ownership) is not enough.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with the current state (duplicate name, invalid transition).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Unavailable { message: String, retry_after_secs: u64 },
    /// 429 with `Retry-After` (the rate limiter adds its `X-RateLimit-*` headers itself).
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::BadRequestWithDetail { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ApiError {
    /// A request body that could not be read: too large (413, naming `limit`) or broken (400).
    pub fn from_body_rejection(r: axum::extract::rejection::BytesRejection, limit: usize) -> ApiError {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!(
                "request body is larger than the limit of {limit} bytes; split it into smaller batches"
            )),
            _ => ApiError::BadRequest(format!("could not read the request body: {}", r.body_text())),
        }
    }
}

impl From<logflow_store::StoreError> for ApiError {
    fn from(e: logflow_store::StoreError) -> Self {
        match e {
            logflow_store::StoreError::InvalidQuery(m) => ApiError::BadRequest(format!("invalid query: {m}")),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<logflow_meta::MetaError> for ApiError {
    fn from(e: logflow_meta::MetaError) -> Self {
        use logflow_meta::MetaError as E;
        match e {
            E::NotFound => ApiError::NotFound("not found".into()),
            E::Conflict(m) => ApiError::Conflict(m),
            E::InvalidTransition { from, to } => {
                ApiError::Conflict(format!("cannot move an alert from status '{from}' to '{to}'"))
            }
            E::Invalid(m) => ApiError::BadRequest(m),
            E::Unavailable(m) => {
                ApiError::Unavailable { message: format!("metadata database unavailable: {m}"), retry_after_secs: 5 }
            }
            other => ApiError::Internal(anyhow::anyhow!(other)),
        }
    }
}

impl From<logflow_ingest::IngestError> for ApiError {
    fn from(e: logflow_ingest::IngestError) -> Self {
        use logflow_ingest::IngestError as E;
        match e {
            E::Backpressure { retry_after_secs, .. } => {
                ApiError::Unavailable { message: format!("{e}: indexing is behind, slow down"), retry_after_secs }
            }
            E::ShuttingDown => ApiError::Unavailable { message: "server is shutting down".into(), retry_after_secs: 5 },
            E::Wal(w) => ApiError::Internal(anyhow::anyhow!(w)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (error, detail) = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                ("internal server error".to_string(), None)
            }
            ApiError::BadRequestWithDetail { message, detail } => (message.clone(), Some(detail.clone())),
            other => (other.to_string(), None),
        };
        let mut resp = (status, Json(ErrorBody { error, detail })).into_response();
        match self {
            ApiError::Unavailable { retry_after_secs, .. } | ApiError::TooManyRequests { retry_after_secs, .. } => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            ApiError::Unauthorized(_) => {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Last line of defence for the stable error shape: any error response that is not JSON (axum's
/// 405, the decompression layer's 415, an extractor's plain-text rejection) is rewritten as
/// `{"error": ...}`, keeping its status and headers (such as `Allow`).
pub async fn json_error_bodies(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let error = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
    let body = serde_json::to_vec(&ErrorBody { error, detail: None }).expect("serialisable");
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}
