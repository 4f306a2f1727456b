//! The e-mail outbox: its rows, and what only e-mails have: the daily cap per recipient and the
//! withdrawal of e-mails whose reminders no longer apply. Claiming, recording, redelivering and listing
//! are the outbox engine's ([`super::outbox`]).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use uuid::Uuid;

use super::conn::on;
use super::outbox::outbox;
use super::rows::{from_column, parse_enum, parse_id, to_column};
use super::schema::deliveries;
use super::{Conn, Db, StoreError};
use crate::domain::listing::{NewestFirst, Page, PageRequest};
use crate::domain::outbox::Outgoing;

outbox! {
    /// The outbox engine over the e-mails.
    pub struct EmailOutbox {
        table: deliveries,
        done: "sent" at sent_at,
        claim_order: "next_attempt_at",
        claimed: Claimed = "id, recipient, recipient_name, subject, text_body, html_body, message_id, attempts",
        row: DeliveryRow,
        busy: "the e-mail is being sent right now",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
/// pending: waiting for its (next) attempt; sending: claimed by a sender; sent: accepted by the SMTP
/// server; failed: given up after the last attempt.
pub enum DeliveryStatus {
    Pending,
    Sending,
    Sent,
    Failed,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub message_id: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = deliveries)]
pub(super) struct DeliveryRow {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub message_id: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    pub recipient_name: Option<String>,
}

impl DeliveryRow {
    pub(super) fn new_pending(id: Uuid, email: &Outgoing, now: DateTime<Utc>) -> Self {
        Self {
            id: id.to_string(),
            recipient: email.recipient.clone(),
            subject: email.subject.clone(),
            text_body: email.text.clone(),
            html_body: email.html.clone(),
            message_id: email.message_id.clone(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: to_column(now),
            locked_until: None,
            last_error: None,
            created_at: to_column(now),
            sent_at: None,
            recipient_name: email.recipient_name.clone(),
        }
    }

    fn into_domain(self) -> Result<Delivery, StoreError> {
        Ok(Delivery {
            id: parse_id(&self.id)?,
            recipient: self.recipient,
            subject: self.subject,
            message_id: self.message_id,
            status: parse_enum("delivery status", &self.status)?,
            attempts: self.attempts,
            next_attempt_at: from_column(self.next_attempt_at),
            last_error: self.last_error,
            created_at: from_column(self.created_at),
            sent_at: self.sent_at.map(from_column),
        })
    }
}

/// A claimed delivery: the e-mail to send and how many attempts it has had, this one included.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub recipient: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub recipient_name: Option<String>,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Text)]
    pub text_body: String,
    #[diesel(sql_type = Text)]
    pub html_body: String,
    #[diesel(sql_type = Text)]
    pub message_id: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

impl Claimed {
    pub fn email(&self) -> Outgoing {
        Outgoing {
            recipient: self.recipient.clone(),
            recipient_name: self.recipient_name.clone(),
            subject: self.subject.clone(),
            text: self.text_body.clone(),
            html: self.html_body.clone(),
            message_id: self.message_id.clone(),
        }
    }
}

/// Claims up to `limit` deliveries that are due (or whose sender's lease ran out) until `lease_until`.
/// E-mails that would take a recipient past `daily_cap` in 24 hours are put back to wait instead.
#[tracing::instrument(skip(db))]
pub async fn claim(
    db: &Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
    daily_cap: i64,
) -> Result<Vec<Claimed>, StoreError> {
    db.change(async |conn| {
        // Claims on PostgreSQL take turns: the daily cap counts what other senders are sending, which a
        // concurrent claim's uncommitted rows would hide, and a claim takes milliseconds.
        if let Conn::Postgres(pg) = conn {
            pg.batch_execute("SELECT pg_advisory_xact_lock(7401512203)").await?;
        }
        let claimed = EmailOutbox::claim_due(conn, now, lease_until, limit).await?;
        // Every sender polls every few seconds, mostly for nothing: an empty claim needs no more queries.
        if claimed.is_empty() {
            return Ok(claimed);
        }
        let claimed = withdraw_stale(conn, claimed, now).await?;
        hold_back_over_cap(conn, claimed, now, daily_cap).await
    })
    .await
}

/// Takes out of the outbox, unsent, the claimed e-mails of which no reminder still applies: every action
/// they remind of was closed, deleted, snoozed or given another due date (or the review was held) since
/// the e-mail was queued, which a retry or the daily cap can make hours. Their reminders go too, so the
/// sweep decides afresh (after a snooze, for the new due date). A digest with one reminder that still
/// applies goes out as written.
async fn withdraw_stale(
    conn: &mut Conn,
    claimed: Vec<Claimed>,
    now: DateTime<Utc>,
) -> Result<Vec<Claimed>, StoreError> {
    use super::schema::{actions, reminders, review_reminders, reviews};
    use crate::domain::action::ActionStatus;
    use crate::domain::reminder::{ReminderKind, due_date_of};
    use crate::domain::review::ReviewStatus;

    let ids: Vec<&str> = claimed.iter().map(|c| c.id.as_str()).collect();
    let today = now.date_naive();
    let for_actions: Vec<(String, String, String, String, chrono::NaiveDate, Option<chrono::NaiveDate>)> = on!(conn, c => {
        reminders::table
            .inner_join(actions::table)
            .filter(reminders::delivery_id.eq_any(&ids))
            .select((
                reminders::delivery_id,
                reminders::kind,
                reminders::period,
                actions::status,
                actions::due_date,
                actions::snoozed_until,
            ))
            .load(c)
            .await
    })?;
    let mut applying: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (delivery, kind, period, status, due_date, snoozed_until) in for_actions {
        let active = status.parse::<ActionStatus>().is_ok_and(|s| ActionStatus::ACTIVE.contains(&s));
        let awake = snoozed_until.is_none_or(|until| until <= today);
        let same_date =
            kind == <&str>::from(ReminderKind::Manual) || due_date_of(&period) == Some(&due_date.to_string());
        if active && awake && same_date {
            applying.insert(delivery);
        }
    }
    let held: Vec<&str> = ReviewStatus::HELD.iter().map(|s| <&str>::from(*s)).collect();
    let held_reviews = reviews::table
        .filter(reviews::incident_id.eq(review_reminders::incident_id))
        .filter(reviews::status.eq_any(held));
    let for_reviews: Vec<String> = on!(conn, c => review_reminders::table
        .filter(review_reminders::delivery_id.eq_any(&ids))
        .filter(diesel::dsl::not(diesel::dsl::exists(held_reviews)))
        .select(review_reminders::delivery_id)
        .load(c)
        .await)?;
    applying.extend(for_reviews);

    let (send, stale): (Vec<Claimed>, Vec<Claimed>) = claimed.into_iter().partition(|c| applying.contains(&c.id));
    if !stale.is_empty() {
        let stale: Vec<&str> = stale.iter().map(|c| c.id.as_str()).collect();
        tracing::info!(withdrawn = stale.len(), "e-mails withdrawn unsent: their reminders no longer apply");
        on!(conn, c => diesel::delete(reminders::table.filter(reminders::delivery_id.eq_any(&stale))).execute(c).await)?;
        on!(conn, c => {
            diesel::delete(review_reminders::table.filter(review_reminders::delivery_id.eq_any(&stale))).execute(c).await
        })?;
        on!(conn, c => diesel::delete(deliveries::table.filter(deliveries::id.eq_any(&stale))).execute(c).await)?;
    }
    Ok(send)
}

/// How long an e-mail held back by the daily cap waits before it is looked at again.
const CAP_RECHECK: chrono::Duration = chrono::Duration::hours(1);

/// Returns the claimed e-mails each recipient may still get within `daily_cap` in the last 24 hours, and
/// puts the rest back in the outbox for later, as not attempted. Counts what was sent and what any sender
/// (another replica included) is sending right now, so replicas share one cap.
async fn hold_back_over_cap(
    conn: &mut Conn,
    claimed: Vec<Claimed>,
    now: DateTime<Utc>,
    daily_cap: i64,
) -> Result<Vec<Claimed>, StoreError> {
    let recipients: std::collections::BTreeSet<&str> = claimed.iter().map(|c| c.recipient.as_str()).collect();
    let window_start = to_column(now - chrono::Duration::hours(24));
    let used: std::collections::HashMap<String, i64> = on!(conn, c => deliveries::table
        .filter(deliveries::recipient.eq_any(&recipients))
        .filter(
            deliveries::status
                .eq("sending")
                .or(deliveries::status.eq("sent").and(deliveries::sent_at.gt(window_start))),
        )
        .group_by(deliveries::recipient)
        .select((deliveries::recipient, diesel::dsl::count_star()))
        .load::<(String, i64)>(c)
        .await)?
    .into_iter()
    .collect();
    // `used` includes this batch, now marked sending: what is left for it is the cap minus the rest.
    let mut in_batch: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for delivery in &claimed {
        *in_batch.entry(delivery.recipient.as_str()).or_default() += 1;
    }
    let mut allowance: std::collections::HashMap<String, i64> = in_batch
        .iter()
        .map(|(recipient, ours)| {
            let before = used.get(*recipient).copied().unwrap_or(0) - ours;
            ((*recipient).to_owned(), daily_cap - before)
        })
        .collect();
    let (mut send, mut hold) = (Vec::new(), Vec::new());
    for delivery in claimed {
        match allowance.get_mut(&delivery.recipient) {
            Some(left) if *left > 0 => {
                *left -= 1;
                send.push(delivery);
            }
            _ => hold.push(delivery.id),
        }
    }
    if !hold.is_empty() {
        tracing::warn!(held = hold.len(), daily_cap, "e-mails held back: their recipients reached the daily cap");
        on!(conn, c => diesel::update(deliveries::table.filter(deliveries::id.eq_any(&hold)))
            .set((
                deliveries::status.eq("pending"),
                deliveries::attempts.eq(deliveries::attempts - 1),
                deliveries::locked_until.eq(None::<NaiveDateTime>),
                deliveries::next_attempt_at.eq(to_column(now + CAP_RECHECK)),
                deliveries::last_error
                    .eq(Some(format!("held back: the recipient reached the cap of {daily_cap} e-mails in 24 hours"))),
            ))
            .execute(c)
            .await)?;
    }
    Ok(send)
}

/// Sends one e-mail again, soon, with its first attempt ahead of it: after a relay was down for longer
/// than the retries last, or a mailbox was fixed. Not one being sent right now.
#[tracing::instrument(skip(db))]
pub async fn redeliver(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    db.change(async |conn| EmailOutbox::redeliver_in(conn, &id.to_string(), now).await).await
}

/// The outbox, newest first, optionally only one status.
#[tracing::instrument(skip(db, page))]
pub async fn list(
    db: &Db,
    status: Option<DeliveryStatus>,
    page: PageRequest<NewestFirst>,
) -> Result<Page<Delivery>, StoreError> {
    db.read(async move |conn| {
        let filter = status.map(|status| deliveries::status.eq(<&str>::from(status)));
        EmailOutbox::page(conn, filter, page, DeliveryRow::into_domain).await
    })
    .await
}
