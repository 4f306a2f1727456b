//! The connections queries run on without holding a thread while they wait: PostgreSQL through
//! tokio-postgres (diesel-async), SQLite through diesel's own connection, each statement on the blocking
//! pool. A query is written once; [`on!`] expands it for each backend, so each is type-checked against
//! its own SQL dialect.
//!
//! Pools belong to a runtime. An HTTP worker is a runtime of its own, and a PostgreSQL connection is
//! driven by a task: a connection driven by the runtime that uses it answers without waking another
//! thread, and dies with it. So each HTTP worker has its pool, and the background jobs theirs
//! ([`super::Db::on_this_runtime`]); a connection is always opened on its pool's runtime, whoever asks.

use std::future::Future;
use std::time::Duration;

use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;

use super::error::StoreError;
use super::options::{DatabaseOptions, DatabaseUrl};

/// SQLite's connection, each statement run on the blocking pool.
pub type AsyncSqlite = SyncConnectionWrapper<diesel::SqliteConnection, BlockingPool>;

/// Runs SQLite's statements on tokio's blocking pool. diesel-async's own runner, when the future of a
/// statement is dropped, waits for the statement in place (`block_in_place`), which panics on the
/// single-threaded runtimes of the HTTP workers; this one lets the statement finish on its own. No
/// request drops its database work half-way (`api::limits` runs each handler as a task of its own) and
/// the background jobs finish what they start, so a connection is not handed out again while a
/// statement of a dropped future still runs on it. (One narrow case remains: a handler using the
/// background jobs' pool while its worker's runtime is dropped at shutdown.)
pub struct BlockingPool;

impl diesel_async::sync_connection_wrapper::SpawnBlocking for BlockingPool {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> futures_util::future::BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        tokio::task::spawn_blocking(task)
            .map(|joined| joined.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>))
            .boxed()
    }

    fn get_runtime() -> Self {
        BlockingPool
    }
}

/// A pooled connection to either backend. Queries take it as `&mut Conn` and run through [`on!`].
// One lives on the stack for one call; boxing the larger variant would cost an allocation per call.
#[allow(clippy::large_enum_variant)]
pub enum Conn {
    Postgres(Object<AsyncPgConnection>),
    Sqlite(Object<AsyncSqlite>),
}

/// Runs `$body` with `$c` bound to the backend's own connection: the body is compiled once per backend,
/// so one query text serves both, and a query only one backend understands fails to compile.
macro_rules! on {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::conn::Conn::Postgres($c) => {
                let $c: &mut ::diesel_async::AsyncPgConnection = &mut **$c;
                $body
            }
            $crate::db::conn::Conn::Sqlite($c) => {
                let $c: &mut $crate::db::conn::AsyncSqlite = &mut **$c;
                $body
            }
        }
    };
}
pub(crate) use on;

/// Runs a multi-row INSERT (or upsert), which diesel builds for each backend's own connection only: on
/// PostgreSQL as any statement, on SQLite on the connection its wrapper holds, on the blocking threads.
/// `$statement` must own its rows, as it moves to another thread on SQLite.
macro_rules! execute_batch {
    ($conn:expr, $statement:expr) => {
        match $conn {
            $crate::db::conn::Conn::Postgres(pg) => ::diesel_async::RunQueryDsl::execute($statement, &mut **pg).await,
            $crate::db::conn::Conn::Sqlite(sqlite) => {
                let statement = $statement;
                sqlite.spawn_blocking(move |inner| ::diesel::RunQueryDsl::execute(statement, inner)).await
            }
        }
    };
}
pub(crate) use execute_batch;

/// A closure given a connection: `async |conn| { … }`. Its future must be `Send`, so that the
/// background jobs can await it on any thread; bounding `AsyncFnOnce` alone cannot say that, hence the
/// second view of the same closure as a plain function returning a nameable future.
pub trait Work<'c, T>:
    AsyncFnOnce(&'c mut Conn) -> Result<T, StoreError> + FnOnce(&'c mut Conn) -> <Self as Work<'c, T>>::Fut
{
    type Fut: Future<Output = Result<T, StoreError>>;
}

impl<'c, T, F, Fut> Work<'c, T> for F
where
    F: AsyncFnOnce(&'c mut Conn) -> Result<T, StoreError> + FnOnce(&'c mut Conn) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    type Fut = Fut;
}

/// The connections of one runtime.
#[derive(Clone)]
pub(super) enum Pools {
    Postgres(Pool<AsyncPgConnection>),
    Sqlite(Pool<AsyncSqlite>),
}

impl Pools {
    /// Pools for the runtime this is called on; connections open when first asked for.
    pub(super) fn on_this_runtime(options: &DatabaseOptions) -> anyhow::Result<Self> {
        let home = tokio::runtime::Handle::try_current().ok();
        let pools = match &options.url {
            DatabaseUrl::Postgres(url) => {
                let statement_timeout = options.statement_timeout;
                let mut config = ManagerConfig::default();
                // A query on a dead connection fails and the pool drops it (`is_broken`); checking every
                // connection with a round trip before handing it out would double the cost of a GET.
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup =
                    Box::new(move |url| open_postgres(url.to_owned(), statement_timeout, home.clone()).boxed());
                let manager = AsyncDieselConnectionManager::new_with_config(url.as_str(), config);
                Pools::Postgres(build(manager, options)?)
            }
            DatabaseUrl::Sqlite(path) => {
                let busy_timeout = options.timeout;
                let mut config = ManagerConfig::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(move |path| open_sqlite(path.to_owned(), busy_timeout).boxed());
                let manager = AsyncDieselConnectionManager::new_with_config(path.to_string_lossy(), config);
                Pools::Sqlite(build(manager, options)?)
            }
        };
        Ok(pools)
    }

    pub(super) async fn get(&self) -> Result<Conn, StoreError> {
        let unavailable =
            |error: diesel_async::pooled_connection::deadpool::PoolError| StoreError::Unavailable(error.to_string());
        Ok(match self {
            Pools::Postgres(pool) => Conn::Postgres(pool.get().await.map_err(unavailable)?),
            Pools::Sqlite(pool) => Conn::Sqlite(pool.get().await.map_err(unavailable)?),
        })
    }
}

fn build<C>(manager: AsyncDieselConnectionManager<C>, options: &DatabaseOptions) -> anyhow::Result<Pool<C>>
where
    C: diesel_async::pooled_connection::PoolableConnection + Send + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    let size = usize::try_from(options.pool_size).unwrap_or(usize::MAX);
    Ok(Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(options.timeout))
        .create_timeout(Some(options.timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()?)
}

/// Opens a connection on `home`, the runtime of its pool, whichever runtime asked: the task that drives
/// it is spawned where it is opened, and must live as long as the pool.
async fn open_postgres(
    url: String,
    statement_timeout: Duration,
    home: Option<tokio::runtime::Handle>,
) -> Result<AsyncPgConnection, ConnectionError> {
    let open = async move {
        let mut conn = postgres_tls::connect(&url).await?;
        // A transaction left open (its task panicked half-way) would hold its locks, the change feed's
        // among them, while the connection idles in the pool: the server ends such a session.
        let limit = statement_timeout.as_millis();
        conn.batch_execute(&format!(
            "SET statement_timeout = {limit}; SET idle_in_transaction_session_timeout = {limit}"
        ))
        .await
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
        Ok(conn)
    };
    match home {
        Some(home) => home.spawn(open).await.map_err(|e| ConnectionError::BadConnection(e.to_string()))?,
        None => open.await,
    }
}

async fn open_sqlite(path: String, busy_timeout: Duration) -> Result<AsyncSqlite, ConnectionError> {
    let mut conn = AsyncSqlite::establish(&path).await?;
    // WAL lets readers work while one writer commits; foreign keys are off by default in SQLite. The
    // busy timeout goes first: connections open on demand, maybe while another process writes, and
    // switching to WAL needs a moment without a writer.
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON;",
        busy_timeout.as_millis()
    ))
    .await
    .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// How a transaction starts.
#[derive(Clone, Copy)]
pub(super) enum Begin {
    /// Takes SQLite's write lock up front (`BEGIN IMMEDIATE`): a deferred transaction that reads first
    /// would fail with SQLITE_BUSY instead of waiting when another writer commits in between.
    Write,
    /// All statements see one moment: REPEATABLE READ on PostgreSQL; on SQLite a read transaction, whose
    /// snapshot (WAL) is taken at its first read.
    Snapshot,
}

/// Runs `work` in a transaction begun as `begin`; commits it, or rolls it back on an error.
pub(super) async fn transaction<T, F>(conn: &mut Conn, begin: Begin, work: F) -> Result<T, StoreError>
where
    F: for<'c> Work<'c, T>,
{
    use diesel_async::{AnsiTransactionManager, TransactionManager};
    match (&mut *conn, begin) {
        (Conn::Postgres(pg), Begin::Write) => AnsiTransactionManager::begin_transaction(&mut **pg).await?,
        (Conn::Postgres(pg), Begin::Snapshot) => {
            AnsiTransactionManager::begin_transaction_sql(
                &mut **pg,
                "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY",
            )
            .await?
        }
        (Conn::Sqlite(sqlite), begin) => {
            let sql = match begin {
                Begin::Write => "BEGIN IMMEDIATE",
                Begin::Snapshot => "BEGIN DEFERRED",
            };
            // The wrapper keeps its transaction state in the connection it wraps: begin there.
            sqlite
                .spawn_blocking(move |inner| {
                    diesel::connection::AnsiTransactionManager::begin_transaction_sql(inner, sql)
                })
                .await?
        }
    }
    let outcome = work(&mut *conn).await;
    match outcome {
        Ok(value) => {
            on!(conn, c => commit(c).await)?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = on!(conn, c => rollback(c).await) {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(error)
        }
    }
}

async fn commit<C: AsyncConnection>(conn: &mut C) -> diesel::QueryResult<()> {
    use diesel_async::TransactionManager;
    C::TransactionManager::commit_transaction(conn).await
}

async fn rollback<C: AsyncConnection>(conn: &mut C) -> diesel::QueryResult<()> {
    use diesel_async::TransactionManager;
    C::TransactionManager::rollback_transaction(conn).await
}

/// `sslmode` as libpq reads it, on tokio-postgres: `disable`; `prefer` and `require` encrypt without
/// checking whose certificate it is (libpq's meaning: a guard against eavesdroppers, not impostors);
/// `verify-ca` and `verify-full` check the server's certificate against `sslrootcert` (a PEM file) or,
/// without it, the public web roots, and its name against the host.
pub(super) mod postgres_tls {
    use std::sync::Arc;

    use diesel::ConnectionError;
    use diesel_async::AsyncPgConnection;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use tokio_postgres::config::SslMode;

    /// Whether tokio-postgres can read `raw`: checked at start-up, since connections open on demand.
    pub(crate) fn check(raw: &str) -> Result<(), String> {
        let (url, verify) = split_verification(raw)?;
        url.parse::<tokio_postgres::Config>().map_err(|e| format!("DATABASE_URL: {e}"))?;
        client_config(verify).map(|_| ())
    }

    pub(super) async fn connect(raw: &str) -> Result<AsyncPgConnection, ConnectionError> {
        let bad = |e: &dyn std::fmt::Display| ConnectionError::BadConnection(e.to_string());
        let (url, verify) = split_verification(raw).map_err(|e| bad(&e))?;
        let config: tokio_postgres::Config = url.parse().map_err(|e| bad(&e))?;
        if config.get_ssl_mode() == SslMode::Disable {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|e| bad(&e))?;
            return AsyncPgConnection::try_from_client_and_connection(client, connection).await;
        }
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config(verify).map_err(|e| bad(&e))?);
        let (client, connection) = config.connect(tls).await.map_err(|e| bad(&e))?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    }

    /// Whose certificates to trust, when the server's certificate is checked at all.
    enum Verify {
        Nothing,
        Roots(Option<String>),
    }

    /// tokio-postgres knows `disable`, `prefer` and `require` and no `sslrootcert`: the checking modes
    /// become `require` plus our own verifier.
    fn split_verification(raw: &str) -> Result<(String, Verify), String> {
        // Not `url::Url`: libpq's URLs may leave the host out (`postgres://user@/db?host=/run/...`).
        let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
        let mut verify_mode = false;
        let mut root = None;
        let mut kept = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match (key.as_ref(), value.as_ref()) {
                ("sslmode", "verify-ca" | "verify-full") => verify_mode = true,
                ("sslrootcert", path) => root = Some(path.to_owned()),
                _ => {
                    kept.append_pair(&key, &value);
                }
            }
        }
        if !verify_mode && root.is_none() {
            return Ok((raw.to_owned(), Verify::Nothing));
        }
        if !verify_mode {
            return Err("DATABASE_URL: sslrootcert needs sslmode=verify-full (or verify-ca)".into());
        }
        kept.append_pair("sslmode", "require");
        Ok((format!("{base}?{}", kept.finish()), Verify::Roots(root)))
    }

    fn client_config(verify: Verify) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let config = match verify {
            Verify::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                .with_no_client_auth(),
            Verify::Roots(file) => {
                let mut roots = rustls::RootCertStore::empty();
                match file {
                    Some(path) => {
                        for cert in
                            CertificateDer::pem_file_iter(&path).map_err(|e| format!("sslrootcert {path}: {e}"))?
                        {
                            roots
                                .add(cert.map_err(|e| format!("sslrootcert {path}: {e}"))?)
                                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
                        }
                    }
                    None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        Ok(config)
    }

    /// Accepts any certificate, as libpq does below `verify-ca`, but still checks that the server holds
    /// its key, so the channel is encrypted to whoever answered.
    #[derive(Debug)]
    struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for EncryptOnly {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_url_only_libpq_reads_is_refused_at_start_up() {
            assert!(check("postgres://u@h/db?sslmode=disable&application_name=tracker").is_ok());
            assert!(check("postgres://u@/db?host=/var/run/postgresql").is_ok());
            assert!(check("postgres://u@h/db?passfile=/root/.pgpass").is_err());
            assert!(check("postgres://u@h/db?sslmode=allow").is_err());
            assert!(check("postgres://u@h/db?sslmode=verify-full&sslrootcert=/no/such/ca.pem").is_err());
        }

        #[test]
        fn checking_modes_become_require_with_our_verifier_and_the_rest_passes_through() {
            let (url, verify) = split_verification(
                "postgres://u@db.example:5432/t?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
            )
            .unwrap();
            assert_eq!(url, "postgres://u@db.example:5432/t?application_name=x&sslmode=require");
            assert!(matches!(verify, Verify::Roots(Some(path)) if path == "/ca.pem"));
            let (url, verify) = split_verification("postgres://u@h/t?sslmode=disable").unwrap();
            assert_eq!(url, "postgres://u@h/t?sslmode=disable");
            assert!(matches!(verify, Verify::Nothing));
            let (url, _) = split_verification("postgres://u@/t?host=/var/run/postgresql").unwrap();
            assert_eq!(url, "postgres://u@/t?host=/var/run/postgresql");
            let (url, _) = split_verification("postgres://u@/t?host=/var/run/postgresql&sslmode=verify-full").unwrap();
            assert_eq!(url, "postgres://u@/t?host=%2Fvar%2Frun%2Fpostgresql&sslmode=require");
        }
    }
}
