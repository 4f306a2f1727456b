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

/// True when the incident exists; used inside write transactions of other resources.
pub(super) async fn incident_exists(conn: &mut Conn, id: Uuid) -> Result<bool, StoreError> {
    let count: i64 =
        on!(conn, c => incidents::table.filter(incidents::id.eq(id.to_string())).count().get_result(c).await)?;
    Ok(count > 0)
}
