//! Evidence of incidents and its chains of custody. Custody entries are only ever inserted here; the
//! database refuses to change or delete one (a trigger), so a bug here cannot rewrite a log either.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::common::{check_version, incident_exists, lock_incident, refuse_past_limit};
use super::conn::on;
use super::rows::{CustodyRow, EvidenceRow};
use super::schema::{custody_entries, evidence};
use super::{Conn, Db, StoreError, events};
use crate::domain::FieldError;
use crate::domain::audit::{ChangeContext, Changes, EntityType, Event, EventKind};
use crate::domain::evidence::{
    CustodyEntry, Evidence, EvidenceFields, EvidencePatch, MAX_CUSTODY_ENTRIES, MAX_EVIDENCE_PER_INCIDENT, Transfer,
};

/// Stores a new item with the first entry of its chain of custody: the collection.
#[tracing::instrument(skip(db, fields, context))]
pub async fn create(
    db: &Db,
    incident_id: Uuid,
    fields: EvidenceFields,
    context: ChangeContext,
) -> Result<Evidence, StoreError> {
    db.change(async |conn| {
        lock_incident(conn, incident_id).await?;
        let count: i64 = on!(conn, c => evidence::table
            .filter(evidence::incident_id.eq(incident_id.to_string()))
            .count()
            .get_result(c)
            .await)?;
        refuse_past_limit(count, MAX_EVIDENCE_PER_INCIDENT, "items of evidence")?;
        let mut item = Evidence {
            id: Uuid::now_v7(),
            incident_id,
            fields: fields.clone(),
            custody: Vec::new(),
            created_at: context.at,
            updated_at: context.at,
            version: 1,
            created_by: context.actor.display_name(),
            updated_by: context.actor.display_name(),
        };
        on!(conn, c => diesel::insert_into(evidence::table).values(EvidenceRow::from(&item)).execute(c).await)?;
        let changes = Changes::created(item.audit_snapshot());
        let event = Event::new(&context, EntityType::Evidence, item.id, EventKind::Created, changes);
        events::record(conn, &event).await?;
        let collection = record_transfer(conn, &item, fields.collection(), &context).await?;
        item.custody.push(collection);
        Ok(item)
    })
    .await
}

/// Every item of one incident in the order it was collected, each with its chain of custody;
/// `NotFound` when there is no such incident.
#[tracing::instrument(skip(db))]
pub async fn for_incident(db: &Db, incident_id: Uuid) -> Result<Vec<Evidence>, StoreError> {
    db.snapshot(async move |conn| {
        if !incident_exists(conn, incident_id).await? {
            return Err(StoreError::NotFound);
        }
        of_incident(conn, incident_id).await
    })
    .await
}

/// The items of one incident with their chains of custody, inside the caller's transaction (the
/// report's snapshot, an incident's deletion).
pub(super) async fn of_incident(conn: &mut Conn, incident_id: Uuid) -> Result<Vec<Evidence>, StoreError> {
    let rows: Vec<EvidenceRow> = on!(conn, c => evidence::table
        .filter(evidence::incident_id.eq(incident_id.to_string()))
        .order((evidence::collected_at.asc(), evidence::id.asc()))
        .limit(MAX_EVIDENCE_PER_INCIDENT)
        .select(EvidenceRow::as_select())
        .load(c)
        .await)?;
    with_custody(conn, rows).await
}

#[tracing::instrument(skip(db))]
pub async fn find(db: &Db, id: Uuid) -> Result<Evidence, StoreError> {
    db.snapshot(async move |conn| load(conn, id).await).await
}

/// Corrects an item. A corrected collector or collection time is also recorded in the chain of
/// custody, as a new entry: the log keeps what it said before.
#[tracing::instrument(skip(db, patch, context))]
pub async fn update(
    db: &Db,
    id: Uuid,
    if_match: Option<Vec<i64>>,
    patch: EvidencePatch,
    context: ChangeContext,
) -> Result<Evidence, StoreError> {
    db.change(async |conn| {
        super::lock_row(conn, "evidence", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, if_match.as_deref())?;
        let fields = current.fields.apply(patch.clone());
        if fields == current.fields {
            return Ok(current);
        }
        let recollected = !fields.same_collection(&current.fields);
        if recollected && current.first_hand_over().is_some_and(|first| fields.collected_at > first) {
            return Err(StoreError::Invalid(
                FieldError::new("collected_at", "must not be after the item's first hand-over in its chain of custody")
                    .into(),
            ));
        }
        if recollected {
            check_room(&current)?;
        }
        let mut next = Evidence {
            fields,
            updated_at: context.at,
            version: current.version + 1,
            updated_by: context.actor.display_name(),
            ..current.clone()
        };
        let updated = on!(conn, c => diesel::update(evidence::table)
            .filter(evidence::id.eq(id.to_string()))
            .filter(evidence::version.eq(current.version))
            .set(EvidenceRow::from(&next))
            .execute(c)
            .await)?;
        if updated == 0 {
            return Err(StoreError::Raced);
        }
        let changes = Changes::between(&current.audit_snapshot(), &next.audit_snapshot());
        events::record(conn, &Event::new(&context, EntityType::Evidence, id, EventKind::Updated, changes)).await?;
        if recollected {
            let correction = record_transfer(conn, &next, next.fields.collection_correction(), &context).await?;
            next.custody = in_order(next.custody, correction);
        }
        Ok(next)
    })
    .await
}

/// Appends a hand-over to an item's chain of custody.
#[tracing::instrument(skip(db, transfer, context))]
pub async fn add_custody(
    db: &Db,
    id: Uuid,
    transfer: Transfer,
    context: ChangeContext,
) -> Result<Evidence, StoreError> {
    db.change(async |conn| {
        // Hand-overs of one item take turns, so none counts past the others to the limit.
        super::lock_row(conn, "evidence", "id", &id.to_string()).await?;
        let mut item = load(conn, id).await?;
        item.check_transfer("at", &transfer).map_err(|e| StoreError::Invalid(e.into()))?;
        check_room(&item)?;
        let entry = record_transfer(conn, &item, transfer.clone(), &context).await?;
        item.custody = in_order(item.custody, entry);
        Ok(item)
    })
    .await
}

fn check_room(item: &Evidence) -> Result<(), StoreError> {
    if item.custody.len() as i64 >= MAX_CUSTODY_ENTRIES {
        return Err(StoreError::Conflict(format!(
            "an item's chain of custody holds at most {MAX_CUSTODY_ENTRIES} entries"
        )));
    }
    Ok(())
}

/// The log with `entry` where its time puts it: a hand-over may be recorded after later ones.
fn in_order(mut custody: Vec<CustodyEntry>, entry: CustodyEntry) -> Vec<CustodyEntry> {
    custody.push(entry);
    custody.sort_by_key(|e| (e.transfer.at, e.id));
    custody
}

/// Inserts one custody entry with its `created` event.
async fn record_transfer(
    conn: &mut Conn,
    item: &Evidence,
    transfer: Transfer,
    context: &ChangeContext,
) -> Result<CustodyEntry, StoreError> {
    let entry = CustodyEntry {
        id: Uuid::now_v7(),
        evidence_id: item.id,
        transfer,
        recorded_at: context.at,
        recorded_by: context.actor.display_name(),
    };
    on!(conn, c => diesel::insert_into(custody_entries::table).values(CustodyRow::from(&entry)).execute(c).await)?;
    let changes = Changes::created(entry.audit_snapshot());
    events::record(conn, &Event::new(context, EntityType::CustodyEntry, entry.id, EventKind::Created, changes)).await?;
    Ok(entry)
}

/// Records the `deleted` events of an incident's evidence and custody entries, which its deletion takes
/// with it (ON DELETE CASCADE): their history says where they went.
pub(super) async fn record_deletion_of_incident(
    conn: &mut Conn,
    incident_id: Uuid,
    context: &ChangeContext,
) -> Result<(), StoreError> {
    for item in of_incident(conn, incident_id).await? {
        for entry in &item.custody {
            let changes = Changes::deleted(entry.audit_snapshot());
            let event = Event::new(context, EntityType::CustodyEntry, entry.id, EventKind::Deleted, changes);
            events::record(conn, &event).await?;
        }
        let changes = Changes::deleted(item.audit_snapshot());
        events::record(conn, &Event::new(context, EntityType::Evidence, item.id, EventKind::Deleted, changes)).await?;
    }
    Ok(())
}

async fn load(conn: &mut Conn, id: Uuid) -> Result<Evidence, StoreError> {
    let row: EvidenceRow = on!(conn, c => evidence::table
        .filter(evidence::id.eq(id.to_string()))
        .select(EvidenceRow::as_select())
        .first(c)
        .await)?;
    with_custody(conn, vec![row]).await?.pop().ok_or(StoreError::NotFound)
}

/// The items with their chains of custody, read in one query.
async fn with_custody(conn: &mut Conn, rows: Vec<EvidenceRow>) -> Result<Vec<Evidence>, StoreError> {
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let entries: Vec<CustodyRow> = on!(conn, c => custody_entries::table
        .filter(custody_entries::evidence_id.eq_any(&ids))
        .order((custody_entries::evidence_id.asc(), custody_entries::transferred_at.asc(), custody_entries::id.asc()))
        .select(CustodyRow::as_select())
        .load(c)
        .await)?;
    let mut logs: HashMap<String, Vec<CustodyEntry>> = HashMap::new();
    for row in entries {
        let key = row.evidence_id.clone();
        logs.entry(key).or_default().push(CustodyEntry::try_from(row)?);
    }
    rows.into_iter()
        .map(|row| {
            let custody = logs.remove(&row.id).unwrap_or_default();
            row.into_evidence(custody)
        })
        .collect()
}
