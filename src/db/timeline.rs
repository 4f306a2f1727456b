//! Incident timelines.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::common::{check_version, incident_exists, lock_incident, refuse_past_limit};
use super::conn::on;
use super::rows::TimelineRow;
use super::schema::timeline_entries;
use super::{Conn, Db, StoreError, events};
use crate::domain::audit::{ChangeContext, Changes, EntityType, Event, EventKind};
use crate::domain::timeline::{MAX_ENTRIES_PER_INCIDENT, TimelineEntry, TimelineFields, TimelinePatch};

#[tracing::instrument(skip(db, fields, context))]
pub async fn create(
    db: &Db,
    incident_id: Uuid,
    fields: TimelineFields,
    context: ChangeContext,
) -> Result<TimelineEntry, StoreError> {
    db.change(async |conn| {
        lock_incident(conn, incident_id).await?;
        let count: i64 = on!(conn, c => timeline_entries::table
            .filter(timeline_entries::incident_id.eq(incident_id.to_string()))
            .count()
            .get_result(c)
            .await)?;
        refuse_past_limit(count, MAX_ENTRIES_PER_INCIDENT, "timeline entries")?;
        let entry = TimelineEntry {
            id: Uuid::now_v7(),
            incident_id,
            fields: fields.clone(),
            created_at: context.at,
            updated_at: context.at,
            version: 1,
            created_by: context.actor.display_name(),
            updated_by: context.actor.display_name(),
        };
        on!(conn, c => {
            diesel::insert_into(timeline_entries::table).values(TimelineRow::from(&entry)).execute(c).await
        })?;
        let changes = Changes::created(entry.audit_snapshot());
        let event = Event::new(&context, EntityType::TimelineEntry, entry.id, EventKind::Created, changes);
        events::record(conn, &event).await?;
        Ok(entry)
    })
    .await
}

/// The whole timeline of one incident in the order things happened; `NotFound` when there is no such
/// incident.
#[tracing::instrument(skip(db))]
pub async fn for_incident(db: &Db, incident_id: Uuid) -> Result<Vec<TimelineEntry>, StoreError> {
    db.read(async move |conn| {
        if !incident_exists(conn, incident_id).await? {
            return Err(StoreError::NotFound);
        }
        of_incident(conn, incident_id).await
    })
    .await
}

pub(super) async fn of_incident(conn: &mut Conn, incident_id: Uuid) -> Result<Vec<TimelineEntry>, StoreError> {
    let rows: Vec<TimelineRow> = on!(conn, c => timeline_entries::table
        .filter(timeline_entries::incident_id.eq(incident_id.to_string()))
        .order((timeline_entries::occurred_at.asc(), timeline_entries::id.asc()))
        .limit(MAX_ENTRIES_PER_INCIDENT)
        .select(TimelineRow::as_select())
        .load(c)
        .await)?;
    rows.into_iter().map(TimelineEntry::try_from).collect()
}

#[tracing::instrument(skip(db, patch, context))]
pub async fn update(
    db: &Db,
    id: Uuid,
    if_match: Option<Vec<i64>>,
    patch: TimelinePatch,
    context: ChangeContext,
) -> Result<TimelineEntry, StoreError> {
    db.change(async |conn| {
        super::lock_row(conn, "timeline_entries", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, if_match.as_deref())?;
        let fields = current.fields.apply(patch.clone());
        if fields == current.fields {
            return Ok(current);
        }
        let next = TimelineEntry {
            fields,
            updated_at: context.at,
            version: current.version + 1,
            updated_by: context.actor.display_name(),
            ..current.clone()
        };
        let updated = on!(conn, c => diesel::update(timeline_entries::table)
            .filter(timeline_entries::id.eq(id.to_string()))
            .filter(timeline_entries::version.eq(current.version))
            .set(TimelineRow::from(&next))
            .execute(c)
            .await)?;
        if updated == 0 {
            return Err(StoreError::Raced);
        }
        let changes = Changes::between(&current.audit_snapshot(), &next.audit_snapshot());
        events::record(conn, &Event::new(&context, EntityType::TimelineEntry, id, EventKind::Updated, changes)).await?;
        Ok(next)
    })
    .await
}

#[tracing::instrument(skip(db, context))]
pub async fn delete(db: &Db, id: Uuid, if_match: Option<Vec<i64>>, context: ChangeContext) -> Result<(), StoreError> {
    db.change(async |conn| {
        super::lock_row(conn, "timeline_entries", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, if_match.as_deref())?;
        on!(conn, c => {
            diesel::delete(timeline_entries::table.filter(timeline_entries::id.eq(id.to_string()))).execute(c).await
        })?;
        let changes = Changes::deleted(current.audit_snapshot());
        events::record(conn, &Event::new(&context, EntityType::TimelineEntry, id, EventKind::Deleted, changes)).await?;
        Ok(())
    })
    .await
}

async fn load(conn: &mut Conn, id: Uuid) -> Result<TimelineEntry, StoreError> {
    let row: TimelineRow = on!(conn, c => timeline_entries::table
        .filter(timeline_entries::id.eq(id.to_string()))
        .select(TimelineRow::as_select())
        .first(c)
        .await)?;
    TimelineEntry::try_from(row)
}
