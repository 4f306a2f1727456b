//! Reminder decisions. A sweep runs in one write transaction: it loads the actions that may be due a
//! reminder and the reminders they already had, lets a planner decide and render the e-mails, and
//! stores each (action, kind, period) with its outbox row. The unique key on (action, kind, period),
//! and on PostgreSQL an advisory lock that makes concurrent sweeps take turns, mean a reminder is
//! queued once per period whatever the number of sweeps, restarts or replicas.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use uuid::Uuid;

use super::deliveries::DeliveryRow;
use super::rows::{from_column, parse_enum, parse_id, to_column};
use super::schema::{actions, deliveries, incidents, reminders};
use super::{Db, DbConnection, StoreError};
use crate::domain::action::{ActionStatus, Priority};
use crate::domain::email::EmailAddress;
use crate::domain::reminder::{ReminderKind, Rung};
use crate::mail::Outgoing;

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
}

/// An e-mail the planner wants sent, and the reminders it carries.
#[derive(Debug, Clone)]
pub struct PlannedEmail {
    pub delivery_id: Uuid,
    pub email: Outgoing,
    pub reminders: Vec<(Uuid, Rung)>,
    pub action_keys: Vec<String>,
}

/// What each action was already sent: per kind, how many and when the last one was decided.
pub type Sent = HashMap<Uuid, Vec<(ReminderKind, i64, DateTime<Utc>)>>;

type Row = (String, i64, String, String, NaiveDate, i16, Option<String>, String);

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
) = (
    actions::id,
    actions::number,
    actions::title,
    actions::owner_email,
    actions::due_date,
    actions::priority,
    incidents::reference,
    incidents::title,
);

fn candidate(row: Row) -> Result<Candidate, StoreError> {
    let (id, number, title, owner, due_date, priority, reference, incident_title) = row;
    Ok(Candidate {
        action_id: parse_id(&id)?,
        number,
        title,
        owner_email: EmailAddress::from_stored(owner),
        due_date,
        priority: Priority::from_rank(priority).unwrap_or_default(),
        incident_reference: reference,
        incident_title,
    })
}

fn lock_sweeps(conn: &mut DbConnection) -> Result<(), StoreError> {
    // SQLite's write transactions are already exclusive; PostgreSQL replicas take turns on this lock.
    if let DbConnection::Postgres(pg) = conn {
        pg.batch_execute("SELECT pg_advisory_xact_lock(7401512201)")?;
    }
    Ok(())
}

fn active() -> Vec<&'static str> {
    ActionStatus::ACTIVE.iter().map(|s| <&str>::from(*s)).collect()
}

const CHUNK: usize = 500;

fn already_sent(conn: &mut DbConnection, candidates: &[Candidate]) -> Result<Sent, StoreError> {
    let mut sent = Sent::new();
    for chunk in candidates.chunks(CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|c| c.action_id.to_string()).collect();
        let rows: Vec<(String, String, i64, Option<chrono::NaiveDateTime>)> = reminders::table
            .filter(reminders::action_id.eq_any(ids))
            .group_by((reminders::action_id, reminders::kind))
            .select((
                reminders::action_id,
                reminders::kind,
                diesel::dsl::count_star(),
                diesel::dsl::max(reminders::created_at),
            ))
            .load(conn)?;
        for (action_id, kind, count, last) in rows {
            if let Some(last) = last {
                let entry = sent.entry(parse_id(&action_id)?).or_default();
                entry.push((parse_enum("reminder kind", &kind)?, count, from_column(last)));
            }
        }
    }
    Ok(sent)
}

/// Stores the reminders as decided at `as_of`; their e-mails are due for delivery right away.
fn store(conn: &mut DbConnection, planned: &[PlannedEmail], as_of: DateTime<Utc>) -> Result<(), StoreError> {
    let now = crate::domain::now();
    for email in planned {
        diesel::insert_into(deliveries::table)
            .values(DeliveryRow::new_pending(email.delivery_id, &email.email, now))
            .execute(conn)?;
        for (action_id, rung) in &email.reminders {
            diesel::insert_into(reminders::table)
                .values((
                    reminders::id.eq(Uuid::now_v7().to_string()),
                    reminders::action_id.eq(action_id.to_string()),
                    reminders::kind.eq(<&str>::from(rung.kind)),
                    reminders::period.eq(&rung.period),
                    reminders::recipient.eq(&email.email.recipient),
                    reminders::delivery_id.eq(email.delivery_id.to_string()),
                    reminders::created_at.eq(to_column(as_of)),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// One sweep: active, unsnoozed actions due on or before `horizon`, planned by `plan`, stored unless
/// `dry_run`. Returns what was (or would be) queued.
#[tracing::instrument(skip(db, plan))]
pub async fn sweep<F>(
    db: &Db,
    today: NaiveDate,
    horizon: NaiveDate,
    now: DateTime<Utc>,
    dry_run: bool,
    plan: F,
) -> Result<Vec<PlannedEmail>, StoreError>
where
    F: Fn(&[Candidate], &Sent) -> Result<Vec<PlannedEmail>, StoreError> + Send + Sync + 'static,
{
    db.write(move |conn| {
        lock_sweeps(conn)?;
        let rows: Vec<Row> = actions::table
            .inner_join(incidents::table)
            .filter(actions::status.eq_any(active()))
            .filter(actions::due_date.le(horizon))
            .filter(actions::snoozed_until.is_null().or(actions::snoozed_until.le(today)))
            .select(CANDIDATE_COLUMNS)
            .order(actions::id.asc())
            .load(conn)?;
        let candidates = rows.into_iter().map(candidate).collect::<Result<Vec<_>, _>>()?;
        let sent = already_sent(conn, &candidates)?;
        let planned = plan(&candidates, &sent)?;
        if !dry_run {
            store(conn, &planned, now)?;
        }
        Ok(planned)
    })
    .await
}

/// Why a manual reminder was not queued.
#[derive(Debug)]
pub enum Nudge {
    Queued(PlannedEmail),
    /// The last manual reminder is younger than an hour; retry after this many seconds.
    TooSoon(i64),
    /// Done and cancelled actions need no reminder.
    NotActive,
}

/// A manual reminder for one action, at most one per action per hour.
#[tracing::instrument(skip(db, plan))]
pub async fn nudge<F>(db: &Db, action_id: Uuid, now: DateTime<Utc>, plan: F) -> Result<Nudge, StoreError>
where
    F: Fn(&Candidate) -> Result<PlannedEmail, StoreError> + Send + Sync + 'static,
{
    db.write(move |conn| {
        lock_sweeps(conn)?;
        let row: (Row, String) = actions::table
            .inner_join(incidents::table)
            .filter(actions::id.eq(action_id.to_string()))
            .select((CANDIDATE_COLUMNS, actions::status))
            .first(conn)?;
        let (row, status) = row;
        if !parse_enum::<ActionStatus>("action status", &status)?.is_active() {
            return Ok(Nudge::NotActive);
        }
        let last: Option<chrono::NaiveDateTime> = reminders::table
            .filter(reminders::action_id.eq(action_id.to_string()))
            .filter(reminders::kind.eq(<&str>::from(ReminderKind::Manual)))
            .select(diesel::dsl::max(reminders::created_at))
            .first(conn)?;
        if let Some(last) = last.map(from_column) {
            let wait = (last + chrono::Duration::hours(1) - now).num_seconds();
            if wait > 0 {
                return Ok(Nudge::TooSoon(wait));
            }
        }
        let planned = plan(&candidate(row)?)?;
        store(conn, std::slice::from_ref(&planned), now)?;
        Ok(Nudge::Queued(planned))
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
    db.run(move |conn| {
        let rows: Vec<RecordRow> = reminders::table
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
            .load(conn)?;
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
