//! The time spent on incidents: its entries (the report and /stats sum them).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::common::{check_version, incident_exists, lock_incident, refuse_past_limit};
use super::conn::on;
use super::rows::EffortRow;
use super::schema::effort_entries;
use super::{Conn, Db, StoreError, events};
use crate::domain::audit::{ChangeContext, Changes, EntityType, Event, EventKind};
use crate::domain::effort::{EffortEntry, EffortFields, EffortPatch, MAX_ENTRIES_PER_INCIDENT};

#[tracing::instrument(skip(db, fields, context))]
pub async fn create(
    db: &Db,
    incident_id: Uuid,
    fields: EffortFields,
    context: ChangeContext,
) -> Result<EffortEntry, StoreError> {
    db.change(async |conn| {
        lock_incident(conn, incident_id).await?;
        let count: i64 = on!(conn, c => effort_entries::table
            .filter(effort_entries::incident_id.eq(incident_id.to_string()))
            .count()
            .get_result(c)
            .await)?;
        refuse_past_limit(count, MAX_ENTRIES_PER_INCIDENT, "effort entries")?;
        let entry = EffortEntry {
            id: Uuid::now_v7(),
            incident_id,
            fields: fields.clone(),
            created_at: context.at,
            updated_at: context.at,
            version: 1,
            created_by: context.actor.display_name(),
            updated_by: context.actor.display_name(),
        };
        on!(conn, c => diesel::insert_into(effort_entries::table).values(EffortRow::from(&entry)).execute(c).await)?;
        let changes = Changes::created(entry.audit_snapshot());
        events::record(conn, &Event::new(&context, EntityType::EffortEntry, entry.id, EventKind::Created, changes))
            .await?;
        Ok(entry)
    })
    .await
}

/// One entry.
#[tracing::instrument(skip(db))]
pub async fn find(db: &Db, id: Uuid) -> Result<EffortEntry, StoreError> {
    db.read(async move |conn| load(conn, id).await).await
}

/// Every entry of one incident in the order recorded; `NotFound` when there is no such incident.
#[tracing::instrument(skip(db))]
pub async fn for_incident(db: &Db, incident_id: Uuid) -> Result<Vec<EffortEntry>, StoreError> {
    db.read(async move |conn| {
        if !incident_exists(conn, incident_id).await? {
            return Err(StoreError::NotFound);
        }
        of_incident(conn, incident_id).await
    })
    .await
}

/// The entries of one incident in the order recorded, inside the caller's transaction (the report's
/// snapshot, an incident's deletion).
pub(super) async fn of_incident(conn: &mut Conn, incident_id: Uuid) -> Result<Vec<EffortEntry>, StoreError> {
    let rows: Vec<EffortRow> = on!(conn, c => effort_entries::table
        .filter(effort_entries::incident_id.eq(incident_id.to_string()))
        .order((effort_entries::created_at.asc(), effort_entries::id.asc()))
        .limit(MAX_ENTRIES_PER_INCIDENT)
        .select(EffortRow::as_select())
        .load(c)
        .await)?;
    rows.into_iter().map(EffortEntry::try_from).collect()
}

#[tracing::instrument(skip(db, patch, context))]
pub async fn update(
    db: &Db,
    id: Uuid,
    if_match: Option<Vec<i64>>,
    patch: EffortPatch,
    context: ChangeContext,
) -> Result<EffortEntry, StoreError> {
    db.change(async |conn| {
        super::lock_row(conn, "effort_entries", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, if_match.as_deref())?;
        let fields = current.fields.apply(patch.clone());
        if fields == current.fields {
            return Ok(current);
        }
        let next = EffortEntry {
            fields,
            updated_at: context.at,
            version: current.version + 1,
            updated_by: context.actor.display_name(),
            ..current.clone()
        };
        let updated = on!(conn, c => diesel::update(effort_entries::table)
            .filter(effort_entries::id.eq(id.to_string()))
            .filter(effort_entries::version.eq(current.version))
            .set(EffortRow::from(&next))
            .execute(c)
            .await)?;
        if updated == 0 {
            return Err(StoreError::Raced);
        }
        let changes = Changes::between(&current.audit_snapshot(), &next.audit_snapshot());
        events::record(conn, &Event::new(&context, EntityType::EffortEntry, id, EventKind::Updated, changes)).await?;
        Ok(next)
    })
    .await
}

#[tracing::instrument(skip(db, context))]
pub async fn delete(db: &Db, id: Uuid, if_match: Option<Vec<i64>>, context: ChangeContext) -> Result<(), StoreError> {
    db.change(async |conn| {
        super::lock_row(conn, "effort_entries", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, if_match.as_deref())?;
        on!(conn, c => {
            diesel::delete(effort_entries::table.filter(effort_entries::id.eq(id.to_string()))).execute(c).await
        })?;
        record_deleted(conn, &current, &context).await
    })
    .await
}

/// Records the `deleted` events of an incident's entries, which its deletion takes with it (ON DELETE
/// CASCADE): their history says where they went.
pub(super) async fn record_deletion_of_incident(
    conn: &mut Conn,
    incident_id: Uuid,
    context: &ChangeContext,
) -> Result<(), StoreError> {
    for entry in of_incident(conn, incident_id).await? {
        record_deleted(conn, &entry, context).await?;
    }
    Ok(())
}

async fn record_deleted(conn: &mut Conn, entry: &EffortEntry, context: &ChangeContext) -> Result<(), StoreError> {
    let changes = Changes::deleted(entry.audit_snapshot());
    events::record(conn, &Event::new(context, EntityType::EffortEntry, entry.id, EventKind::Deleted, changes)).await
}

async fn load(conn: &mut Conn, id: Uuid) -> Result<EffortEntry, StoreError> {
    let row: EffortRow = on!(conn, c => effort_entries::table
        .filter(effort_entries::id.eq(id.to_string()))
        .select(EffortRow::as_select())
        .first(c)
        .await)?;
    EffortEntry::try_from(row)
}
