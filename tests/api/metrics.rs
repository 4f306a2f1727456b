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

/// Dashboards and alerts see 0, not "no data", before the first action, e-mail, webhook or reminder.
#[tokio::test]
async fn a_fresh_servers_first_scrape_has_every_series_of_the_data_at_zero() {
    let app = spawn_app_with(|settings| settings.metrics_token = Some(Secret::new(SCRAPER))).await;
    let text = scrape(&app, Some(SCRAPER)).await.text().await.unwrap();
    let mut expected = vec!["action_tracker_actions_overdue 0".to_owned()];
    for status in ["open", "in_progress", "blocked", "done", "cancelled"] {
        for priority in ["critical", "high", "medium", "low"] {
            expected.push(format!("action_tracker_actions{{priority=\"{priority}\",status=\"{status}\"}} 0"));
        }
    }
    for (channel, statuses) in [
        ("email", ["pending", "sending", "sent", "failed"]),
        ("webhook", ["pending", "sending", "delivered", "failed"]),
    ] {
        for status in statuses {
            expected.push(format!("action_tracker_outbox_messages{{channel=\"{channel}\",status=\"{status}\"}} 0"));
        }
    }
    for (about, kind) in [
        ("action", "due_soon"),
        ("action", "overdue"),
        ("action", "escalation"),
        ("action", "manual"),
        ("review", "due_soon"),
        ("review", "overdue"),
    ] {
        expected.push(format!("action_tracker_reminders_sent{{about=\"{about}\",kind=\"{kind}\"}} 0"));
    }
    for line in expected {
        assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
    }
}

/// `action_tracker_reminders_sent` counts reminders, one per action or review and rung, whose e-mail was
/// sent; the e-mails themselves are `action_tracker_outbox_messages{channel="email"}`.
#[tokio::test]
async fn reminders_sent_counts_each_reminder_in_a_digest_and_reviews_too() {
    let app = spawn_app_with(|settings| settings.metrics_token = Some(Secret::new(SCRAPER))).await;
    let incident = id(&app.create_incident(json!({})).await);
    for due_date in ["2026-03-09", "2026-03-05", "2026-03-13"] {
        app.create_action(&incident, json!({"due_date": due_date, "owner_email": "dana@example.com"})).await;
    }
    // Resolved on Friday 2026-02-20: its review was due on 2026-03-06.
    let resolved = json!({"status": "resolved", "detected_at": "2026-02-19T08:00:00Z",
                          "resolved_at": "2026-02-20T12:00:00Z"});
    let resolved = id(&app.create_incident(resolved).await);
    app.create_review(&resolved, json!({"facilitator_email": "facilitator@example.com"})).await;

    let reminders = app.reminders();
    let sender = app.emails();
    // Wednesday 2026-03-11: two overdue actions and one due soon in Dana's digest, an overdue review.
    let at = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 11, 10, 0, 0).unwrap();
    assert_eq!(reminders.sweep(at, false).await.unwrap().len(), 2);
    assert_eq!(sender.deliver().await.unwrap().sent, 2);

    let text = scrape(&app, Some(SCRAPER)).await.text().await.unwrap();
    for line in [
        "action_tracker_outbox_messages{channel=\"email\",status=\"sent\"} 2",
        "action_tracker_reminders_sent{about=\"action\",kind=\"overdue\"} 2",
        "action_tracker_reminders_sent{about=\"action\",kind=\"due_soon\"} 1",
        "action_tracker_reminders_sent{about=\"action\",kind=\"escalation\"} 0",
        "action_tracker_reminders_sent{about=\"review\",kind=\"overdue\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
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
