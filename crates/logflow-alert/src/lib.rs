//! # logflow-alert
//!
//! LogFlow's alerting: rules that watch the logs, and the notifications they send.
//!
//! * [`validate`]: the checks the API runs on a rule before storing it
//!   ([`validate_new_rule`], [`validate_patch`]); every refusal is a message for a 400 answer.
//! * [`rule`]: the typed view of a stored rule ([`RuleSpec`]: condition, kind, filters, channel),
//!   parsed by the same code that validates, so whatever the API accepted the engine can run.
//! * [`channel`]: the four channels and the shape of each one's `notification_config`.
//! * [`notify`]: the [`Notification`] every channel renders, a [`Notifier`] per channel
//!   (console, webhook, Slack, email over SMTP) and [`deliver`], which retries with exponential
//!   backoff and reports attempts and the last error. Webhook and Slack deliveries go only to
//!   addresses the [`TargetPolicy`] allows: never to link-local (cloud metadata) addresses and
//!   the like, to private ones only when allowed.
//! * [`Engine`]: every `check_interval`, claims each active rule (one process per rule and tick
//!   on a shared database), measures it (a count over the rule's window, or the anomaly
//!   detectors of `logflow-anomaly` over a one-minute series), records firings and recoveries in
//!   the [`MetaStore`](logflow_meta::MetaStore), and starts the notifications in the background.
//!
//! Rules come in two kinds:
//!
//! * **threshold**: the number of logs matching `levels`, `services` and `query` in
//!   `[now - time_window, now)`, compared with `threshold` by `condition`.
//! * **anomaly**: `anomaly.metric` (`log_volume`, or `error_rate`, the ERROR + CRITICAL share)
//!   per minute over the window; fires on an anomaly of at least `anomaly.min_severity` in the
//!   last few minutes. The rule's `condition` and `threshold` are not used; alerts record the
//!   condition `anomaly`, the anomalous value and the expected one.
//!
//! A rule with an open alert does not fire again; when its condition clears the alert is marked
//! recovered and a `recovered` notification goes out. After a firing the rule stays quiet for its
//! `cooldown_minutes` (or the engine's default), so a flapping condition does not page every
//! minute.

pub mod channel;
mod engine;
pub mod error;
pub mod notify;
pub mod rule;
pub mod validate;

pub use channel::Channel;
pub use engine::{Engine, EngineConfig, EngineObserver, TickReport};
pub use error::AlertError;
pub use notify::{
    deliver, DeliveryOutcome, Notification, NotificationKind, Notifier, Notifiers, NotifyError, RetryPolicy,
    SmtpConfig, SmtpTls, TargetPolicy,
};
pub use rule::{canonical_levels, AnomalyMetric, AnomalySettings, Condition, RuleKind, RuleSpec};
pub use validate::{validate_new_rule, validate_patch};
