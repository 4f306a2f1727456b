//! Indicators of compromise: values checked and written one way per type, once per incident, found across
//! incidents, and TLP:RED ones kept from viewers everywhere they could be read.

use action_tracker::domain::principal::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, error_fields, id, spawn_app};

fn values(list: &Value) -> Vec<&str> {
    list["items"].as_array().unwrap().iter().map(|i| i["value"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_value_is_normalised_recorded_once_per_incident_and_found_in_every_incident_that_saw_it() {
    let app = spawn_app().await;
    let first = id(&app.create_incident(json!({"title": "Phishing in finance", "reference": "SEC-1"})).await);
    let second = id(&app.create_incident(json!({"title": "Phishing in sales", "reference": "SEC-2"})).await);
    let body = json!({"type": "domain", "value": "Login-Examp1e[.]COM.", "tlp": "green", "confidence": 90,
                      "first_seen": "2026-11-02T08:01:00Z", "source": "proxy logs"});

    let created = app.post(&format!("/api/v1/incidents/{first}/indicators"), &body).await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert!(created.headers().contains_key("etag"));
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["value"], "login-examp1e.com", "refanged, lower case, no trailing dot");
    assert_eq!((created["type"].as_str(), created["tlp"].as_str()), (Some("domain"), Some("green")));
    assert_eq!(app.get(&location).await.json::<Value>().await.unwrap()["id"], created["id"]);

    let again = app
        .post(
            &format!("/api/v1/incidents/{first}/indicators"),
            &json!({"type": "domain", "value": "login-examp1e.com"}),
        )
        .await;
    let problem = assert_problem(again, 409, "conflict").await;
    assert!(problem["detail"].as_str().unwrap().contains(created["id"].as_str().unwrap()), "{problem}");
    let elsewhere = app.post(&format!("/api/v1/incidents/{second}/indicators"), &body).await;
    assert_eq!(elsewhere.status(), 201, "another incident may see the same value");

    let found: Value = app.get("/api/v1/indicators?value=LOGIN-EXAMP1E.com").await.json().await.unwrap();
    assert_eq!(found["matched"], json!({"type": "domain", "value": "login-examp1e.com"}));
    let titles: Vec<&str> =
        found["items"].as_array().unwrap().iter().map(|i| i["incident_title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Phishing in sales", "Phishing in finance"], "newest first");
    let page: Value = app.get("/api/v1/indicators?value=login-examp1e.com&limit=1").await.json().await.unwrap();
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let rest: Value = app
        .get(&format!("/api/v1/indicators?value=login-examp1e.com&limit=1&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"][0]["incident_reference"], "SEC-1");
    assert!(rest["next_cursor"].is_null());
    let nothing: Value = app.get("/api/v1/indicators?value=203.0.113.9").await.json().await.unwrap();
    assert_eq!((nothing["matched"]["type"].as_str(), nothing["items"].as_array().unwrap().len()), (Some("ipv4"), 0));

    // A correction re-reads the value against its type, and cannot take a value the incident already has.
    let ip =
        app.post(&format!("/api/v1/incidents/{first}/indicators"), &json!({"type": "ipv4", "value": "10.0.0.5"})).await;
    assert_eq!(ip.status(), 201, "a private address is the user's call");
    let ip_path = format!("/api/v1/indicators/{}", id(&ip.json().await.unwrap()));
    let clash = app.patch(&ip_path, &json!({"type": "domain", "value": "LOGIN-examp1e.com"})).await;
    assert_problem(clash, 409, "conflict").await;
    let retyped = app.patch(&ip_path, &json!({"type": "sha1"})).await;
    assert_eq!(error_fields(&assert_problem(retyped, 422, "validation_failed").await), ["value"]);
    let moved: Value =
        app.patch(&ip_path, &json!({"type": "cidr", "value": "10.0.0.5/24"})).await.json().await.unwrap();
    assert_eq!((moved["value"].as_str(), moved["version"].as_i64()), (Some("10.0.0.0/24"), Some(2)));
    let stale = app
        .builder(Method::PATCH, &ip_path)
        .header("if-match", "\"1\"")
        .json(&json!({"confidence": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);

    let list: Value = app.get(&format!("/api/v1/incidents/{first}/indicators")).await.json().await.unwrap();
    assert_eq!(values(&list), ["10.0.0.0/24", "login-examp1e.com"], "in order of value");
    assert_eq!(app.delete(&ip_path).await.status(), 204);
    assert_eq!(app.get(&ip_path).await.status(), 404);
    let history: Value = app.get(&format!("/api/v1/events?entity_id={}", &ip_path[19..])).await.json().await.unwrap();
    let kinds: Vec<&str> = history["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "updated", "deleted"]);
}

#[tokio::test]
async fn malformed_values_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let path = format!("/api/v1/incidents/{incident}/indicators");
    for (kind, value) in [
        ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"),
        ("md5", "not-a-hash"),
        ("ipv4", "203.0.113.256"),
        ("ipv6", "2001:db8::zz"),
        ("cidr", "203.0.113.0/33"),
        ("domain", "localhost"),
        ("url", "/no/host"),
        ("email", "bob-at-example.com"),
        ("cve", "CVE-24-1"),
        ("registry_key", "Software\\Run"),
        ("file_name", "C:\\Users\\bob\\invoice.exe"),
    ] {
        let refused = app.post(&path, &json!({"type": kind, "value": value})).await;
        let problem = assert_problem(refused, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["value"], "{kind} {value}");
    }
    // Within 2048 characters as sent, but not once written in full: a URL's non-ASCII characters are
    // percent-encoded (9 bytes each), and any value is stored and indexed in its UTF-8 bytes.
    let long_url = format!("https://example.com/{}", "é".repeat(1000));
    let long_agent = "Mozilla/5.0 ".to_owned() + &"ж".repeat(1500);
    for (kind, value) in [("url", long_url.as_str()), ("user_agent", long_agent.as_str())] {
        let refused = app.post(&path, &json!({"type": kind, "value": value})).await;
        let problem = assert_problem(refused, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["value"], "{kind} {value}");
    }
    let many =
        app.post(&path, &json!({"type": "sha1", "value": "xyz", "confidence": 101, "first_seen": "yesterday"})).await;
    let problem = assert_problem(many, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["value", "confidence", "first_seen"], "every bad field at once");
    let negative = app.post(&path, &json!({"type": "cve", "value": "CVE-2024-3400", "confidence": -1})).await;
    assert_eq!(error_fields(&assert_problem(negative, 422, "validation_failed").await), ["confidence"]);
    let backwards = app
        .post(
            &path,
            &json!({"type": "cve", "value": "CVE-2024-3400", "first_seen": "2026-11-02T08:00:00Z",
                    "last_seen": "2026-11-01T08:00:00Z"}),
        )
        .await;
    assert_eq!(error_fields(&assert_problem(backwards, 422, "validation_failed").await), ["last_seen"]);
    let unknown = app.post(&path, &json!({"type": "ftp_server", "value": "x", "tlp": "purple"})).await;
    assert_eq!(error_fields(&assert_problem(unknown, 422, "validation_failed").await), ["tlp", "type"]);
    let search = app.get("/api/v1/indicators?value=abc&type=sha256&limit=0").await;
    assert_eq!(error_fields(&assert_problem(search, 422, "validation_failed").await), ["value", "limit"]);
    assert_eq!(app.get(&list_of_unknown_incident()).await.status(), 404);
}

fn list_of_unknown_incident() -> String {
    format!("/api/v1/incidents/{}/indicators", uuid::Uuid::now_v7())
}

#[tokio::test]
async fn viewers_never_see_a_red_indicator() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let path = format!("/api/v1/incidents/{incident}/indicators");
    let red: Value =
        app.post(&path, &json!({"type": "sha256", "value": "A".repeat(64), "tlp": "red"})).await.json().await.unwrap();
    let amber: Value = app.post(&path, &json!({"type": "ipv4", "value": "203.0.113.7"})).await.json().await.unwrap();
    assert_eq!(amber["tlp"], "amber", "amber unless marked otherwise");
    let viewer = app.token("viewer@example.com", &[Role::Viewer]);
    let editor = app.token("editor@example.com", &[Role::Editor]);
    let as_viewer = |path: String| {
        let (app, viewer) = (&app, viewer.clone());
        async move { app.request_as(Some(&viewer), Method::GET, &path, None).await }
    };

    let seen = as_viewer(path.clone()).await;
    let viewer_tag = seen.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(values(&seen.json().await.unwrap()), ["203.0.113.7"]);
    let editor_list = app.request_as(Some(&editor), Method::GET, &path, None).await;
    assert_ne!(editor_list.headers()["etag"].to_str().unwrap(), viewer_tag, "a viewer's copy is not the editor's");
    assert_eq!(values(&editor_list.json().await.unwrap()).len(), 2);
    let red_path = format!("/api/v1/indicators/{}", id(&red));
    assert_problem(as_viewer(red_path.clone()).await, 404, "not_found").await;
    assert_eq!(app.request_as(Some(&editor), Method::GET, &red_path, None).await.status(), 200);
    let search: Value = as_viewer(format!("/api/v1/indicators?value={}", "a".repeat(64))).await.json().await.unwrap();
    assert_eq!(search["items"].as_array().unwrap().len(), 0);
    let search: Value = app.get(&format!("/api/v1/indicators?value={}", "a".repeat(64))).await.json().await.unwrap();
    assert_eq!(search["items"].as_array().unwrap().len(), 1);

    // Nor in the change feed, where its creation and each change would show the value.
    app.patch(&red_path, &json!({"confidence": 50})).await.error_for_status().unwrap();
    let feed: Value = as_viewer("/api/v1/events?limit=1000".into()).await.json().await.unwrap();
    let ids: Vec<&str> = feed["items"].as_array().unwrap().iter().map(|e| e["entity_id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&red["id"].as_str().unwrap()), "{ids:?}");
    assert!(ids.contains(&amber["id"].as_str().unwrap()));
    let feed: Value = app.get("/api/v1/events?limit=1000").await.json().await.unwrap();
    let red_events = feed["items"].as_array().unwrap().iter().filter(|e| e["entity_id"] == red["id"]).count();
    assert_eq!(red_events, 2);

    let write =
        app.request_as(Some(&viewer), Method::POST, &path, Some(&json!({"type": "ipv4", "value": "1.2.3.4"}))).await;
    assert_problem(write, 403, "forbidden").await;

    // Deleting the incident says where its indicators went.
    assert_eq!(app.delete(&format!("/api/v1/incidents/{incident}")).await.status(), 204);
    let gone: Value = app.get(&format!("/api/v1/events?entity_id={}", id(&amber))).await.json().await.unwrap();
    assert_eq!(gone["items"].as_array().unwrap().last().unwrap()["kind"], "deleted");
}
