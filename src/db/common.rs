//! Helpers every resource's queries share: the version check of a conditional write, the refusal of a
//! cursor from another sort, case-folding in SQL, and whether an incident exists. They live apart from
//! any one resource so that resources need not import each other for them.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::conn::on;
use super::schema::incidents;
use super::{Conn, StoreError};
use crate::domain::{FieldError, FieldErrors};

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Refuses a write whose `If-Match` names none of the current version.
pub(super) fn check_version(current: i64, if_match: Option<&[i64]>) -> Result<(), StoreError> {
    match if_match {
        Some(versions) if !versions.contains(&current) => Err(StoreError::VersionMismatch),
        _ => Ok(()),
    }
}

pub(super) fn bad_cursor() -> FieldErrors {
    FieldError::new("cursor", "does not fit this sort").into()
}

/// Before a row is added under an incident: `NotFound` without the incident; otherwise its row is
/// locked until the caller's transaction ends, so concurrent additions take turns and none counts past
/// the others to a limit (or past a uniqueness check).
pub(super) async fn lock_incident(conn: &mut Conn, id: Uuid) -> Result<(), StoreError> {
    if !incident_exists(conn, id).await? {
        return Err(StoreError::NotFound);
    }
    super::lock_row(conn, "incidents", "id", &id.to_string()).await
}

/// `Conflict` once an incident already holds `limit` of something (`count`, counted after
/// `lock_incident`).
pub(super) fn refuse_past_limit(count: i64, limit: i64, what: &str) -> Result<(), StoreError> {
    if count >= limit {
        return Err(StoreError::Conflict(format!("an incident holds at most {limit} {what}")));
    }
    Ok(())
}

/// True when the incident exists; used inside write transactions of other resources.
pub(super) async fn incident_exists(conn: &mut Conn, id: Uuid) -> Result<bool, StoreError> {
    let count: i64 =
        on!(conn, c => incidents::table.filter(incidents::id.eq(id.to_string())).count().get_result(c).await)?;
    Ok(count > 0)
}
