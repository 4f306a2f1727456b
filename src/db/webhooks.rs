//! Webhook subscriptions and their outbox. Deliveries are written in the transaction of the change they
//! announce; claiming, recording, redelivering and listing them are the outbox engine's
//! ([`super::outbox`]), and what is left here is what only webhooks have: the subscriptions, and the
//! receiver and secret each claimed delivery goes to.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde_json::Value;
use uuid::Uuid;

use super::conn::on;
use super::outbox::outbox;
use super::rows::{from_column, parse_enum, parse_id, to_column};
use super::schema::{webhook_deliveries, webhooks};
use super::{Conn, Db, StoreError};
use crate::domain::audit::{EntityType, Event};
use crate::domain::external::HttpUrl;
use crate::domain::listing::{NewestFirst, Page, PageRequest};
use crate::domain::text::ShortText;
use crate::domain::webhook::{Webhook, WebhookEvent, WebhookFields, payload};

outbox! {
    /// The outbox engine over the webhook deliveries.
    pub struct WebhookOutbox {
        table: webhook_deliveries,
        done: "delivered" at delivered_at,
        status_code: last_status_code,
        claim_order: "next_attempt_at, id",
        claimed: ClaimedId = "id, webhook_id, payload, attempts",
        row: DeliveryRow,
        busy: "the delivery is being sent right now",
    }
}

/// Webhooks one installation may have: each change is offered to all of them in its transaction.
pub const MAX_WEBHOOKS: i64 = 50;

type WebhookRow = (String, String, String, String, Option<String>, NaiveDateTime, String);

fn webhook(row: WebhookRow) -> Result<Webhook, StoreError> {
    let (id, url, secret, events, description, created_at, created_by) = row;
    let events: Vec<WebhookEvent> = serde_json::from_str(&events)
        .map_err(|e| StoreError::Query(diesel::result::Error::DeserializationError(Box::new(e))))?;
    Ok(Webhook {
        id: parse_id(&id)?,
        fields: WebhookFields {
            url: HttpUrl::from_stored(url),
            events,
            description: description.map(ShortText::from_stored),
        },
        secret,
        created_at: from_column(created_at),
        created_by,
    })
}

const COLUMNS: (
    webhooks::id,
    webhooks::url,
    webhooks::secret,
    webhooks::events,
    webhooks::description,
    webhooks::created_at,
    webhooks::created_by,
) = (
    webhooks::id,
    webhooks::url,
    webhooks::secret,
    webhooks::events,
    webhooks::description,
    webhooks::created_at,
    webhooks::created_by,
);

#[tracing::instrument(skip(db, secret))]
pub async fn create(
    db: &Db,
    fields: WebhookFields,
    secret: String,
    created_by: String,
    now: DateTime<Utc>,
) -> Result<Webhook, StoreError> {
    db.change(async |conn| {
        // Concurrent subscriptions take turns on PostgreSQL, so none counts past the others to the limit.
        if let Conn::Postgres(pg) = conn {
            pg.batch_execute("SELECT pg_advisory_xact_lock(7401512204)").await?;
        }
        let count: i64 = on!(conn, c => webhooks::table.count().get_result(c).await)?;
        if count >= MAX_WEBHOOKS {
            return Err(StoreError::Conflict(format!("there are already {MAX_WEBHOOKS} webhooks; delete one first")));
        }
        let events = serde_json::to_string(&fields.events)
            .map_err(|e| StoreError::Query(diesel::result::Error::SerializationError(Box::new(e))))?;
        let hook = Webhook {
            id: Uuid::now_v7(),
            fields: fields.clone(),
            secret: secret.clone(),
            created_at: now,
            created_by: created_by.clone(),
        };
        on!(conn, c => diesel::insert_into(webhooks::table)
            .values((
                webhooks::id.eq(hook.id.to_string()),
                webhooks::url.eq(hook.fields.url.as_str()),
                webhooks::secret.eq(&hook.secret),
                webhooks::events.eq(events),
                webhooks::description.eq(hook.fields.description.as_ref().map(ShortText::as_str)),
                webhooks::created_at.eq(to_column(now)),
                webhooks::created_by.eq(&hook.created_by),
            ))
            .execute(c)
            .await)?;
        Ok(hook)
    })
    .await
}

/// Every webhook, oldest first.
#[tracing::instrument(skip(db))]
pub async fn list(db: &Db) -> Result<Vec<Webhook>, StoreError> {
    db.read(async |conn| all(conn).await).await
}

async fn all(conn: &mut Conn) -> Result<Vec<Webhook>, StoreError> {
    let rows: Vec<WebhookRow> = on!(conn, c => webhooks::table
        .order((webhooks::created_at.asc(), webhooks::id.asc()))
        .limit(MAX_WEBHOOKS)
        .select(COLUMNS)
        .load(c)
        .await)?;
    rows.into_iter().map(webhook).collect()
}

#[tracing::instrument(skip(db))]
pub async fn find(db: &Db, id: Uuid) -> Result<Webhook, StoreError> {
    db.read(async move |conn| {
        let row: WebhookRow =
            on!(conn, c => webhooks::table.filter(webhooks::id.eq(id.to_string())).select(COLUMNS).first(c).await)?;
        webhook(row)
    })
    .await
}

/// Deletes a webhook and its delivery log.
#[tracing::instrument(skip(db))]
pub async fn delete(db: &Db, id: Uuid) -> Result<(), StoreError> {
    db.change(async |conn| {
        on!(conn, c => diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(id.to_string())))
            .execute(c)
            .await)?;
        let deleted =
            on!(conn, c => diesel::delete(webhooks::table.filter(webhooks::id.eq(id.to_string()))).execute(c).await)?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    })
    .await
}

/// The event types some webhook subscribes to.
pub(super) async fn subscribed(conn: &mut Conn) -> Result<Vec<WebhookEvent>, StoreError> {
    let mut kinds: Vec<WebhookEvent> = all(conn).await?.into_iter().flat_map(|hook| hook.fields.events).collect();
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

/// Queues a delivery of each of `kinds` to every webhook subscribed to it, inside the caller's
/// transaction; `body` builds the payload of one kind.
pub(super) async fn enqueue(
    conn: &mut Conn,
    kinds: &[WebhookEvent],
    now: DateTime<Utc>,
    body: impl Fn(WebhookEvent) -> Value,
) -> Result<(), StoreError> {
    if kinds.is_empty() {
        return Ok(());
    }
    for hook in all(conn).await? {
        for kind in kinds.iter().filter(|kind| hook.fields.events.contains(kind)) {
            on!(conn, c => diesel::insert_into(webhook_deliveries::table)
                .values((
                    webhook_deliveries::id.eq(Uuid::now_v7().to_string()),
                    webhook_deliveries::webhook_id.eq(hook.id.to_string()),
                    webhook_deliveries::event_type.eq(<&str>::from(*kind)),
                    webhook_deliveries::payload.eq(body(*kind).to_string()),
                    webhook_deliveries::status.eq("pending"),
                    webhook_deliveries::attempts.eq(0),
                    webhook_deliveries::next_attempt_at.eq(to_column(now)),
                    webhook_deliveries::created_at.eq(to_column(now)),
                ))
                .execute(c)
                .await)?;
        }
    }
    Ok(())
}

/// Queues what a recorded change means to subscribers.
pub(super) async fn enqueue_event(conn: &mut Conn, event: &Event) -> Result<(), StoreError> {
    let changes = serde_json::to_value(&event.changes)
        .map_err(|e| StoreError::Query(diesel::result::Error::SerializationError(Box::new(e))))?;
    enqueue(conn, &WebhookEvent::for_event(event), event.occurred_at, |kind| {
        payload(
            event.id,
            kind,
            event.occurred_at,
            event.entity_type,
            &event.entity_id,
            &changes,
            event.resource.as_ref(),
        )
    })
    .await
}

/// Queues `kind` about an action whose state is `resource` (overdue, escalated: decided by the sweep).
pub(super) async fn enqueue_action_notice(
    conn: &mut Conn,
    kind: WebhookEvent,
    action_id: Uuid,
    resource: &Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let id = Uuid::now_v7();
    let changes = Value::Object(serde_json::Map::new());
    enqueue(conn, &[kind], now, |kind| {
        payload(id, kind, now, EntityType::Action, &action_id.to_string(), &changes, Some(resource))
    })
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
/// pending: waiting for its (next) attempt; sending: being sent; delivered: the receiver answered 2xx;
/// failed: given up after the last attempt.
pub enum WebhookDeliveryStatus {
    Pending,
    Sending,
    Delivered,
    Failed,
}

/// One entry of a webhook's delivery log.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub id: Uuid,
    pub event_type: WebhookEvent,
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub(super) struct DeliveryRow {
    id: String,
    event_type: String,
    status: String,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    created_at: NaiveDateTime,
    delivered_at: Option<NaiveDateTime>,
}

impl DeliveryRow {
    fn into_domain(self) -> Result<WebhookDelivery, StoreError> {
        Ok(WebhookDelivery {
            id: parse_id(&self.id)?,
            event_type: parse_enum("webhook event", &self.event_type)?,
            status: parse_enum("webhook delivery status", &self.status)?,
            attempts: self.attempts,
            next_attempt_at: from_column(self.next_attempt_at),
            last_status_code: self.last_status_code,
            last_error: self.last_error,
            created_at: from_column(self.created_at),
            delivered_at: self.delivered_at.map(from_column),
        })
    }
}

/// The newest deliveries of one webhook, newest first, before `before` (an id) if given.
#[tracing::instrument(skip(db))]
pub async fn deliveries(
    db: &Db,
    webhook_id: Uuid,
    page: PageRequest<NewestFirst>,
) -> Result<Page<WebhookDelivery>, StoreError> {
    db.read(async move |conn| {
        let filter = webhook_deliveries::webhook_id.eq(webhook_id.to_string());
        WebhookOutbox::page(conn, Some(filter), page, DeliveryRow::into_domain).await
    })
    .await
}

/// Sends one delivery again, soon, whatever became of it.
#[tracing::instrument(skip(db))]
pub async fn redeliver(db: &Db, webhook_id: Uuid, delivery_id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    db.change(async |conn| {
        let of_this_webhook: i64 = on!(conn, c => webhook_deliveries::table
            .filter(webhook_deliveries::id.eq(delivery_id.to_string()))
            .filter(webhook_deliveries::webhook_id.eq(webhook_id.to_string()))
            .count()
            .get_result(c)
            .await)?;
        if of_this_webhook == 0 {
            return Err(StoreError::NotFound);
        }
        WebhookOutbox::redeliver_in(conn, &delivery_id.to_string(), now).await
    })
    .await
}

/// A claimed delivery: where to send what, signed with which secret.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub secret: String,
    #[diesel(sql_type = Text)]
    pub payload: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// Claims up to `limit` deliveries that are due (or whose sender's lease ran out) until `lease_until`.
#[tracing::instrument(skip(db))]
pub async fn claim(
    db: &Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    db.change(async |conn| {
        let ids = WebhookOutbox::claim_due(conn, now, lease_until, limit).await?;
        // RETURNING follows no order; receivers should see changes in the order they were made.
        let mut ids = ids;
        ids.sort_by(|a, b| a.id.cmp(&b.id));
        let hooks = all(conn).await?;
        Ok(ids
            .into_iter()
            .filter_map(|claimed| {
                let hook = hooks.iter().find(|h| h.id.to_string() == claimed.webhook_id)?;
                Some(Claimed {
                    id: claimed.id,
                    url: hook.fields.url.as_str().to_owned(),
                    secret: hook.secret.clone(),
                    payload: claimed.payload,
                    attempts: claimed.attempts,
                })
            })
            .collect())
    })
    .await
}

#[derive(QueryableByName)]
pub(super) struct ClaimedId {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    webhook_id: String,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}
