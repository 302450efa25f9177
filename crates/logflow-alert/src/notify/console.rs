//! The `console` channel: a `WARN` event in the server's own log, with every field of the
//! notification as a structured field (development, or a log shipper that watches the server).

use async_trait::async_trait;

use super::{Notification, Notifier, NotifyError};

/// Logs the notification through `tracing` at `WARN`; never fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleNotifier;

#[async_trait]
impl Notifier for ConsoleNotifier {
    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        tracing::warn!(
            kind = ?n.kind,
            alert_id = n.alert_id,
            rule_id = n.rule_id,
            rule_name = %n.rule_name,
            condition = %n.condition,
            value = n.value,
            threshold = n.threshold,
            time_window_minutes = n.time_window_minutes,
            triggered_at = %n.triggered_at,
            recovered_at = ?n.recovered_at,
            search_url = %n.search_url,
            sample_log_ids = ?n.sample_log_ids,
            "{} {}: {}",
            n.title_word(),
            n.rule_name,
            n.message
        );
        Ok(())
    }
}
