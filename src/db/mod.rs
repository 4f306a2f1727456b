//! Database access: the only place that writes SQL.
//!
//! One binary speaks SQLite and PostgreSQL through diesel-async ([`conn`]); the backend follows from
//! `DATABASE_URL`. Queries are written once for both and expanded for each by [`conn::on!`]; where the
//! SQL really differs (key numbers, the way a write transaction starts) the two variants stand side by
//! side in a `match` on the connection. No thread waits on the database: PostgreSQL is spoken over
//! async sockets, and each SQLite statement runs on the blocking pool.

pub mod actions;
pub mod comments;
mod common;
pub mod conn;
pub mod deliveries;
pub mod effort;
mod error;
pub mod events;
pub mod evidence;
pub mod idempotency;
pub mod incidents;
pub mod indicators;
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
use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tokio::sync::Semaphore;

pub use conn::Conn;
use conn::on;
pub use error::StoreError;
use options::{DatabaseOptions, DatabaseUrl};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// What must still hold when a change is made, checked inside its transaction.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// The versions the client's `If-Match` accepts; `None` for any.
    pub if_match: Option<Vec<i64>>,
    /// The owner the caller's rights depend on; the change is refused if the action changed hands.
    pub owner: Option<crate::domain::email::EmailAddress>,
}

/// The pools of connections, cheap to clone into every handler.
#[derive(Clone)]
pub struct Db {
    /// This runtime's connections (see [`conn`]).
    pools: conn::Pools,
    options: Arc<DatabaseOptions>,
    /// SQLite lets one writer in at a time. The others would wait in its busy handler, which sleeps up to
    /// 100 ms between tries, so under load some writes waited hundreds of milliseconds while later ones
    /// got in first. This process's writers queue here instead, in order; other processes on the same
    /// file still meet the busy handler. None on PostgreSQL, whose row locks need no such queue.
    sqlite_writers: Option<Arc<Semaphore>>,
}

impl Db {
    /// Prepares the pools of the runtime this is called on; connections open when first asked for, so
    /// [`Db::migrate`] is the first to find an unreachable database.
    pub fn connect(options: impl Into<DatabaseOptions>) -> anyhow::Result<Self> {
        let options: DatabaseOptions = options.into();
        if let DatabaseUrl::Sqlite(path) = &options.url
            && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the directory {} of DATABASE_URL", parent.display()))?;
        }
        let sqlite_writers = matches!(options.url, DatabaseUrl::Sqlite(_)).then(|| Arc::new(Semaphore::new(1)));
        let pools = conn::Pools::on_this_runtime(&options)?;
        Ok(Self { pools, sqlite_writers, options: Arc::new(options) })
    }

    /// The same database through pools of the runtime this is called on, for an HTTP worker: its
    /// connections are driven by its own thread. SQLite's writers still queue in one line per process.
    pub fn on_this_runtime(&self) -> anyhow::Result<Self> {
        Ok(Self { pools: conn::Pools::on_this_runtime(&self.options)?, ..self.clone() })
    }

    /// Brings the schema up to date, on a connection of its own, at start-up. Safe to run from several
    /// replicas at once on PostgreSQL.
    pub fn migrate(&self) -> anyhow::Result<()> {
        let failed = |e| anyhow::anyhow!("connecting to DATABASE_URL {}: {e}", self.options.url);
        match &self.options.url {
            DatabaseUrl::Postgres(url) => {
                // Migrations speak libpq, requests tokio-postgres: a URL only libpq reads would pass here
                // and fail every request.
                conn::postgres_tls::check(url).map_err(|e| anyhow::anyhow!(e))?;
                let mut pg = diesel::PgConnection::establish(url).map_err(failed)?;
                // Replicas starting together would otherwise race to apply the same migration.
                pg.batch_execute("SELECT pg_advisory_lock(7401512200)")?;
                let result = pg.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
                pg.batch_execute("SELECT pg_advisory_unlock(7401512200)")?;
                result.map_err(|e| anyhow::anyhow!("running PostgreSQL migrations: {e}"))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut sqlite = diesel::SqliteConnection::establish(&path.to_string_lossy()).map_err(failed)?;
                // WAL is a property of the file: set here, at start-up, it is set before any request's
                // connection opens, when switching would have to wait for every other writer to finish.
                sqlite.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL;",
                    self.options.timeout.as_millis()
                ))?;
                sqlite
                    .run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(|_| ())
                    .map_err(|e| anyhow::anyhow!("running SQLite migrations: {e}"))
            }
        }
    }

    /// Runs `work` with a connection of this runtime's pool, outside any transaction.
    pub async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: for<'c> conn::Work<'c, T, Fut: Send> + Send,
    {
        let queued = std::time::Instant::now();
        let mut conn = self.pools.get().await?;
        let waited = queued.elapsed();
        let result = work(&mut conn).await;
        log_work(queued, waited);
        result
    }

    /// Runs `work` in a write transaction, again when another writer got there first (a few times).
    /// `work` is cloned for each attempt.
    pub async fn change<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: for<'c> conn::Work<'c, T, Fut: Send> + Clone + Send,
    {
        const ATTEMPTS: usize = 5;
        let queued = std::time::Instant::now();
        let _turn = self.sqlite_turn().await?;
        let mut conn = self.pools.get().await?;
        let waited = queued.elapsed();
        let mut attempt = 1;
        let result = loop {
            match conn::transaction(&mut conn, conn::Begin::Write, work.clone()).await {
                Err(StoreError::Raced) if attempt < ATTEMPTS => attempt += 1,
                Err(StoreError::Raced) => {
                    break Err(StoreError::Conflict("the resource is being changed by others; try again".into()));
                }
                result => break result,
            }
        };
        log_work(queued, waited);
        result
    }

    /// Runs `work` in one read-only transaction, so that several statements answer for the same moment
    /// (figures that must add up, under concurrent writes).
    pub async fn snapshot<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: for<'c> conn::Work<'c, T, Fut: Send> + Send,
    {
        let queued = std::time::Instant::now();
        let mut conn = self.pools.get().await?;
        let waited = queued.elapsed();
        let result = conn::transaction(&mut conn, conn::Begin::Snapshot, work).await;
        log_work(queued, waited);
        result
    }

    /// This process's turn to write to SQLite; nothing on PostgreSQL.
    async fn sqlite_turn(&self) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, StoreError> {
        let Some(writers) = &self.sqlite_writers else { return Ok(None) };
        let permit = tokio::time::timeout(self.options.timeout, Arc::clone(writers).acquire_owned())
            .await
            .map_err(|_| StoreError::Unavailable("timed out waiting for the database's write lock".into()))?
            .map_err(|closed| StoreError::Unavailable(closed.to_string()))?;
        Ok(Some(permit))
    }

    /// True when the database answers a trivial query.
    pub async fn is_ready(&self) -> bool {
        self.read(async |conn| Ok(on!(conn, c => c.batch_execute("SELECT 1").await)?)).await.is_ok()
    }
}

/// How long a call waited for its connection and then worked with it, for the request's log.
fn log_work(queued: std::time::Instant, waited: Duration) {
    tracing::debug!(
        waited_ms = waited.as_secs_f64() * 1e3,
        worked_ms = (queued.elapsed() - waited).as_secs_f64() * 1e3,
        "database work done"
    );
}

/// Locks the row about to be changed until the transaction ends, so concurrent writers of one row take
/// turns on PostgreSQL instead of racing and retrying (SQLite's writers take turns anyway). `NO KEY
/// UPDATE`, like the UPDATE itself, so rows inserted elsewhere that reference this one are not blocked.
/// `table` and `key` are our own identifiers, never client input.
pub(crate) async fn lock_row(
    conn: &mut Conn,
    table: &'static str,
    key: &'static str,
    value: &str,
) -> Result<(), StoreError> {
    if let Conn::Postgres(pg) = conn {
        diesel::sql_query(format!("SELECT 1 FROM {table} WHERE {key} = $1 FOR NO KEY UPDATE"))
            .bind::<diesel::sql_types::Text, _>(value)
            .execute(&mut **pg)
            .await?;
    }
    Ok(())
}

/// The next number for an action key. PostgreSQL hands it out from a sequence, so replicas never wait on
/// each other; SQLite has no sequences, but its writers are serialised, so a counter row is just as safe.
async fn next_action_number(conn: &mut Conn) -> Result<i64, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Number {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        value: i64,
    }
    let number: Number = match conn {
        Conn::Postgres(pg) => {
            diesel::sql_query("SELECT nextval('action_number_seq') AS value").get_result(&mut **pg).await?
        }
        Conn::Sqlite(sqlite) => {
            diesel::sql_query("UPDATE key_counters SET value = value + 1 WHERE name = 'action' RETURNING value")
                .get_result(&mut **sqlite)
                .await?
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
