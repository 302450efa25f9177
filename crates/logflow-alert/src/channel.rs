//! Notification channels and the shape of each one's `notification_config`:
//!
//! | channel | `notification_config` |
//! |---|---|
//! | `console` | nothing (`{}` or `null`) |
//! | `webhook` | `{"url": "https://...", "headers": {"Authorization": "Bearer ..."}}` (`headers` optional) |
//! | `slack` | `{"url": "https://hooks.slack.com/services/..."}` (an incoming-webhook URL) |
//! | `email` | `{"to": "oncall@example.com"}` or `{"to": ["a@example.com", "Bob <b@example.com>"]}` |
//!
//! Unknown fields are refused, so a misspelt `header` does not silently drop the headers.

use std::str::FromStr;

use lettre::message::{Mailbox, Mailboxes};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;
use serde_json::{Map, Value};

/// Where a rule's notifications go, with the channel's parsed settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Channel {
    /// A `WARN` line in the server log.
    Console,
    /// The notification as JSON, POSTed to a URL.
    Webhook(WebhookConfig),
    /// A Slack message through an incoming webhook.
    Slack(SlackConfig),
    /// An email through the server's SMTP relay.
    Email(EmailConfig),
}

/// `webhook` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub url: Url,
    /// Sent with every request, e.g. an `Authorization` header the receiver checks.
    pub headers: HeaderMap,
}

/// `slack` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    pub url: Url,
}

/// `email` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    /// At least one recipient.
    pub to: Vec<Mailbox>,
}

impl Channel {
    /// The channel names, in the order messages list them.
    pub const NAMES: [&'static str; 4] = ["console", "webhook", "slack", "email"];

    /// Reads `notification_channel` and its `notification_config`.
    pub fn parse(name: &str, config: &Value) -> Result<Channel, String> {
        let empty = Map::new();
        let map = match config {
            Value::Null => &empty,
            Value::Object(map) => map,
            other => return Err(format!("notification_config must be an object, got {other}")),
        };
        match name {
            "console" => {
                allow_only(map, name, &[])?;
                Ok(Channel::Console)
            }
            "webhook" => {
                allow_only(map, name, &["url", "headers"])?;
                Ok(Channel::Webhook(WebhookConfig { url: http_url(map, name)?, headers: headers(map)? }))
            }
            "slack" => {
                allow_only(map, name, &["url"])?;
                Ok(Channel::Slack(SlackConfig { url: http_url(map, name)? }))
            }
            "email" => {
                allow_only(map, name, &["to"])?;
                Ok(Channel::Email(EmailConfig { to: recipients(map)? }))
            }
            other => Err(format!("notification_channel must be one of {}; got \"{other}\"", Channel::NAMES.join(", "))),
        }
    }

    /// The channel's name as stored.
    pub fn name(&self) -> &'static str {
        match self {
            Channel::Console => "console",
            Channel::Webhook(_) => "webhook",
            Channel::Slack(_) => "slack",
            Channel::Email(_) => "email",
        }
    }
}

fn allow_only(map: &Map<String, Value>, channel: &str, allowed: &[&str]) -> Result<(), String> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) if allowed.is_empty() => {
            Err(format!("notification_config.{key} is not used by the {channel} channel, which takes no settings"))
        }
        Some(key) => Err(format!(
            "notification_config.{key} is not a setting of the {channel} channel; allowed: {}",
            allowed.join(", ")
        )),
    }
}

/// `url`: required, absolute, http or https, with a host.
fn http_url(map: &Map<String, Value>, channel: &str) -> Result<Url, String> {
    let raw = match map.get("url") {
        None | Some(Value::Null) => {
            return Err(format!("notification_config.url is required for the {channel} channel"));
        }
        Some(Value::String(s)) => s.trim(),
        Some(v) => return Err(format!("notification_config.url must be a string, got {v}")),
    };
    let url = Url::parse(raw).map_err(|e| format!("notification_config.url \"{raw}\" is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("notification_config.url must use http or https, got \"{}\"", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("notification_config.url \"{raw}\" has no host"));
    }
    Ok(url)
}

/// `headers`: optional object of header names to string values, each valid in HTTP.
fn headers(map: &Map<String, Value>) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    let entries = match map.get("headers") {
        None | Some(Value::Null) => return Ok(headers),
        Some(Value::Object(entries)) => entries,
        Some(v) => {
            return Err(format!("notification_config.headers must be an object of header names to values, got {v}"))
        }
    };
    for (name, value) in entries {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("notification_config.headers: \"{name}\" is not a valid header name"))?;
        let Value::String(text) = value else {
            return Err(format!("notification_config.headers.{name} must be a string, got {value}"));
        };
        let value = HeaderValue::from_str(text)
            .map_err(|_| format!("notification_config.headers.{name} is not a valid header value"))?;
        headers.insert(header, value);
    }
    Ok(headers)
}

/// `to`: one address (or a comma-separated list) as a string, or a list of addresses.
fn recipients(map: &Map<String, Value>) -> Result<Vec<Mailbox>, String> {
    let invalid = |raw: &str, e: lettre::address::AddressError| {
        format!("notification_config.to: \"{raw}\" is not a valid email address ({e})")
    };
    let to: Vec<Mailbox> = match map.get("to") {
        None | Some(Value::Null) => {
            return Err("notification_config.to is required for the email channel: an address or a list of \
                        addresses"
                .into())
        }
        Some(Value::String(raw)) => Mailboxes::from_str(raw.trim()).map_err(|e| invalid(raw, e))?.into_iter().collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(raw) => Mailbox::from_str(raw.trim()).map_err(|e| invalid(raw, e)),
                other => Err(format!("notification_config.to must list addresses as strings, got {other}")),
            })
            .collect::<Result<_, _>>()?,
        Some(v) => return Err(format!("notification_config.to must be an address or a list of addresses, got {v}")),
    };
    if to.is_empty() {
        return Err("notification_config.to must name at least one address".into());
    }
    Ok(to)
}
