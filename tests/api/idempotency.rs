//! `Idempotency-Key`: retries get the first answer, never a second resource.

use std::collections::{BTreeMap, BTreeSet};

use action_tracker::domain::principal::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn post_with_key(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn incident_count(app: &TestApp) -> usize {
    let page: Value = app.get("/api/v1/incidents?limit=200").await.json().await.unwrap();
    page["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_retry_gets_the_first_response_and_creates_nothing() {
    let app = spawn_app().await;
    let body = json!({"title": "Lost laptop", "severity": "low"});
    let first = post_with_key(&app, &app.admin_token, "retry-1", &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let etag = first.headers()["etag"].clone();
    let first: Value = first.json().await.unwrap();

    let retry = post_with_key(&app, &app.admin_token, "retry-1", &body).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.headers()["location"], location);
    assert_eq!(retry.headers()["etag"], etag);
    assert_eq!(retry.json::<Value>().await.unwrap(), first, "the same body");
    assert_eq!(incident_count(&app).await, 1);

    let changed = post_with_key(&app, &app.admin_token, "retry-1", &json!({"title": "Other", "severity": "low"})).await;
    assert_problem(changed, 422, "idempotency_key_reused").await;

    // Keys belong to their caller: another caller's identical key is a different request.
    let editor = app.token("editor@example.com", &[Role::Editor]);
    assert_eq!(post_with_key(&app, &editor, "retry-1", &body).await.status(), 201);
    assert_eq!(incident_count(&app).await, 2);

    // A refusal is not remembered: the corrected request may use the same key.
    let invalid = json!({"title": "", "severity": "low"});
    assert_eq!(post_with_key(&app, &app.admin_token, "retry-2", &invalid).await.status(), 422);
    let again = post_with_key(&app, &app.admin_token, "retry-2", &invalid).await;
    assert!(again.headers().get("idempotent-replayed").is_none());
    assert_problem(again, 422, "validation_failed").await;
    let corrected = post_with_key(&app, &app.admin_token, "retry-2", &body).await;
    assert_eq!(corrected.status(), 201, "the key was not taken by the refused request");

    let too_long = post_with_key(&app, &app.admin_token, &"k".repeat(256), &body).await;
    assert_problem(too_long, 400, "bad_request").await;
    let without = app.request(Method::POST, "/api/v1/incidents", Some(&body)).await;
    assert_eq!(without.status(), 201, "no key, no idempotency: a second incident");
}

#[tokio::test]
async fn fifty_concurrent_retries_create_exactly_one_resource() {
    let app = spawn_app().await;
    let body = json!({"title": "Ransomware", "severity": "critical"});
    let retries: Vec<_> = (0..50)
        .map(|_| {
            let request = app
                .client
                .post(app.url("/api/v1/incidents"))
                .bearer_auth(&app.admin_token)
                .header("Idempotency-Key", "storm")
                .json(&body);
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for retry in retries {
        let (status, body) = retry.await.unwrap();
        *statuses.entry(status).or_default() += 1;
        match status {
            201 => {
                ids.insert(body["id"].as_str().unwrap().to_owned());
            }
            409 => assert_eq!(body["code"], "idempotency_key_in_use"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "every success is the same incident: {statuses:?}");
    assert_eq!(incident_count(&app).await, 1);
}

async fn post_as(app: &TestApp, token: &str, key: &str, path: &str, body: &Value) -> reqwest::Response {
    let request = app.client.post(app.url(path)).bearer_auth(token).header("Idempotency-Key", key);
    request.json(body).send().await.unwrap()
}

#[tokio::test]
async fn a_replay_is_authorized_like_a_fresh_request() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    app.create_action(incident["id"].as_str().unwrap(), json!({})).await;
    // The same subject as the admin token, with fewer rights.
    let viewer = app.token("admin@example.com", &[Role::Viewer]);
    let editor = app.token("admin@example.com", &[Role::Editor]);

    let dry_run = json!({"dry_run": true, "as_of": "2030-01-22T10:00:00Z"});
    let first = post_as(&app, &app.admin_token, "sweep-1", "/api/v1/reminders/run", &dry_run).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert!(first["emails"].as_array().unwrap().iter().any(|e| e["recipient"] == "dana@example.com"), "{first}");
    for token in [&viewer, &editor] {
        let without_key = app.request_as(Some(token), Method::POST, "/api/v1/reminders/run", Some(&dry_run)).await;
        let without_key = assert_problem(without_key, 403, "forbidden").await;
        let replayed = post_as(&app, token, "sweep-1", "/api/v1/reminders/run", &dry_run).await;
        assert!(replayed.headers().get("idempotent-replayed").is_none());
        let replayed = assert_problem(replayed, 403, "forbidden").await;
        assert_eq!(replayed["detail"], without_key["detail"], "the same refusal with or without the key");
    }

    let hook = json!({"url": "https://jira-bridge.example.com/hooks", "events": ["action.created"]});
    let created = post_as(&app, &app.admin_token, "hook-1", "/api/v1/webhooks", &hook).await;
    assert_eq!(created.status(), 201);
    let replayed = post_as(&app, &editor, "hook-1", "/api/v1/webhooks", &hook).await;
    let text = replayed.text().await.unwrap();
    assert!(!text.contains("secret"), "the one-time secret must not reach an editor: {text}");
    assert!(text.contains("\"forbidden\""), "{text}");
    // The admin itself still gets the stored answer.
    let again = post_as(&app, &app.admin_token, "hook-1", "/api/v1/webhooks", &hook).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn refused_requests_leave_no_key_and_a_caller_holds_a_bounded_number() {
    let app = spawn_app().await;
    let viewer = app.token("viewer@example.com", &[Role::Viewer]);
    let body = json!({"title": "Lost laptop", "severity": "low"});
    for n in 0..30 {
        let refused = post_as(&app, &viewer, &format!("write-{n}"), "/api/v1/incidents", &body).await;
        assert_problem(refused, 403, "forbidden").await;
    }
    let invalid = post_as(&app, &app.admin_token, "bad", "/api/v1/incidents", &json!({"severity": "low"})).await;
    assert_problem(invalid, 422, "validation_failed").await;
    assert_eq!(app.count_sql("SELECT count(*) FROM idempotency_keys"), 0, "nothing kept for refused requests");
    // Given the rights later, the same caller's key is fresh.
    let editor = app.token("viewer@example.com", &[Role::Editor]);
    let created = post_as(&app, &editor, "write-0", "/api/v1/incidents", &body).await;
    assert_eq!(created.status(), 201);
    assert!(created.headers().get("idempotent-replayed").is_none());

    // A caller holding as many keys as it may is refused a new one (429), not its old ones.
    let max = action_tracker::api::idempotency::MAX_KEYS_PER_CALLER;
    app.execute_sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {})
         INSERT INTO idempotency_keys (principal, key, request_hash, status, created_at, locked_until)
         SELECT 'viewer@example.com', 'old-' || i, 'x', 201, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM n",
        max - 1
    ));
    let over = post_as(&app, &editor, "one-too-many", "/api/v1/incidents", &body).await;
    let retry_after: i64 = over.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((80_000..=86_400).contains(&retry_after), "until the oldest key expires: {retry_after}");
    assert_problem(over, 429, "too_many_requests").await;
    let replay = post_as(&app, &editor, "write-0", "/api/v1/incidents", &body).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let without_key = app.request_as(Some(&editor), Method::POST, "/api/v1/incidents", Some(&body)).await;
    assert_eq!(without_key.status(), 201);
    // Other callers are not held back by it.
    assert_eq!(post_as(&app, &app.admin_token, "admin-1", "/api/v1/incidents", &body).await.status(), 201);
}

/// Every POST of the API takes a key, so forgetting to claim it in a new handler fails here.
#[tokio::test]
async fn every_post_replays_its_first_answer() {
    let app = spawn_app().await;
    // The POSTs queue e-mails and webhook calls; this test is about replays, not delivery.
    app.expect_unsent();
    let hook: Value = app
        .post("/api/v1/webhooks", &json!({"url": "https://jira-bridge.example.com/h", "events": ["action.created"]}))
        .await
        .json()
        .await
        .unwrap();
    let incident = app.create_incident(json!({"status": "resolved"})).await;
    let incident_id = incident["id"].as_str().unwrap().to_owned();
    let action = app.create_action(&incident_id, json!({"status": "done", "resolution": "Done."})).await;
    let action_id = action["id"].as_str().unwrap().to_owned();
    let open = app.create_action(&incident_id, json!({})).await;
    let reminded = app.create_action(&incident_id, json!({})).await;
    let review = app.create_review(&incident_id, json!({})).await;
    let review_id = review["id"].as_str().unwrap().to_owned();
    let evidence_id = app.create_evidence(&incident_id, json!({})).await["id"].as_str().unwrap().to_owned();
    let nudged = app.post(&format!("/api/v1/actions/{}/remind", reminded["id"].as_str().unwrap()), &json!({})).await;
    assert_eq!(nudged.status(), 202);
    let delivery = app.get("/api/v1/deliveries").await.json::<Value>().await.unwrap()["items"][0]["id"].clone();
    let hook_delivery: Value =
        app.get(&format!("/api/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap())).await.json().await.unwrap();
    let posts: Vec<(String, Value)> = vec![
        ("/api/v1/incidents".into(), json!({"title": "t", "severity": "low"})),
        (
            format!("/api/v1/incidents/{incident_id}/actions"),
            json!({"title": "t", "owner_email": "dana@example.com", "due_date": "2030-01-15"}),
        ),
        (
            "/api/v1/actions".into(),
            json!({"incident_id": incident_id, "title": "t", "owner_email": "dana@example.com", "due_date": "2030-01-15"}),
        ),
        (format!("/api/v1/actions/{action_id}/verify"), json!({"evidence": "Checked."})),
        (format!("/api/v1/actions/{action_id}/comments"), json!({"text": "Noted."})),
        (format!("/api/v1/actions/{}/remind", open["id"].as_str().unwrap()), json!({})),
        ("/api/v1/reminders/run".into(), json!({"dry_run": true})),
        (format!("/api/v1/deliveries/{}/redeliver", delivery.as_str().unwrap()), json!({})),
        (format!("/api/v1/incidents/{incident_id}/reviews"), json!({})),
        (
            format!("/api/v1/reviews/{review_id}/actions"),
            json!({"actions": [{"title": "t", "owner_email": "dana@example.com", "due_date": "2030-01-15"}]}),
        ),
        (
            format!("/api/v1/incidents/{incident_id}/timeline"),
            json!({"occurred_at": "2026-11-02T08:15:00Z", "description": "EDR alert"}),
        ),
        (format!("/api/v1/incidents/{incident_id}/indicators"), json!({"type": "ipv4", "value": "203.0.113.7"})),
        (
            format!("/api/v1/incidents/{incident_id}/evidence"),
            json!({"description": "Disk image", "kind": "disk_image", "location": "s3://forensics/x.e01",
                   "collected_by": "Alex", "collected_at": "2026-03-02T10:30:00Z"}),
        ),
        (
            format!("/api/v1/evidence/{evidence_id}/custody"),
            json!({"from": "Alex", "to": "Locker", "at": "2026-03-03T10:30:00Z", "purpose": "storage"}),
        ),
        (
            format!("/api/v1/incidents/{incident_id}/effort"),
            json!({"person": "dana@example.com", "phase": "analysis", "minutes": 30}),
        ),
        ("/api/v1/webhooks".into(), json!({"url": "https://jira-bridge.example.com/h2", "events": ["action.created"]})),
        (
            format!(
                "/api/v1/webhooks/{}/deliveries/{}/redeliver",
                hook["id"].as_str().unwrap(),
                hook_delivery["items"][0]["id"].as_str().unwrap()
            ),
            json!({}),
        ),
    ];
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let api_posts = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, item)| path.starts_with("/api/") && item.get("post").is_some());
    assert_eq!(api_posts.count(), posts.len(), "a POST of the API is missing from this test");
    for (n, (path, body)) in posts.iter().enumerate() {
        let key = format!("every-{n}");
        let first = post_as(&app, &app.admin_token, &key, path, body).await;
        assert!(first.status().is_success(), "{path}: {}", first.status());
        let first_status = first.status();
        let retry = post_as(&app, &app.admin_token, &key, path, body).await;
        assert_eq!(retry.status(), first_status, "{path}");
        assert_eq!(retry.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"), "{path}");
    }
}

/// A request that died holding its key leaves it to the retries that come after its lease; of many at
/// once, one takes it over and the others are told it is in use.
#[tokio::test]
async fn retries_of_an_abandoned_key_take_it_over_once() {
    let app = spawn_app().await;
    let body = json!({"title": "Lost laptop", "severity": "low"});
    let probe = post_with_key(&app, &app.admin_token, "probe", &body).await;
    assert_eq!(probe.status(), 201);
    // The same request, claimed an hour ago by a process that died before answering.
    app.execute_sql(
        "UPDATE idempotency_keys SET key = 'abandoned', status = NULL, response_body = NULL, \
         locked_until = '2020-01-01 00:00:00'",
    );
    let before = incident_count(&app).await;
    let retries: Vec<_> = (0..20)
        .map(|_| {
            let request = app
                .client
                .post(app.url("/api/v1/incidents"))
                .bearer_auth(&app.admin_token)
                .header("Idempotency-Key", "abandoned")
                .json(&body);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for retry in retries {
        statuses.push(retry.await.unwrap());
    }
    assert!(statuses.iter().all(|s| matches!(s, 201 | 409)), "{statuses:?}");
    assert_eq!(incident_count(&app).await, before + 1, "one retry took the key over: {statuses:?}");
}

/// Keys belong to the person a token names: two people behind one opaque subject do not share them.
#[tokio::test]
async fn two_people_with_one_subject_do_not_share_keys() {
    let app = spawn_app().await;
    let mint = |email: &str| {
        let claims = json!({"sub": "jira-integration", "email": email, "roles": ["admin"],
                            "exp": chrono::Utc::now().timestamp() + 600});
        let key = jsonwebtoken::EncodingKey::from_secret(crate::helpers::TEST_SECRET.as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    };
    let (alice, bob) = (mint("alice@example.com"), mint("bob@example.com"));
    let hook = json!({"url": "https://jira-bridge.example.com/hooks", "events": ["action.created"]});
    let first = post_as(&app, &alice, "hook", "/api/v1/webhooks", &hook).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let second = post_as(&app, &bob, "hook", "/api/v1/webhooks", &hook).await;
    assert_eq!(second.status(), 201);
    assert!(second.headers().get("idempotent-replayed").is_none());
    let second: Value = second.json().await.unwrap();
    assert_ne!(second["secret"], first["secret"], "Bob never sees the secret Alice was shown");
}
