//! The people directory: who owns actions, whom to escalate to, and where their working day starts.
//! Nobody has to be in it; an owner who is not gets reminders in the server's TIMEZONE, and escalations
//! go to REMINDER_ESCALATION_EMAIL.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;

use super::audit::Snapshot;
use super::email::EmailAddress;
use super::text::ShortText;
use super::{FieldError, FieldErrors};

#[derive(Debug, Clone, PartialEq)]
pub struct PersonFields {
    pub name: Option<ShortText>,
    /// Escalations about this person's overdue actions go here.
    pub manager_email: Option<EmailAddress>,
    /// "Today" and the send hour of their reminders; `None`: the server's TIMEZONE.
    pub timezone: Option<Tz>,
    /// Someone who left: their actions are flagged `owner_inactive` and their reminders go to whoever
    /// answers for them (manager, else the escalation contact).
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub email: EmailAddress,
    pub fields: PersonFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

/// An IANA time zone name such as `Europe/Berlin`.
pub fn parse_timezone(field: &str, raw: &str) -> Result<Tz, FieldError> {
    raw.trim().parse().map_err(|_| FieldError::new(field, "must be an IANA time zone such as Europe/Berlin"))
}

impl PersonFields {
    /// A person cannot be their own manager: escalations would loop back to them.
    pub fn check(self, email: &EmailAddress) -> Result<Self, FieldErrors> {
        if self.manager_email.as_ref() == Some(email) {
            return Err(FieldError::new("manager_email", "must be someone else").into());
        }
        Ok(self)
    }
}

impl Person {
    pub fn audit_snapshot(&self) -> Snapshot {
        let f = &self.fields;
        Snapshot::from([
            ("name", json!(f.name.as_ref().map(ShortText::as_str))),
            ("manager_email", json!(f.manager_email.as_ref().map(EmailAddress::as_str))),
            ("timezone", json!(f.timezone.map(|tz| tz.name()))),
            ("active", json!(f.active)),
        ])
    }
}
