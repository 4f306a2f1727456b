use serde_json::{Value, json};

use crate::helpers::{assert_problem, error_fields, id, spawn_app, spawn_app_with};

#[tokio::test]
async fn malformed_json_is_a_bad_request() {
    let app = spawn_app().await;
    let response = app
        .builder(reqwest::Method::POST, "/api/v1/incidents")
        .header("content-type", "application/json")
        .body("{\"title\": \"unterminated")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 400, "bad_request").await;
    assert_eq!(problem["instance"], "/api/v1/incidents");
    assert!(problem["request_id"].is_string());
}

#[tokio::test]
async fn unknown_fields_and_server_owned_fields_are_refused() {
    let app = spawn_app().await;
    let body = json!({"title": "t", "severity": "low", "priority_score": 7});
    let problem = assert_problem(app.post("/api/v1/incidents", &body).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["priority_score"]);
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("unknown field"));

    let incident = app.create_incident(json!({})).await;
    let action = app.create_action(&id(&incident), json!({})).await;
    for field in ["key", "version", "completed_at", "id", "created_at"] {
        let problem = assert_problem(
            app.patch(&format!("/api/v1/actions/{}", id(&action)), &json!({field: "x"})).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem), [field]);
    }
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused() {
    let app = spawn_app().await;
    let body = json!({"title": "t", "severity": "low", "summary": "x".repeat(1024 * 1024)});
    assert_problem(app.post("/api/v1/incidents", &body).await, 413, "payload_too_large").await;

    // Without a Content-Length the limit still holds while the body streams in.
    let chunks = futures::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])));
    let response = app
        .builder(reqwest::Method::POST, "/api/v1/incidents")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_problem(response, 413, "payload_too_large").await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_unsupported() {
    let app = spawn_app().await;
    let response = app
        .builder(reqwest::Method::POST, "/api/v1/incidents")
        .header("content-type", "text/plain")
        .body("{\"title\": \"t\", \"severity\": \"low\"}")
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "unsupported_media_type").await;

    let incident = app.create_incident(json!({})).await;
    let merge_patch = app
        .builder(reqwest::Method::PATCH, &format!("/api/v1/incidents/{}", id(&incident)))
        .header("content-type", "application/merge-patch+json")
        .body("{\"severity\": \"low\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(merge_patch.status(), 200);
}

#[tokio::test]
async fn unknown_ids_and_paths_are_not_found() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::now_v7();
    for path in [
        format!("/api/v1/incidents/{unknown}"),
        format!("/api/v1/actions/{unknown}"),
        format!("/api/v1/incidents/{unknown}/actions"),
        "/api/v1/actions/not-a-uuid".to_owned(),
        "/api/v1/nothing-here".to_owned(),
    ] {
        let problem = assert_problem(app.get(&path).await, 404, "not_found").await;
        assert_eq!(problem["instance"], path);
    }
    assert_problem(app.patch(&format!("/api/v1/actions/{unknown}"), &json!({"title": "x"})).await, 404, "not_found")
        .await;
    assert_problem(app.delete(&format!("/api/v1/incidents/{unknown}")).await, 404, "not_found").await;
}

#[tokio::test]
async fn a_known_path_with_a_wrong_method_is_not_allowed_and_says_which_are() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::now_v7();
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/api/v1/actions".to_owned(), "GET, POST"),
        (reqwest::Method::PUT, format!("/api/v1/actions/{unknown}"), "GET, PATCH, DELETE"),
        (reqwest::Method::POST, format!("/api/v1/incidents/{unknown}/history"), "GET"),
        (reqwest::Method::TRACE, "/healthz".to_owned(), "GET"),
        (reqwest::Method::DELETE, "/a/some-token".to_owned(), "GET, POST"),
    ] {
        let response = app.builder(method.clone(), &path).send().await.unwrap();
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let problem = assert_problem(response, 405, "method_not_allowed").await;
        assert_eq!(problem["instance"], path);
    }
    // A path that exists with no method at all is still unknown.
    assert_problem(app.builder(reqwest::Method::PUT, "/api/v1/nothing-here").send().await.unwrap(), 404, "not_found")
        .await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_sane_one_is_kept() {
    let app = spawn_app().await;
    let generated = app.get("/api/v1/actions").await;
    let request_id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(request_id).is_ok());

    let kept = app
        .builder(reqwest::Method::GET, "/api/v1/nope")
        .header("X-Request-Id", "jira-sync-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "jira-sync-7f3a");
    let problem: Value = kept.json().await.unwrap();
    assert_eq!(problem["request_id"], "jira-sync-7f3a");

    let replaced =
        app.client.get(app.url("/healthz")).header("X-Request-Id", "bad id\twith spaces").send().await.unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "bad id\twith spaces");
}

/// chrono reads years far beyond what PostgreSQL stores or a time zone can shift; such a time used to
/// reach the database (a 500 on PostgreSQL) or be stored and then break every read of the incident in
/// a zone west of UTC (SQLite).
#[tokio::test]
async fn times_and_dates_outside_four_digit_years_are_refused_by_field() {
    let app = spawn_app_with(|settings| settings.timezone = chrono_tz::America::Los_Angeles).await;
    let response = app
        .request(
            reqwest::Method::POST,
            "/api/v1/incidents",
            Some(&json!({"title": "Far past", "severity": "high", "detected_at": "-5000-01-01T00:00:00Z"})),
        )
        .await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["detected_at"]);

    let incident = id(&app.create_incident(json!({})).await);
    let entry = json!({"occurred_at": "+20000-01-01T00:00:00Z", "description": "Far future"});
    let response =
        app.request(reqwest::Method::POST, &format!("/api/v1/incidents/{incident}/timeline"), Some(&entry)).await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["occurred_at"]);

    let response = app.get("/api/v1/actions?due_before=-5000-01-01&updated_since=-5000-01-01T00:00:00Z").await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["due_before", "updated_since"]);

    // A cursor of this very query, its key changed to a date outside four-digit years.
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    app.create_action(&incident, json!({})).await;
    app.create_action(&incident, json!({})).await;
    let page: Value = app.get("/api/v1/actions?sort=due_date&limit=1").await.json().await.unwrap();
    let mut forged: Value =
        serde_json::from_slice(&engine.decode(page["next_cursor"].as_str().unwrap()).unwrap()).unwrap();
    forged["k"] = json!({"d": "-100000-01-01"});
    let cursor = engine.encode(forged.to_string());
    let response = app.get(&format!("/api/v1/actions?sort=due_date&cursor={cursor}")).await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["cursor"]);
    forged["k"] = json!({"d": "2026-01-01"});
    let cursor = engine.encode(forged.to_string());
    assert_eq!(app.get(&format!("/api/v1/actions?sort=due_date&cursor={cursor}")).await.status(), 200);
}
