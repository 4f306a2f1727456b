//! The role matrix: every route, called by each kind of caller, answers exactly the expected status.
//! A route without a row here fails the test, so no route ships without its authorization decided.

use std::collections::BTreeSet;

use action_tracker::domain::principal::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, id, spawn_app};

const OWNER: &str = "owner@example.com";

/// Columns: no token, viewer, editor, admin, the action's owner (no role), another owner (no role).
const MATRIX: &[(&str, &str, [u16; 6])] = &[
    ("GET", "/healthz", [200, 200, 200, 200, 200, 200]),
    ("GET", "/readyz", [200, 200, 200, 200, 200, 200]),
    ("GET", "/metrics", [401, 200, 200, 200, 403, 403]),
    ("POST", "/api/v1/incidents", [401, 403, 201, 201, 403, 403]),
    ("GET", "/api/v1/incidents", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/incidents/{id}", [401, 200, 200, 200, 403, 403]),
    ("PATCH", "/api/v1/incidents/{id}", [401, 403, 200, 200, 403, 403]),
    ("DELETE", "/api/v1/incidents/{id}", [401, 403, 403, 204, 403, 403]),
    ("POST", "/api/v1/incidents/{id}/actions", [401, 403, 201, 201, 403, 403]),
    ("GET", "/api/v1/incidents/{id}/actions", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/incidents/{id}/history", [401, 200, 200, 200, 403, 403]),
    ("POST", "/api/v1/actions", [401, 403, 201, 201, 403, 403]),
    ("GET", "/api/v1/actions", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/actions/{id}", [401, 200, 200, 200, 200, 403]),
    ("PATCH", "/api/v1/actions/{id}", [401, 403, 200, 200, 200, 403]),
    ("DELETE", "/api/v1/actions/{id}", [401, 403, 403, 204, 403, 403]),
    ("GET", "/api/v1/actions/{id}/history", [401, 200, 200, 200, 200, 403]),
    ("GET", "/api/v1/events", [401, 200, 200, 200, 403, 403]),
    ("POST", "/api/v1/actions/{id}/comments", [401, 403, 201, 201, 201, 403]),
    ("GET", "/api/v1/actions/{id}/comments", [401, 200, 200, 200, 200, 403]),
    ("POST", "/api/v1/reminders/run", [401, 403, 403, 200, 403, 403]),
    ("GET", "/api/v1/deliveries", [401, 403, 403, 200, 403, 403]),
    ("POST", "/api/v1/deliveries/{id}/redeliver", [401, 403, 403, 202, 403, 403]),
    ("GET", "/api/v1/actions/{id}/reminders", [401, 200, 200, 200, 200, 403]),
    ("POST", "/api/v1/actions/{id}/remind", [401, 403, 202, 202, 403, 403]),
    // Nobody verifies their own work: the owner is refused even with the editor role (see verification.rs).
    ("POST", "/api/v1/actions/{id}/verify", [401, 403, 200, 200, 403, 403]),
    // The editor's push creates the action linked to the ticket, the admin's updates it.
    ("PUT", "/api/v1/actions/by-ref/{system}/{key}", [401, 403, 201, 200, 403, 403]),
    ("POST", "/api/v1/incidents/{id}/reviews", [401, 403, 201, 201, 403, 403]),
    ("GET", "/api/v1/incidents/{id}/reviews", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/reviews/{id}", [401, 200, 200, 200, 403, 403]),
    ("PATCH", "/api/v1/reviews/{id}", [401, 403, 200, 200, 403, 403]),
    ("POST", "/api/v1/reviews/{id}/actions", [401, 403, 201, 201, 403, 403]),
    ("POST", "/api/v1/incidents/{id}/timeline", [401, 403, 201, 201, 403, 403]),
    ("GET", "/api/v1/incidents/{id}/timeline", [401, 200, 200, 200, 403, 403]),
    ("PATCH", "/api/v1/timeline/{id}", [401, 403, 200, 200, 403, 403]),
    ("DELETE", "/api/v1/timeline/{id}", [401, 403, 204, 204, 403, 403]),
    ("POST", "/api/v1/incidents/{id}/indicators", [401, 403, 201, 201, 403, 403]),
    ("GET", "/api/v1/incidents/{id}/indicators", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/indicators", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/indicators/{id}", [401, 200, 200, 200, 403, 403]),
    ("PATCH", "/api/v1/indicators/{id}", [401, 403, 200, 200, 403, 403]),
    ("DELETE", "/api/v1/indicators/{id}", [401, 403, 204, 204, 403, 403]),
    ("POST", "/api/v1/incidents/{id}/evidence", [401, 403, 201, 201, 403, 403]),
    ("GET", "/api/v1/incidents/{id}/evidence", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/evidence/{id}", [401, 200, 200, 200, 403, 403]),
    ("PATCH", "/api/v1/evidence/{id}", [401, 403, 200, 200, 403, 403]),
    ("POST", "/api/v1/evidence/{id}/custody", [401, 403, 201, 201, 403, 403]),
    ("POST", "/api/v1/incidents/{id}/effort", [401, 403, 201, 201, 403, 403]),
    ("GET", "/api/v1/incidents/{id}/effort", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/effort/{id}", [401, 200, 200, 200, 403, 403]),
    ("PATCH", "/api/v1/effort/{id}", [401, 403, 200, 200, 403, 403]),
    ("DELETE", "/api/v1/effort/{id}", [401, 403, 204, 204, 403, 403]),
    ("GET", "/api/v1/incidents/{id}/report", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/incidents/{id}/stix", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/people", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/stats", [401, 200, 200, 200, 403, 403]),
    ("POST", "/api/v1/webhooks", [401, 403, 403, 201, 403, 403]),
    ("GET", "/api/v1/webhooks", [401, 403, 403, 200, 403, 403]),
    ("DELETE", "/api/v1/webhooks/{id}", [401, 403, 403, 204, 403, 403]),
    ("GET", "/api/v1/webhooks/{id}/deliveries", [401, 403, 403, 200, 403, 403]),
    ("POST", "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", [401, 403, 403, 202, 403, 403]),
    ("PUT", "/api/v1/people/{email}", [401, 403, 403, 200, 403, 403]),
    ("GET", "/api/v1/people/{email}", [401, 200, 200, 200, 200, 403]),
    ("GET", "/api/v1/people/{email}/actions", [401, 200, 200, 200, 200, 403]),
    // The signed link in the URL is the credential; an Authorization header changes nothing.
    ("GET", "/a/{token}", [200, 200, 200, 200, 200, 200]),
    ("POST", "/a/{token}", [200, 200, 200, 200, 200, 200]),
];

fn body_for(method: &str, path: &str, incident_id: &str) -> Option<Value> {
    match (method, path) {
        ("POST", "/api/v1/incidents") => Some(json!({"title": "Stolen laptop", "severity": "low"})),
        ("PATCH", "/api/v1/incidents/{id}") => Some(json!({"severity": "critical"})),
        ("POST", "/api/v1/incidents/{id}/actions") => {
            Some(json!({"title": "Encrypt disks", "owner_email": OWNER, "due_date": "2030-01-01"}))
        }
        ("POST", "/api/v1/actions") => Some(
            json!({"incident_id": incident_id, "title": "Encrypt disks", "owner_email": OWNER, "due_date": "2030-01-01"}),
        ),
        ("PATCH", "/api/v1/actions/{id}") => Some(json!({"status": "in_progress"})),
        ("POST", "/api/v1/actions/{id}/comments") => Some(json!({"text": "Started"})),
        ("POST", "/api/v1/reminders/run") => Some(json!({"dry_run": true})),
        ("POST", "/api/v1/actions/{id}/verify") => Some(json!({"evidence": "Checked the console"})),
        ("POST", "/api/v1/incidents/{id}/reviews") => Some(json!({"facilitator_email": "f@example.com"})),
        ("PATCH", "/api/v1/reviews/{id}") => Some(json!({"status": "held"})),
        ("POST", "/api/v1/reviews/{id}/actions") => {
            Some(json!({"actions": [{"title": "Train staff", "owner_email": OWNER, "due_date": "2030-01-01"}]}))
        }
        ("POST", "/api/v1/incidents/{id}/timeline") => {
            Some(json!({"occurred_at": "2026-03-02T08:00:00Z", "description": "Alert"}))
        }
        ("PATCH", "/api/v1/timeline/{id}") => Some(json!({"kind": "analysis"})),
        ("POST", "/api/v1/incidents/{id}/indicators") => Some(json!({"type": "ipv4", "value": "203.0.113.7"})),
        ("PATCH", "/api/v1/indicators/{id}") => Some(json!({"confidence": 50})),
        ("POST", "/api/v1/incidents/{id}/evidence") => Some(json!({"description": "Disk image", "kind": "disk_image",
            "location": "s3://forensics/x.e01", "collected_by": "Alex", "collected_at": "2026-03-02T10:30:00Z"})),
        ("PATCH", "/api/v1/evidence/{id}") => Some(json!({"kind": "file"})),
        ("POST", "/api/v1/incidents/{id}/effort") => {
            Some(json!({"person": "dana@example.com", "phase": "analysis", "minutes": 30}))
        }
        ("PATCH", "/api/v1/effort/{id}") => Some(json!({"minutes": 45})),
        ("POST", "/api/v1/evidence/{id}/custody") => {
            Some(json!({"from": "Alex", "to": "Locker", "at": "2026-03-03T10:30:00Z", "purpose": "storage"}))
        }
        ("PUT", "/api/v1/actions/by-ref/{system}/{key}") => {
            Some(json!({"incident_id": incident_id, "title": "Patch", "owner_email": OWNER, "due_date": "2030-01-01"}))
        }
        ("POST", "/api/v1/webhooks") => {
            Some(json!({"url": "https://hooks.example.com/in", "events": ["action.created"]}))
        }
        ("PUT", "/api/v1/people/{email}") => Some(json!({"name": "Olive Owner", "timezone": "Europe/Berlin"})),
        _ => None,
    }
}

fn operations_in_spec() -> BTreeSet<(String, String)> {
    let spec = serde_json::to_value(action_tracker::api::openapi()).unwrap();
    let mut operations = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[test]
fn every_route_has_a_row_in_the_matrix() {
    let rows: BTreeSet<(String, String)> = MATRIX.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    let spec = operations_in_spec();
    let missing: Vec<_> = spec.difference(&rows).collect();
    let stale: Vec<_> = rows.difference(&spec).collect();
    assert!(missing.is_empty(), "routes without a row in the authorization matrix: {missing:?}");
    assert!(stale.is_empty(), "rows for routes that no longer exist: {stale:?}");
}

/// What the paths of one matrix cell point at, all fresh.
struct Fixtures {
    /// Without actions, so admins can delete it.
    incident: String,
    /// Open, owned by OWNER.
    action: String,
    /// Done, owned by OWNER: what verification applies to.
    done_action: String,
    review: String,
    timeline_entry: String,
    indicator: String,
    evidence: String,
    effort_entry: String,
    /// A webhook and one of its deliveries, for the rows that need them (webhooks are few by design).
    webhook: Option<(String, String)>,
    /// An e-mail in the outbox: a reminder to the action's owner.
    delivery: Option<String>,
}

async fn fixtures(app: &TestApp, path: &str) -> Fixtures {
    let webhook = if path.starts_with("/api/v1/webhooks/{id}") {
        let body = json!({"url": "https://hooks.example.com/in", "events": ["incident.created"]});
        let hook: Value = app.post("/api/v1/webhooks", &body).await.json().await.unwrap();
        Some(id(&hook))
    } else {
        None
    };
    let incident = id(&app.create_incident(json!({})).await);
    let holder = id(&app.create_incident(json!({})).await);
    let action = id(&app.create_action(&holder, json!({"owner_email": OWNER})).await);
    let done = json!({"owner_email": OWNER, "status": "done", "resolution": "Did it"});
    let done_action = id(&app.create_action(&holder, done).await);
    let review = id(&app.create_review(&holder, json!({})).await);
    let timeline_entry = id(&app.create_timeline_entry(&holder, json!({})).await);
    let indicator_body = json!({"type": "domain", "value": "evil.example"});
    let indicator: Value =
        app.post(&format!("/api/v1/incidents/{holder}/indicators"), &indicator_body).await.json().await.unwrap();
    let indicator = id(&indicator);
    let evidence = id(&app.create_evidence(&holder, json!({})).await);
    let effort = json!({"person": "dana@example.com", "phase": "analysis", "minutes": 30});
    let effort_entry: Value =
        app.post(&format!("/api/v1/incidents/{holder}/effort"), &effort).await.json().await.unwrap();
    let effort_entry = id(&effort_entry);
    app.put_person(OWNER, json!({"name": "Olive Owner"})).await;
    let webhook = match webhook {
        Some(hook) => {
            let log: Value = app.get(&format!("/api/v1/webhooks/{hook}/deliveries")).await.json().await.unwrap();
            let delivery = log["items"][0]["id"].as_str().expect("a delivery of the fixture incident").to_owned();
            Some((hook, delivery))
        }
        None => None,
    };
    let delivery = if path.starts_with("/api/v1/deliveries/{id}") {
        let nudge: Value =
            app.post(&format!("/api/v1/actions/{action}/remind"), &json!({})).await.json().await.unwrap();
        Some(nudge["delivery_id"].as_str().expect("a queued reminder").to_owned())
    } else {
        None
    };
    Fixtures {
        incident,
        action,
        done_action,
        review,
        timeline_entry,
        indicator,
        evidence,
        effort_entry,
        webhook,
        delivery,
    }
}

#[tokio::test]
async fn each_caller_gets_exactly_the_expected_status_on_each_route() {
    let app = spawn_app().await;
    // The admin's writes queue e-mails and webhook calls; this test is about who may call what, not delivery.
    app.expect_unsent();
    let callers: [(&str, Option<String>); 6] = [
        ("no token", None),
        ("viewer", Some(app.token("viewer@example.com", &[Role::Viewer]))),
        ("editor", Some(app.token("editor@example.com", &[Role::Editor]))),
        ("admin", Some(app.token("root@example.com", &[Role::Admin]))),
        ("owner", Some(app.token(OWNER, &[]))),
        ("another owner", Some(app.token("someone-else@example.com", &[]))),
    ];
    let mut failures = Vec::new();
    for (method, path, expected) in MATRIX {
        for ((caller, token), expected) in callers.iter().zip(expected) {
            let f = fixtures(&app, path).await;
            let incident = f.incident.clone();
            let concrete = match path {
                p if p.starts_with("/api/v1/incidents/{id}") => p.replace("{id}", &f.incident),
                p if p.starts_with("/api/v1/reviews/{id}") => p.replace("{id}", &f.review),
                p if p.starts_with("/api/v1/webhooks/{id}") => {
                    let (hook, delivery) = f.webhook.clone().expect("webhook fixture");
                    p.replace("{id}", &hook).replace("{delivery_id}", &delivery)
                }
                p if p.starts_with("/api/v1/timeline/{id}") => p.replace("{id}", &f.timeline_entry),
                p if p.starts_with("/api/v1/indicators/{id}") => p.replace("{id}", &f.indicator),
                &"/api/v1/indicators" => "/api/v1/indicators?value=evil.example".to_owned(),
                p if p.starts_with("/api/v1/evidence/{id}") => p.replace("{id}", &f.evidence),
                p if p.starts_with("/api/v1/effort/{id}") => p.replace("{id}", &f.effort_entry),
                p if p.starts_with("/api/v1/deliveries/{id}") => {
                    p.replace("{id}", f.delivery.as_deref().expect("delivery fixture"))
                }
                p if p.ends_with("/verify") => p.replace("{id}", &f.done_action),
                p if p.contains("{email}") => p.replace("{email}", OWNER),
                p if p.contains("{system}") => p.replace("{system}", "jira").replace("{key}", "SEC-1"),
                p if p.contains("{token}") => p.replace("{token}", &app.link(&f.action, OWNER).await),
                p => p.replace("{id}", &f.action),
            };
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let response = if path.starts_with("/a/") && method == Method::POST {
                let mut request = app.client.post(app.url(&concrete)).form(&[("op", "start")]);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                request.send().await.unwrap()
            } else {
                let body = body_for(method.as_str(), path, &incident);
                app.request_as(token.as_deref(), method.clone(), &concrete, body.as_ref()).await
            };
            let status = response.status().as_u16();
            if status != *expected {
                failures.push(format!("{method} {path} as {caller}: expected {expected}, got {status}"));
            } else if status == 401 || status == 403 {
                let code = if status == 401 { "unauthorized" } else { "forbidden" };
                assert_problem(response, status, code).await;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn an_owner_may_change_only_status_and_resolution_and_is_told_which_fields_not() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({"owner_email": OWNER})).await;
    let path = format!("/api/v1/actions/{}", id(&action));
    let owner = app.token(OWNER, &[]);

    let response = app
        .request_as(
            Some(&owner),
            Method::PATCH,
            &path,
            Some(&json!({"status": "done", "resolution": "Done", "due_date": "2031-01-01", "owner_email": "x@example.com"})),
        )
        .await;
    let problem = assert_problem(response, 403, "forbidden").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{problem}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["owner_email", "due_date"]);
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged["status"], "open", "nothing of a refused request is applied");

    let done = app
        .request_as(Some(&owner), Method::PATCH, &path, Some(&json!({"status": "done", "resolution": "Encrypted"})))
        .await;
    assert_eq!(done.status(), 200);
    assert_eq!(done.json::<Value>().await.unwrap()["updated_by"], OWNER);

    let delete = app.request_as(Some(&owner), Method::DELETE, &path, None).await;
    assert_problem(delete, 403, "forbidden").await;
}

#[tokio::test]
async fn an_owner_lists_their_own_queue_only() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    app.create_action(&incident, json!({"owner_email": OWNER})).await;
    app.create_action(&incident, json!({"owner_email": "other@example.com"})).await;
    let owner = app.token(OWNER, &[]);

    let own = app.request_as(Some(&owner), Method::GET, "/api/v1/actions?owner=Owner@Example.com", None).await;
    assert_eq!(own.status(), 200);
    let page: Value = own.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let other = app.request_as(Some(&owner), Method::GET, "/api/v1/actions?owner=other@example.com", None).await;
    assert_problem(other, 403, "forbidden").await;
}

/// A snooze holds back the escalation to the owner's manager too, so an owner cannot snooze for ever.
#[tokio::test]
async fn an_owner_snoozes_for_at_most_thirty_days_and_an_editor_for_longer() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let action = app.create_action(&incident, json!({"owner_email": OWNER})).await;
    let path = format!("/api/v1/actions/{}", id(&action));
    let owner = app.token(OWNER, &[]);
    let in_days = |days: i64| (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string();

    let month = json!({"snoozed_until": in_days(29)});
    assert_eq!(app.request_as(Some(&owner), Method::PATCH, &path, Some(&month)).await.status(), 200);
    let for_ever = json!({"snoozed_until": "9999-12-31"});
    let refused = app.request_as(Some(&owner), Method::PATCH, &path, Some(&for_ever)).await;
    let problem = assert_problem(refused, 403, "forbidden").await;
    assert!(problem["detail"].as_str().unwrap().contains("at most 30 days"), "{problem}");
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(current["snoozed_until"], in_days(29).as_str(), "the refused snooze changed nothing");
    assert_eq!(app.request(Method::PATCH, &path, Some(&json!({"snoozed_until": in_days(90)}))).await.status(), 200);
}
