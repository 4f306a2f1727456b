//! `/metrics` for Prometheus: who may scrape it, and what it says.

use action_tracker::config::Secret;
use action_tracker::domain::principal::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, id, spawn_app, spawn_app_with};

const SCRAPER: &str = "prometheus-scrape-token-0123456789abcdef";

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    app.request_as(token, Method::GET, "/metrics", None).await
}

#[tokio::test]
async fn a_scraper_token_or_a_viewer_reads_the_metrics() {
    let app = spawn_app_with(|settings| settings.metrics_token = Some(Secret::new(SCRAPER))).await;
    let incident = id(&app.create_incident(json!({})).await);
    app.create_action(&incident, json!({"priority": "high", "due_date": "2020-01-01"})).await;
    app.get("/api/v1/actions?overdue=true").await;

    assert_problem(scrape(&app, None).await, 401, "unauthorized").await;
    assert_problem(scrape(&app, Some("not-the-token")).await, 401, "unauthorized").await;
    let owner = app.token("owner@example.com", &[]);
    assert_problem(scrape(&app, Some(&owner)).await, 403, "forbidden").await;
    let viewer = app.token("viewer@example.com", &[Role::Viewer]);
    assert_eq!(scrape(&app, Some(&viewer)).await.status(), 200);

    let response = scrape(&app, Some(SCRAPER)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    for line in [
        "action_tracker_actions{priority=\"high\",status=\"open\"} 1",
        "action_tracker_actions_overdue 1",
        "action_tracker_http_requests_total{method=\"POST\",route=\"/api/v1/incidents\",status=\"201\"} 1",
        "action_tracker_http_requests_total{method=\"GET\",route=\"/api/v1/actions\",status=\"200\"} 1",
        "# TYPE action_tracker_http_request_duration_seconds histogram",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}

#[test]
fn a_short_scraper_token_is_refused_at_start() {
    let mut settings = crate::helpers::test_settings(action_tracker::config::DatabaseUrl::Sqlite(
        tempfile::tempdir().unwrap().path().join("db.sqlite"),
    ));
    settings.metrics_token = Some(Secret::new("short"));
    let error = action_tracker::startup::Application::build(&settings).err().expect("refused");
    assert!(error.to_string().contains("METRICS_TOKEN"), "{error}");
}

/// Checks the exposition with Prometheus's own linter. Needs `promtool` (Debian: prometheus); `.ci/run`
/// installs it and runs this test with `--ignored`.
#[tokio::test]
#[ignore = "needs promtool; .ci/run installs it and runs this test"]
async fn the_metrics_pass_promtool_check_metrics() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    app.create_action(&incident, json!({})).await;
    let viewer = app.token("viewer@example.com", &[Role::Viewer]);
    let text = scrape(&app, Some(&viewer)).await.text().await.unwrap();
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
