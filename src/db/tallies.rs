//! The tallies behind unfiltered `/stats` and the Prometheus gauges, so that neither scans every action.
//!
//! Triggers (migration 000009) append what each changed action counted for before (n = -1) and after
//! (n = +1) to `action_tally_changes`, in the writer's own transaction. [`fold`] moves those rows into
//! small tables keyed by (status, due date, on time), (status, priority, category), time to close, and
//! owner. A reader adds the tallies and the changes not folded yet, in one statement per number, so what
//! it sees is always exact, however long ago the last fold ran.
//!
//! "Overdue" depends on the day, so per owner the tallies keep only the open work due before
//! `tally_state.as_of`; a reader adds the open actions due between `as_of` and its own today (an
//! indexed range of a day or two), and [`fold`] moves `as_of` forward the same way. Folds take turns on
//! the `tally_state` row, so replicas can all run them.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, SmallInt, Text};
use diesel::upsert::excluded;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};

use super::conn::{execute_batch, on};
use super::schema::{
    action_tallies_by_close, action_tallies_by_due, action_tallies_by_kind, owner_tallies, tally_state,
};
use super::{Conn, Db, StoreError};
use crate::domain::action::ActionStatus;

/// Changes moved per transaction, so a long backlog is folded in steps that each hold locks briefly.
const FOLD_CHUNK: i64 = 10_000;
/// Rows per multi-row upsert (well under both backends' limits on bound parameters).
const UPSERT_CHUNK: usize = 1_000;
const DAY: i64 = 86_400;

/// Time to close as the tallies keep it: truncated to the minute under a day, to the hour under 30
/// days and to the day beyond, so a million closed actions fit in a few thousand rows. Filtered
/// `/stats` truncate the same way, so both give the same percentiles.
pub fn close_bucket(seconds: i64) -> i64 {
    let seconds = seconds.max(0);
    let step = if seconds < DAY {
        60
    } else if seconds < 30 * DAY {
        3_600
    } else {
        DAY
    };
    seconds - seconds % step
}

/// `'open', 'in_progress', 'blocked'`, for SQL. Our own constants, never client input.
fn active_list() -> String {
    ActionStatus::ACTIVE.iter().map(|s| format!("'{}'", <&str>::from(*s))).collect::<Vec<_>>().join(", ")
}

fn is_active(status: &str) -> bool {
    ActionStatus::ACTIVE.iter().any(|s| <&str>::from(*s) == status)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct DueCount {
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Date)]
    pub due_date: NaiveDate,
    #[diesel(sql_type = SmallInt)]
    pub on_time: i16,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct KindCount {
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = SmallInt)]
    pub priority: i16,
    #[diesel(sql_type = Text)]
    pub category: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

#[derive(QueryableByName)]
struct SecondsCount {
    #[diesel(sql_type = BigInt)]
    seconds: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct OwnerCount {
    #[diesel(sql_type = Text)]
    owner_email: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = Nullable<BigInt>)]
    n: Option<i64>,
}

#[derive(QueryableByName)]
struct Change {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = SmallInt)]
    priority: i16,
    #[diesel(sql_type = Text)]
    category: String,
    #[diesel(sql_type = Date)]
    due_date: NaiveDate,
    #[diesel(sql_type = Text)]
    owner_email: String,
    #[diesel(sql_type = SmallInt)]
    on_time: i16,
    #[diesel(sql_type = Nullable<BigInt>)]
    close_seconds: Option<i64>,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The day the owners' overdue tallies are counted up to; `None` while the tallies are not built.
pub async fn as_of(conn: &mut Conn) -> Result<Option<NaiveDate>, StoreError> {
    Ok(on!(conn, c => tally_state::table.select(tally_state::as_of).find(1i16).first::<Option<NaiveDate>>(c).await)
        .optional()?
        .flatten())
}

/// Actions by status, due date and whether they were done on time.
pub async fn by_due(conn: &mut Conn) -> Result<Vec<DueCount>, StoreError> {
    Ok(on!(conn, c => diesel::sql_query(
        "SELECT status, due_date, on_time, CAST(SUM(n) AS BIGINT) AS n FROM ( \
           SELECT status, due_date, on_time, n FROM action_tallies_by_due \
           UNION ALL SELECT status, due_date, on_time, n FROM action_tally_changes) t \
         GROUP BY status, due_date, on_time",
    )
    .load(c)
    .await)?)
}

/// Actions by status, priority and category.
pub async fn by_kind(conn: &mut Conn) -> Result<Vec<KindCount>, StoreError> {
    Ok(on!(conn, c => diesel::sql_query(
        "SELECT status, priority, category, CAST(SUM(n) AS BIGINT) AS n FROM ( \
           SELECT status, priority, category, n FROM action_tallies_by_kind \
           UNION ALL SELECT status, priority, category, n FROM action_tally_changes) t \
         GROUP BY status, priority, category",
    )
    .load(c)
    .await)?)
}

/// Done actions by time to close ([`close_bucket`]), shortest first.
pub async fn by_close(conn: &mut Conn) -> Result<Vec<(i64, i64)>, StoreError> {
    let rows: Vec<SecondsCount> = on!(conn, c => diesel::sql_query(
        "SELECT close_bucket AS seconds, n FROM action_tallies_by_close \
         UNION ALL SELECT close_seconds AS seconds, n FROM action_tally_changes WHERE close_seconds IS NOT NULL",
    )
    .load(c)
    .await)?;
    let mut buckets = BTreeMap::new();
    for row in rows {
        *buckets.entry(close_bucket(row.seconds)).or_insert(0) += row.n;
    }
    Ok(buckets.into_iter().filter(|(_, n)| *n != 0).collect())
}

/// The `limit` owners with the most open actions due before `today`, most first.
pub async fn top_overdue_owners(
    conn: &mut Conn,
    today: NaiveDate,
    limit: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    let active = active_list();
    let as_of = "(SELECT as_of FROM tally_state WHERE id = 1)";
    // Tallied up to as_of, plus what is due between as_of and today (or minus it, when today is earlier).
    let rows: Vec<OwnerCount> = on!(conn, c => diesel::sql_query(format!(
        "SELECT owner_email, CAST(SUM(n) AS BIGINT) AS n FROM ( \
           SELECT owner_email, overdue AS n FROM owner_tallies \
           UNION ALL SELECT owner_email, n FROM action_tally_changes \
             WHERE status IN ({active}) AND due_date < {as_of} \
           UNION ALL SELECT owner_email, 1 AS n FROM actions \
             WHERE status IN ({active}) AND due_date >= {as_of} AND due_date < '{today}' \
           UNION ALL SELECT owner_email, -1 AS n FROM actions \
             WHERE status IN ({active}) AND due_date >= '{today}' AND due_date < {as_of}) t \
         GROUP BY owner_email HAVING SUM(n) > 0 ORDER BY n DESC, owner_email ASC LIMIT {limit}"
    ))
    .load(c)
    .await)?;
    Ok(rows.into_iter().map(|row| (row.owner_email, row.n)).collect())
}

/// Open actions whose owner is marked inactive in the people directory.
pub async fn owner_inactive(conn: &mut Conn) -> Result<i64, StoreError> {
    let active = active_list();
    let total: Total = on!(conn, c => diesel::sql_query(format!(
        "SELECT CAST(SUM(n) AS BIGINT) AS n FROM ( \
           SELECT owner_email, open AS n FROM owner_tallies \
           UNION ALL SELECT owner_email, n FROM action_tally_changes WHERE status IN ({active})) t \
         WHERE owner_email IN (SELECT email FROM people WHERE active = 0)"
    ))
    .get_result(c)
    .await)?;
    Ok(total.n.unwrap_or(0))
}

/// Folds the pending changes into the tallies and moves `as_of` to `today`, building the tallies first
/// if they are not built yet. Returns how many changes it folded.
#[tracing::instrument(skip(db))]
pub async fn fold(db: &Db, today: NaiveDate) -> Result<usize, StoreError> {
    let mut folded = 0;
    loop {
        let moved = db.change(async |conn| fold_step(conn, today).await).await?;
        folded += moved;
        if (moved as i64) < FOLD_CHUNK {
            return Ok(folded);
        }
    }
}

/// Builds the tallies from the actions themselves (after `seed`, or to repair them).
#[tracing::instrument(skip(db))]
pub async fn rebuild(db: &Db, today: NaiveDate) -> Result<(), StoreError> {
    db.change(async |conn| {
        lock_state(conn).await?;
        rebuild_in(conn, today).await
    })
    .await
}

/// Reads `as_of` and holds the `tally_state` row until the transaction ends, so folds take turns.
async fn lock_state(conn: &mut Conn) -> Result<Option<NaiveDate>, StoreError> {
    if let Conn::Postgres(pg) = conn {
        let locked: Vec<Option<NaiveDate>> =
            tally_state::table.select(tally_state::as_of).find(1i16).for_update().load(&mut **pg).await?;
        return Ok(locked.into_iter().next().flatten());
    }
    as_of(conn).await
}

async fn fold_step(conn: &mut Conn, today: NaiveDate) -> Result<usize, StoreError> {
    let Some(as_of) = lock_state(conn).await? else {
        rebuild_in(conn, today).await?;
        return Ok(0);
    };
    let rolled = as_of != today;
    if rolled {
        roll(conn, as_of, today).await?;
    }
    let as_of = today;
    // One statement removes exactly the rows it returns, whatever writers commit meanwhile.
    let moved: Vec<Change> = on!(conn, c => diesel::sql_query(format!(
        "DELETE FROM action_tally_changes \
         WHERE id IN (SELECT id FROM action_tally_changes ORDER BY id LIMIT {FOLD_CHUNK}) \
         RETURNING status, priority, category, due_date, owner_email, on_time, close_seconds, n"
    ))
    .load(c)
    .await)?;
    let mut due: HashMap<(String, NaiveDate, i16), i64> = HashMap::new();
    let mut kind: HashMap<(String, i16, String), i64> = HashMap::new();
    let mut close: HashMap<i64, i64> = HashMap::new();
    let mut owners: HashMap<String, (i64, i64)> = HashMap::new();
    for change in &moved {
        *due.entry((change.status.clone(), change.due_date, change.on_time)).or_default() += change.n;
        *kind.entry((change.status.clone(), change.priority, change.category.clone())).or_default() += change.n;
        if let Some(seconds) = change.close_seconds {
            *close.entry(close_bucket(seconds)).or_default() += change.n;
        }
        if is_active(&change.status) {
            let owner = owners.entry(change.owner_email.clone()).or_default();
            owner.0 += change.n;
            if change.due_date < as_of {
                owner.1 += change.n;
            }
        }
    }
    upsert_due(conn, due).await?;
    upsert_kind(conn, kind).await?;
    upsert_close(conn, close).await?;
    upsert_owners(conn, owners).await?;
    if rolled || !moved.is_empty() {
        drop_empty(conn).await?;
    }
    Ok(moved.len())
}

/// Moves the owners' overdue tallies from `as_of` to `today`: adds (or, backwards, takes away) the
/// open actions due in between. Changes not folded yet are already in the actions but will be added
/// again when folded, so they are taken away here; one statement sees both at the same moment.
async fn roll(conn: &mut Conn, as_of: NaiveDate, today: NaiveDate) -> Result<(), StoreError> {
    let (from, to, sign) = if as_of < today { (as_of, today, 1) } else { (today, as_of, -1) };
    let active = active_list();
    // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT.
    on!(conn, c => diesel::sql_query(format!(
        "INSERT INTO owner_tallies (owner_email, open, overdue) \
         SELECT owner_email, 0, {sign} * CAST(SUM(n) AS BIGINT) FROM ( \
           SELECT owner_email, 1 AS n FROM actions \
             WHERE status IN ({active}) AND due_date >= '{from}' AND due_date < '{to}' \
           UNION ALL SELECT owner_email, -n AS n FROM action_tally_changes \
             WHERE status IN ({active}) AND due_date >= '{from}' AND due_date < '{to}') t \
         WHERE true GROUP BY owner_email \
         ON CONFLICT (owner_email) DO UPDATE SET overdue = owner_tallies.overdue + excluded.overdue"
    ))
    .execute(c)
    .await)?;
    on!(conn, c => diesel::update(tally_state::table.find(1i16)).set(tally_state::as_of.eq(Some(today))).execute(c).await)?;
    Ok(())
}

/// Counts that came back to zero say nothing; dropping them keeps the tallies small.
async fn drop_empty(conn: &mut Conn) -> Result<(), StoreError> {
    on!(conn, c => diesel::delete(action_tallies_by_due::table.filter(action_tallies_by_due::n.eq(0))).execute(c).await)?;
    on!(conn, c => diesel::delete(action_tallies_by_kind::table.filter(action_tallies_by_kind::n.eq(0))).execute(c).await)?;
    on!(conn, c => diesel::delete(action_tallies_by_close::table.filter(action_tallies_by_close::n.eq(0))).execute(c).await)?;
    on!(conn, c => diesel::delete(owner_tallies::table.filter(owner_tallies::open.eq(0)).filter(owner_tallies::overdue.eq(0)))
        .execute(c)
        .await)?;
    Ok(())
}

/// Empties the tallies and counts every action again. On PostgreSQL writers of actions wait until it
/// commits, so no change falls between the count and the emptied change table, which is truncated: a
/// DELETE would leave a million dead rows (after `seed`) for every reader to scan until vacuumed.
async fn rebuild_in(conn: &mut Conn, today: NaiveDate) -> Result<(), StoreError> {
    match conn {
        Conn::Postgres(pg) => {
            pg.batch_execute("LOCK TABLE actions IN SHARE MODE; TRUNCATE action_tally_changes").await?;
        }
        Conn::Sqlite(sqlite) => {
            diesel::delete(super::schema::action_tally_changes::table).execute(&mut **sqlite).await?;
        }
    }
    on!(conn, c => diesel::delete(action_tallies_by_due::table).execute(c).await)?;
    on!(conn, c => diesel::delete(action_tallies_by_kind::table).execute(c).await)?;
    on!(conn, c => diesel::delete(action_tallies_by_close::table).execute(c).await)?;
    on!(conn, c => diesel::delete(owner_tallies::table).execute(c).await)?;
    let active = active_list();
    for statement in [
        "INSERT INTO action_tallies_by_due (status, due_date, on_time, n) \
         SELECT status, due_date, on_time, COUNT(*) FROM action_tally_rows GROUP BY status, due_date, on_time"
            .to_owned(),
        "INSERT INTO action_tallies_by_kind (status, priority, category, n) \
         SELECT status, priority, category, COUNT(*) FROM action_tally_rows GROUP BY status, priority, category"
            .to_owned(),
        format!(
            "INSERT INTO owner_tallies (owner_email, open, overdue) \
             SELECT owner_email, COUNT(*), SUM(CASE WHEN due_date < '{today}' THEN 1 ELSE 0 END) \
             FROM actions WHERE status IN ({active}) GROUP BY owner_email"
        ),
    ] {
        on!(conn, c => diesel::sql_query(statement).execute(c).await)?;
    }
    let seconds: Vec<SecondsCount> = on!(conn, c => diesel::sql_query(
        "SELECT close_seconds AS seconds, COUNT(*) AS n FROM action_tally_rows \
         WHERE close_seconds IS NOT NULL GROUP BY close_seconds",
    )
    .load(c)
    .await)?;
    let mut close: HashMap<i64, i64> = HashMap::new();
    for row in seconds {
        *close.entry(close_bucket(row.seconds)).or_default() += row.n;
    }
    upsert_close(conn, close).await?;
    on!(conn, c => diesel::update(tally_state::table.find(1i16)).set(tally_state::as_of.eq(Some(today))).execute(c).await)?;
    Ok(())
}

async fn upsert_due(conn: &mut Conn, counts: HashMap<(String, NaiveDate, i16), i64>) -> Result<(), StoreError> {
    use action_tallies_by_due as t;
    let rows: Vec<_> = counts
        .into_iter()
        .map(|((status, due_date, on_time), n)| {
            (t::status.eq(status), t::due_date.eq(due_date), t::on_time.eq(on_time), t::n.eq(n))
        })
        .collect();
    for chunk in rows.chunks(UPSERT_CHUNK) {
        let query = diesel::insert_into(t::table)
            .values(chunk.to_vec())
            .on_conflict((t::status, t::due_date, t::on_time))
            .do_update()
            .set(t::n.eq(t::n + excluded(t::n)));
        execute_batch!(conn, query)?;
    }
    Ok(())
}

async fn upsert_kind(conn: &mut Conn, counts: HashMap<(String, i16, String), i64>) -> Result<(), StoreError> {
    use action_tallies_by_kind as t;
    let rows: Vec<_> = counts
        .into_iter()
        .map(|((status, priority, category), n)| {
            (t::status.eq(status), t::priority.eq(priority), t::category.eq(category), t::n.eq(n))
        })
        .collect();
    for chunk in rows.chunks(UPSERT_CHUNK) {
        let query = diesel::insert_into(t::table)
            .values(chunk.to_vec())
            .on_conflict((t::status, t::priority, t::category))
            .do_update()
            .set(t::n.eq(t::n + excluded(t::n)));
        execute_batch!(conn, query)?;
    }
    Ok(())
}

async fn upsert_close(conn: &mut Conn, counts: HashMap<i64, i64>) -> Result<(), StoreError> {
    use action_tallies_by_close as t;
    let rows: Vec<_> = counts.into_iter().map(|(bucket, n)| (t::close_bucket.eq(bucket), t::n.eq(n))).collect();
    for chunk in rows.chunks(UPSERT_CHUNK) {
        let query = diesel::insert_into(t::table)
            .values(chunk.to_vec())
            .on_conflict(t::close_bucket)
            .do_update()
            .set(t::n.eq(t::n + excluded(t::n)));
        execute_batch!(conn, query)?;
    }
    Ok(())
}

async fn upsert_owners(conn: &mut Conn, counts: HashMap<String, (i64, i64)>) -> Result<(), StoreError> {
    use owner_tallies as t;
    let rows: Vec<_> = counts
        .into_iter()
        .map(|(email, (open, overdue))| (t::owner_email.eq(email), t::open.eq(open), t::overdue.eq(overdue)))
        .collect();
    for chunk in rows.chunks(UPSERT_CHUNK) {
        let query = diesel::insert_into(t::table)
            .values(chunk.to_vec())
            .on_conflict(t::owner_email)
            .do_update()
            .set((t::open.eq(t::open + excluded(t::open)), t::overdue.eq(t::overdue + excluded(t::overdue))));
        execute_batch!(conn, query)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_to_close_are_truncated_to_the_minute_the_hour_or_the_day() {
        assert_eq!(close_bucket(-5), 0, "a clock step backwards counts as closed at once");
        assert_eq!(close_bucket(59), 0);
        assert_eq!(close_bucket(61), 60);
        assert_eq!(close_bucket(DAY - 1), DAY - 60);
        assert_eq!(close_bucket(DAY + 3_599), DAY);
        assert_eq!(close_bucket(2 * DAY + 7_200), 2 * DAY + 7_200, "round hours stay exact");
        assert_eq!(close_bucket(30 * DAY + 5 * 3_600), 30 * DAY);
    }
}
