//! E-mail: rendering (templates in `templates/`, user text escaped in HTML) and delivery through SMTP
//! or, without SMTP_URL, into DATA_DIR/outbox as .eml files. Knows nothing of when to send: that is
//! `crate::jobs::reminders`.

use std::path::Path;

use anyhow::Context;
use askama::Template;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailSettings;
use crate::domain::outbox::Outgoing;

/// One rendered e-mail, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One action in a digest.
#[derive(Debug, Clone)]
pub struct DigestItem {
    pub key: String,
    pub title: String,
    pub incident: String,
    pub priority: String,
    pub due_date: String,
    pub days_overdue: i64,
    /// For escalations: whose action it is; empty otherwise.
    pub owner: String,
    /// The one-click page, for the action's owner.
    pub link: Option<String>,
    pub api_url: String,
    /// Where the work is tracked elsewhere: (jira/SEC-123, its URL).
    pub tickets: Vec<(String, Option<String>)>,
}

/// A resolved incident whose lessons-learned review is due or overdue.
#[derive(Debug, Clone)]
pub struct ReviewItem {
    /// "SEC-1234 Credential phishing"
    pub incident: String,
    pub resolved_on: String,
    pub due_date: String,
    pub days_overdue: i64,
    pub api_url: String,
}

/// One recipient's reminders of one sweep, grouped.
#[derive(Debug, Clone, Default)]
pub struct Digest {
    /// Whom it greets and is addressed to, when the directory or the action knows their name.
    pub recipient_name: Option<String>,
    pub escalated: Vec<DigestItem>,
    pub overdue: Vec<DigestItem>,
    pub due_soon: Vec<DigestItem>,
    /// Manual reminders ("remind now").
    pub reminded: Vec<DigestItem>,
    /// Lessons-learned reviews to hold, for their facilitator.
    pub reviews: Vec<ReviewItem>,
}

#[derive(Template)]
#[template(path = "digest.txt")]
struct DigestText<'a> {
    recipient_name: Option<&'a str>,
    escalated: &'a [DigestItem],
    overdue: &'a [DigestItem],
    due_soon: &'a [DigestItem],
    reminded: &'a [DigestItem],
    reviews: &'a [ReviewItem],
    link_days: u64,
    base_url: &'a str,
}

#[derive(Template)]
#[template(path = "digest.html")]
struct DigestHtml<'a> {
    subject: &'a str,
    recipient_name: Option<&'a str>,
    escalated: &'a [DigestItem],
    overdue: &'a [DigestItem],
    due_soon: &'a [DigestItem],
    reminded: &'a [DigestItem],
    reviews: &'a [ReviewItem],
    link_days: u64,
    base_url: &'a str,
}

impl Digest {
    pub fn is_empty(&self) -> bool {
        self.escalated.is_empty()
            && self.overdue.is_empty()
            && self.due_soon.is_empty()
            && self.reminded.is_empty()
            && self.reviews.is_empty()
    }

    /// "3 overdue and 1 due-soon corrective actions", "Reminder: ACT-42 Rotate keys",
    /// "Lessons-learned review due: SEC-7 Phishing", …
    pub fn subject(&self) -> String {
        let reviews = match self.reviews.as_slice() {
            [] => None,
            [only] if only.days_overdue > 0 => Some(format!("Lessons-learned review overdue: {}", only.incident)),
            [only] => Some(format!("Lessons-learned review due: {}", only.incident)),
            many => Some(format!("{} lessons-learned reviews due", many.len())),
        };
        let actions = self.escalated.len() + self.overdue.len() + self.due_soon.len() + self.reminded.len();
        match (reviews, actions) {
            (Some(reviews), 0) => reviews,
            (Some(reviews), _) => format!("{}; {}", self.action_subject(), reviews),
            (None, _) => self.action_subject(),
        }
    }

    fn action_subject(&self) -> String {
        if let [only] = self.reminded.as_slice()
            && self.escalated.is_empty()
            && self.overdue.is_empty()
            && self.due_soon.is_empty()
        {
            return format!("Reminder: {} {}", only.key, only.title);
        }
        let mut parts = Vec::new();
        let total = self.escalated.len() + self.overdue.len() + self.due_soon.len() + self.reminded.len();
        for (count, label) in [
            (self.escalated.len(), "escalated"),
            (self.overdue.len(), "overdue"),
            (self.due_soon.len(), "due-soon"),
            (self.reminded.len(), "open"),
        ] {
            if count > 0 {
                parts.push(format!("{count} {label}"));
            }
        }
        let counts = match parts.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => "No".to_owned(),
        };
        let noun = if total == 1 { "corrective action" } else { "corrective actions" };
        format!("{counts} {noun}")
    }

    pub fn render(&self, base_url: &str, link_days: u64) -> Result<Rendered, askama::Error> {
        let subject = self.subject();
        let text = DigestText {
            recipient_name: self.recipient_name.as_deref(),
            escalated: &self.escalated,
            overdue: &self.overdue,
            due_soon: &self.due_soon,
            reminded: &self.reminded,
            reviews: &self.reviews,
            link_days,
            base_url,
        }
        .render()?;
        let html = DigestHtml {
            subject: &subject,
            recipient_name: self.recipient_name.as_deref(),
            escalated: &self.escalated,
            overdue: &self.overdue,
            due_soon: &self.due_soon,
            reminded: &self.reminded,
            reviews: &self.reviews,
            link_days,
            base_url,
        }
        .render()?;
        Ok(Rendered { subject, text, html })
    }
}

/// Why an e-mail was not handed over, in words safe to store and show.
#[derive(Debug)]
pub struct NotSent {
    pub reason: String,
    /// Trying again cannot help: the relay refused for good (a 5xx answer) or the message cannot be built.
    pub permanent: bool,
}

impl NotSent {
    fn permanent(reason: String) -> Self {
        Self { reason, permanent: true }
    }

    fn temporary(reason: String) -> Self {
        Self { reason, permanent: false }
    }
}

/// Where e-mail goes.
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
    /// The longest one conversation with the relay may take: SMTP_TIMEOUT, or less if MAIL_LEASE is short.
    timeout: std::time::Duration,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

impl Mailer {
    pub fn new(settings: &MailSettings, data_dir: &Path) -> anyhow::Result<Self> {
        let from = settings.from.clone();
        let transport = match &settings.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| anyhow::anyhow!("SMTP_URL cannot be used: {e}"))?
                    .timeout(Some(settings.conversation_limit(settings.smtp_timeout)))
                    .pool_config(PoolConfig::new().max_size(settings.connections))
                    .build(),
            ),
            None => {
                let outbox = data_dir.join("outbox");
                std::fs::create_dir_all(&outbox)
                    .with_context(|| format!("creating the outbox folder {} in DATA_DIR", outbox.display()))?;
                Transport::Files(AsyncFileTransport::new(outbox))
            }
        };
        Ok(Self { from, transport, timeout: settings.conversation_limit(settings.smtp_timeout) })
    }

    /// The longest one conversation with the relay may take.
    pub fn time_limit(&self) -> std::time::Duration {
        self.timeout
    }

    /// Hands the e-mail to the SMTP server (or writes it), in a conversation of at most [`Self::time_limit`].
    pub async fn send(&self, email: &Outgoing) -> Result<(), NotSent> {
        let address = email
            .recipient
            .parse()
            .map_err(|e| NotSent::permanent(format!("bad recipient {:?}: {e}", email.recipient)))?;
        let to = Mailbox::new(email.recipient_name.clone(), address);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .message_id(Some(email.message_id.clone()))
            .date_now()
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".into()))
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(email.text.clone()))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(email.html.clone())),
            )
            .map_err(|e| NotSent::permanent(format!("building the message: {e}")))?;
        match &self.transport {
            // lettre's own timeout does not cover every wait: a relay that accepts the connection and never
            // greets would hold this conversation, and the sender, for ever.
            Transport::Smtp(smtp) => match tokio::time::timeout(self.timeout, smtp.send(message)).await {
                Ok(sent) => {
                    sent.map(|_| ()).map_err(|e| NotSent { reason: e.to_string(), permanent: e.is_permanent() })
                }
                Err(_) => Err(NotSent::temporary(format!(
                    "the SMTP server did not answer within {}",
                    humantime::format_duration(self.timeout)
                ))),
            },
            Transport::Files(files) => {
                let id = files.send(message).await.map_err(|e| NotSent::temporary(e.to_string()))?;
                tracing::info!(recipient = %email.recipient, subject = %email.subject, file = %id, "e-mail written to the outbox folder");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, title: &str) -> DigestItem {
        DigestItem {
            key: key.into(),
            title: title.into(),
            incident: "SEC-1 Phishing".into(),
            priority: "high".into(),
            due_date: "2026-03-01".into(),
            days_overdue: 2,
            owner: String::new(),
            link: Some("https://tracker.example.com/a/t0ken".into()),
            api_url: "https://tracker.example.com/api/v1/actions/1".into(),
            tickets: vec![("jira/SEC-1".into(), Some("https://jira.example.com/browse/SEC-1".into()))],
        }
    }

    #[test]
    fn the_subject_counts_each_group() {
        let digest = Digest {
            overdue: vec![item("ACT-1", "a"), item("ACT-2", "b"), item("ACT-3", "c")],
            due_soon: vec![item("ACT-4", "d")],
            ..Default::default()
        };
        assert_eq!(digest.subject(), "3 overdue and 1 due-soon corrective actions");
        let one = Digest { overdue: vec![item("ACT-1", "a")], ..Default::default() };
        assert_eq!(one.subject(), "1 overdue corrective action");
    }

    #[test]
    fn user_text_is_escaped_in_html_but_kept_in_text() {
        let digest = Digest { overdue: vec![item("ACT-1", "<script>alert(1)</script>")], ..Default::default() };
        let rendered = digest.render("https://tracker.example.com", 7).unwrap();
        assert!(!rendered.html.contains("<script>"), "{}", rendered.html);
        assert!(rendered.html.contains("&#60;script&#62;") || rendered.html.contains("&lt;script&gt;"));
        assert!(rendered.text.contains("<script>alert(1)</script>"));
        assert!(rendered.html.contains("https://tracker.example.com/a/t0ken"));
        assert!(
            rendered.text.contains("Ticket: jira/SEC-1 https://jira.example.com/browse/SEC-1"),
            "{}",
            rendered.text
        );
        assert!(rendered.html.contains("<a href=\"https://jira.example.com/browse/SEC-1\">jira/SEC-1</a>"));
    }
}
