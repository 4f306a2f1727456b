//! Lessons-learned reviews.

use std::collections::HashSet;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::common::{check_version, incident_exists, lock_incident, refuse_past_limit};
use super::conn::on;
use super::rows::ReviewRow;
use super::schema::reviews;
use super::{Conn, Db, StoreError, events};
use crate::domain::audit::{ChangeContext, Changes, EntityType, Event, EventKind};
use crate::domain::review::{Review, ReviewFields, ReviewPatch, ReviewStatus};

/// Reviews per incident: a follow-up meeting or two is normal; hundreds are a client bug.
pub const MAX_PER_INCIDENT: i64 = 50;

#[tracing::instrument(skip(db, fields, context))]
pub async fn create(
    db: &Db,
    incident_id: Uuid,
    fields: ReviewFields,
    context: ChangeContext,
) -> Result<Review, StoreError> {
    let fields = fields.settle(context.at)?;
    db.change(async |conn| {
        lock_incident(conn, incident_id).await?;
        let count: i64 = on!(conn, c => {
            reviews::table.filter(reviews::incident_id.eq(incident_id.to_string())).count().get_result(c).await
        })?;
        refuse_past_limit(count, MAX_PER_INCIDENT, "reviews")?;
        let review = Review {
            id: Uuid::now_v7(),
            incident_id,
            fields: fields.clone(),
            created_at: context.at,
            updated_at: context.at,
            version: 1,
            created_by: context.actor.display_name(),
            updated_by: context.actor.display_name(),
        };
        on!(conn, c => diesel::insert_into(reviews::table).values(ReviewRow::from(&review)).execute(c).await)?;
        let changes = Changes::created(review.audit_snapshot());
        let event = Event::new(&context, EntityType::Review, review.id, EventKind::Created, changes)
            .with_resource(review.audit_snapshot());
        events::record(conn, &event).await?;
        Ok(review)
    })
    .await
}

#[tracing::instrument(skip(db))]
pub async fn find(db: &Db, id: Uuid) -> Result<Review, StoreError> {
    db.read(async move |conn| load(conn, id).await).await
}

/// The reviews of one incident, oldest first; `NotFound` when there is no such incident.
#[tracing::instrument(skip(db))]
pub async fn for_incident(db: &Db, incident_id: Uuid) -> Result<Vec<Review>, StoreError> {
    db.read(async move |conn| {
        if !incident_exists(conn, incident_id).await? {
            return Err(StoreError::NotFound);
        }
        of_incident(conn, incident_id).await
    })
    .await
}

pub(super) async fn of_incident(conn: &mut Conn, incident_id: Uuid) -> Result<Vec<Review>, StoreError> {
    let rows: Vec<ReviewRow> = on!(conn, c => reviews::table
        .filter(reviews::incident_id.eq(incident_id.to_string()))
        .order((reviews::created_at.asc(), reviews::id.asc()))
        .limit(MAX_PER_INCIDENT)
        .select(ReviewRow::as_select())
        .load(c)
        .await)?;
    rows.into_iter().map(Review::try_from).collect()
}

#[tracing::instrument(skip(db, patch, context))]
pub async fn update(
    db: &Db,
    id: Uuid,
    if_match: Option<Vec<i64>>,
    patch: ReviewPatch,
    context: ChangeContext,
) -> Result<Review, StoreError> {
    db.change(async |conn| {
        super::lock_row(conn, "reviews", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, if_match.as_deref())?;
        let fields = current.fields.apply(patch.clone(), context.at)?;
        if fields == current.fields {
            return Ok(current);
        }
        let next = Review {
            fields,
            updated_at: context.at,
            version: current.version + 1,
            updated_by: context.actor.display_name(),
            ..current.clone()
        };
        let updated = on!(conn, c => diesel::update(reviews::table)
            .filter(reviews::id.eq(id.to_string()))
            .filter(reviews::version.eq(current.version))
            .set(ReviewRow::from(&next))
            .execute(c)
            .await)?;
        if updated == 0 {
            return Err(StoreError::Raced);
        }
        let changes = Changes::between(&current.audit_snapshot(), &next.audit_snapshot());
        let event = Event::new(&context, EntityType::Review, id, EventKind::Updated, changes)
            .with_resource(next.audit_snapshot());
        events::record(conn, &event).await?;
        Ok(next)
    })
    .await
}

/// Which of the given incidents have a held (or completed) review.
pub(super) async fn held_among(conn: &mut Conn, incident_ids: &[String]) -> Result<HashSet<String>, StoreError> {
    let held: Vec<String> = on!(conn, c => reviews::table
        .filter(reviews::incident_id.eq_any(incident_ids))
        .filter(reviews::status.eq_any(ReviewStatus::HELD.iter().map(|s| <&str>::from(*s))))
        .select(reviews::incident_id)
        .distinct()
        .load(c)
        .await)?;
    Ok(held.into_iter().collect())
}

async fn load(conn: &mut Conn, id: Uuid) -> Result<Review, StoreError> {
    let row: ReviewRow = on!(conn, c => {
        reviews::table.filter(reviews::id.eq(id.to_string())).select(ReviewRow::as_select()).first(c).await
    })?;
    Review::try_from(row)
}
