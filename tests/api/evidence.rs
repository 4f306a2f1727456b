//! Evidence and its chain of custody: items are recorded and corrected with their ETags, hand-overs are
//! only ever appended (the database itself refuses anything else), and everything is in the history.

use action_tracker::domain::principal::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, error_fields, id, spawn_app};

const SHA_UPPER: &str = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";

fn holders(item: &Value) -> Vec<(Option<&str>, &str, &str)> {
    item["custody"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].as_str(), e["to"].as_str().unwrap(), e["purpose"].as_str().unwrap()))
        .collect()
}

async fn hand_over(app: &TestApp, item: &str, from: &str, to: &str, at: &str) -> reqwest::Response {
    let body = json!({"from": from, "to": to, "at": at, "purpose": "analysis"});
    app.post(&format!("/api/v1/evidence/{item}/custody"), &body).await
}

#[tokio::test]
async fn an_item_starts_its_chain_of_custody_at_collection_and_hand_overs_come_in_time_order() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let response = app
        .post(
            &format!("/api/v1/incidents/{incident}/evidence"),
            &json!({"description": "Disk image", "kind": "disk_image", "location": "s3://forensics/case-17/laptop.e01",
                    "sha256": SHA_UPPER, "collected_by": "Alex Forensics", "collected_at": "2026-03-02T10:30:00Z"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let item: Value = response.json().await.unwrap();
    let path = format!("/api/v1/evidence/{}", id(&item));
    assert_eq!(item["sha256"], SHA_UPPER.to_ascii_lowercase(), "stored lower-case");
    assert_eq!(holders(&item), [(None, "Alex Forensics", "collected")]);
    assert_eq!(item["custody"][0]["at"], "2026-03-02T10:30:00Z");
    assert_eq!(item["current_holder"], "Alex Forensics");

    let stored = app.get(&path).await;
    let etag = stored.headers()["etag"].to_str().unwrap().to_owned();
    let again = app.builder(Method::GET, &path).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    let locked = hand_over(&app, &id(&item), "Alex Forensics", "Locker B", "2026-03-03T18:00:00Z").await;
    assert_eq!(locked.status(), 201);
    assert_ne!(locked.headers()["etag"].to_str().unwrap(), etag, "a new entry changes the item's tag");
    // Recorded late, it happened in between: the log is in the order things happened.
    assert_eq!(hand_over(&app, &id(&item), "Alex Forensics", "Lab", "2026-03-02T12:00:00Z").await.status(), 201);
    let item: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(
        holders(&item),
        [
            (None, "Alex Forensics", "collected"),
            (Some("Alex Forensics"), "Lab", "analysis"),
            (Some("Alex Forensics"), "Locker B", "analysis")
        ]
    );
    assert_eq!(item["current_holder"], "Locker B");
    let early = hand_over(&app, &id(&item), "Alex Forensics", "Lab", "2026-03-01T00:00:00Z").await;
    assert_eq!(error_fields(&assert_problem(early, 422, "validation_failed").await), ["at"]);

    // Corrections: a stale tag is refused, a current one applies.
    let stale = app.builder(Method::PATCH, &path).header("if-match", &etag).json(&json!({"kind": "file"})).send().await;
    assert_eq!(stale.unwrap().status(), 200, "the version did not change with the custody entries");
    let stale = app.builder(Method::PATCH, &path).header("if-match", &etag).json(&json!({"kind": "log"})).send().await;
    assert_problem(stale.unwrap(), 412, "precondition_failed").await;
    let corrected = app.patch(&path, &json!({"sha256": null, "location": "smb://nas/evidence/laptop.e01"})).await;
    assert_eq!(corrected.status(), 200);
    let corrected: Value = corrected.json().await.unwrap();
    assert_eq!((corrected["sha256"].clone(), corrected["version"].clone()), (Value::Null, json!(3)));
    assert_eq!(corrected["location"], "smb://nas/evidence/laptop.e01");

    // A corrected collection is a new entry; the original one stays.
    let too_late = app.patch(&path, &json!({"collected_at": "2026-03-02T13:00:00Z"})).await;
    assert_eq!(error_fields(&assert_problem(too_late, 422, "validation_failed").await), ["collected_at"]);
    let recollected = app.patch(&path, &json!({"collected_by": "Sam Responder"})).await;
    let recollected: Value = recollected.json().await.unwrap();
    assert_eq!(
        holders(&recollected)[..2],
        [(None, "Alex Forensics", "collected"), (None, "Sam Responder", "collection corrected")]
    );

    let list: Value = app.get(&format!("/api/v1/incidents/{incident}/evidence")).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["custody"].as_array().unwrap().len(), 4);
    assert_eq!(app.delete(&path).await.status(), 405, "evidence goes only with its incident");
    let unknown = app.get(&format!("/api/v1/incidents/{}/evidence", uuid::Uuid::now_v7())).await;
    assert_problem(unknown, 404, "not_found").await;
}

/// Before any hand-over the holder is the collector as last corrected, even when the correction moves
/// the collection earlier than the entry it corrects.
#[tokio::test]
async fn a_corrected_collector_holds_the_item_until_it_is_handed_over() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let item: Value = app
        .post(
            &format!("/api/v1/incidents/{incident}/evidence"),
            &json!({"description": "Memory image", "kind": "memory_image", "location": "s3://forensics/mem.raw",
                    "collected_by": "Alex Forensics", "collected_at": "2026-03-02T10:30:00Z"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/evidence/{}", id(&item));
    let corrected: Value = app
        .patch(&path, &json!({"collected_by": "Sam Responder", "collected_at": "2026-03-02T09:00:00Z"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(corrected["current_holder"], "Sam Responder", "{corrected}");
    assert_eq!(corrected["custody"].as_array().unwrap().len(), 2, "the first collection entry stays");
    let handed = hand_over(&app, &id(&item), "Sam Responder", "Lab", "2026-03-02T09:00:00Z").await;
    let handed: Value = handed.json().await.unwrap();
    assert_eq!(handed["current_holder"], "Lab", "{handed}");
}

#[tokio::test]
async fn malformed_fields_are_each_named_at_once() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let path = format!("/api/v1/incidents/{incident}/evidence");
    let bad = json!({"description": " ", "kind": "hunch", "location": "laptop.e01", "sha256": "abc123",
                     "collected_by": "Alex", "collected_at": "yesterday"});
    let problem = assert_problem(app.post(&path, &bad).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["description", "kind", "location", "sha256", "collected_at"]);

    let valid = json!({"description": "Mailbox export", "kind": "email", "location": "s3://b/x.pst",
                       "collected_by": "Alex", "collected_at": "2026-03-02T10:30:00Z"});
    for (field, value) in [
        ("sha256", json!(&SHA_UPPER[1..])),
        ("sha256", json!(format!("{}g", &SHA_UPPER[1..]))),
        ("sha256", json!(12)),
        ("location", json!("javascript:alert(1)")),
        ("location", json!("s3://bucket/with space")),
        ("location", json!(format!("s3://b/{}", "x".repeat(2000)))),
        ("kind", json!("Disk Image")),
    ] {
        let mut body = valid.clone();
        body[field] = value;
        let problem = assert_problem(app.post(&path, &body).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
    let item = app.create_evidence(&incident, json!({})).await;
    let item_path = format!("/api/v1/evidence/{}", id(&item));
    let problem = assert_problem(
        app.patch(&item_path, &json!({"location": "x", "sha256": "zz", "kind": null})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["kind", "location", "sha256"]);
    let custody = format!("{item_path}/custody");
    let problem = assert_problem(
        app.post(&custody, &json!({"from": "A", "to": " ", "at": "soon", "purpose": "x"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["to", "at"]);
}

#[tokio::test]
async fn viewers_read_editors_write_and_others_see_nothing() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let item = id(&app.create_evidence(&incident, json!({})).await);
    let viewer = app.token("viewer@example.com", &[Role::Viewer]);
    let editor = app.token("editor@example.com", &[Role::Editor]);
    let nobody = app.token("owner@example.com", &[]);
    let list = format!("/api/v1/incidents/{incident}/evidence");
    let one = format!("/api/v1/evidence/{item}");
    let body = json!({"description": "d", "kind": "log", "location": "s3://b/l", "collected_by": "A",
                      "collected_at": "2026-03-02T10:30:00Z"});
    let transfer = json!({"from": "A", "to": "B", "at": "2026-03-04T00:00:00Z", "purpose": "storage"});
    for (token, method, path, body, status) in [
        (&viewer, Method::GET, &list, None, 200),
        (&viewer, Method::GET, &one, None, 200),
        (&viewer, Method::POST, &list, Some(&body), 403),
        (&viewer, Method::PATCH, &one, Some(&json!({"kind": "file"})), 403),
        (&viewer, Method::POST, &format!("{one}/custody"), Some(&transfer), 403),
        (&editor, Method::POST, &list, Some(&body), 201),
        (&editor, Method::PATCH, &one, Some(&json!({"kind": "file"})), 200),
        (&editor, Method::POST, &format!("{one}/custody"), Some(&transfer), 201),
        (&nobody, Method::GET, &list, None, 403),
        (&nobody, Method::GET, &one, None, 403),
    ] {
        let response = app.request_as(Some(token), method.clone(), path, body).await;
        assert_eq!(response.status(), status, "{method} {path}");
    }
}

/// Fills an item's chain of custody up to `total` entries from outside the service.
fn fill_custody(app: &TestApp, first_entry: &str, total: usize) {
    let ids: Vec<String> = (1..total).map(|_| format!("('{}')", uuid::Uuid::now_v7())).collect();
    app.execute_sql(&format!(
        "INSERT INTO custody_entries (id, evidence_id, from_holder, to_holder, transferred_at, purpose, recorded_at, \
         recorded_by) SELECT v.column1, c.evidence_id, 'A', c.to_holder, c.transferred_at, c.purpose, c.recorded_at, \
         c.recorded_by FROM (VALUES {}) AS v, custody_entries c WHERE c.id = '{first_entry}'",
        ids.join(", ")
    ));
}

#[tokio::test]
async fn an_incident_holds_200_items_and_an_item_100_custody_entries() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let item = app.create_evidence(&incident, json!({})).await;
    let ids: Vec<String> = (1..200).map(|_| format!("('{}')", uuid::Uuid::now_v7())).collect();
    app.execute_sql(&format!(
        "INSERT INTO evidence (id, incident_id, description, kind, location, sha256, collected_by, collected_at, \
         created_at, updated_at, version, created_by, updated_by) SELECT v.column1, e.incident_id, e.description, \
         e.kind, e.location, e.sha256, e.collected_by, e.collected_at, e.created_at, e.updated_at, e.version, \
         e.created_by, e.updated_by FROM (VALUES {}) AS v, evidence e WHERE e.id = '{}'",
        ids.join(", "),
        id(&item)
    ));
    let full = app
        .post(
            &format!("/api/v1/incidents/{incident}/evidence"),
            &json!({"description": "d", "kind": "log",
        "location": "s3://b/l", "collected_by": "A", "collected_at": "2026-03-02T10:30:00Z"}),
        )
        .await;
    assert_problem(full, 409, "conflict").await;
    let list: Value = app.get(&format!("/api/v1/incidents/{incident}/evidence")).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 200);

    fill_custody(&app, item["custody"][0]["id"].as_str().unwrap(), 99);
    let last = hand_over(&app, &id(&item), "A", "B", "2026-03-04T00:00:00Z").await;
    assert_eq!(last.status(), 201, "the hundredth entry");
    let full = hand_over(&app, &id(&item), "B", "C", "2026-03-05T00:00:00Z").await;
    assert_problem(full, 409, "conflict").await;
    let corrected = app.patch(&format!("/api/v1/evidence/{}", id(&item)), &json!({"collected_by": "Sam"})).await;
    assert_problem(corrected, 409, "conflict").await;
}

#[tokio::test]
async fn the_database_refuses_to_change_or_remove_a_custody_entry_but_lets_it_go_with_its_incident() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let item = app.create_evidence(&incident, json!({})).await;
    let handed = hand_over(&app, &id(&item), "Alex Forensics", "Locker B", "2026-03-03T18:00:00Z").await;
    let handed: Value = handed.json().await.unwrap();
    let entry = handed["custody"][1]["id"].as_str().unwrap().to_owned();

    let rewrite =
        app.try_execute_sql(&format!("UPDATE custody_entries SET to_holder = 'Mallory' WHERE id = '{entry}'"));
    assert!(rewrite.as_ref().is_err_and(|e| e.contains("append-only")), "{rewrite:?}");
    let erase = app.try_execute_sql(&format!("DELETE FROM custody_entries WHERE id = '{entry}'"));
    assert!(erase.as_ref().is_err_and(|e| e.contains("append-only")), "{erase:?}");
    assert_eq!(app.count_sql("SELECT count(*) FROM custody_entries"), 2);
    // Nor can the log go by removing its item: evidence goes only with its incident.
    let orphan = app.try_execute_sql(&format!("DELETE FROM evidence WHERE id = '{}'", id(&item)));
    assert!(orphan.as_ref().is_err_and(|e| e.contains("only with its incident")), "{orphan:?}");
    assert_eq!(app.count_sql("SELECT count(*) FROM custody_entries"), 2);
    if app.postgres_database().is_some() {
        let truncate = app.try_execute_sql("TRUNCATE custody_entries");
        assert!(truncate.as_ref().is_err_and(|e| e.contains("append-only")), "{truncate:?}");
    }

    let feed = |entity: String| {
        let app = &app;
        async move {
            let page: Value = app.get(&format!("/api/v1/events?entity_id={entity}")).await.json().await.unwrap();
            page["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    app.patch(&format!("/api/v1/evidence/{}", id(&item)), &json!({"description": "Disk image, encrypted"})).await;
    assert_eq!(feed(id(&item)).await, ["created", "updated"]);
    assert_eq!(feed(entry.clone()).await, ["created"]);

    assert_eq!(app.delete(&format!("/api/v1/incidents/{incident}")).await.status(), 204);
    assert_eq!(app.count_sql("SELECT count(*) FROM custody_entries"), 0, "gone with the incident");
    assert_eq!(app.count_sql("SELECT count(*) FROM evidence"), 0);
    assert_eq!(feed(id(&item)).await, ["created", "updated", "deleted"]);
    assert_eq!(feed(entry.clone()).await, ["created", "deleted"]);
    let page: Value = app.get(&format!("/api/v1/events?entity_id={entry}")).await.json().await.unwrap();
    assert_eq!(page["items"][0]["entity_type"], "custody_entry");
    assert_eq!(page["items"][1]["changes"]["to"]["old"], "Locker B", "what it said: {page}");
}
