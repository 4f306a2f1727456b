//! Database faults: a real PostgreSQL of the test's own (a throwaway cluster made with initdb in a temp
//! directory) is stopped under a running server and started again. Needs PostgreSQL's server binaries,
//! so it runs with `--ignored`, as CI's fault step does.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use action_tracker::config::DatabaseUrl;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app_with};

/// A PostgreSQL cluster of its own, on a free port, removed when dropped.
struct ThrowawayPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl ThrowawayPostgres {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Self { bin, dir, port };
        if is_root() {
            // PostgreSQL refuses to run as root; the cluster belongs to the postgres user.
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(cluster.dir.path()));
        }
        run(&mut cluster.as_postgres("initdb", &["-A", "trust", "-U", "postgres", "-D", &cluster.data()]));
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn as_postgres(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program).args(args);
            command
        } else {
            let mut command = Command::new(program);
            command.args(args);
            command
        }
    }

    fn pg_ctl_start(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        let log = self.dir.path().join("postgres.log").display().to_string();
        run(&mut self.as_postgres("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "start"]));
    }

    /// An immediate stop: the server goes away without closing its clients' connections politely, as a
    /// crash or a failover would look to the service.
    fn pg_ctl_stop(&self) {
        run(&mut self.as_postgres("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]));
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let _ = self.as_postgres("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]).output();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

fn run(command: &mut Command) {
    let output = command.output().expect("run a PostgreSQL tool");
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// Polls `path` until it answers `status`, failing after `deadline`.
async fn wait_for_status(app: &crate::helpers::TestApp, path: &str, status: u16, deadline: Duration) {
    let started = Instant::now();
    loop {
        let response = app.get(path).await;
        if response.status() == status {
            return;
        }
        assert!(started.elapsed() < deadline, "{path} still answers {} after {deadline:?}", response.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
#[ignore = "fault test: needs PostgreSQL's initdb; run with --ignored"]
async fn while_postgres_is_down_requests_get_a_quick_503_and_the_service_recovers_by_itself() {
    let postgres = ThrowawayPostgres::start();
    let app = spawn_app_with(|settings| {
        settings.database.url = DatabaseUrl::Postgres(postgres.url());
        settings.database.timeout = Duration::from_secs(2);
    })
    .await;
    let incident = app.create_incident(json!({})).await;
    let incident_path = format!("/api/v1/incidents/{}", incident["id"].as_str().unwrap());

    postgres.pg_ctl_stop();

    // Every request in flight to a dead database must come back promptly: within DATABASE_TIMEOUT and a
    // margin, never hanging until the client gives up.
    for path in [incident_path.as_str(), "/api/v1/actions", "/readyz"] {
        let started = Instant::now();
        let response = app.get(path).await;
        assert!(started.elapsed() < Duration::from_secs(5), "{path} took {:?}", started.elapsed());
        assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("5"), "{path}");
        let problem = assert_problem(response, 503, "service_unavailable").await;
        assert!(!problem["detail"].as_str().unwrap().contains("connection"), "the cause is not leaked: {problem}");
    }
    let response = app
        .post(
            &format!("{incident_path}/actions"),
            &json!({"title": "Rotate keys", "owner_email": "dana@example.com", "due_date": "2030-01-15"}),
        )
        .await;
    assert_problem(response, 503, "service_unavailable").await;
    // The process itself is fine: liveness must not make an orchestrator restart it.
    assert_eq!(app.get("/healthz").await.status(), 200);

    postgres.pg_ctl_start();

    wait_for_status(&app, "/readyz", 200, Duration::from_secs(30)).await;
    let response = app.get(&incident_path).await;
    assert_eq!(response.status(), 200, "reads work again without a restart");
    let action = app.create_action(incident["id"].as_str().unwrap(), json!({})).await;
    assert_eq!(action["incident_id"], incident["id"], "writes work again without a restart");
}
