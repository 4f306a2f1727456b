//! What the e-mail and webhook senders share: the report of a run, the retry policy and the rule that
//! no conversation may outlast its claim.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::db::outbox::{Attempt, Attempted};

/// What one delivery run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Accepted by the receiver (the SMTP server, the outbox folder, a webhook's 2xx).
    pub sent: usize,
    /// Failed this time and scheduled for another attempt.
    pub retrying: usize,
    /// Failed for the last time.
    pub failed: usize,
}

impl std::ops::AddAssign for DeliveryReport {
    fn add_assign(&mut self, other: Self) {
        self.sent += other.sent;
        self.retrying += other.retrying;
        self.failed += other.failed;
    }
}

/// What became of one claimed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Retrying,
    Failed,
    /// Not attempted: too little of the lease was left. Back in the outbox for the next claim.
    Released,
    /// Attempted, but the lease ran out first and another sender took the row over.
    Lost,
}

impl Outcome {
    /// What an attempt comes to, once recorded.
    pub fn of(attempt: &Attempt) -> Self {
        match attempt.result {
            Attempted::Done(_) => Outcome::Sent,
            Attempted::RetryAt(_) => Outcome::Retrying,
            Attempted::GaveUp => Outcome::Failed,
        }
    }
}

impl DeliveryReport {
    pub fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Sent => self.sent += 1,
            Outcome::Retrying => self.retrying += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Released | Outcome::Lost => {}
        }
    }
}

/// How both outboxes retry: at most MAIL_MAX_ATTEMPTS attempts, waiting MAIL_RETRY_BASE and doubling up
/// to MAIL_RETRY_MAX between them, each claim held for MAIL_LEASE.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    max_attempts: i32,
    base: Duration,
    max: Duration,
    lease: Duration,
}

impl RetryPolicy {
    pub fn new(settings: &Settings) -> Self {
        let mail = &settings.mail;
        Self { max_attempts: mail.max_attempts, base: mail.retry_base, max: mail.retry_max, lease: mail.lease }
    }

    /// When to try a delivery again after `attempts` failed ones: MAIL_RETRY_BASE, doubling with each
    /// failure up to MAIL_RETRY_MAX; `None` once MAIL_MAX_ATTEMPTS are spent.
    pub fn retry_at(&self, attempts: i32) -> Option<DateTime<Utc>> {
        if attempts >= self.max_attempts {
            return None;
        }
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).clamp(0, 30) as u32);
        let wait = self.base.saturating_mul(factor).min(self.max);
        Some(crate::domain::now() + chrono::Duration::from_std(wait).unwrap_or_default())
    }

    /// How long a claim holds its rows.
    pub fn lease(&self) -> Duration {
        self.lease
    }
}

/// Whether a conversation (SMTP or webhook) of up to `limit`, started now, ends with its outcome recorded
/// before the claim's `lease` does; past it, another sender may take the row over and send it too. A
/// conversation is never cut short to fit, since the receiver may have taken what was cut.
pub fn fits_in_lease(lease: DateTime<Utc>, limit: Duration) -> bool {
    let limit = chrono::Duration::from_std(limit).unwrap_or(chrono::Duration::MAX);
    crate::domain::now().checked_add_signed(limit + crate::config::TIME_TO_RECORD).is_some_and(|end| end <= lease)
}
