use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, id, spawn_app};

#[tokio::test]
async fn a_current_etag_gets_304_and_a_stale_one_gets_the_new_copy() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let action = app.create_action(&id(&incident), json!({})).await;
    for path in [format!("/api/v1/actions/{}", id(&action)), format!("/api/v1/incidents/{}", id(&incident))] {
        let first = app.get(&path).await;
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "a strong ETag: {etag}");

        let cached = app.builder(Method::GET, &path).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(cached.status(), 304);
        assert_eq!(cached.headers()["etag"].to_str().unwrap(), etag);
        assert!(cached.bytes().await.unwrap().is_empty());

        assert_eq!(app.patch(&path, &json!({"title": "Renamed"})).await.status(), 200);
        let fresh = app.builder(Method::GET, &path).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(fresh.status(), 200);
        assert_ne!(fresh.headers()["etag"].to_str().unwrap(), etag);
        assert_eq!(fresh.json::<Value>().await.unwrap()["title"], "Renamed");
    }
}

#[tokio::test]
async fn a_write_answers_with_what_it_changed_whatever_if_none_match_says() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let action = app.create_action(&id(&incident), json!({})).await;
    let path = format!("/api/v1/actions/{}", id(&action));
    let patched =
        app.builder(Method::PATCH, &path).header("If-None-Match", "*").json(&json!({"team": "Network"})).send();
    let patched = patched.await.unwrap();
    assert_eq!(patched.status(), 200, "the change was made; a 304 would hide it");
    assert_eq!(patched.json::<Value>().await.unwrap()["team"], "Network");
}

#[tokio::test]
async fn a_stale_if_match_changes_nothing() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let action = app.create_action(&id(&incident), json!({})).await;
    let path = format!("/api/v1/actions/{}", id(&action));
    let original_etag = app.get(&path).await.headers()["etag"].to_str().unwrap().to_owned();

    let patch_if_match =
        |etag: String, body: Value| app.builder(Method::PATCH, &path).header("If-Match", etag).json(&body).send();
    let response = patch_if_match(original_etag.clone(), json!({"status": "in_progress"})).await.unwrap();
    assert_eq!(response.status(), 200);

    let stale = patch_if_match(original_etag.clone(), json!({"status": "blocked"})).await.unwrap();
    assert_problem(stale, 412, "precondition_failed").await;
    let stale_delete = app.builder(Method::DELETE, &path).header("If-Match", &original_etag).send().await.unwrap();
    assert_problem(stale_delete, 412, "precondition_failed").await;

    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(current["status"], "in_progress");
    assert_eq!(current["version"], 2);

    // An empty If-Match names no version: it is read as no condition, not as one that always fails.
    let empty = patch_if_match(String::new(), json!({"team": "Network"})).await.unwrap();
    assert_eq!(empty.status(), 200);
    let new_etag = empty.headers()["etag"].to_str().unwrap().to_owned();

    let delete = app.builder(Method::DELETE, &path).header("If-Match", &new_etag).send().await.unwrap();
    assert_eq!(delete.status(), 204);
}

#[tokio::test]
async fn concurrent_patches_with_one_etag_let_exactly_one_through() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let action = app.create_action(&id(&incident), json!({})).await;
    let path = format!("/api/v1/actions/{}", id(&action));
    let etag = app.get(&path).await.headers()["etag"].to_str().unwrap().to_owned();

    let attempts = (0..100).map(|n| {
        app.builder(Method::PATCH, &path).header("If-Match", &etag).json(&json!({"team": format!("team {n}")})).send()
    });
    let statuses: Vec<u16> =
        futures::future::join_all(attempts).await.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 412).count(), 99, "{statuses:?}");
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(current["version"], 2);
    let history: Value = app.get(&format!("{path}/history")).await.json().await.unwrap();
    let kinds: Vec<&str> = history["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k != "created").count(), 1, "one change in the history: {kinds:?}");
}

#[tokio::test]
async fn concurrent_patches_without_if_match_all_apply() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let action = app.create_action(&id(&incident), json!({})).await;
    let path = format!("/api/v1/actions/{}", id(&action));
    let bodies: Vec<Value> = (0..6).map(|n| json!({"owner_name": format!("Owner {n}")})).collect();
    let attempts = bodies.iter().map(|body| app.patch(&path, body));
    let responses = futures::future::join_all(attempts).await;
    assert!(responses.iter().all(|r| r.status() == 200));
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(current["version"], 7, "no update was lost");
}

#[tokio::test]
async fn a_dashboard_revalidating_an_action_learns_that_its_owner_left() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let action = app.create_action(&id(&incident), json!({"owner_email": "leaver@example.com"})).await;
    let path = format!("/api/v1/actions/{}", id(&action));
    let etag = app.get(&path).await.headers()["etag"].to_str().unwrap().to_owned();

    app.put_person("leaver@example.com", json!({"active": false})).await;
    let revalidated = app.builder(Method::GET, &path).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(revalidated.status(), 200, "the copy says the owner is still here");
    let new_etag = revalidated.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(revalidated.json::<Value>().await.unwrap()["owner_inactive"], true);

    let cached = app.builder(Method::GET, &path).header("If-None-Match", &new_etag).send().await.unwrap();
    assert_eq!(cached.status(), 304, "the new copy is current until something changes again");

    // The owner leaving changes no field of the action itself: a guarded update with the tag from before
    // still applies, as it would for any tag of the same version.
    let guarded = app.builder(Method::PATCH, &path).header("If-Match", &etag).json(&json!({"status": "in_progress"}));
    assert_eq!(guarded.send().await.unwrap().status(), 200);

    app.put_person("leaver@example.com", json!({"active": true})).await;
    let back: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(back["owner_inactive"], false);
}
