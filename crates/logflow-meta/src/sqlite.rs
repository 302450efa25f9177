//! The embedded backend: one SQLite file in WAL mode.
//!
//! Writers are serialised by SQLite itself. Transactions that read before they write start with
//! `BEGIN IMMEDIATE`, taking the write lock up front: a deferred transaction that upgrades from
//! reading to writing fails at once with `SQLITE_BUSY` when another writer got in between, where an
//! immediate one waits (up to the busy timeout) and then sees the latest data.
//!
//! Timestamps are bound as text in one fixed-width UTC format ([`ts`]), so comparing the stored
//! text compares the instants (sqlx's own encoding drops trailing zeros of the fraction).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{FromRow, Sqlite, Transaction};

use crate::dump::{self, MetaDump};
use crate::error::{saved_search_conflict, user_conflict};
use crate::model::Transition;
use crate::{
    claim_cutoff, migrations, AlertRule, AlertRulePatch, ConfigEntry, MetaError, MetaStore, MigrationInfo,
    NewAlertRule, NewSavedSearch, NewTriggeredAlert, NewUser, Observer, OpenOptions, PoolStats, Result, RuleFilter,
    SavedSearch, TriggeredAlert, TriggeredFilter, User, UserUpdate,
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// [`MetaStore`] over a SQLite file.
pub(crate) struct SqliteStore {
    pool: SqlitePool,
    observer: Observer,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`.
    pub(crate) async fn open(path: &str, opts: &OpenOptions) -> Result<SqliteStore> {
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal);
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| MetaError::Unavailable(format!("cannot open SQLite database {path}: {e}")))?;
        let store = SqliteStore { pool, observer: Observer(opts.observer.clone()) };
        if opts.run_migrations {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// A transaction holding the write lock from its first statement.
    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn alert_status(&self, id: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT status FROM triggered_alerts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn transition(&self, id: i64, user_id: i64, at: DateTime<Utc>, t: Transition) -> Result<TriggeredAlert> {
        let moved =
            sqlx::query_as(t.update_sql()).bind(id).bind(user_id).bind(ts(at)).fetch_optional(&self.pool).await?;
        match moved {
            Some(alert) => Ok(alert),
            None => Err(t.refused(self.alert_status(id).await?)),
        }
    }
}

/// The stored form of a timestamp: `2024-05-01T12:00:00.123456Z`, always 27 characters.
/// Microseconds, like PostgreSQL, so both backends keep the same instants.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn ts_opt(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(ts)
}

type SqliteQuery<'q> = Query<'q, Sqlite, SqliteArguments<'q>>;

/// Binds the writable fields of a rule, in [`NewAlertRule`] order, as `$1`..`$14`.
fn bind_rule<'q>(q: SqliteQuery<'q>, r: &'q NewAlertRule) -> SqliteQuery<'q> {
    q.bind(&r.name)
        .bind(&r.description)
        .bind(&r.rule_type)
        .bind(&r.condition)
        .bind(r.threshold)
        .bind(r.time_window)
        .bind(Json(&r.levels))
        .bind(Json(&r.services))
        .bind(&r.query)
        .bind(&r.anomaly)
        .bind(&r.notification_channel)
        .bind(&r.notification_config)
        .bind(r.is_active)
        .bind(r.cooldown_minutes)
}

#[async_trait]
impl MetaStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn health(&self) -> Result<()> {
        self.observer.op("health");
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats { size: self.pool.size(), idle: self.pool.num_idle() }
    }

    async fn migrations(&self) -> Result<Vec<MigrationInfo>> {
        self.observer.op("migrations");
        migrations::status(&mut *self.pool.acquire().await?, &MIGRATOR).await
    }

    async fn migrate(&self) -> Result<usize> {
        self.observer.op("migrate");
        migrations::run(&mut *self.pool.acquire().await?, &MIGRATOR).await
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        self.observer.op("create_user");
        let now = ts(Utc::now());
        sqlx::query_as(
            "INSERT INTO users (username, email, full_name, hashed_password, is_active, is_admin, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, TRUE, $5, $6, $6) RETURNING *",
        )
        .bind(&user.username)
        .bind(&user.email)
        .bind(&user.full_name)
        .bind(&user.hashed_password)
        .bind(user.is_admin)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(user_conflict)
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        self.observer.op("user_by_id");
        Ok(sqlx::query_as("SELECT * FROM users WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        self.observer.op("user_by_username");
        Ok(sqlx::query_as("SELECT * FROM users WHERE username = $1").bind(username).fetch_optional(&self.pool).await?)
    }

    async fn list_users(&self, limit: i64, offset: i64) -> Result<Vec<User>> {
        self.observer.op("list_users");
        Ok(sqlx::query_as("SELECT * FROM users ORDER BY id LIMIT $1 OFFSET $2")
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn count_users(&self) -> Result<i64> {
        self.observer.op("count_users");
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
    }

    async fn update_user(&self, id: i64, update: UserUpdate) -> Result<User> {
        self.observer.op("update_user");
        let mut tx = self.write_tx().await?;
        let mut user: User = sqlx::query_as("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(MetaError::NotFound)?;
        update.apply(&mut user);
        let user = sqlx::query_as(
            "UPDATE users SET email = $2, full_name = $3, hashed_password = $4, is_active = $5, is_admin = $6, \
             updated_at = $7 WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(&user.email)
        .bind(&user.full_name)
        .bind(&user.hashed_password)
        .bind(user.is_active)
        .bind(user.is_admin)
        .bind(ts(Utc::now()))
        .fetch_one(&mut *tx)
        .await
        .map_err(user_conflict)?;
        tx.commit().await?;
        Ok(user)
    }

    async fn set_last_login(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.observer.op("set_last_login");
        let done = sqlx::query("UPDATE users SET last_login = $2 WHERE id = $1")
            .bind(id)
            .bind(ts(at))
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(MetaError::NotFound);
        }
        Ok(())
    }

    async fn delete_user(&self, id: i64) -> Result<bool> {
        self.observer.op("delete_user");
        let done = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_saved_search(&self, s: NewSavedSearch) -> Result<SavedSearch> {
        self.observer.op("create_saved_search");
        sqlx::query_as(
            "INSERT INTO saved_searches (user_id, name, params, created_at) VALUES ($1, $2, $3, $4) RETURNING *",
        )
        .bind(s.user_id)
        .bind(&s.name)
        .bind(&s.params)
        .bind(ts(Utc::now()))
        .fetch_one(&self.pool)
        .await
        .map_err(saved_search_conflict(&s.name))
    }

    async fn list_saved_searches(&self, user_id: i64) -> Result<Vec<SavedSearch>> {
        self.observer.op("list_saved_searches");
        Ok(sqlx::query_as("SELECT * FROM saved_searches WHERE user_id = $1 ORDER BY name")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn delete_saved_search(&self, id: i64, user_id: i64) -> Result<bool> {
        self.observer.op("delete_saved_search");
        let done = sqlx::query("DELETE FROM saved_searches WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_rule(&self, rule: NewAlertRule) -> Result<AlertRule> {
        self.observer.op("create_rule");
        let sql = "INSERT INTO alert_rules (name, description, rule_type, condition, threshold, time_window, levels, \
                   services, query, anomaly, notification_channel, notification_config, is_active, cooldown_minutes, \
                   created_by, created_at, updated_at, trigger_count) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, 0) RETURNING *";
        Ok(bind_rule(sqlx::query(sql), &rule)
            .bind(rule.created_by)
            .bind(ts(Utc::now()))
            .try_map(|row: SqliteRow| AlertRule::from_row(&row))
            .fetch_one(&self.pool)
            .await?)
    }

    async fn get_rule(&self, id: i64) -> Result<Option<AlertRule>> {
        self.observer.op("get_rule");
        Ok(sqlx::query_as("SELECT * FROM alert_rules WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
    }

    async fn list_rules(&self, filter: RuleFilter) -> Result<Vec<AlertRule>> {
        self.observer.op("list_rules");
        Ok(sqlx::query_as(
            "SELECT * FROM alert_rules WHERE (NOT $1 OR is_active) AND ($2 IS NULL OR created_by = $2) ORDER BY id",
        )
        .bind(filter.active_only)
        .bind(filter.created_by)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn update_rule(&self, id: i64, patch: AlertRulePatch) -> Result<AlertRule> {
        self.observer.op("update_rule");
        let mut tx = self.write_tx().await?;
        let rule: AlertRule = sqlx::query_as("SELECT * FROM alert_rules WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(MetaError::NotFound)?;
        let mut fields = rule.into_writable();
        patch.apply(&mut fields);
        let sql = "UPDATE alert_rules SET name = $1, description = $2, rule_type = $3, condition = $4, \
                   threshold = $5, time_window = $6, levels = $7, services = $8, query = $9, anomaly = $10, \
                   notification_channel = $11, notification_config = $12, is_active = $13, cooldown_minutes = $14, \
                   updated_at = $15 WHERE id = $16 RETURNING *";
        let rule = bind_rule(sqlx::query(sql), &fields)
            .bind(ts(Utc::now()))
            .bind(id)
            .try_map(|row: SqliteRow| AlertRule::from_row(&row))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rule)
    }

    async fn delete_rule(&self, id: i64) -> Result<bool> {
        self.observer.op("delete_rule");
        let done = sqlx::query("DELETE FROM alert_rules WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn claim_rule_check(&self, rule_id: i64, now: DateTime<Utc>, min_interval: Duration) -> Result<bool> {
        self.observer.op("claim_rule_check");
        let cutoff = claim_cutoff(now, min_interval)?;
        let done = sqlx::query(
            "UPDATE alert_rules SET last_checked = $2 \
             WHERE id = $1 AND is_active AND (last_checked IS NULL OR last_checked <= $3)",
        )
        .bind(rule_id)
        .bind(ts(now))
        .bind(ts(cutoff))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn open_alert_for_rule(&self, rule_id: i64) -> Result<Option<TriggeredAlert>> {
        self.observer.op("open_alert_for_rule");
        Ok(sqlx::query_as(
            "SELECT * FROM triggered_alerts \
             WHERE rule_id = $1 AND status IN ('triggered', 'acknowledged') AND recovered_at IS NULL",
        )
        .bind(rule_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn record_trigger(&self, alert: NewTriggeredAlert) -> Result<Option<TriggeredAlert>> {
        self.observer.op("record_trigger");
        let mut tx = self.write_tx().await?;
        let (rule_exists, open): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM alert_rules WHERE id = $1), \
                    EXISTS (SELECT 1 FROM triggered_alerts WHERE rule_id = $1 \
                            AND status IN ('triggered', 'acknowledged') AND recovered_at IS NULL)",
        )
        .bind(alert.rule_id)
        .fetch_one(&mut *tx)
        .await?;
        if !rule_exists {
            return Err(MetaError::NotFound);
        }
        if open {
            return Ok(None);
        }
        let recorded: TriggeredAlert = sqlx::query_as(
            "INSERT INTO triggered_alerts (rule_id, rule_name, triggered_at, value, threshold, condition, time_window, \
             sample_log_ids, message, status, notification_status, notification_attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'triggered', 'pending', 0) RETURNING *",
        )
        .bind(alert.rule_id)
        .bind(&alert.rule_name)
        .bind(ts(alert.triggered_at))
        .bind(alert.value)
        .bind(alert.threshold)
        .bind(&alert.condition)
        .bind(alert.time_window)
        .bind(Json(&alert.sample_log_ids))
        .bind(&alert.message)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE alert_rules SET last_triggered = $2, trigger_count = trigger_count + 1 WHERE id = $1")
            .bind(alert.rule_id)
            .bind(ts(alert.triggered_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(recorded))
    }

    async fn mark_recovered(&self, id: i64, at: DateTime<Utc>) -> Result<bool> {
        self.observer.op("mark_recovered");
        let done = sqlx::query("UPDATE triggered_alerts SET recovered_at = $2 WHERE id = $1 AND recovered_at IS NULL")
            .bind(id)
            .bind(ts(at))
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        self.alert_status(id).await?.map(|_| false).ok_or(MetaError::NotFound)
    }

    async fn update_notification(&self, id: i64, status: &str, attempts: i64, error: Option<&str>) -> Result<()> {
        self.observer.op("update_notification");
        let done = sqlx::query(
            "UPDATE triggered_alerts SET notification_status = $2, notification_attempts = $3, notification_error = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(attempts)
        .bind(error)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(MetaError::NotFound);
        }
        Ok(())
    }

    async fn acknowledge(&self, id: i64, user_id: i64, at: DateTime<Utc>) -> Result<TriggeredAlert> {
        self.observer.op("acknowledge");
        self.transition(id, user_id, at, Transition::Acknowledge).await
    }

    async fn resolve(&self, id: i64, user_id: i64, at: DateTime<Utc>) -> Result<TriggeredAlert> {
        self.observer.op("resolve");
        self.transition(id, user_id, at, Transition::Resolve).await
    }

    async fn get_triggered(&self, id: i64) -> Result<Option<TriggeredAlert>> {
        self.observer.op("get_triggered");
        Ok(sqlx::query_as("SELECT * FROM triggered_alerts WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
    }

    async fn list_triggered(&self, filter: TriggeredFilter) -> Result<Vec<TriggeredAlert>> {
        self.observer.op("list_triggered");
        Ok(sqlx::query_as(
            "SELECT * FROM triggered_alerts \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR rule_id = $2) \
               AND ($3 IS NULL OR triggered_at >= $3) AND ($4 IS NULL OR triggered_at < $4) \
             ORDER BY triggered_at DESC, id DESC LIMIT $5 OFFSET $6",
        )
        .bind(&filter.status)
        .bind(filter.rule_id)
        .bind(ts_opt(filter.since))
        .bind(ts_opt(filter.until))
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn get_config(&self, key: &str) -> Result<Option<Value>> {
        self.observer.op("get_config");
        Ok(sqlx::query_scalar("SELECT value FROM system_config WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn set_config(&self, key: &str, value: &Value) -> Result<()> {
        self.observer.op("set_config");
        sqlx::query(
            "INSERT INTO system_config (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_config(&self) -> Result<Vec<ConfigEntry>> {
        self.observer.op("list_config");
        Ok(sqlx::query_as("SELECT key, value, updated_at FROM system_config ORDER BY key")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn export(&self) -> Result<MetaDump> {
        self.observer.op("export");
        // In WAL mode a read transaction sees one snapshot from its first read to its end.
        let mut tx = self.pool.begin().await?;
        let mut dump = MetaDump::new(self.backend());
        dump.users = sqlx::query_as("SELECT * FROM users ORDER BY id").fetch_all(&mut *tx).await?;
        dump.alert_rules = sqlx::query_as("SELECT * FROM alert_rules ORDER BY id").fetch_all(&mut *tx).await?;
        dump.triggered_alerts =
            sqlx::query_as("SELECT * FROM triggered_alerts ORDER BY id").fetch_all(&mut *tx).await?;
        dump.system_config =
            sqlx::query_as("SELECT key, value, updated_at FROM system_config ORDER BY key").fetch_all(&mut *tx).await?;
        dump.saved_searches = sqlx::query_as("SELECT * FROM saved_searches ORDER BY id").fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(dump)
    }

    async fn import(&self, dump: &MetaDump) -> Result<()> {
        self.observer.op("import");
        dump.check_format()?;
        let mut tx = self.write_tx().await?;
        let has_rows: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM alert_rules) \
             OR EXISTS (SELECT 1 FROM triggered_alerts) OR EXISTS (SELECT 1 FROM system_config) \
             OR EXISTS (SELECT 1 FROM saved_searches)",
        )
        .fetch_one(&mut *tx)
        .await?;
        if has_rows {
            return Err(dump::not_empty());
        }
        for u in &dump.users {
            sqlx::query(
                "INSERT INTO users (id, username, email, full_name, hashed_password, is_active, is_admin, created_at, \
                 updated_at, last_login) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(u.id)
            .bind(&u.username)
            .bind(&u.email)
            .bind(&u.full_name)
            .bind(&u.hashed_password)
            .bind(u.is_active)
            .bind(u.is_admin)
            .bind(ts(u.created_at))
            .bind(ts(u.updated_at))
            .bind(ts_opt(u.last_login))
            .execute(&mut *tx)
            .await?;
        }
        for r in &dump.alert_rules {
            let fields = r.clone().into_writable();
            let sql = "INSERT INTO alert_rules (name, description, rule_type, condition, threshold, time_window, \
                       levels, services, query, anomaly, notification_channel, notification_config, is_active, \
                       cooldown_minutes, created_by, id, created_at, updated_at, last_checked, last_triggered, \
                       trigger_count) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
                       $20, $21)";
            bind_rule(sqlx::query(sql), &fields)
                .bind(r.created_by)
                .bind(r.id)
                .bind(ts(r.created_at))
                .bind(ts(r.updated_at))
                .bind(ts_opt(r.last_checked))
                .bind(ts_opt(r.last_triggered))
                .bind(r.trigger_count)
                .execute(&mut *tx)
                .await?;
        }
        for a in &dump.triggered_alerts {
            sqlx::query(
                "INSERT INTO triggered_alerts (id, rule_id, rule_name, triggered_at, value, threshold, condition, \
                 time_window, sample_log_ids, message, status, acknowledged_by, acknowledged_at, resolved_by, \
                 resolved_at, recovered_at, notification_status, notification_attempts, notification_error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            )
            .bind(a.id)
            .bind(a.rule_id)
            .bind(&a.rule_name)
            .bind(ts(a.triggered_at))
            .bind(a.value)
            .bind(a.threshold)
            .bind(&a.condition)
            .bind(a.time_window)
            .bind(Json(&a.sample_log_ids))
            .bind(&a.message)
            .bind(&a.status)
            .bind(a.acknowledged_by)
            .bind(ts_opt(a.acknowledged_at))
            .bind(a.resolved_by)
            .bind(ts_opt(a.resolved_at))
            .bind(ts_opt(a.recovered_at))
            .bind(&a.notification_status)
            .bind(a.notification_attempts)
            .bind(&a.notification_error)
            .execute(&mut *tx)
            .await?;
        }
        for c in &dump.system_config {
            sqlx::query("INSERT INTO system_config (key, value, updated_at) VALUES ($1, $2, $3)")
                .bind(&c.key)
                .bind(&c.value)
                .bind(ts(c.updated_at))
                .execute(&mut *tx)
                .await?;
        }
        for s in &dump.saved_searches {
            sqlx::query(
                "INSERT INTO saved_searches (id, user_id, name, params, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(s.id)
            .bind(s.user_id)
            .bind(&s.name)
            .bind(&s.params)
            .bind(ts(s.created_at))
            .execute(&mut *tx)
            .await?;
        }
        // AUTOINCREMENT has recorded the largest id of each table, so new rows continue after it.
        tx.commit().await?;
        Ok(())
    }

    async fn reset(&self) -> Result<()> {
        self.observer.op("reset");
        let mut tx = self.write_tx().await?;
        for sql in [
            "DELETE FROM saved_searches",
            "DELETE FROM triggered_alerts",
            "DELETE FROM alert_rules",
            "DELETE FROM users",
            "DELETE FROM system_config",
            "DELETE FROM sqlite_sequence WHERE name IN ('users', 'alert_rules', 'triggered_alerts', 'saved_searches')",
        ] {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_timestamps_are_fixed_width_and_sort_as_text() {
        let whole = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").unwrap().to_utc();
        let later = DateTime::parse_from_rfc3339("2024-05-01T12:00:00.000001Z").unwrap().to_utc();
        let nanos = DateTime::parse_from_rfc3339("2024-05-01T12:00:00.999999999Z").unwrap().to_utc();
        assert_eq!(ts(whole), "2024-05-01T12:00:00.000000Z");
        assert_eq!(ts(later), "2024-05-01T12:00:00.000001Z");
        assert_eq!(ts(nanos), "2024-05-01T12:00:00.999999Z");
        assert!(ts(whole) < ts(later) && ts(later) < ts(nanos));
    }
}
