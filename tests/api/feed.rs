//! The change feed: a poller sees every change exactly once, in commit order, while writers are busy.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, id, spawn_app};

async fn poll(app: &TestApp, after: &str) -> (Vec<Value>, String) {
    let page: Value = app.get(&format!("/api/v1/events?after={after}&limit=7")).await.json().await.unwrap();
    (page["items"].as_array().unwrap().clone(), page["next_cursor"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_poller_sees_every_change_once_in_order_while_writers_are_busy() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let client = app.client.clone();
            let url = app.url(&format!("/api/v1/incidents/{incident}/actions"));
            let token = app.admin_token.clone();
            tokio::spawn(async move {
                for n in 0..5 {
                    let body = json!({"title": format!("w{w} n{n}"), "owner_email": "a@example.com", "due_date": "2030-01-01"});
                    let response = client.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
                    assert_eq!(response.status(), 201);
                }
            })
        })
        .collect();

    let mut seen: Vec<Value> = Vec::new();
    let mut cursor = String::new();
    let mut writing = true;
    while writing {
        writing = !writers.iter().all(|w| w.is_finished());
        let (items, next) = poll(&app, &cursor).await;
        seen.extend(items);
        cursor = next;
    }
    loop {
        let (items, next) = poll(&app, &cursor).await;
        if items.is_empty() {
            assert_eq!(next, cursor, "an empty page keeps the cursor");
            break;
        }
        seen.extend(items);
        cursor = next;
    }

    let positions: Vec<i64> = seen.iter().map(|e| e["position"].as_i64().unwrap()).collect();
    assert_eq!(positions, (1..=41).collect::<Vec<_>>(), "one incident and 40 actions, each once, in order");
    let ids: BTreeSet<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 41);
    assert_eq!(seen[0]["entity_type"], "incident");
    assert!(seen[1..].iter().all(|e| e["entity_type"] == "action" && e["kind"] == "created"));

    let restarted: Value = app.get("/api/v1/events?after=40").await.json().await.unwrap();
    assert_eq!(restarted["items"].as_array().unwrap().len(), 1, "a stored cursor resumes where it left off");
    assert_problem(app.get("/api/v1/events?after=yesterday").await, 422, "validation_failed").await;
}
