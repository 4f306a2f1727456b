//! The harness itself: a test gets an SMTP server when it asks, and a test that leaves outbox work behind
//! fails, so a change that forgets to deliver cannot pass silently.

use serde_json::json;

use crate::helpers::{id, spawn_app, spawn_app_with_smtp};

#[tokio::test]
async fn an_app_with_smtp_delivers_to_its_own_server() {
    let app = spawn_app_with_smtp().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({"owner_email": "dana@example.com"})).await;
    let nudged = app.post(&format!("/api/v1/actions/{}/remind", id(&action)), &json!(null)).await;
    assert_eq!(nudged.status(), 202);

    assert_eq!(app.emails().deliver().await.unwrap().sent, 1);
    let received = app.smtp().take();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].to, ["dana@example.com"]);
}

#[tokio::test]
#[should_panic(expected = "the test left outbox work behind: 1 e-mails waiting to be sent")]
async fn a_test_that_leaves_an_email_unsent_fails() {
    let app = spawn_app_with_smtp().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({"owner_email": "dana@example.com"})).await;
    let nudged = app.post(&format!("/api/v1/actions/{}/remind", id(&action)), &json!(null)).await;
    assert_eq!(nudged.status(), 202);
}

#[tokio::test]
#[should_panic(expected = "the test left outbox work behind: 1 webhook calls claimed and never recorded")]
async fn a_test_that_leaves_a_claimed_webhook_call_fails() {
    let app = spawn_app().await;
    let hook = app
        .post("/api/v1/webhooks", &json!({"url": "https://jira.example.com/h", "events": ["incident.created"]}))
        .await;
    assert_eq!(hook.status(), 201);
    app.create_incident(json!({})).await;
    // A sender that claimed the call and died before recording what became of it.
    app.execute_sql("UPDATE webhook_deliveries SET status = 'sending'");
}

#[tokio::test]
async fn a_test_may_say_that_it_leaves_work_on_purpose() {
    let app = spawn_app().await;
    app.expect_unsent();
    let hook = app
        .post("/api/v1/webhooks", &json!({"url": "https://jira.example.com/h", "events": ["incident.created"]}))
        .await;
    assert_eq!(hook.status(), 201);
    app.create_incident(json!({})).await;
}
