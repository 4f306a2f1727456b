//! The reminder sweep: decides which reminders are due and writes their digests, run inside `serve` on a
//! timer, once by `action-tracker remind --once`, or on demand through the API.
//!
//! A sweep reads what is due from the database (`db::reminders`), plans and renders the digests here, and
//! hands the decisions back to be stored with their e-mails in one transaction, a round of recipients at
//! a time. When another sweep stored reminders of the same actions in between, the round is read and
//! planned again. Nothing is kept in memory only: a sweep's decisions and e-mails are in the database
//! before anything is sent (`jobs::email` sends them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::auth::LinkKeys;
use crate::config::Settings;
use crate::db::reminders::{Candidate, NewEmail, NudgeTarget, Recorded, ReviewCandidate, Scope, Subject, SweepInput};
use crate::db::{self, Db, StoreError};
use crate::domain::email::EmailAddress;
use crate::domain::outbox::Outgoing;
use crate::domain::reminder::{History, Ladder, ReminderKind, Rung, Sent as ReminderSent};
use crate::mail::{Digest, DigestItem, ReviewItem};
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

/// Recipients decided per round: few enough that a round's candidates and digests stay small.
const RECIPIENTS_PER_ROUND: usize = 500;

/// Times a round (or a manual reminder) is planned again when others keep recording reminders of the
/// same actions first.
const PLANS: usize = 5;

/// Why a sweep or a manual reminder did not get through.
#[derive(Debug, thiserror::Error)]
pub enum ReminderError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A digest could not be rendered: a bug in a template, not something a retry mends.
    #[error("rendering a reminder e-mail failed: {0}")]
    Render(#[from] askama::Error),
}

/// An e-mail the planner wants sent, and the action keys it lists.
#[derive(Debug, Clone)]
struct PlannedEmail {
    email: NewEmail,
    action_keys: Vec<String>,
}

/// What a sweep queued (or, in a dry run, would queue): an e-mail without its body.
#[derive(Debug, Clone)]
pub struct Queued {
    pub delivery_id: Uuid,
    pub recipient: String,
    pub subject: String,
    /// The kinds of reminder in the e-mail, each once.
    pub kinds: Vec<ReminderKind>,
    pub action_keys: Vec<String>,
}

impl From<&PlannedEmail> for Queued {
    fn from(planned: &PlannedEmail) -> Self {
        let mut kinds: Vec<ReminderKind> = Vec::new();
        for (_, rung) in &planned.email.reminders {
            if !kinds.contains(&rung.kind) {
                kinds.push(rung.kind);
            }
        }
        Queued {
            delivery_id: planned.email.delivery_id,
            recipient: planned.email.email.recipient.clone(),
            subject: planned.email.email.subject.clone(),
            kinds,
            action_keys: planned.action_keys.clone(),
        }
    }
}

/// What became of a manual reminder.
#[derive(Debug)]
pub enum Nudge {
    Queued(Queued),
    /// The last manual reminder is younger than an hour; retry after this many seconds.
    TooSoon(i64),
    /// Done and cancelled actions need no reminder.
    NotActive,
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
    ///
    /// A round stores its reminders before the next round reads what was already sent. That changes no
    /// decision: each rung of the ladder goes to one recipient, so it is decided in one round, and whether
    /// a rung is due depends only on the reminders of its own kind.
    #[tracing::instrument(skip(self))]
    pub async fn sweep(&self, now: DateTime<Utc>, dry_run: bool) -> Result<Vec<Queued>, ReminderError> {
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
        let due = db::reminders::due(&self.db, scope.clone(), now).await?;
        let mut queued = Vec::new();
        for round in due.recipients.chunks(RECIPIENTS_PER_ROUND) {
            let reviews: Vec<ReviewCandidate> = due
                .reviews
                .iter()
                .filter(|r| {
                    let recipient = r.facilitator.as_ref().map(EmailAddress::as_str).or(scope.contact.as_deref());
                    recipient.is_some_and(|recipient| round.iter().any(|r| r == recipient))
                })
                .cloned()
                .collect();
            queued.extend(self.sweep_round(&scope, round, reviews, now, dry_run).await?);
        }
        tracing::info!(emails = queued.len(), dry_run, "reminder sweep done");
        Ok(queued)
    }

    /// Plans one round of recipients and, unless `dry_run`, stores what it decided; plans again when
    /// another sweep got there first.
    async fn sweep_round(
        &self,
        scope: &Scope,
        round: &[String],
        reviews: Vec<ReviewCandidate>,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Vec<Queued>, ReminderError> {
        for _ in 0..PLANS {
            let input = db::reminders::round(&self.db, scope.clone(), round.to_vec(), reviews.clone()).await?;
            let seen = input.seen();
            let planned = self
                .plan(&input, now)
                .into_iter()
                .map(|(recipient, mut pending)| {
                    pending.action_keys.dedup();
                    self.planned(recipient, &pending.digest, pending.reminders, pending.action_keys)
                })
                .collect::<Result<Vec<_>, _>>()?;
            drop(input);
            let queued: Vec<Queued> = planned.iter().map(Queued::from).collect();
            if dry_run {
                return Ok(queued);
            }
            let emails = planned.into_iter().map(|planned| planned.email).collect();
            match db::reminders::record(&self.db, seen, emails, now).await? {
                Recorded::Stored => return Ok(queued),
                Recorded::Stale => {
                    tracing::info!("another sweep recorded reminders of this round first; planning it again")
                }
            }
        }
        Err(StoreError::Conflict("the reminders are being changed by others; try again".into()).into())
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
    ) -> Result<PlannedEmail, askama::Error> {
        let link_days = self.links.ttl().as_secs() / 86_400;
        let rendered = digest.render(&self.base_url, link_days)?;
        let delivery_id = Uuid::now_v7();
        let host = self
            .base_url
            .split("://")
            .nth(1)
            .unwrap_or("action-tracker")
            .split(['/', ':'])
            .next()
            .unwrap_or("localhost");
        let email = Outgoing {
            recipient,
            recipient_name: digest.recipient_name.clone(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            message_id: format!("<{delivery_id}@{host}>"),
        };
        Ok(PlannedEmail { email: NewEmail { delivery_id, email, reminders }, action_keys })
    }

    /// A reminder to the owner of one action now, at most once an hour.
    #[tracing::instrument(skip(self))]
    pub async fn nudge(&self, action_id: Uuid, now: DateTime<Utc>) -> Result<Nudge, ReminderError> {
        for _ in 0..PLANS {
            let (candidate, last) = match db::reminders::nudge_target(&self.db, action_id, now).await? {
                NudgeTarget::Due { candidate, last } => (candidate, last),
                NudgeTarget::TooSoon(seconds) => return Ok(Nudge::TooSoon(seconds)),
                NudgeTarget::NotActive => return Ok(Nudge::NotActive),
            };
            let today = self.ladder.today(now, self.ladder.timezone);
            let digest = Digest {
                recipient_name: candidate.owner_name.clone(),
                reminded: vec![self.item(&candidate, today, true)],
                ..Default::default()
            };
            let rung = Rung { kind: ReminderKind::Manual, period: now.to_rfc3339() };
            let key = format!("ACT-{}", candidate.number);
            let reminders = vec![(Subject::Action(candidate.action_id), rung)];
            let planned = self.planned(candidate.owner_email.to_string(), &digest, reminders, vec![key])?;
            let queued = Queued::from(&planned);
            match db::reminders::record_nudge(&self.db, action_id, last, planned.email, now).await? {
                Recorded::Stored => return Ok(Nudge::Queued(queued)),
                Recorded::Stale => continue,
            }
        }
        Err(StoreError::Conflict("the action's reminders are being changed by others; try again".into()).into())
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
