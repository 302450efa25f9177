//! Checks the API runs before it writes a rule; each `Err` is a message for a 400 answer.
//!
//! | field | accepted |
//! |---|---|
//! | `name` | not blank, at most 200 characters |
//! | `rule_type` | `threshold` or `anomaly` |
//! | `condition` | `greater_than`, `less_than`, `equals`, `greater_than_or_equal`, `less_than_or_equal` |
//! | `threshold` | a finite number |
//! | `time_window` | minutes: 1 to 10080 (one week); 10 to 1440 for anomaly rules |
//! | `levels` | LogFlow levels in any accepted spelling (`err`, `warn`, `fatal`...); see [`canonical_levels`](crate::canonical_levels) |
//! | `services` | non-blank names |
//! | `query` | the search query language ([`logflow_core::query::parse`]); the error gives the position |
//! | `anomaly` | anomaly rules only: `{"metric": "log_volume" \| "error_rate", "service"?: "...", "min_severity"?: "low" \| "medium" \| "high" \| "critical"}` (default `high`); `error_rate` rules take no `levels` |
//! | `notification_channel` | `console`, `webhook`, `slack`, `email`, with the `notification_config` described in [`crate::channel`]; a webhook or Slack `url` whose host is an IP address no notification may go to (link-local, unspecified, multicast, broadcast: see [`TargetPolicy`]) is refused |
//! | `cooldown_minutes` | 0 to 10080, or null for the server's default |
//!
//! The engine parses rules with the same code, so whatever passes here evaluates. Host names, and
//! private addresses (which the server's policy may allow), are checked when a notification is
//! delivered.

use logflow_meta::{AlertRule, AlertRulePatch, NewAlertRule};

use crate::channel::{Channel, SlackConfig, WebhookConfig};
use crate::notify::{check_url, TargetPolicy};
use crate::rule::{writable, RuleSpec};

/// Checks a rule about to be created.
pub fn validate_new_rule(rule: &NewAlertRule) -> Result<(), String> {
    let spec = RuleSpec::parse(rule)?;
    if let Channel::Webhook(WebhookConfig { url, .. }) | Channel::Slack(SlackConfig { url }) = &spec.channel {
        // The most lenient policy refuses only what no server setting allows.
        check_url(url, &TargetPolicy { allow_private: true })
            .map_err(|refusal| format!("notification_config.url: {refusal}"))?;
    }
    Ok(())
}

/// Checks the rule `current` would become with `patch` applied: fields are checked together, so
/// switching `rule_type` to `anomaly` needs `anomaly` settings in the same patch (or already set).
pub fn validate_patch(current: &AlertRule, patch: &AlertRulePatch) -> Result<(), String> {
    let mut rule = writable(current);
    let patch = patch.clone();
    set(&mut rule.name, patch.name);
    set(&mut rule.description, patch.description);
    set(&mut rule.rule_type, patch.rule_type);
    set(&mut rule.condition, patch.condition);
    set(&mut rule.threshold, patch.threshold);
    set(&mut rule.time_window, patch.time_window);
    set(&mut rule.levels, patch.levels);
    set(&mut rule.services, patch.services);
    set(&mut rule.query, patch.query);
    set(&mut rule.anomaly, patch.anomaly);
    set(&mut rule.notification_channel, patch.notification_channel);
    set(&mut rule.notification_config, patch.notification_config);
    set(&mut rule.is_active, patch.is_active);
    set(&mut rule.cooldown_minutes, patch.cooldown_minutes);
    validate_new_rule(&rule)
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::{json, Value};

    fn base() -> Value {
        json!({
            "name": "High Error Rate",
            "description": null,
            "rule_type": "threshold",
            "condition": "greater_than",
            "threshold": 100.0,
            "time_window": 5,
            "levels": ["ERROR"],
            "services": ["payment-service"],
            "query": "timeout",
            "anomaly": null,
            "notification_channel": "webhook",
            "notification_config": {"url": "https://hooks.example.com/alerts"},
            "is_active": true,
            "cooldown_minutes": null,
            "created_by": null
        })
    }

    /// `base()` with the fields of `changes` replaced.
    fn rule(changes: Value) -> NewAlertRule {
        let mut value = base();
        for (k, v) in changes.as_object().unwrap() {
            value[k] = v.clone();
        }
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn valid_rules_pass() {
        let ok = [
            json!({}),
            json!({"levels": ["err", "warn", "FATAL", "3"], "services": [], "query": null}),
            json!({"condition": "less_than_or_equal", "threshold": -1.5, "time_window": 10080, "cooldown_minutes": 0}),
            json!({"notification_channel": "console", "notification_config": {}}),
            json!({"notification_channel": "console", "notification_config": null}),
            json!({"notification_config": {"url": "http://10.0.0.5:9000/hook", "headers": {"Authorization": "Bearer x"}}}),
            // Private addresses depend on the server's policy, host names on what they resolve to:
            // both are checked at delivery.
            json!({"notification_config": {"url": "http://127.0.0.1:9000/hook"}}),
            json!({"notification_config": {"url": "http://metadata.google.internal/hook"}}),
            json!({"notification_channel": "slack", "notification_config": {"url": "https://hooks.slack.com/services/T/B/X"}}),
            json!({"notification_channel": "email", "notification_config": {"to": "oncall@example.com"}}),
            json!({"notification_channel": "email", "notification_config": {"to": "a@example.com, Bob <b@example.com>"}}),
            json!({"notification_channel": "email", "notification_config": {"to": ["a@example.com", "Bob <b@example.com>"]}}),
            json!({"rule_type": "anomaly", "time_window": 60, "anomaly": {"metric": "log_volume"}}),
            json!({"rule_type": "anomaly", "time_window": 10, "levels": [],
                   "anomaly": {"metric": "error_rate", "service": "api", "min_severity": "Critical"}}),
        ];
        for changes in ok {
            assert_eq!(validate_new_rule(&rule(changes.clone())), Ok(()), "{changes}");
        }
    }

    /// Every rejection, with (a distinctive part of) its message.
    #[test]
    fn every_mistake_has_a_clear_message() {
        let email = |to: Value| json!({"notification_channel": "email", "notification_config": {"to": to}});
        let cases: Vec<(Value, &str)> = vec![
            (json!({"name": ""}), "name must not be empty"),
            (json!({"name": "   "}), "name must not be empty"),
            (json!({"name": "x".repeat(201)}), "name must be at most 200 characters, got 201"),
            (
                json!({"condition": "above"}),
                "condition must be one of greater_than, less_than, equals, greater_than_or_equal, \
                 less_than_or_equal; got \"above\"",
            ),
            (json!({"condition": ">"}), "got \">\""),
            (json!({"time_window": 0}), "time_window must be between 1 and 10080 minutes (one week), got 0"),
            (json!({"time_window": -5}), "got -5"),
            (json!({"time_window": 10081}), "got 10081"),
            (
                json!({"levels": ["ERROR", "loud"]}),
                "levels[1]: unknown level \"loud\"; use DEBUG, INFO, WARNING, ERROR or CRITICAL",
            ),
            (json!({"services": ["api", " "]}), "services[1] must not be empty"),
            (json!({"query": "(payment"}), "query is invalid: "),
            (json!({"query": "payment)"}), "at position 7"),
            (json!({"rule_type": "ratio"}), "rule_type must be \"threshold\" or \"anomaly\", got \"ratio\""),
            (json!({"rule_type": "anomaly", "time_window": 60}), "an anomaly rule needs anomaly settings"),
            (json!({"anomaly": {"metric": "log_volume"}}), "anomaly settings apply only to rule_type \"anomaly\""),
            (json!({"rule_type": "anomaly", "time_window": 60, "anomaly": "log_volume"}), "anomaly must be an object"),
            (json!({"rule_type": "anomaly", "time_window": 60, "anomaly": {}}), "anomaly.metric is required"),
            (
                json!({"rule_type": "anomaly", "time_window": 60, "anomaly": {"metric": "latency"}}),
                "anomaly.metric must be \"log_volume\" or \"error_rate\", got \"latency\"",
            ),
            (
                json!({"rule_type": "anomaly", "time_window": 60, "anomaly": {"metric": "log_volume", "service": ""}}),
                "anomaly.service must be a non-empty string",
            ),
            (
                json!({"rule_type": "anomaly", "time_window": 60,
                       "anomaly": {"metric": "log_volume", "min_severity": "severe"}}),
                "anomaly.min_severity must be one of low, medium, high, critical; got \"severe\"",
            ),
            (
                json!({"rule_type": "anomaly", "time_window": 60, "anomaly": {"metric": "log_volume", "sensitivity": 2}}),
                "anomaly has an unknown field \"sensitivity\"; allowed: metric, service, min_severity",
            ),
            (
                json!({"rule_type": "anomaly", "time_window": 5, "anomaly": {"metric": "log_volume"}}),
                "time_window of an anomaly rule must be between 10 and 1440 minutes",
            ),
            (
                json!({"rule_type": "anomaly", "time_window": 60, "anomaly": {"metric": "error_rate"}}),
                "levels do not apply to an error_rate anomaly rule",
            ),
            (
                json!({"notification_channel": "sms"}),
                "notification_channel must be one of console, webhook, slack, email; got \"sms\"",
            ),
            (json!({"notification_config": "https://x"}), "notification_config must be an object"),
            (json!({"notification_config": {}}), "notification_config.url is required for the webhook channel"),
            (json!({"notification_config": {"url": 5}}), "notification_config.url must be a string"),
            (
                json!({"notification_config": {"url": "hooks/alerts"}}),
                "is not a valid URL: relative URL without a base",
            ),
            (json!({"notification_config": {"url": "ftp://example.com/x"}}), "must use http or https, got \"ftp\""),
            (json!({"notification_config": {"url": "https://"}}), "is not a valid URL"),
            (
                json!({"notification_config": {"url": "https://x.io", "header": {}}}),
                "notification_config.header is not a setting of the webhook channel; allowed: url, headers",
            ),
            (json!({"notification_config": {"url": "https://x.io", "headers": ["a"]}}), "headers must be an object"),
            (
                json!({"notification_config": {"url": "https://x.io", "headers": {"Bad Name": "x"}}}),
                "\"Bad Name\" is not a valid header name",
            ),
            (
                json!({"notification_config": {"url": "https://x.io", "headers": {"X-Token": 5}}}),
                "headers.X-Token must be a string",
            ),
            (
                json!({"notification_config": {"url": "https://x.io", "headers": {"X-Token": "a\nb"}}}),
                "headers.X-Token is not a valid header value",
            ),
            (
                json!({"notification_channel": "slack", "notification_config": {}}),
                "notification_config.url is required for the slack channel",
            ),
            (
                json!({"notification_channel": "console", "notification_config": {"url": "https://x.io"}}),
                "notification_config.url is not used by the console channel",
            ),
            (email(Value::Null), "notification_config.to is required for the email channel"),
            (email(json!("bob")), "notification_config.to: \"bob\" is not a valid email address"),
            (email(json!(["a@example.com", "not an address"])), "\"not an address\" is not a valid email address"),
            (email(json!([1])), "must list addresses as strings"),
            (email(json!([])), "notification_config.to must name at least one address"),
            (email(json!({"a": 1})), "must be an address or a list of addresses"),
            (
                json!({"notification_config": {"url": "http://169.254.169.254/latest/meta-data/"}}),
                "notification_config.url: 169.254.169.254 is link-local (cloud metadata); alert notifications may \
                 not go there",
            ),
            (
                json!({"notification_channel": "slack", "notification_config": {"url": "https://[::ffff:169.254.169.254]/x"}}),
                "notification_config.url: ::ffff:169.254.169.254 is link-local (cloud metadata)",
            ),
            (json!({"notification_config": {"url": "http://0.0.0.0:8080/hook"}}), "0.0.0.0 is unspecified"),
            (json!({"notification_config": {"url": "http://[fe80::1]/hook"}}), "fe80::1 is link-local"),
            (json!({"notification_config": {"url": "http://224.0.0.251/hook"}}), "224.0.0.251 is multicast"),
            (json!({"cooldown_minutes": -1}), "cooldown_minutes must be between 0 and 10080 (one week), got -1"),
            (json!({"cooldown_minutes": 10081}), "got 10081"),
        ];
        for (changes, expected) in cases {
            match validate_new_rule(&rule(changes.clone())) {
                Ok(()) => panic!("{changes} was accepted"),
                Err(message) => assert!(message.contains(expected), "{changes}: {message:?} lacks {expected:?}"),
            }
        }
    }

    #[test]
    fn non_finite_thresholds_are_refused() {
        for threshold in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut r = rule(json!({}));
            r.threshold = threshold;
            let message = validate_new_rule(&r).unwrap_err();
            assert!(message.starts_with("threshold must be a finite number"), "{message}");
        }
    }

    fn stored() -> AlertRule {
        let new = rule(json!({}));
        let now = Utc::now();
        AlertRule {
            id: 1,
            name: new.name,
            description: new.description,
            rule_type: new.rule_type,
            condition: new.condition,
            threshold: new.threshold,
            time_window: new.time_window,
            levels: new.levels,
            services: new.services,
            query: new.query,
            anomaly: new.anomaly,
            notification_channel: new.notification_channel,
            notification_config: new.notification_config,
            is_active: new.is_active,
            cooldown_minutes: new.cooldown_minutes,
            created_by: new.created_by,
            created_at: now,
            updated_at: now,
            last_checked: None,
            last_triggered: None,
            trigger_count: 0,
        }
    }

    fn patch(value: Value) -> AlertRulePatch {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn patches_are_checked_against_the_rule_they_change() {
        let current = stored();
        assert_eq!(validate_patch(&current, &patch(json!({}))), Ok(()));
        assert_eq!(validate_patch(&current, &patch(json!({"threshold": 5, "query": null}))), Ok(()));
        // Switching channel needs the new channel's settings in the same patch.
        let e = validate_patch(&current, &patch(json!({"notification_channel": "email"}))).unwrap_err();
        assert!(e.contains("notification_config.url is not a setting of the email channel"), "{e}");
        assert_eq!(
            validate_patch(
                &current,
                &patch(json!({"notification_channel": "email", "notification_config": {"to": "a@example.com"}}))
            ),
            Ok(())
        );
        // An anomaly rule needs its settings, a valid window, and the levels cleared for error_rate.
        let e = validate_patch(&current, &patch(json!({"rule_type": "anomaly"}))).unwrap_err();
        assert!(e.contains("needs anomaly settings"), "{e}");
        let to_anomaly = json!({"rule_type": "anomaly", "time_window": 30, "levels": [],
                                "anomaly": {"metric": "error_rate"}});
        assert_eq!(validate_patch(&current, &patch(to_anomaly)), Ok(()));
        for (p, expected) in [
            (json!({"name": ""}), "name must not be empty"),
            (json!({"time_window": -1}), "time_window must be between 1 and 10080"),
            (json!({"levels": ["nope"]}), "levels[0]: unknown level"),
            (json!({"query": "a AND"}), "query is invalid"),
            (json!({"cooldown_minutes": -3}), "cooldown_minutes must be between 0 and 10080"),
            (
                json!({"notification_config": {"url": "http://169.254.169.254/latest"}}),
                "notification_config.url: 169.254.169.254 is link-local",
            ),
        ] {
            let e = validate_patch(&current, &patch(p.clone())).unwrap_err();
            assert!(e.contains(expected), "{p}: {e}");
        }
    }
}
