use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_probes_answer() {
    let app = spawn_app().await;
    let live = app.get("/healthz").await;
    assert_eq!(live.status(), 200);
    assert_eq!(live.json::<serde_json::Value>().await.unwrap()["status"], "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["status"], "ready");
}

/// Readiness follows the database: with its database gone, a replica says it is not ready and API calls
/// get 503 with Retry-After, while liveness stays green. Needs a database that can disappear under a
/// running server, so it runs on PostgreSQL only.
#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = spawn_app_with(|settings| settings.database.timeout = std::time::Duration::from_secs(1)).await;
    let Some(database) = app.postgres_database() else {
        eprintln!("skipped: needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    };
    use diesel::{Connection, RunQueryDsl};
    let mut admin = diesel::PgConnection::establish(&std::env::var("TEST_DATABASE_URL").unwrap()).unwrap();
    diesel::sql_query(format!("DROP DATABASE {database} WITH (FORCE)")).execute(&mut admin).unwrap();
    // With the database gone there is no outbox left to check when the app is dropped.
    app.expect_unsent();

    assert_problem(app.get("/readyz").await, 503, "service_unavailable").await;
    let response = app.get("/api/v1/actions").await;
    assert_eq!(response.headers()["retry-after"], "5");
    let problem = assert_problem(response, 503, "service_unavailable").await;
    assert!(!problem["detail"].as_str().unwrap().contains(database), "no internal detail leaks");
    assert_eq!(app.get("/healthz").await.status(), 200);
}
