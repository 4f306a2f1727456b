//! Verification: someone other than the owner confirms that a done action really was done.

use action_tracker::domain::principal::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, id, spawn_app};

#[tokio::test]
async fn only_done_actions_are_verified_never_by_their_owner_and_reopening_clears_it() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({"owner_email": "dana@example.com"})).await;
    let path = format!("/api/v1/actions/{}", id(&action));
    let verify = format!("{path}/verify");
    let evidence = json!({"evidence": "Checked the IdP: FIDO2 enforced for all finance accounts"});

    let not_done = app.post(&verify, &evidence).await;
    assert_problem(not_done, 409, "conflict").await;

    app.patch(&path, &json!({"status": "done", "resolution": "Keys issued"})).await;
    let owner_editor = app.token("dana@example.com", &[Role::Editor]);
    let own_work = app.request_as(Some(&owner_editor), Method::POST, &verify, Some(&evidence)).await;
    assert_problem(own_work, 403, "forbidden").await;
    let blank = app.post(&verify, &json!({"evidence": "  "})).await;
    assert_problem(blank, 422, "validation_failed").await;

    let verifier = app.token("sam@example.com", &[Role::Editor]);
    let verified = app.request_as(Some(&verifier), Method::POST, &verify, Some(&evidence)).await;
    assert_eq!(verified.status(), 200);
    let verified: Value = verified.json().await.unwrap();
    assert_eq!(verified["verified_by"], "sam@example.com");
    assert!(verified["verified_at"].is_string());
    assert_eq!(verified["verification_evidence"], evidence["evidence"]);
    let listed: Value = app.get("/api/v1/actions?status=done&verified=true").await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let history: Value = app.get(&format!("{path}/history")).await.json().await.unwrap();
    assert_eq!(history["items"][0]["kind"], "verified");
    assert_eq!(history["items"][0]["changes"]["verified_by"]["new"], "sam@example.com");

    let reopened = app.patch(&path, &json!({"status": "in_progress"})).await;
    let reopened: Value = reopened.json().await.unwrap();
    assert_eq!(reopened["verified_at"], Value::Null, "reopening voids the verification");
    assert_eq!(reopened["verified_by"], Value::Null);
    let unverified: Value = app.get("/api/v1/actions?verified=false").await.json().await.unwrap();
    assert_eq!(unverified["items"].as_array().unwrap().len(), 1);
    assert_problem(app.get("/api/v1/actions?verified=maybe").await, 422, "validation_failed").await;
}
