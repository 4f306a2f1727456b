//! The reminder sweep: decides which reminders are due and writes their digests, run inside `serve` on a
//! timer, once by `action-tracker remind --once`, or on demand through the API.
//!
//! Nothing is kept in memory only: a sweep's decisions and e-mails are in the database before anything
//! is sent (`jobs::email` sends them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::auth::LinkKeys;
use crate::config::Settings;
use crate::db::reminders::{Candidate, Nudge, PlannedEmail, Queued, Scope, Subject, SweepInput};
use crate::db::{self, Db, StoreError};
use crate::domain::email::EmailAddress;
use crate::domain::reminder::{History, Ladder, ReminderKind, Rung, Sent as ReminderSent};
use crate::mail::{Digest, DigestItem, Outgoing, ReviewItem};
use crate::shutdown::Shutdown;

pub struct Reminders {
    db: Db,
    ladder: Ladder,
    links: LinkKeys,
    base_url: String,
    escalation_contact: Option<EmailAddress>,
    review_due_days: i64,
    sweep_interval: Duration,
}

/// One recipient's digest while a sweep is being planned.
#[derive(Default)]
struct Pending {
    digest: Digest,
    reminders: Vec<(Subject, Rung)>,
    action_keys: Vec<String>,
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
            links: LinkKeys::load(
                &settings.mail,
                settings.auth.secret.as_ref(),
                &settings.data_dir,
                &settings.database.url,
            )?,
            base_url,
            escalation_contact,
            review_due_days: r.review_due_days,
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

    /// Runs the sweep (and the purge of expired idempotency keys) every REMINDER_SWEEP_INTERVAL, until
    /// `shutdown` is requested; a sweep in hand is finished.
    pub fn spawn(self: Arc<Self>, shutdown: &Shutdown) -> tokio::task::JoinHandle<()> {
        super::every(self.sweep_interval, shutdown, move || {
            let sweeper = Arc::clone(&self);
            async move {
                if let Err(error) = sweeper.sweep(Utc::now(), false).await {
                    tracing::error!(%error, "reminder sweep failed");
                }
                // Housekeeping rides along with the sweep: forget idempotency keys past their 24 hours.
                if let Err(error) = db::idempotency::purge(&sweeper.db, Utc::now()).await {
                    tracing::error!(%error, "purging expired idempotency keys failed");
                }
            }
        })
    }
}
