//! The `webhook` channel: the [`Notification`] as JSON, POSTed to the rule's URL with its custom
//! headers. Also the HTTP delivery the Slack channel shares, which refuses the targets the
//! [`TargetPolicy`] refuses.

use std::error::Error as _;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};
use serde::Serialize;

use super::{check_url, Notification, Notifier, NotifyError, TargetPolicy, TargetRefused};
use crate::channel::WebhookConfig;

/// Longest part of a refusing receiver's answer kept in the error.
const MAX_BODY_IN_ERROR: usize = 200;

/// POSTs the notification as JSON.
pub struct WebhookNotifier {
    http: reqwest::Client,
    targets: TargetPolicy,
    cfg: WebhookConfig,
}

impl WebhookNotifier {
    /// A notifier for one rule's settings over the shared client (which sets the timeout and
    /// checks the addresses it resolves against `targets`).
    pub fn new(http: reqwest::Client, targets: TargetPolicy, cfg: WebhookConfig) -> Self {
        WebhookNotifier { http, targets, cfg }
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn send(&self, notification: &Notification) -> Result<(), NotifyError> {
        post_json(&self.http, &self.targets, &self.cfg.url, &self.cfg.headers, notification).await
    }
}

/// POSTs `body` as JSON; any 2xx answer is success. 408, 429 and 5xx answers and transport
/// failures are transient; other answers (redirects included: they are not followed) and
/// targets that `targets` refuses are permanent.
pub(super) async fn post_json(
    http: &reqwest::Client,
    targets: &TargetPolicy,
    url: &Url,
    headers: &HeaderMap,
    body: &(impl Serialize + Sync),
) -> Result<(), NotifyError> {
    // The client resolves host names through the policy; IP addresses it takes as they are.
    check_url(url, targets).map_err(|refusal| refused(&refusal))?;
    let response = http.post(url.clone()).json(body).headers(headers.clone()).send().await.map_err(send_error)?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    if status.is_redirection() {
        return Err(NotifyError::Permanent(format!(
            "HTTP {status}: redirects are not followed; set the rule's URL to the final address"
        )));
    }
    let text = response.text().await.unwrap_or_default();
    let mut snippet: String = text.trim().chars().take(MAX_BODY_IN_ERROR).collect();
    if snippet.len() < text.trim().len() {
        snippet.push_str("...");
    }
    let message = if snippet.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {snippet}") };
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS {
        Err(NotifyError::Transient(message))
    } else {
        Err(NotifyError::Permanent(message))
    }
}

/// A refused target: retrying will not change the policy.
fn refused(refusal: &TargetRefused) -> NotifyError {
    NotifyError::Permanent(format!("refused: {refusal}"))
}

/// A request that got no answer: refused by the client's resolver (permanent), or a transport
/// failure (transient).
fn send_error(e: reqwest::Error) -> NotifyError {
    let mut causes = std::iter::successors(e.source(), |&cause| cause.source());
    match causes.find_map(|cause| cause.downcast_ref::<TargetRefused>()) {
        Some(refusal) => refused(refusal),
        None => NotifyError::Transient(describe(&e)),
    }
}

/// A transport error with its causes ("error sending request" alone says nothing), and without
/// the URL, which may carry a secret token (Slack's do).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "request timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut message = what.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
