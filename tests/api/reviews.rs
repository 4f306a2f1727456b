//! Lessons-learned reviews: the meeting, its answers, the actions it decides on (all or none), and the
//! review due date on incidents.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, error_fields, id, spawn_app};

#[tokio::test]
async fn a_review_records_the_meeting_and_its_answers_question_by_question() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let created = app
        .post(
            &format!("/api/v1/incidents/{incident}/reviews"),
            &json!({
                "scheduled_for": "2026-03-09T14:00:00Z", "facilitator_email": "Facilitator@Example.com",
                "attendees": [{"email": "dana@example.com", "name": "Dana Reyes", "role": "IT Security"}],
                "answers": {"what_happened": "Phishing", "when": "Monday morning"}
            }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let review: Value = created.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/reviews/{}", id(&review)));
    assert_eq!(review["status"], "scheduled");
    assert_eq!(review["held_at"], Value::Null);
    assert_eq!(review["facilitator_email"], "facilitator@example.com");
    assert_eq!(review["attendees"][0]["name"], "Dana Reyes");

    let held = app
        .patch(
            &location,
            &json!({"status": "held", "answers": {"when": null, "do_differently": "Page the on-call sooner"}}),
        )
        .await;
    assert_eq!(held.status(), 200);
    let held: Value = held.json().await.unwrap();
    assert!(held["held_at"].is_string(), "holding stamps held_at: {held}");
    assert_eq!(held["answers"]["what_happened"], "Phishing", "untouched answers stay");
    assert_eq!(held["answers"]["when"], Value::Null, "null clears an answer");
    assert_eq!(held["answers"]["do_differently"], "Page the on-call sooner");
    assert_eq!(held["version"], 2);

    let unknown = app.patch(&location, &json!({"answers": {"what_was_for_lunch": "pizza"}})).await;
    let problem = assert_problem(unknown, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["answers.what_was_for_lunch"], "named like an unknown top-level member");
    let bad_attendee = app.patch(&location, &json!({"attendees": [{"email": "not an address"}]})).await;
    let problem = assert_problem(bad_attendee, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["attendees[0].email"]);

    let list: Value = app.get(&format!("/api/v1/incidents/{incident}/reviews")).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let history: Value = app.get(&format!("/api/v1/incidents/{incident}/history")).await.json().await.unwrap();
    assert!(history["items"].is_array());
}

#[tokio::test]
async fn bulk_actions_from_a_review_are_created_all_or_none() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let review = id(&app.create_review(&incident, json!({})).await);
    let path = format!("/api/v1/reviews/{review}/actions");
    let item = |title: &str, owner: &str| json!({"title": title, "owner_email": owner, "due_date": "2030-01-01"});

    let one_bad = json!({"actions": [item("Train staff", "a@example.com"), item("Block domain", "not-an-address"),
                                     item("", "c@example.com")]});
    let problem = assert_problem(app.post(&path, &one_bad).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["actions[1].owner_email", "actions[2].title"]);
    let none: Value = app.get(&format!("/api/v1/incidents/{incident}/actions")).await.json().await.unwrap();
    assert_eq!(none["items"], json!([]), "nothing is created when one item is invalid");

    let good = json!({"actions": [item("Train staff", "a@example.com"), item("Block domain", "b@example.com")]});
    let created = app.post(&path, &good).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let items = created["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|a| a["review_id"] == review.as_str() && a["incident_id"] == incident.as_str()));
    let linked: Value = app.get(&format!("/api/v1/actions?review_id={review}")).await.json().await.unwrap();
    assert_eq!(linked["items"].as_array().unwrap().len(), 2);

    let other_incident = id(&app.create_incident(json!({})).await);
    let elsewhere =
        json!({"review_id": review, "title": "x", "owner_email": "a@example.com", "due_date": "2030-01-01"});
    let response = app.post(&format!("/api/v1/incidents/{other_incident}/actions"), &elsewhere).await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["review_id"], "an action names only a review of its own incident");
    let empty = app.post(&path, &json!({"actions": []})).await;
    assert_problem(empty, 422, "validation_failed").await;
}

#[tokio::test]
async fn the_review_is_due_two_weeks_after_resolution_until_one_is_held() {
    let app = spawn_app().await;
    let open = app.create_incident(json!({})).await;
    assert_eq!(open["review_due_date"], Value::Null);
    assert_eq!(open["review_overdue"], false);

    let resolved = app
        .create_incident(json!({"status": "resolved", "detected_at": "2026-03-01T08:00:00Z",
                                "resolved_at": "2026-03-02T12:00:00Z"}))
        .await;
    assert_eq!(resolved["review_due_date"], "2026-03-16");
    assert_eq!(resolved["review_overdue"], true, "today is long after 2026-03-16");
    let path = format!("/api/v1/incidents/{}", id(&resolved));
    let before = app.get(&path).await.headers()["etag"].to_str().unwrap().to_owned();

    let review = id(&app.create_review(&id(&resolved), json!({})).await);
    let still: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(still["review_overdue"], true, "a planned review is not a held one");
    app.patch(&format!("/api/v1/reviews/{review}"), &json!({"status": "completed"})).await;
    let after = app.get(&path).await;
    let etag = after.headers()["etag"].to_str().unwrap().to_owned();
    let after: Value = after.json().await.unwrap();
    assert_eq!(after["review_overdue"], false);
    assert_ne!(etag, before, "a cached copy showing the review overdue is no longer current");
    let conditional = app.request_as(Some(&app.admin_token), Method::GET, &path, None).await;
    assert_eq!(conditional.status(), 200);
}

/// serde would read a struct from an array, member by member; the API's objects must be objects.
#[tokio::test]
async fn answers_and_bodies_must_be_json_objects() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let review = app.create_review(&incident, json!({})).await;
    let path = format!("/api/v1/reviews/{}", id(&review));

    let listed = app.patch(&path, &json!({"answers": [null, null]})).await;
    assert_eq!(error_fields(&assert_problem(listed, 422, "validation_failed").await), ["answers"]);
    let bare_array = app.patch(&path, &json!([null, "held"])).await;
    assert_eq!(error_fields(&assert_problem(bare_array, 422, "validation_failed").await), ["body"]);
    let unchanged: serde_json::Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged["version"], review["version"]);

    let answered = app.patch(&path, &json!({"answers": {"what_happened": "Phishing"}})).await;
    assert_eq!(answered.status(), 200);
}

#[tokio::test]
async fn a_review_moved_back_to_scheduled_is_no_longer_held() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let review = app.create_review(&incident, json!({"status": "held"})).await;
    assert!(review["held_at"].is_string());
    let path = format!("/api/v1/reviews/{}", id(&review));
    let response = app.patch(&path, &json!({"status": "scheduled"})).await;
    assert_eq!(response.status(), 200);
    let again: Value = response.json().await.unwrap();
    assert_eq!((again["status"].as_str(), &again["held_at"]), (Some("scheduled"), &Value::Null));
}

/// The last free place among an incident's 50 reviews, asked for by ten requests at once, goes to one.
#[tokio::test]
async fn concurrent_reviews_do_not_pass_the_limit_of_fifty() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    for _ in 0..49 {
        app.create_review(&incident, json!({})).await;
    }
    let path = format!("/api/v1/incidents/{incident}/reviews");
    let requests: Vec<_> = (0..10)
        .map(|_| {
            let request = app.builder(Method::POST, &path).json(&json!({"facilitator_email": "f@example.com"}));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    let reviews: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(reviews["items"].as_array().map(Vec::len), Some(50));
}
