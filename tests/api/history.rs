//! The audit history: every change recorded with who, when, which request and each field's old and new value.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, error_fields, id, spawn_app};
use action_tracker::domain::principal::Role;

async fn history(app: &crate::helpers::TestApp, path: &str) -> Vec<Value> {
    let response = app.get(&format!("{path}/history")).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_patch_of_several_fields_records_each_old_and_new_value() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action =
        app.create_action(&incident, json!({"title": "Enforce MFA", "priority": "low", "tags": ["mfa"]})).await;
    let path = format!("/api/v1/actions/{}", id(&action));

    let editor = app.token("facilitator@example.com", &[Role::Editor]);
    let response = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&editor)
        .header("X-Request-Id", "jira-sync-42")
        .json(&json!({"title": "Enforce FIDO2 MFA", "priority": "critical", "team": "IAM", "tags": ["mfa", "fido2"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["created_by"], "admin@example.com");
    assert_eq!(changed["updated_by"], "facilitator@example.com");

    let events = history(&app, &path).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let update = &events[0];
    assert_eq!(update["kind"], "updated");
    assert_eq!(update["entity_type"], "action");
    assert_eq!(update["actor"], json!({"sub": "facilitator@example.com", "email": "facilitator@example.com"}));
    assert_eq!(update["request_id"], "jira-sync-42");
    assert_eq!(
        update["changes"],
        json!({
            "priority": {"old": "low", "new": "critical"},
            "tags": {"old": ["mfa"], "new": ["fido2", "mfa"]},
            "team": {"old": null, "new": "IAM"},
            "title": {"old": "Enforce MFA", "new": "Enforce FIDO2 MFA"}
        })
    );
    let created = &events[1];
    assert_eq!(created["kind"], "created");
    assert_eq!(created["changes"]["title"], json!({"old": null, "new": "Enforce MFA"}));
    assert_eq!(created["changes"]["owner_email"], json!({"old": null, "new": "dana@example.com"}));
}

#[tokio::test]
async fn a_later_due_date_needs_a_reason_which_the_history_keeps() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({"due_date": "2030-01-15"})).await;
    let path = format!("/api/v1/actions/{}", id(&action));

    let problem =
        assert_problem(app.patch(&path, &json!({"due_date": "2030-02-15"})).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["due_date_change_reason"]);
    let blank = app.patch(&path, &json!({"due_date": "2030-02-15", "due_date_change_reason": " "})).await;
    let problem = assert_problem(blank, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["due_date_change_reason"], "a blank reason is no reason");
    assert_eq!(history(&app, &path).await.len(), 1, "a refused change leaves no event");

    let response = app
        .patch(&path, &json!({"due_date": "2030-02-15", "due_date_change_reason": "Hardware keys are back-ordered"}))
        .await;
    assert_eq!(response.status(), 200);
    let events = history(&app, &path).await;
    assert_eq!(events[0]["reason"], "Hardware keys are back-ordered");
    assert_eq!(events[0]["changes"], json!({"due_date": {"old": "2030-01-15", "new": "2030-02-15"}}));

    let earlier = app.patch(&path, &json!({"due_date": "2030-01-01"})).await;
    assert_eq!(earlier.status(), 200, "bringing a deadline forward needs no reason");
}

#[tokio::test]
async fn an_event_exists_exactly_when_the_change_committed() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({"title": "Phishing"})).await;
    let path = format!("/api/v1/incidents/{}", id(&incident));

    assert_problem(app.patch(&path, &json!({"title": ""})).await, 422, "validation_failed").await;
    let stale = app.builder(Method::PATCH, &path).header("If-Match", "\"99-20260101\"").json(&json!({"title": "x"}));
    assert_problem(stale.send().await.unwrap(), 412, "precondition_failed").await;
    let no_op = app.patch(&path, &json!({"title": "Phishing"})).await;
    assert_eq!(no_op.json::<Value>().await.unwrap()["version"], 1, "a patch that changes nothing is not a change");
    assert_eq!(history(&app, &path).await.len(), 1);

    app.patch(&path, &json!({"status": "contained"})).await;
    let events = history(&app, &path).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["changes"]["status"], json!({"old": "open", "new": "contained"}));
    assert!(events[0]["changes"]["contained_at"]["new"].is_string(), "the stamped time is recorded too");
}

#[tokio::test]
async fn history_pages_newest_first() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({})).await;
    let path = format!("/api/v1/actions/{}", id(&action));
    for team in ["A", "B", "C"] {
        app.patch(&path, &json!({"team": team})).await;
    }

    let walked = app.walk(&format!("{path}/history?limit=2")).await;
    let kinds: Vec<&str> = walked.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["updated", "updated", "updated", "created"]);
    assert_eq!(walked[0]["changes"]["team"], json!({"old": "B", "new": "C"}));
}

/// After a DELETE every URL of the resource is gone, its history's included; the history is kept, in the
/// change feed, where the 404 points.
#[tokio::test]
async fn a_deleted_action_s_history_is_read_from_the_change_feed() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({})).await;
    let other = app.create_action(&incident, json!({})).await;
    let path = format!("/api/v1/actions/{}", id(&action));
    app.patch(&path, &json!({"team": "A"})).await;
    assert_eq!(app.delete(&path).await.status(), 204);

    let gone = assert_problem(app.get(&format!("{path}/history")).await, 404, "not_found").await;
    let feed_path = format!("/api/v1/events?entity_id={}", id(&action));
    assert!(gone["detail"].as_str().unwrap().contains(&feed_path), "{gone}");
    let feed: Value = app.get(&feed_path).await.json().await.unwrap();
    let kinds: Vec<&str> = feed["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "updated", "deleted"], "oldest first, and nothing of the other action");
    assert_eq!(history(&app, &format!("/api/v1/actions/{}", id(&other))).await.len(), 1);

    assert_problem(app.get(&format!("/api/v1/actions/{}/history", uuid::Uuid::now_v7())).await, 404, "not_found").await;
}

#[tokio::test]
async fn incidents_have_a_history_too() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({"severity": "low"})).await;
    let path = format!("/api/v1/incidents/{}", id(&incident));
    app.patch(&path, &json!({"severity": "critical"})).await;
    let events = history(&app, &path).await;
    assert_eq!(events[0]["changes"], json!({"severity": {"old": "low", "new": "critical"}}));
    assert_eq!(events[1]["kind"], "created");
    assert_eq!(app.delete(&path).await.status(), 204);
    assert_problem(app.get(&format!("{path}/history")).await, 404, "not_found").await;
    let feed: Value = app.get(&format!("/api/v1/events?entity_id={}", id(&incident))).await.json().await.unwrap();
    assert_eq!(feed["items"][2]["kind"], "deleted");
}

/// An incident's reviews and timeline entries go when it is deleted; each one's history says so.
#[tokio::test]
async fn deleting_an_incident_records_the_deletion_of_its_reviews_and_timeline() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let review = id(&app.create_review(&incident, json!({})).await);
    let entry = id(&app.create_timeline_entry(&incident, json!({"description": "Alert fired"})).await);
    assert_eq!(app.delete(&format!("/api/v1/incidents/{incident}")).await.status(), 204);

    for (what, entity) in [("review", &review), ("timeline entry", &entry)] {
        let feed: Value = app.get(&format!("/api/v1/events?entity_id={entity}")).await.json().await.unwrap();
        let items = feed["items"].as_array().unwrap();
        let kinds: Vec<&str> = items.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["created", "deleted"], "{what}");
        assert!(items[1]["changes"].as_object().is_some_and(|c| !c.is_empty()), "what it was: {feed}");
    }
    let entry_deleted: Value = app.get(&format!("/api/v1/events?entity_id={entry}")).await.json().await.unwrap();
    assert_eq!(entry_deleted["items"][1]["changes"]["description"]["old"], "Alert fired");
}
