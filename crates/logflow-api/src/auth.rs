//! Authentication: argon2id password hashes, HS256 JWTs, and the extractors protected routes use.
//!
//! - [`AuthUser`]: any logged-in, active user (401 otherwise).
//! - [`AdminUser`]: an admin (401 without a valid token, 403 for a plain user).
//! - [`OptionalUser`]: the user when a valid token is present, for routes open to everyone.
//!
//! Tokens carry the user id, name and role, but every request re-reads the user from the metadata
//! store, so a deactivated or demoted account loses its rights at once, not when its token expires.
//! Only HS256 is accepted: a token claiming `alg: none` or any other algorithm is refused.

use crate::error::ApiError;
use crate::AppState;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use logflow_meta::User;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The secret the development defaults ship with; production mode refuses to start with it.
pub const DEFAULT_SECRET_KEY: &str = "logflow-development-secret-change-me";

/// Signing keys and token lifetime, plus a dummy hash so that logging in as an unknown user costs
/// the same time as a wrong password.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub token_ttl: Duration,
    dummy_hash: String,
}

/// The JWT payload.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (RFC 7519 `sub`).
    pub sub: String,
    pub username: String,
    /// `admin` or `user`.
    pub role: String,
    pub iat: u64,
    pub exp: u64,
}

impl Auth {
    pub fn new(secret: &str, token_ttl: Duration) -> Auth {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Auth {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            token_ttl,
            dummy_hash: hash_password_blocking("dummy password never used for any account"),
        }
    }

    /// A signed token for `user`, valid for `token_ttl`.
    pub fn issue(&self, user: &User) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = Claims {
            sub: user.id.to_string(),
            username: user.username.clone(),
            role: if user.is_admin { "admin" } else { "user" }.into(),
            iat: now,
            exp: now + self.token_ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("signing a token: {e}")))
    }

    /// Verifies signature, algorithm and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims).map_err(|e| {
            ApiError::Unauthorized(
                match e.kind() {
                    ErrorKind::ExpiredSignature => "token has expired; log in again",
                    ErrorKind::InvalidSignature => "token signature is invalid",
                    ErrorKind::InvalidAlgorithm => "token algorithm is not accepted (HS256 only)",
                    _ => "token is malformed",
                }
                .to_string(),
            )
        })
    }

    /// The user id of a request's valid bearer token, without touching the database (used to key
    /// rate limits). `None` for a missing or invalid token.
    pub fn user_id_of(&self, headers: &HeaderMap) -> Option<i64> {
        let token = bearer_token(headers).ok()??;
        self.verify(token).ok()?.sub.parse().ok()
    }

    /// Checks `password` against `hash`, or against a dummy hash when there is no such user, so
    /// both failures take the same time. Runs on the blocking pool (argon2 is deliberately slow).
    pub async fn check_password(&self, password: &str, hash: Option<&str>) -> bool {
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.dummy_hash).to_string();
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password_blocking(&password, &hash)).await.unwrap_or(false);
        ok && known
    }
}

/// Argon2id (the crate's defaults: 19 MiB, 2 passes), on the blocking pool.
pub async fn hash_password(password: &str) -> Result<String, ApiError> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_password_blocking(&password))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("password hashing task failed: {e}")))
}

pub fn hash_password_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters").to_string()
}

pub fn verify_password_blocking(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// `Some(token)` for `Authorization: Bearer <token>`, `None` without the header, and an error for
/// another scheme or a malformed header.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| ApiError::Unauthorized("Authorization header is not ASCII".into()))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::Unauthorized("Authorization header must be 'Bearer <token>'".into())),
    }
}

/// A logged-in, active user.
#[derive(Debug, Clone)]
pub struct AuthUser(pub User);

/// A logged-in, active admin.
#[derive(Debug, Clone)]
pub struct AdminUser(pub User);

/// The logged-in user if the request carries a valid token; `None` without one. A token that is
/// present but invalid is still refused (401): a client that tries to authenticate should learn it failed.
#[derive(Debug, Clone)]
pub struct OptionalUser(pub Option<User>);

async fn authenticate(parts: &Parts, st: &AppState) -> Result<Option<User>, ApiError> {
    let Some(token) = bearer_token(&parts.headers)? else { return Ok(None) };
    let claims = st.auth.verify(token)?;
    let id: i64 = claims.sub.parse().map_err(|_| ApiError::Unauthorized("token is malformed".into()))?;
    let user = match st.meta.user_by_id(id).await {
        Ok(Some(u)) => u,
        Ok(None) => return Err(ApiError::Unauthorized("the token's user no longer exists".into())),
        Err(e) => return Err(e.into()),
    };
    if !user.is_active {
        return Err(ApiError::Unauthorized("this account is disabled".into()));
    }
    Ok(Some(user))
}

impl FromRequestParts<AppState> for OptionalUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, st).await.map(OptionalUser)
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, st).await? {
            Some(user) => Ok(AuthUser(user)),
            None => Err(ApiError::Unauthorized(
                "authentication required: send 'Authorization: Bearer <token>' (POST /api/v1/auth/login gives one)"
                    .into(),
            )),
        }
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, st).await?;
        if !user.is_admin {
            return Err(ApiError::Forbidden("this endpoint needs the admin role".into()));
        }
        Ok(AdminUser(user))
    }
}

/// Usernames: 3 to 50 characters of letters, digits, `_`, `-` and `.`, starting with a letter or digit.
pub fn validate_username(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(3..=50).contains(&len) {
        return Err("username must be 3 to 50 characters long".into());
    }
    if !name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err("username must start with a letter or a digit".into());
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(format!("username may contain only letters, digits, '_', '-' and '.', not {c:?}"));
    }
    Ok(())
}

/// A pragmatic address check (RFC 5321 lengths, one `@`, a dotted domain, no spaces); the real
/// proof of an address is mail reaching it.
pub fn validate_email(email: &str) -> Result<(), String> {
    let bad = || Err(format!("'{email}' is not a valid email address"));
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad();
    }
    let Some((local, domain)) = email.split_once('@') else { return bad() };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return bad();
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
        || !labels.iter().all(|l| l.chars().all(|c| c.is_alphanumeric() || c == '-'))
    {
        return bad();
    }
    Ok(())
}

/// Password policy: 8 to 128 characters, at least one letter and one digit, not the username.
pub fn validate_password(password: &str, username: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < 8 {
        return Err("password must be at least 8 characters long".into());
    }
    if len > 128 {
        return Err("password must be at most 128 characters long".into());
    }
    if !password.chars().any(char::is_alphabetic) || !password.chars().any(|c| c.is_ascii_digit()) {
        return Err("password must contain at least one letter and one digit".into());
    }
    if password.eq_ignore_ascii_case(username) {
        return Err("password must not be the username".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("a.b-c_9").is_ok());
        assert!(validate_username("ab").unwrap_err().contains("3 to 50"));
        assert!(validate_username(&"a".repeat(51)).is_err());
        assert!(validate_username("_alice").unwrap_err().contains("start"));
        assert!(validate_username("al ice").unwrap_err().contains("' '"));
        assert!(validate_username("alice'; DROP TABLE users; --").is_err());
    }

    #[test]
    fn emails() {
        assert!(validate_email("alice@example.com").is_ok());
        assert!(validate_email("a.b+tag@sub.example.org").is_ok());
        for bad in ["alice", "@example.com", "alice@", "alice@example", "a b@example.com", "a@b@c.com", "a@-x.com"] {
            assert!(validate_email(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn passwords() {
        assert!(validate_password("secure123", "alice").is_ok(), "the spec's example password");
        assert!(validate_password("short1", "alice").unwrap_err().contains("at least 8"));
        assert!(validate_password("onlyletters", "alice").unwrap_err().contains("letter and one digit"));
        assert!(validate_password("12345678", "alice").unwrap_err().contains("letter and one digit"));
        assert!(validate_password("alice123", "Alice123").unwrap_err().contains("username"));
        assert!(validate_password(&"a1".repeat(65), "alice").is_err());
    }

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash_password_blocking("secure123");
        let b = hash_password_blocking("secure123");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password_blocking("secure123", &a));
        assert!(!verify_password_blocking("secure124", &a));
        assert!(!verify_password_blocking("secure123", "not a hash"));
    }

    fn user(id: i64, admin: bool) -> User {
        let now = chrono::Utc::now();
        User {
            id,
            username: format!("u{id}"),
            email: format!("u{id}@example.com"),
            full_name: None,
            hashed_password: String::new(),
            is_active: true,
            is_admin: admin,
            created_at: now,
            updated_at: now,
            last_login: None,
        }
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let auth = Auth::new("secret-one", Duration::from_secs(60));
        let token = auth.issue(&user(7, true)).unwrap();
        let claims = auth.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role.as_str(), claims.username.as_str()), ("7", "admin", "u7"));
        assert_eq!(claims.exp - claims.iat, 60);

        let other = Auth::new("secret-two", Duration::from_secs(60));
        assert!(other.verify(&token).unwrap_err().to_string().contains("signature"));

        // Flip the payload (make user 7 into user 8) but keep the signature.
        let parts: Vec<&str> = token.split('.').collect();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(b64.decode(parts[1]).unwrap()).unwrap().replace("\"7\"", "\"8\"");
        let forged = format!("{}.{}.{}", parts[0], b64.encode(payload), parts[2]);
        assert!(matches!(auth.verify(&forged), Err(ApiError::Unauthorized(_))));

        // alg: none with no signature.
        let none_header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert!(matches!(auth.verify(&unsigned), Err(ApiError::Unauthorized(_))));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let auth = Auth::new("s", Duration::from_secs(60));
        let now = chrono::Utc::now().timestamp() as u64;
        let claims =
            Claims { sub: "1".into(), username: "u".into(), role: "user".into(), iat: now - 600, exp: now - 60 };
        let token = jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(b"s")).unwrap();
        assert!(auth.verify(&token).unwrap_err().to_string().contains("expired"));
    }
}
