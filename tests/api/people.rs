//! The people directory and a person's queue.

use action_tracker::domain::principal::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, error_fields, id, spawn_app};

#[tokio::test]
async fn put_creates_then_replaces_and_refuses_what_cannot_work() {
    let app = spawn_app().await;
    let path = "/api/v1/people/Dana@Example.com";
    let created = app.request(Method::PUT, path, Some(&json!({"name": "Dana", "timezone": "Pacific/Auckland"}))).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["email"], "dana@example.com");
    assert_eq!(created["active"], true);
    let replaced =
        app.request(Method::PUT, path, Some(&json!({"name": "Dana Reyes", "manager_email": "m@example.com"}))).await;
    assert_eq!(replaced.status(), 200);
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(replaced["timezone"], Value::Null, "PUT replaces the whole entry");
    assert_eq!(replaced["version"], 2);

    let bad = app
        .request(Method::PUT, path, Some(&json!({"timezone": "Mars/Olympus", "manager_email": "Dana@example.com"})))
        .await;
    let problem = assert_problem(bad, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["timezone"]);
    let own_manager = app.request(Method::PUT, path, Some(&json!({"manager_email": "DANA@example.com"}))).await;
    assert_eq!(error_fields(&assert_problem(own_manager, 422, "validation_failed").await), ["manager_email"]);
    let not_an_address = app.request(Method::PUT, "/api/v1/people/dana", Some(&json!({}))).await;
    assert_problem(not_an_address, 422, "validation_failed").await;

    for n in 0..3 {
        app.put_person(&format!("p{n}@example.com"), json!({"active": n != 1})).await;
    }
    let first: Value = app.get("/api/v1/people?limit=2").await.json().await.unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = first["next_cursor"].as_str().unwrap();
    let rest: Value = app.get(&format!("/api/v1/people?limit=2&cursor={next}")).await.json().await.unwrap();
    let emails: Vec<&str> = rest["items"].as_array().unwrap().iter().map(|p| p["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["p1@example.com", "p2@example.com"]);
    let inactive: Value = app.get("/api/v1/people?active=false").await.json().await.unwrap();
    assert_eq!(inactive["items"][0]["email"], "p1@example.com");
}

#[tokio::test]
async fn a_person_reads_their_own_queue_and_inactive_owners_are_flagged() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let gone = app.create_action(&incident, json!({"owner_email": "gone@example.com"})).await;
    app.create_action(&incident, json!({"owner_email": "stays@example.com"})).await;
    assert_eq!(gone["owner_inactive"], false);
    app.put_person("gone@example.com", json!({"active": false, "manager_email": "boss@example.com"})).await;

    let action: Value = app.get(&format!("/api/v1/actions/{}", id(&gone))).await.json().await.unwrap();
    assert_eq!(action["owner_inactive"], true, "nothing owned by someone who left goes unnoticed");
    let orphaned: Value = app.get("/api/v1/actions?owner_inactive=true").await.json().await.unwrap();
    let owners: Vec<&str> =
        orphaned["items"].as_array().unwrap().iter().map(|a| a["owner_email"].as_str().unwrap()).collect();
    assert_eq!(owners, ["gone@example.com"]);
    assert_eq!(orphaned["items"][0], action, "a list says the owner left, as GET does");

    let own = app.token("stays@example.com", &[]);
    let queue = app.request_as(Some(&own), Method::GET, "/api/v1/people/stays@example.com/actions", None).await;
    assert_eq!(queue.status(), 200);
    let queue: Value = queue.json().await.unwrap();
    assert_eq!(queue["items"].as_array().unwrap().len(), 1);
    let other = app.request_as(Some(&own), Method::GET, "/api/v1/people/gone@example.com/actions", None).await;
    assert_problem(other, 403, "forbidden").await;
    let viewer = app.token("v@example.com", &[Role::Viewer]);
    let not_listed = app.request_as(Some(&viewer), Method::GET, "/api/v1/people/nobody@example.com", None).await;
    assert_problem(not_listed, 404, "not_found").await;
}

/// Whether an owner left is kept with each action: an action given to someone who left says so at once,
/// whether created or reassigned, and someone who returns unflags all of theirs, without a new version.
#[tokio::test]
async fn leaving_and_returning_flag_every_action_of_the_owner_without_changing_its_version() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let before = app.create_action(&incident, json!({"owner_email": "gone@example.com"})).await;
    app.put_person("gone@example.com", json!({"active": false})).await;
    let created = app.create_action(&incident, json!({"owner_email": "gone@example.com"})).await;
    assert_eq!(created["owner_inactive"], true, "created for someone who left");
    let other = app.create_action(&incident, json!({"owner_email": "stays@example.com"})).await;
    let reassigned: Value = app
        .patch(&format!("/api/v1/actions/{}", id(&other)), &json!({"owner_email": "gone@example.com"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reassigned["owner_inactive"], true, "given to someone who left");

    let flags = |app_actions: Vec<Value>| -> Vec<(bool, i64)> {
        app_actions.iter().map(|a| (a["owner_inactive"].as_bool().unwrap(), a["version"].as_i64().unwrap())).collect()
    };
    let mut left = Vec::new();
    for action in [&before, &created, &other] {
        left.push(app.get(&format!("/api/v1/actions/{}", id(action))).await.json::<Value>().await.unwrap());
    }
    assert_eq!(flags(left), [(true, 1), (true, 1), (true, 2)]);

    app.put_person("gone@example.com", json!({"active": true})).await;
    let mut back = Vec::new();
    for action in [&before, &created, &other] {
        back.push(app.get(&format!("/api/v1/actions/{}", id(action))).await.json::<Value>().await.unwrap());
    }
    assert_eq!(flags(back), [(false, 1), (false, 1), (false, 2)], "returned: no action says they left");
}
