//! What an operator reads in the logs: every line logged while serving a request names the request, down
//! to the database work, so one request's lines can be found among many replicas' output.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::spawn_app;

/// Runs `action-tracker serve` with JSON logs, sends `GET path` with the given request id, and returns the
/// log lines it wrote.
async fn json_log_lines_of(path: &str, request_id: &str) -> Vec<Value> {
    let app = spawn_app().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = app
        .command(&["serve"])
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("BACKGROUND_WORK", "false")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "action_tracker=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("http://127.0.0.1:{port}/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true)
    {
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = client
        .get(format!("http://127.0.0.1:{port}/api/v1{path}"))
        .bearer_auth(&app.admin_token)
        .header("X-Request-Id", request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let _ = child.kill();
    let mut output = String::new();
    child.stderr.take().unwrap().read_to_string(&mut output).unwrap();
    let _ = child.wait();
    output.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"))).collect()
}

/// The spans an event was logged in, innermost last, as (name, request_id) pairs.
fn spans(line: &Value) -> Vec<(String, Option<String>)> {
    line["spans"]
        .as_array()
        .map(|spans| {
            spans
                .iter()
                .map(|span| {
                    (
                        span["name"].as_str().unwrap_or_default().to_owned(),
                        span["request_id"].as_str().map(str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn database_work_done_for_a_request_is_logged_inside_its_handler_with_the_request_id() {
    let lines = json_log_lines_of("/incidents", "trace-me-4711").await;
    let database_lines: Vec<&Value> = lines.iter().filter(|line| line["message"] == "database work done").collect();
    assert!(!database_lines.is_empty(), "no database line in the log: {lines:#?}");
    let served = database_lines
        .iter()
        .find(|line| spans(line).iter().any(|(_, id)| id.as_deref() == Some("trace-me-4711")))
        .unwrap_or_else(|| panic!("no database line names the request: {database_lines:#?}"));
    // Outermost the request (with its route), then the handler that asked for the work.
    let spans = spans(served);
    assert_eq!(spans.first().unwrap(), &("http_request".to_owned(), Some("trace-me-4711".to_owned())), "{served:#}");
    assert_eq!(spans.get(1).unwrap(), &("list".to_owned(), Some("trace-me-4711".to_owned())), "{served:#}");
    assert_eq!(served["spans"][0]["route"], "/api/v1/incidents", "{served:#}");
}

#[tokio::test]
async fn the_request_completed_line_carries_the_request_id_given_by_the_client() {
    let lines = json_log_lines_of("/actions", "trace-me-0815").await;
    let completed = lines
        .iter()
        .find(|line| {
            line["message"] == "request completed"
                && spans(line).iter().any(|(_, id)| id.as_deref() == Some("trace-me-0815"))
        })
        .unwrap_or_else(|| panic!("no completed line for the request: {lines:#?}"));
    assert_eq!(completed["span"]["status"], 200, "{completed:#}");
}
