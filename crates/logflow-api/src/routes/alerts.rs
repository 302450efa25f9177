//! `/api/v1/alerts`: alert rules (create needs a login; update and delete the owner or an admin;
//! reads are open, as in the spec) and triggered alerts with the acknowledge/resolve workflow.
//!
//! The background engine that evaluates the rules lives in `logflow-alert`; `logflow serve` runs it.

use super::json_body;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use logflow_meta::{AlertRule, AlertRulePatch, NewAlertRule, RuleFilter, TriggeredAlert, TriggeredFilter, User};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alerts/rules", post(create_rule).get(list_rules))
        .route("/api/v1/alerts/rules/{id}", get(get_rule).put(update_rule).delete(delete_rule))
        .route("/api/v1/alerts/triggered", get(list_triggered))
        .route("/api/v1/alerts/triggered/{id}/acknowledge", post(acknowledge))
        .route("/api/v1/alerts/triggered/{id}/resolve", post(resolve))
}

/// Body of `POST /api/v1/alerts/rules` (the spec's fields plus `query`, `rule_type`, `anomaly` and
/// `cooldown_minutes`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRuleRequest {
    pub name: String,
    pub description: Option<String>,
    /// `threshold` (default) or `anomaly`.
    pub rule_type: Option<String>,
    /// greater_than, less_than, equals, greater_than_or_equal, less_than_or_equal (default greater_than).
    pub condition: Option<String>,
    /// Log count compared with the condition (default 0 for anomaly rules).
    pub threshold: Option<f64>,
    /// Minutes counted back from each check (default 5).
    pub time_window: Option<i64>,
    #[serde(default)]
    pub levels: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
    /// Search query the counted logs must match (same syntax as search).
    pub query: Option<String>,
    /// Anomaly rules: `{"metric": "log_volume"|"error_rate", "service": "...", "min_severity": "high"}`.
    #[schema(value_type = Option<Object>)]
    pub anomaly: Option<Value>,
    /// console (default), webhook, slack or email.
    pub notification_channel: Option<String>,
    /// webhook/slack: `{"url": "https://..."}`; email: `{"to": ["a@example.com"]}`.
    #[schema(value_type = Option<Object>)]
    pub notification_config: Option<Value>,
    pub is_active: Option<bool>,
    /// No new alert within this many minutes of the last one.
    pub cooldown_minutes: Option<i64>,
}

fn may_change(user: &User, rule: &AlertRule) -> ApiResult<()> {
    if user.is_admin || rule.created_by == Some(user.id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only the rule's creator or an admin may change it".into()))
    }
}

async fn rule_or_404(st: &AppState, id: i64) -> ApiResult<AlertRule> {
    st.meta.get_rule(id).await?.ok_or_else(|| ApiError::NotFound(format!("no alert rule {id}")))
}

/// Create an alert rule.
#[utoipa::path(post, path = "/api/v1/alerts/rules", tag = "alerts", security(("bearer" = [])),
    request_body(content = CreateRuleRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Object),
        (status = 400, description = "Invalid field (named in the message)", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
pub async fn create_rule(
    State(st): State<AppState>,
    AuthUser(user): AuthUser,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<AlertRule>)> {
    let body = body.map_err(|r| ApiError::from_body_rejection(r, st.config.max_body_bytes))?;
    let req: CreateRuleRequest = json_body(&body)?;
    let levels = logflow_alert::canonical_levels(&req.levels).map_err(ApiError::BadRequest)?;
    let rule = NewAlertRule {
        name: req.name,
        description: req.description,
        rule_type: req.rule_type.unwrap_or_else(|| "threshold".into()),
        condition: req.condition.unwrap_or_else(|| "greater_than".into()),
        threshold: req.threshold.unwrap_or(0.0),
        time_window: req.time_window.unwrap_or(5),
        levels,
        services: req.services,
        query: req.query.filter(|q| !q.trim().is_empty()),
        anomaly: req.anomaly,
        notification_channel: req.notification_channel.unwrap_or_else(|| "console".into()),
        notification_config: req.notification_config.unwrap_or(Value::Object(Default::default())),
        is_active: req.is_active.unwrap_or(true),
        cooldown_minutes: req.cooldown_minutes,
        created_by: Some(user.id),
    };
    logflow_alert::validate_new_rule(&rule).map_err(ApiError::BadRequest)?;
    let created = st.meta.create_rule(rule).await?;
    tracing::info!(rule_id = created.id, name = %created.name, user = %user.username, "alert rule created");
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListRulesParams {
    /// Only active rules.
    pub active_only: Option<bool>,
}

/// List alert rules.
#[utoipa::path(get, path = "/api/v1/alerts/rules", tag = "alerts", params(ListRulesParams),
    responses((status = 200, description = "Rules by id", body = [Object])))]
pub async fn list_rules(
    State(st): State<AppState>,
    Query(p): Query<ListRulesParams>,
) -> ApiResult<Json<Vec<AlertRule>>> {
    let filter = RuleFilter { active_only: p.active_only.unwrap_or(false), ..RuleFilter::default() };
    Ok(Json(st.meta.list_rules(filter).await?))
}

/// Get one alert rule.
#[utoipa::path(get, path = "/api/v1/alerts/rules/{id}", tag = "alerts", params(("id" = i64, Path, description = "Rule id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_rule(State(st): State<AppState>, Path(id): Path<i64>) -> ApiResult<Json<AlertRule>> {
    Ok(Json(rule_or_404(&st, id).await?))
}

/// Update an alert rule (owner or admin).
///
/// Fields absent from the body keep their value; `null` clears a nullable field.
#[utoipa::path(put, path = "/api/v1/alerts/rules/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Rule id")),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 200, body = Object),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Neither the creator nor an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn update_rule(
    State(st): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<AlertRule>> {
    let body = body.map_err(|r| ApiError::from_body_rejection(r, st.config.max_body_bytes))?;
    let mut patch: AlertRulePatch = json_body(&body)?;
    let rule = rule_or_404(&st, id).await?;
    may_change(&user, &rule)?;
    if let Some(levels) = &patch.levels {
        patch.levels = Some(logflow_alert::canonical_levels(levels).map_err(ApiError::BadRequest)?);
    }
    logflow_alert::validate_patch(&rule, &patch).map_err(ApiError::BadRequest)?;
    Ok(Json(st.meta.update_rule(id, patch).await?))
}

/// Delete an alert rule (owner or admin). Its triggered alerts stay in the history.
#[utoipa::path(delete, path = "/api/v1/alerts/rules/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Neither the creator nor an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn delete_rule(
    State(st): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let rule = rule_or_404(&st, id).await?;
    may_change(&user, &rule)?;
    st.meta.delete_rule(id).await?;
    tracing::info!(rule_id = id, user = %user.username, "alert rule deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TriggeredParams {
    /// triggered, acknowledged or resolved.
    pub status: Option<String>,
    pub rule_id: Option<i64>,
    /// RFC 3339: alerts triggered at or after.
    pub start_time: Option<String>,
    /// RFC 3339: alerts triggered before.
    pub end_time: Option<String>,
    /// Default 100, at most 1000.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// List triggered alerts, newest first.
#[utoipa::path(get, path = "/api/v1/alerts/triggered", tag = "alerts", params(TriggeredParams),
    responses((status = 200, body = [Object]), (status = 400, body = ErrorBody)))]
pub async fn list_triggered(
    State(st): State<AppState>,
    Query(p): Query<TriggeredParams>,
) -> ApiResult<Json<Vec<TriggeredAlert>>> {
    if let Some(s) = &p.status {
        if !["triggered", "acknowledged", "resolved"].contains(&s.as_str()) {
            return Err(ApiError::BadRequest(format!("status must be triggered, acknowledged or resolved, not '{s}'")));
        }
    }
    let time = |v: &Option<String>| {
        v.as_deref().map(logflow_core::time::parse_rfc3339).transpose().map_err(ApiError::BadRequest)
    };
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) || p.offset.is_some_and(|o| o < 0) {
        return Err(ApiError::BadRequest("limit must be 1..=1000 and offset >= 0".into()));
    }
    let filter = TriggeredFilter {
        status: p.status.clone(),
        rule_id: p.rule_id,
        since: time(&p.start_time)?,
        until: time(&p.end_time)?,
        limit,
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(st.meta.list_triggered(filter).await?))
}

/// Acknowledge a triggered alert.
///
/// Records who and when. Only a `triggered` alert can be acknowledged (409 otherwise).
#[utoipa::path(post, path = "/api/v1/alerts/triggered/{id}/acknowledge", tag = "alerts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Triggered alert id")),
    responses(
        (status = 200, body = Object),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not in a state that can be acknowledged", body = ErrorBody),
    ))]
pub async fn acknowledge(
    State(st): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<TriggeredAlert>> {
    found(id, st.meta.acknowledge(id, user.id, chrono::Utc::now()).await)
}

/// Resolve a triggered alert.
///
/// Records who and when. A `triggered` or `acknowledged` alert can be resolved (409 otherwise).
#[utoipa::path(post, path = "/api/v1/alerts/triggered/{id}/resolve", tag = "alerts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Triggered alert id")),
    responses(
        (status = 200, body = Object),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already resolved", body = ErrorBody),
    ))]
pub async fn resolve(
    State(st): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<TriggeredAlert>> {
    found(id, st.meta.resolve(id, user.id, chrono::Utc::now()).await)
}

/// A transition's result, with "no such alert" as a 404 naming it (409s come from `MetaError`).
fn found(id: i64, r: logflow_meta::Result<TriggeredAlert>) -> ApiResult<Json<TriggeredAlert>> {
    match r {
        Err(logflow_meta::MetaError::NotFound) => Err(ApiError::NotFound(format!("no triggered alert {id}"))),
        other => Ok(Json(other?)),
    }
}
