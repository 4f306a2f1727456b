use std::collections::HashSet;

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, error_fields, id, keys, spawn_app};

async fn list_keys(app: &TestApp, query: &str) -> Vec<String> {
    let response = app.get(&format!("/api/v1/actions?{query}")).await;
    assert_eq!(response.status(), 200, "GET /api/v1/actions?{query}");
    let page: Value = response.json().await.unwrap();
    keys(page["items"].as_array().unwrap())
}

/// Six actions on two incidents that differ in every filterable field.
async fn seed(app: &TestApp) -> (String, String) {
    let today = Utc::now().date_naive();
    let days = |n: i64| (today + Duration::days(n)).to_string();
    let phishing = id(&app.create_incident(json!({"title": "Phishing"})).await);
    let malware = id(&app.create_incident(json!({"title": "Malware"})).await);
    // ACT-1: overdue, open, high, prevention, tag mfa, owner dana
    app.create_action(
        &phishing,
        json!({"title": "Enforce MFA", "due_date": days(-5), "priority": "high",
        "category": "prevention", "tags": ["mfa"], "owner_email": "Dana@example.com"}),
    )
    .await;
    // ACT-2: due later, in progress, critical, detection, tag siem, owner sam
    app.create_action(
        &phishing,
        json!({"title": "Alert on impossible travel", "due_date": days(10),
        "priority": "critical", "category": "detection", "status": "in_progress", "tags": ["siem"],
        "owner_email": "sam@example.com"}),
    )
    .await;
    // ACT-3: past due but done (not overdue), low, training, owner dana
    app.create_action(
        &phishing,
        json!({"title": "Phishing training for finance", "due_date": days(-2),
        "priority": "low", "category": "training", "status": "done", "resolution": "Held on Monday",
        "owner_email": "dana@example.com"}),
    )
    .await;
    // ACT-4: overdue, blocked, medium, tooling, tags mfa+edr, owner lee, on the malware incident
    app.create_action(
        &malware,
        json!({"title": "Deploy EDR to 100% of laptops", "due_date": days(-1),
        "status": "blocked", "category": "tooling", "tags": ["edr", "mfa"], "owner_email": "lee@example.com"}),
    )
    .await;
    // ACT-5: due far ahead, open, medium, process, owner lee, malware incident
    app.create_action(
        &malware,
        json!({"title": "Write the isolation runbook", "due_date": days(40),
        "category": "process", "owner_email": "lee@example.com"}),
    )
    .await;
    // ACT-6: cancelled, high, other, owner sam
    app.create_action(
        &malware,
        json!({"title": "Buy a sandbox appliance", "due_date": days(-30), "priority": "high",
        "status": "cancelled", "resolution": "Covered by EDR", "owner_email": "sam@example.com"}),
    )
    .await;
    (phishing, malware)
}

#[tokio::test]
async fn each_filter_narrows_the_list() {
    let app = spawn_app().await;
    let (phishing, malware) = seed(&app).await;
    let today = Utc::now().date_naive();

    assert_eq!(list_keys(&app, "").await, ["ACT-1", "ACT-2", "ACT-3", "ACT-4", "ACT-5", "ACT-6"]);
    assert_eq!(list_keys(&app, "status=open").await, ["ACT-1", "ACT-5"]);
    assert_eq!(list_keys(&app, "status=blocked,in_progress").await, ["ACT-2", "ACT-4"]);
    // Exactly the names, as the spec's pattern says: a blank or an empty part is a mistake, not "all".
    for query in ["status=open,,done", "status=open,%20done", "status="] {
        let problem =
            assert_problem(app.get(&format!("/api/v1/actions?{query}")).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["status"], "{query}");
    }
    assert_eq!(list_keys(&app, "owner=DANA@example.com").await, ["ACT-1", "ACT-3"]);
    assert_eq!(list_keys(&app, &format!("incident_id={malware}")).await, ["ACT-4", "ACT-5", "ACT-6"]);
    assert_eq!(list_keys(&app, "priority=high").await, ["ACT-1", "ACT-6"]);
    assert_eq!(list_keys(&app, "priority=critical,low").await, ["ACT-2", "ACT-3"]);
    assert_eq!(list_keys(&app, "category=tooling,process").await, ["ACT-4", "ACT-5"]);
    assert_eq!(list_keys(&app, "tag=mfa").await, ["ACT-1", "ACT-4"]);
    assert_eq!(list_keys(&app, "tag=MFA").await, ["ACT-1", "ACT-4"]);
    assert_eq!(list_keys(&app, "overdue=true").await, ["ACT-1", "ACT-4"]);
    assert_eq!(list_keys(&app, "overdue=false").await, ["ACT-2", "ACT-3", "ACT-5", "ACT-6"]);
    assert_eq!(list_keys(&app, &format!("due_before={today}")).await, ["ACT-1", "ACT-3", "ACT-4", "ACT-6"]);
    assert_eq!(list_keys(&app, &format!("due_after={today}")).await, ["ACT-2", "ACT-5"]);
    assert_eq!(list_keys(&app, "q=mfa").await, ["ACT-1"]);
    assert_eq!(list_keys(&app, "q=100%25").await, ["ACT-4"], "% is a literal, not a wildcard");
    assert_eq!(list_keys(&app, "q=_").await, Vec::<String>::new(), "_ is a literal, not a wildcard");
    assert_eq!(list_keys(&app, "q=PHISHING").await, ["ACT-3"]);
    assert_eq!(list_keys(&app, "overdue=true&owner=lee@example.com&tag=mfa").await, ["ACT-4"]);

    let scoped: Value =
        app.get(&format!("/api/v1/incidents/{phishing}/actions?status=open,done")).await.json().await.unwrap();
    assert_eq!(keys(scoped["items"].as_array().unwrap()), ["ACT-1", "ACT-3"]);
}

#[tokio::test]
async fn updated_since_returns_what_changed() {
    let app = spawn_app().await;
    seed(&app).await;
    let first: Value = app.get("/api/v1/actions?limit=1").await.json().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let since = Utc::now();
    let path = format!("/api/v1/actions/{}", first["items"][0]["id"].as_str().unwrap());
    assert_eq!(app.patch(&path, &json!({"team": "IAM"})).await.status(), 200);

    let since = since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).replace('+', "%2B");
    assert_eq!(list_keys(&app, &format!("updated_since={since}")).await, ["ACT-1"]);
}

#[tokio::test]
async fn each_sort_orders_the_list_with_ties_broken_by_id() {
    let app = spawn_app().await;
    seed(&app).await;
    assert_eq!(list_keys(&app, "sort=due_date").await, ["ACT-6", "ACT-1", "ACT-3", "ACT-4", "ACT-2", "ACT-5"]);
    assert_eq!(list_keys(&app, "sort=-due_date").await, ["ACT-5", "ACT-2", "ACT-4", "ACT-3", "ACT-1", "ACT-6"]);
    assert_eq!(list_keys(&app, "sort=priority").await, ["ACT-2", "ACT-1", "ACT-6", "ACT-4", "ACT-5", "ACT-3"]);
    assert_eq!(list_keys(&app, "sort=-created_at").await, ["ACT-6", "ACT-5", "ACT-4", "ACT-3", "ACT-2", "ACT-1"]);
    assert_eq!(list_keys(&app, "sort=created_at").await, ["ACT-1", "ACT-2", "ACT-3", "ACT-4", "ACT-5", "ACT-6"]);

    let third: Value = app.get("/api/v1/actions?sort=created_at&limit=3").await.json().await.unwrap();
    let path = format!("/api/v1/actions/{}", third["items"][2]["id"].as_str().unwrap());
    app.patch(&path, &json!({"team": "Awareness"})).await;
    assert_eq!(list_keys(&app, "sort=-updated_at&limit=1").await, ["ACT-3"]);
    assert_eq!(list_keys(&app, "sort=updated_at").await.last().unwrap(), "ACT-3");

    // Sorting by priority pages through ties (ACT-1 and ACT-6 are both high) without losing one.
    let walked = app.walk("/api/v1/actions?sort=priority&limit=2").await;
    assert_eq!(keys(&walked), ["ACT-2", "ACT-1", "ACT-6", "ACT-4", "ACT-5", "ACT-3"]);
    // Every sort, either way, one item a page: the cursor resumes exactly after the last item.
    for sort in ["due_date", "-due_date", "priority", "created_at", "-created_at", "updated_at", "-updated_at"] {
        let walked = app.walk(&format!("/api/v1/actions?sort={sort}&limit=1")).await;
        assert_eq!(keys(&walked), list_keys(&app, &format!("sort={sort}")).await, "sort={sort}");
    }
}

#[tokio::test]
async fn walking_the_cursor_visits_every_row_once_while_rows_are_added() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    for n in 0..23 {
        app.create_action(&incident, json!({"title": format!("Action {n}")})).await;
    }
    let existing: HashSet<String> = (1..=23).map(|n| format!("ACT-{n}")).collect();

    let mut seen = Vec::new();
    let mut path = "/api/v1/actions?limit=5".to_owned();
    let mut pages = 0;
    loop {
        let response = app.get(&path).await;
        let link = response.headers().get("link").map(|l| l.to_str().unwrap().to_owned());
        let page: Value = response.json().await.unwrap();
        seen.extend(keys(page["items"].as_array().unwrap()));
        pages += 1;
        // Others keep adding actions while the walk goes on.
        app.create_action(&incident, json!({"title": "Added during the walk"})).await;
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                let link = link.expect("a Link header while more pages follow");
                assert_eq!(link, format!("</api/v1/actions?limit=5&cursor={cursor}>; rel=\"next\""));
                path = format!("/api/v1/actions?limit=5&cursor={cursor}");
            }
            None => {
                assert!(link.is_none());
                break;
            }
        }
        assert!(pages < 50, "the walk does not end");
    }
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no row is served twice: {seen:?}");
    assert!(existing.is_subset(&unique), "every row that existed is served: {seen:?}");
}

#[tokio::test]
async fn incidents_are_filtered_and_paginated() {
    let app = spawn_app().await;
    app.create_incident(json!({"title": "Phishing wave", "severity": "high"})).await;
    app.create_incident(json!({"title": "Ransomware on file server", "severity": "critical", "status": "contained"}))
        .await;
    app.create_incident(json!({"title": "Lost laptop", "severity": "low", "status": "closed"})).await;

    let titles = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap().to_owned()).collect()
    };
    let by_status: Value = app.get("/api/v1/incidents?status=open,contained").await.json().await.unwrap();
    assert_eq!(titles(&by_status), ["Phishing wave", "Ransomware on file server"]);
    let by_severity: Value = app.get("/api/v1/incidents?severity=low").await.json().await.unwrap();
    assert_eq!(titles(&by_severity), ["Lost laptop"]);
    let by_text: Value = app.get("/api/v1/incidents?q=RANSOM").await.json().await.unwrap();
    assert_eq!(titles(&by_text), ["Ransomware on file server"]);

    let walked = app.walk("/api/v1/incidents?sort=-created_at&limit=2").await;
    let walked: Vec<&str> = walked.iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(walked, ["Lost laptop", "Ransomware on file server", "Phishing wave"]);
}

#[tokio::test]
async fn bad_list_parameters_are_refused() {
    let app = spawn_app().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("status=open,finished", "status"),
        ("sort=title", "sort"),
        ("overdue=maybe", "overdue"),
        ("due_before=tomorrow", "due_before"),
        ("updated_since=yesterday", "updated_since"),
        ("owner=nobody", "owner"),
        ("incident_id=42", "incident_id"),
        ("cursor=garbage", "cursor"),
    ] {
        let problem =
            assert_problem(app.get(&format!("/api/v1/actions?{query}")).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [field], "{query}");
    }
    assert_problem(app.get("/api/v1/actions?stauts=open").await, 400, "bad_request").await;
    assert_problem(app.get("/api/v1/actions?limit=ten").await, 400, "bad_request").await;

    // A cursor only continues the sort that made it.
    let incident = id(&app.create_incident(json!({})).await);
    app.create_action(&incident, json!({})).await;
    app.create_action(&incident, json!({})).await;
    let page: Value = app.get("/api/v1/actions?limit=1&sort=due_date").await.json().await.unwrap();
    let cursor = page["next_cursor"].as_str().unwrap();
    let problem = assert_problem(
        app.get(&format!("/api/v1/actions?limit=1&sort=priority&cursor={cursor}")).await,
        400,
        "cursor_mismatch",
    )
    .await;
    assert_eq!(error_fields(&problem), ["sort"]);
}

/// The next page of `path` (which has a query) with the cursor its first page handed out.
async fn cursor_of(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    let page: Value = response.json().await.unwrap();
    page["next_cursor"].as_str().unwrap_or_else(|| panic!("a next page of {path}")).to_owned()
}

/// Asserts that `path` with `cursor` is refused, naming exactly `fields`.
async fn assert_mismatch(app: &TestApp, path: &str, cursor: &str, fields: &[&str]) {
    let separator = if path.contains('?') { '&' } else { '?' };
    let response = app.get(&format!("{path}{separator}cursor={cursor}")).await;
    let problem = assert_problem(response, 400, "cursor_mismatch").await;
    assert_eq!(error_fields(&problem), fields, "{path}");
}

#[tokio::test]
async fn a_cursor_continues_only_the_query_that_handed_it_out() {
    let app = spawn_app().await;
    let (phishing, malware) = seed(&app).await;

    // The case: the next page asked for without the incident filter no longer mixes in the
    // other incident's actions; it is refused, naming what differs.
    let first = format!("/api/v1/actions?incident_id={phishing}&sort=due_date&limit=1");
    let cursor = cursor_of(&app, &first).await;
    assert_mismatch(&app, "/api/v1/actions?sort=due_date&limit=1", &cursor, &["incident_id"]).await;
    assert_mismatch(&app, &format!("/api/v1/actions?incident_id={malware}&sort=due_date"), &cursor, &["incident_id"])
        .await;
    assert_mismatch(
        &app,
        &format!("/api/v1/actions?incident_id={phishing}&sort=due_date&status=open"),
        &cursor,
        &["status"],
    )
    .await;
    assert_mismatch(&app, &format!("/api/v1/actions?incident_id={phishing}&limit=1"), &cursor, &["sort"]).await;
    // The same query (with the incident in the path, or another page size) goes on.
    let rest: Value = app
        .get(&format!("/api/v1/incidents/{phishing}/actions?sort=due_date&limit=5&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys(rest["items"].as_array().unwrap()), ["ACT-3", "ACT-2"]);
    assert_mismatch(&app, &format!("/api/v1/incidents/{malware}/actions?sort=due_date"), &cursor, &["incident_id"])
        .await;

    // Values are compared as the filter reads them: their order and letter case do not matter.
    let cursor = cursor_of(&app, "/api/v1/actions?status=open,blocked&owner=LEE@example.com&limit=1").await;
    let same = app.get(&format!("/api/v1/actions?owner=lee@example.com&status=blocked,open&cursor={cursor}")).await;
    assert_eq!(same.status(), 200);
    let same: Value = same.json().await.unwrap();
    assert_eq!(keys(same["items"].as_array().unwrap()), ["ACT-5"]);
    assert_mismatch(&app, "/api/v1/actions?status=open,blocked", &cursor, &["owner"]).await;
    assert_mismatch(&app, "/api/v1/people/lee@example.com/actions?status=open", &cursor, &["status"]).await;

    // Every other cursor-paged list binds its cursor the same way.
    let cursor = cursor_of(&app, "/api/v1/incidents?status=open&limit=1").await;
    assert_mismatch(&app, "/api/v1/incidents", &cursor, &["status"]).await;
    assert_mismatch(&app, "/api/v1/actions", &cursor, &["cursor"]).await;
    for n in 0..3 {
        app.put_person(&format!("p{n}@example.com"), json!({"active": true})).await;
    }
    let cursor = cursor_of(&app, "/api/v1/people?active=true&limit=1").await;
    assert_mismatch(&app, "/api/v1/people", &cursor, &["active"]).await;
    let ids: Value = app.get("/api/v1/actions?limit=4").await.json().await.unwrap();
    let (mfa, edr) = (ids["items"][0]["id"].as_str().unwrap(), ids["items"][3]["id"].as_str().unwrap());
    for text in ["one", "two"] {
        for action in [mfa, edr] {
            let response = app.post(&format!("/api/v1/actions/{action}/comments"), &json!({"text": text})).await;
            assert_eq!(response.status(), 201);
        }
    }
    let cursor = cursor_of(&app, &format!("/api/v1/actions/{mfa}/comments?limit=1")).await;
    // A cursor of another action's comments or history names the cursor, not a parameter to send again.
    assert_mismatch(&app, &format!("/api/v1/actions/{edr}/comments"), &cursor, &["cursor"]).await;
    let cursor = cursor_of(&app, &format!("/api/v1/actions/{mfa}/history?limit=1")).await;
    assert_mismatch(&app, &format!("/api/v1/actions/{edr}/history"), &cursor, &["cursor"]).await;

    // The change feed too; a bare position (an item's `position`) still means the same everywhere.
    let page: Value = app.get(&format!("/api/v1/events?entity_id={mfa}&limit=1")).await.json().await.unwrap();
    let cursor = page["next_cursor"].as_str().unwrap();
    let problem =
        assert_problem(app.get(&format!("/api/v1/events?after={cursor}")).await, 400, "cursor_mismatch").await;
    assert_eq!(error_fields(&problem), ["entity_id"]);
    let next: Value = app.get(&format!("/api/v1/events?entity_id={mfa}&after={cursor}")).await.json().await.unwrap();
    assert_eq!(next["items"][0]["entity_id"], mfa);
    let other_list = cursor_of(&app, "/api/v1/incidents?limit=1").await;
    let problem =
        assert_problem(app.get(&format!("/api/v1/events?after={other_list}")).await, 400, "cursor_mismatch").await;
    assert_eq!(error_fields(&problem), ["after"], "the feed's cursor travels in `after`");
    let position = page["items"][0]["position"].as_i64().unwrap();
    let everything: Value = app.get(&format!("/api/v1/events?after={position}")).await.json().await.unwrap();
    assert_eq!(everything["items"][0]["position"], position + 1);
}

/// Every bad list parameter is named at once, the page size among them.
#[tokio::test]
async fn every_bad_list_parameter_is_named_at_once() {
    let app = spawn_app().await;
    let problem =
        assert_problem(app.get("/api/v1/incidents?status=bogus&limit=0").await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["status", "limit"]);
    let problem =
        assert_problem(app.get("/api/v1/actions?priority=urgent&limit=500").await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["limit", "priority"]);
}

/// A forged cursor is refused alike on both databases, whatever text it carries (PostgreSQL refuses NUL).
#[tokio::test]
async fn a_forged_cursor_with_a_nul_is_refused_on_both_backends() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = spawn_app().await;
    for n in 0..3 {
        app.put_person(&format!("p{n}@example.com"), json!({})).await;
    }
    let cursor = cursor_of(&app, "/api/v1/people?limit=1").await;
    let mut decoded: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&cursor).unwrap()).unwrap();
    decoded["k"] = json!({"x": "p0@example.com\u{0}"});
    let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&decoded).unwrap());
    let problem =
        assert_problem(app.get(&format!("/api/v1/people?cursor={forged}")).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["cursor"]);
}
