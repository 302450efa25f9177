//! `/api/v1/saved-searches`: each user's named searches (the dashboard's explore filters as a URL
//! query string). Every route needs a login, and a user only ever sees and deletes their own.

use super::json_body;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use logflow_meta::{NewSavedSearch, SavedSearch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest `params`, in bytes.
pub const MAX_PARAMS_BYTES: usize = 4096;
/// Saved searches one user may keep.
pub const MAX_PER_USER: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/saved-searches", get(list).post(create))
        .route("/api/v1/saved-searches/{id}", delete(remove))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSavedSearch {
    /// Unique among the user's saved searches, 1 to 100 characters.
    pub name: String,
    /// The search as a URL query string, e.g. `q=timeout&service=payment-service&range=1h`.
    pub params: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SavedSearchList {
    #[schema(value_type = Vec<Object>)]
    pub saved_searches: Vec<SavedSearch>,
}

fn validate(req: &CreateSavedSearch) -> ApiResult<(String, String)> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::BadRequest(format!("name must be 1 to {MAX_NAME_CHARS} characters")));
    }
    let params = req.params.trim().trim_start_matches('?');
    if params.len() > MAX_PARAMS_BYTES {
        return Err(ApiError::BadRequest(format!("params must be at most {MAX_PARAMS_BYTES} bytes")));
    }
    serde_urlencoded::from_str::<Vec<(String, String)>>(params)
        .map_err(|e| ApiError::BadRequest(format!("params must be a URL query string: {e}")))?;
    Ok((name.to_string(), params.to_string()))
}

/// The caller's saved searches, by name.
#[utoipa::path(get, path = "/api/v1/saved-searches", tag = "saved-searches", security(("bearer" = [])),
    responses((status = 200, body = SavedSearchList), (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn list(State(st): State<AppState>, AuthUser(user): AuthUser) -> ApiResult<Json<SavedSearchList>> {
    Ok(Json(SavedSearchList { saved_searches: st.meta.list_saved_searches(user.id).await? }))
}

/// Save a search for the caller.
#[utoipa::path(post, path = "/api/v1/saved-searches", tag = "saved-searches", security(("bearer" = [])),
    request_body(content = CreateSavedSearch, content_type = "application/json"),
    responses(
        (status = 201, description = "Saved", body = Object),
        (status = 400, description = "Invalid name or params, or too many saved searches", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 409, description = "The caller already has a saved search of that name", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<AppState>,
    AuthUser(user): AuthUser,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<SavedSearch>)> {
    let body = body.map_err(|r| ApiError::from_body_rejection(r, st.config.max_body_bytes))?;
    let req: CreateSavedSearch = json_body(&body)?;
    let (name, params) = validate(&req)?;
    if st.meta.list_saved_searches(user.id).await?.len() >= MAX_PER_USER {
        return Err(ApiError::BadRequest(format!("at most {MAX_PER_USER} saved searches per user; delete one first")));
    }
    let saved = st.meta.create_saved_search(NewSavedSearch { user_id: user.id, name, params }).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Delete one of the caller's saved searches.
#[utoipa::path(delete, path = "/api/v1/saved-searches/{id}", tag = "saved-searches", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Saved search id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 404, description = "The caller has no saved search with this id", body = ErrorBody),
    ))]
pub async fn remove(
    State(st): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    if st.meta.delete_saved_search(id, user.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no saved search {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, params: &str) -> CreateSavedSearch {
        CreateSavedSearch { name: name.into(), params: params.into() }
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(validate(&req(" errors ", "?q=a&range=1h")).unwrap(), ("errors".into(), "q=a&range=1h".into()));
        assert!(validate(&req("  ", "q=a")).unwrap_err().to_string().contains("name"));
        assert!(validate(&req(&"x".repeat(101), "q=a")).unwrap_err().to_string().contains("name"));
        assert!(validate(&req("a", &"q".repeat(5000))).unwrap_err().to_string().contains("params"));
    }
}
