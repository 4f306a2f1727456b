//! The one test harness: spawn the real server on a free port with its own empty database, then talk
//! HTTP to it. SQLite by default; PostgreSQL when TEST_DATABASE_URL is set (each test gets its own
//! database, dropped afterwards). Set TEST_LOG=1 to see the server's logs.

use std::sync::Once;

use action_tracker::auth::{Keys, TokenSigner};
use action_tracker::config::{
    AuthSettings, DatabaseSettings, DatabaseUrl, LimitSettings, LogFormat, LogSettings, MailSettings,
    PublicKeyAlgorithm, ReminderSettings, Secret, Settings,
};
use action_tracker::domain::email::EmailAddress;
use action_tracker::domain::principal::Role;
use action_tracker::startup::Application;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::smtp::SmtpServer;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    server: actix_web::dev::ServerHandle,
    database: TestDatabase,
    signer: TokenSigner,
    pub settings: Settings,
    /// An admin token: what the request helpers send unless told otherwise.
    pub admin_token: String,
    /// The SMTP server this app sends to, when the test asked for one (`spawn_app_with_smtp`).
    smtp: Option<SmtpServer>,
    /// Set by a test that leaves e-mails or webhook calls in the outbox on purpose (`expect_unsent`).
    unsent_expected: std::sync::atomic::AtomicBool,
}

/// The secret that signs one-click links in test e-mails.
pub const TEST_LINK_SECRET: &str = "test-link-secret-that-is-at-least-32-bytes";

/// The HS256 secret every test server trusts.
pub const TEST_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

enum TestDatabase {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    fn create() -> (Self, DatabaseUrl) {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("action_tracker_test_{}", uuid::Uuid::now_v7().simple());
                let mut admin = PgConnection::establish(&admin_url).expect("connect to TEST_DATABASE_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).expect("create test database");
                let url = database_url_with_name(&admin_url, &name);
                (TestDatabase::Postgres { admin_url, name }, DatabaseUrl::Postgres(url))
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("test.db");
                (TestDatabase::Sqlite(dir), DatabaseUrl::Sqlite(path))
            }
        }
    }
}

/// `postgres://user@host:5432/test?x=y` with `test` replaced by `name`.
fn database_url_with_name(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, _) = base.rsplit_once('/').expect("database URL has a path");
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

impl Drop for TestApp {
    /// Fails a test that left outbox work behind it: an e-mail or a webhook call still waiting, or one
    /// claimed by a sender that never recorded the outcome. Like a job queue's test harness, so that a
    /// change that forgets to deliver (or to record a delivery) cannot pass silently.
    fn drop(&mut self) {
        let left_behind =
            if std::thread::panicking() || *self.unsent_expected.get_mut() { None } else { self.outbox_left_behind() };
        drop(self.server.stop(false));
        if let TestDatabase::Postgres { admin_url, name } = &self.database
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
        }
        if let Some(left_behind) = left_behind {
            panic!(
                "{left_behind}: deliver it in the test (app.emails().deliver(), app.webhooks().deliver()) or, if \
                 leaving it is the point, call app.expect_unsent()"
            );
        }
    }
}

static LOGGING: Once = Once::new();

pub fn test_settings(url: DatabaseUrl) -> Settings {
    Settings {
        database: DatabaseSettings {
            url,
            pool_size: Some(4),
            timeout: std::time::Duration::from_secs(5),
            statement_timeout: std::time::Duration::from_secs(60),
        },
        listen_addr: "127.0.0.1:0".parse().expect("address"),
        http_workers: Some(2),
        timezone: chrono_tz::UTC,
        background_work: false,
        webhook_allow_private_targets: false,
        cache_max_age: std::time::Duration::from_secs(5),
        metrics_token: None,
        data_dir: std::env::temp_dir(),
        mail: MailSettings {
            smtp_url: None,
            from: "action-tracker <tracker@example.com>".parse().expect("mailbox"),
            public_base_url: Some("https://tracker.example.com".into()),
            link_secret: Some(Secret::new(TEST_LINK_SECRET)),
            link_ttl: std::time::Duration::from_secs(7 * 86_400),
            max_attempts: 3,
            retry_base: std::time::Duration::from_secs(0),
            retry_max: std::time::Duration::from_secs(0),
            lease: std::time::Duration::from_secs(300),
            connections: 8,
            smtp_timeout: std::time::Duration::from_secs(60),
        },
        reminders: ReminderSettings {
            due_soon_days: 3,
            repeat_days: 3,
            max_overdue: 10,
            escalate_after_days: 7,
            escalation_email: Some(EmailAddress::parse("escalation", "ciso@example.com").expect("address")),
            send_hour: 9,
            weekdays_only: true,
            review_due_days: 14,
            sweep_interval: std::time::Duration::from_secs(900),
        },
        auth: AuthSettings {
            secret: Some(Secret::new(TEST_SECRET)),
            public_key: None,
            algorithm: PublicKeyAlgorithm::Rs256,
            issuer: None,
            audience: None,
            leeway: std::time::Duration::from_secs(30),
            roles_claim: "roles".into(),
        },
        limits: LimitSettings {
            request_timeout: std::time::Duration::from_secs(30),
            rate_limit_per_minute: 0,
            rate_limit_burst: 100,
            mail_per_recipient_per_day: 20,
            cors_allowed_origins: Vec::new(),
        },
        log: LogSettings { format: LogFormat::Text, filter: "info".into() },
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the server sending its e-mails to an SMTP server of its own, which `app.smtp()` reads.
pub async fn spawn_app_with_smtp() -> TestApp {
    spawn_app_with_smtp_and(|_| {}).await
}

/// Like `spawn_app_with_smtp`, with settings changed by `adjust` as well.
pub async fn spawn_app_with_smtp_and(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let smtp = SmtpServer::start();
    let url = smtp.url();
    let mut app = spawn_app_with(move |settings| {
        settings.mail.smtp_url = Some(Secret::new(url));
        adjust(settings);
    })
    .await;
    app.smtp = Some(smtp);
    app
}

/// Starts the server with settings changed by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    LOGGING.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            let _ = action_tracker::telemetry::init(&LogSettings { format: LogFormat::Text, filter: "debug".into() });
        }
    });
    let (database, url) = TestDatabase::create();
    let mut settings = test_settings(url);
    adjust(&mut settings);
    let application = Application::build(&settings).expect("build application");
    let address = format!("http://127.0.0.1:{}", application.port());
    let server = application.handle();
    tokio::spawn(application.run_until_stopped());
    // Tokens for tests that change the verification settings are made by those tests themselves.
    let test_auth = test_settings(DatabaseUrl::Sqlite("unused".into())).auth;
    let signer = Keys::load(&test_auth, &settings.data_dir, &settings.database.url)
        .expect("test keys")
        .signer
        .expect("an HS256 signer");
    let admin_token = signer.mint("admin@example.com", Some("admin@example.com"), &[Role::Admin], HOUR).expect("token");
    // Idle connections are dropped well before the server's keep-alive (5 s) closes them: a test that waits
    // longer between two requests would otherwise now and then send the second on a connection the server
    // is closing at that moment, and see it cut off.
    let client =
        reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(2)).build().expect("HTTP client");
    TestApp {
        address,
        client,
        server,
        database,
        signer,
        settings,
        admin_token,
        smtp: None,
        unsent_expected: std::sync::atomic::AtomicBool::new(false),
    }
}

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

impl TestApp {
    /// The name of this test's PostgreSQL database, when running on PostgreSQL.
    pub fn postgres_database(&self) -> Option<&str> {
        match &self.database {
            TestDatabase::Postgres { name, .. } => Some(name),
            TestDatabase::Sqlite(_) => None,
        }
    }

    /// The `action-tracker` command on this app's database with its secrets and nothing else from the
    /// environment, as an operator would run it beside the server.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let database_url = match &self.settings.database.url {
            DatabaseUrl::Sqlite(path) => path.display().to_string(),
            DatabaseUrl::Postgres(url) => url.clone(),
        };
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_action-tracker"));
        command
            .args(args)
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("DATA_DIR", &self.settings.data_dir)
            .env("JWT_SECRET", TEST_SECRET)
            .env("LINK_SECRET", TEST_LINK_SECRET);
        command
    }

    /// The SMTP server this app sends to. Only for an app from `spawn_app_with_smtp`.
    pub fn smtp(&self) -> &SmtpServer {
        self.smtp.as_ref().expect("an app from spawn_app_with_smtp")
    }

    /// Says that this test leaves e-mails or webhook calls in the outbox on purpose, so dropping the app
    /// does not fail it.
    pub fn expect_unsent(&self) {
        self.unsent_expected.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// What the outboxes still hold that a finished test should not have left: waiting or claimed work.
    fn outbox_left_behind(&self) -> Option<String> {
        let count = |table: &str, status: &str| {
            self.count_sql(&format!("SELECT count(*) FROM {table} WHERE status = '{status}'"))
        };
        let left: Vec<String> = [("deliveries", "e-mails"), ("webhook_deliveries", "webhook calls")]
            .into_iter()
            .flat_map(|(table, what)| {
                [("pending", "waiting to be sent"), ("sending", "claimed and never recorded")]
                    .into_iter()
                    .map(move |(status, meaning)| (table, what, status, meaning))
            })
            .filter_map(|(table, what, status, meaning)| match count(table, status) {
                0 => None,
                n => Some(format!("{n} {what} {meaning}")),
            })
            .collect();
        (!left.is_empty()).then(|| format!("the test left outbox work behind: {}", left.join(", ")))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The reminder engine on this app's database and settings, as `remind --once` would build it.
    pub fn reminders(&self) -> std::sync::Arc<action_tracker::jobs::reminders::Reminders> {
        let db = action_tracker::db::Db::connect(&self.settings.database).expect("database");
        std::sync::Arc::new(action_tracker::jobs::reminders::Reminders::new(&self.settings, db).expect("reminders"))
    }

    /// The e-mail sender on this app's database and settings, as `remind --once` would build it.
    pub fn emails(&self) -> action_tracker::jobs::email::EmailSender {
        let db = action_tracker::db::Db::connect(&self.settings.database).expect("database");
        action_tracker::jobs::email::EmailSender::new(&self.settings, db).expect("e-mail sender")
    }

    pub fn webhooks(&self) -> action_tracker::jobs::webhooks::WebhookSender {
        let db = action_tracker::db::Db::connect(&self.settings.database).expect("database");
        action_tracker::jobs::webhooks::WebhookSender::new(&self.settings, db).expect("webhooks")
    }

    /// The signer of the one-click links in this app's e-mails.
    pub fn link_keys(&self) -> action_tracker::auth::LinkKeys {
        action_tracker::auth::LinkKeys::load(
            &self.settings.mail,
            self.settings.auth.secret.as_ref(),
            &self.settings.data_dir,
            &self.settings.database.url,
        )
        .expect("link keys")
    }

    /// The one-click link token a reminder sent now to `owner` about `action_id` would carry: bound to the
    /// action's current version.
    pub async fn link(&self, action_id: &str, owner: &str) -> String {
        let action: Value = self.get(&format!("/api/v1/actions/{action_id}")).await.json().await.expect("action");
        let version = action["version"].as_i64().expect("version");
        let owner = action_tracker::domain::email::EmailAddress::parse("owner", owner).expect("address");
        self.link_keys().sign(uuid::Uuid::parse_str(action_id).expect("id"), &owner, version, chrono::Utc::now())
    }

    /// A token for `email` holding `roles` (none: a principal that only owns actions).
    pub fn token(&self, email: &str, roles: &[Role]) -> String {
        self.signer.mint(email, Some(email), roles, HOUR).expect("token")
    }

    /// A request with the admin token, to add headers or a body to.
    pub fn builder(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(&self.admin_token)
    }

    /// Sends a request as the holder of `token` (`None`: without one).
    pub async fn request_as(&self, token: Option<&str>, method: Method, path: &str, body: Option<&Value>) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        self.request_as(Some(&self.admin_token), method, path, body).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path, None).await
    }

    /// Creates an incident and returns it; `extra` overrides the defaults.
    pub async fn create_incident(&self, extra: Value) -> Value {
        let mut body = json!({"title": "Credential phishing", "severity": "high"});
        merge(&mut body, extra);
        let response = self.post("/api/v1/incidents", &body).await;
        assert_eq!(response.status(), 201, "creating incident {body}");
        response.json().await.expect("incident JSON")
    }

    /// Creates an action on `incident_id` and returns it; `extra` overrides the defaults.
    pub async fn create_action(&self, incident_id: &str, extra: Value) -> Value {
        let mut body = json!({"title": "Enforce MFA", "owner_email": "dana@example.com", "due_date": "2030-01-15"});
        merge(&mut body, extra);
        let response = self.post(&format!("/api/v1/incidents/{incident_id}/actions"), &body).await;
        assert_eq!(response.status(), 201, "creating action {body}");
        response.json().await.expect("action JSON")
    }

    /// Plans a review of `incident_id` and returns it; `extra` overrides the defaults.
    pub async fn create_review(&self, incident_id: &str, extra: Value) -> Value {
        let mut body = json!({"facilitator_email": "facilitator@example.com"});
        merge(&mut body, extra);
        let response = self.post(&format!("/api/v1/incidents/{incident_id}/reviews"), &body).await;
        assert_eq!(response.status(), 201, "creating review {body}");
        response.json().await.expect("review JSON")
    }

    /// Adds a timeline entry to `incident_id` and returns it; `extra` overrides the defaults.
    pub async fn create_timeline_entry(&self, incident_id: &str, extra: Value) -> Value {
        let mut body = json!({"occurred_at": "2026-03-02T08:15:00Z", "description": "EDR alert", "kind": "detection"});
        merge(&mut body, extra);
        let response = self.post(&format!("/api/v1/incidents/{incident_id}/timeline"), &body).await;
        assert_eq!(response.status(), 201, "creating timeline entry {body}");
        response.json().await.expect("timeline entry JSON")
    }

    /// Records an item of evidence of `incident_id` and returns it; `extra` overrides the defaults.
    pub async fn create_evidence(&self, incident_id: &str, extra: Value) -> Value {
        let mut body = json!({"description": "Disk image of the laptop", "kind": "disk_image",
                              "location": "s3://forensics/case-17/laptop.e01", "collected_by": "Alex Forensics",
                              "collected_at": "2026-03-02T10:30:00Z"});
        merge(&mut body, extra);
        let response = self.post(&format!("/api/v1/incidents/{incident_id}/evidence"), &body).await;
        assert_eq!(response.status(), 201, "creating evidence {body}");
        response.json().await.expect("evidence JSON")
    }

    /// Creates or replaces a person in the directory.
    pub async fn put_person(&self, email: &str, body: Value) -> Value {
        let response = self.request(Method::PUT, &format!("/api/v1/people/{email}"), Some(&body)).await;
        assert!(matches!(response.status().as_u16(), 200 | 201), "putting person {email}: {}", response.status());
        response.json().await.expect("person JSON")
    }

    /// Every item of a list, following `next_cursor` from `path` (which must already have a `?`).
    pub async fn walk(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut next = path.to_owned();
        loop {
            let response = self.get(&next).await;
            assert_eq!(response.status(), 200, "GET {next}");
            let page: Value = response.json().await.expect("page JSON");
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(cursor) => next = format!("{path}&cursor={cursor}"),
                None => return items,
            }
        }
    }
}

pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
}

pub fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

pub fn keys(items: &[Value]) -> Vec<String> {
    items.iter().map(|item| item["key"].as_str().expect("key").to_owned()).collect()
}

/// Asserts a problem+json answer with `status` and `code`, returns its body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response.headers()["content-type"].to_str().expect("content type").to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem JSON");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    body
}

/// The fields a 422 problem names.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["field"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default()
}

/// Holds the database's write lock from outside the service, as a long migration or a stuck writer would.
pub enum Blocker {
    Sqlite(diesel::SqliteConnection),
    Postgres(diesel::PgConnection),
}

impl Blocker {
    pub fn hold(url: &DatabaseUrl) -> Self {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        match url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
                conn.batch_execute("BEGIN IMMEDIATE").unwrap();
                Blocker::Sqlite(conn)
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn = diesel::PgConnection::establish(url).unwrap();
                conn.batch_execute("BEGIN; LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE").unwrap();
                Blocker::Postgres(conn)
            }
        }
    }

    pub fn release(self) {
        use diesel::connection::SimpleConnection;
        match self {
            Blocker::Sqlite(mut conn) => conn.batch_execute("ROLLBACK").unwrap(),
            Blocker::Postgres(mut conn) => conn.batch_execute("ROLLBACK").unwrap(),
        }
    }
}

impl TestApp {
    /// Runs SQL on this app's database from outside the service, as an operator (or a test setting up
    /// what would take thousands of requests) would.
    pub fn execute_sql(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        match &self.settings.database.url {
            DatabaseUrl::Sqlite(path) => {
                diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap().batch_execute(sql).unwrap()
            }
            DatabaseUrl::Postgres(url) => diesel::PgConnection::establish(url).unwrap().batch_execute(sql).unwrap(),
        }
    }

    /// Like `execute_sql`, for SQL the database may refuse: its error message then.
    pub fn try_execute_sql(&self, sql: &str) -> Result<(), String> {
        use diesel::connection::SimpleConnection;
        let result = match &self.settings.database.url {
            DatabaseUrl::Sqlite(path) => {
                diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap().batch_execute(sql)
            }
            DatabaseUrl::Postgres(url) => diesel::PgConnection::establish(url).unwrap().batch_execute(sql),
        };
        result.map_err(|error| error.to_string())
    }

    /// The number a `SELECT count(*) …` gives on this app's database.
    pub fn count_sql(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        let query = diesel::sql_query(format!("SELECT ({sql}) AS count"));
        match &self.settings.database.url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
                query.get_result::<Count>(&mut conn).unwrap().count
            }
            DatabaseUrl::Postgres(url) => {
                query.get_result::<Count>(&mut diesel::PgConnection::establish(url).unwrap()).unwrap().count
            }
        }
    }
}
