//! # logflow-gen
//!
//! Realistic multi-service logs for LogFlow: request flows crossing services with shared
//! correlation/trace ids, per-service message templates with structured attributes, a realistic
//! level mix, error bursts and volume spikes, plus paced senders ([`run`], [`run_into`]).
//!
//! * [`Generator::flow`]: one request flow as JSON objects.
//! * [`Generator::write_ndjson`]: the fast path (`logflow bench`), writing NDJSON lines straight
//!   into a `String` without building JSON trees.
//! * [`run`]: paced delivery to a LogFlow URL, a file or stdout (`logflow generate`).
//! * [`run_into`]: paced delivery into an in-process [`Sink`] (`logflow serve --demo`).
//!
//! Module map: `templates` (per-service messages), `values` (value pools), `flow` (routes and
//! the failure model), `generator` (line writer, level mix), `pacing` (rate maths), `run`
//! (delivery), `fmt` (allocation-free JSON writers).

mod flow;
mod fmt;
mod generator;
mod pacing;
mod run;
mod templates;
mod values;

pub use generator::Generator;
pub use run::{run, run_into, Output, RunOptions, RunSummary, Sink};

pub const DEFAULT_SERVICES: &[&str] = &[
    "api-gateway",
    "auth-service",
    "payment-service",
    "order-service",
    "inventory-service",
    "notification-service",
    "user-service",
    "search-service",
];

#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Services to generate for. Known names get their own templates and routes; other names
    /// get generic ones. Empty means [`DEFAULT_SERVICES`].
    pub services: Vec<String>,
    /// `Some` makes the output reproducible (same seed, same calls, same logs).
    pub seed: Option<u64>,
    /// Target share of ERROR+CRITICAL logs. The remaining levels keep the reference ratio
    /// DEBUG 10 : INFO 70 : WARNING 12, and CRITICAL is 1/7 of errors (so 0.07 reproduces the
    /// reference mix 10/70/12/6/1 exactly).
    pub error_rate: f64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig { services: DEFAULT_SERVICES.iter().map(|s| s.to_string()).collect(), seed: None, error_rate: 0.03 }
    }
}

/// A spike/burst scenario injected on demand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spike {
    None,
    /// Multiply the send rate by `factor` (affects pacing in [`run`], not the logs themselves).
    Volume {
        factor: f64,
    },
    /// Replace the error share with `error_rate` (failures then propagate through flows).
    Errors {
        error_rate: f64,
    },
}

#[cfg(test)]
mod tests;
