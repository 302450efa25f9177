//! The shared backend: PostgreSQL, which several LogFlow processes may use at once.
//!
//! Read-modify-write operations lock the row they start from (`SELECT ... FOR UPDATE`), so two
//! processes patching a rule, or recording a trigger of it, take turns. Everything else is a single
//! statement. Lists and maps are JSONB, timestamps TIMESTAMPTZ (microseconds).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{FromRow, Postgres};

use crate::dump::{self, MetaDump};
use crate::error::{saved_search_conflict, user_conflict};
use crate::model::Transition;
use crate::{
    claim_cutoff, migrations, redact, AlertRule, AlertRulePatch, ConfigEntry, MetaError, MetaStore, MigrationInfo,
    NewAlertRule, NewSavedSearch, NewTriggeredAlert, NewUser, Observer, OpenOptions, PoolStats, Result, RuleFilter,
    SavedSearch, TriggeredAlert, TriggeredFilter, User, UserUpdate,
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// [`MetaStore`] over a PostgreSQL database.
pub(crate) struct PgStore {
    pool: PgPool,
    observer: Observer,
}

impl PgStore {
    /// Connects to `url` (one connection at once, so a wrong URL fails here rather than later).
    pub(crate) async fn open(url: &str, opts: &OpenOptions) -> Result<PgStore> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| MetaError::Invalid(format!("bad PostgreSQL URL {:?}: {e}", redact(url))))?;
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| MetaError::Unavailable(format!("cannot connect to PostgreSQL at {}: {e}", redact(url))))?;
        let store = PgStore { pool, observer: Observer(opts.observer.clone()) };
        if opts.run_migrations {
            store.migrate().await?;
        }
        Ok(store)
    }

    async fn alert_status(&self, id: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT status FROM triggered_alerts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn transition(&self, id: i64, user_id: i64, at: DateTime<Utc>, t: Transition) -> Result<TriggeredAlert> {
        let moved = sqlx::query_as(t.update_sql()).bind(id).bind(user_id).bind(at).fetch_optional(&self.pool).await?;
        match moved {
            Some(alert) => Ok(alert),
            None => Err(t.refused(self.alert_status(id).await?)),
        }
    }
}

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// Binds the writable fields of a rule, in [`NewAlertRule`] order, as `$1`..`$14`.
fn bind_rule<'q>(q: PgQuery<'q>, r: &'q NewAlertRule) -> PgQuery<'q> {
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
impl MetaStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
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
        sqlx::query_as(
            "INSERT INTO users (username, email, full_name, hashed_password, is_active, is_admin, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, TRUE, $5, $6, $6) RETURNING *",
        )
        .bind(&user.username)
        .bind(&user.email)
        .bind(&user.full_name)
        .bind(&user.hashed_password)
        .bind(user.is_admin)
        .bind(Utc::now())
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
        let mut tx = self.pool.begin().await?;
        let mut user: User = sqlx::query_as("SELECT * FROM users WHERE id = $1 FOR UPDATE")
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
        .bind(Utc::now())
        .fetch_one(&mut *tx)
        .await
        .map_err(user_conflict)?;
        tx.commit().await?;
        Ok(user)
    }

    async fn set_last_login(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.observer.op("set_last_login");
        let done =
            sqlx::query("UPDATE users SET last_login = $2 WHERE id = $1").bind(id).bind(at).execute(&self.pool).await?;
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
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(saved_search_conflict(&s.name))
    }

    async fn list_saved_searches(&self, user_id: i64) -> Result<Vec<SavedSearch>> {
        self.observer.op("list_saved_searches");
        // Byte order, as SQLite sorts, whatever the database's collation.
        Ok(sqlx::query_as("SELECT * FROM saved_searches WHERE user_id = $1 ORDER BY name COLLATE \"C\"")
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
            .bind(Utc::now())
            .try_map(|row: PgRow| AlertRule::from_row(&row))
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
        let mut tx = self.pool.begin().await?;
        let rule: AlertRule = sqlx::query_as("SELECT * FROM alert_rules WHERE id = $1 FOR UPDATE")
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
            .bind(Utc::now())
            .bind(id)
            .try_map(|row: PgRow| AlertRule::from_row(&row))
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
        .bind(now)
        .bind(cutoff)
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
        let mut tx = self.pool.begin().await?;
        // The rule's row lock makes concurrent recorders of one rule take turns; each then sees
        // the alert its predecessor committed.
        sqlx::query("SELECT id FROM alert_rules WHERE id = $1 FOR UPDATE")
            .bind(alert.rule_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(MetaError::NotFound)?;
        let open: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM triggered_alerts WHERE rule_id = $1 \
                            AND status IN ('triggered', 'acknowledged') AND recovered_at IS NULL)",
        )
        .bind(alert.rule_id)
        .fetch_one(&mut *tx)
        .await?;
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
        .bind(alert.triggered_at)
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
            .bind(alert.triggered_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(recorded))
    }

    async fn mark_recovered(&self, id: i64, at: DateTime<Utc>) -> Result<bool> {
        self.observer.op("mark_recovered");
        let done = sqlx::query("UPDATE triggered_alerts SET recovered_at = $2 WHERE id = $1 AND recovered_at IS NULL")
            .bind(id)
            .bind(at)
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
        .bind(filter.since)
        .bind(filter.until)
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
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_config(&self) -> Result<Vec<ConfigEntry>> {
        self.observer.op("list_config");
        // Byte order, as SQLite sorts, whatever the database's collation.
        Ok(sqlx::query_as("SELECT key, value, updated_at FROM system_config ORDER BY key COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn export(&self) -> Result<MetaDump> {
        self.observer.op("export");
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
        let mut dump = MetaDump::new(self.backend());
        dump.users = sqlx::query_as("SELECT * FROM users ORDER BY id").fetch_all(&mut *tx).await?;
        dump.alert_rules = sqlx::query_as("SELECT * FROM alert_rules ORDER BY id").fetch_all(&mut *tx).await?;
        dump.triggered_alerts =
            sqlx::query_as("SELECT * FROM triggered_alerts ORDER BY id").fetch_all(&mut *tx).await?;
        dump.system_config =
            sqlx::query_as("SELECT key, value, updated_at FROM system_config ORDER BY key COLLATE \"C\"")
                .fetch_all(&mut *tx)
                .await?;
        dump.saved_searches = sqlx::query_as("SELECT * FROM saved_searches ORDER BY id").fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(dump)
    }

    async fn import(&self, dump: &MetaDump) -> Result<()> {
        self.observer.op("import");
        dump.check_format()?;
        let mut tx = self.pool.begin().await?;
        // Writers wait until the restore is committed, so nothing slips in after the emptiness check.
        sqlx::query("LOCK TABLE users, alert_rules, triggered_alerts, system_config, saved_searches IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
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
            .bind(u.created_at)
            .bind(u.updated_at)
            .bind(u.last_login)
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
                .bind(r.created_at)
                .bind(r.updated_at)
                .bind(r.last_checked)
                .bind(r.last_triggered)
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
            .bind(a.triggered_at)
            .bind(a.value)
            .bind(a.threshold)
            .bind(&a.condition)
            .bind(a.time_window)
            .bind(Json(&a.sample_log_ids))
            .bind(&a.message)
            .bind(&a.status)
            .bind(a.acknowledged_by)
            .bind(a.acknowledged_at)
            .bind(a.resolved_by)
            .bind(a.resolved_at)
            .bind(a.recovered_at)
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
                .bind(c.updated_at)
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
            .bind(s.created_at)
            .execute(&mut *tx)
            .await?;
        }
        // Explicit ids do not advance identities: move each past the largest id restored.
        for sql in [
            "SELECT setval(pg_get_serial_sequence('users', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM users",
            "SELECT setval(pg_get_serial_sequence('alert_rules', 'id'), COALESCE(MAX(id), 0) + 1, false) \
             FROM alert_rules",
            "SELECT setval(pg_get_serial_sequence('triggered_alerts', 'id'), COALESCE(MAX(id), 0) + 1, false) \
             FROM triggered_alerts",
            "SELECT setval(pg_get_serial_sequence('saved_searches', 'id'), COALESCE(MAX(id), 0) + 1, false) \
             FROM saved_searches",
        ] {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn reset(&self) -> Result<()> {
        self.observer.op("reset");
        sqlx::query("TRUNCATE saved_searches, triggered_alerts, alert_rules, users, system_config RESTART IDENTITY")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
