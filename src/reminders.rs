//! Background work: the reminder sweep and the outbox sender, run inside `serve` on a timer, once by
//! `action-tracker remind --once`, or on demand through the API.
//!
//! Nothing is kept in memory only: a sweep's decisions and e-mails are in the database before anything
//! is sent, and the sender marks an e-mail sent only after the SMTP server accepted it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures_util::StreamExt;
use uuid::Uuid;

use crate::auth::LinkKeys;
use crate::config::{MailSettings, Settings};
use crate::db::reminders::{Candidate, Nudge, PlannedEmail, Queued, Scope, Subject, SweepInput};
use crate::db::{self, Db, StoreError};
use crate::domain::email::EmailAddress;
use crate::domain::outbox::Outgoing;
use crate::domain::reminder::{History, Ladder, ReminderKind, Rung, Sent as ReminderSent};
use crate::mail::{Digest, DigestItem, Mailer, ReviewItem};
use crate::shutdown::Shutdown;

/// What became of one e-mail handed to the SMTP server.
enum Outcome {
    Sent,
    Retrying,
    Failed,
    /// Not attempted: too little of the lease was left. Back in the outbox for the next claim.
    Released,
    /// Attempted, but the lease ran out first and another sender took the e-mail over.
    Lost,
}

/// Whether a conversation (SMTP or webhook) of up to `limit`, started now, ends with its outcome recorded
/// before the claim's `lease` does; past it, another sender may take the row over and send it too. A
/// conversation is never cut short to fit, since the receiver may have taken what was cut.
pub(crate) fn fits_in_lease(lease: DateTime<Utc>, limit: Duration) -> bool {
    let limit = chrono::Duration::from_std(limit).unwrap_or(chrono::Duration::MAX);
    crate::domain::now().checked_add_signed(limit + crate::config::TIME_TO_RECORD).is_some_and(|end| end <= lease)
}

/// E-mails claimed per round trip to the database.
const BATCH: i64 = 50;

pub struct Reminders {
    db: Db,
    ladder: Ladder,
    mailer: Mailer,
    links: LinkKeys,
    base_url: String,
    escalation_contact: Option<EmailAddress>,
    review_due_days: i64,
    mail_settings: MailSettings,
    /// Most e-mails one recipient gets in 24 hours (MAIL_MAX_PER_RECIPIENT_PER_DAY).
    daily_cap: i64,
    sweep_interval: Duration,
}

/// One recipient's digest while a sweep is being planned.
#[derive(Default)]
struct Pending {
    digest: Digest,
    reminders: Vec<(Subject, Rung)>,
    action_keys: Vec<String>,
}

/// What one delivery run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DeliveryReport {
    /// Accepted by the SMTP server (or written to the outbox folder).
    pub sent: usize,
    /// Failed this time and scheduled for another attempt.
    pub retrying: usize,
    /// Failed for the last time.
    pub failed: usize,
}

impl Reminders {
    pub fn new(settings: &Settings, db: Db) -> anyhow::Result<Self> {
        let escalation_contact = settings.reminders.escalation_email.clone();
        let base_url = settings
            .mail
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", settings.listen_addr))
            .trim_end_matches('/')
            .to_owned();
        let r = &settings.reminders;
        Ok(Self {
            ladder: Ladder {
                due_soon_days: r.due_soon_days,
                repeat_days: r.repeat_days,
                max_overdue: r.max_overdue,
                escalate_after_days: r.escalate_after_days,
                send_hour: r.send_hour,
                weekdays_only: r.weekdays_only,
                timezone: settings.timezone,
            },
            mailer: Mailer::new(&settings.mail, &settings.data_dir)?,
            links: LinkKeys::load(
                &settings.mail,
                settings.auth.secret.as_ref(),
                &settings.data_dir,
                &settings.database.url,
            )?,
            base_url,
            escalation_contact,
            review_due_days: r.review_due_days,
            mail_settings: settings.mail.clone(),
            daily_cap: settings.limits.mail_per_recipient_per_day,
            sweep_interval: r.sweep_interval,
            db,
        })
    }

    pub fn links(&self) -> &LinkKeys {
        &self.links
    }

    /// Decides and queues the reminders due at `now`. Each recipient's local day and business hours
    /// decide, so one sweep may write to Auckland and skip Los Angeles.
    #[tracing::instrument(skip(self))]
    pub async fn sweep(self: &Arc<Self>, now: DateTime<Utc>, dry_run: bool) -> Result<Vec<Queued>, StoreError> {
        // The latest local date anywhere (UTC+14) bounds what any recipient could be due today.
        let latest_today = (now + chrono::Duration::hours(14)).date_naive();
        let horizon = latest_today + chrono::Duration::days(self.ladder.due_soon_days.max(0));
        let scope = Scope {
            latest_today,
            horizon,
            contact: self.escalation_contact.as_ref().map(|contact| contact.as_str().to_owned()),
            escalate_due_by: (self.ladder.escalate_after_days > 0)
                .then(|| latest_today - chrono::Duration::days(self.ladder.escalate_after_days)),
        };
        let (planner, renderer) = (Arc::clone(self), Arc::clone(self));
        let planned = db::reminders::sweep(
            &self.db,
            scope,
            now,
            dry_run,
            move |input| Ok(planner.plan(input, now)),
            move |(recipient, mut pending): (String, Pending)| {
                pending.action_keys.dedup();
                renderer.planned(recipient, &pending.digest, pending.reminders, pending.action_keys)
            },
        )
        .await?;
        tracing::info!(emails = planned.len(), dry_run, "reminder sweep done");
        Ok(planned)
    }

    /// The recipient's name in the people directory.
    fn name_of(&self, input: &SweepInput, email: &str) -> Option<String> {
        input.people.get(email).and_then(|p| p.fields.name.as_ref()).map(ToString::to_string)
    }

    fn timezone_of(&self, input: &SweepInput, email: &str) -> Tz {
        input.people.get(email).and_then(|p| p.fields.timezone).unwrap_or(self.ladder.timezone)
    }

    /// One digest per recipient of this round with every reminder due for it now, not yet rendered.
    fn plan(&self, input: &SweepInput, now: DateTime<Utc>) -> Vec<(String, Pending)> {
        let mut digests: BTreeMap<String, Pending> = BTreeMap::new();
        for candidate in &input.actions {
            let owner = input.people.get(candidate.owner_email.as_str());
            // The ladder counts the owner's days; each e-mail keeps its recipient's hours (below).
            let timezone = self.timezone_of(input, candidate.owner_email.as_str());
            let today = self.ladder.today(now, timezone);
            if candidate.snoozed_until.is_some_and(|until| until > today) {
                continue;
            }
            // Whoever answers for the owner: their manager, else the escalation contact.
            let answerable = owner
                .and_then(|p| p.fields.manager_email.as_ref())
                .or(self.escalation_contact.as_ref())
                .map(|e| e.as_str().to_owned());
            let owner_gone = owner.is_some_and(|p| !p.fields.active);
            let history = self.history(input.action_sent.get(&candidate.action_id), timezone);
            let rungs = self.ladder.rungs(candidate.due_date, today, &history, answerable.is_some());
            for rung in rungs.into_iter().map(|rung| rung.of_due_date(candidate.due_date)) {
                let (recipient, for_owner) = match (rung.kind, &answerable) {
                    (ReminderKind::Escalation, Some(to)) => (to.clone(), false),
                    // Someone who left reads no e-mail: their reminders go to whoever answers for them.
                    (_, Some(to)) if owner_gone => (to.clone(), false),
                    (_, None) if owner_gone => continue,
                    _ => (candidate.owner_email.as_str().to_owned(), true),
                };
                if !input.recipients.contains(&recipient)
                    || !self.ladder.may_send_at(now, self.timezone_of(input, &recipient))
                {
                    continue;
                }
                let item = self.item(candidate, today, for_owner);
                let name =
                    self.name_of(input, &recipient).or_else(|| for_owner.then(|| candidate.owner_name.clone())?);
                let pending = digests.entry(recipient).or_default();
                pending.digest.recipient_name = pending.digest.recipient_name.take().or(name);
                match rung.kind {
                    ReminderKind::Escalation => pending.digest.escalated.push(item),
                    ReminderKind::Overdue => pending.digest.overdue.push(item),
                    ReminderKind::DueSoon => pending.digest.due_soon.push(item),
                    ReminderKind::Manual => pending.digest.reminded.push(item),
                }
                pending.reminders.push((Subject::Action(candidate.action_id), rung));
                pending.action_keys.push(format!("ACT-{}", candidate.number));
            }
        }
        for candidate in &input.reviews {
            let Some(recipient) = candidate.facilitator.as_ref().or(self.escalation_contact.as_ref()) else { continue };
            if !input.recipients.contains(recipient.as_str()) {
                continue;
            }
            let timezone = self.timezone_of(input, recipient.as_str());
            if !self.ladder.may_send_at(now, timezone) {
                continue;
            }
            let today = self.ladder.today(now, timezone);
            let resolved = candidate.resolved_at.with_timezone(&self.ladder.timezone).date_naive();
            let due = resolved + chrono::Duration::days(self.review_due_days);
            let history = self.history(input.review_sent.get(&candidate.incident_id), timezone);
            for rung in self.ladder.rungs(due, today, &history, false) {
                let incident = match &candidate.reference {
                    Some(reference) => format!("{reference} {}", candidate.title),
                    None => candidate.title.clone(),
                };
                let pending = digests.entry(recipient.as_str().to_owned()).or_default();
                pending.digest.recipient_name =
                    pending.digest.recipient_name.take().or_else(|| self.name_of(input, recipient.as_str()));
                pending.digest.reviews.push(ReviewItem {
                    incident,
                    resolved_on: resolved.to_string(),
                    due_date: due.to_string(),
                    days_overdue: (today - due).num_days().max(0),
                    api_url: format!("{}/api/v1/incidents/{}/reviews", self.base_url, candidate.incident_id),
                });
                pending.reminders.push((Subject::Review(candidate.incident_id), rung));
            }
        }
        digests.into_iter().collect()
    }

    fn history(&self, sent: Option<&Vec<(ReminderKind, i64, DateTime<Utc>)>>, timezone: Tz) -> History {
        let mut history = History::default();
        for (kind, count, last) in sent.into_iter().flatten() {
            let slot = match kind {
                ReminderKind::DueSoon => &mut history.due_soon,
                ReminderKind::Overdue => &mut history.overdue,
                ReminderKind::Escalation => &mut history.escalation,
                ReminderKind::Manual => continue,
            };
            *slot = ReminderSent { count: *count, last: Some(self.ladder.today(*last, timezone)) };
        }
        history
    }

    fn item(&self, candidate: &Candidate, today: chrono::NaiveDate, for_owner: bool) -> DigestItem {
        let incident = match &candidate.incident_reference {
            Some(reference) => format!("{reference} {}", candidate.incident_title),
            None => candidate.incident_title.clone(),
        };
        // A link lives from when the e-mail is written, whatever day the sweep is deciding for.
        let link = for_owner.then(|| {
            let token =
                self.links.sign(candidate.action_id, &candidate.owner_email, candidate.version, crate::domain::now());
            format!("{}/a/{token}", self.base_url)
        });
        DigestItem {
            key: format!("ACT-{}", candidate.number),
            title: candidate.title.clone(),
            incident,
            priority: <&str>::from(candidate.priority).to_owned(),
            due_date: candidate.due_date.to_string(),
            days_overdue: (today - candidate.due_date).num_days().max(0),
            owner: if for_owner { String::new() } else { candidate.owner_email.to_string() },
            link,
            api_url: format!("{}/api/v1/actions/{}", self.base_url, candidate.action_id),
            tickets: candidate.tickets.clone(),
        }
    }

    fn planned(
        &self,
        recipient: String,
        digest: &Digest,
        reminders: Vec<(Subject, Rung)>,
        action_keys: Vec<String>,
    ) -> Result<PlannedEmail, StoreError> {
        let link_days = self.links.ttl().as_secs() / 86_400;
        let rendered = digest
            .render(&self.base_url, link_days)
            .map_err(|e| StoreError::Query(diesel::result::Error::SerializationError(Box::new(e))))?;
        let delivery_id = Uuid::now_v7();
        let host = self
            .base_url
            .split("://")
            .nth(1)
            .unwrap_or("action-tracker")
            .split(['/', ':'])
            .next()
            .unwrap_or("localhost");
        Ok(PlannedEmail {
            delivery_id,
            email: Outgoing {
                recipient,
                recipient_name: digest.recipient_name.clone(),
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
                message_id: format!("<{delivery_id}@{host}>"),
            },
            reminders,
            action_keys,
        })
    }

    /// A reminder to the owner of one action now, at most once an hour.
    pub async fn nudge(self: &Arc<Self>, action_id: Uuid, now: DateTime<Utc>) -> Result<Nudge, StoreError> {
        let this = Arc::clone(self);
        db::reminders::nudge(&self.db, action_id, now, move |candidate| {
            let today = this.ladder.today(now, this.ladder.timezone);
            let digest = Digest {
                recipient_name: candidate.owner_name.clone(),
                reminded: vec![this.item(candidate, today, true)],
                ..Default::default()
            };
            let rung = Rung { kind: ReminderKind::Manual, period: now.to_rfc3339() };
            let key = format!("ACT-{}", candidate.number);
            let reminders = vec![(Subject::Action(candidate.action_id), rung)];
            this.planned(candidate.owner_email.to_string(), &digest, reminders, vec![key])
        })
        .await
    }

    /// Sends every e-mail that is due, until none is left.
    pub async fn deliver(&self) -> Result<DeliveryReport, StoreError> {
        self.deliver_until(None).await
    }

    /// Sends every e-mail that is due, until none is left or, between two batches, `shutdown` is requested.
    #[tracing::instrument(skip_all)]
    pub async fn deliver_until(&self, shutdown: Option<&Shutdown>) -> Result<DeliveryReport, StoreError> {
        let mut report = DeliveryReport::default();
        // Only what was due when the run began: a failure rescheduled during the run waits for the next one.
        let started = crate::domain::now();
        loop {
            if shutdown.is_some_and(Shutdown::is_requested) {
                return Ok(report);
            }
            let lease_until =
                crate::domain::now() + chrono::Duration::from_std(self.mail_settings.lease).unwrap_or_default();
            let claimed = db::deliveries::claim(&self.db, started, lease_until, BATCH, self.daily_cap).await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            // Several SMTP conversations at once: each waits mostly on the network, and one at a time
            // would cap a large sweep at the round trips of a single connection. Each outcome is
            // recorded as soon as the server answers, so a crash resends only the e-mails in flight.
            let outcomes: Vec<Result<Outcome, StoreError>> = futures_util::stream::iter(claimed)
                .map(|delivery| self.send_and_record(delivery, lease_until))
                .buffer_unordered(self.mail_settings.connections as usize)
                .collect()
                .await;
            for outcome in outcomes {
                match outcome? {
                    Outcome::Sent => report.sent += 1,
                    Outcome::Retrying => report.retrying += 1,
                    Outcome::Failed => report.failed += 1,
                    Outcome::Released | Outcome::Lost => {}
                }
            }
        }
    }

    /// Sends one claimed e-mail if the conversation fits in the claim's `lease`. A claim's e-mails wait for
    /// free connections, so on a slow relay the last of them start late; those are put back unsent.
    async fn send_and_record(
        &self,
        delivery: db::deliveries::Claimed,
        lease: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        if !fits_in_lease(lease, self.mailer.time_limit()) {
            db::deliveries::release(&self.db, delivery.id, lease).await?;
            return Ok(Outcome::Released);
        }
        let (held, outcome) = match self.mailer.send(&delivery.email()).await {
            Ok(()) => (
                db::deliveries::mark_sent(&self.db, delivery.id.clone(), lease, crate::domain::now()).await?,
                Outcome::Sent,
            ),
            Err(error) => {
                let retry_at = if error.permanent { None } else { self.mail_settings.retry_at(delivery.attempts) };
                tracing::warn!(delivery = %delivery.id, attempts = delivery.attempts, permanent = error.permanent, error = %error.reason, "e-mail not accepted");
                let held =
                    db::deliveries::mark_attempt_failed(&self.db, delivery.id.clone(), lease, error.reason, retry_at)
                        .await?;
                (held, if retry_at.is_some() { Outcome::Retrying } else { Outcome::Failed })
            }
        };
        if held == db::deliveries::Held::Lost {
            tracing::warn!(delivery = %delivery.id, "the lease ran out before the relay answered; the sender that took this e-mail over records it, and may send it again (raise MAIL_LEASE)");
            return Ok(Outcome::Lost);
        }
        Ok(outcome)
    }

    /// Runs the sweep (and the purge of expired idempotency keys) every REMINDER_SWEEP_INTERVAL and the
    /// sender every few seconds, until `shutdown` is requested; each loop finishes the work in hand first.
    pub fn spawn(self: Arc<Self>, shutdown: &Shutdown) -> Vec<tokio::task::JoinHandle<()>> {
        let sweeper = Arc::clone(&self);
        let mut stop = shutdown.clone();
        let sweeping = tokio::spawn(async move {
            let mut timer = tokio::time::interval(sweeper.sweep_interval);
            loop {
                tokio::select! {
                    _ = timer.tick() => {}
                    _ = stop.requested() => return,
                }
                if let Err(error) = sweeper.sweep(Utc::now(), false).await {
                    tracing::error!(%error, "reminder sweep failed");
                }
                // Housekeeping rides along with the sweep: forget idempotency keys past their 24 hours.
                if let Err(error) = db::idempotency::purge(&sweeper.db, Utc::now()).await {
                    tracing::error!(%error, "purging expired idempotency keys failed");
                }
            }
        });
        let mut stop = shutdown.clone();
        let sending = tokio::spawn(async move {
            let mut timer = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = timer.tick() => {}
                    _ = stop.requested() => return,
                }
                if let Err(error) = self.deliver_until(Some(&stop)).await {
                    tracing::error!(%error, "e-mail delivery failed");
                }
            }
        });
        vec![sweeping, sending]
    }
}
