//! The rule engine: every `check_interval` it claims each active rule, measures it against the
//! log store, records firings and recoveries in the metadata store, and hands notifications to
//! background deliveries.
//!
//! A rule's life per tick:
//!
//! 1. **Claim** ([`MetaStore::claim_rule_check`]): of all LogFlow processes on one database, one
//!    evaluates the rule for this tick.
//! 2. **Measure** (`measure.rs`): the count of matching logs in `[now - window, now)`, or the
//!    anomalies of the rule's one-minute series.
//! 3. **Fire** when the condition holds, the rule has no open alert and its cooldown since the
//!    last firing is over: [`MetaStore::record_trigger`] (which refuses a second open alert, so
//!    racing processes cannot both fire), then a `triggered` notification whose outcome is
//!    written back with [`MetaStore::update_notification`].
//! 4. **Recover** when the condition no longer holds and an alert is open:
//!    [`MetaStore::mark_recovered`], and a `recovered` notification from whoever recorded it.
//!
//! Deliveries run as their own tasks, so a slow webhook delays neither the tick nor other rules;
//! [`Engine::wait_for_deliveries`] waits for those in flight (shutdown, tests).

mod measure;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::stream::{self, StreamExt};
use logflow_meta::{AlertRule, MetaStore, NewTriggeredAlert, RuleFilter, TriggeredAlert};
use logflow_store::LogStore;
use reqwest::Url;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::MissedTickBehavior;

use crate::error::AlertError;
use crate::notify::{deliver, Notification, NotificationKind, Notifiers, RetryPolicy, SmtpConfig, TargetPolicy};
use crate::rule::RuleSpec;
use measure::{measure, Measurement};

/// Rules measured at the same time within one tick.
const CONCURRENT_RULES: usize = 8;

/// A claim succeeds when the rule was last checked at least this share of `check_interval`
/// ago, so a tick that starts a little early (timer jitter) still claims.
const CLAIM_SHARE: f64 = 0.9;

/// An anomaly fires its rule while it is at most this recent (or one check interval, if longer).
const ANOMALY_RECENT_MINUTES: i64 = 3;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Time between two ticks (default 60 s, the spec's).
    pub check_interval: Duration,
    /// Least time between two firings of a rule whose `cooldown_minutes` is null (default 5 min).
    pub default_cooldown: Duration,
    /// The server's address as users reach it, for links in notifications
    /// (default `http://localhost:8000`).
    pub public_url: String,
    /// The SMTP relay for email rules; without it they fail with a clear error.
    pub smtp: Option<SmtpConfig>,
    /// Retries of a failed delivery.
    pub retry: RetryPolicy,
    /// Time limit of one delivery attempt: an HTTP request, or a whole SMTP conversation
    /// (default 10 s).
    pub notify_timeout: Duration,
    /// Where webhook and Slack notifications may go. Link-local (cloud metadata), unspecified,
    /// multicast and broadcast addresses are always refused; loopback and private ones only
    /// when `allow_private` is false (default true). A refused target is a failed delivery,
    /// not retried.
    pub notify_targets: TargetPolicy,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            check_interval: Duration::from_secs(60),
            default_cooldown: Duration::from_secs(300),
            public_url: "http://localhost:8000".to_string(),
            smtp: None,
            retry: RetryPolicy::default(),
            notify_timeout: Duration::from_secs(10),
            notify_targets: TargetPolicy::default(),
        }
    }
}

/// Told about the engine's work (the server counts `alerts_checked_total` and
/// `alerts_triggered_total{rule_name}` with it).
pub trait EngineObserver: Send + Sync {
    /// `n` rules were evaluated in a tick.
    fn checked(&self, n: u64);
    /// The rule fired: a triggered alert was recorded.
    fn triggered(&self, rule_name: &str);
}

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Rules this engine claimed and evaluated (including those whose evaluation failed).
    pub checked: u64,
    /// New triggered alerts recorded.
    pub triggered: u64,
    /// Open alerts whose condition cleared.
    pub recovered: u64,
    /// Rules whose condition held but that fired less than their cooldown ago.
    pub suppressed: u64,
    /// Rules another process (or an earlier tick) had already claimed for this interval.
    pub skipped_claimed: u64,
    /// Rules that could not be claimed or evaluated (each logged), plus 1 if the rules could not
    /// be listed.
    pub errors: u64,
}

/// What happened to one rule in a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    SkippedClaimed,
    /// Evaluated; nothing changed (quiet, or still firing with its alert open).
    Unchanged,
    Triggered,
    Suppressed,
    Recovered,
    /// Claimed, but the evaluation failed.
    Failed,
    /// The claim itself failed (metadata store trouble): not evaluated.
    ClaimFailed,
}

/// The alert rule engine. Build with [`Engine::new`], run with [`Engine::spawn`] (or drive
/// [`Engine::tick`] directly).
pub struct Engine {
    meta: Arc<dyn MetaStore>,
    store: Arc<dyn LogStore>,
    cfg: EngineConfig,
    observer: Option<Arc<dyn EngineObserver>>,
    notifiers: Notifiers,
    /// `{public_url}/api/v1/logs/search`.
    search_endpoint: Url,
    deliveries: Mutex<JoinSet<()>>,
}

impl Engine {
    /// Checks `cfg` and builds the notification clients. Fails on a zero `check_interval`, a
    /// `public_url` that is not an http(s) URL, or unusable SMTP settings.
    pub fn new(
        meta: Arc<dyn MetaStore>,
        store: Arc<dyn LogStore>,
        cfg: EngineConfig,
        observer: Option<Arc<dyn EngineObserver>>,
    ) -> Result<Engine, AlertError> {
        if cfg.check_interval.is_zero() {
            return Err(AlertError::Config("check_interval must be positive".into()));
        }
        let base = cfg.public_url.trim().trim_end_matches('/');
        let search_endpoint = Url::parse(&format!("{base}/api/v1/logs/search"))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| AlertError::Config(format!("public_url \"{}\" is not an http(s) URL", cfg.public_url)))?;
        let notifiers = Notifiers::new(cfg.notify_timeout, cfg.smtp.as_ref(), cfg.notify_targets)?;
        Ok(Engine { meta, store, cfg, observer, notifiers, search_endpoint, deliveries: Mutex::default() })
    }

    /// Runs [`tick`](Self::tick) every `check_interval` (the first at once) until `shutdown`
    /// turns true or its sender is dropped, then waits for deliveries in flight. Failures are
    /// logged and never stop the loop.
    pub fn spawn(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(self.cfg.check_interval);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            while !*shutdown.borrow_and_update() {
                tokio::select! {
                    biased;
                    changed = shutdown.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    _ = interval.tick() => {
                        let report = self.tick(Utc::now()).await;
                        tracing::debug!(?report, "alert rules checked");
                    }
                }
            }
            self.wait_for_deliveries().await;
            tracing::info!("alert engine stopped");
        })
    }

    /// Evaluates every active rule this engine can claim for `now`. Notifications are started,
    /// not awaited.
    pub async fn tick(&self, now: DateTime<Utc>) -> TickReport {
        self.reap_deliveries();
        let mut report = TickReport::default();
        let rules = match self.meta.list_rules(RuleFilter { active_only: true, created_by: None }).await {
            Ok(rules) => rules,
            Err(e) => {
                tracing::error!(error = %e, "cannot list alert rules; skipping this check");
                report.errors = 1;
                return report;
            }
        };
        let outcomes: Vec<Outcome> =
            stream::iter(rules).map(|rule| self.check(rule, now)).buffer_unordered(CONCURRENT_RULES).collect().await;
        for outcome in outcomes {
            match outcome {
                Outcome::SkippedClaimed => report.skipped_claimed += 1,
                Outcome::Unchanged => {}
                Outcome::Triggered => report.triggered += 1,
                Outcome::Suppressed => report.suppressed += 1,
                Outcome::Recovered => report.recovered += 1,
                Outcome::Failed | Outcome::ClaimFailed => report.errors += 1,
            }
            if !matches!(outcome, Outcome::SkippedClaimed | Outcome::ClaimFailed) {
                report.checked += 1;
            }
        }
        if let Some(observer) = &self.observer {
            observer.checked(report.checked);
        }
        report
    }

    /// Waits until every notification started so far (and any started meanwhile) is delivered
    /// or has used up its retries.
    pub async fn wait_for_deliveries(&self) {
        loop {
            let mut running = std::mem::take(&mut *self.deliveries.lock().unwrap_or_else(PoisonError::into_inner));
            if running.is_empty() {
                return;
            }
            while let Some(done) = running.join_next().await {
                if let Err(e) = done {
                    tracing::error!(error = %e, "notification delivery task failed");
                }
            }
        }
    }

    /// Claims, measures and acts on one rule; failures are logged here.
    async fn check(&self, rule: AlertRule, now: DateTime<Utc>) -> Outcome {
        let claim_interval = self.cfg.check_interval.mul_f64(CLAIM_SHARE);
        match self.meta.claim_rule_check(rule.id, now, claim_interval).await {
            Ok(true) => {}
            Ok(false) => return Outcome::SkippedClaimed,
            Err(e) => {
                tracing::warn!(rule_id = rule.id, rule_name = %rule.name, error = %e, "cannot claim alert rule");
                return Outcome::ClaimFailed;
            }
        }
        match self.evaluate(&rule, now).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(rule_id = rule.id, rule_name = %rule.name, error = %e, "alert rule evaluation failed");
                Outcome::Failed
            }
        }
    }

    async fn evaluate(&self, rule: &AlertRule, now: DateTime<Utc>) -> Result<Outcome, AlertError> {
        let spec = RuleSpec::of(rule).map_err(AlertError::InvalidRule)?;
        let recent = TimeDelta::minutes(ANOMALY_RECENT_MINUTES)
            .max(TimeDelta::from_std(self.cfg.check_interval).unwrap_or(TimeDelta::MAX).min(TimeDelta::days(1)));
        let m = measure(&*self.store, &spec, rule.query.as_deref(), now, recent).await?;
        let open = self.meta.open_alert_for_rule(rule.id).await?;
        match (m.fires, open) {
            (true, Some(_)) | (false, None) => Ok(Outcome::Unchanged),
            (true, None) if self.cooling_down(rule, &spec, now) => Ok(Outcome::Suppressed),
            (true, None) => self.fire(rule, &spec, m, now).await,
            (false, Some(alert)) => self.recover(rule, &spec, alert, m, now).await,
        }
    }

    /// Whether the rule fired less than its cooldown before `now`.
    fn cooling_down(&self, rule: &AlertRule, spec: &RuleSpec, now: DateTime<Utc>) -> bool {
        let cooldown = match spec.cooldown_minutes {
            Some(minutes) => TimeDelta::minutes(minutes),
            None => TimeDelta::from_std(self.cfg.default_cooldown).unwrap_or(TimeDelta::MAX),
        };
        rule.last_triggered.is_some_and(|last| now.signed_duration_since(last) < cooldown)
    }

    async fn fire(
        &self,
        rule: &AlertRule,
        spec: &RuleSpec,
        m: Measurement,
        now: DateTime<Utc>,
    ) -> Result<Outcome, AlertError> {
        let recorded = self
            .meta
            .record_trigger(NewTriggeredAlert {
                rule_id: rule.id,
                rule_name: rule.name.clone(),
                triggered_at: now,
                value: m.value,
                threshold: m.threshold,
                condition: m.condition.clone(),
                time_window: rule.time_window,
                sample_log_ids: m.sample_log_ids.clone(),
                message: m.trigger_message(spec),
            })
            .await?;
        // Another process recorded it first: its notification is on its way.
        let Some(alert) = recorded else { return Ok(Outcome::Unchanged) };
        tracing::info!(rule_id = rule.id, rule_name = %rule.name, alert_id = alert.id, value = alert.value,
            threshold = alert.threshold, "alert triggered");
        if let Some(observer) = &self.observer {
            observer.triggered(&rule.name);
        }
        let message = alert.message.clone();
        self.dispatch(spec, self.notification(rule, &alert, NotificationKind::Triggered, &m, message));
        Ok(Outcome::Triggered)
    }

    async fn recover(
        &self,
        rule: &AlertRule,
        spec: &RuleSpec,
        alert: TriggeredAlert,
        m: Measurement,
        now: DateTime<Utc>,
    ) -> Result<Outcome, AlertError> {
        // Whoever records the recovery notifies it, once.
        if !self.meta.mark_recovered(alert.id, now).await? {
            return Ok(Outcome::Unchanged);
        }
        tracing::info!(rule_id = rule.id, rule_name = %rule.name, alert_id = alert.id, "alert recovered");
        let mut notification =
            self.notification(rule, &alert, NotificationKind::Recovered, &m, m.recovery_message(spec));
        notification.recovered_at = Some(now);
        self.dispatch(spec, notification);
        Ok(Outcome::Recovered)
    }

    /// Starts the delivery of `notification` as a task. A `triggered` delivery records its
    /// outcome on the alert; a `recovered` one only logs it, so the alert keeps the outcome of
    /// the notification people act on.
    fn dispatch(&self, spec: &RuleSpec, notification: Notification) {
        let notifier = self.notifiers.notifier(&spec.channel);
        let channel = spec.channel.name();
        let meta = self.meta.clone();
        let policy = self.cfg.retry.clone();
        let task = async move {
            let outcome = deliver(notifier.as_ref(), &notification, &policy).await;
            let alert_id = notification.alert_id;
            match &outcome.error {
                None => tracing::debug!(alert_id, channel, attempts = outcome.attempts, "notification sent"),
                Some(error) => tracing::warn!(alert_id, channel, attempts = outcome.attempts, %error,
                    kind = ?notification.kind, "notification failed"),
            }
            if notification.kind == NotificationKind::Triggered {
                let attempts = i64::from(outcome.attempts);
                if let Err(e) =
                    meta.update_notification(alert_id, outcome.status(), attempts, outcome.error.as_deref()).await
                {
                    tracing::error!(alert_id, error = %e, "cannot record the notification outcome");
                }
            }
        };
        self.deliveries.lock().unwrap_or_else(PoisonError::into_inner).spawn(task);
    }

    /// A notification about `alert` of `rule`, carrying the value `m` measured now and the link
    /// to the logs `m` counted.
    fn notification(
        &self,
        rule: &AlertRule,
        alert: &TriggeredAlert,
        kind: NotificationKind,
        m: &Measurement,
        message: String,
    ) -> Notification {
        Notification {
            kind,
            alert_id: alert.id,
            rule_id: rule.id,
            rule_name: alert.rule_name.clone(),
            condition: alert.condition.clone(),
            value: m.value,
            threshold: alert.threshold,
            time_window_minutes: alert.time_window,
            triggered_at: alert.triggered_at,
            recovered_at: None,
            message,
            search_url: m.search.url(&self.search_endpoint),
            sample_log_ids: alert.sample_log_ids.clone(),
        }
    }

    /// Forgets finished deliveries (their outcome is already recorded and logged).
    fn reap_deliveries(&self) {
        let mut deliveries = self.deliveries.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(done) = deliveries.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "notification delivery task failed");
            }
        }
    }
}
