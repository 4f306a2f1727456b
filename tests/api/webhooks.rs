//! Webhooks end to end: a real HTTP receiver checks signatures and payloads, goes down and comes back.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use action_tracker::jobs::webhooks::signature;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, error_fields, id, spawn_app, spawn_app_with};

/// What the receiver got: the signature headers and the body.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: i64,
    signature: String,
    body: String,
}

struct Receiver {
    url: String,
    answer: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start() -> Self {
        let answer = Arc::new(AtomicU16::new(200));
        let received = Arc::new(Mutex::new(Vec::new()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (state_answer, state_received) = (answer.clone(), received.clone());
        let server = HttpServer::new(move || {
            let (answer, received) = (state_answer.clone(), state_received.clone());
            App::new().route(
                "/hook",
                web::post().to(move |req: HttpRequest, body: String| {
                    let (answer, received) = (answer.clone(), received.clone());
                    async move {
                        let header = |name: &str| req.headers().get(name).unwrap().to_str().unwrap().to_owned();
                        received.lock().unwrap().push(Received {
                            id: header("webhook-id"),
                            timestamp: header("webhook-timestamp").parse().unwrap(),
                            signature: header("webhook-signature"),
                            body,
                        });
                        HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap(),
                        )
                        .finish()
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, answer, received }
    }

    fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

const SECRET: &str = "receiver-secret-0123456789";

/// A server whose webhooks may reach the loopback receivers of these tests, as an on-premises
/// deployment would allow its ticketing system's private address.
async fn app_with_private_targets() -> TestApp {
    spawn_app_with(|settings| settings.webhook_allow_private_targets = true).await
}

#[tokio::test]
async fn deliveries_are_signed_retried_until_the_receiver_is_back_and_can_be_sent_again() {
    let receiver = Receiver::start();
    let app = app_with_private_targets().await;
    // The sweep that raises action.overdue also queues the owner's reminder e-mail; only the webhook
    // calls are under test here.
    app.expect_unsent();
    let created = app
        .post(
            "/api/v1/webhooks",
            &json!({"url": receiver.url, "secret": SECRET, "description": "Jira bridge",
                    "events": ["action.created", "action.status_changed", "action.overdue"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let hook: Value = created.json().await.unwrap();
    assert_eq!(hook["secret"], SECRET, "shown once, at creation");
    let listed: Value = app.get("/api/v1/webhooks").await.json().await.unwrap();
    assert!(listed["items"][0].get("secret").is_none(), "never shown again: {listed}");

    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({"title": "Rotate keys", "due_date": "2026-03-10"})).await;
    app.patch(&format!("/api/v1/actions/{}", id(&action)), &json!({"status": "in_progress"})).await;
    let webhooks = app.webhooks();
    assert_eq!(webhooks.deliver().await.unwrap().sent, 2, "incident.created and action.updated are not subscribed");

    let got = receiver.take();
    let types: Vec<String> = got
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["action.created", "action.status_changed"]);
    for delivery in &got {
        assert_eq!(delivery.signature, signature(SECRET, delivery.timestamp, &delivery.body), "a valid signature");
        assert!((Utc::now().timestamp() - delivery.timestamp).abs() < 60);
        let body: Value = serde_json::from_str(&delivery.body).unwrap();
        assert_eq!(body["id"], delivery.id.as_str());
        assert_eq!(body["data"]["entity_id"], action["id"]);
        assert_eq!(body["data"]["resource"]["title"], "Rotate keys");
    }
    let changed: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(changed["data"]["changes"]["status"], json!({"old": "open", "new": "in_progress"}));
    assert_eq!(changed["data"]["resource"]["status"], "in_progress");

    // The receiver is down: the delivery is kept and retried.
    receiver.answer.store(503, Ordering::SeqCst);
    let due = app.reminders();
    due.sweep(Utc.with_ymd_and_hms(2026, 3, 11, 10, 0, 0).unwrap(), false).await.unwrap();
    let report = webhooks.deliver().await.unwrap();
    assert_eq!((report.sent, report.retrying), (0, 1));
    let log_path = format!("/api/v1/webhooks/{}/deliveries", id(&hook));
    let log: Value = app.get(&log_path).await.json().await.unwrap();
    assert_eq!(log["items"][0]["event_type"], "action.overdue");
    assert_eq!(log["items"][0]["status"], "pending");
    assert_eq!(log["items"][0]["last_status_code"], 503);
    assert_eq!(log["items"][0]["attempts"], 1);

    receiver.answer.store(200, Ordering::SeqCst);
    assert_eq!(webhooks.deliver().await.unwrap().sent, 1, "delivered once the receiver is back");
    let overdue = receiver.take();
    assert_eq!(overdue.len(), 2, "the failed attempt reached the receiver too");
    assert_eq!(overdue[0].id, overdue[1].id, "a retry carries the same event id");
    let log: Value = app.get(&log_path).await.json().await.unwrap();
    assert_eq!(
        (log["items"][0]["status"].clone(), log["items"][0]["attempts"].clone()),
        (json!("delivered"), json!(2))
    );

    let first = log["items"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
    let redeliver = app.post(&format!("{log_path}/{first}/redeliver"), &json!({})).await;
    assert_eq!(redeliver.status(), 202);
    webhooks.deliver().await.unwrap();
    let again = receiver.take();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, got[0].id, "the same event, sent again");

    assert_eq!(app.delete(&format!("/api/v1/webhooks/{}", id(&hook))).await.status(), 204);
    app.create_action(&incident, json!({})).await;
    assert_eq!(webhooks.deliver().await.unwrap().sent, 0, "nothing goes to a deleted webhook");
}

#[tokio::test]
async fn webhook_urls_and_events_are_checked() {
    let app = spawn_app().await;
    let bad =
        app.post("/api/v1/webhooks", &json!({"url": "file:///etc/passwd", "events": [], "secret": "short"})).await;
    let problem = assert_problem(bad, 422, "validation_failed").await;
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["url", "events", "secret"]);
    let unknown =
        app.post("/api/v1/webhooks", &json!({"url": "https://x.example.com", "events": ["action.deleted"]})).await;
    assert_problem(unknown, 422, "validation_failed").await;
    let generated =
        app.post("/api/v1/webhooks", &json!({"url": "https://x.example.com", "events": ["incident.created"]})).await;
    let generated: Value = generated.json().await.unwrap();
    assert!(generated["secret"].as_str().unwrap().len() >= 32, "a strong secret is generated");

    // Only the plain shape the spec's pattern states: a host name or an IPv4 address, a port, ASCII.
    for url in [
        " https://x.example.com",
        "https://x.example.com/a b",
        "https://1x.example.com",
        "http://[::1]/",
        "http://x:99999/",
    ] {
        let refused = app.post("/api/v1/webhooks", &json!({"url": url, "events": ["incident.created"]})).await;
        assert_eq!(error_fields(&assert_problem(refused, 422, "validation_failed").await), ["url"], "{url}");
    }
    for url in ["http://93.184.216.34:8080/hooks?x=1", "https://hooks.example.com/in/%20"] {
        let accepted = app.post("/api/v1/webhooks", &json!({"url": url, "events": ["incident.created"]})).await;
        assert_eq!(accepted.status(), 201, "{url}");
    }
}

#[tokio::test]
async fn webhooks_cannot_point_inside_the_network_unless_allowed() {
    let app = spawn_app().await;
    for url in [
        "http://127.0.0.1:8080/api/v1/incidents",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0:5432/",
        "http://224.0.0.1/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://localhost:5432/",
        "http://db.localhost/",
        "http://intranet/",
    ] {
        let refused = app.post("/api/v1/webhooks", &json!({"url": url, "events": ["incident.created"]})).await;
        let problem = assert_problem(refused, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["url"], "{url}");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("public address") && message.contains("WEBHOOK_ALLOW_PRIVATE_TARGETS"), "{message}");
    }
    assert_eq!(app.get("/api/v1/webhooks").await.json::<Value>().await.unwrap()["items"], json!([]));

    let on_premises = app_with_private_targets().await;
    let allowed =
        on_premises.post("/api/v1/webhooks", &json!({"url": "http://10.0.0.1/", "events": ["incident.created"]})).await;
    assert_eq!(allowed.status(), 201);
}

/// A receiver registered while allowed (or through a name that resolved elsewhere then) is checked again
/// on the address each delivery connects to: a sender without the setting sends nothing, and its log
/// says why in the same words whether a port is open or closed.
#[tokio::test]
async fn deliveries_check_the_address_they_connect_to() {
    let receiver = Receiver::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = app_with_private_targets().await;
    // The two calls to the closed port wait for their retries; what the sender refuses is the point.
    app.expect_unsent();
    let port = receiver.url.rsplit(':').next().unwrap().trim_end_matches("/hook").to_owned();
    let urls = [
        receiver.url.clone(),
        format!("http://localhost:{port}/hook"),
        format!("http://127.0.0.1:{closed_port}/hook"),
        format!("http://localhost:{closed_port}/hook"),
    ];
    let mut hooks = Vec::new();
    for url in &urls {
        let hook = app.post("/api/v1/webhooks", &json!({"url": url, "events": ["incident.created"]})).await;
        assert_eq!(hook.status(), 201);
        hooks.push(hook.json::<Value>().await.unwrap());
    }
    app.create_incident(json!({})).await;

    let mut strict_settings = app.settings.clone();
    strict_settings.webhook_allow_private_targets = false;
    let db = action_tracker::db::Db::connect(&strict_settings.database).unwrap();
    let strict = action_tracker::jobs::webhooks::WebhookSender::new(&strict_settings, db).unwrap();
    let report = strict.deliver().await.unwrap();
    assert_eq!(report.sent, 0);
    assert!(receiver.take().is_empty(), "nothing reached the loopback receiver");
    let mut errors = Vec::new();
    for hook in &hooks {
        let log: Value = app.get(&format!("/api/v1/webhooks/{}/deliveries", id(hook))).await.json().await.unwrap();
        let error = log["items"][0]["last_error"].as_str().unwrap().to_owned();
        assert!(error.contains("not sent") && error.contains("WEBHOOK_ALLOW_PRIVATE_TARGETS"), "{error}");
        assert!(log["items"][0]["last_status_code"].is_null());
        errors.push(error.replace(&port, "PORT").replace(&closed_port.to_string(), "PORT"));
    }
    assert_eq!(errors[0], errors[2], "an open and a closed port look alike");
    assert_eq!(errors[1], errors[3], "an open and a closed port look alike");

    // The same deliveries, by a sender that allows private targets, arrive.
    assert!(app.webhooks().deliver().await.unwrap().sent >= 2);
    assert_eq!(receiver.take().len(), 2);
}
