//! The crate's error type. The engine logs evaluation errors per rule and carries on; only
//! [`Engine::new`](crate::Engine::new) returns one to its caller, for bad configuration.

use logflow_meta::MetaError;
use logflow_store::StoreError;

/// Why building the engine or evaluating a rule failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The engine's configuration is unusable (bad public URL, SMTP sender, zero interval...).
    #[error("invalid alerting configuration: {0}")]
    Config(String),
    /// A stored rule does not parse (written around the API's validation).
    #[error("invalid rule: {0}")]
    InvalidRule(String),
    /// The metadata store failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The log store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
