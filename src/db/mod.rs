//! Database access: the only place that writes SQL.
//!
//! One binary speaks SQLite and PostgreSQL through diesel's `MultiConnection`; the backend follows from
//! `DATABASE_URL`. Queries are written once for both; where the SQL really differs (key numbers, the
//! way a write transaction starts) the two variants stand side by side in a `match` on the connection.
//! Every call runs on the blocking thread pool, never on the async workers.

pub mod actions;
pub mod comments;
mod common;
pub mod deliveries;
pub mod events;
pub mod idempotency;
pub mod incidents;
mod keyset;
pub mod options;
pub mod outbox;
pub mod people;
mod plan;
pub mod reminders;
pub mod reviews;
mod rows;
pub mod schema;
pub mod seed;
pub mod stats;
pub mod tallies;
pub mod timeline;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{self, ManageConnection, Pool};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tokio::sync::Semaphore;

use crate::domain::FieldErrors;
use options::{DatabaseOptions, DatabaseUrl};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend; queries written against it run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

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

/// What must still hold when a change is made, checked inside its transaction.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// The versions the client's `If-Match` accepts; `None` for any.
    pub if_match: Option<Vec<i64>>,
    /// The owner the caller's rights depend on; the change is refused if the action changed hands.
    pub owner: Option<crate::domain::email::EmailAddress>,
}

/// The pool of connections, cheap to clone into every handler.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager>,
    /// SQLite lets one writer in at a time. The others would wait in its busy handler, which sleeps up to
    /// 100 ms between tries, so under load some writes waited hundreds of milliseconds while later ones
    /// got in first. This process's writers queue here instead, in order; other processes on the same
    /// file still meet the busy handler. None on PostgreSQL, whose row locks need no such queue.
    sqlite_writers: Option<Arc<Semaphore>>,
    wait: Duration,
}

impl Db {
    /// Opens the pool; fails when the database cannot be reached within the configured timeout.
    pub fn connect(options: impl Into<DatabaseOptions>) -> anyhow::Result<Self> {
        let options: DatabaseOptions = options.into();
        if let DatabaseUrl::Sqlite(path) = &options.url
            && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the directory {} of DATABASE_URL", parent.display()))?;
        }
        let manager = ConnectionManager {
            url: options.url.clone(),
            busy_timeout: options.timeout,
            statement_timeout: options.statement_timeout,
        };
        let pool = Pool::builder()
            .max_size(options.pool_size)
            .min_idle(Some(1))
            .connection_timeout(options.timeout)
            .test_on_check_out(false)
            .build(manager)
            .with_context(|| format!("connecting to DATABASE_URL {}", options.url))?;
        let sqlite_writers = matches!(options.url, DatabaseUrl::Sqlite(_)).then(|| Arc::new(Semaphore::new(1)));
        Ok(Self { pool, sqlite_writers, wait: options.timeout })
    }

    /// Brings the schema up to date. Safe to run from several replicas at once on PostgreSQL.
    pub fn migrate(&self) -> anyhow::Result<()> {
        let mut conn = self.pool.get().context("getting a connection to migrate")?;
        match &mut *conn {
            DbConnection::Postgres(pg) => {
                // Replicas starting together would otherwise race to apply the same migration.
                pg.batch_execute("SELECT pg_advisory_lock(7401512200)")?;
                let result = pg.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
                pg.batch_execute("SELECT pg_advisory_unlock(7401512200)")?;
                result.map_err(|e| anyhow::anyhow!("running PostgreSQL migrations: {e}"))
            }
            DbConnection::Sqlite(sqlite) => sqlite
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("running SQLite migrations: {e}")),
        }
    }

    /// Runs `work` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        // The blocking thread has no span of its own: carry the caller's (the handler's, with its request
        // id) across, so whatever is logged during the work says which request it served.
        let span = tracing::Span::current();
        let queued = std::time::Instant::now();
        let job = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get().map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let waited = queued.elapsed();
            let result = work(&mut conn);
            tracing::debug!(
                waited_ms = waited.as_secs_f64() * 1e3,
                worked_ms = (queued.elapsed() - waited).as_secs_f64() * 1e3,
                "database work done"
            );
            result
        });
        match job.await {
            Ok(result) => result,
            Err(join_error) => match join_error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(cancelled) => Err(StoreError::Unavailable(cancelled.to_string())),
            },
        }
    }

    /// Runs `work` in a write transaction, retrying a few times when another writer got there first.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        const ATTEMPTS: usize = 5;
        let turn = match &self.sqlite_writers {
            Some(writers) => Some(
                tokio::time::timeout(self.wait, Arc::clone(writers).acquire_owned())
                    .await
                    .map_err(|_| StoreError::Unavailable("timed out waiting for the database's write lock".into()))?
                    .map_err(|closed| StoreError::Unavailable(closed.to_string()))?,
            ),
            None => None,
        };
        self.run(move |conn| {
            let _turn = turn;
            let mut attempt = 1;
            loop {
                match write_transaction(conn, &work) {
                    Err(StoreError::Raced) if attempt < ATTEMPTS => attempt += 1,
                    Err(StoreError::Raced) => {
                        return Err(StoreError::Conflict("the resource is being changed by others; try again".into()));
                    }
                    result => return result,
                }
            }
        })
        .await
    }

    /// Runs `work` with a pooled connection in one read-only transaction, so that several statements
    /// answer for the same moment (figures that must add up, under concurrent writes).
    pub async fn read_snapshot<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(move |conn| snapshot_transaction(conn, work)).await
    }

    /// True when the database answers a trivial query.
    pub async fn is_ready(&self) -> bool {
        self.run(|conn| Ok(conn.batch_execute("SELECT 1")?)).await.is_ok()
    }
}

/// Locks the row about to be changed until the transaction ends, so concurrent writers of one row take
/// turns on PostgreSQL instead of racing and retrying (SQLite's writers take turns anyway). `NO KEY
/// UPDATE`, like the UPDATE itself, so rows inserted elsewhere that reference this one are not blocked. `table` and
/// `key` are our own identifiers, never client input.
pub(crate) fn lock_row(
    conn: &mut DbConnection,
    table: &'static str,
    key: &'static str,
    value: &str,
) -> Result<(), StoreError> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query(format!("SELECT 1 FROM {table} WHERE {key} = $1 FOR NO KEY UPDATE"))
            .bind::<diesel::sql_types::Text, _>(value)
            .execute(pg)?;
    }
    Ok(())
}

/// A transaction that takes the write lock up front on SQLite (`BEGIN IMMEDIATE`): a deferred one that
/// reads first would fail with SQLITE_BUSY instead of waiting when another writer commits in between.
fn write_transaction<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match conn {
        DbConnection::Sqlite(sqlite) => AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?,
        DbConnection::Postgres(pg) => AnsiTransactionManager::begin_transaction(pg)?,
    }
    finish_transaction(conn, work)
}

/// A read-only transaction whose statements all see one moment: REPEATABLE READ on PostgreSQL; on
/// SQLite a read transaction, whose snapshot (WAL) is taken at its first read.
fn snapshot_transaction<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match conn {
        DbConnection::Sqlite(sqlite) => AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN DEFERRED")?,
        DbConnection::Postgres(pg) => AnsiTransactionManager::begin_transaction_sql(
            pg,
            "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )?,
    }
    finish_transaction(conn, work)
}

/// Runs `work` in the transaction just begun, and commits it, or rolls it back on an error.
fn finish_transaction<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match work(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = <DbConnection as Connection>::TransactionManager::rollback_transaction(conn) {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(error)
        }
    }
}

/// Establishes connections of the backend `DATABASE_URL` names and prepares each SQLite connection.
struct ConnectionManager {
    url: DatabaseUrl,
    busy_timeout: Duration,
    statement_timeout: Duration,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn = diesel::PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(&format!("SET statement_timeout = {}", self.statement_timeout.as_millis()))
                    .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Postgres(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn = diesel::SqliteConnection::establish(&path).map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers work while one writer commits; foreign keys are off by default in SQLite.
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA busy_timeout = {};",
                    self.busy_timeout.as_millis()
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        use diesel::r2d2::R2D2Connection;
        conn.is_broken()
    }
}

/// The next number for an action key. PostgreSQL hands it out from a sequence, so replicas never wait on
/// each other; SQLite has no sequences, but its writers are serialised, so a counter row is just as safe.
fn next_action_number(conn: &mut DbConnection) -> Result<i64, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Number {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        value: i64,
    }
    let number: Number = match conn {
        DbConnection::Postgres(pg) => {
            diesel::sql_query("SELECT nextval('action_number_seq') AS value").get_result(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            diesel::sql_query("UPDATE key_counters SET value = value + 1 WHERE name = 'action' RETURNING value")
                .get_result(sqlite)?
        }
    };
    Ok(number.value)
}

#[cfg(test)]
mod tests {
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    #[derive(diesel::QueryableByName)]
    struct CompileOption {
        #[diesel(sql_type = diesel::sql_types::Text)]
        compile_options: String,
    }

    /// `.cargo/config.toml` asks for QPSG; a build that lost the setting would re-plan statements on
    /// every run, several times slower, and nothing else would notice.
    #[test]
    fn sqlite_is_built_with_the_query_planner_stability_guarantee() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let options: Vec<CompileOption> = diesel::sql_query("PRAGMA compile_options").load(&mut conn).unwrap();
        assert!(options.iter().any(|option| option.compile_options == "ENABLE_QPSG"));
    }
}
