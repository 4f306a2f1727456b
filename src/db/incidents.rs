//! Incident storage.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::common::{bad_cursor, check_version, lower};
use super::conn::on;
use super::keyset::keyset;
use super::rows::{IncidentRow, to_column};
use super::schema::{actions, incidents};
use super::{Conn, Db, StoreError, events};
use crate::domain::audit::{ChangeContext, Changes, EntityType, Event, EventKind};
use crate::domain::incident::{Incident, IncidentFields, IncidentPatch, IncidentRecords};
use crate::domain::listing::{CursorKey, IncidentFilter, IncidentSort, Page, PageRequest, contains_pattern};

/// Stores a new incident and its `created` event.
#[tracing::instrument(skip_all)]
pub async fn create(db: &Db, fields: IncidentFields, context: ChangeContext) -> Result<Incident, StoreError> {
    let fields = fields.settle_new(context.at)?;
    let incident = Incident {
        id: Uuid::now_v7(),
        fields,
        created_at: context.at,
        updated_at: context.at,
        version: 1,
        created_by: context.actor.display_name(),
        updated_by: context.actor.display_name(),
        review_held: false,
    };
    db.change(async |conn| {
        on!(conn, c => diesel::insert_into(incidents::table).values(IncidentRow::from(&incident)).execute(c).await)
            .map_err(reference_taken)?;
        let changes = Changes::created(incident.audit_snapshot());
        let event = Event::new(&context, EntityType::Incident, incident.id, EventKind::Created, changes)
            .with_resource(incident.audit_snapshot());
        events::record(conn, &event).await?;
        Ok(incident.clone())
    })
    .await
}

#[tracing::instrument(skip(db))]
pub async fn find(db: &Db, id: Uuid) -> Result<Incident, StoreError> {
    db.read(async move |conn| load(conn, id).await).await
}

/// Applies `patch` if the incident is at one of `if_match` versions (any version when `None`), with an
/// `updated` event holding each changed field. A patch that changes nothing writes nothing.
#[tracing::instrument(skip(db, patch, context))]
pub async fn update(
    db: &Db,
    id: Uuid,
    if_match: Option<Vec<i64>>,
    patch: IncidentPatch,
    context: ChangeContext,
) -> Result<Incident, StoreError> {
    db.change(async |conn| {
        super::lock_row(conn, "incidents", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, if_match.as_deref())?;
        let fields = current.fields.apply(patch.clone(), context.at)?;
        if fields == current.fields {
            return Ok(current);
        }
        let next = Incident {
            fields,
            updated_at: context.at,
            version: current.version + 1,
            updated_by: context.actor.display_name(),
            ..current.clone()
        };
        let updated = on!(conn, c => diesel::update(incidents::table)
            .filter(incidents::id.eq(id.to_string()))
            .filter(incidents::version.eq(current.version))
            .set(IncidentRow::from(&next))
            .execute(c)
            .await)
        .map_err(reference_taken)?;
        if updated == 0 {
            return Err(StoreError::Raced);
        }
        let changes = Changes::between(&current.audit_snapshot(), &next.audit_snapshot());
        let event = Event::new(&context, EntityType::Incident, id, EventKind::Updated, changes)
            .with_resource(next.audit_snapshot());
        events::record(conn, &event).await?;
        Ok(next)
    })
    .await
}

/// Deletes an incident that has no corrective actions: actions are never lost by accident.
#[tracing::instrument(skip(db, context))]
pub async fn delete(db: &Db, id: Uuid, if_match: Option<Vec<i64>>, context: ChangeContext) -> Result<(), StoreError> {
    db.change(async |conn| {
        super::lock_row(conn, "incidents", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, if_match.as_deref())?;
        let action_count: i64 = on!(conn, c => {
            actions::table.filter(actions::incident_id.eq(id.to_string())).count().get_result(c).await
        })?;
        if action_count > 0 {
            return Err(StoreError::Conflict(format!(
                "the incident still has {action_count} corrective action(s); delete or move them first"
            )));
        }
        // Its reviews, timeline entries, indicators, evidence (with its chains of custody) and effort entries
        // go with it (ON DELETE CASCADE). Each gets its own `deleted` event, as when deleted one by one, so their
        // history says where they went.
        for review in super::reviews::of_incident(conn, id).await? {
            let changes = Changes::deleted(review.audit_snapshot());
            let event = Event::new(&context, EntityType::Review, review.id, EventKind::Deleted, changes);
            events::record(conn, &event).await?;
        }
        for entry in super::timeline::of_incident(conn, id).await? {
            let changes = Changes::deleted(entry.audit_snapshot());
            let event = Event::new(&context, EntityType::TimelineEntry, entry.id, EventKind::Deleted, changes);
            events::record(conn, &event).await?;
        }
        for indicator in super::indicators::of_incident(conn, id, true).await? {
            let changes = Changes::deleted(indicator.audit_snapshot());
            let event = Event::new(&context, EntityType::Indicator, indicator.id, EventKind::Deleted, changes);
            events::record(conn, &event).await?;
        }
        super::evidence::record_deletion_of_incident(conn, id, &context).await?;
        super::effort::record_deletion_of_incident(conn, id, &context).await?;
        on!(conn, c => diesel::delete(incidents::table.filter(incidents::id.eq(id.to_string()))).execute(c).await)?;
        let changes = Changes::deleted(current.audit_snapshot());
        events::record(conn, &Event::new(&context, EntityType::Incident, id, EventKind::Deleted, changes)).await?;
        Ok(())
    })
    .await
}

#[tracing::instrument(skip_all)]
pub async fn list(
    db: &Db,
    filter: IncidentFilter,
    page: PageRequest<IncidentSort>,
) -> Result<Page<Incident>, StoreError> {
    db.read(async move |conn| {
        let after_time = match &page.after {
            Some(cursor) => match cursor.key {
                CursorKey::Time(time) => Some((to_column(time), cursor.id.to_string())),
                _ => return Err(StoreError::Invalid(bad_cursor())),
            },
            None => None,
        };
        let rows: Vec<IncidentRow> = on!(conn, c => {
            let mut query = incidents::table.select(IncidentRow::as_select()).into_boxed();
            if !filter.statuses.is_empty() {
                query = query.filter(incidents::status.eq_any(filter.statuses.iter().map(|s| <&str>::from(*s))));
            }
            if !filter.severities.is_empty() {
                query = query.filter(incidents::severity.eq_any(filter.severities.iter().map(|s| <&str>::from(*s))));
            }
            if let Some(needle) = &filter.title_contains {
                query = query.filter(lower(incidents::title).like(contains_pattern(needle)).escape('\\'));
            }
            let query = match page.sort {
                IncidentSort::CreatedAt => keyset!(query, incidents.created_at: Timestamp, asc, after_time),
                IncidentSort::CreatedAtDesc => keyset!(query, incidents.created_at: Timestamp, desc, after_time),
                IncidentSort::UpdatedAt => keyset!(query, incidents.updated_at: Timestamp, asc, after_time),
                IncidentSort::UpdatedAtDesc => keyset!(query, incidents.updated_at: Timestamp, desc, after_time),
            };
            query.limit(page.limit + 1).load(c).await
        })?;
        let items = with_reviews(conn, rows).await?;
        Ok(Page::from_overfetch(items, page.limit, |last| {
            let (key, id) = page.sort.position_of(last);
            page.cursor_at(key, id)
        }))
    })
    .await
}

pub(super) async fn load(conn: &mut Conn, id: Uuid) -> Result<Incident, StoreError> {
    let row: IncidentRow = on!(conn, c => {
        incidents::table.filter(incidents::id.eq(id.to_string())).select(IncidentRow::as_select()).first(c).await
    })?;
    with_reviews(conn, vec![row]).await?.pop().ok_or(StoreError::NotFound)
}

/// Turns rows into incidents, with whether each had its review held, in one query.
async fn with_reviews(conn: &mut Conn, rows: Vec<IncidentRow>) -> Result<Vec<Incident>, StoreError> {
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let held = super::reviews::held_among(conn, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let review_held = held.contains(&row.id);
            Incident::try_from(row).map(|incident| Incident { review_held, ..incident })
        })
        .collect()
}

fn reference_taken(error: DieselError) -> StoreError {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            StoreError::Conflict("another incident already has this reference".into())
        }
        other => other.into(),
    }
}

/// An incident and its indicators (TLP:RED ones only `with_red`), read together: what a STIX export shares.
#[tracing::instrument(skip(db))]
pub async fn with_indicators(
    db: &Db,
    id: Uuid,
    with_red: bool,
) -> Result<(Incident, Vec<crate::domain::indicator::Indicator>), StoreError> {
    db.snapshot(async move |conn| {
        let incident = load(conn, id).await?;
        Ok((incident, super::indicators::of_incident(conn, id, with_red).await?))
    })
    .await
}

/// Everything the final report of an incident draws on, read in one transaction so it is consistent;
/// TLP:RED indicators only `with_red`.
#[tracing::instrument(skip(db))]
pub async fn report_records(db: &Db, id: Uuid, with_red: bool) -> Result<IncidentRecords, StoreError> {
    db.snapshot(async move |conn| {
        let incident = load(conn, id).await?;
        let timeline = super::timeline::of_incident(conn, id).await?;
        let reviews = super::reviews::of_incident(conn, id).await?;
        let actions = super::actions::of_incident(conn, id).await?;
        let indicators = super::indicators::of_incident(conn, id, with_red).await?;
        let evidence = super::evidence::of_incident(conn, id).await?;
        let effort = super::effort::of_incident(conn, id).await?;
        Ok(IncidentRecords {
            incident,
            timeline,
            reviews,
            actions,
            indicators,
            indicators_with_red: with_red,
            evidence,
            effort,
        })
    })
    .await
}
