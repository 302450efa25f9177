//! The `slack` channel: a message through a Slack incoming webhook, with a plain `text` fallback
//! (notifications, old clients) and Block Kit `blocks` for the message itself.

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use super::webhook::post_json;
use super::{display_time, Notification, NotificationKind, Notifier, NotifyError, TargetPolicy};
use crate::channel::SlackConfig;

/// Slack refuses header texts longer than this.
const MAX_HEADER_CHARS: usize = 150;
/// Slack refuses section texts and button URLs longer than this.
const MAX_TEXT_CHARS: usize = 3000;

/// Posts the notification to an incoming webhook.
pub struct SlackNotifier {
    http: reqwest::Client,
    targets: TargetPolicy,
    cfg: SlackConfig,
}

impl SlackNotifier {
    /// A notifier for one rule's webhook URL over the shared client, which checks the addresses
    /// it resolves against `targets`.
    pub fn new(http: reqwest::Client, targets: TargetPolicy, cfg: SlackConfig) -> Self {
        SlackNotifier { http, targets, cfg }
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    async fn send(&self, notification: &Notification) -> Result<(), NotifyError> {
        post_json(&self.http, &self.targets, &self.cfg.url, &HeaderMap::new(), &slack_payload(notification)).await
    }
}

/// The message body: `text`, then `blocks` with a header, the message, the figures as fields,
/// and a button to the matching logs (left out when the link is longer than Slack accepts).
pub fn slack_payload(n: &Notification) -> Value {
    let icon = match n.kind {
        NotificationKind::Triggered => ":rotating_light:",
        NotificationKind::Recovered => ":white_check_mark:",
    };
    let title = format!("{} {}", n.title_word(), n.rule_name);
    let mut fields = vec![
        field("Value", &n.value.to_string()),
        field(if n.condition == "anomaly" { "Expected" } else { "Threshold" }, &n.threshold_text()),
        field("Window", &format!("{} min", n.time_window_minutes)),
        field("Triggered at", &display_time(n.triggered_at)),
    ];
    if let Some(at) = n.recovered_at {
        fields.push(field("Recovered at", &display_time(at)));
    }
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&title, MAX_HEADER_CHARS)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&escape(&n.message), MAX_TEXT_CHARS)}}),
        json!({"type": "section", "fields": fields}),
    ];
    if !n.sample_log_ids.is_empty() {
        let ids = n.sample_log_ids.iter().map(|id| format!("`{}`", escape(id))).collect::<Vec<_>>().join(" ");
        blocks
            .push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("Sample logs: {ids}")}]}));
    }
    if n.search_url.len() <= MAX_TEXT_CHARS {
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "View matching logs"},
            "url": n.search_url,
        }]}));
    }
    json!({"text": format!("{icon} {}: {}", escape(&title), escape(&n.message)), "blocks": blocks})
}

fn field(label: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", escape(value))})
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn notification() -> Notification {
        Notification {
            kind: NotificationKind::Triggered,
            alert_id: 7,
            rule_id: 3,
            rule_name: "Errors <payments>".into(),
            condition: "greater_than".into(),
            value: 57.0,
            threshold: 50.0,
            time_window_minutes: 5,
            triggered_at: Utc.with_ymd_and_hms(2025, 10, 24, 12, 0, 0).unwrap(),
            recovered_at: None,
            message: "57 matching logs & rising".into(),
            search_url: "http://logflow/api/v1/logs/search?query=x".into(),
            sample_log_ids: vec!["01A".into(), "01B".into()],
        }
    }

    #[test]
    fn payload_has_text_fallback_and_blocks() {
        let p = slack_payload(&notification());
        assert_eq!(p["text"], ":rotating_light: ALERT Errors &lt;payments&gt;: 57 matching logs &amp; rising");
        let blocks = p["blocks"].as_array().unwrap();
        let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["header", "section", "section", "context", "actions"]);
        assert_eq!(blocks[0]["text"]["text"], "ALERT Errors <payments>");
        assert_eq!(blocks[2]["fields"][1]["text"], "*Threshold*\n&gt; 50");
        assert_eq!(blocks[4]["elements"][0]["url"], "http://logflow/api/v1/logs/search?query=x");
    }

    #[test]
    fn oversized_parts_are_cut_to_slack_limits() {
        let long = Notification {
            rule_name: "r".repeat(400),
            search_url: format!("http://logflow/?q={}", "x".repeat(4000)),
            sample_log_ids: vec![],
            kind: NotificationKind::Recovered,
            recovered_at: Some(Utc::now()),
            ..notification()
        };
        let p = slack_payload(&long);
        let blocks = p["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["text"]["text"].as_str().unwrap().chars().count(), MAX_HEADER_CHARS);
        assert!(blocks.iter().all(|b| b["type"] != "actions" && b["type"] != "context"));
        assert_eq!(blocks[2]["fields"].as_array().unwrap().len(), 5);
        assert!(p["text"].as_str().unwrap().starts_with(":white_check_mark: RECOVERED"));
    }
}
