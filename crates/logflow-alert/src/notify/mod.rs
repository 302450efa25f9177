//! Telling people: the [`Notification`] every channel renders, one [`Notifier`] per channel, and
//! [`deliver`], which retries a notifier with exponential backoff and reports what happened.
//!
//! Notifiers are cheap values built per delivery by [`Notifiers::notifier`] from the server-wide
//! pieces (one HTTP client, one SMTP transport) and the rule's parsed [`Channel`] settings.
//!
//! HTTP notifications go only where the [`TargetPolicy`] allows (see `target.rs`): never to
//! link-local (cloud metadata) and similar addresses, and to private ones only when allowed. A
//! refused target fails the delivery at once, without retries.

mod console;
mod email;
mod slack;
mod target;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use logflow_meta::notification_status;
use serde::Serialize;

use crate::channel::Channel;
use crate::error::AlertError;
use crate::rule::Condition;

pub use console::ConsoleNotifier;
pub use email::{EmailNotifier, SmtpConfig, SmtpTls};
pub use slack::{slack_payload, SlackNotifier};
pub(crate) use target::{check_url, TargetRefused};
pub use target::{Refusal, TargetPolicy};
pub use webhook::WebhookNotifier;

/// Whether a notification announces a firing or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    /// The rule's condition started to hold; a triggered alert was recorded.
    Triggered,
    /// The condition of an open alert stopped holding.
    Recovered,
}

/// What every channel sends, and the webhook body as it is (JSON field names are stable).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub kind: NotificationKind,
    /// The triggered alert (`/api/v1/alerts/triggered/{alert_id}`).
    pub alert_id: i64,
    pub rule_id: i64,
    pub rule_name: String,
    /// The rule's condition (`greater_than`, ...), or `anomaly` for anomaly rules.
    pub condition: String,
    /// The measured value: for `triggered` the value that fired, for `recovered` the value now.
    /// Anomaly rules: the anomalous point's value.
    pub value: f64,
    /// The rule's threshold; for anomaly rules the value the detectors expected.
    pub threshold: f64,
    pub time_window_minutes: i64,
    pub triggered_at: DateTime<Utc>,
    /// Set on `recovered` notifications.
    pub recovered_at: Option<DateTime<Utc>>,
    /// One human-readable sentence.
    pub message: String,
    /// The LogFlow search for the logs the rule counts over its window.
    pub search_url: String,
    /// A few of those logs, newest first.
    pub sample_log_ids: Vec<String>,
}

impl Notification {
    /// `"ALERT"` or `"RECOVERED"`, for subjects and titles.
    pub fn title_word(&self) -> &'static str {
        match self.kind {
            NotificationKind::Triggered => "ALERT",
            NotificationKind::Recovered => "RECOVERED",
        }
    }

    /// `"> 50"` for threshold rules, `"expected ~225"` for anomaly rules.
    pub fn threshold_text(&self) -> String {
        match Condition::parse(&self.condition) {
            Some(condition) => format!("{} {}", condition.symbol(), self.threshold),
            None => format!("expected ~{}", self.threshold),
        }
    }
}

/// An instant as messages show it: `2025-10-24T12:00:00Z`.
pub(crate) fn display_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Why one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Retrying cannot help: bad settings, a target the [`TargetPolicy`] refuses, or the
    /// receiver refused the request itself (HTTP 3xx, 4xx other than 408 and 429, a permanent
    /// SMTP reply).
    #[error("{0}")]
    Permanent(String),
    /// Might work later: a timeout, a refused connection, HTTP 5xx, 408 or 429, a transient SMTP
    /// reply.
    #[error("{0}")]
    Transient(String),
}

/// One notification channel.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Sends `notification` once (retries are [`deliver`]'s business).
    async fn send(&self, notification: &Notification) -> Result<(), NotifyError>;
}

/// How often and how patiently [`deliver`] tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1 (default 3).
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one (default 1 s).
    pub base_delay: Duration,
    /// Longest wait between two attempts (default 30 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 3, base_delay: Duration::from_secs(1), max_delay: Duration::from_secs(30) }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): `base_delay * 2^(attempt-1)`,
    /// at most `max_delay`.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// What [`deliver`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// Attempts made (at least 1).
    pub attempts: u32,
    /// The last attempt's error; `None` when the notification was delivered.
    pub error: Option<String>,
}

impl DeliveryOutcome {
    /// The alert's `notification_status`: `sent` or `failed`.
    pub fn status(&self) -> &'static str {
        match self.error {
            None => notification_status::SENT,
            Some(_) => notification_status::FAILED,
        }
    }
}

/// Sends `notification` through `notifier`, retrying transient failures per `policy`.
/// Never panics; takes at most `max_attempts` sends plus the waits between them.
pub async fn deliver(notifier: &dyn Notifier, notification: &Notification, policy: &RetryPolicy) -> DeliveryOutcome {
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        match notifier.send(notification).await {
            Ok(()) => return DeliveryOutcome { attempts: attempt, error: None },
            Err(NotifyError::Transient(error)) if attempt < max_attempts => {
                let delay = policy.delay_after(attempt);
                tracing::debug!(alert_id = notification.alert_id, attempt, ?delay, %error, "notification failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return DeliveryOutcome { attempts: attempt, error: Some(e.to_string()) },
        }
    }
}

/// The server-wide pieces notifiers share: one HTTP client (connection reuse, one timeout, the
/// target policy) and, when configured, one SMTP transport.
#[derive(Clone)]
pub struct Notifiers {
    http: reqwest::Client,
    targets: TargetPolicy,
    email: Option<Arc<email::Mailer>>,
}

impl Notifiers {
    /// Builds the HTTP client and, given `smtp`, the SMTP transport; `timeout` bounds one
    /// delivery attempt (an HTTP request, or a whole SMTP conversation). The HTTP client connects
    /// only to addresses `targets` allows (its resolver drops the others) and follows no
    /// redirects.
    pub fn new(timeout: Duration, smtp: Option<&SmtpConfig>, targets: TargetPolicy) -> Result<Notifiers, AlertError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("LogFlow-Alerts/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(target::GuardedResolver { policy: targets }))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AlertError::Config(format!("cannot build the HTTP client: {e}")))?;
        let email = smtp.map(|cfg| email::Mailer::new(cfg, timeout)).transpose()?.map(Arc::new);
        Ok(Notifiers { http, targets, email })
    }

    /// The notifier for a rule's channel.
    pub fn notifier(&self, channel: &Channel) -> Box<dyn Notifier> {
        match channel {
            Channel::Console => Box::new(ConsoleNotifier),
            Channel::Webhook(cfg) => Box::new(WebhookNotifier::new(self.http.clone(), self.targets, cfg.clone())),
            Channel::Slack(cfg) => Box::new(SlackNotifier::new(self.http.clone(), self.targets, cfg.clone())),
            Channel::Email(cfg) => Box::new(EmailNotifier::new(self.email.clone(), cfg.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails with the given errors in turn, then succeeds.
    struct Scripted {
        failures: Vec<NotifyError>,
        calls: AtomicU32,
    }

    #[async_trait]
    impl Notifier for Scripted {
        async fn send(&self, _: &Notification) -> Result<(), NotifyError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) as usize;
            self.failures.get(call).cloned().map_or(Ok(()), Err)
        }
    }

    fn notification() -> Notification {
        Notification {
            kind: NotificationKind::Triggered,
            alert_id: 1,
            rule_id: 2,
            rule_name: "errors".into(),
            condition: "greater_than".into(),
            value: 57.0,
            threshold: 50.0,
            time_window_minutes: 5,
            triggered_at: Utc::now(),
            recovered_at: None,
            message: "57 logs".into(),
            search_url: "http://localhost/api/v1/logs/search".into(),
            sample_log_ids: vec![],
        }
    }

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy { max_attempts, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(5) }
    }

    async fn run(failures: Vec<NotifyError>, max_attempts: u32) -> (DeliveryOutcome, u32) {
        let notifier = Scripted { failures, calls: AtomicU32::new(0) };
        let outcome = deliver(&notifier, &notification(), &policy(max_attempts)).await;
        (outcome, notifier.calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn transient_failures_are_retried_within_the_budget() {
        let t = |m: &str| NotifyError::Transient(m.into());
        let (outcome, calls) = run(vec![t("a"), t("b")], 3).await;
        assert_eq!((outcome.attempts, outcome.error.as_deref(), outcome.status(), calls), (3, None, "sent", 3));

        let (outcome, calls) = run(vec![t("a"), t("b"), t("c"), t("d")], 3).await;
        assert_eq!((outcome.attempts, outcome.error.as_deref(), outcome.status(), calls), (3, Some("c"), "failed", 3));

        let (outcome, calls) = run(vec![NotifyError::Permanent("HTTP 404".into())], 5).await;
        assert_eq!((outcome.attempts, outcome.error.as_deref(), calls), (1, Some("HTTP 404"), 1));

        // Zero attempts configured still makes one.
        let (outcome, calls) = run(vec![], 0).await;
        assert_eq!((outcome.attempts, calls), (1, 1));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy { max_attempts: 10, base_delay: Duration::from_secs(1), max_delay: Duration::from_secs(5) };
        let delays: Vec<u64> = (1..=5).map(|a| p.delay_after(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        assert_eq!(p.delay_after(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn notification_serialises_with_stable_names() {
        let json = serde_json::to_value(notification()).unwrap();
        assert_eq!(json["kind"], "triggered");
        assert_eq!(json["time_window_minutes"], 5);
        assert_eq!(json["recovered_at"], serde_json::Value::Null);
        assert_eq!(notification().threshold_text(), "> 50");
        let anomaly = Notification { condition: "anomaly".into(), threshold: 225.0, ..notification() };
        assert_eq!(anomaly.threshold_text(), "expected ~225");
    }
}
