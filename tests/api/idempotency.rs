//! `Idempotency-Key`: retries get the first answer, never a second resource.

use std::collections::{BTreeMap, BTreeSet};

use action_tracker::domain::principal::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn post_with_key(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn incident_count(app: &TestApp) -> usize {
    let page: Value = app.get("/api/v1/incidents?limit=200").await.json().await.unwrap();
    page["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_retry_gets_the_first_response_and_creates_nothing() {
    let app = spawn_app().await;
    let body = json!({"title": "Lost laptop", "severity": "low"});
    let first = post_with_key(&app, &app.admin_token, "retry-1", &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let etag = first.headers()["etag"].clone();
    let first: Value = first.json().await.unwrap();

    let retry = post_with_key(&app, &app.admin_token, "retry-1", &body).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.headers()["location"], location);
    assert_eq!(retry.headers()["etag"], etag);
    assert_eq!(retry.json::<Value>().await.unwrap(), first, "the same body");
    assert_eq!(incident_count(&app).await, 1);

    let changed = post_with_key(&app, &app.admin_token, "retry-1", &json!({"title": "Other", "severity": "low"})).await;
    assert_problem(changed, 422, "idempotency_key_reused").await;

    // Keys belong to their caller: another caller's identical key is a different request.
    let editor = app.token("editor@example.com", &[Role::Editor]);
    assert_eq!(post_with_key(&app, &editor, "retry-1", &body).await.status(), 201);
    assert_eq!(incident_count(&app).await, 2);

    // A refusal is an answer too, and replayed as such.
    let invalid = json!({"title": "", "severity": "low"});
    assert_eq!(post_with_key(&app, &app.admin_token, "retry-2", &invalid).await.status(), 422);
    let again = post_with_key(&app, &app.admin_token, "retry-2", &invalid).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_problem(again, 422, "validation_failed").await;

    let too_long = post_with_key(&app, &app.admin_token, &"k".repeat(256), &body).await;
    assert_problem(too_long, 400, "bad_request").await;
    let without = app.request(Method::POST, "/api/v1/incidents", Some(&body)).await;
    assert_eq!(without.status(), 201, "no key, no idempotency: a second incident");
}

#[tokio::test]
async fn fifty_concurrent_retries_create_exactly_one_resource() {
    let app = spawn_app().await;
    let body = json!({"title": "Ransomware", "severity": "critical"});
    let retries: Vec<_> = (0..50)
        .map(|_| {
            let request = app
                .client
                .post(app.url("/api/v1/incidents"))
                .bearer_auth(&app.admin_token)
                .header("Idempotency-Key", "storm")
                .json(&body);
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for retry in retries {
        let (status, body) = retry.await.unwrap();
        *statuses.entry(status).or_default() += 1;
        match status {
            201 => {
                ids.insert(body["id"].as_str().unwrap().to_owned());
            }
            409 => assert_eq!(body["code"], "idempotency_key_in_use"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "every success is the same incident: {statuses:?}");
    assert_eq!(incident_count(&app).await, 1);
}
