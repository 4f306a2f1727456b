use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, error_fields, id, spawn_app};

#[tokio::test]
async fn actions_get_increasing_keys_and_defaults() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let first = app.create_action(&id(&incident), json!({"owner_email": "Dana.Reyes@Example.COM"})).await;
    assert_eq!(first["key"], "ACT-1");
    assert_eq!(first["owner_email"], "dana.reyes@example.com");
    assert_eq!(first["priority"], "medium");
    assert_eq!(first["category"], "other");
    assert_eq!(first["status"], "open");
    assert_eq!(first["tags"], json!([]));
    assert_eq!(first["incident_id"], incident["id"]);

    let response = app
        .post(
            "/api/v1/actions",
            &json!({"incident_id": id(&incident), "title": "Block the phishing domain", "owner_email": "sam@example.com",
                    "due_date": "2030-02-01", "priority": "critical", "category": "prevention", "tags": ["DNS", "dns", "mail"]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let second: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/actions/{}", id(&second)));
    assert_eq!(second["key"], "ACT-2");
    assert_eq!(second["tags"], json!(["dns", "mail"]));
}

#[tokio::test]
async fn a_deleted_actions_key_is_never_reused() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    app.create_action(&id(&incident), json!({})).await;
    let second = app.create_action(&id(&incident), json!({})).await;
    assert_eq!(app.delete(&format!("/api/v1/actions/{}", id(&second))).await.status(), 204);
    let third = app.create_action(&id(&incident), json!({})).await;
    assert_eq!(third["key"], "ACT-3");
}

#[tokio::test]
async fn an_action_needs_an_existing_incident() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::now_v7();
    let body = json!({"title": "t", "owner_email": "a@example.com", "due_date": "2030-01-01"});
    assert_problem(app.post(&format!("/api/v1/incidents/{unknown}/actions"), &body).await, 404, "not_found").await;

    let mut with_id = body.clone();
    with_id["incident_id"] = json!(unknown);
    let problem = assert_problem(app.post("/api/v1/actions", &with_id).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["incident_id"]);

    let problem = assert_problem(app.post("/api/v1/actions", &body).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["incident_id"]);
}

#[tokio::test]
async fn every_invalid_field_is_named() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let response = app
        .post(
            &format!("/api/v1/incidents/{}/actions", id(&incident)),
            &json!({
                "title": "", "owner_email": "not-an-address", "due_date": "1999-12-31",
                "description": "x".repeat(10_001), "team": "line\nbreak",
                "tags": ["ok", "two words"]
            }),
        )
        .await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["description", "due_date", "owner_email", "tags[1]", "team", "title"]);

    let too_many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    let response = app
        .post(
            &format!("/api/v1/incidents/{}/actions", id(&incident)),
            &json!({"title": "t", "owner_email": "a@example.com", "due_date": "2030-01-01", "tags": too_many}),
        )
        .await;
    assert_eq!(error_fields(&assert_problem(response, 422, "validation_failed").await), ["tags"]);

    let response = app
        .post(
            &format!("/api/v1/incidents/{}/actions", id(&incident)),
            &json!({"title": "t", "owner_email": "a@example.com", "due_date": "2030-02-30"}),
        )
        .await;
    assert_eq!(error_fields(&assert_problem(response, 422, "validation_failed").await), ["due_date"]);
}

#[tokio::test]
async fn closing_needs_a_resolution_and_stamps_completed_at() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let action = app.create_action(&id(&incident), json!({})).await;
    let path = format!("/api/v1/actions/{}", id(&action));

    for status in ["done", "cancelled"] {
        let problem =
            assert_problem(app.patch(&path, &json!({"status": status})).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["resolution"]);
    }
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged["status"], "open");
    assert_eq!(unchanged["version"], 1);

    let done: Value =
        app.patch(&path, &json!({"status": "done", "resolution": "FIDO2 keys issued"})).await.json().await.unwrap();
    assert_eq!(done["status"], "done");
    assert!(done["completed_at"].is_string());

    let problem = assert_problem(app.patch(&path, &json!({"resolution": null})).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["resolution"], "a closed action keeps its resolution");

    let reopened: Value = app.patch(&path, &json!({"status": "in_progress"})).await.json().await.unwrap();
    assert_eq!(reopened["completed_at"], Value::Null);

    let cancelled: Value = app
        .patch(&path, &json!({"status": "cancelled", "resolution": "Superseded by SSO rollout"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["completed_at"].is_string());
}

#[tokio::test]
async fn an_action_created_done_is_completed() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let body = json!({"title": "t", "owner_email": "a@example.com", "due_date": "2030-01-01", "status": "done"});
    let path = format!("/api/v1/incidents/{}/actions", id(&incident));
    assert_problem(app.post(&path, &body).await, 422, "validation_failed").await;
    let done =
        app.create_action(&id(&incident), json!({"status": "done", "resolution": "Done during the incident"})).await;
    assert!(done["completed_at"].is_string());
}

#[tokio::test]
async fn overdue_is_computed_from_today_for_active_actions_only() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let today = Utc::now().date_naive();
    let three_days_ago = (today - Duration::days(3)).to_string();

    let late = app.create_action(&id(&incident), json!({"due_date": three_days_ago, "status": "blocked"})).await;
    assert_eq!(late["overdue"], true);
    assert_eq!(late["days_overdue"], 3);

    let due_today = app.create_action(&id(&incident), json!({"due_date": today.to_string()})).await;
    assert_eq!(due_today["overdue"], false);
    assert_eq!(due_today["days_overdue"], 0);

    let finished = app
        .create_action(&id(&incident), json!({"due_date": three_days_ago, "status": "done", "resolution": "ok"}))
        .await;
    assert_eq!(finished["overdue"], false);
}

#[tokio::test]
async fn an_action_can_move_to_another_incident() {
    let app = spawn_app().await;
    let first = app.create_incident(json!({})).await;
    let second = app.create_incident(json!({})).await;
    let action = app.create_action(&id(&first), json!({})).await;
    let path = format!("/api/v1/actions/{}", id(&action));

    let moved: Value = app.patch(&path, &json!({"incident_id": id(&second)})).await.json().await.unwrap();
    assert_eq!(moved["incident_id"], second["id"]);
    let problem =
        assert_problem(app.patch(&path, &json!({"incident_id": uuid::Uuid::now_v7()})).await, 422, "validation_failed")
            .await;
    assert_eq!(error_fields(&problem), ["incident_id"]);
}

#[tokio::test]
async fn tags_are_replaced_and_removed_by_patch() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let action = app.create_action(&id(&incident), json!({"tags": ["mfa", "aws"]})).await;
    let path = format!("/api/v1/actions/{}", id(&action));

    let changed: Value = app.patch(&path, &json!({"tags": ["okta"]})).await.json().await.unwrap();
    assert_eq!(changed["tags"], json!(["okta"]));
    let same: Value = app.patch(&path, &json!({"title": "Renamed"})).await.json().await.unwrap();
    assert_eq!(same["tags"], json!(["okta"]));
    let cleared: Value = app.patch(&path, &json!({"tags": null})).await.json().await.unwrap();
    assert_eq!(cleared["tags"], json!([]));
}
