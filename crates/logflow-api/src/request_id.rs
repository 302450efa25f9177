//! Request and correlation ids ([`propagate_ids`]).
//!
//! Every response carries `X-Request-ID` (the client's, when valid, else a new UUID v4) and
//! `X-Correlation-ID` (the client's, when valid, else the request id). A valid id is 1 to 128
//! characters of `[A-Za-z0-9._:-]`; anything else is replaced, never echoed, so ids are safe to
//! put in headers and logs.
//!
//! Handlers read both from the request extensions as a [`RequestContext`] (it is also an
//! extractor). The request runs inside a `request` tracing span carrying `method`, `path`,
//! `request_id` and `correlation_id`, so every log line about it can be found by either id; one
//! line per request is logged at completion under the target [`ACCESS_LOG_TARGET`] (silence it
//! with e.g. `LOGFLOW_LOG_LEVEL=info,logflow_api::access=warn`).

use crate::error::ApiError;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
pub const CORRELATION_ID_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

/// Target of the one-line-per-request access log.
pub const ACCESS_LOG_TARGET: &str = "logflow_api::access";

pub use logflow_core::model::{is_valid_id, MAX_ID_LEN};

/// The ids of the request being handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub request_id: String,
    pub correlation_id: String,
}

impl RequestContext {
    /// The context of a request with these headers: the client's valid ids, else new ones.
    pub fn from_headers(headers: &HeaderMap) -> RequestContext {
        let request_id = client_id(headers, &REQUEST_ID_HEADER).unwrap_or_else(new_id);
        let correlation_id = client_id(headers, &CORRELATION_ID_HEADER).unwrap_or_else(|| request_id.clone());
        RequestContext { request_id, correlation_id }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<RequestContext>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("no RequestContext: the request_id middleware is not installed"))
        })
    }
}

/// A new request id: a random UUID v4.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn client_id(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?;
    is_valid_id(v).then(|| v.to_string())
}

/// Middleware: assign the ids, run the request in its tracing span, log its completion and put
/// both ids on the response. Install it outside every layer whose responses should carry them
/// (everything except the JSON error rewriting, which keeps headers).
pub async fn propagate_ids(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let ctx = RequestContext::from_headers(req.headers());
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %ctx.request_id,
        correlation_id = %ctx.correlation_id,
    );
    req.extensions_mut().insert(ctx.clone());
    let mut resp = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            target: ACCESS_LOG_TARGET,
            status = resp.status().as_u16(),
            latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            "request completed"
        );
    });
    let headers = resp.headers_mut();
    // Both ids are valid header values by construction (checked charset, or a UUID).
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.correlation_id) {
        headers.insert(CORRELATION_ID_HEADER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request as HttpRequest, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    #[test]
    fn id_validation() {
        for ok in ["a", "abc-123", "A.b_c:d-e", &"x".repeat(128), "550e8400-e29b-41d4-a716-446655440000"] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in ["", &"x".repeat(129), "has space", "semi;colon", "new\nline", "é", "a/b", "<script>"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }

    fn headers(pairs: &[(&HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn context_from_headers() {
        let ctx = RequestContext::from_headers(&HeaderMap::new());
        assert!(uuid::Uuid::parse_str(&ctx.request_id).is_ok(), "{ctx:?}");
        assert_eq!(ctx.correlation_id, ctx.request_id);

        let ctx = RequestContext::from_headers(&headers(&[(&REQUEST_ID_HEADER, "req-1")]));
        assert_eq!((ctx.request_id.as_str(), ctx.correlation_id.as_str()), ("req-1", "req-1"));

        let ctx =
            RequestContext::from_headers(&headers(&[(&REQUEST_ID_HEADER, "req-1"), (&CORRELATION_ID_HEADER, "tx-9")]));
        assert_eq!((ctx.request_id.as_str(), ctx.correlation_id.as_str()), ("req-1", "tx-9"));

        // Invalid ids are replaced; an invalid correlation id falls back to the request id.
        let ctx = RequestContext::from_headers(&headers(&[
            (&REQUEST_ID_HEADER, "bad id"),
            (&CORRELATION_ID_HEADER, &"c".repeat(300)),
        ]));
        assert!(uuid::Uuid::parse_str(&ctx.request_id).is_ok(), "{ctx:?}");
        assert_eq!(ctx.correlation_id, ctx.request_id);
    }

    #[tokio::test]
    async fn middleware_sets_headers_and_extension() {
        let app: Router = Router::new()
            .route(
                "/ctx",
                get(|ctx: RequestContext| async move { format!("{}|{}", ctx.request_id, ctx.correlation_id) }),
            )
            .layer(axum::middleware::from_fn(propagate_ids));
        let req = HttpRequest::get("/ctx").header("x-request-id", "r-1").header("x-correlation-id", "c-1");
        let resp = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.headers()["x-request-id"], "r-1");
        assert_eq!(resp.headers()["x-correlation-id"], "c-1");
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"r-1|c-1");

        let resp = app.clone().oneshot(HttpRequest::get("/missing").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let rid = resp.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(rid).is_ok());
        assert_eq!(resp.headers()["x-correlation-id"], rid);
    }

    #[tokio::test]
    async fn extractor_without_middleware_is_an_internal_error() {
        let app: Router = Router::new().route("/ctx", get(|_: RequestContext| async { "unreachable" }));
        let resp = app.oneshot(HttpRequest::get("/ctx").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
