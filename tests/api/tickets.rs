//! Links to tickets in other systems, and the upsert a ticketing system pushes its state with.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, error_fields, id, spawn_app};

#[tokio::test]
async fn a_ticket_links_to_one_action_and_finds_it() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let jira = json!([{"system": "Jira", "key": "SEC-1", "url": "https://jira.example.com/browse/SEC-1"}]);
    let action = app.create_action(&incident, json!({"external_refs": jira, "tags": ["mfa", "vpn"]})).await;
    assert_eq!(
        action["external_refs"],
        json!([{"system": "jira", "key": "SEC-1", "url": "https://jira.example.com/browse/SEC-1"}])
    );

    let found: Value = app.get("/api/v1/actions?external_system=jira&external_key=SEC-1").await.json().await.unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0], action, "a list shows each action as GET does, tags and tickets included");
    let none: Value = app.get("/api/v1/actions?external_system=jira&external_key=SEC-2").await.json().await.unwrap();
    assert_eq!(none["items"], json!([]));
    let half = app.get("/api/v1/actions?external_system=jira").await;
    assert_eq!(error_fields(&assert_problem(half, 422, "validation_failed").await), ["external_key"]);

    let body = json!({"title": "Other", "owner_email": "a@example.com", "due_date": "2030-01-01",
                      "external_refs": [{"system": "jira", "key": "SEC-1"}]});
    let taken = app.post(&format!("/api/v1/incidents/{incident}/actions"), &body).await;
    let problem = assert_problem(taken, 409, "conflict").await;
    assert!(problem["detail"].as_str().unwrap().contains("jira/SEC-1"), "{problem}");
    let other = app.create_action(&incident, json!({})).await;
    let steal = app
        .patch(
            &format!("/api/v1/actions/{}", id(&other)),
            &json!({"external_refs": [{"system": "jira", "key": "SEC-1"}]}),
        )
        .await;
    assert_problem(steal, 409, "conflict").await;
    let bad = app
        .patch(
            &format!("/api/v1/actions/{}", id(&other)),
            &json!({"external_refs": [{"system": "jira", "key": "a b", "url": "javascript:x"}]}),
        )
        .await;
    let problem = assert_problem(bad, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["external_refs[0].key", "external_refs[0].url"]);
}

/// Ticket names and tags are exactly what the spec's patterns say, so a client that checks its values
/// against the spec is never refused, and one that does not is never half-understood.
#[tokio::test]
async fn ticket_names_and_tags_are_the_plain_ascii_the_spec_states() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let odd = json!({"external_refs": [{"system": " jira", "key": "SÉC-1"}], "tags": ["sécurité", " mfa"]});
    let refused = app.post(&format!("/api/v1/incidents/{incident}/actions"), &merge_action(odd)).await;
    let problem = assert_problem(refused, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["tags[0]", "tags[1]", "external_refs[0].system", "external_refs[0].key"]);

    for query in ["external_system=%20jira&external_key=SEC-1", "tag=s%C3%A9curit%C3%A9", "sort=%20due_date"] {
        let listed = app.get(&format!("/api/v1/actions?{query}")).await;
        assert_problem(listed, 422, "validation_failed").await;
    }
    let upsert = app.request(Method::PUT, "/api/v1/actions/by-ref/jira/SEC%201", Some(&json!({}))).await;
    assert_eq!(error_fields(&assert_problem(upsert, 422, "validation_failed").await), ["key"]);

    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let reference = &spec["components"]["schemas"]["ExternalRefBody"]["properties"];
    assert_eq!(reference["system"]["pattern"], "^[A-Za-z0-9._-]{1,50}$");
    assert_eq!(reference["key"]["pattern"], "^[A-Za-z0-9._:#-]{1,100}$");
    let tags = &spec["components"]["schemas"]["CreateActionRequest"]["properties"]["tags"];
    assert_eq!(tags["items"]["pattern"], "^[A-Za-z0-9._:/-]{1,50}$");
}

fn merge_action(extra: Value) -> Value {
    let mut body = json!({"title": "Patch the VPN", "owner_email": "a@example.com", "due_date": "2030-01-01"});
    crate::helpers::merge(&mut body, extra);
    body
}

#[tokio::test]
async fn a_ticketing_system_creates_then_updates_its_action_by_reference() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let path = "/api/v1/actions/by-ref/jira/SEC-7";
    let missing = app.request(Method::PUT, path, Some(&json!({"title": "Rotate keys"}))).await;
    let problem = assert_problem(missing, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["incident_id", "owner_email", "due_date"]);

    let full = json!({"incident_id": incident, "title": "Rotate keys", "owner_email": "dana@example.com",
                      "due_date": "2030-01-01", "url": "https://jira.example.com/browse/SEC-7"});
    let created = app.request(Method::PUT, path, Some(&full)).await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = created.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/actions/{}", id(&created)));
    assert_eq!(created["external_refs"][0]["url"], "https://jira.example.com/browse/SEC-7");

    let again = app.request(Method::PUT, path, Some(&full)).await;
    assert_eq!(again.status(), 200, "pushing the same state again changes nothing");
    assert_eq!(again.json::<Value>().await.unwrap()["version"], 1);

    let later = app.request(Method::PUT, path, Some(&json!({"status": "in_progress", "due_date": "2030-02-01"}))).await;
    assert_eq!(later.status(), 200);
    let later: Value = later.json().await.unwrap();
    assert_eq!(
        (later["id"].clone(), later["status"].clone(), later["title"].clone()),
        (created["id"].clone(), json!("in_progress"), json!("Rotate keys"))
    );
    let history: Value = app.get(&format!("{location}/history")).await.json().await.unwrap();
    assert_eq!(history["items"][0]["reason"], "Changed in jira ticket SEC-7");
}

#[tokio::test]
async fn a_push_from_a_stale_ticket_does_not_undo_a_newer_change() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let path = "/api/v1/actions/by-ref/jira/SEC-9";
    let body = json!({"incident_id": incident, "title": "Rotate keys", "owner_email": "dana@example.com",
                      "due_date": "2030-01-01"});
    let never_pushed = app.builder(Method::PUT, path).header("If-Match", "\"1-20300101\"").json(&body).send().await;
    assert_problem(never_pushed.unwrap(), 412, "precondition_failed").await;

    let created = app.request(Method::PUT, path, Some(&body)).await;
    assert_eq!(created.status(), 201);
    let jira_copy = created.headers()["etag"].to_str().unwrap().to_owned();
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let done_here = app.request(Method::PATCH, &location, Some(&json!({"status": "in_progress"}))).await;
    assert_eq!(done_here.status(), 200);

    let stale = app.builder(Method::PUT, path).header("If-Match", &jira_copy).json(&json!({"status": "open"})).send();
    assert_problem(stale.await.unwrap(), 412, "precondition_failed").await;
    let action: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(action["status"], "in_progress", "the change made here stands");

    let current = app.get(&location).await.headers()["etag"].to_str().unwrap().to_owned();
    let fresh = app.builder(Method::PUT, path).header("If-Match", &current).json(&json!({"status": "blocked"})).send();
    assert_eq!(fresh.await.unwrap().status(), 200);
}

#[tokio::test]
async fn concurrent_pushes_for_one_ticket_create_one_action() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let body = json!({"incident_id": incident, "title": "Patch VPN", "owner_email": "a@example.com", "due_date": "2030-01-01"});
    let pushes: Vec<_> = (0..20)
        .map(|_| {
            let request = app.builder(Method::PUT, "/api/v1/actions/by-ref/servicenow/CHG0001").json(&body);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for push in pushes {
        *statuses.entry(push.await.unwrap()).or_default() += 1;
    }
    assert_eq!(statuses, BTreeMap::from([(200, 19), (201, 1)]));
    let linked: Value =
        app.get("/api/v1/actions?external_system=servicenow&external_key=CHG0001").await.json().await.unwrap();
    assert_eq!(linked["items"].as_array().unwrap().len(), 1);
    let all: Value = app.get(&format!("/api/v1/incidents/{incident}/actions")).await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
}
