//! The audit history: appended in the same transaction as the change it records, never changed after.
//! Each event also gets the next position in the change feed (`seq`), in commit order.

use diesel::prelude::*;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use uuid::Uuid;

use super::conn::on;
use super::rows::{from_column, parse_enum, parse_id, to_column};
use super::schema::events;
use super::{Conn, Db, StoreError};
use crate::domain::audit::{Changes, EntityType, Event};
use crate::domain::listing::{NewestFirst, Page, PageRequest};

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
struct EventRow {
    id: String,
    entity_type: String,
    entity_id: String,
    kind: String,
    actor_sub: String,
    actor_email: Option<String>,
    occurred_at: chrono::NaiveDateTime,
    request_id: Option<String>,
    changes: String,
    reason: Option<String>,
    seq: i64,
}

impl EventRow {
    fn from_domain(event: &Event, seq: i64) -> Result<Self, StoreError> {
        let changes = serde_json::to_string(&event.changes)
            .map_err(|e| StoreError::Query(diesel::result::Error::SerializationError(Box::new(e))))?;
        Ok(Self {
            id: event.id.to_string(),
            entity_type: <&str>::from(event.entity_type).to_owned(),
            entity_id: event.entity_id.clone(),
            kind: <&str>::from(event.kind).to_owned(),
            actor_sub: event.actor_sub.clone(),
            actor_email: event.actor_email.clone(),
            occurred_at: to_column(event.occurred_at),
            request_id: event.request_id.clone(),
            changes,
            reason: event.reason.clone(),
            seq,
        })
    }

    fn into_domain(self) -> Result<Event, StoreError> {
        let changes: Changes = serde_json::from_str(&self.changes)
            .map_err(|e| StoreError::Query(diesel::result::Error::DeserializationError(Box::new(e))))?;
        Ok(Event {
            id: parse_id(&self.id)?,
            entity_type: parse_enum("entity type", &self.entity_type)?,
            entity_id: self.entity_id,
            kind: parse_enum("event kind", &self.kind)?,
            actor_sub: self.actor_sub,
            actor_email: self.actor_email,
            occurred_at: from_column(self.occurred_at),
            request_id: self.request_id,
            changes,
            reason: self.reason,
            resource: None,
        })
    }
}

/// Appends `event`; call inside the write transaction of the change it records.
pub(super) async fn record(conn: &mut Conn, event: &Event) -> Result<(), StoreError> {
    // The feed position must follow commit order. SQLite commits one writer at a time anyway; on
    // PostgreSQL writers take turns on this lock from their first event until they commit, so no
    // transaction can commit a smaller position after a reader has seen a larger one.
    if let Conn::Postgres(pg) = conn {
        pg.batch_execute("SELECT pg_advisory_xact_lock(7401512202)").await?;
    }
    let last: Option<i64> = on!(conn, c => events::table.select(diesel::dsl::max(events::seq)).first(c).await)?;
    let row = EventRow::from_domain(event, last.unwrap_or(0) + 1)?;
    on!(conn, c => diesel::insert_into(events::table).values(&row).execute(c).await)?;
    super::webhooks::enqueue_event(conn, event).await
}

/// The change feed: events after position `after`, oldest first, each with its position.
#[tracing::instrument(skip(db))]
pub async fn feed(db: &Db, after: i64, limit: i64, entity_id: Option<Uuid>) -> Result<Vec<(i64, Event)>, StoreError> {
    db.read(async move |conn| {
        let rows: Vec<EventRow> = on!(conn, c => {
            let mut query = events::table
                .filter(events::seq.gt(after))
                .order(events::seq.asc())
                .limit(limit)
                .select(EventRow::as_select())
                .into_boxed();
            if let Some(id) = entity_id {
                query = query.filter(events::entity_id.eq(id.to_string()));
            }
            query.load(c).await
        })?;
        rows.into_iter().map(|row| Ok((row.seq, row.into_domain()?))).collect()
    })
    .await
}

/// The position of the latest change, or 0: anything read from the database that the audit history
/// covers can only have changed if this moved.
#[tracing::instrument(skip(db))]
pub async fn latest_position(db: &Db) -> Result<i64, StoreError> {
    db.read(async |conn| {
        let last = on!(conn, c => events::table.select(diesel::dsl::max(events::seq)).first::<Option<i64>>(c).await)?;
        Ok(last.unwrap_or(0))
    })
    .await
}

/// The history of one incident or action, newest first.
#[tracing::instrument(skip(db, page))]
pub async fn history(
    db: &Db,
    entity_type: EntityType,
    entity_id: Uuid,
    page: PageRequest<NewestFirst>,
) -> Result<Page<Event>, StoreError> {
    db.read(async move |conn| {
        let rows: Vec<EventRow> = on!(conn, c => {
            let mut query = events::table
                .filter(events::entity_type.eq(<&str>::from(entity_type)))
                .filter(events::entity_id.eq(entity_id.to_string()))
                .select(EventRow::as_select())
                .order(events::id.desc())
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(after) = page.after_id() {
                query = query.filter(events::id.lt(after.to_string()));
            }
            query.load(c).await
        })?;
        let items = rows.into_iter().map(EventRow::into_domain).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit, |last| page.cursor_after_id(last.id)))
    })
    .await
}
