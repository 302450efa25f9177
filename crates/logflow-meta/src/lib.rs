//! # logflow-meta
//!
//! LogFlow's metadata: users and their saved searches, alert rules, the history of triggered alerts
//! and system settings.
//! [`MetaStore`] is the engine-facing trait; [`open`] picks the implementation from the URL:
//!
//! * `sqlite:///abs/path/meta.db` or `sqlite://relative.db`: the embedded default, a file in the
//!   server's data directory (WAL journal, 5 s busy timeout, foreign keys on, `synchronous=NORMAL`).
//! * `postgres://...` or `postgresql://...`: a shared PostgreSQL, which lets several LogFlow
//!   processes serve one installation.
//!
//! Both run the same numbered migrations (`migrations/<backend>/`, embedded, applied at open) and
//! pass the same conformance suite (`tests/conformance.rs`).
//!
//! ## Contract every backend keeps
//! * **Bound parameters only.** No value is ever formatted into SQL.
//! * **One evaluator per rule and tick.** [`MetaStore::claim_rule_check`] is a single conditional
//!   `UPDATE`; of any number of processes claiming a rule for the same tick, exactly one wins.
//! * **One open alert per rule.** [`MetaStore::record_trigger`] inserts only when the rule has no
//!   open alert, in one transaction that also counts the trigger on the rule (a partial unique
//!   index enforces it underneath).
//! * **Atomic alert transitions.** Acknowledge and resolve are conditional `UPDATE`s on the current
//!   status, so two people acting at once cannot both win.
//! * **Portable backups.** [`MetaStore::export`] and [`MetaStore::import`] move every row, ids
//!   included, between stores of either backend.
//!
//! Each operation reports its name to an optional [`QueryObserver`] (the server counts
//! `database_queries_total{operation}` with it).

mod dump;
mod error;
mod migrations;
mod model;
mod postgres;
mod sqlite;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use dump::MetaDump;
pub use error::MetaError;
pub use model::{
    alert_status, notification_status, AlertRule, AlertRulePatch, ConfigEntry, NewAlertRule, NewSavedSearch,
    NewTriggeredAlert, NewUser, RuleFilter, SavedSearch, TriggeredAlert, TriggeredFilter, User, UserUpdate,
};

/// The crate's result type.
pub type Result<T, E = MetaError> = std::result::Result<T, E>;

/// Told the name of every store operation as it starts (e.g. `"user_by_username"`).
pub trait QueryObserver: Send + Sync {
    /// Called once per operation, before it runs.
    fn query(&self, operation: &'static str);
}

/// How [`open`] connects.
#[derive(Clone)]
pub struct OpenOptions {
    /// Connections the pool may hold (default 10).
    pub max_connections: u32,
    /// How long an operation waits for a free connection before failing with
    /// [`MetaError::Unavailable`] (default 5 s).
    pub acquire_timeout: Duration,
    /// Apply pending migrations at open (default true). Without it the schema must be current.
    pub run_migrations: bool,
    /// Told about every operation (default none).
    pub observer: Option<Arc<dyn QueryObserver>>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            run_migrations: true,
            observer: None,
        }
    }
}

impl fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenOptions")
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("run_migrations", &self.run_migrations)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// Connections of the pool, for `/health` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStats {
    /// Connections open (idle or in use).
    pub size: u32,
    /// Connections open and idle.
    pub idle: usize,
}

/// One schema migration and whether this database has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationInfo {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

/// The metadata store. Implemented for SQLite and PostgreSQL; obtained from [`open`].
///
/// Lookups return `Ok(None)` for a missing row; operations on one row that must exist return
/// [`MetaError::NotFound`].
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Runs `SELECT 1`.
    async fn health(&self) -> Result<()>;
    /// The pool's connections right now.
    fn pool_stats(&self) -> PoolStats;
    /// Every migration this build knows, marked applied or not.
    async fn migrations(&self) -> Result<Vec<MigrationInfo>>;
    /// Applies pending migrations; returns how many there were.
    async fn migrate(&self) -> Result<usize>;

    /// Creates an active user. [`MetaError::Conflict`] with "username already exists" or
    /// "email already registered" when taken.
    async fn create_user(&self, user: NewUser) -> Result<User>;
    /// The user with this id.
    async fn user_by_id(&self, id: i64) -> Result<Option<User>>;
    /// The user with exactly this username (case-sensitive).
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;
    /// A page of users, by id.
    async fn list_users(&self, limit: i64, offset: i64) -> Result<Vec<User>>;
    /// How many users there are.
    async fn count_users(&self) -> Result<i64>;
    /// Applies `update`; [`MetaError::NotFound`] if the user is gone, [`MetaError::Conflict`]
    /// when the new email is taken.
    async fn update_user(&self, id: i64, update: UserUpdate) -> Result<User>;
    /// Records a successful login; [`MetaError::NotFound`] if the user is gone.
    async fn set_last_login(&self, id: i64, at: DateTime<Utc>) -> Result<()>;
    /// Deletes the user and their saved searches; rules and alerts keep their rows with the user
    /// reference cleared. Returns whether the user existed.
    async fn delete_user(&self, id: i64) -> Result<bool>;

    /// Saves a search for `s.user_id`. [`MetaError::Conflict`] with "a saved search named '<name>'
    /// already exists" when the user has one of that name (other users' names do not count);
    /// [`MetaError::Invalid`] if the user does not exist.
    async fn create_saved_search(&self, s: NewSavedSearch) -> Result<SavedSearch>;
    /// The user's saved searches, by name (byte order on both backends).
    async fn list_saved_searches(&self, user_id: i64) -> Result<Vec<SavedSearch>>;
    /// Deletes the saved search `id` if it belongs to `user_id`. Returns whether it did: false when
    /// there is no such search, or it is another user's (which stays).
    async fn delete_saved_search(&self, id: i64, user_id: i64) -> Result<bool>;

    /// Creates a rule as given (the API validates it first).
    async fn create_rule(&self, rule: NewAlertRule) -> Result<AlertRule>;
    /// The rule with this id.
    async fn get_rule(&self, id: i64) -> Result<Option<AlertRule>>;
    /// The rules matching `filter`, by id.
    async fn list_rules(&self, filter: RuleFilter) -> Result<Vec<AlertRule>>;
    /// Applies `patch` (atomically with respect to other patches of the rule); bumps
    /// `updated_at`. [`MetaError::NotFound`] if the rule is gone.
    async fn update_rule(&self, id: i64, patch: AlertRulePatch) -> Result<AlertRule>;
    /// Deletes the rule; its triggered alerts stay, with `rule_id` cleared. Returns whether the
    /// rule existed.
    async fn delete_rule(&self, id: i64) -> Result<bool>;
    /// Claims the evaluation of an active rule for the tick at `now`: sets `last_checked = now`
    /// if the rule was not checked within `min_interval` before `now`. True iff this caller won;
    /// several processes on one database thus evaluate each rule once per tick.
    async fn claim_rule_check(&self, rule_id: i64, now: DateTime<Utc>, min_interval: Duration) -> Result<bool>;

    /// The rule's open alert: triggered or acknowledged, and not recovered.
    async fn open_alert_for_rule(&self, rule_id: i64) -> Result<Option<TriggeredAlert>>;
    /// Records a firing unless the rule already has an open alert (then `None`), and counts it on
    /// the rule (`last_triggered`, `trigger_count`), in one transaction. Safe under concurrency:
    /// of simultaneous callers exactly one records. [`MetaError::NotFound`] if the rule is gone.
    async fn record_trigger(&self, alert: NewTriggeredAlert) -> Result<Option<TriggeredAlert>>;
    /// Notes that the alert's condition cleared at `at`. True if this call recorded it, false
    /// if it was already recorded (the first instant is kept).
    async fn mark_recovered(&self, id: i64, at: DateTime<Utc>) -> Result<bool>;
    /// Records the notifier's progress (`status` is one of [`notification_status`]);
    /// [`MetaError::NotFound`] if the alert is gone.
    async fn update_notification(&self, id: i64, status: &str, attempts: i64, error: Option<&str>) -> Result<()>;
    /// triggered → acknowledged, by `user_id` at `at`; from any other status
    /// [`MetaError::InvalidTransition`], and [`MetaError::NotFound`] if the alert is gone.
    async fn acknowledge(&self, id: i64, user_id: i64, at: DateTime<Utc>) -> Result<TriggeredAlert>;
    /// triggered or acknowledged → resolved, by `user_id` at `at`; from resolved
    /// [`MetaError::InvalidTransition`], and [`MetaError::NotFound`] if the alert is gone.
    async fn resolve(&self, id: i64, user_id: i64, at: DateTime<Utc>) -> Result<TriggeredAlert>;
    /// The alert with this id.
    async fn get_triggered(&self, id: i64) -> Result<Option<TriggeredAlert>>;
    /// Alerts matching `filter`, newest first (`triggered_at` then `id`, descending).
    async fn list_triggered(&self, filter: TriggeredFilter) -> Result<Vec<TriggeredAlert>>;

    /// The setting's value, if set.
    async fn get_config(&self, key: &str) -> Result<Option<Value>>;
    /// Creates or overwrites the setting.
    async fn set_config(&self, key: &str, value: &Value) -> Result<()>;
    /// Every setting, by key.
    async fn list_config(&self) -> Result<Vec<ConfigEntry>>;

    /// Every row, read in one consistent snapshot.
    async fn export(&self) -> Result<MetaDump>;
    /// Loads `dump` into this store, keeping its ids, in one transaction. The store must be empty
    /// ([`MetaError::Invalid`] otherwise); ids issued afterwards continue after the dump's.
    async fn import(&self, dump: &MetaDump) -> Result<()>;
    /// Deletes every row of every table and restarts ids (the caller re-creates the admin).
    async fn reset(&self) -> Result<()>;
}

/// Opens the store named by `url` (see the [crate docs](crate) for the forms), creating the
/// SQLite file if missing and applying migrations unless told not to.
pub async fn open(url: &str, opts: OpenOptions) -> Result<Arc<dyn MetaStore>> {
    Ok(match Location::parse(url)? {
        Location::Sqlite(path) => Arc::new(sqlite::SqliteStore::open(path, &opts).await?),
        Location::Postgres(url) => Arc::new(postgres::PgStore::open(url, &opts).await?),
    })
}

/// The interactive client for `logflow db shell`: `sqlite3 <path>` or `psql <url>`.
pub fn shell_command(url: &str) -> Result<(String, Vec<String>)> {
    Ok(match Location::parse(url)? {
        Location::Sqlite(path) => ("sqlite3".to_string(), vec![path.to_string()]),
        Location::Postgres(url) => ("psql".to_string(), vec![url.to_string()]),
    })
}

/// Where a URL points: a SQLite file path or a PostgreSQL URL.
#[derive(Debug, PartialEq, Eq)]
enum Location<'a> {
    Sqlite(&'a str),
    Postgres(&'a str),
}

impl<'a> Location<'a> {
    fn parse(url: &'a str) -> Result<Location<'a>> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url));
        }
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"));
        match path {
            // Every pooled connection would get its own empty database.
            Some(":memory:") => Err(MetaError::Invalid("in-memory SQLite is not supported: name a file".into())),
            Some(path) if !path.is_empty() => Ok(Location::Sqlite(path)),
            Some(_) => Err(MetaError::Invalid(format!("no file path in database URL {url:?}"))),
            None => Err(MetaError::Invalid(format!(
                "unsupported database URL {:?}: expected sqlite://PATH or postgres://...",
                redact(url)
            ))),
        }
    }
}

/// `url` without what could be a password (everything between `://` and `@`).
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &url[..scheme], &url[at..]),
        _ => url.to_string(),
    }
}

/// Calls the [`QueryObserver`], if any.
#[derive(Clone)]
struct Observer(Option<Arc<dyn QueryObserver>>);

impl Observer {
    fn op(&self, operation: &'static str) {
        if let Some(observer) = &self.0 {
            observer.query(operation);
        }
    }
}

/// The `last_checked` at or before which a claim at `now` succeeds.
fn claim_cutoff(now: DateTime<Utc>, min_interval: Duration) -> Result<DateTime<Utc>> {
    TimeDelta::from_std(min_interval)
        .ok()
        .and_then(|interval| now.checked_sub_signed(interval))
        .ok_or_else(|| MetaError::Invalid(format!("claim interval {min_interval:?} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(
            Location::parse("sqlite:///var/lib/logflow/meta.db").unwrap(),
            Location::Sqlite("/var/lib/logflow/meta.db")
        );
        assert_eq!(Location::parse("sqlite://meta.db").unwrap(), Location::Sqlite("meta.db"));
        assert_eq!(Location::parse("sqlite:meta.db").unwrap(), Location::Sqlite("meta.db"));
        assert_eq!(Location::parse("postgres://u:p@h/db").unwrap(), Location::Postgres("postgres://u:p@h/db"));
        assert_eq!(Location::parse("postgresql://h/db").unwrap(), Location::Postgres("postgresql://h/db"));
        assert!(matches!(Location::parse("sqlite://"), Err(MetaError::Invalid(_))));
        assert!(matches!(Location::parse("sqlite::memory:"), Err(MetaError::Invalid(_))));
        match Location::parse("mysql://root:secret@h/db") {
            Err(MetaError::Invalid(msg)) => {
                assert!(msg.contains("mysql://***@h/db") && !msg.contains("secret"), "{msg}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn shell_runs_the_backend_client() {
        assert_eq!(shell_command("sqlite:///data/meta.db").unwrap(), ("sqlite3".into(), vec!["/data/meta.db".into()]));
        assert_eq!(shell_command("postgres://h/db").unwrap(), ("psql".into(), vec!["postgres://h/db".into()]));
        assert!(shell_command("redis://h").is_err());
    }

    #[test]
    fn claim_cutoff_is_now_minus_interval() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").unwrap().to_utc();
        assert_eq!(claim_cutoff(now, Duration::from_secs(60)).unwrap(), now - TimeDelta::seconds(60));
        assert!(claim_cutoff(now, Duration::MAX).is_err());
    }
}
