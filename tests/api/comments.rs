use action_tracker::domain::principal::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, error_fields, id, spawn_app};

#[tokio::test]
async fn owners_and_editors_comment_and_comments_read_oldest_first() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({"owner_email": "dana@example.com"})).await;
    let path = format!("/api/v1/actions/{}/comments", id(&action));
    let owner = app.token("dana@example.com", &[]);
    let editor = app.token("facilitator@example.com", &[Role::Editor]);

    let first = app.request_as(Some(&owner), Method::POST, &path, Some(&json!({"text": "Keys ordered"}))).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["author"]["email"], "dana@example.com");
    assert_eq!(first["text"], "Keys ordered");
    app.request_as(Some(&editor), Method::POST, &path, Some(&json!({"text": "Thanks, checking in Friday"}))).await;
    app.request_as(Some(&owner), Method::POST, &path, Some(&json!({"text": "Rolled out"}))).await;

    let walked = app.walk(&format!("{path}?limit=2")).await;
    let texts: Vec<&str> = walked.iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Keys ordered", "Thanks, checking in Friday", "Rolled out"]);

    let history: Value = app.get(&format!("/api/v1/actions/{}/history", id(&action))).await.json().await.unwrap();
    assert_eq!(history["items"][0]["kind"], "commented");
    assert_eq!(history["items"][0]["changes"]["comment"], json!({"old": null, "new": "Rolled out"}));
}

#[tokio::test]
async fn comments_are_bounded_and_need_an_action() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({})).await;
    let path = format!("/api/v1/actions/{}/comments", id(&action));
    for text in ["", "   ", &"x".repeat(10_001)] {
        let problem = assert_problem(app.post(&path, &json!({"text": text})).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["text"]);
    }
    let unknown = format!("/api/v1/actions/{}/comments", uuid::Uuid::now_v7());
    assert_problem(app.post(&unknown, &json!({"text": "hello"})).await, 404, "not_found").await;
}
