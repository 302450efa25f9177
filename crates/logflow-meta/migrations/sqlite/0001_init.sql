-- LogFlow metadata schema (SQLite). Lists and maps are JSON text. Timestamps are TEXT in one
-- fixed-width UTC format (2024-05-01T12:00:00.123456Z), written by the store, so comparing the
-- text compares the times. AUTOINCREMENT keeps ids of deleted rows from being reused, as the
-- PostgreSQL identities do (a token naming a deleted user must never name a new one).

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT    NOT NULL UNIQUE,
    email           TEXT    NOT NULL UNIQUE,
    full_name       TEXT,
    hashed_password TEXT    NOT NULL,
    is_active       INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    is_admin        INTEGER NOT NULL CHECK (is_admin IN (0, 1)),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    last_login      TEXT
) STRICT;

CREATE TABLE alert_rules (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT    NOT NULL,
    description          TEXT,
    rule_type            TEXT    NOT NULL,
    condition            TEXT    NOT NULL,
    threshold            REAL    NOT NULL,
    time_window          INTEGER NOT NULL,
    levels               TEXT    NOT NULL,
    services             TEXT    NOT NULL,
    query                TEXT,
    anomaly              TEXT,
    notification_channel TEXT    NOT NULL,
    notification_config  TEXT    NOT NULL,
    is_active            INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    cooldown_minutes     INTEGER,
    created_by           INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    last_checked         TEXT,
    last_triggered       TEXT,
    trigger_count        INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX alert_rules_created_by_idx ON alert_rules (created_by);

-- An alert outlives its rule (rule_id becomes NULL) and the users who handled it.
CREATE TABLE triggered_alerts (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id               INTEGER REFERENCES alert_rules (id) ON DELETE SET NULL,
    rule_name             TEXT    NOT NULL,
    triggered_at          TEXT    NOT NULL,
    value                 REAL    NOT NULL,
    threshold             REAL    NOT NULL,
    condition             TEXT    NOT NULL,
    time_window           INTEGER NOT NULL,
    sample_log_ids        TEXT    NOT NULL,
    message               TEXT    NOT NULL,
    status                TEXT    NOT NULL
        CHECK (status IN ('triggered', 'acknowledged', 'resolved')),
    acknowledged_by       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    acknowledged_at       TEXT,
    resolved_by           INTEGER REFERENCES users (id) ON DELETE SET NULL,
    resolved_at           TEXT,
    recovered_at          TEXT,
    notification_status   TEXT    NOT NULL,
    notification_attempts INTEGER NOT NULL DEFAULT 0,
    notification_error    TEXT
) STRICT;

CREATE INDEX triggered_alerts_time_idx ON triggered_alerts (triggered_at DESC, id DESC);
CREATE INDEX triggered_alerts_rule_time_idx ON triggered_alerts (rule_id, triggered_at DESC, id DESC);
CREATE INDEX triggered_alerts_status_time_idx ON triggered_alerts (status, triggered_at DESC, id DESC);
CREATE INDEX triggered_alerts_acknowledged_by_idx ON triggered_alerts (acknowledged_by);
CREATE INDEX triggered_alerts_resolved_by_idx ON triggered_alerts (resolved_by);
-- At most one open alert per rule, whatever the callers do.
CREATE UNIQUE INDEX triggered_alerts_one_open_per_rule ON triggered_alerts (rule_id)
    WHERE status IN ('triggered', 'acknowledged') AND recovered_at IS NULL;

CREATE TABLE system_config (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
