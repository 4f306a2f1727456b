//! The e-mail sender: claims due e-mails from the outbox, hands them to the SMTP server (or the outbox
//! folder) and records each outcome. Runs inside `serve` every few seconds, once by `remind --once`, or
//! on demand through the API.
//!
//! An e-mail is marked sent only after the SMTP server accepted it, so a crash resends only the e-mails
//! that were in flight, with the same Message-ID.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use super::outbox::{DeliveryReport, Outcome, RetryPolicy, fits_in_lease};
use super::{Queue, drain, drain_every};
use crate::config::Settings;
use crate::db::deliveries::EmailOutbox;
use crate::db::outbox::{Attempt, Attempted, Held};
use crate::db::{self, Db, StoreError};
use crate::mail::Mailer;
use crate::shutdown::Shutdown;

/// E-mails claimed per round trip to the database.
const BATCH: i64 = 50;

pub struct EmailSender {
    db: Db,
    mailer: Mailer,
    retry: RetryPolicy,
    /// SMTP conversations at once (MAIL_CONNECTIONS).
    connections: usize,
    /// Most e-mails one recipient gets in 24 hours (MAIL_MAX_PER_RECIPIENT_PER_DAY).
    daily_cap: i64,
}

impl EmailSender {
    pub fn new(settings: &Settings, db: Db) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            mailer: Mailer::new(&settings.mail, &settings.data_dir)?,
            retry: RetryPolicy::new(settings),
            connections: settings.mail.connections as usize,
            daily_cap: settings.limits.mail_per_recipient_per_day,
        })
    }

    /// Sends every e-mail that is due, until none is left.
    #[tracing::instrument(skip_all)]
    pub async fn deliver(&self) -> Result<DeliveryReport, StoreError> {
        drain(self, None).await
    }

    /// Sends due e-mails every few seconds until `shutdown` is requested; the batch in hand is finished.
    pub fn spawn(self: Arc<Self>, shutdown: &Shutdown) -> tokio::task::JoinHandle<()> {
        drain_every(self, shutdown)
    }

    /// Sends one claimed e-mail if the conversation fits in the claim's `lease`. A claim's e-mails wait for
    /// free connections, so on a slow relay the last of them start late; those are put back unsent.
    async fn send_and_record(
        &self,
        delivery: db::deliveries::Claimed,
        lease: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        if !fits_in_lease(lease, self.mailer.time_limit()) {
            EmailOutbox::release(&self.db, delivery.id, lease).await?;
            return Ok(Outcome::Released);
        }
        let attempt = match self.mailer.send(&delivery.email()).await {
            Ok(()) => Attempt { result: Attempted::Done(crate::domain::now()), error: None, status_code: None },
            Err(error) => {
                let retry_at = if error.permanent { None } else { self.retry.retry_at(delivery.attempts) };
                tracing::warn!(delivery = %delivery.id, attempts = delivery.attempts, permanent = error.permanent, error = %error.reason, "e-mail not accepted");
                let result = retry_at.map_or(Attempted::GaveUp, Attempted::RetryAt);
                Attempt { result, error: Some(error.reason), status_code: None }
            }
        };
        let outcome = Outcome::of(&attempt);
        let held = EmailOutbox::record(&self.db, delivery.id.clone(), lease, attempt).await?;
        if held == Held::Lost {
            tracing::warn!(delivery = %delivery.id, "the lease ran out before the relay answered; the sender that took this e-mail over records it, and may send it again (raise MAIL_LEASE)");
            return Ok(Outcome::Lost);
        }
        Ok(outcome)
    }
}

impl Queue for EmailSender {
    const WHAT: &'static str = "e-mail delivery";
    type Item = db::deliveries::Claimed;

    fn lease(&self) -> Duration {
        self.retry.lease()
    }

    async fn claim(
        &self,
        due_by: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<db::deliveries::Claimed>, StoreError> {
        db::deliveries::claim(&self.db, due_by, lease_until, BATCH, self.daily_cap).await
    }

    /// Several SMTP conversations at once: each waits mostly on the network, and one at a time would cap
    /// a large sweep at the round trips of a single connection. Each outcome is recorded as soon as the
    /// server answers, so a crash resends only the e-mails in flight.
    async fn work(
        &self,
        batch: Vec<db::deliveries::Claimed>,
        lease_until: DateTime<Utc>,
    ) -> Result<DeliveryReport, StoreError> {
        let outcomes: Vec<Result<Outcome, StoreError>> = futures_util::stream::iter(batch)
            .map(|delivery| self.send_and_record(delivery, lease_until))
            .buffer_unordered(self.connections)
            .collect()
            .await;
        let mut report = DeliveryReport::default();
        for outcome in outcomes {
            report.count(outcome?);
        }
        Ok(report)
    }
}
