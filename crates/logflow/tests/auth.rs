//! Users, login, tokens and roles, through the real binary, on SQLite and on PostgreSQL.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Instant;

const SECRET: &str = "integration-test-secret-0123456789";

fn start(envs: &[(&str, &str)]) -> (tempfile::TempDir, Server) {
    let dir = tempdir();
    let mut all = vec![("SECRET_KEY", SECRET)];
    all.extend_from_slice(envs);
    let server = Server::start(dir.path(), &all);
    (dir, server)
}

/// A fresh PostgreSQL database for one test, or `None` (skip) when there is none locally.
fn pg() -> Option<logflow_testkit::PgDatabase> {
    tokio::runtime::Runtime::new().unwrap().block_on(logflow_testkit::pg_database())
}

/// The spec's curl walkthrough, then every user-facing rule of the auth endpoints.
fn auth_flow(base: &str) {
    // 1. Register (the spec's example body).
    let alice = json!({"username": "alice", "email": "alice@example.com", "password": "secure123",
                       "full_name": "Alice Smith"});
    let r = call("POST", base, "/api/v1/auth/register", None, Some(&alice));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["username"], "alice");
    assert_eq!(r.json["role"], "user");
    assert!(r.json.get("hashed_password").is_none() && !r.text.contains("argon2"), "hash leaked: {}", r.text);
    let r = call("POST", base, "/api/v1/auth/register", None, Some(&alice));
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.error().contains("username"), "{}", r.text);
    let same_email = json!({"username": "alice2", "email": "alice@example.com", "password": "secure123"});
    assert_eq!(call("POST", base, "/api/v1/auth/register", None, Some(&same_email)).status, 409);

    // 2. Login with the OAuth2 form, and with JSON.
    let r = login(base, "alice", "secure123");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["token_type"], "bearer");
    assert_eq!(r.json["expires_in"], 30 * 60);
    let token = r.json["access_token"].as_str().unwrap().to_string();
    let r =
        call("POST", base, "/api/v1/auth/login", None, Some(&json!({"username": "alice", "password": "secure123"})));
    assert_eq!(r.status, 200, "{}", r.text);

    // 3. Use the token.
    let r = call("GET", base, "/api/v1/auth/me", Some(&token), None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["email"], "alice@example.com");
    assert_eq!(r.json["full_name"], "Alice Smith");
    assert!(r.json["last_login"].is_string(), "login time recorded: {}", r.text);

    // Wrong password and unknown user: the same answer.
    let wrong = login(base, "alice", "secure124");
    let unknown = login(base, "nobody", "secure123");
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.error(), unknown.error());
    assert_eq!(wrong.header("www-authenticate").as_deref(), Some("Bearer"));

    // Profile update; the password needs the current one.
    let r = call("PUT", base, "/api/v1/auth/me", Some(&token), Some(&json!({"full_name": "Alice S."})));
    assert_eq!((r.status, r.json["full_name"].as_str()), (200, Some("Alice S.")), "{}", r.text);
    let r = call("PUT", base, "/api/v1/auth/me", Some(&token), Some(&json!({"password": "newpass456"})));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("current_password"), "{}", r.text);
    let body = json!({"password": "newpass456", "current_password": "wrong1234"});
    assert_eq!(call("PUT", base, "/api/v1/auth/me", Some(&token), Some(&body)).status, 403);
    let body = json!({"password": "short", "current_password": "secure123"});
    let r = call("PUT", base, "/api/v1/auth/me", Some(&token), Some(&body));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("at least 8"), "{}", r.text);
    let body = json!({"password": "newpass456", "current_password": "secure123"});
    assert_eq!(call("PUT", base, "/api/v1/auth/me", Some(&token), Some(&body)).status, 200);
    assert_eq!(login(base, "alice", "secure123").status, 401, "old password no longer works");
    let token = common::token(base, "alice", "newpass456");
    let r = call("PUT", base, "/api/v1/auth/me", Some(&token), Some(&json!({"email": "not-an-email"})));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("email"), "{}", r.text);

    // Roles: the user list is admin only.
    assert_eq!(call("GET", base, "/api/v1/auth/users", None, None).status, 401);
    let r = call("GET", base, "/api/v1/auth/users", Some(&token), None);
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.error().contains("admin"), "{}", r.text);
    let admin = common::token(base, "admin", "admin123");
    let r = call("GET", base, "/api/v1/auth/users", Some(&admin), None);
    assert_eq!(r.status, 200, "{}", r.text);
    let names: Vec<&str> =
        r.json["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "alice"]);
    assert_eq!(r.json["total"], 2);
    let r = call("GET", base, "/api/v1/auth/users?limit=1&offset=1", Some(&admin), None);
    assert_eq!(r.json["users"][0]["username"], "alice", "{}", r.text);
}

#[test]
fn spec_auth_flow_on_sqlite() {
    let (_dir, server) = start(&[]);
    auth_flow(&server.url);
    // The auth families of /metrics count what happened (2 registrations; logins: alice x2, the
    // new password, admin; failures: wrong, unknown, old password, wrong current_password).
    let metrics = get(&server.url, "/metrics").text;
    for line in [
        "users_registered_total 1",
        r#"auth_attempts_total{result="success"} 4"#,
        r#"auth_attempts_total{result="failure"} 4"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing {line}:\n{metrics}");
    }
    assert!(metrics.contains(r#"database_queries_total{operation="user_by_username"}"#), "{metrics}");
    let stderr = server.stderr();
    assert!(stderr.contains("default password 'admin123'"), "loud warning about the default admin: {stderr}");
}

#[test]
fn spec_auth_flow_on_postgres() {
    let Some(db) = pg() else { return };
    let (_dir, server) = start(&[("DATABASE_URL", db.url.as_str())]);
    auth_flow(&server.url);
}

#[test]
fn registration_is_validated() {
    let (_dir, server) = start(&[]);
    let base = &server.url;
    let cases = [
        (json!({"username": "ab", "email": "ab@example.com", "password": "secure123"}), "3 to 50"),
        (json!({"username": "bob smith", "email": "b@example.com", "password": "secure123"}), "may contain only"),
        (json!({"username": "bob", "email": "bob@", "password": "secure123"}), "email"),
        (json!({"username": "bob", "email": "bob@example.com", "password": "short1"}), "at least 8"),
        (json!({"username": "bob", "email": "bob@example.com", "password": "allletters"}), "letter and one digit"),
        (json!({"username": "bob", "email": "bob@example.com"}), "password"),
        (
            json!({"username": "bob", "email": "bob@example.com", "password": "secure123", "role": "admin"}),
            "unknown field",
        ),
        (json!(["not", "an", "object"]), "invalid request body"),
    ];
    for (body, expected) in cases {
        let r = call("POST", base, "/api/v1/auth/register", None, Some(&body));
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.error().contains(expected), "{body}: expected '{expected}' in {}", r.text);
    }
    let r = client().post(format!("{base}/api/v1/auth/register")).body("{not json").send().unwrap();
    assert_eq!(r.status(), 400);
    // Nothing was created by the refused requests.
    let admin = token(base, "admin", "admin123");
    assert_eq!(call("GET", base, "/api/v1/auth/users", Some(&admin), None).json["total"], 1);
}

fn forge(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[test]
fn bad_tokens_are_refused_with_401() {
    let (_dir, server) = start(&[]);
    let base = &server.url;
    let token = register_user(base, "carol");
    assert_eq!(call("GET", base, "/api/v1/auth/me", Some(&token), None).status, 200);
    let me = call("GET", base, "/api/v1/auth/me", Some(&token), None).json;
    let id = me["id"].as_i64().unwrap().to_string();
    let now = chrono::Utc::now().timestamp();

    let expired =
        forge(&json!({"sub": id, "username": "carol", "role": "user", "iat": now - 3600, "exp": now - 600}), SECRET);
    let wrong_secret =
        forge(&json!({"sub": id, "username": "carol", "role": "user", "iat": now, "exp": now + 600}), "guess");
    // Promote ourselves to admin by editing the payload, keeping the signature.
    let parts: Vec<&str> = token.split('.').collect();
    use base64_payload::{decode, encode};
    let payload = decode(parts[1])
        .replace("\"role\":\"user\"", "\"role\":\"admin\"")
        .replace(&format!("\"sub\":\"{id}\""), "\"sub\":\"1\"");
    let tampered = format!("{}.{}.{}", parts[0], encode(&payload), parts[2]);
    let alg_none = format!("{}.{}.", encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &json!({"sub": id, "username": "carol", "role": "user", "iat": now, "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    for (what, t, expect) in [
        ("expired", expired.as_str(), "expired"),
        ("wrong secret", &wrong_secret, "signature"),
        ("tampered", &tampered, ""),
        ("alg none", &alg_none, ""),
        ("HS512", &hs512, "algorithm"),
        ("garbage", "not.a.token", ""),
    ] {
        for path in ["/api/v1/auth/me", "/api/v1/auth/users", "/api/v1/rate-limits/status", "/api/v1/trace/debug"] {
            let r = call("GET", base, path, Some(t), None);
            assert_eq!(r.status, 401, "{what} token on {path}: {}", r.text);
            assert!(r.error().contains(expect), "{what}: {}", r.text);
        }
    }
    let r = get_with_headers(base, "/api/v1/auth/me", &[("authorization", &format!("Basic {token}"))]);
    assert_eq!(r.status, 401);
    assert!(r.error().contains("Bearer"), "{}", r.text);
}

/// URL-safe base64 without padding, for hand-made JWT parts.
mod base64_payload {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    pub fn encode(s: &str) -> String {
        let mut out = String::new();
        for chunk in s.as_bytes().chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    pub fn decode(s: &str) -> String {
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in s.bytes() {
            let v = ALPHABET.iter().position(|&a| a == c).expect("base64url") as u32;
            bits = bits << 6 | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n & 0xff) as u8);
            }
        }
        String::from_utf8(out).unwrap()
    }
}

#[test]
fn admin_routes_check_roles() {
    let (_dir, server) = start(&[]);
    let base = &server.url;
    let user = register_user(base, "dave");
    let admin = token(base, "admin", "admin123");
    for (method, path) in [
        ("GET", "/api/v1/auth/users"),
        ("GET", "/api/v1/rate-limits/status"),
        ("DELETE", "/api/v1/rate-limits/reset/ip:127.0.0.1"),
        ("DELETE", "/api/v1/rate-limits/reset-all"),
        ("GET", "/api/v1/trace/debug"),
    ] {
        assert_eq!(call(method, base, path, None, None).status, 401, "{method} {path} without a token");
        assert_eq!(call(method, base, path, Some(&user), None).status, 403, "{method} {path} as a user");
        let r = call(method, base, path, Some(&admin), None);
        assert_eq!(r.status, 200, "{method} {path} as admin: {}", r.text);
    }
}

#[test]
fn trace_debug_redacts_credentials() {
    let (_dir, server) = start(&[]);
    let base = &server.url;
    let admin = token(base, "admin", "admin123");
    let r = get_with_headers(
        base,
        "/api/v1/trace/debug?x=1",
        &[("authorization", &format!("Bearer {admin}")), ("cookie", "session=abc123"), ("x-correlation-id", "dbg-1")],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["headers"]["authorization"][0], "[REDACTED]");
    assert_eq!(r.json["headers"]["cookie"][0], "[REDACTED]");
    assert!(!r.text.contains(&admin) && !r.text.contains("abc123"), "credentials leaked: {}", r.text);
    assert_eq!(r.json["correlation_id"], "dbg-1");
    assert_eq!(r.json["uri"], "/api/v1/trace/debug?x=1");
    assert_eq!(r.json["user"], "admin");
    assert!(r.json["peer_addr"].as_str().unwrap().starts_with("127.0.0.1:"));
}

#[test]
fn injection_strings_are_stored_verbatim() {
    let (_dir, server) = start(&[]);
    let base = &server.url;
    let evil_name = "Robert'); DROP TABLE users;-- \" OR 1=1 -- \\ ü 🚀";
    let evil_password = "p4ss' OR '1'='1";
    let body = json!({"username": "bobby", "email": "o'brien+x@example.com", "password": evil_password, "full_name": evil_name});
    let r = call("POST", base, "/api/v1/auth/register", None, Some(&body));
    assert_eq!(r.status, 201, "{}", r.text);
    let t = token(base, "bobby", evil_password);
    let me = call("GET", base, "/api/v1/auth/me", Some(&t), None);
    assert_eq!(me.json["full_name"], evil_name);
    assert_eq!(me.json["email"], "o'brien+x@example.com");
    // The classic bypass does not log anyone in.
    assert_eq!(login(base, "bobby", "' OR '1'='1").status, 401);
    assert_eq!(login(base, "admin' --", "anything1").status, 401);
    // And the table is still there.
    let admin = token(base, "admin", "admin123");
    assert_eq!(call("GET", base, "/api/v1/auth/users", Some(&admin), None).json["total"], 2);
}

fn median_login_ms(base: &str, user: &str, password: &str) -> f64 {
    let mut times: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(login(base, user, password).status, 401);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[3]
}

/// An unknown user must not be distinguishable by a fast answer: both failures hash a password.
/// (A loose bound: without the dummy hash the ratio is over 20x.)
#[test]
fn login_failures_take_the_same_time() {
    let (_dir, server) = start(&[]);
    let base = &server.url;
    register_user(base, "erin");
    let _ = median_login_ms(base, "erin", "warmup123");
    let wrong = median_login_ms(base, "erin", "wrong1234");
    let unknown = median_login_ms(base, "nobody-here", "wrong1234");
    let ratio = unknown / wrong;
    assert!((0.33..3.0).contains(&ratio), "unknown user {unknown:.1} ms vs wrong password {wrong:.1} ms");
}

#[test]
fn production_refuses_default_secrets() {
    let dir = tempdir();
    let e = Server::try_start(dir.path(), &[("ENVIRONMENT", "production")]).err().expect("must refuse");
    assert!(e.contains("SECRET_KEY") && e.contains("openssl rand"), "{e}");

    let e = Server::try_start(dir.path(), &[("ENVIRONMENT", "production"), ("SECRET_KEY", SECRET)])
        .err()
        .expect("no admin password");
    assert!(e.contains("LOGFLOW_ADMIN_PASSWORD"), "{e}");

    let envs = [("ENVIRONMENT", "production"), ("SECRET_KEY", SECRET), ("LOGFLOW_ADMIN_PASSWORD", "admin123")];
    let e = Server::try_start(dir.path(), &envs).err().expect("admin123 refused");
    assert!(e.contains("admin123"), "{e}");

    let envs = [("ENVIRONMENT", "production"), ("SECRET_KEY", SECRET), ("LOGFLOW_ADMIN_PASSWORD", "Str0ng-admin-pw")];
    let server = Server::start(dir.path(), &envs);
    assert_eq!(login(&server.url, "admin", "admin123").status, 401);
    let t = token(&server.url, "admin", "Str0ng-admin-pw");
    assert_eq!(call("GET", &server.url, "/api/v1/auth/users", Some(&t), None).status, 200);
    drop(server);

    // A development database that still has admin/admin123 cannot be promoted to production as is.
    let dev = tempdir();
    drop(Server::start(dev.path(), &[]));
    let e = Server::try_start(dev.path(), &[("ENVIRONMENT", "production"), ("SECRET_KEY", SECRET)])
        .err()
        .expect("default admin password refused");
    assert!(e.contains("default password"), "{e}");
}

#[test]
fn tokens_expire_after_the_configured_time() {
    let (_dir, server) = start(&[("ACCESS_TOKEN_EXPIRE_MINUTES", "1")]);
    let r = login(&server.url, "admin", "admin123");
    assert_eq!(r.json["expires_in"], 60);
    let token = r.json["access_token"].as_str().unwrap();
    // The exp claim is 60 s after iat.
    let payload = base64_payload::decode(token.split('.').nth(1).unwrap());
    let claims: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 60);
    assert_eq!(claims["role"], "admin");
}
