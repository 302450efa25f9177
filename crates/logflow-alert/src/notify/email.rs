//! The `email` channel: a plain-text email through the server's SMTP relay ([`SmtpConfig`]) to
//! the rule's recipients.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

use super::{display_time, Notification, Notifier, NotifyError};
use crate::channel::EmailConfig;
use crate::error::AlertError;

/// How the connection to the SMTP relay is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a relay on localhost or a private network only). Default port 25.
    None,
    /// Plain connection upgraded with STARTTLS, which is required. Default port 587.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS). Default port 465.
    Tls,
}

/// The server's SMTP relay, shared by every email rule.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct SmtpConfig {
    pub host: String,
    /// Default: 25, 587 or 465 by `tls`.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    /// Log in with these credentials when `username` is set.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The sender, e.g. `LogFlow <alerts@example.com>`.
    pub from: String,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .finish()
    }
}

/// The SMTP transport and sender, built once from [`SmtpConfig`].
pub(super) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Limit of one whole send. lettre's own timeout does not cover every wait (a server that
    /// never answers a command holds the send forever), so the send is also bounded here.
    timeout: Duration,
}

impl Mailer {
    pub(super) fn new(cfg: &SmtpConfig, timeout: Duration) -> Result<Mailer, AlertError> {
        let bad = |what: &str, e: &dyn fmt::Display| AlertError::Config(format!("smtp {what}: {e}"));
        let from: Mailbox = cfg.from.parse().map_err(|e| bad(&format!("from address \"{}\"", cfg.from), &e))?;
        let host = cfg.host.trim();
        if host.is_empty() {
            return Err(AlertError::Config("smtp host must not be empty".into()));
        }
        let builder = match cfg.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(25),
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(|e| bad("TLS setup", &e))?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| bad("TLS setup", &e))?,
        };
        let mut builder = builder.timeout(Some(timeout));
        if let Some(port) = cfg.port {
            builder = builder.port(port);
        }
        if let Some(username) = &cfg.username {
            builder = builder.credentials(Credentials::new(username.clone(), cfg.password.clone().unwrap_or_default()));
        }
        Ok(Mailer { transport: builder.build(), from, timeout })
    }
}

/// Sends the notification as an email; fails permanently when the server has no SMTP relay.
pub struct EmailNotifier {
    mailer: Option<Arc<Mailer>>,
    cfg: EmailConfig,
}

impl EmailNotifier {
    pub(super) fn new(mailer: Option<Arc<Mailer>>, cfg: EmailConfig) -> Self {
        EmailNotifier { mailer, cfg }
    }
}

#[async_trait]
impl Notifier for EmailNotifier {
    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let Some(mailer) = &self.mailer else {
            return Err(NotifyError::Permanent(
                "email notifications need the server's SMTP settings (smtp host and from address)".into(),
            ));
        };
        let mut message = Message::builder()
            .from(mailer.from.clone())
            .subject(format!("[LogFlow] {}: {}", n.title_word(), n.rule_name))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.cfg.to {
            message = message.to(to.clone());
        }
        let message =
            message.body(body(n)).map_err(|e| NotifyError::Permanent(format!("cannot build the email: {e}")))?;
        match tokio::time::timeout(mailer.timeout, mailer.transport.send(message)).await {
            Err(_) => Err(NotifyError::Transient(format!("SMTP: no answer within {:?}", mailer.timeout))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(NotifyError::Permanent(format!("SMTP: {e}"))),
            Ok(Err(e)) => Err(NotifyError::Transient(format!("SMTP: {e}"))),
        }
    }
}

/// The plain-text body: the message, the figures, the sample ids and the search link.
fn body(n: &Notification) -> String {
    let mut lines = vec![
        n.message.clone(),
        String::new(),
        format!("Rule:         {} (id {})", n.rule_name, n.rule_id),
        format!("Condition:    {} ({})", n.threshold_text(), n.condition),
        format!("Value:        {}", n.value),
        format!("Window:       {} minutes", n.time_window_minutes),
        format!("Triggered at: {}", display_time(n.triggered_at)),
    ];
    if let Some(at) = n.recovered_at {
        lines.push(format!("Recovered at: {}", display_time(at)));
    }
    lines.push(format!("Alert:        {}", n.alert_id));
    if !n.sample_log_ids.is_empty() {
        lines.push(format!("Sample logs:  {}", n.sample_log_ids.join(", ")));
    }
    lines.push(String::new());
    lines.push(format!("Matching logs: {}", n.search_url));
    lines.push(String::new());
    lines.join("\n")
}
