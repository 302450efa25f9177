//! Server configuration: built-in defaults, then a TOML file (`--config`), then environment
//! variables, then command-line flags; each layer overrides the one before.
//!
//! Environment variables are `LOGFLOW_<KEY>` with the TOML key upper-cased (`LOGFLOW_LISTEN`,
//! `LOGFLOW_RETENTION_DAYS`, `LOGFLOW_INGEST_MAX_BODY_BYTES`...). The spec's own names are honoured
//! where they apply: `ENVIRONMENT`, `LOG_LEVEL`.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
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
        Ok(())
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
        Ok(())
    }
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
    }
}
