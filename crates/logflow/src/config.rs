//! Server configuration: built-in defaults, then a TOML file (`--config`), then environment
//! variables, then command-line flags; each layer overrides the one before.
//!
//! Environment variables are `LOGFLOW_<KEY>` with the TOML key upper-cased (`LOGFLOW_LISTEN`,
//! `LOGFLOW_RETENTION_DAYS`, `LOGFLOW_INGEST_MAX_BODY_BYTES`...). The spec's own names are honoured
//! where they apply: `ENVIRONMENT`, `LOG_LEVEL`, `SECRET_KEY`, `ACCESS_TOKEN_EXPIRE_MINUTES`,
//! `DATABASE_URL` or `POSTGRES_HOST`/`_PORT`/`_USER`/`_PASSWORD`/`_DB`, and `REDIS_URL` or
//! `REDIS_HOST`/`_PORT`/`_PASSWORD`/`_DB`.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// Directory holding everything the embedded engines write (WAL, index).
    pub data_dir: PathBuf,
    /// `development` or `production`.
    pub environment: String,
    /// Logs older than this many days are dropped (whole day partitions).
    pub retention_days: u32,
    /// Server log format: `text` or `json`.
    pub log_format: String,
    /// Server log filter, e.g. `info` or `logflow=debug,tower_http=info`.
    pub log_level: String,
    pub ingest: IngestConfig,
    pub index: IndexConfig,
    pub auth: AuthConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub rate_limit: RateLimitConfig,
    pub cache: CacheConfig,
    pub alerting: AlertingConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// Run the alert engine in this process.
    pub enabled: bool,
    /// Seconds between two evaluations of every active rule.
    pub check_interval_secs: u64,
    /// Least minutes between two alerts of a rule that sets no cooldown of its own.
    pub default_cooldown_minutes: u64,
    /// The server's address as users reach it, for the search links in notifications.
    pub public_url: String,
    /// Delivery attempts of a notification (with exponential backoff from 1 s).
    pub notify_attempts: u32,
    /// Seconds one delivery attempt may take.
    pub notify_timeout_secs: u64,
    /// Let webhook and Slack notifications go to loopback and private addresses (10/8,
    /// 172.16/12, 192.168/16, 100.64/10, fc00::/7). Link-local (cloud metadata), unspecified,
    /// multicast and broadcast addresses are refused either way.
    pub allow_private_targets: bool,
    pub smtp: SmtpSettings,
}

/// The SMTP relay of email rules; unused while `host` is empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    /// 0: the default of the TLS mode (25, 587 or 465).
    pub port: u16,
    /// none, starttls or tls.
    pub tls: String,
    pub username: String,
    pub password: String,
    pub from: String,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            enabled: true,
            check_interval_secs: 60,
            default_cooldown_minutes: 5,
            public_url: "http://localhost:8000".into(),
            notify_attempts: 3,
            notify_timeout_secs: 10,
            allow_private_targets: true,
            smtp: SmtpSettings::default(),
        }
    }
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: String::new(),
            port: 0,
            tls: "starttls".into(),
            username: String::new(),
            password: String::new(),
            from: "LogFlow <logflow@localhost>".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Seconds each analytics answer is cached.
    pub overview_ttl_secs: u64,
    pub service_ttl_secs: u64,
    pub system_ttl_secs: u64,
    pub timeseries_ttl_secs: u64,
    /// Size cap of the in-process cache, in MiB (Redis manages its own memory).
    pub max_memory_mb: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            overview_ttl_secs: 30,
            service_ttl_secs: 60,
            system_ttl_secs: 45,
            timeseries_ttl_secs: 120,
            max_memory_mb: 64,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 signing key of access tokens. Production refuses to start with the default.
    pub secret_key: String,
    /// Lifetime of an access token.
    pub access_token_expire_minutes: u64,
    /// Password of the `admin` account created on first start when no admin exists (empty: the
    /// spec's `admin123`, development only).
    pub admin_password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Metadata database: empty for SQLite at `<data_dir>/meta.db`, or `postgres://...`.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// Shared cache and rate limits: empty for in-process, or `redis://host:port/db`.
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Peers (IPs or CIDRs) whose `X-Forwarded-For` header is believed.
    pub trusted_proxies: Vec<String>,
    /// Bucket -> `COUNT/UNIT` (`50/minute`, `10/hour`).
    pub limits: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest accepted request body (after decompression); larger bodies get 413.
    pub max_body_bytes: usize,
    /// Largest accepted `message`; longer items are rejected with a per-item error.
    pub max_message_bytes: usize,
    /// Accepted-but-not-yet-indexed bytes above which ingest answers 503 + Retry-After.
    pub max_pending_bytes: u64,
    /// How often new logs are committed to the index (made searchable).
    pub commit_interval_ms: u64,
    /// WAL segment size before rotation.
    pub wal_segment_bytes: u64,
    /// fsync the WAL before acknowledging (turning this off voids the durability guarantee).
    pub wal_fsync: bool,
    /// How far in the future a log timestamp may be, in hours.
    pub max_future_hours: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexConfig {
    /// Indexing threads per active partition writer.
    pub writer_threads: usize,
    /// Memory budget of a partition writer, in MiB (split across its threads).
    pub writer_heap_mb: usize,
    /// zstd level of the stored-document compression (1 fast .. 19 small).
    pub zstd_level: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "0.0.0.0:8000".into(),
            data_dir: PathBuf::from("./data"),
            environment: "development".into(),
            retention_days: 7,
            log_format: "text".into(),
            log_level: "info".into(),
            ingest: IngestConfig::default(),
            index: IndexConfig::default(),
            auth: AuthConfig::default(),
            database: DatabaseConfig::default(),
            redis: RedisConfig::default(),
            rate_limit: RateLimitConfig::default(),
            cache: CacheConfig::default(),
            alerting: AlertingConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            secret_key: logflow_api::auth::DEFAULT_SECRET_KEY.into(),
            access_token_expire_minutes: 30,
            admin_password: String::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: String::new(), max_connections: 10 }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            trusted_proxies: Vec::new(),
            limits: logflow_api::ratelimit::DEFAULT_LIMITS
                .iter()
                .map(|(bucket, n, secs)| {
                    let unit = match secs {
                        3600 => "hour",
                        86400 => "day",
                        _ => "minute",
                    };
                    (bucket.to_string(), format!("{n}/{unit}"))
                })
                .collect(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 10 << 20,
            max_message_bytes: 256 << 10,
            max_pending_bytes: 32 << 20,
            commit_interval_ms: 1000,
            wal_segment_bytes: 64 << 20,
            wal_fsync: true,
            max_future_hours: 24,
        }
    }
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig { writer_threads: 1, writer_heap_mb: 96, zstd_level: 3 }
    }
}

impl Config {
    /// Defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut cfg = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Apply environment overrides; `get` is injectable for tests.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        fn parse<T: std::str::FromStr>(key: &str, v: String) -> anyhow::Result<T> {
            v.trim().parse().map_err(|_| anyhow::anyhow!("environment variable {key}='{v}' is not valid"))
        }
        let env = |k: &str| get(k).filter(|v| !v.is_empty());
        if let Some(v) = env("LOGFLOW_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = env("LOGFLOW_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = env("LOGFLOW_ENVIRONMENT").or_else(|| env("ENVIRONMENT")) {
            self.environment = v;
        }
        if let Some(v) = env("LOGFLOW_RETENTION_DAYS") {
            self.retention_days = parse("LOGFLOW_RETENTION_DAYS", v)?;
        }
        if let Some(v) = env("LOGFLOW_LOG_FORMAT") {
            self.log_format = v;
        }
        if let Some(v) = env("LOGFLOW_LOG_LEVEL").or_else(|| env("LOG_LEVEL")) {
            self.log_level = v;
        }
        let i = &mut self.ingest;
        macro_rules! num {
            ($key:literal, $field:expr) => {
                if let Some(v) = env($key) {
                    $field = parse($key, v)?;
                }
            };
        }
        num!("LOGFLOW_INGEST_MAX_BODY_BYTES", i.max_body_bytes);
        num!("LOGFLOW_INGEST_MAX_MESSAGE_BYTES", i.max_message_bytes);
        num!("LOGFLOW_INGEST_MAX_PENDING_BYTES", i.max_pending_bytes);
        num!("LOGFLOW_INGEST_COMMIT_INTERVAL_MS", i.commit_interval_ms);
        num!("LOGFLOW_INGEST_WAL_SEGMENT_BYTES", i.wal_segment_bytes);
        num!("LOGFLOW_INGEST_WAL_FSYNC", i.wal_fsync);
        num!("LOGFLOW_INGEST_MAX_FUTURE_HOURS", i.max_future_hours);
        let x = &mut self.index;
        num!("LOGFLOW_INDEX_WRITER_THREADS", x.writer_threads);
        num!("LOGFLOW_INDEX_WRITER_HEAP_MB", x.writer_heap_mb);
        num!("LOGFLOW_INDEX_ZSTD_LEVEL", x.zstd_level);

        if let Some(v) = env("LOGFLOW_AUTH_SECRET_KEY").or_else(|| env("SECRET_KEY")) {
            self.auth.secret_key = v;
        }
        let minutes = ["LOGFLOW_AUTH_ACCESS_TOKEN_EXPIRE_MINUTES", "ACCESS_TOKEN_EXPIRE_MINUTES"];
        if let Some((key, v)) = minutes.iter().find_map(|k| env(k).map(|v| (*k, v))) {
            self.auth.access_token_expire_minutes = parse(key, v)?;
        }
        if let Some(v) = env("LOGFLOW_AUTH_ADMIN_PASSWORD").or_else(|| env("LOGFLOW_ADMIN_PASSWORD")) {
            self.auth.admin_password = v;
        }

        if let Some(v) = env("LOGFLOW_DATABASE_URL").or_else(|| env("DATABASE_URL")) {
            self.database.url = v;
        } else if let Some(host) = env("POSTGRES_HOST") {
            let user = env("POSTGRES_USER").unwrap_or_else(|| "logflow".into());
            let password = env("POSTGRES_PASSWORD").map(|p| format!(":{}", url_encode(&p))).unwrap_or_default();
            let port = env("POSTGRES_PORT").unwrap_or_else(|| "5432".into());
            let db = env("POSTGRES_DB").unwrap_or_else(|| "logflow".into());
            self.database.url = format!("postgres://{}{password}@{host}:{port}/{db}", url_encode(&user));
        }
        num!("LOGFLOW_DATABASE_MAX_CONNECTIONS", self.database.max_connections);

        if let Some(v) = env("LOGFLOW_REDIS_URL").or_else(|| env("REDIS_URL")) {
            self.redis.url = v;
        } else if let Some(host) = env("REDIS_HOST") {
            let port = match env("REDIS_PORT") {
                Some(p) => Some(parse("REDIS_PORT", p)?),
                None => None,
            };
            let db = match env("REDIS_DB") {
                Some(d) => Some(parse("REDIS_DB", d)?),
                None => None,
            };
            self.redis.url = logflow_kv::redis_url_from_env_parts(&host, port, env("REDIS_PASSWORD").as_deref(), db);
        }

        num!("LOGFLOW_CACHE_OVERVIEW_TTL_SECS", self.cache.overview_ttl_secs);
        num!("LOGFLOW_CACHE_SERVICE_TTL_SECS", self.cache.service_ttl_secs);
        num!("LOGFLOW_CACHE_SYSTEM_TTL_SECS", self.cache.system_ttl_secs);
        num!("LOGFLOW_CACHE_TIMESERIES_TTL_SECS", self.cache.timeseries_ttl_secs);
        num!("LOGFLOW_CACHE_MAX_MEMORY_MB", self.cache.max_memory_mb);

        let a = &mut self.alerting;
        num!("LOGFLOW_ALERTING_ENABLED", a.enabled);
        num!("LOGFLOW_ALERTING_CHECK_INTERVAL_SECS", a.check_interval_secs);
        num!("LOGFLOW_ALERTING_DEFAULT_COOLDOWN_MINUTES", a.default_cooldown_minutes);
        num!("LOGFLOW_ALERTING_NOTIFY_ATTEMPTS", a.notify_attempts);
        num!("LOGFLOW_ALERTING_NOTIFY_TIMEOUT_SECS", a.notify_timeout_secs);
        num!("LOGFLOW_ALERTING_ALLOW_PRIVATE_TARGETS", a.allow_private_targets);
        if let Some(v) = env("LOGFLOW_ALERTING_PUBLIC_URL") {
            a.public_url = v;
        }
        num!("LOGFLOW_SMTP_PORT", a.smtp.port);
        for (key, field) in [
            ("LOGFLOW_SMTP_HOST", &mut a.smtp.host),
            ("LOGFLOW_SMTP_TLS", &mut a.smtp.tls),
            ("LOGFLOW_SMTP_USERNAME", &mut a.smtp.username),
            ("LOGFLOW_SMTP_PASSWORD", &mut a.smtp.password),
            ("LOGFLOW_SMTP_FROM", &mut a.smtp.from),
        ] {
            if let Some(v) = env(key) {
                *field = v;
            }
        }

        num!("LOGFLOW_RATE_LIMIT_ENABLED", self.rate_limit.enabled);
        if let Some(v) = env("LOGFLOW_RATE_LIMIT_TRUSTED_PROXIES") {
            self.rate_limit.trusted_proxies =
                v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        }
        // LOGFLOW_RATE_LIMIT_<BUCKET>=50/minute
        let buckets: Vec<String> = self.rate_limit.limits.keys().cloned().collect();
        for bucket in buckets {
            if let Some(v) = env(&format!("LOGFLOW_RATE_LIMIT_{}", bucket.to_uppercase())) {
                self.rate_limit.limits.insert(bucket, v);
            }
        }
        Ok(())
    }

    /// The metadata database URL: the configured one, else SQLite in the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("meta.db").display())
        } else {
            self.database.url.clone()
        }
    }

    /// The rate limit settings the API enforces.
    pub fn rate_limit_settings(&self) -> anyhow::Result<logflow_api::ratelimit::RateLimitSettings> {
        let mut settings =
            logflow_api::ratelimit::RateLimitSettings { enabled: self.rate_limit.enabled, ..Default::default() };
        for p in &self.rate_limit.trusted_proxies {
            settings
                .trusted_proxies
                .push(p.parse().map_err(|e: String| anyhow::anyhow!("rate_limit.trusted_proxies: {e}"))?);
        }
        for (bucket, spec) in &self.rate_limit.limits {
            if !settings.limits.contains_key(bucket) {
                let known: Vec<&str> = settings.limits.keys().map(String::as_str).collect();
                bail!("rate_limit.limits: unknown bucket '{bucket}' (known: {})", known.join(", "));
            }
            let limit = logflow_api::ratelimit::parse_limit(spec)
                .map_err(|e| anyhow::anyhow!("rate_limit.limits.{bucket}: {e}"))?;
            settings.limits.insert(bucket.clone(), limit);
        }
        Ok(settings)
    }

    /// The analytics cache TTLs.
    pub fn cache_ttls(&self) -> logflow_api::CacheTtls {
        let secs = std::time::Duration::from_secs;
        logflow_api::CacheTtls {
            overview: secs(self.cache.overview_ttl_secs),
            service: secs(self.cache.service_ttl_secs),
            system: secs(self.cache.system_ttl_secs),
            timeseries: secs(self.cache.timeseries_ttl_secs),
        }
    }

    /// The alert engine's settings.
    pub fn engine_config(&self) -> anyhow::Result<logflow_alert::EngineConfig> {
        let a = &self.alerting;
        let smtp = if a.smtp.host.is_empty() {
            None
        } else {
            let tls = match a.smtp.tls.as_str() {
                "none" => logflow_alert::SmtpTls::None,
                "starttls" => logflow_alert::SmtpTls::Starttls,
                "tls" => logflow_alert::SmtpTls::Tls,
                other => bail!("alerting.smtp.tls must be none, starttls or tls, not '{other}'"),
            };
            let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
            Some(logflow_alert::SmtpConfig {
                host: a.smtp.host.clone(),
                port: (a.smtp.port != 0).then_some(a.smtp.port),
                tls,
                username: opt(&a.smtp.username),
                password: opt(&a.smtp.password),
                from: a.smtp.from.clone(),
            })
        };
        Ok(logflow_alert::EngineConfig {
            check_interval: std::time::Duration::from_secs(a.check_interval_secs),
            default_cooldown: std::time::Duration::from_secs(a.default_cooldown_minutes * 60),
            public_url: a.public_url.clone(),
            smtp,
            retry: logflow_alert::RetryPolicy { max_attempts: a.notify_attempts.max(1), ..Default::default() },
            notify_timeout: std::time::Duration::from_secs(a.notify_timeout_secs),
            notify_targets: logflow_alert::TargetPolicy { allow_private: a.allow_private_targets },
        })
    }

    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if !matches!(self.environment.as_str(), "development" | "production" | "test") {
            bail!("environment must be development, production or test, not '{}'", self.environment);
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be text or json, not '{}'", self.log_format);
        }
        if self.retention_days == 0 {
            bail!("retention_days must be at least 1");
        }
        if self.index.writer_threads == 0 || self.index.writer_heap_mb < 16 * self.index.writer_threads {
            bail!("index.writer_heap_mb must be at least 16 MiB per writer thread");
        }
        if !(1..=22).contains(&self.index.zstd_level) {
            bail!("index.zstd_level must be between 1 and 22");
        }
        if self.ingest.commit_interval_ms == 0 || self.ingest.max_body_bytes == 0 {
            bail!("ingest.commit_interval_ms and ingest.max_body_bytes must be positive");
        }
        if self.auth.secret_key.len() < 16 {
            bail!(
                "auth.secret_key (SECRET_KEY) must be at least 16 characters; generate one with `openssl rand -hex 32`"
            );
        }
        if self.auth.access_token_expire_minutes == 0 {
            bail!("auth.access_token_expire_minutes must be at least 1");
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections must be at least 1");
        }
        let url = &self.database.url;
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bail!("database.url (DATABASE_URL) must be empty (SQLite in the data directory), sqlite://PATH or postgres://...");
        }
        if !(self.redis.url.is_empty()
            || self.redis.url.starts_with("redis://")
            || self.redis.url.starts_with("rediss://"))
        {
            bail!("redis.url (REDIS_URL) must be empty (in-process) or redis://host:port/db");
        }
        self.rate_limit_settings()?;
        if self.alerting.check_interval_secs == 0 {
            bail!("alerting.check_interval_secs must be at least 1");
        }
        self.engine_config()?;
        Ok(())
    }

    /// Production mode refuses a default signing key; the message says how to fix it.
    pub fn check_production_secrets(&self) -> anyhow::Result<()> {
        if self.is_production() && self.auth.secret_key == logflow_api::auth::DEFAULT_SECRET_KEY {
            bail!(
                "refusing to start in production with the default SECRET_KEY: anyone could forge tokens. \
                 Set a secret, e.g. `export SECRET_KEY=$(openssl rand -hex 32)` (or auth.secret_key in the config file)"
            );
        }
        Ok(())
    }
}

/// Percent-encodes a URL userinfo component.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn file_then_env_override_defaults() {
        let mut cfg: Config =
            toml::from_str("listen = \"127.0.0.1:9000\"\nretention_days = 3\n[ingest]\nmax_body_bytes = 1024\n")
                .unwrap();
        assert_eq!(cfg.ingest.commit_interval_ms, 1000, "unset keys keep defaults");
        let env: HashMap<&str, &str> =
            [("LOGFLOW_RETENTION_DAYS", "5"), ("ENVIRONMENT", "production"), ("LOGFLOW_INDEX_WRITER_THREADS", "2")]
                .into();
        cfg.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:9000");
        assert_eq!(cfg.retention_days, 5);
        assert_eq!(cfg.ingest.max_body_bytes, 1024);
        assert_eq!(cfg.index.writer_threads, 2);
        assert_eq!(cfg.environment, "production");
        cfg.validate().unwrap();
    }

    #[test]
    fn private_notification_targets_are_allowed_unless_switched_off() {
        let cfg = Config::default();
        assert!(cfg.engine_config().unwrap().notify_targets.allow_private);
        let mut cfg: Config = toml::from_str("[alerting]\nallow_private_targets = false\n").unwrap();
        assert!(!cfg.engine_config().unwrap().notify_targets.allow_private);
        cfg.apply_env(|k| (k == "LOGFLOW_ALERTING_ALLOW_PRIVATE_TARGETS").then(|| "true".to_string())).unwrap();
        assert!(cfg.engine_config().unwrap().notify_targets.allow_private);
        let e = cfg.apply_env(|k| (k == "LOGFLOW_ALERTING_ALLOW_PRIVATE_TARGETS").then(|| "yes".to_string()));
        assert!(e.unwrap_err().to_string().contains("LOGFLOW_ALERTING_ALLOW_PRIVATE_TARGETS='yes'"));
    }

    #[test]
    fn example_file_documents_the_defaults() {
        let example: Config = toml::from_str(include_str!("../../../logflow.example.toml")).unwrap();
        assert_eq!(serde_json::to_value(&example).unwrap(), serde_json::to_value(Config::default()).unwrap());
    }

    #[test]
    fn bad_values_are_named() {
        let mut cfg = Config::default();
        let e = cfg.apply_env(|k| (k == "LOGFLOW_RETENTION_DAYS").then(|| "soon".to_string())).unwrap_err();
        assert!(e.to_string().contains("LOGFLOW_RETENTION_DAYS='soon'"), "{e}");
        let e = toml::from_str::<Config>("listn = \"x\"").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let cfg = Config { environment: "staging".into(), ..Config::default() };
        assert!(cfg.validate().is_err());
        let mut cfg = Config::default();
        cfg.rate_limit.limits.insert("search".into(), "fifty/minute".into());
        assert!(cfg.validate().unwrap_err().to_string().contains("rate_limit.limits.search"));
        let mut cfg = Config::default();
        cfg.rate_limit.limits.insert("serch".into(), "5/minute".into());
        assert!(cfg.validate().unwrap_err().to_string().contains("unknown bucket 'serch'"));
    }

    #[test]
    fn spec_environment_names() {
        let env: HashMap<&str, &str> = [
            ("SECRET_KEY", "0123456789abcdef0123"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "15"),
            ("POSTGRES_HOST", "db.internal"),
            ("POSTGRES_USER", "logflow"),
            ("POSTGRES_PASSWORD", "p@ss word"),
            ("POSTGRES_DB", "logs"),
            ("REDIS_HOST", "cache.internal"),
            ("REDIS_PORT", "6380"),
            ("LOGFLOW_RATE_LIMIT_SEARCH", "5/second"),
        ]
        .into();
        let mut cfg = Config::default();
        cfg.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(cfg.auth.secret_key, "0123456789abcdef0123");
        assert_eq!(cfg.auth.access_token_expire_minutes, 15);
        assert_eq!(cfg.database.url, "postgres://logflow:p%40ss%20word@db.internal:5432/logs");
        assert!(cfg.redis.url.starts_with("redis://cache.internal:6380"), "{}", cfg.redis.url);
        let rl = cfg.rate_limit_settings().unwrap();
        assert_eq!(rl.limits["search"].count, 5);
        assert_eq!(rl.limits["auth_login"].window, std::time::Duration::from_secs(3600));
        cfg.validate().unwrap();

        // DATABASE_URL wins over the POSTGRES_* parts.
        let mut cfg = Config::default();
        cfg.apply_env(|k| match k {
            "DATABASE_URL" => Some("postgres://a@b/c".into()),
            "POSTGRES_HOST" => Some("ignored".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.database.url, "postgres://a@b/c");
    }

    #[test]
    fn production_refuses_the_default_secret() {
        let mut cfg = Config { environment: "production".into(), ..Config::default() };
        let e = cfg.check_production_secrets().unwrap_err().to_string();
        assert!(e.contains("SECRET_KEY") && e.contains("openssl rand"), "{e}");
        cfg.auth.secret_key = "a-real-secret-of-enough-length".into();
        cfg.check_production_secrets().unwrap();
        Config::default().check_production_secrets().unwrap();
    }
}
