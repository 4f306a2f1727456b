//! Idempotency keys: which POSTs a caller already made, and what they were answered.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;

use super::conn::on;
use super::rows::{from_column, to_column};
use super::schema::idempotency_keys;
use super::{Db, StoreError};

/// How long a key is remembered.
pub const RETENTION_HOURS: i64 = 24;

/// A response to replay.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug)]
pub enum Claim {
    /// The key is new (or expired, or abandoned by a crashed request): run the request.
    Fresh,
    /// The first request with this key finished: answer as it was answered.
    Replay(StoredResponse),
    /// The first request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
    /// The caller already holds as many keys as it may; the oldest expires after `retry_after`.
    TooMany { retry_after: chrono::Duration },
}

type Row = (String, Option<i32>, Option<String>, Option<String>, chrono::NaiveDateTime, chrono::NaiveDateTime);

/// Claims `key` for a request whose method, target and body hash to `hash`, holding it until
/// `lease_until` (after which a request that crashed is given up). A new key is refused while the caller
/// holds `max_keys` unexpired ones.
#[tracing::instrument(skip(db, hash))]
pub async fn claim(
    db: &Db,
    principal: String,
    key: String,
    hash: String,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    max_keys: i64,
) -> Result<Claim, StoreError> {
    db.change(async |conn| {
        let row: Option<Row> = on!(conn, c => idempotency_keys::table
            .filter(idempotency_keys::principal.eq(&principal))
            .filter(idempotency_keys::key.eq(&key))
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::status,
                idempotency_keys::response_headers,
                idempotency_keys::response_body,
                idempotency_keys::created_at,
                idempotency_keys::locked_until,
            ))
            .first(c)
            .await)
        .optional()?;
        let expired =
            |created: chrono::NaiveDateTime| from_column(created) < now - chrono::Duration::hours(RETENTION_HOURS);
        match row {
            None => {
                // The primary key (principal, key) serves this count; purged keys are gone, expired ones
                // not yet purged are left out.
                let retained = idempotency_keys::table
                    .filter(idempotency_keys::principal.eq(&principal))
                    .filter(idempotency_keys::created_at.ge(to_column(now - chrono::Duration::hours(RETENTION_HOURS))));
                let held: i64 = on!(conn, c => retained.count().get_result(c).await)?;
                if held >= max_keys {
                    let oldest: Option<chrono::NaiveDateTime> =
                        on!(conn, c => retained.select(diesel::dsl::min(idempotency_keys::created_at)).first(c).await)?;
                    let expires = oldest.map_or(now, from_column) + chrono::Duration::hours(RETENTION_HOURS);
                    return Ok(Claim::TooMany { retry_after: expires - now });
                }
                on!(conn, c => diesel::insert_into(idempotency_keys::table)
                    .values((
                        idempotency_keys::principal.eq(&principal),
                        idempotency_keys::key.eq(&key),
                        idempotency_keys::request_hash.eq(&hash),
                        idempotency_keys::created_at.eq(to_column(now)),
                        idempotency_keys::locked_until.eq(to_column(lease_until)),
                    ))
                    .execute(c)
                    .await)
                // A concurrent first use inserted it: the retry of this transaction sees its row.
                .map_err(|error| match error {
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => StoreError::Raced,
                    other => other.into(),
                })?;
                Ok(Claim::Fresh)
            }
            // Expired, or abandoned by a request that crashed before answering: start over.
            Some((_, status, _, _, created, locked_until))
                if expired(created) || (status.is_none() && from_column(locked_until) <= now) =>
            {
                // Only if the row is still as read: of two retries taking an abandoned key over at once,
                // the second finds it changed and, run again, sees the first's claim.
                let taken = on!(conn, c => diesel::update(idempotency_keys::table)
                    .filter(idempotency_keys::principal.eq(&principal))
                    .filter(idempotency_keys::key.eq(&key))
                    .filter(idempotency_keys::created_at.eq(created))
                    .filter(idempotency_keys::locked_until.eq(locked_until))
                    .set((
                        idempotency_keys::request_hash.eq(&hash),
                        idempotency_keys::status.eq(None::<i32>),
                        idempotency_keys::response_headers.eq(None::<String>),
                        idempotency_keys::response_body.eq(None::<String>),
                        idempotency_keys::created_at.eq(to_column(now)),
                        idempotency_keys::locked_until.eq(to_column(lease_until)),
                    ))
                    .execute(c)
                    .await)?;
                if taken == 0 {
                    return Err(StoreError::Raced);
                }
                Ok(Claim::Fresh)
            }
            Some((stored_hash, _, _, _, _, _)) if stored_hash != hash => Ok(Claim::Mismatch),
            Some((_, Some(status), headers, body, _, _)) => {
                let headers = headers.and_then(|h| serde_json::from_str(&h).ok()).unwrap_or_default();
                let status = u16::try_from(status).unwrap_or(500);
                Ok(Claim::Replay(StoredResponse { status, headers, body: body.unwrap_or_default() }))
            }
            Some(_) => Ok(Claim::InProgress),
        }
    })
    .await
}

/// Stores the answer to the request that claimed `key`.
#[tracing::instrument(skip(db, response))]
pub async fn complete(db: &Db, principal: String, key: String, response: StoredResponse) -> Result<(), StoreError> {
    let headers = serde_json::to_string(&response.headers)
        .map_err(|e| StoreError::Query(DieselError::SerializationError(Box::new(e))))?;
    db.change(async |conn| {
        on!(conn, c => diesel::update(idempotency_keys::table)
            .filter(idempotency_keys::principal.eq(&principal))
            .filter(idempotency_keys::key.eq(&key))
            .set((
                idempotency_keys::status.eq(Some(i32::from(response.status))),
                idempotency_keys::response_headers.eq(Some(&headers)),
                idempotency_keys::response_body.eq(Some(&response.body)),
            ))
            .execute(c)
            .await)?;
        Ok(())
    })
    .await
}

/// Forgets `key`, so a retry runs the request again (after a server error).
#[tracing::instrument(skip(db))]
pub async fn release(db: &Db, principal: String, key: String) -> Result<(), StoreError> {
    db.change(async |conn| {
        on!(conn, c => diesel::delete(
            idempotency_keys::table
                .filter(idempotency_keys::principal.eq(&principal))
                .filter(idempotency_keys::key.eq(&key)),
        )
        .execute(c)
        .await)?;
        Ok(())
    })
    .await
}

/// Deletes keys older than the retention period.
#[tracing::instrument(skip(db))]
pub async fn purge(db: &Db, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let before = to_column(now - chrono::Duration::hours(RETENTION_HOURS));
    db.change(async |conn| {
        Ok(on!(conn, c => {
            diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before))).execute(c).await
        })?)
    })
    .await
}
