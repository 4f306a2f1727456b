//! Reminder decisions, as plain reads and one plain write; the planning and rendering between them are
//! `jobs::reminders`'.
//!
//! A sweep reads who may be due a reminder ([`due`]) and then, recipient by recipient, a few hundred at
//! a time so its memory does not grow with the number of reminders, what one round decides from
//! ([`round`]): the actions that may be due a reminder to those recipients, the resolved incidents still
//! waiting for their lessons-learned review, the reminders both already had and the directory entries
//! of the people concerned. The planner's decisions are stored with their outbox rows in one
//! transaction ([`record`]), which first checks, under a lock that makes concurrent sweeps take turns,
//! that the reminders already had are still those the plan was made from; when they are not, nothing
//! is stored and the planner plans the round again. With the unique keys on (action, kind, period) and
//! (incident, kind, period), a reminder is queued once per period whatever the number of sweeps,
//! restarts or replicas.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use uuid::Uuid;

use super::conn::{execute_batch, on};
use super::deliveries::DeliveryRow;
use super::rows::{from_column, parse_enum, parse_id, to_column};
use super::schema::{action_refs, actions, deliveries, incidents, people, reminders, review_reminders, reviews};
use super::{Conn, Db, StoreError};
use crate::domain::action::{ActionStatus, Priority};
use crate::domain::email::EmailAddress;
use crate::domain::outbox::Outgoing;
use crate::domain::person::Person;
use crate::domain::reminder::{ReminderKind, Rung, due_date_of};
use crate::domain::review::ReviewStatus;
use crate::domain::webhook::WebhookEvent;

/// An action that may be due a reminder, with what an e-mail about it shows.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub action_id: Uuid,
    pub number: i64,
    pub title: String,
    pub owner_email: EmailAddress,
    pub due_date: NaiveDate,
    pub priority: Priority,
    pub incident_reference: Option<String>,
    pub incident_title: String,
    pub snoozed_until: Option<NaiveDate>,
    /// The action's version now: the one-click link in the e-mail works only while it stays at it.
    pub version: i64,
    /// The owner's name as given on the action, for the e-mail's `To` when the directory has none.
    pub owner_name: Option<String>,
    /// Linked tickets as (system/key, URL), so the e-mail can point to where the work is tracked.
    pub tickets: Vec<(String, Option<String>)>,
}

/// A resolved incident whose lessons-learned review is not held yet.
#[derive(Debug, Clone)]
pub struct ReviewCandidate {
    pub incident_id: Uuid,
    pub reference: Option<String>,
    pub title: String,
    pub resolved_at: DateTime<Utc>,
    /// The facilitator of its latest planned review, if one was named.
    pub facilitator: Option<EmailAddress>,
}

/// What a reminder is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Action(Uuid),
    /// The lessons-learned review of this incident.
    Review(Uuid),
}

/// Everything one round of a sweep decides from.
#[derive(Debug, Default)]
pub struct SweepInput {
    /// The recipients of this round: plan e-mails to them only. The actions below include those whose
    /// reminders they may get (their own, their reports', the escalation contact's) and may include
    /// some whose reminders go to someone else, in another round.
    pub recipients: BTreeSet<String>,
    pub actions: Vec<Candidate>,
    pub action_sent: Sent,
    pub reviews: Vec<ReviewCandidate>,
    pub review_sent: Sent,
    /// The directory entries of the owners and facilitators above, by address.
    pub people: HashMap<String, Person>,
}

/// An e-mail to queue, and the reminders it carries.
#[derive(Debug, Clone)]
pub struct NewEmail {
    pub delivery_id: Uuid,
    pub email: Outgoing,
    pub reminders: Vec<(Subject, Rung)>,
}

/// What a sweep looks at: the actions that may be due a reminder, and who answers for their owners, as
/// far as the sweep must know to find what a manager or the escalation contact hears about.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The latest "today" anywhere: actions snoozed past it are left out (the planner checks each
    /// owner's own day).
    pub latest_today: NaiveDate,
    /// Actions due after this day need no reminder yet.
    pub horizon: NaiveDate,
    /// REMINDER_ESCALATION_EMAIL: answers for owners with no manager in the directory.
    pub contact: Option<String>,
    /// The latest due date that can be escalated in this sweep; `None` when escalation is off.
    pub escalate_due_by: Option<NaiveDate>,
}

/// What each action (or incident's review) was already sent: per kind, how many and when the last one
/// was decided.
pub type Sent = HashMap<Uuid, Vec<(ReminderKind, i64, DateTime<Utc>)>>;

type Row =
    (String, i64, String, String, NaiveDate, i16, Option<String>, String, Option<NaiveDate>, i64, Option<String>);

/// What an e-mail about an action shows, selected the same way by sweeps and manual reminders.
const CANDIDATE_COLUMNS: (
    actions::id,
    actions::number,
    actions::title,
    actions::owner_email,
    actions::due_date,
    actions::priority,
    incidents::reference,
    incidents::title,
    actions::snoozed_until,
    actions::version,
    actions::owner_name,
) = (
    actions::id,
    actions::number,
    actions::title,
    actions::owner_email,
    actions::due_date,
    actions::priority,
    incidents::reference,
    incidents::title,
    actions::snoozed_until,
    actions::version,
    actions::owner_name,
);

fn candidate(row: Row) -> Result<Candidate, StoreError> {
    let (id, number, title, owner, due_date, priority, reference, incident_title, snoozed_until, version, owner_name) =
        row;
    Ok(Candidate {
        action_id: parse_id(&id)?,
        number,
        title,
        owner_email: EmailAddress::from_stored(owner),
        due_date,
        priority: Priority::from_rank(priority).unwrap_or_default(),
        incident_reference: reference,
        incident_title,
        snoozed_until,
        version,
        owner_name,
        tickets: Vec::new(),
    })
}

/// Fills in the tickets linked to each candidate.
async fn with_tickets(conn: &mut Conn, candidates: &mut [Candidate]) -> Result<(), StoreError> {
    for chunk in candidates.chunks_mut(CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|c| c.action_id.to_string()).collect();
        let links: Vec<(String, String, String, Option<String>)> = on!(conn, c => action_refs::table
            .filter(action_refs::action_id.eq_any(ids))
            .order((action_refs::system.asc(), action_refs::key.asc()))
            .select((action_refs::action_id, action_refs::system, action_refs::key, action_refs::url))
            .load(c)
            .await)?;
        let mut by_action: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
        for (action_id, system, key, url) in links {
            by_action.entry(action_id).or_default().push((format!("{system}/{key}"), url));
        }
        for candidate in chunk {
            candidate.tickets = by_action.remove(&candidate.action_id.to_string()).unwrap_or_default();
        }
    }
    Ok(())
}

async fn lock_sweeps(conn: &mut Conn) -> Result<(), StoreError> {
    // SQLite's write transactions are already exclusive; PostgreSQL replicas take turns on this lock.
    if let Conn::Postgres(pg) = conn {
        pg.batch_execute("SELECT pg_advisory_xact_lock(7401512201)").await?;
    }
    Ok(())
}

fn active() -> Vec<&'static str> {
    ActionStatus::ACTIVE.iter().map(|s| <&str>::from(*s)).collect()
}

const CHUNK: usize = 500;

/// What each action was sent for the due date given with it (see [`Rung::of_due_date`]); manual
/// reminders do not count.
async fn already_sent(conn: &mut Conn, due_dates: &[(Uuid, NaiveDate)]) -> Result<Sent, StoreError> {
    let mut sent = Sent::new();
    for chunk in due_dates.chunks(CHUNK) {
        let due: HashMap<String, String> = chunk.iter().map(|(id, due)| (id.to_string(), due.to_string())).collect();
        // A few rows per action and due date (the ladder is short); counted here, since the due date a
        // period names is not a column to group by.
        let rows: Vec<(String, String, String, chrono::NaiveDateTime)> = on!(conn, c => reminders::table
            .filter(reminders::action_id.eq_any(due.keys()))
            .filter(reminders::kind.ne(<&str>::from(ReminderKind::Manual)))
            .select((reminders::action_id, reminders::kind, reminders::period, reminders::created_at))
            .load(c)
            .await)?;
        let mut counted: HashMap<(String, String), (i64, chrono::NaiveDateTime)> = HashMap::new();
        for (action_id, kind, period, at) in rows {
            if due_date_of(&period) == due.get(&action_id).map(String::as_str) {
                let (count, last) = counted.entry((action_id, kind)).or_insert((0, at));
                *count += 1;
                *last = (*last).max(at);
            }
        }
        for ((action_id, kind), (count, last)) in counted {
            let entry = sent.entry(parse_id(&action_id)?).or_default();
            entry.push((parse_enum("reminder kind", &kind)?, count, from_column(last)));
        }
    }
    Ok(in_order(sent))
}

/// What each incident's review was sent.
async fn review_already_sent(conn: &mut Conn, incidents: &[Uuid]) -> Result<Sent, StoreError> {
    let mut sent = Sent::new();
    for chunk in incidents.chunks(CHUNK) {
        let ids: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
        let rows: Vec<(String, String, i64, Option<chrono::NaiveDateTime>)> = on!(conn, c => review_reminders::table
            .filter(review_reminders::incident_id.eq_any(ids))
            .group_by((review_reminders::incident_id, review_reminders::kind))
            .select((
                review_reminders::incident_id,
                review_reminders::kind,
                diesel::dsl::count_star(),
                diesel::dsl::max(review_reminders::created_at),
            ))
            .load(c)
            .await)?;
        for (incident_id, kind, count, last) in rows {
            if let Some(last) = last {
                let entry = sent.entry(parse_id(&incident_id)?).or_default();
                entry.push((parse_enum("reminder kind", &kind)?, count, from_column(last)));
            }
        }
    }
    Ok(in_order(sent))
}

/// The same history read twice compares equal, whatever order the rows came in.
fn in_order(mut sent: Sent) -> Sent {
    for kinds in sent.values_mut() {
        kinds.sort_unstable_by_key(|(kind, _, _)| <&str>::from(*kind));
    }
    sent
}

/// Resolved incidents (resolved by `now`) with no held or completed review, and who facilitates the
/// latest review planned for each.
async fn review_candidates(conn: &mut Conn, now: DateTime<Utc>) -> Result<Vec<ReviewCandidate>, StoreError> {
    let held: Vec<&str> = ReviewStatus::HELD.iter().map(|s| <&str>::from(*s)).collect();
    let rows: Vec<(String, Option<String>, String, Option<chrono::NaiveDateTime>)> = on!(conn, c => {
        let held_reviews =
            reviews::table.filter(reviews::incident_id.eq(incidents::id)).filter(reviews::status.eq_any(held));
        incidents::table
            .filter(incidents::resolved_at.le(to_column(now)))
            .filter(diesel::dsl::not(diesel::dsl::exists(held_reviews)))
            .select((incidents::id, incidents::reference, incidents::title, incidents::resolved_at))
            .order(incidents::id.asc())
            .load(c)
            .await
    })?;
    let mut candidates = Vec::with_capacity(rows.len());
    for (id, reference, title, resolved_at) in rows {
        let Some(resolved_at) = resolved_at else { continue };
        candidates.push(ReviewCandidate {
            incident_id: parse_id(&id)?,
            reference,
            title,
            resolved_at: from_column(resolved_at),
            facilitator: None,
        });
    }
    for chunk in candidates.chunks_mut(CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|c| c.incident_id.to_string()).collect();
        let planned: Vec<(String, Option<String>)> = on!(conn, c => reviews::table
            .filter(reviews::incident_id.eq_any(ids))
            .filter(reviews::facilitator_email.is_not_null())
            .order((reviews::created_at.asc(), reviews::id.asc()))
            .select((reviews::incident_id, reviews::facilitator_email))
            .load(c)
            .await)?;
        // Later reviews overwrite earlier ones: the latest planned review names the facilitator.
        let latest: HashMap<String, String> =
            planned.into_iter().filter_map(|(incident, facilitator)| Some((incident, facilitator?))).collect();
        for candidate in chunk {
            candidate.facilitator =
                latest.get(&candidate.incident_id.to_string()).map(|f| EmailAddress::from_stored(f.clone()));
        }
    }
    Ok(candidates)
}

/// Tells webhook subscribers that an action became overdue (its first overdue reminder) or was escalated.
async fn notify_subscribers(
    conn: &mut Conn,
    listening: &[WebhookEvent],
    action_id: Uuid,
    rung: &Rung,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let kind = match rung.kind {
        ReminderKind::Overdue if rung.is_first_overdue() => WebhookEvent::ActionOverdue,
        ReminderKind::Escalation => WebhookEvent::ActionEscalated,
        _ => return Ok(()),
    };
    if !listening.contains(&kind) {
        return Ok(());
    }
    let action = super::actions::load(conn, action_id).await?;
    let mut resource = serde_json::Map::new();
    resource.insert("id".to_owned(), serde_json::json!(action_id));
    resource.extend(action.audit_snapshot().into_iter().map(|(field, value)| (field.to_owned(), value)));
    super::webhooks::enqueue_action_notice(conn, kind, action_id, &serde_json::Value::Object(resource), at).await
}

/// Stores an e-mail's reminders as decided at `as_of`; the e-mail is due for delivery right away.
/// `listening` is asked once per round ([`super::webhooks::subscribed`]): a round of thousands of overdue
/// actions must not load each one for nobody.
async fn store(
    conn: &mut Conn,
    email: &NewEmail,
    as_of: DateTime<Utc>,
    listening: &[WebhookEvent],
) -> Result<(), StoreError> {
    let now = crate::domain::now();
    on!(conn, c => diesel::insert_into(deliveries::table)
        .values(DeliveryRow::new_pending(email.delivery_id, &email.email, now))
        .execute(c)
        .await)?;
    // An e-mail's reminders go in with one statement (a digest may carry dozens).
    let actions: Vec<_> = email
        .reminders
        .iter()
        .filter_map(|(subject, rung)| match subject {
            Subject::Action(action_id) => Some((
                reminders::id.eq(Uuid::now_v7().to_string()),
                reminders::action_id.eq(action_id.to_string()),
                reminders::kind.eq(<&str>::from(rung.kind)),
                reminders::period.eq(rung.period.clone()),
                reminders::recipient.eq(email.email.recipient.clone()),
                reminders::delivery_id.eq(email.delivery_id.to_string()),
                reminders::created_at.eq(to_column(as_of)),
            )),
            Subject::Review(_) => None,
        })
        .collect();
    if !actions.is_empty() {
        execute_batch!(conn, diesel::insert_into(reminders::table).values(actions))?;
    }
    for (subject, rung) in &email.reminders {
        match subject {
            Subject::Action(action_id) => {
                if !listening.is_empty() {
                    notify_subscribers(conn, listening, *action_id, rung, as_of).await?;
                }
            }
            Subject::Review(incident_id) => {
                on!(conn, c => diesel::insert_into(review_reminders::table)
                    .values((
                        review_reminders::id.eq(Uuid::now_v7().to_string()),
                        review_reminders::incident_id.eq(incident_id.to_string()),
                        review_reminders::kind.eq(<&str>::from(rung.kind)),
                        review_reminders::period.eq(&rung.period),
                        review_reminders::recipient.eq(&email.email.recipient),
                        review_reminders::delivery_id.eq(email.delivery_id.to_string()),
                        review_reminders::created_at.eq(to_column(as_of)),
                    ))
                    .execute(c)
                    .await)?;
            }
        }
    }
    Ok(())
}

/// The actions a sweep considers: active, due by the horizon and not snoozed past the latest today. A
/// macro, because each backend boxes its own query.
macro_rules! due_actions {
    ($scope:expr) => {{
        let scope: &Scope = $scope;
        actions::table
            .filter(actions::status.eq_any(active()))
            .filter(actions::due_date.le(scope.horizon))
            .filter(actions::snoozed_until.is_null().or(actions::snoozed_until.le(scope.latest_today)))
            .into_boxed()
    }};
}

/// Everyone a sweep may write to, in order: owners of due actions, managers, the escalation contact and
/// the facilitators of reviews not held.
async fn recipients(conn: &mut Conn, scope: &Scope, reviews: &[ReviewCandidate]) -> Result<Vec<String>, StoreError> {
    let owners: Vec<String> =
        on!(conn, c => due_actions!(scope).select(actions::owner_email).distinct().load(c).await)?;
    let managers: Vec<Option<String>> = on!(conn, c => people::table
        .filter(people::manager_email.is_not_null())
        .select(people::manager_email)
        .distinct()
        .load(c)
        .await)?;
    let mut all: BTreeSet<String> = owners.into_iter().chain(managers.into_iter().flatten()).collect();
    all.extend(scope.contact.clone());
    all.extend(reviews.iter().filter_map(|r| r.facilitator.as_ref().map(|f| f.as_str().to_owned())));
    Ok(all.into_iter().collect())
}

/// The actions whose reminders may go to `round`: their own, those of the people who report to them,
/// and, when the escalation contact is among them, those it answers for.
async fn round_candidates(conn: &mut Conn, scope: &Scope, round: &[String]) -> Result<Vec<Candidate>, StoreError> {
    let mut rows: Vec<Row> = on!(conn, c => due_actions!(scope)
        .inner_join(incidents::table)
        .filter(actions::owner_email.eq_any(round))
        .select(CANDIDATE_COLUMNS)
        .load(c)
        .await)?;
    let reports: Vec<String> =
        on!(conn, c => people::table.filter(people::manager_email.eq_any(round)).select(people::email).load(c).await)?;
    for reports in reports.chunks(CHUNK) {
        rows.extend(on!(conn, c => due_actions!(scope)
                .inner_join(incidents::table)
                .filter(actions::owner_email.eq_any(reports))
                .select(CANDIDATE_COLUMNS)
                .load::<Row>(c)
                .await)?);
    }
    if scope.contact.as_ref().is_some_and(|contact| round.contains(contact)) {
        // The contact answers for owners without a manager: for their escalations, and for everything
        // of those who left.
        rows.extend(on!(conn, c => {
            let managed = people::table.filter(people::manager_email.is_not_null()).select(people::email);
            let gone = || people::table.filter(people::active.eq(0)).select(people::email);
            let mut query = due_actions!(scope)
                .inner_join(incidents::table)
                .filter(diesel::dsl::not(actions::owner_email.eq_any(managed)))
                .select(CANDIDATE_COLUMNS);
            query = match scope.escalate_due_by {
                Some(last) => query.filter(actions::due_date.le(last).or(actions::owner_email.eq_any(gone()))),
                None => query.filter(actions::owner_email.eq_any(gone())),
            };
            query.load::<Row>(c).await
        })?);
    }
    // An owner and their manager may share a round.
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    rows.dedup_by(|a, b| a.0 == b.0);
    let mut candidates = rows.into_iter().map(candidate).collect::<Result<Vec<_>, _>>()?;
    with_tickets(conn, &mut candidates).await?;
    Ok(candidates)
}

/// Who a sweep may write to, and the reviews it looks at.
#[derive(Debug, Clone, Default)]
pub struct Due {
    /// Everyone a sweep may write to, in order: owners of due actions, managers, the escalation contact
    /// and the facilitators of reviews not held.
    pub recipients: Vec<String>,
    /// The resolved incidents without a held review.
    pub reviews: Vec<ReviewCandidate>,
}

/// Who a sweep at `now` may write to: the owners of the actions in `scope`, who answers for them, and
/// the facilitators of the resolved incidents' reviews not held yet.
#[tracing::instrument(skip(db))]
pub async fn due(db: &Db, scope: Scope, now: DateTime<Utc>) -> Result<Due, StoreError> {
    db.snapshot(async move |conn| {
        let reviews = review_candidates(conn, now).await?;
        let recipients = recipients(conn, &scope, &reviews).await?;
        Ok(Due { recipients, reviews })
    })
    .await
}

/// What one round of a sweep decides from: for the recipients `round`, the actions in `scope` whose
/// reminders they may get, the `reviews` whose reminders go to them, what both were already sent, and
/// the directory entries of everyone concerned. One snapshot, so the history matches the candidates.
#[tracing::instrument(skip_all, fields(recipients = round.len()))]
pub async fn round(
    db: &Db,
    scope: Scope,
    round: Vec<String>,
    reviews: Vec<ReviewCandidate>,
) -> Result<SweepInput, StoreError> {
    db.snapshot(async move |conn| {
        let actions = round_candidates(conn, &scope, &round).await?;
        let action_sent = already_sent(conn, &due_dates(&actions)).await?;
        let review_sent = review_already_sent(conn, &incidents_of(&reviews)).await?;
        // Owners (whose day the ladder counts in) and this round's recipients (whose hours the e-mails
        // keep): managers and the escalation contact among them.
        let mut addresses: Vec<&str> = actions.iter().map(|c| c.owner_email.as_str()).collect();
        addresses.extend(reviews.iter().filter_map(|r| r.facilitator.as_ref().map(EmailAddress::as_str)));
        addresses.extend(round.iter().map(String::as_str));
        addresses.sort_unstable();
        addresses.dedup();
        let people = super::people::directory(conn, &addresses).await?;
        let recipients = round.into_iter().collect();
        Ok(SweepInput { recipients, actions, action_sent, reviews, review_sent, people })
    })
    .await
}

fn due_dates(actions: &[Candidate]) -> Vec<(Uuid, NaiveDate)> {
    actions.iter().map(|c| (c.action_id, c.due_date)).collect()
}

fn incidents_of(reviews: &[ReviewCandidate]) -> Vec<Uuid> {
    reviews.iter().map(|r| r.incident_id).collect()
}

/// The reminders a round's plan was made from, compared again when its decisions are recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    due_dates: Vec<(Uuid, NaiveDate)>,
    incidents: Vec<Uuid>,
    action_sent: Sent,
    review_sent: Sent,
}

impl SweepInput {
    pub fn seen(&self) -> Seen {
        Seen {
            due_dates: due_dates(&self.actions),
            incidents: incidents_of(&self.reviews),
            action_sent: self.action_sent.clone(),
            review_sent: self.review_sent.clone(),
        }
    }
}

/// Whether decisions were stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Stored,
    /// Reminders of the same actions or reviews were recorded since the plan was read (another sweep,
    /// another replica): nothing was stored; read and plan again.
    Stale,
}

/// Stores a round's e-mails with the reminders they carry, decided at `as_of`, in one transaction, if
/// the reminders already sent are still those `seen` when the round was planned. The e-mails are due for
/// delivery right away.
#[tracing::instrument(skip_all, fields(emails = emails.len()))]
pub async fn record(db: &Db, seen: Seen, emails: Vec<NewEmail>, as_of: DateTime<Utc>) -> Result<Recorded, StoreError> {
    if emails.is_empty() {
        return Ok(Recorded::Stored);
    }
    db.change(async |conn| {
        lock_sweeps(conn).await?;
        if already_sent(conn, &seen.due_dates).await? != seen.action_sent
            || review_already_sent(conn, &seen.incidents).await? != seen.review_sent
            || !all_still_there(conn, &seen).await?
        {
            return Ok(Recorded::Stale);
        }
        let listening = super::webhooks::subscribed(conn).await?;
        for email in &emails {
            store(conn, email, as_of, &listening).await?;
        }
        Ok(Recorded::Stored)
    })
    .await
}

/// Whether every action and incident the plan was made from still exists. One deleted since has no
/// history to differ by, yet its reminders can no longer be stored: the round is read again without it.
async fn all_still_there(conn: &mut Conn, seen: &Seen) -> Result<bool, StoreError> {
    let action_ids: Vec<String> = seen.due_dates.iter().map(|(id, _)| id.to_string()).collect();
    let incident_ids: Vec<String> = seen.incidents.iter().map(Uuid::to_string).collect();
    let mut actions_there = 0;
    for chunk in action_ids.chunks(CHUNK) {
        actions_there +=
            on!(conn, c => actions::table.filter(actions::id.eq_any(chunk)).count().get_result::<i64>(c).await)?;
    }
    let mut incidents_there = 0;
    for chunk in incident_ids.chunks(CHUNK) {
        incidents_there +=
            on!(conn, c => incidents::table.filter(incidents::id.eq_any(chunk)).count().get_result::<i64>(c).await)?;
    }
    Ok(actions_there == action_ids.len() as i64 && incidents_there == incident_ids.len() as i64)
}

/// Whether one action may be sent a manual reminder now.
#[derive(Debug)]
pub enum NudgeTarget {
    /// It may: what the e-mail shows, and when the last manual reminder was decided.
    Due { candidate: Box<Candidate>, last: Option<DateTime<Utc>> },
    /// The last manual reminder is younger than an hour; retry after this many seconds.
    TooSoon(i64),
    /// Done and cancelled actions need no reminder.
    NotActive,
}

/// When the last manual reminder of `action_id` was decided, and whether the action is active.
async fn manual_state(conn: &mut Conn, action_id: Uuid) -> Result<(bool, Option<DateTime<Utc>>), StoreError> {
    let status: String =
        on!(conn, c => actions::table.find(action_id.to_string()).select(actions::status).first(c).await)?;
    let last: Option<chrono::NaiveDateTime> = on!(conn, c => reminders::table
        .filter(reminders::action_id.eq(action_id.to_string()))
        .filter(reminders::kind.eq(<&str>::from(ReminderKind::Manual)))
        .select(diesel::dsl::max(reminders::created_at))
        .first(c)
        .await)?;
    Ok((parse_enum::<ActionStatus>("action status", &status)?.is_active(), last.map(from_column)))
}

/// Whether `action_id` may be sent a manual reminder at `now` (at most one per action per hour), and what
/// it would show.
#[tracing::instrument(skip(db))]
pub async fn nudge_target(db: &Db, action_id: Uuid, now: DateTime<Utc>) -> Result<NudgeTarget, StoreError> {
    db.snapshot(async move |conn| {
        let row: Row = on!(conn, c => actions::table
            .inner_join(incidents::table)
            .filter(actions::id.eq(action_id.to_string()))
            .select(CANDIDATE_COLUMNS)
            .first(c)
            .await)?;
        let (active, last) = manual_state(conn, action_id).await?;
        if !active {
            return Ok(NudgeTarget::NotActive);
        }
        if let Some(last) = last {
            let wait = (last + chrono::Duration::hours(1) - now).num_seconds();
            if wait > 0 {
                return Ok(NudgeTarget::TooSoon(wait));
            }
        }
        let mut candidates = [candidate(row)?];
        with_tickets(conn, &mut candidates).await?;
        let [mut candidate] = candidates;
        // Addressed by the name the directory knows, as a sweep's e-mails are, else the action's.
        let listed: Option<Option<String>> =
            on!(conn, c => people::table.find(candidate.owner_email.as_str()).select(people::name).first(c).await)
                .optional()?;
        if let Some(name) = listed.flatten() {
            candidate.owner_name = Some(name);
        }
        Ok(NudgeTarget::Due { candidate: Box::new(candidate), last })
    })
    .await
}

/// Stores a manual reminder of `action_id` decided at `as_of`, if the action is still active and its last
/// manual reminder is still the one `last` said when the e-mail was written.
#[tracing::instrument(skip(db, email))]
pub async fn record_nudge(
    db: &Db,
    action_id: Uuid,
    last: Option<DateTime<Utc>>,
    email: NewEmail,
    as_of: DateTime<Utc>,
) -> Result<Recorded, StoreError> {
    db.change(async |conn| {
        lock_sweeps(conn).await?;
        if manual_state(conn, action_id).await? != (true, last) {
            return Ok(Recorded::Stale);
        }
        let listening = super::webhooks::subscribed(conn).await?;
        store(conn, &email, as_of, &listening).await?;
        Ok(Recorded::Stored)
    })
    .await
}

/// What became of one reminder.
#[derive(Debug, Clone)]
pub struct ReminderRecord {
    pub kind: ReminderKind,
    pub period: String,
    pub recipient: String,
    pub queued_at: DateTime<Utc>,
    pub status: String,
    pub attempts: i32,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

type RecordRow =
    (String, String, String, chrono::NaiveDateTime, String, i32, Option<chrono::NaiveDateTime>, Option<String>);

/// The reminders of one action, oldest first, with their delivery state.
#[tracing::instrument(skip(db))]
pub async fn for_action(db: &Db, action_id: Uuid) -> Result<Vec<ReminderRecord>, StoreError> {
    db.read(async move |conn| {
        let rows: Vec<RecordRow> = on!(conn, c => reminders::table
            .inner_join(deliveries::table)
            .filter(reminders::action_id.eq(action_id.to_string()))
            .order(reminders::id.asc())
            .limit(500)
            .select((
                reminders::kind,
                reminders::period,
                reminders::recipient,
                reminders::created_at,
                deliveries::status,
                deliveries::attempts,
                deliveries::sent_at,
                deliveries::last_error,
            ))
            .load(c)
            .await)?;
        rows.into_iter()
            .map(|(kind, period, recipient, queued_at, status, attempts, sent_at, last_error)| {
                Ok(ReminderRecord {
                    kind: parse_enum("reminder kind", &kind)?,
                    period,
                    recipient,
                    queued_at: from_column(queued_at),
                    status,
                    attempts,
                    sent_at: sent_at.map(from_column),
                    last_error,
                })
            })
            .collect()
    })
    .await
}
