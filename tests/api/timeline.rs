//! Incident timelines: entries come back in the order things happened, whatever order they were added in.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, error_fields, id, spawn_app};

#[tokio::test]
async fn the_timeline_is_ordered_by_when_things_happened_and_can_be_corrected() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let late = app
        .create_timeline_entry(
            &incident,
            json!({"occurred_at": "2026-03-02T11:40:00Z", "kind": "containment",
                                                "description": "Accounts disabled", "source": "IdP audit log"}),
        )
        .await;
    app.create_timeline_entry(&incident, json!({"occurred_at": "2026-03-02T08:15:00Z", "description": "EDR alert"}))
        .await;
    let path = format!("/api/v1/incidents/{incident}/timeline");
    let list: Value = app.get(&path).await.json().await.unwrap();
    let order: Vec<&str> =
        list["items"].as_array().unwrap().iter().map(|e| e["description"].as_str().unwrap()).collect();
    assert_eq!(order, ["EDR alert", "Accounts disabled"]);
    assert_eq!(list["items"][1]["source"], "IdP audit log");

    let entry = format!("/api/v1/timeline/{}", id(&late));
    let moved = app.patch(&entry, &json!({"occurred_at": "2026-03-02T07:00:00Z"})).await;
    assert_eq!(moved.status(), 200);
    let list: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(list["items"][0]["description"], "Accounts disabled", "re-ordered after the correction");

    let bad =
        app.post(&path, &json!({"occurred_at": "2026-03-02T07:00:00Z", "description": " ", "kind": "lunch"})).await;
    let problem = assert_problem(bad, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["kind", "description"], "every bad field at once");
    let blank = app.post(&path, &json!({"occurred_at": "2026-03-02T07:00:00Z", "description": " "})).await;
    assert_eq!(error_fields(&assert_problem(blank, 422, "validation_failed").await), ["description"]);

    assert_eq!(app.delete(&entry).await.status(), 204);
    let list: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let unknown = app.get(&format!("/api/v1/incidents/{}/timeline", uuid::Uuid::now_v7())).await;
    assert_problem(unknown, 404, "not_found").await;
}
