//! The rules every value a client sends is held to, the same on both backends: strict dates and times,
//! addresses the mailer can send to, no invisible or text-direction characters, no NUL anywhere, and
//! every bad field named in one answer.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, error_fields, id, spawn_app};

fn messages(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap().to_owned(), e["message"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn every_bad_field_is_named_in_one_answer_and_an_impossible_day_says_so() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let path = format!("/api/v1/incidents/{}/actions", id(&incident));
    let body = json!({"title": " ", "owner_email": "dana", "due_date": "2026-02-30", "priority": "urgent",
                      "tags": ["ok", 5]});
    let problem = assert_problem(app.post(&path, &body).await, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["due_date", "owner_email", "priority", "tags[1]", "title"]);
    let due = messages(&problem).into_iter().find(|(field, _)| field == "due_date").unwrap();
    assert_eq!(due.1, "2026-02-30 is not a calendar date");

    // The same in a merge-patch, and in a time.
    let action = app.create_action(&id(&incident), json!({})).await;
    let patch = json!({"due_date": "2026-04-31", "status": "finished", "snoozed_until": 7});
    let problem =
        assert_problem(app.patch(&format!("/api/v1/actions/{}", id(&action)), &patch).await, 422, "validation_failed")
            .await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["due_date", "snoozed_until", "status"]);
    let entry = json!({"occurred_at": "2026-02-29T10:00:00Z", "description": " "});
    let problem = assert_problem(
        app.post(&format!("/api/v1/incidents/{}/timeline", id(&incident)), &entry).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        messages(&problem),
        [
            ("description".to_owned(), "must not be empty".to_owned()),
            ("occurred_at".to_owned(), "2026-02-29 is not a calendar date".to_owned())
        ]
    );
}

#[tokio::test]
async fn dates_are_yyyy_mm_dd_and_times_rfc_3339_only() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let actions = format!("/api/v1/incidents/{}/actions", id(&incident));
    for loose in ["2026-1-1", "2026-01-1", "2026-1-01", "+2026-01-01", "2026-01-01T00:00:00Z"] {
        let body = json!({"title": "t", "owner_email": "dana@example.com", "due_date": loose});
        let problem = assert_problem(app.post(&actions, &body).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["due_date"], "{loose}");
    }
    let action = app.create_action(&id(&incident), json!({})).await;
    let snooze = app.patch(&format!("/api/v1/actions/{}", id(&action)), &json!({"snoozed_until": "2030-2-1"})).await;
    assert_eq!(error_fields(&assert_problem(snooze, 422, "validation_failed").await), ["snoozed_until"]);

    let timeline = format!("/api/v1/incidents/{}/timeline", id(&incident));
    for loose in ["2026-11-02 08:15:00Z", "2026-11-2T08:15:00Z", "2026-11-02T08:15Z", "2026-11-02T08:15:00"] {
        let body = json!({"occurred_at": loose, "description": "EDR alert"});
        let problem = assert_problem(app.post(&timeline, &body).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["occurred_at"], "{loose}");
    }
    let incident_patch = app
        .patch(&format!("/api/v1/incidents/{}", id(&incident)), &json!({"contained_at": "2026-11-02 09:00:00+01:00"}))
        .await;
    assert_eq!(error_fields(&assert_problem(incident_patch, 422, "validation_failed").await), ["contained_at"]);
    let list = app.get("/api/v1/actions?due_before=2030-1-1").await;
    assert_eq!(error_fields(&assert_problem(list, 422, "validation_failed").await), ["due_before"]);
}

#[tokio::test]
async fn addresses_the_mailer_cannot_send_to_are_refused_wherever_an_address_is_taken() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let unsendable = "\"a b\"@example.com";
    let body = json!({"title": "t", "owner_email": unsendable, "due_date": "2030-01-15"});
    let problem = assert_problem(
        app.post(&format!("/api/v1/incidents/{}/actions", id(&incident)), &body).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["owner_email"]);

    let person = app
        .request(reqwest::Method::PUT, "/api/v1/people/dana@example.com", Some(&json!({"manager_email": unsendable})))
        .await;
    assert_eq!(error_fields(&assert_problem(person, 422, "validation_failed").await), ["manager_email"]);

    let review = json!({"facilitator_email": unsendable, "scribe_email": "sam@[192.0.2.1]",
                        "attendees": [{"email": unsendable}]});
    let problem = assert_problem(
        app.post(&format!("/api/v1/incidents/{}/reviews", id(&incident)), &review).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["facilitator_email", "scribe_email", "attendees[0].email"]);
}

#[tokio::test]
async fn invisible_and_text_direction_characters_are_refused_in_what_reaches_a_subject() {
    let app = spawn_app().await;
    // Shown as "Rotate keys [exe.pdf]": the override turns what follows around.
    let spoofed = json!({"title": "Rotate keys [\u{202E}fdp.exe]", "severity": "low"});
    let problem = assert_problem(app.post("/api/v1/incidents", &spoofed).await, 422, "validation_failed").await;
    assert_eq!(
        messages(&problem),
        [("title".to_owned(), "must not contain invisible or text-direction characters (found U+202E)".to_owned())]
    );
    let incident = app.create_incident(json!({})).await;
    let actions = format!("/api/v1/incidents/{}/actions", id(&incident));
    for hidden in ['\u{202A}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{200D}', '\u{200F}', '\u{FEFF}'] {
        let body = json!({"title": format!("Rotate{hidden} keys"), "owner_email": "dana@example.com",
                          "due_date": "2030-01-15", "owner_name": format!("Dana{hidden}")});
        let problem = assert_problem(app.post(&actions, &body).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["title", "owner_name"], "U+{:04X}", u32::from(hidden));
    }
    // Long text keeps the joiners that scripts and emoji need, not the overrides.
    let persian = app.create_action(&id(&incident), json!({"description": "می\u{200C}خواهم 👩\u{200D}💻"})).await;
    assert_eq!(persian["description"], "می\u{200C}خواهم 👩\u{200D}💻");
    let body = json!({"title": "t", "owner_email": "dana@example.com", "due_date": "2030-01-15",
                      "description": "see \u{2067}attached\u{2069}"});
    assert_eq!(
        error_fields(&assert_problem(app.post(&actions, &body).await, 422, "validation_failed").await),
        ["description"]
    );
}

#[tokio::test]
async fn a_nul_character_is_refused_in_every_string_on_both_backends() {
    let app = spawn_app().await;
    let hook = json!({"url": "https://jira-bridge.example.com/hooks", "events": ["action.created"],
                      "secret": "0123456789abcdef\u{0}"});
    let problem = assert_problem(app.post("/api/v1/webhooks", &hook).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["secret"]);

    let incident = app.create_incident(json!({})).await;
    let bodies = [
        ("/api/v1/incidents".to_owned(), json!({"title": "t\u{0}", "severity": "low"}), "title"),
        (
            format!("/api/v1/incidents/{}/actions", id(&incident)),
            json!({"title": "t", "owner_email": "dana@example.com", "due_date": "2030-01-15", "description": "a\u{0}b"}),
            "description",
        ),
        (
            format!("/api/v1/incidents/{}/timeline", id(&incident)),
            json!({"occurred_at": "2026-11-02T08:15:00Z", "description": "EDR", "source": "\u{0}"}),
            "source",
        ),
    ];
    for (path, body, field) in bodies {
        let problem = assert_problem(app.post(&path, &body).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [field], "{path}");
    }
    // Query parameters are text too.
    for query in ["/api/v1/actions?q=%00", "/api/v1/actions?team=a%00", "/api/v1/incidents?q=%00"] {
        let response = app.get(query).await;
        let status = response.status().as_u16();
        assert!(matches!(status, 400 | 422), "{query}: {status}");
    }
}

#[tokio::test]
async fn a_dry_run_far_ahead_answers_alike_on_both_backends_and_beyond_due_dates_is_refused() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    app.create_action(&id(&incident), json!({})).await;
    // 2199-12-31 is a Tuesday: within sending hours, the action has been overdue for 170 years.
    let far = app.post("/api/v1/reminders/run", &json!({"dry_run": true, "as_of": "2199-12-31T10:00:00Z"})).await;
    assert_eq!(far.status(), 200);
    let far: Value = far.json().await.unwrap();
    let mut recipients: Vec<&str> =
        far["emails"].as_array().unwrap().iter().map(|e| e["recipient"].as_str().unwrap()).collect();
    recipients.sort();
    assert_eq!(recipients, ["ciso@example.com", "dana@example.com"], "{far}");

    for beyond in ["9999-12-31T10:00:00Z", "2200-01-01T10:00:00Z", "1999-12-31T10:00:00Z"] {
        let response = app.post("/api/v1/reminders/run", &json!({"dry_run": true, "as_of": beyond})).await;
        assert_eq!(error_fields(&assert_problem(response, 422, "validation_failed").await), ["as_of"], "{beyond}");
    }
}
