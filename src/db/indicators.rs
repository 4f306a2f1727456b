//! Indicators of compromise of an incident, and the search across incidents for one value.
//!
//! Who may see a TLP:RED indicator is decided by the caller, which passes `with_red`: every read here
//! leaves them out unless told otherwise, so forgetting the flag hides rather than leaks.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::common::{check_version, incident_exists, lock_incident, refuse_past_limit};
use super::conn::on;
use super::rows::IndicatorRow;
use super::schema::{incidents, indicators};
use super::{Conn, Db, StoreError, events};
use crate::domain::audit::{ChangeContext, Changes, EntityType, Event, EventKind, FieldChange};
use crate::domain::indicator::{Indicator, IndicatorFields, IndicatorPatch, IndicatorValue, MAX_PER_INCIDENT};
use crate::domain::listing::{NewestFirst, Page, PageRequest};

const RED: &str = "red";

/// An indicator found by a search, with the incident that saw it.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub indicator: Indicator,
    pub incident_reference: Option<String>,
    pub incident_title: String,
}

#[tracing::instrument(skip(db, fields, context))]
pub async fn create(
    db: &Db,
    incident_id: Uuid,
    fields: IndicatorFields,
    context: ChangeContext,
) -> Result<Indicator, StoreError> {
    db.change(async |conn| {
        lock_incident(conn, incident_id).await?;
        let count: i64 = on!(conn, c => indicators::table
            .filter(indicators::incident_id.eq(incident_id.to_string()))
            .count()
            .get_result(c)
            .await)?;
        refuse_past_limit(count, MAX_PER_INCIDENT, "indicators")?;
        refuse_duplicate(conn, incident_id, &fields.value, None).await?;
        let indicator = Indicator {
            id: Uuid::now_v7(),
            incident_id,
            fields: fields.clone(),
            created_at: context.at,
            updated_at: context.at,
            version: 1,
            created_by: context.actor.display_name(),
            updated_by: context.actor.display_name(),
        };
        on!(conn, c => diesel::insert_into(indicators::table).values(IndicatorRow::from(&indicator)).execute(c).await)?;
        let changes = Changes::created(indicator.audit_snapshot());
        events::record(conn, &Event::new(&context, EntityType::Indicator, indicator.id, EventKind::Created, changes))
            .await?;
        Ok(indicator)
    })
    .await
}

/// One value once per incident: the conflict names the indicator that already holds it.
async fn refuse_duplicate(
    conn: &mut Conn,
    incident_id: Uuid,
    value: &IndicatorValue,
    except: Option<Uuid>,
) -> Result<(), StoreError> {
    let existing: Option<String> = on!(conn, c => indicators::table
        .filter(indicators::incident_id.eq(incident_id.to_string()))
        .filter(indicators::value.eq(value.as_str()))
        .select(indicators::id)
        .first(c)
        .await
        .optional())?;
    match existing {
        Some(id) if Some(id.as_str()) != except.map(|e| e.to_string()).as_deref() => {
            Err(StoreError::Conflict(format!("the incident already has the indicator {:?} ({id})", value.as_str())))
        }
        _ => Ok(()),
    }
}

/// One indicator; `NotFound` for a TLP:RED one unless `with_red`.
#[tracing::instrument(skip(db))]
pub async fn find(db: &Db, id: Uuid, with_red: bool) -> Result<Indicator, StoreError> {
    db.read(async move |conn| {
        let indicator = load(conn, id).await?;
        if indicator.is_red() && !with_red {
            return Err(StoreError::NotFound);
        }
        Ok(indicator)
    })
    .await
}

/// The indicators of one incident in order of value; `NotFound` when there is no such incident.
#[tracing::instrument(skip(db))]
pub async fn for_incident(db: &Db, incident_id: Uuid, with_red: bool) -> Result<Vec<Indicator>, StoreError> {
    db.read(async move |conn| {
        if !incident_exists(conn, incident_id).await? {
            return Err(StoreError::NotFound);
        }
        of_incident(conn, incident_id, with_red).await
    })
    .await
}

pub(super) async fn of_incident(
    conn: &mut Conn,
    incident_id: Uuid,
    with_red: bool,
) -> Result<Vec<Indicator>, StoreError> {
    let rows: Vec<IndicatorRow> = on!(conn, c => {
        let mut query = indicators::table
            .filter(indicators::incident_id.eq(incident_id.to_string()))
            .order(indicators::value.asc())
            .limit(MAX_PER_INCIDENT)
            .select(IndicatorRow::as_select())
            .into_boxed();
        if !with_red {
            query = query.filter(indicators::tlp.ne(RED));
        }
        query.load(c).await
    })?;
    rows.into_iter().map(Indicator::try_from).collect()
}

/// Every incident's indicator with exactly this value, newest first.
#[tracing::instrument(skip(db, page))]
pub async fn search(
    db: &Db,
    value: &IndicatorValue,
    with_red: bool,
    page: PageRequest<NewestFirst>,
) -> Result<Page<Sighting>, StoreError> {
    let value = value.as_str().to_owned();
    db.read(async move |conn| {
        let rows: Vec<(IndicatorRow, Option<String>, String)> = on!(conn, c => {
            let mut query = indicators::table
                .inner_join(incidents::table)
                .filter(indicators::value.eq(&value))
                .order(indicators::id.desc())
                .limit(page.limit + 1)
                .select((IndicatorRow::as_select(), incidents::reference, incidents::title))
                .into_boxed();
            if let Some(after) = page.after_id() {
                query = query.filter(indicators::id.lt(after.to_string()));
            }
            if !with_red {
                query = query.filter(indicators::tlp.ne(RED));
            }
            query.load(c).await
        })?;
        let items = rows
            .into_iter()
            .map(|(row, incident_reference, incident_title)| {
                Ok(Sighting { indicator: Indicator::try_from(row)?, incident_reference, incident_title })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::from_overfetch(items, page.limit, |last| page.cursor_after_id(last.indicator.id)))
    })
    .await
}

/// Changes an indicator (editors, who see TLP:RED too).
#[tracing::instrument(skip(db, patch, context))]
pub async fn update(
    db: &Db,
    id: Uuid,
    if_match: Option<Vec<i64>>,
    patch: IndicatorPatch,
    context: ChangeContext,
) -> Result<Indicator, StoreError> {
    db.change(async |conn| {
        super::lock_row(conn, "indicators", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, if_match.as_deref())?;
        let fields = current.fields.apply(patch.clone())?;
        if fields == current.fields {
            return Ok(current);
        }
        if fields.value != current.fields.value {
            super::lock_row(conn, "incidents", "id", &current.incident_id.to_string()).await?;
            refuse_duplicate(conn, current.incident_id, &fields.value, Some(id)).await?;
        }
        let next = Indicator {
            fields,
            updated_at: context.at,
            version: current.version + 1,
            updated_by: context.actor.display_name(),
            ..current.clone()
        };
        let updated = on!(conn, c => diesel::update(indicators::table)
            .filter(indicators::id.eq(id.to_string()))
            .filter(indicators::version.eq(current.version))
            .set(IndicatorRow::from(&next))
            .execute(c)
            .await)?;
        if updated == 0 {
            return Err(StoreError::Raced);
        }
        let changes = marked(Changes::between(&current.audit_snapshot(), &next.audit_snapshot()), &current);
        events::record(conn, &Event::new(&context, EntityType::Indicator, id, EventKind::Updated, changes)).await?;
        Ok(next)
    })
    .await
}

#[tracing::instrument(skip(db, context))]
pub async fn delete(db: &Db, id: Uuid, if_match: Option<Vec<i64>>, context: ChangeContext) -> Result<(), StoreError> {
    db.change(async |conn| {
        super::lock_row(conn, "indicators", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, if_match.as_deref())?;
        on!(conn, c => diesel::delete(indicators::table.filter(indicators::id.eq(id.to_string()))).execute(c).await)?;
        let changes = Changes::deleted(current.audit_snapshot());
        events::record(conn, &Event::new(&context, EntityType::Indicator, id, EventKind::Deleted, changes)).await?;
        Ok(())
    })
    .await
}

/// Every event about an indicator states its marking, changed or not, so that a reader of the history
/// can leave out what was red without looking anything up.
fn marked(mut changes: Changes, before: &Indicator) -> Changes {
    let tlp = serde_json::json!(<&str>::from(before.fields.tlp));
    changes.0.entry("tlp".to_owned()).or_insert_with(|| FieldChange { old: tlp.clone(), new: tlp });
    changes
}

async fn load(conn: &mut Conn, id: Uuid) -> Result<Indicator, StoreError> {
    let row: IndicatorRow = on!(conn, c => indicators::table
        .filter(indicators::id.eq(id.to_string()))
        .select(IndicatorRow::as_select())
        .first(c)
        .await)?;
    Indicator::try_from(row)
}
