//! `/api/v1/auth`: register, log in (OAuth2 password form or JSON), the current user, and the
//! admin's user list.

use super::json_body;
use crate::auth::{hash_password, validate_email, validate_password, validate_username, AdminUser, AuthUser};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use logflow_meta::{NewUser, User, UserUpdate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/me", get(me).put(update_me))
        .route("/api/v1/auth/users", get(list_users))
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub is_active: bool,
    pub is_admin: bool,
    /// `admin` or `user`.
    pub role: &'static str,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_login: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        UserResponse {
            role: if u.is_admin { "admin" } else { "user" },
            id: u.id,
            username: u.username,
            email: u.email,
            full_name: u.full_name,
            is_active: u.is_active,
            is_admin: u.is_admin,
            created_at: u.created_at,
            last_login: u.last_login,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3..50 of letters, digits, `_`, `-`, `.`; starts with a letter or digit.
    pub username: String,
    pub email: String,
    /// At least 8 characters with a letter and a digit; not the username.
    pub password: String,
    pub full_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Lifetime of the token in seconds.
    pub expires_in: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    pub email: Option<String>,
    pub full_name: Option<String>,
    /// New password (same policy as registration); needs `current_password`.
    pub password: Option<String>,
    pub current_password: Option<String>,
}

fn check<T>(r: Result<T, String>) -> ApiResult<T> {
    r.map_err(ApiError::BadRequest)
}

const MAX_FULL_NAME: usize = 200;

/// Register a new user.
///
/// Creates a `user`-role account. Validation errors are 400s naming the field; a taken username or
/// email is a 409.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body(content = RegisterRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = UserResponse),
        (status = 400, description = "Invalid username, email, password or body", body = ErrorBody),
        (status = 409, description = "Username or email already taken", body = ErrorBody),
        (status = 429, description = "Rate limited (10 per hour per client)", body = ErrorBody),
    ))]
pub async fn register(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<UserResponse>)> {
    let body = body.map_err(|r| ApiError::from_body_rejection(r, st.config.max_body_bytes))?;
    let req: RegisterRequest = json_body(&body)?;
    check(validate_username(&req.username))?;
    check(validate_email(&req.email))?;
    check(validate_password(&req.password, &req.username))?;
    if req.full_name.as_ref().is_some_and(|n| n.chars().count() > MAX_FULL_NAME) {
        return Err(ApiError::BadRequest(format!("full_name must be at most {MAX_FULL_NAME} characters")));
    }
    // Name the username first when both it and the email are taken (the database reports
    // whichever constraint it checks first); a concurrent duplicate still fails on the constraint.
    if st.meta.user_by_username(&req.username).await?.is_some() {
        return Err(ApiError::Conflict("username already exists".into()));
    }
    let hashed_password = hash_password(&req.password).await?;
    let user = st
        .meta
        .create_user(NewUser {
            username: req.username,
            email: req.email,
            full_name: req.full_name.filter(|n| !n.trim().is_empty()),
            hashed_password,
            is_admin: false,
        })
        .await?;
    st.metrics.user_registered();
    tracing::info!(user_id = user.id, username = %user.username, "user registered");
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Log in and get a JWT.
///
/// Accepts the OAuth2 password form (`application/x-www-form-urlencoded`: `username`, `password`)
/// or the same fields as JSON. An unknown user and a wrong password get the same 401 and take the
/// same time.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content = LoginRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "Missing fields or unsupported body", body = ErrorBody),
        (status = 401, description = "Wrong username or password, or disabled account", body = ErrorBody),
        (status = 429, description = "Rate limited (20 per hour per client)", body = ErrorBody),
    ))]
pub async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<TokenResponse>> {
    let body = body.map_err(|r| ApiError::from_body_rejection(r, st.config.max_body_bytes))?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let req: LoginRequest = if content_type.starts_with("application/json") {
        json_body(&body)?
    } else if content_type.starts_with("application/x-www-form-urlencoded") || content_type.is_empty() {
        serde_urlencoded::from_bytes(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid login form (needs username and password): {e}")))?
    } else {
        return Err(ApiError::UnsupportedMediaType(format!(
            "login takes application/x-www-form-urlencoded or application/json, not '{content_type}'"
        )));
    };
    let user = st.meta.user_by_username(&req.username).await?;
    let ok = st.auth.check_password(&req.password, user.as_ref().map(|u| u.hashed_password.as_str())).await;
    let user = match user {
        Some(u) if ok && u.is_active => u,
        Some(u) if ok => {
            st.metrics.auth_attempt("disabled");
            tracing::warn!(user_id = u.id, "login refused: account disabled");
            return Err(ApiError::Unauthorized("this account is disabled".into()));
        }
        _ => {
            st.metrics.auth_attempt("failure");
            return Err(ApiError::Unauthorized("incorrect username or password".into()));
        }
    };
    st.meta.set_last_login(user.id, chrono::Utc::now()).await?;
    st.metrics.auth_attempt("success");
    let access_token = st.auth.issue(&user)?;
    Ok(Json(TokenResponse { access_token, token_type: "bearer", expires_in: st.auth.token_ttl.as_secs() }))
}

/// The current user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, body = UserResponse),
        (status = 401, description = "Missing, expired or invalid token", body = ErrorBody),
    ))]
pub async fn me(AuthUser(user): AuthUser) -> Json<UserResponse> {
    Json(user.into())
}

/// Update the current user's profile.
///
/// `email` and `full_name` change directly; a new `password` needs the `current_password`.
#[utoipa::path(put, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    request_body(content = UpdateMeRequest, content_type = "application/json"),
    responses(
        (status = 200, body = UserResponse),
        (status = 400, description = "Invalid field, or password change without current_password", body = ErrorBody),
        (status = 401, description = "Missing, expired or invalid token", body = ErrorBody),
        (status = 403, description = "current_password is wrong", body = ErrorBody),
        (status = 409, description = "Email already registered", body = ErrorBody),
    ))]
pub async fn update_me(
    State(st): State<AppState>,
    AuthUser(user): AuthUser,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<UserResponse>> {
    let body = body.map_err(|r| ApiError::from_body_rejection(r, st.config.max_body_bytes))?;
    let req: UpdateMeRequest = json_body(&body)?;
    let mut update = UserUpdate::default();
    if let Some(email) = req.email {
        check(validate_email(&email))?;
        update.email = Some(email);
    }
    if let Some(name) = req.full_name {
        if name.chars().count() > MAX_FULL_NAME {
            return Err(ApiError::BadRequest(format!("full_name must be at most {MAX_FULL_NAME} characters")));
        }
        update.full_name = Some(Some(name).filter(|n| !n.trim().is_empty()));
    }
    if let Some(password) = req.password {
        let Some(current) = req.current_password else {
            return Err(ApiError::BadRequest("changing the password needs current_password".into()));
        };
        if !st.auth.check_password(&current, Some(&user.hashed_password)).await {
            st.metrics.auth_attempt("failure");
            return Err(ApiError::Forbidden("current_password is incorrect".into()));
        }
        check(validate_password(&password, &user.username))?;
        update.hashed_password = Some(hash_password(&password).await?);
    }
    let updated = st.meta.update_user(user.id, update).await?;
    Ok(Json(updated.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListUsersParams {
    /// At most this many users (default 100, max 1000).
    pub limit: Option<i64>,
    /// Skip this many users (default 0).
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserResponse>,
    pub total: i64,
}

/// List all users (admin).
#[utoipa::path(get, path = "/api/v1/auth/users", tag = "auth", security(("bearer" = [])), params(ListUsersParams),
    responses(
        (status = 200, body = UserList),
        (status = 401, description = "Missing, expired or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn list_users(
    State(st): State<AppState>,
    _admin: AdminUser,
    Query(p): Query<ListUsersParams>,
) -> ApiResult<Json<UserList>> {
    let limit = p.limit.unwrap_or(100);
    let offset = p.offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) || offset < 0 {
        return Err(ApiError::BadRequest("limit must be 1..=1000 and offset >= 0".into()));
    }
    let users = st.meta.list_users(limit, offset).await?;
    let total = st.meta.count_users().await?;
    Ok(Json(UserList { users: users.into_iter().map(Into::into).collect(), total }))
}
