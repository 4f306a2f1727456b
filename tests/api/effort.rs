//! Effort: the time the team spent on an incident, per person and phase, with its sums; corrected and
//! removed with ETags, and everything in the history.

use action_tracker::domain::principal::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, error_fields, id, spawn_app};

async fn spend(app: &TestApp, incident: &str, body: Value) -> Value {
    let response = app.post(&format!("/api/v1/incidents/{incident}/effort"), &body).await;
    assert_eq!(response.status(), 201, "{body}");
    response.json().await.unwrap()
}

async fn kinds(app: &TestApp, entity: &str) -> Vec<String> {
    let page: Value = app.get(&format!("/api/v1/events?entity_id={entity}")).await.json().await.unwrap();
    page["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn time_spent_adds_up_per_phase_and_person_and_can_be_corrected_or_removed() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let first = spend(
        &app,
        &incident,
        json!({"person": "Dana@Example.com", "phase": "analysis", "minutes": 150, "performed_on": "2026-03-02",
               "note": "Proxy logs"}),
    )
    .await;
    assert_eq!(first["person"], "dana@example.com", "stored lower-case");
    assert_eq!(first["performed_on"], "2026-03-02");
    spend(&app, &incident, json!({"person": "sam@example.com", "phase": "containment", "minutes": 120.0})).await;
    let extra =
        spend(&app, &incident, json!({"person": "dana@example.com", "phase": "detection", "minutes": 30})).await;

    let path = format!("/api/v1/incidents/{incident}/effort");
    let log: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(log["items"].as_array().unwrap().len(), 3);
    assert_eq!(log["total_minutes"], 300);
    assert_eq!(
        log["by_phase"],
        json!({"detection": 30, "analysis": 150, "containment": 120, "eradication": 0, "recovery": 0, "post_incident": 0})
    );
    assert_eq!(
        log["by_person"],
        json!([{"person": "dana@example.com", "minutes": 180}, {"person": "sam@example.com", "minutes": 120}])
    );

    let entry = format!("/api/v1/effort/{}", id(&first));
    // The Location of a new entry is where it can be read, with its tag and 304 for a current copy.
    let created = app.post(&path, &json!({"person": "lee@example.com", "phase": "recovery", "minutes": 5})).await;
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let read = app.get(&location).await;
    assert_eq!(read.status(), 200, "GET {location}");
    let read_tag = read.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(read.json::<Value>().await.unwrap()["person"], "lee@example.com");
    let current = app.builder(Method::GET, &location).header("if-none-match", &read_tag).send().await.unwrap();
    assert_eq!(current.status(), 304);
    assert_eq!(app.delete(&location).await.status(), 204);
    assert_problem(app.get(&location).await, 404, "not_found").await;
    let tag = "\"1-x\"";
    let changed =
        app.builder(Method::PATCH, &entry).header("if-match", tag).json(&json!({"minutes": 200, "note": null}));
    let changed = changed.send().await.unwrap();
    assert_eq!(changed.status(), 200);
    let etag = changed.headers()["etag"].to_str().unwrap().to_owned();
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(
        (changed["minutes"].clone(), changed["note"].clone(), changed["version"].clone()),
        (json!(200), Value::Null, json!(2))
    );
    let stale = app.builder(Method::DELETE, &entry).header("if-match", tag).send().await.unwrap();
    assert_problem(stale, 412, "precondition_failed").await;
    let removed = app.builder(Method::DELETE, &entry).header("if-match", &etag).send().await.unwrap();
    assert_eq!(removed.status(), 204);
    let log: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(log["total_minutes"], 150);
    assert_eq!(kinds(&app, &id(&first)).await, ["created", "updated", "deleted"]);

    assert_eq!(app.delete(&format!("/api/v1/incidents/{incident}")).await.status(), 204);
    assert_eq!(kinds(&app, &id(&extra)).await, ["created", "deleted"], "gone with its incident");
    let page: Value = app.get(&format!("/api/v1/events?entity_id={}", id(&extra))).await.json().await.unwrap();
    assert_eq!(page["items"][1]["entity_type"], "effort_entry");
    assert_eq!(page["items"][1]["changes"]["minutes"]["old"], 30);
    assert_problem(app.get(&path).await, 404, "not_found").await;
}

#[tokio::test]
async fn bad_minutes_phases_and_people_are_each_named_at_once() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let path = format!("/api/v1/incidents/{incident}/effort");
    let bad = json!({"person": "not an address", "phase": "lunch", "minutes": -5, "performed_on": "2026-02-30"});
    let problem = assert_problem(app.post(&path, &bad).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["person", "phase", "minutes", "performed_on"]);
    let fraction = json!({"person": "x", "phase": "lunch", "minutes": 1.5});
    let problem = assert_problem(app.post(&path, &fraction).await, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["minutes", "person", "phase"], "an unreadable number hides nothing else");

    let valid = json!({"person": "dana@example.com", "phase": "recovery", "minutes": 60});
    for (field, value) in [
        ("minutes", json!(0)),
        ("minutes", json!(-1)),
        ("minutes", json!(1.5)),
        ("minutes", json!(10_081)),
        ("minutes", json!(1e30)),
        ("minutes", json!("60")),
        ("minutes", Value::Null),
        ("phase", json!("Recovery")),
        ("phase", json!("post-incident")),
        ("person", json!("Dana <dana@example.com>")),
    ] {
        let mut body = valid.clone();
        body[field] = value;
        let problem = assert_problem(app.post(&path, &body).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
    let mut without = valid.clone();
    without.as_object_mut().unwrap().remove("minutes");
    assert_eq!(
        error_fields(&assert_problem(app.post(&path, &without).await, 422, "validation_failed").await),
        ["minutes"]
    );
    assert_eq!(
        spend(&app, &incident, json!({"person": "dana@example.com", "phase": "recovery", "minutes": 10_080})).await["minutes"],
        10_080
    );

    let entry = format!("/api/v1/effort/{}", id(&spend(&app, &incident, valid).await));
    let problem = assert_problem(
        app.patch(&entry, &json!({"minutes": 0, "phase": null, "person": "x", "note": " "})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["person", "phase", "minutes", "note"]);
}

#[tokio::test]
async fn viewers_read_editors_write_and_others_see_nothing() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let body = json!({"person": "dana@example.com", "phase": "analysis", "minutes": 30});
    let entry = format!("/api/v1/effort/{}", id(&spend(&app, &incident, body.clone()).await));
    let list = format!("/api/v1/incidents/{incident}/effort");
    let viewer = app.token("viewer@example.com", &[Role::Viewer]);
    let editor = app.token("editor@example.com", &[Role::Editor]);
    let nobody = app.token("dana@example.com", &[]);
    for (token, method, path, body, status) in [
        (&viewer, Method::GET, &list, None, 200),
        (&viewer, Method::POST, &list, Some(&body), 403),
        (&viewer, Method::PATCH, &entry, Some(&json!({"minutes": 40})), 403),
        (&viewer, Method::DELETE, &entry, None, 403),
        (&nobody, Method::GET, &list, None, 403),
        (&editor, Method::POST, &list, Some(&body), 201),
        (&editor, Method::PATCH, &entry, Some(&json!({"minutes": 40})), 200),
        (&editor, Method::DELETE, &entry, None, 204),
    ] {
        let response = app.request_as(Some(token), method.clone(), path, body).await;
        assert_eq!(response.status(), status, "{method} {path}");
    }
}

#[tokio::test]
async fn an_incident_holds_2000_entries() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let first = spend(&app, &incident, json!({"person": "dana@example.com", "phase": "analysis", "minutes": 1})).await;
    let ids: Vec<String> = (1..2000).map(|_| format!("('{}')", uuid::Uuid::now_v7())).collect();
    app.execute_sql(&format!(
        "INSERT INTO effort_entries (id, incident_id, person, phase, minutes, performed_on, note, created_at, \
         updated_at, version, created_by, updated_by) SELECT v.column1, e.incident_id, e.person, e.phase, e.minutes, \
         e.performed_on, e.note, e.created_at, e.updated_at, e.version, e.created_by, e.updated_by \
         FROM (VALUES {}) AS v, effort_entries e WHERE e.id = '{}'",
        ids.join(", "),
        id(&first)
    ));
    let full = app
        .post(
            &format!("/api/v1/incidents/{incident}/effort"),
            &json!({"person": "dana@example.com", "phase": "analysis", "minutes": 1}),
        )
        .await;
    assert_problem(full, 409, "conflict").await;
    let log: Value = app.get(&format!("/api/v1/incidents/{incident}/effort")).await.json().await.unwrap();
    assert_eq!((log["items"].as_array().unwrap().len(), log["total_minutes"].clone()), (2000, json!(2000)));
}
