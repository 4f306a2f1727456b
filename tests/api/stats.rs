//! `/stats` against a hand-built data set, and cheap polling of it.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, id, spawn_app};

#[tokio::test]
async fn the_numbers_match_a_hand_built_data_set() {
    let app = spawn_app().await;
    let today = Utc::now().date_naive();
    let day = |offset: i64| (today + Duration::days(offset)).to_string();
    let resolved = app
        .create_incident(json!({"status": "resolved", "detected_at": "2026-11-01T00:00:00Z",
                                "contained_at": "2026-11-01T02:00:00Z", "resolved_at": "2026-11-02T00:00:00Z"}))
        .await;
    let incident = id(&resolved);
    app.create_incident(json!({})).await;
    app.put_person("b@example.com", json!({"active": false})).await;
    let actions = [
        json!({"owner_email": "a@example.com", "due_date": day(-3), "priority": "critical"}),
        json!({"owner_email": "a@example.com", "due_date": day(-10), "status": "in_progress", "category": "training"}),
        json!({"owner_email": "b@example.com", "due_date": day(-40), "status": "blocked"}),
        json!({"owner_email": "b@example.com", "due_date": day(-100)}),
        json!({"owner_email": "c@example.com", "due_date": day(2), "team": "Network"}),
        json!({"owner_email": "c@example.com", "due_date": day(20), "team": "Network"}),
        json!({"owner_email": "c@example.com", "due_date": day(5), "status": "done", "resolution": "ok"}),
        json!({"owner_email": "a@example.com", "due_date": day(-1), "status": "done", "resolution": "late"}),
        json!({"owner_email": "a@example.com", "due_date": day(1), "status": "cancelled", "resolution": "moot"}),
    ];
    for action in actions {
        app.create_action(&incident, action).await;
    }

    let stats: Value = app.get("/api/v1/stats").await.json().await.unwrap();
    let a = &stats["actions"];
    assert_eq!(stats["as_of"], today.to_string());
    assert_eq!(a["total"], 9);
    assert_eq!(a["by_status"], json!({"open": 4, "in_progress": 1, "blocked": 1, "done": 2, "cancelled": 1}));
    assert_eq!((a["overdue"].clone(), a["due_next_7_days"].clone()), (json!(4), json!(1)));
    assert_eq!(a["overdue_aging"], json!({"days_1_to_7": 1, "days_8_to_30": 1, "days_31_to_90": 1, "over_90_days": 1}));
    assert_eq!(a["open_by_priority"], json!({"critical": 1, "medium": 5}));
    assert_eq!(a["open_by_category"], json!({"other": 5, "training": 1}));
    assert_eq!(
        a["top_overdue_owners"],
        json!([{"owner_email": "a@example.com", "overdue": 2}, {"owner_email": "b@example.com", "overdue": 2}])
    );
    assert_eq!(a["owner_inactive"], 2, "b left, with two actions still open");
    assert_eq!(a["completion_rate"], 0.25);
    assert_eq!(a["on_time_completion_rate"], 0.5);
    let median = a["median_seconds_to_close"].as_f64().unwrap();
    assert!((0.0..60.0).contains(&median), "closed right after creation: {median}");
    assert!(a["p90_seconds_to_close"].as_f64().unwrap() >= median);

    let i = &stats["incidents"];
    assert_eq!(i["total"], 2);
    assert_eq!(i["resolved_per_month"], json!([{"month": "2026-11", "count": 1}]));
    assert_eq!(i["median_seconds_to_contain"], 7200.0);
    assert_eq!(i["median_seconds_to_resolve"], 86400.0);

    let network: Value = app.get("/api/v1/stats?team=Network").await.json().await.unwrap();
    assert_eq!(network["actions"]["total"], 2);
    let owner: Value = app.get("/api/v1/stats?owner=A@example.com").await.json().await.unwrap();
    assert_eq!(owner["actions"]["total"], 4);
    let other: Value =
        app.get(&format!("/api/v1/stats?incident_id={}", uuid::Uuid::now_v7())).await.json().await.unwrap();
    assert_eq!((other["actions"]["total"].clone(), other["incidents"]["total"].clone()), (json!(0), json!(0)));
    assert_eq!(other["actions"]["completion_rate"], Value::Null);
    assert_problem(app.get("/api/v1/stats?since=last-week").await, 422, "validation_failed").await;
}

#[tokio::test]
async fn polling_an_unchanged_collection_or_stats_answers_304() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let sub = |name: &str| format!("/api/v1/incidents/{incident}/{name}");
    for path in [
        "/api/v1/stats".to_owned(),
        "/api/v1/actions?status=open".to_owned(),
        sub("timeline"),
        sub("reviews"),
        sub("indicators"),
        sub("evidence"),
        sub("effort"),
    ] {
        let path = path.as_str();
        // What the service does, the spec says, so that generated clients handle the 304.
        let template = path.replace(&incident, "{id}");
        let template = template.split('?').next().unwrap();
        let documented = &spec["paths"][template]["get"]["responses"];
        assert!(documented.get("304").is_some(), "the spec documents 304 for {template}: {documented}");
        let first = app.get(path).await;
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers()["cache-control"], "private, max-age=5");
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with("W/\""), "a weak tag: {etag}");
        let again = app.builder(Method::GET, path).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);

        app.create_action(&incident, json!({})).await;
        let changed = app.builder(Method::GET, path).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(changed.status(), 200, "{path} after a change");
        assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    }
}

/// Unfiltered numbers come from tallies that triggers keep and background work folds; a `since` before
/// every action makes `/stats` count the actions themselves. The two must agree through creates,
/// changes, deletes, folds, and folds made on other days than the reader's.
#[tokio::test]
async fn the_tallies_agree_with_counting_every_action() {
    let app = spawn_app().await;
    let db = action_tracker::db::Db::connect(&app.settings.database).unwrap();
    let today = Utc::now().date_naive();
    let day = |offset: i64| (today + Duration::days(offset)).to_string();
    let incident = id(&app.create_incident(json!({})).await);
    let mut ids = Vec::new();
    for (i, offset) in [-120, -45, -10, -3, -1, 0, 1, 3, 9, 40, -2, -6].into_iter().enumerate() {
        let priority = ["critical", "high", "medium", "low"][i % 4];
        let category = ["prevention", "detection", "process"][i % 3];
        let owner = format!("owner{}@example.com", i % 3);
        let action = json!({"owner_email": owner, "due_date": day(offset), "priority": priority, "category": category});
        ids.push(id(&app.create_action(&incident, action).await));
    }
    let agree = |moment: &'static str| {
        let app = &app;
        async move {
            let tallied: Value = app.get("/api/v1/stats").await.json().await.unwrap();
            let counted: Value = app.get("/api/v1/stats?since=2000-01-01T00:00:00Z").await.json().await.unwrap();
            assert_eq!(tallied["actions"], counted["actions"], "{moment}");
            tallied["actions"].clone()
        }
    };
    let created = agree("after creating").await;
    assert_eq!((created["total"].clone(), created["overdue"].clone()), (json!(12), json!(7)));

    let change = |index: usize, body: Value| {
        let app = &app;
        let path = format!("/api/v1/actions/{}", ids[index]);
        async move { assert_eq!(app.patch(&path, &body).await.status(), 200, "{body}") }
    };
    change(0, json!({"status": "done", "resolution": "fixed"})).await;
    change(1, json!({"status": "cancelled", "resolution": "moot"})).await;
    change(2, json!({"due_date": day(5), "due_date_change_reason": "vendor delay"})).await;
    change(3, json!({"owner_email": "owner9@example.com"})).await;
    change(4, json!({"priority": "low", "category": "training"})).await;
    change(6, json!({"status": "blocked"})).await;
    assert_eq!(app.delete(&format!("/api/v1/actions/{}", ids[7])).await.status(), 204);
    app.put_person("owner1@example.com", json!({"active": false})).await;
    let changed = agree("after changes, before any fold").await;
    assert_eq!(changed["total"], 11);
    assert_eq!(changed["overdue"], 4, "two closed and one moved out of seven: {changed}");

    action_tracker::db::tallies::fold(&db, today).await.unwrap();
    agree("after a fold").await;

    // A fold that ran days ago (as_of behind the reader's today), then more changes on top of it.
    action_tracker::db::tallies::fold(&db, today - Duration::days(5)).await.unwrap();
    agree("with tallies as of five days ago").await;
    change(8, json!({"status": "done", "resolution": "shipped"})).await;
    change(10, json!({"due_date": day(-30)})).await;
    change(11, json!({"owner_email": "owner1@example.com"})).await;
    agree("with changes over tallies as of five days ago").await;

    // A fold on a later day than the reader's (a replica in another time zone, or a clock ahead).
    action_tracker::db::tallies::fold(&db, today + Duration::days(3)).await.unwrap();
    agree("with tallies as of three days ahead").await;
    action_tracker::db::tallies::fold(&db, today).await.unwrap();
    let last = agree("after folding back to today").await;
    assert_eq!(last["top_overdue_owners"][0], json!({"owner_email": "owner1@example.com", "overdue": 3}), "{last}");
}

/// What handling incidents took: counted in the period they were detected, time spent from the effort
/// entries, downtime and cost (per currency, never converted) from their impact; by period, category and
/// severity, within a date range.
#[tokio::test]
async fn incident_handling_is_summed_by_period_category_and_severity() {
    let app = spawn_app().await;
    let phishing = |detected: &str, severity: &str, cost: Value, downtime: i64| {
        json!({"category": "phishing", "severity": severity, "detected_at": detected,
               "impact": {"downtime_minutes": downtime, "cost": cost}})
    };
    let jan = id(&app
        .create_incident(phishing("2026-01-10T08:00:00Z", "high", json!({"amount": "100.50", "currency": "EUR"}), 60))
        .await);
    let feb = id(&app
        .create_incident(phishing("2026-02-20T08:00:00Z", "low", json!({"amount": "20", "currency": "EUR"}), 30))
        .await);
    let apr = id(&app
        .create_incident(json!({"severity": "high", "detected_at": "2026-04-01T00:00:00Z",
                                "impact": {"cost": {"amount": "5000", "currency": "JPY"}}}))
        .await);
    app.create_incident(json!({"detected_at": "2025-12-31T23:59:59Z"})).await;
    for (incident, minutes) in [(&jan, 90), (&jan, 30), (&feb, 45)] {
        let body = json!({"person": "dana@example.com", "phase": "analysis", "minutes": minutes});
        app.post(&format!("/api/v1/incidents/{incident}/effort"), &body).await.error_for_status().unwrap();
    }
    let _ = apr;

    let stats: Value = app
        .get("/api/v1/stats?since=2026-01-01T00:00:00Z&until=2027-01-01T00:00:00Z&period=quarter")
        .await
        .json()
        .await
        .unwrap();
    let handling = &stats["incidents"]["handling"];
    assert_eq!(
        handling["all"],
        json!({"incidents": 3, "time_spent_minutes": 165, "incidents_with_time_spent": 2,
               "mean_time_spent_minutes": 82.5, "downtime_minutes": 90,
               "cost": [{"amount": "120.50", "currency": "EUR"}, {"amount": "5000", "currency": "JPY"}]}),
        "the December incident is outside the range; euros and yen are not added up"
    );
    let periods: Vec<(&str, i64)> = handling["by_period"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["period"].as_str().unwrap(), p["incidents"].as_i64().unwrap()))
        .collect();
    assert_eq!(periods, [("2026-Q1", 2), ("2026-Q2", 1)]);
    assert_eq!(handling["by_period"][0]["time_spent_minutes"], 165);
    let severities: Vec<(&str, i64)> = handling["by_severity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["severity"].as_str().unwrap(), p["incidents"].as_i64().unwrap()))
        .collect();
    assert_eq!(severities, [("high", 2), ("low", 1)]);
    let categories: Vec<(Value, i64)> = handling["by_category"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["category"].clone(), p["incidents"].as_i64().unwrap()))
        .collect();
    assert!(categories.contains(&(json!("phishing"), 2)) && categories.contains(&(Value::Null, 1)), "{categories:?}");

    let monthly: Value = app.get("/api/v1/stats?since=2026-01-01T00:00:00Z").await.json().await.unwrap();
    let months: Vec<&str> = monthly["incidents"]["handling"]["by_period"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"].as_str().unwrap())
        .collect();
    assert_eq!(months, ["2026-01", "2026-02", "2026-04"]);
    assert_eq!(monthly["incidents"]["total"], 3, "the incident totals take the same range");

    // The range includes its start and excludes its end, to the microsecond: the April incident was
    // detected at midnight exactly.
    for (range, incidents) in [
        ("since=2026-04-01T00:00:00Z", 1),
        ("since=2026-01-01T00:00:00Z&until=2026-04-01T00:00:00Z", 2),
        ("since=2026-04-01T00:00:00.000001Z", 0),
    ] {
        let ranged: Value = app.get(&format!("/api/v1/stats?{range}")).await.json().await.unwrap();
        assert_eq!(ranged["incidents"]["handling"]["all"]["incidents"], incidents, "{range}");
    }

    let bad = app.get("/api/v1/stats?period=week&since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z").await;
    let problem = assert_problem(bad, 422, "validation_failed").await;
    assert_eq!(crate::helpers::error_fields(&problem), ["period", "until"]);
}
