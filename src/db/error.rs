//! What a database call answers when it does not produce its result, in the terms the API answers in.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::domain::FieldErrors;

/// Why a database call did not produce its result, in the terms the API answers in.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The incident an action should belong to does not exist.
    #[error("no such incident")]
    UnknownIncident,
    /// The client's `If-Match` named a version that is no longer current.
    #[error("the resource changed since the given version")]
    VersionMismatch,
    /// A rule about other rows refused the change; the text is safe to show to the client.
    #[error("{0}")]
    Conflict(String),
    /// The caller may not make this change (the action is no longer theirs).
    #[error("{0}")]
    Forbidden(String),
    /// The merged result of a partial update broke a domain rule.
    #[error("invalid change: {0}")]
    Invalid(FieldErrors),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(DieselError),
    /// Another writer changed the row between our read and our write; the caller retries.
    #[error("concurrent update")]
    Raced,
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::Unavailable(info.message().to_owned()),
            // Another transaction removed a row this one refers to, or PostgreSQL picked this one to
            // break a deadlock or a serialization conflict: run again, it sees the other's outcome.
            // (diesel does not name deadlocks, 40P01; its message is the server's, English by default.)
            DieselError::DatabaseError(
                DatabaseErrorKind::ForeignKeyViolation | DatabaseErrorKind::SerializationFailure,
                _,
            ) => StoreError::Raced,
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().starts_with("deadlock detected") =>
            {
                StoreError::Raced
            }
            other => StoreError::Query(other),
        }
    }
}

impl From<FieldErrors> for StoreError {
    fn from(errors: FieldErrors) -> Self {
        StoreError::Invalid(errors)
    }
}
