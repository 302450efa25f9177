//! The backup format of `logflow db backup|restore`: every row of every table as one JSON
//! document, the same on both backends, so a SQLite backup restores into PostgreSQL and back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AlertRule, ConfigEntry, MetaError, SavedSearch, TriggeredAlert, User};

/// Every row of the metadata store, ids included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaDump {
    /// Always [`MetaDump::FORMAT`].
    pub format: String,
    /// Always [`MetaDump::VERSION`]; a later layout gets a new number.
    pub version: u32,
    pub exported_at: DateTime<Utc>,
    /// The backend it was exported from (`"sqlite"` or `"postgres"`), for the record only.
    pub backend: String,
    pub users: Vec<User>,
    pub alert_rules: Vec<AlertRule>,
    pub triggered_alerts: Vec<TriggeredAlert>,
    pub system_config: Vec<ConfigEntry>,
    /// Absent from dumps written before saved searches existed, which read as having none.
    #[serde(default)]
    pub saved_searches: Vec<SavedSearch>,
}

impl MetaDump {
    /// The value of [`format`](Self::format).
    pub const FORMAT: &'static str = "logflow-meta-dump";
    /// The value of [`version`](Self::version) this crate writes and reads.
    pub const VERSION: u32 = 1;

    /// An empty dump stamped now; the backends fill in the rows.
    pub(crate) fn new(backend: &str) -> MetaDump {
        MetaDump {
            format: Self::FORMAT.to_string(),
            version: Self::VERSION,
            exported_at: Utc::now(),
            backend: backend.to_string(),
            users: Vec::new(),
            alert_rules: Vec::new(),
            triggered_alerts: Vec::new(),
            system_config: Vec::new(),
            saved_searches: Vec::new(),
        }
    }

    /// Refuses documents this crate did not write or cannot read.
    pub(crate) fn check_format(&self) -> Result<(), MetaError> {
        if self.format != Self::FORMAT {
            return Err(MetaError::Invalid(format!(
                "not a LogFlow metadata dump (format {:?}, expected {:?})",
                self.format,
                Self::FORMAT
            )));
        }
        if self.version != Self::VERSION {
            return Err(MetaError::Invalid(format!(
                "unsupported metadata dump version {} (this build reads version {})",
                self.version,
                Self::VERSION
            )));
        }
        Ok(())
    }
}

/// The error for a restore into a store that already holds rows.
pub(crate) fn not_empty() -> MetaError {
    MetaError::Invalid("the metadata store is not empty; restore needs an empty store (reset it first)".into())
}
