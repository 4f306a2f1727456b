//! One outbox engine, instantiated for the e-mail outbox (`deliveries`) and the webhook outbox
//! (`webhook_deliveries`) with [`outbox!`]: claim, release, record an attempt, redeliver and list are
//! written once here, and each table's module keeps only what is its own (its rows, the daily cap of
//! e-mails, the webhooks a delivery goes to).
//!
//! Rows are claimed with a lease (and, on PostgreSQL, row locks that skip rows another replica holds),
//! sent outside any transaction, then recorded. The lease's end is also the claim's token: a sender
//! records results only for rows it still holds, so one whose lease ran out cannot undo what the sender
//! that took the row over recorded.

use chrono::{DateTime, Utc};

/// Whether a result was recorded: `Lost` when the claim's lease had run out and another sender took the
/// row over, which then owns its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Recorded,
    Lost,
}

impl Held {
    pub(super) fn from_rows(rows: usize) -> Self {
        if rows == 0 { Held::Lost } else { Held::Recorded }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    /// The receiver took it, at this time.
    Done(DateTime<Utc>),
    /// Failed; try again at this time.
    RetryAt(DateTime<Utc>),
    /// Failed for the last time.
    GaveUp,
}

/// One attempt as the outbox records it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub result: Attempted,
    /// Why it failed, in words safe to store and show; `None` when it did not.
    pub error: Option<String>,
    /// The HTTP status the receiver answered, kept by outboxes that have a column for it.
    pub status_code: Option<u16>,
}

/// The statement that claims due rows: the same on both backends but for the placeholders and
/// PostgreSQL's row locks, which let replicas skip the rows another one is claiming.
macro_rules! claim_sql {
    ($table:ident, $order:literal, $returning:literal, $lease:literal, $now:literal, $limit:literal, $lock:literal) => {
        concat!(
            "UPDATE ",
            stringify!($table),
            " SET status = 'sending', attempts = attempts + 1, locked_until = ",
            $lease,
            " WHERE id IN (SELECT id FROM ",
            stringify!($table),
            " WHERE (status = 'pending' AND next_attempt_at <= ",
            $now,
            ")",
            " OR (status = 'sending' AND locked_until < ",
            $now,
            ")",
            " ORDER BY ",
            $order,
            " LIMIT ",
            $limit,
            $lock,
            ")",
            " RETURNING ",
            $returning
        )
    };
}
pub(super) use claim_sql;

/// The outbox engine over one table, as associated functions of `$name`. The table has `id`, `status`
/// (pending, sending, `$done`, failed), `attempts`, `next_attempt_at`, `locked_until`, `last_error` and
/// `$done_at`, and optionally `$status_code`. `$claimed` is what a claim returns (the `$returning`
/// columns), `$row` what a list shows.
macro_rules! outbox {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            table: $table:ident,
            done: $done:literal at $done_at:ident,
            $(status_code: $status_code:ident,)?
            claim_order: $order:literal,
            claimed: $claimed:ty = $returning:literal,
            row: $row:ty,
            busy: $busy:literal $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name;

        impl $name {
            /// Claims up to `limit` rows that are due by `now` (or whose sender's lease ran out) until
            /// `lease_until`, in the caller's transaction.
            pub(super) async fn claim_due(
                conn: &mut $crate::db::Conn,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<Vec<$claimed>, $crate::db::StoreError> {
                use diesel::sql_types::{BigInt, Timestamp};
                use diesel_async::RunQueryDsl;
                use $crate::db::Conn;
                use $crate::db::outbox::claim_sql;
                use $crate::db::rows::to_column;
                Ok(match conn {
                    Conn::Postgres(pg) => diesel::sql_query(claim_sql!(
                        $table, $order, $returning, "$1", "$2", "$3", " FOR UPDATE SKIP LOCKED"
                    ))
                    .bind::<Timestamp, _>(to_column(lease_until))
                    .bind::<Timestamp, _>(to_column(now))
                    .bind::<BigInt, _>(limit)
                    .load(&mut **pg)
                    .await?,
                    Conn::Sqlite(sqlite) => {
                        diesel::sql_query(claim_sql!($table, $order, $returning, "?1", "?2", "?3", ""))
                            .bind::<Timestamp, _>(to_column(lease_until))
                            .bind::<Timestamp, _>(to_column(now))
                            .bind::<BigInt, _>(limit)
                            .load(&mut **sqlite)
                            .await?
                    }
                })
            }

            /// The row `id`, if the claim that ends at `lease` still holds it.
            fn held(
                id: &str,
                lease: chrono::DateTime<chrono::Utc>,
            ) -> diesel::dsl::Filter<
                diesel::dsl::Filter<
                    diesel::dsl::Filter<$table::table, diesel::dsl::Eq<$table::id, &str>>,
                    diesel::dsl::Eq<$table::status, &'static str>,
                >,
                diesel::dsl::Eq<$table::locked_until, Option<chrono::NaiveDateTime>>,
            > {
                use diesel::{ExpressionMethods, QueryDsl};
                $table::table
                    .filter($table::id.eq(id))
                    .filter($table::status.eq("sending"))
                    .filter($table::locked_until.eq(Some($crate::db::rows::to_column(lease))))
            }

            /// Puts a row claimed until `lease` back, not attempted, for the next claim to take with a
            /// fresh lease.
            pub async fn release(
                db: &$crate::db::Db,
                id: String,
                lease: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::db::StoreError> {
                use diesel::ExpressionMethods;
                use diesel_async::RunQueryDsl;
                db.change(async |conn| {
                    $crate::db::conn::on!(conn, c => diesel::update(Self::held(&id, lease))
                        .set((
                            $table::status.eq("pending"),
                            $table::attempts.eq($table::attempts - 1),
                            $table::locked_until.eq(None::<chrono::NaiveDateTime>),
                        ))
                        .execute(c)
                        .await)?;
                    Ok(())
                })
                .await
            }

            /// Records an attempt of a row claimed until `lease`; says whether the claim still held it.
            pub async fn record(
                db: &$crate::db::Db,
                id: String,
                lease: chrono::DateTime<chrono::Utc>,
                attempt: $crate::db::outbox::Attempt,
            ) -> Result<$crate::db::outbox::Held, $crate::db::StoreError> {
                use diesel::ExpressionMethods;
                use diesel_async::RunQueryDsl;
                use $crate::db::outbox::{Attempted, Held};
                use $crate::db::rows::to_column;
                db.change(async |conn| {
                    let rows = $crate::db::conn::on!(conn, c => {
                        let row = Self::held(&id, lease);
                        let seen = (
                            $table::locked_until.eq(None::<chrono::NaiveDateTime>),
                            $table::last_error.eq(&attempt.error),
                            $($table::$status_code.eq(attempt.status_code.map(i32::from)),)?
                        );
                        match attempt.result {
                            Attempted::Done(at) => diesel::update(row)
                                .set(($table::status.eq($done), $table::$done_at.eq(Some(to_column(at))), seen))
                                .execute(c)
                                .await,
                            Attempted::RetryAt(at) => diesel::update(row)
                                .set(($table::status.eq("pending"), $table::next_attempt_at.eq(to_column(at)), seen))
                                .execute(c)
                                .await,
                            Attempted::GaveUp => {
                                diesel::update(row).set(($table::status.eq("failed"), seen)).execute(c).await
                            }
                        }
                    })?;
                    Ok(Held::from_rows(rows))
                })
                .await
            }

            /// Sends the row `id` again, soon, with its first attempt ahead of it; not one being sent right
            /// now. In the caller's transaction.
            pub(super) async fn redeliver_in(
                conn: &mut $crate::db::Conn,
                id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::db::StoreError> {
                use diesel::{ExpressionMethods, QueryDsl};
                use diesel_async::RunQueryDsl;
                use $crate::db::StoreError;
                use $crate::db::conn::on;
                let updated = on!(conn, c => diesel::update($table::table.filter($table::id.eq(id)).filter($table::status.ne("sending")))
                    .set((
                        $table::status.eq("pending"),
                        $table::attempts.eq(0),
                        $table::next_attempt_at.eq($crate::db::rows::to_column(now)),
                        $table::locked_until.eq(None::<chrono::NaiveDateTime>),
                    ))
                    .execute(c)
                    .await)?;
                if updated == 0 {
                    let exists: i64 = on!(conn, c => $table::table.filter($table::id.eq(id)).count().get_result(c).await)?;
                    return Err(if exists == 0 { StoreError::NotFound } else { StoreError::Conflict($busy.into()) });
                }
                Ok(())
            }

            /// One page of the rows `filter` (all when `None`) selects, newest first, each turned into what
            /// the caller shows by `show`. The filter is an expression rather than a boxed query: a boxed
            /// query belongs to one backend, and the page is queried on either.
            pub(super) async fn page<T, F>(
                conn: &mut $crate::db::Conn,
                filter: Option<F>,
                page: $crate::domain::listing::PageRequest<$crate::domain::listing::NewestFirst>,
                show: impl Fn($row) -> Result<T, $crate::db::StoreError>,
            ) -> Result<$crate::domain::listing::Page<T>, $crate::db::StoreError>
            where
                F: diesel::Expression<SqlType = diesel::sql_types::Bool>
                    + diesel::AppearsOnTable<$table::table>
                    + diesel::expression::NonAggregate
                    + diesel::query_builder::QueryFragment<diesel::pg::Pg>
                    + diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>
                    + Send
                    + 'static,
            {
                use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
                use diesel_async::RunQueryDsl;
                let rows: Vec<$row> = $crate::db::conn::on!(conn, c => {
                    let mut query = $table::table.into_boxed();
                    if let Some(filter) = filter {
                        query = query.filter(filter);
                    }
                    let mut query = query.order($table::id.desc()).limit(page.limit + 1);
                    if let Some(after) = page.after_id() {
                        query = query.filter($table::id.lt(after.to_string()));
                    }
                    query.select(<$row>::as_select()).load(c).await
                })?;
                let items = rows
                    .into_iter()
                    .map(|row| Ok(($crate::db::rows::parse_id(&row.id)?, show(row)?)))
                    .collect::<Result<Vec<_>, $crate::db::StoreError>>()?;
                let found = $crate::domain::listing::Page::from_overfetch(items, page.limit, |(id, _)| {
                    page.cursor_after_id(*id)
                });
                Ok($crate::domain::listing::Page {
                    items: found.items.into_iter().map(|(_, item)| item).collect(),
                    next: found.next,
                })
            }
        }
    };
}
pub(super) use outbox;
