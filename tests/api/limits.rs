//! Limits (OWASP API4) and browser-facing defenses: the per-token rate limit, the request time limit, the
//! daily e-mail cap per recipient, security headers, CORS, and settings refused at start.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use action_tracker::config::{DatabaseUrl, Secret};
use action_tracker::domain::principal::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Blocker, assert_problem, id, spawn_app, spawn_app_with, spawn_app_with_smtp_and, test_settings};

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn each_token_gets_its_own_rate_limit_and_is_told_when_to_come_back() {
    let app = spawn_app_with(|settings| {
        settings.limits.rate_limit_per_minute = 60;
        settings.limits.rate_limit_burst = 3;
    })
    .await;
    let alice = app.token("alice@example.com", &[Role::Viewer]);
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let response = app.request_as(Some(&alice), Method::GET, "/api/v1/incidents", None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "ratelimit-limit"), Some("3"));
        remaining.push(header(&response, "ratelimit-remaining").unwrap().to_owned());
    }
    assert_eq!(remaining, ["2", "1", "0"]);

    let refused = app.request_as(Some(&alice), Method::GET, "/api/v1/incidents", None).await;
    let retry_after: u64 = header(&refused, "retry-after").unwrap().parse().unwrap();
    assert!((1..=1).contains(&retry_after), "one request per second comes back: {retry_after}");
    assert_eq!(header(&refused, "ratelimit-remaining"), Some("0"));
    assert_problem(refused, 429, "too_many_requests").await;

    // Someone else's token, and the probes, are not slowed down by Alice's flood.
    let bob = app.token("bob@example.com", &[Role::Viewer]);
    assert_eq!(app.request_as(Some(&bob), Method::GET, "/api/v1/incidents", None).await.status(), 200);
    for _ in 0..5 {
        assert_eq!(app.get("/healthz").await.status(), 200);
    }

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = app.request_as(Some(&alice), Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(later.status(), 200, "the budget refills at the configured pace");
}

#[tokio::test]
async fn made_up_tokens_share_their_senders_budget() {
    let app = spawn_app_with(|settings| {
        settings.limits.rate_limit_per_minute = 1;
        settings.limits.rate_limit_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        let forged = format!("not-a-token-{n}");
        statuses.push(app.request_as(Some(&forged), Method::GET, "/a/whatever", None).await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429], "a fresh made-up token is no fresh budget");

    // One subject is one budget, however many tokens it holds.
    let first = app.token("alice@example.com", &[Role::Viewer]);
    let second = app.token("alice@example.com", &[Role::Editor]);
    let mut statuses = Vec::new();
    for token in [&first, &second, &first, &second] {
        statuses.push(app.request_as(Some(token), Method::GET, "/api/v1/incidents", None).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
}

#[tokio::test]
async fn a_request_stuck_behind_a_lock_is_answered_503_at_the_time_limit() {
    let app = spawn_app_with(|settings| {
        settings.limits.request_timeout = Duration::from_millis(500);
        settings.database.timeout = Duration::from_secs(10);
    })
    .await;
    let blocker = Blocker::hold(&app.settings.database.url);

    let started = Instant::now();
    let response = app.post("/api/v1/incidents", &json!({"title": "Phishing", "severity": "low"})).await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(500) && waited < Duration::from_secs(3), "answered after {waited:?}");
    assert_eq!(header(&response, "retry-after"), Some("5"));
    let problem = assert_problem(response, 503, "request_timeout").await;
    assert!(problem["request_id"].is_string());

    blocker.release();
    let response = app.post("/api/v1/incidents", &json!({"title": "Phishing", "severity": "low"})).await;
    assert_eq!(response.status(), 201, "the service works again once the lock is gone");
}

/// A request past its time limit is answered 503, but its database work is not cut off half-way: the
/// change is made once the lock is gone, and the worker that served it keeps serving. (On SQLite, a
/// statement dropped half-way would have its worker wait for it in place, which a single-threaded HTTP
/// worker cannot do: it panicked.)
#[tokio::test]
async fn a_request_past_its_time_limit_still_finishes_its_change_and_the_worker_keeps_serving() {
    let app = spawn_app_with(|settings| {
        settings.http_workers = Some(1);
        settings.limits.request_timeout = Duration::from_millis(300);
        settings.database.timeout = Duration::from_secs(10);
    })
    .await;
    let blocker = Blocker::hold(&app.settings.database.url);

    let response = app.post("/api/v1/incidents", &json!({"title": "Left behind", "severity": "low"})).await;
    assert_problem(response, 503, "request_timeout").await;

    blocker.release();
    let mut titles = Vec::new();
    for _ in 0..50 {
        let listed: Value = app.get("/api/v1/incidents").await.json().await.unwrap();
        titles = listed["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap().to_owned()).collect();
        if !titles.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(titles, ["Left behind"], "the change was made once, after the client left");
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/incidents").await.status(), 200, "the worker still serves");
    }
}

#[tokio::test]
async fn a_recipient_gets_at_most_the_daily_cap_and_the_rest_waits_in_the_outbox() {
    let app = spawn_app_with_smtp_and(|settings| {
        settings.limits.mail_per_recipient_per_day = 2;
    })
    .await;
    // What the cap holds back waits in the outbox until tomorrow: that is the point.
    app.expect_unsent();
    let smtp = app.smtp();
    let incident = id(&app.create_incident(json!({})).await);
    for title in ["Rotate keys", "Patch VPN", "Enable MFA"] {
        let action = app.create_action(&incident, json!({"title": title, "owner_email": "dana@example.com"})).await;
        let nudged = app.post(&format!("/api/v1/actions/{}/remind", id(&action)), &json!(null)).await;
        assert_eq!(nudged.status(), 202);
    }
    let other = app.create_action(&incident, json!({"owner_email": "lee@example.com"})).await;
    app.post(&format!("/api/v1/actions/{}/remind", id(&other)), &json!(null)).await;

    let run: Value = app.post("/api/v1/reminders/run", &json!({})).await.json().await.unwrap();
    assert_eq!(run["delivered"]["sent"], 3, "{run}");
    let mut recipients: Vec<String> = smtp.take().iter().map(|e| e.to[0].clone()).collect();
    recipients.sort();
    assert_eq!(recipients, ["dana@example.com", "dana@example.com", "lee@example.com"]);

    let waiting: Value = app.get("/api/v1/deliveries?status=pending").await.json().await.unwrap();
    let waiting = waiting["items"].as_array().unwrap();
    assert_eq!(waiting.len(), 1, "the third e-mail to dana waits: {waiting:?}");
    assert_eq!(waiting[0]["recipient"], "dana@example.com");
    assert_eq!(waiting[0]["attempts"], 0, "being held back is not a failed attempt");
    assert!(waiting[0]["last_error"].as_str().unwrap().contains("cap of 2"), "{}", waiting[0]);

    let again: Value = app.post("/api/v1/reminders/run", &json!({})).await.json().await.unwrap();
    assert_eq!(again["delivered"]["sent"], 0, "still within the same 24 hours: {again}");
    assert!(smtp.take().is_empty());
}

#[tokio::test]
async fn every_answer_carries_security_headers_and_pages_keep_their_own_policy() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    for (path, accept) in [
        ("/api/v1/incidents".to_owned(), "application/json"),
        ("/api/v1/nowhere".to_owned(), "application/json"),
        (format!("/api/v1/incidents/{}/report", id(&incident)), "text/html"),
    ] {
        let response = app.builder(Method::GET, &path).header("accept", accept).send().await.unwrap();
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(header(&response, "x-frame-options"), Some("DENY"), "{path}");
        let policy = header(&response, "content-security-policy").unwrap_or_default();
        assert!(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"), "{path}: {policy}");
    }
    let report = app
        .builder(Method::GET, &format!("/api/v1/incidents/{}/report", id(&incident)))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(header(&report, "content-security-policy").unwrap().contains("style-src 'unsafe-inline'"));
}

async fn preflight(app: &crate::helpers::TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/api/v1/actions"))
        .header("origin", origin)
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", "authorization, if-match, content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn only_configured_origins_may_call_the_api_from_a_browser() {
    let closed = spawn_app().await;
    let response = preflight(&closed, "https://dash.example.com").await;
    assert_eq!(header(&response, "access-control-allow-origin"), None, "no origin is allowed by default");

    let app = spawn_app_with(|settings| {
        settings.limits.cors_allowed_origins = vec!["https://dash.example.com".into()];
    })
    .await;
    let response = preflight(&app, "https://dash.example.com").await;
    assert_eq!(header(&response, "access-control-allow-origin"), Some("https://dash.example.com"));
    assert!(header(&response, "access-control-allow-methods").unwrap().contains("PATCH"));
    assert!(header(&response, "access-control-allow-headers").unwrap().contains("if-match"));

    let listed = app.builder(Method::GET, "/api/v1/actions").header("origin", "https://dash.example.com").send().await;
    let listed = listed.unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(header(&listed, "access-control-allow-origin"), Some("https://dash.example.com"));
    assert!(header(&listed, "access-control-expose-headers").unwrap().contains("etag"));

    let evil = app.builder(Method::GET, "/api/v1/actions").header("origin", "https://evil.example.net").send().await;
    assert_eq!(header(&evil.unwrap(), "access-control-allow-origin"), None, "other origins' pages cannot read");
}

#[tokio::test]
async fn settings_that_would_break_mail_or_cors_are_refused_at_start() {
    use action_tracker::startup::Application;
    // A database of this test's own: one shared across runs keeps whatever schema an older build left.
    let dir = tempfile::tempdir().unwrap();
    let unused = || DatabaseUrl::Sqlite(dir.path().join("unused.db"));

    let mut smtp = test_settings(unused());
    smtp.mail.smtp_url = Some(Secret::new("smtp//relay.example.com:587"));
    let error = format!("{:#}", Application::build(&smtp).err().expect("an unparseable SMTP_URL is refused"));
    assert!(error.contains("SMTP_URL"), "{error}");

    let mut cors = test_settings(unused());
    cors.limits.cors_allowed_origins = vec!["https://dash.example.com/".into(), "*".into()];
    let error = format!("{:#}", Application::build(&cors).err().expect("a URL with a path is not an origin"));
    assert!(error.contains("CORS_ALLOWED_ORIGINS") && error.contains("dash.example.com/"), "{error}");

    let mut one_secret = test_settings(unused());
    one_secret.mail.link_secret = one_secret.auth.secret.clone();
    let error =
        format!("{:#}", Application::build(&one_secret).err().expect("links and tokens need their own secrets"));
    assert!(error.contains("LINK_SECRET must differ from JWT_SECRET"), "{error}");
}

#[test]
fn listening_beyond_localhost_without_https_links_logs_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_action-tracker"))
        .arg("serve")
        .env("LISTEN_ADDR", "0.0.0.0:0")
        .env("DATA_DIR", dir.path())
        .env("DATABASE_URL", dir.path().join("tracker.db"))
        .env("PUBLIC_BASE_URL", "http://tracker.example.com")
        .env("BACKGROUND_WORK", "false")
        .env("LOG_FORMAT", "json")
        .env_remove("JWT_SECRET")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(server.stderr.take().unwrap());
    let mut warning = None;
    for line in std::io::BufRead::lines(stderr) {
        let line = line.unwrap();
        if line.contains("PUBLIC_BASE_URL is not https") {
            warning = Some(line);
            break;
        }
        if line.contains("is listening") {
            break;
        }
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let warning = warning.expect("a warning before the server listens");
    let event: Value = serde_json::from_str(&warning).unwrap();
    assert_eq!(event["level"], "WARN");
}
