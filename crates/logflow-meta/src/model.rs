//! The records the store keeps, what callers write, and the filters of the list operations.
//!
//! Rows map onto these types with `sqlx::FromRow` on both backends; list columns are JSON
//! (`#[sqlx(json)]`). The store does not validate business rules: the API does that before it
//! writes, and the store keeps what it is given.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Values of [`TriggeredAlert::status`].
pub mod alert_status {
    /// The rule's condition held; nobody has looked yet.
    pub const TRIGGERED: &str = "triggered";
    /// Someone is on it.
    pub const ACKNOWLEDGED: &str = "acknowledged";
    /// Closed by a user. Final.
    pub const RESOLVED: &str = "resolved";
}

/// Values of [`TriggeredAlert::notification_status`].
pub mod notification_status {
    /// Not yet sent (the initial state).
    pub const PENDING: &str = "pending";
    /// Delivered by the channel.
    pub const SENT: &str = "sent";
    /// Every attempt failed; see [`TriggeredAlert::notification_error`](super::TriggeredAlert).
    pub const FAILED: &str = "failed";
    /// Deliberately not sent (e.g. within the rule's cooldown).
    pub const SKIPPED: &str = "skipped";
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    /// The password hash (the store never sees a password).
    pub hashed_password: String,
    pub is_active: bool,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
}

/// A user to create; it starts active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub hashed_password: String,
    pub is_admin: bool,
}

/// Changes to a user: `None` keeps a field. `full_name: Some(None)` clears the name (in JSON,
/// an absent field keeps it and `null` clears it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub full_name: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashed_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
}

impl UserUpdate {
    /// Applies the changes to `user` (timestamps are the store's business).
    pub(crate) fn apply(self, user: &mut User) {
        set(&mut user.email, self.email);
        set(&mut user.full_name, self.full_name);
        set(&mut user.hashed_password, self.hashed_password);
        set(&mut user.is_active, self.is_active);
        set(&mut user.is_admin, self.is_admin);
    }
}

/// A user's named log search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct SavedSearch {
    pub id: i64,
    /// The owner; the search is deleted with this user.
    pub user_id: i64,
    /// Unique among the user's searches.
    pub name: String,
    /// The search parameters as the API stores them (the store does not interpret them).
    pub params: String,
    pub created_at: DateTime<Utc>,
}

/// A saved search to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSavedSearch {
    pub user_id: i64,
    pub name: String,
    pub params: String,
}

/// An alert rule with its evaluation bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AlertRule {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    /// `"threshold"` or `"anomaly"`.
    pub rule_type: String,
    /// How the measured value compares with `threshold` (`"greater_than"`, ...).
    pub condition: String,
    pub threshold: f64,
    /// Minutes of logs each evaluation looks at.
    pub time_window: i64,
    /// Log levels counted; empty means all.
    #[sqlx(json)]
    pub levels: Vec<String>,
    /// Services counted; empty means all.
    #[sqlx(json)]
    pub services: Vec<String>,
    /// An optional log query narrowing what is counted.
    pub query: Option<String>,
    /// Settings specific to anomaly rules.
    pub anomaly: Option<Value>,
    pub notification_channel: String,
    pub notification_config: Value,
    pub is_active: bool,
    /// Minimum minutes between two notifications of this rule.
    pub cooldown_minutes: Option<i64>,
    /// The user who created the rule (`None` once that user is deleted).
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When an evaluator last claimed the rule (see `MetaStore::claim_rule_check`).
    pub last_checked: Option<DateTime<Utc>>,
    pub last_triggered: Option<DateTime<Utc>>,
    pub trigger_count: i64,
}

/// The writable fields of a rule, as created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAlertRule {
    pub name: String,
    pub description: Option<String>,
    pub rule_type: String,
    pub condition: String,
    pub threshold: f64,
    pub time_window: i64,
    pub levels: Vec<String>,
    pub services: Vec<String>,
    pub query: Option<String>,
    pub anomaly: Option<Value>,
    pub notification_channel: String,
    pub notification_config: Value,
    pub is_active: bool,
    pub cooldown_minutes: Option<i64>,
    pub created_by: Option<i64>,
}

/// Changes to a rule: `None` keeps a field; for nullable fields `Some(None)` clears it (in JSON,
/// an absent field keeps it and `null` clears it). The creator is not changeable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertRulePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_window: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub query: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<Option<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub cooldown_minutes: Option<Option<i64>>,
}

impl AlertRule {
    /// The fields a patch may change (plus the creator), as they are now.
    pub(crate) fn into_writable(self) -> NewAlertRule {
        NewAlertRule {
            name: self.name,
            description: self.description,
            rule_type: self.rule_type,
            condition: self.condition,
            threshold: self.threshold,
            time_window: self.time_window,
            levels: self.levels,
            services: self.services,
            query: self.query,
            anomaly: self.anomaly,
            notification_channel: self.notification_channel,
            notification_config: self.notification_config,
            is_active: self.is_active,
            cooldown_minutes: self.cooldown_minutes,
            created_by: self.created_by,
        }
    }
}

impl AlertRulePatch {
    /// Applies the changes to the writable fields of a rule.
    pub(crate) fn apply(self, rule: &mut NewAlertRule) {
        set(&mut rule.name, self.name);
        set(&mut rule.description, self.description);
        set(&mut rule.rule_type, self.rule_type);
        set(&mut rule.condition, self.condition);
        set(&mut rule.threshold, self.threshold);
        set(&mut rule.time_window, self.time_window);
        set(&mut rule.levels, self.levels);
        set(&mut rule.services, self.services);
        set(&mut rule.query, self.query);
        set(&mut rule.anomaly, self.anomaly);
        set(&mut rule.notification_channel, self.notification_channel);
        set(&mut rule.notification_config, self.notification_config);
        set(&mut rule.is_active, self.is_active);
        set(&mut rule.cooldown_minutes, self.cooldown_minutes);
    }
}

/// Which rules [`list_rules`](crate::MetaStore::list_rules) returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleFilter {
    /// Only rules with `is_active`.
    pub active_only: bool,
    /// Only rules this user created.
    pub created_by: Option<i64>,
}

/// One firing of a rule and what people and the notifier did about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct TriggeredAlert {
    pub id: i64,
    /// `None` once the rule is deleted; the alert keeps its history.
    pub rule_id: Option<i64>,
    /// The rule's name when it fired, so the history reads well after the rule is gone.
    pub rule_name: String,
    pub triggered_at: DateTime<Utc>,
    /// The measured value that met the condition.
    pub value: f64,
    pub threshold: f64,
    pub condition: String,
    pub time_window: i64,
    /// Ids of a few logs that matched, for the notification and the UI.
    #[sqlx(json)]
    pub sample_log_ids: Vec<String>,
    pub message: String,
    /// One of [`alert_status`].
    pub status: String,
    pub acknowledged_by: Option<i64>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<i64>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// When the condition stopped holding (set by the engine, independent of `status`).
    pub recovered_at: Option<DateTime<Utc>>,
    /// One of [`notification_status`].
    pub notification_status: String,
    pub notification_attempts: i64,
    pub notification_error: Option<String>,
}

impl TriggeredAlert {
    /// An open alert blocks new alerts of its rule: not resolved, and its condition still holds.
    pub fn is_open(&self) -> bool {
        self.status != alert_status::RESOLVED && self.recovered_at.is_none()
    }
}

/// A firing to record; it starts `triggered` with a `pending` notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTriggeredAlert {
    pub rule_id: i64,
    pub rule_name: String,
    pub triggered_at: DateTime<Utc>,
    pub value: f64,
    pub threshold: f64,
    pub condition: String,
    pub time_window: i64,
    pub sample_log_ids: Vec<String>,
    pub message: String,
}

/// Which alerts [`list_triggered`](crate::MetaStore::list_triggered) returns, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggeredFilter {
    pub status: Option<String>,
    pub rule_id: Option<i64>,
    /// Only alerts triggered at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only alerts triggered strictly before this instant.
    pub until: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

impl Default for TriggeredFilter {
    /// Everything, first page of 100.
    fn default() -> Self {
        TriggeredFilter { status: None, rule_id: None, since: None, until: None, limit: 100, offset: 0 }
    }
}

/// One `system_config` setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ConfigEntry {
    pub key: String,
    pub value: Value,
    pub updated_at: DateTime<Utc>,
}

/// The two user actions on an alert. Allowed moves: triggered → acknowledged,
/// triggered → resolved, acknowledged → resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    Acknowledge,
    Resolve,
}

impl Transition {
    /// The status the alert moves to.
    pub(crate) fn target(self) -> &'static str {
        match self {
            Transition::Acknowledge => alert_status::ACKNOWLEDGED,
            Transition::Resolve => alert_status::RESOLVED,
        }
    }

    /// The conditional update, the same on both backends: binds `$1` alert id, `$2` user id,
    /// `$3` time; moves the alert only from an allowed status and returns it.
    pub(crate) fn update_sql(self) -> &'static str {
        match self {
            Transition::Acknowledge => {
                "UPDATE triggered_alerts SET status = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3 \
                 WHERE id = $1 AND status = 'triggered' RETURNING *"
            }
            Transition::Resolve => {
                "UPDATE triggered_alerts SET status = 'resolved', resolved_by = $2, resolved_at = $3 \
                 WHERE id = $1 AND status IN ('triggered', 'acknowledged') RETURNING *"
            }
        }
    }

    /// The error for an alert the conditional update did not move: gone, or in a status this
    /// transition does not start from.
    pub(crate) fn refused(self, current: Option<String>) -> crate::MetaError {
        match current {
            None => crate::MetaError::NotFound,
            Some(from) => crate::MetaError::InvalidTransition { from, to: self.target().to_string() },
        }
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

/// For `Option<Option<T>>` patch fields: present (even `null`) is `Some`, absent is `None`
/// (through `#[serde(default)]`).
fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patch_json_distinguishes_absent_from_null() {
        let patch: AlertRulePatch = serde_json::from_value(json!({"description": null, "threshold": 5})).unwrap();
        assert_eq!(patch.description, Some(None));
        assert_eq!(patch.threshold, Some(5.0));
        assert_eq!(patch.query, None);
        assert_eq!(patch.anomaly, None);

        let patch: AlertRulePatch = serde_json::from_value(json!({"anomaly": {"sensitivity": 2}})).unwrap();
        assert_eq!(patch.anomaly, Some(Some(json!({"sensitivity": 2}))));

        let update: UserUpdate = serde_json::from_value(json!({"full_name": "Ada"})).unwrap();
        assert_eq!(update.full_name, Some(Some("Ada".to_string())));
        let update: UserUpdate = serde_json::from_value(json!({})).unwrap();
        assert_eq!(update, UserUpdate::default());
    }

    #[test]
    fn patch_round_trips_through_json() {
        let patch = AlertRulePatch { description: Some(None), cooldown_minutes: Some(Some(5)), ..Default::default() };
        let back: AlertRulePatch = serde_json::from_value(serde_json::to_value(&patch).unwrap()).unwrap();
        assert_eq!(back, patch);
    }

    #[test]
    fn refused_transition_names_both_states() {
        assert!(matches!(Transition::Resolve.refused(None), crate::MetaError::NotFound));
        match Transition::Acknowledge.refused(Some("resolved".into())) {
            crate::MetaError::InvalidTransition { from, to } => {
                assert_eq!((from.as_str(), to.as_str()), ("resolved", "acknowledged"))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
