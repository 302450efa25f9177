//! Per-endpoint rate limits, enforced by one middleware after routing.
//!
//! Each limited route belongs to a bucket (`search`, `auth_login`, ...) with its own limit (the
//! spec's table by default, overridable in configuration). Requests are counted per user id when
//! they carry a valid token, else per client IP; `X-Forwarded-For` is believed only when the peer is
//! one of the configured trusted proxies. Every limited response carries `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the full budget is back); a
//! refused one is a 429 with `Retry-After` and `{"error": "Rate limit exceeded: N per 1 minute"}`.
//!
//! Not limited: ingest (`POST /api/v1/logs`, `POST /api/v1/trace/log`: shippers get backpressure,
//! 503 + Retry-After, instead), `/health`, `/metrics`, the API docs and anything outside `/api/`.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use logflow_kv::{Decision, Limit};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The buckets and their default limits (the spec's "Rate Limits by Endpoint" table).
pub const DEFAULT_LIMITS: &[(&str, u32, u64)] = &[
    ("default", 100, 60),
    ("search", 50, 60),
    ("recent", 100, 60),
    ("lookup", 200, 60),
    ("auth_login", 20, 3600),
    ("auth_register", 10, 3600),
    ("auth_me", 100, 60),
    ("auth_update", 30, 3600),
    ("auth_users", 50, 60),
    ("metrics", 100, 60),
];

/// Rate limit settings the middleware needs.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Bucket name -> limit; every bucket of [`DEFAULT_LIMITS`] is present.
    pub limits: BTreeMap<String, Limit>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            trusted_proxies: Vec::new(),
            limits: DEFAULT_LIMITS
                .iter()
                .map(|(b, n, secs)| (b.to_string(), Limit { count: *n, window: Duration::from_secs(*secs) }))
                .collect(),
        }
    }
}

/// Parses `"50/minute"`, `"10/hour"`, `"5/second"`, `"1000/day"` (also `min`, `h`, `s`, `d`, and
/// a count of units such as `"100/5minutes"`).
pub fn parse_limit(s: &str) -> Result<Limit, String> {
    let err = || format!("invalid rate limit '{s}': expected COUNT/UNIT such as 50/minute or 10/hour");
    let (count, per) = s.split_once('/').ok_or_else(err)?;
    let count: u32 = count.trim().parse().map_err(|_| err())?;
    if count == 0 {
        return Err(format!("invalid rate limit '{s}': the count must be at least 1"));
    }
    let per = per.trim();
    let digits = per.chars().take_while(char::is_ascii_digit).count();
    let n: u64 = if digits == 0 { 1 } else { per[..digits].parse().map_err(|_| err())? };
    let unit = match per[digits..].trim().trim_end_matches('s') {
        "second" | "sec" | "" if digits > 0 => 1,
        "second" | "sec" => 1,
        "minute" | "min" | "m" => 60,
        "hour" | "h" => 3600,
        "day" | "d" => 86400,
        _ => return Err(err()),
    };
    Ok(Limit { count, window: Duration::from_secs(n * unit) })
}

/// An IP network (`10.0.0.0/8`, `::1/128`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("invalid trusted proxy '{s}': expected an IP address or CIDR like 10.0.0.0/8");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                (a.trim().parse::<IpAddr>().map_err(|_| err())?, Some(p.trim().parse::<u8>().map_err(|_| err())?))
            }
            None => (s.trim().parse::<IpAddr>().map_err(|_| err())?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(err());
        }
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net) as u128, self.prefix, 32) == masked(u32::from(ip) as u128, self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), self.prefix, 128) == masked(u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// The bucket of a route, or `None` when the route is not limited.
pub fn bucket_of(method: &Method, route: Option<&str>, path: &str) -> Option<&'static str> {
    let Some(route) = route else {
        // Unknown paths under the API still count (against probing); everything else is free.
        return path.starts_with("/api/").then_some("default");
    };
    let bucket = match (method.as_str(), route) {
        ("POST", "/api/v1/logs") | ("POST", "/api/v1/trace/log") => return None,
        (_, "/health") | (_, "/metrics") | (_, "/openapi.json") => return None,
        ("POST", "/api/v1/auth/register") => "auth_register",
        ("POST", "/api/v1/auth/login") => "auth_login",
        ("GET", "/api/v1/auth/me") => "auth_me",
        ("PUT", "/api/v1/auth/me") => "auth_update",
        ("GET", "/api/v1/auth/users") => "auth_users",
        ("GET", "/api/v1/logs/search") => "search",
        ("GET", "/api/v1/logs/recent") => "recent",
        ("GET", "/api/v1/logs/{id}") => "lookup",
        (_, r) if r.starts_with("/api/v1/metrics/") => "metrics",
        (_, r) if r.starts_with("/api/") => "default",
        _ => return None,
    };
    Some(bucket)
}

/// The client address: the peer, or, when the peer is a trusted proxy, the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    Some(forwarded.into_iter().rev().map(|ip| ip.to_canonical()).find(|ip| !is_trusted(*ip)).unwrap_or(peer))
}

/// `"1 minute"`, `"1 hour"`, `"5 minutes"`, `"30 seconds"`: the window as the spec's message says it.
pub fn window_text(window: Duration) -> String {
    let secs = window.as_secs();
    let (n, unit) = match secs {
        s if s >= 86400 && s % 86400 == 0 => (s / 86400, "day"),
        s if s >= 3600 && s % 3600 == 0 => (s / 3600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn set_headers(headers: &mut HeaderMap, d: &Decision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(d.reset_after.as_secs_f64().ceil() as u64));
}

/// The middleware.
pub async fn enforce(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let settings = &st.rate_limits;
    if !settings.enabled {
        return next.run(req).await;
    }
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let Some(bucket) = bucket_of(req.method(), route.as_deref(), req.uri().path()) else {
        return next.run(req).await;
    };
    let Some(limit) = settings.limits.get(bucket).or_else(|| settings.limits.get("default")).copied() else {
        return next.run(req).await;
    };
    let identity = match st.auth.user_id_of(req.headers()) {
        Some(uid) => format!("user:{uid}"),
        None => {
            let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
            match client_ip(peer, req.headers(), &settings.trusted_proxies) {
                Some(ip) => format!("ip:{ip}"),
                None => "ip:unknown".to_string(),
            }
        }
    };
    let decision = st.limiter.check(&identity, bucket, limit).await;
    if !decision.allowed {
        let endpoint = route.as_deref().unwrap_or("unmatched");
        st.metrics.rate_limit_exceeded(endpoint);
        tracing::info!(%identity, bucket, "rate limit exceeded");
        let retry = decision.retry_after.unwrap_or(limit.window).as_secs_f64().ceil().max(1.0) as u64;
        let mut resp = ApiError::TooManyRequests {
            message: format!("Rate limit exceeded: {} per {}", limit.count, window_text(limit.window)),
            retry_after_secs: retry,
        }
        .into_response();
        set_headers(resp.headers_mut(), &decision);
        return resp;
    }
    let mut resp = next.run(req).await;
    set_headers(resp.headers_mut(), &decision);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        let l = parse_limit("50/minute").unwrap();
        assert_eq!((l.count, l.window), (50, Duration::from_secs(60)));
        assert_eq!(parse_limit("10/hour").unwrap().window, Duration::from_secs(3600));
        assert_eq!(parse_limit("10 / hours").unwrap().window, Duration::from_secs(3600));
        assert_eq!(parse_limit("5/second").unwrap().window, Duration::from_secs(1));
        assert_eq!(parse_limit("100/5minutes").unwrap().window, Duration::from_secs(300));
        assert_eq!(parse_limit("100/30s").unwrap().window, Duration::from_secs(30));
        assert_eq!(parse_limit("1000/day").unwrap().window, Duration::from_secs(86400));
        for bad in ["", "50", "x/minute", "0/minute", "50/fortnight", "-1/minute"] {
            assert!(parse_limit(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn window_texts_match_the_spec() {
        assert_eq!(window_text(Duration::from_secs(60)), "1 minute");
        assert_eq!(window_text(Duration::from_secs(3600)), "1 hour");
        assert_eq!(window_text(Duration::from_secs(300)), "5 minutes");
        assert_eq!(window_text(Duration::from_secs(90)), "90 seconds");
    }

    #[test]
    fn buckets() {
        let b = |m: Method, r: &str| bucket_of(&m, Some(r), r);
        assert_eq!(b(Method::GET, "/api/v1/logs/search"), Some("search"));
        assert_eq!(b(Method::GET, "/api/v1/logs/{id}"), Some("lookup"));
        assert_eq!(b(Method::POST, "/api/v1/auth/login"), Some("auth_login"));
        assert_eq!(b(Method::PUT, "/api/v1/auth/me"), Some("auth_update"));
        assert_eq!(b(Method::GET, "/api/v1/metrics/overview"), Some("metrics"));
        assert_eq!(b(Method::GET, "/api/v1/alerts/rules"), Some("default"));
        assert_eq!(b(Method::POST, "/api/v1/logs"), None, "ingest has backpressure instead");
        assert_eq!(b(Method::GET, "/health"), None);
        assert_eq!(b(Method::GET, "/metrics"), None);
        assert_eq!(bucket_of(&Method::GET, None, "/api/v1/nope"), Some("default"));
        assert_eq!(bucket_of(&Method::GET, None, "/favicon.ico"), None);
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9, 198.51.100.7, 10.1.2.3"));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // From a trusted proxy: the right-most untrusted hop.
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &h, &trusted), Some(ip("198.51.100.7")));
        // From anyone else the header is ignored.
        assert_eq!(client_ip(Some(ip("192.0.2.1")), &h, &trusted), Some(ip("192.0.2.1")));
        assert_eq!(client_ip(Some(ip("192.0.2.1")), &h, &[]), Some(ip("192.0.2.1")));
        // Mapped IPv4 addresses are canonical.
        assert_eq!(client_ip(Some(ip("::ffff:192.0.2.1")), &HeaderMap::new(), &[]), Some(ip("192.0.2.1")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("0.0.0.0/0".parse::<IpNet>().unwrap().contains(ip("8.8.8.8")));
    }
}
