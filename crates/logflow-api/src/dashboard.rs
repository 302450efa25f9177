//! The web dashboard: plain HTML, CSS and JavaScript modules from `crates/logflow-api/dashboard/`,
//! embedded at build time (see `build.rs`) and served by the same router as the API.
//!
//! * `index.html` answers every page path ([`PAGES`]); the browser routes between pages itself.
//! * Everything else is under `/assets/<file>`, gzip-compressed when the client accepts it, with a
//!   strong content ETag and `Cache-Control: no-cache`, so a reload revalidates with a 304 and a new
//!   binary is picked up at once.
//! * Every dashboard response carries a strict Content-Security-Policy: only this origin's scripts,
//!   styles and API; no inline script, no framing.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::compression::CompressionLayer;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/dashboard_files.rs"));
}

/// Paths that show the dashboard (history-API routes of the single page app).
pub const PAGES: &[&str] = &["/", "/login", "/explore", "/live", "/trace", "/alerts", "/anomalies"];

/// The policy sent with every dashboard file.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new();
    for page in PAGES {
        r = r.route(page, get(index));
    }
    r.route("/assets/{file}", get(asset)).layer(CompressionLayer::new().gzip(true))
}

/// An embedded file by name: `(contents, etag)`.
pub fn file(name: &str) -> Option<(&'static [u8], &'static str)> {
    embedded::FILES.iter().find(|(n, _, _)| *n == name).map(|(_, bytes, etag)| (*bytes, *etag))
}

/// Names of every embedded file.
pub fn file_names() -> impl Iterator<Item = &'static str> {
    embedded::FILES.iter().map(|(n, _, _)| *n)
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers)
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some((bytes, etag)) = file(name) else {
        return crate::error::ApiError::NotFound(format!("no dashboard file '{name}'")).into_response();
    };
    let mut resp = if headers.get(header::IF_NONE_MATCH).is_some_and(|v| etag_matches(v, etag)) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type(name))], bytes).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_static(etag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

fn etag_matches(header: &HeaderValue, etag: &str) -> bool {
    header.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*"))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_with(path: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        router::<()>().oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
    }

    #[tokio::test]
    async fn every_page_path_serves_the_index_with_a_strict_policy() {
        let (index, _) = file("index.html").expect("index.html is embedded");
        for page in PAGES {
            let resp = get_with(page, &[]).await;
            assert_eq!(resp.status(), StatusCode::OK, "{page}");
            assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(resp.headers()[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            assert_eq!(&body[..], index, "{page}");
        }
    }

    #[tokio::test]
    async fn assets_revalidate_with_their_etag_and_compress() {
        let resp = get_with("/assets/app.js", &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        let etag = resp.headers()[header::ETAG].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
        let again = get_with("/assets/app.js", &[("if-none-match", &etag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let stale = get_with("/assets/app.js", &[("if-none-match", "\"0000000000000000\"")]).await;
        assert_eq!(stale.status(), StatusCode::OK);
        let gz = get_with("/assets/app.js", &[("accept-encoding", "gzip")]).await;
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
    }

    #[tokio::test]
    async fn unknown_assets_are_json_404s() {
        let resp = get_with("/assets/nope.js", &[]).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let resp = get_with("/assets/..%2FCargo.toml", &[]).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("noext"), "application/octet-stream");
        assert!(file_names().any(|n| n == "app.css"));
    }
}
