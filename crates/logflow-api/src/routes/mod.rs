//! One module per API resource, each exposing `router()`.

pub mod alerts;
pub mod analytics;
pub mod anomaly;
pub mod auth;
pub mod cache;
pub mod correlation;
pub mod health;
pub mod logs;
pub mod ratelimits;
pub mod saved_searches;
pub mod tail;
pub mod trace;

use crate::error::ApiError;
use axum::http::Uri;

/// Parses a JSON request body into `T`, with a 400 naming the problem.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> crate::error::ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))
}

/// JSON 404 for every unknown path, so clients always get the stable error shape.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// JSON 405 for a known path with the wrong method (axum adds the `Allow` header).
pub async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
