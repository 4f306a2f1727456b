//! An incident's impact, root cause and attack: recorded, merged, cleared, checked and audited.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, error_fields, id, spawn_app};

fn assessed() -> Value {
    json!({
        "impact": {
            "business_impact": "Finance could not pay suppliers for a day.",
            "affected_systems": [
                {"name": "sso.example.com", "kind": "application", "role": "impersonated by the phishing page"},
                {"name": "dana@example.com", "kind": "account"}
            ],
            "data_exposed": ["personal_data", "credentials", "credentials"],
            "records_exposed": 3, "downtime_minutes": 240, "people_affected": 3,
            "cost": {"amount": "12500.5", "currency": "EUR"},
            "notification": {"regulator": true, "deadline": "2026-11-05T08:15:00+01:00"}
        },
        "root_cause": {
            "description": "Newly registered domains were not blocked at the proxy.",
            "category": "process_gap", "contributing_factors": ["SMS codes as the second factor"]
        },
        "attack": {"vector": "email", "techniques": [{"id": " t1566.002 ", "note": "Link to a fake SSO page"}, {"id": "T1078"}]}
    })
}

#[tokio::test]
async fn an_incident_keeps_its_impact_root_cause_and_attack_as_recorded() {
    let app = spawn_app().await;
    let created = app.create_incident(assessed()).await;
    assert_eq!(
        created["impact"],
        json!({
            "business_impact": "Finance could not pay suppliers for a day.",
            "affected_systems": [
                {"name": "sso.example.com", "kind": "application", "role": "impersonated by the phishing page"},
                {"name": "dana@example.com", "kind": "account", "role": null}
            ],
            "data_exposed": ["credentials", "personal_data"],
            "records_exposed": 3, "downtime_minutes": 240, "people_affected": 3,
            "cost": {"amount": "12500.50", "currency": "EUR"},
            "notification": {"regulator": true, "customers": false, "deadline": "2026-11-05T07:15:00Z"}
        })
    );
    assert_eq!(created["root_cause"]["category"], "process_gap");
    assert_eq!(
        created["attack"],
        json!({"vector": "email", "techniques": [
            {"id": "T1566.002", "note": "Link to a fake SSO page"}, {"id": "T1078", "note": null}]})
    );
    let fetched: Value = app.get(&format!("/api/v1/incidents/{}", id(&created))).await.json().await.unwrap();
    assert_eq!(fetched, created, "read back as stored, on both backends");

    let plain = app.create_incident(json!({})).await;
    assert_eq!(
        (&plain["impact"]["affected_systems"], &plain["impact"]["cost"], &plain["root_cause"]["category"]),
        (&json!([]), &Value::Null, &Value::Null),
        "nothing assessed yet: empty lists and nulls"
    );
}

/// Merge-patch all the way down: a member of the impact changes alone; `null` clears a member or a group.
#[tokio::test]
async fn a_patch_merges_each_group_member_by_member_and_null_clears() {
    let app = spawn_app().await;
    let incident = app.create_incident(assessed()).await;
    let path = format!("/api/v1/incidents/{}", id(&incident));

    let response = app
        .patch(
            &path,
            &json!({"impact": {"downtime_minutes": 90, "cost": null}, "root_cause": {"category": "human_error"}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["impact"]["downtime_minutes"], 90);
    assert_eq!(patched["impact"]["cost"], Value::Null);
    assert_eq!(patched["impact"]["records_exposed"], 3, "left out, kept");
    assert_eq!(patched["impact"]["affected_systems"], incident["impact"]["affected_systems"]);
    assert_eq!(patched["root_cause"]["category"], "human_error");
    assert_eq!(patched["root_cause"]["description"], incident["root_cause"]["description"]);
    assert_eq!(patched["attack"], incident["attack"]);
    assert_eq!(patched["version"], 2);

    let whole: Value = app.patch(&path, &json!({"impact": {"records_exposed": 4.0}})).await.json().await.unwrap();
    assert_eq!(whole["impact"]["records_exposed"], 4, "1.0 is a whole number in JSON Schema too");

    let cleared: Value = app.patch(&path, &json!({"attack": null})).await.json().await.unwrap();
    assert_eq!(cleared["attack"], json!({"vector": null, "techniques": []}));

    let history: Value = app.get(&format!("{path}/history")).await.json().await.unwrap();
    let changes = &history["items"][2]["changes"];
    assert_eq!(changes["impact"]["old"]["downtime_minutes"], 240, "{history}");
    assert_eq!(changes["impact"]["new"]["downtime_minutes"], 90);
    assert_eq!(changes["root_cause"]["new"]["category"], "human_error");
    assert!(changes.get("attack").is_none(), "an unchanged group is not in the event: {changes}");
}

#[tokio::test]
async fn every_bad_value_is_named_at_once() {
    let app = spawn_app().await;
    let body = json!({
        "title": "Phishing", "severity": "high",
        "impact": {
            "affected_systems": [{"name": "sso", "kind": "application"}, {"name": " ", "kind": "host"}],
            "downtime_minutes": -5, "records_exposed": 1.5, "people_affected": 1_000_000_000_000_000_i64,
            "cost": {"amount": "12.345", "currency": "EUR"},
            "notification": {"deadline": "2026-11-05T08:15:00Z"}
        },
        "root_cause": {"category": "bad_luck", "contributing_factors": ["ok", ""]},
        "attack": {"vector": "email", "techniques": [{"id": "T1566"}, {"id": "T15661"}, {"id": "t1566"}]}
    });
    let problem = assert_problem(app.post("/api/v1/incidents", &body).await, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        [
            "attack.techniques[1].id",
            "impact.affected_systems[1].name",
            "impact.cost.amount",
            "impact.downtime_minutes",
            "impact.notification.deadline",
            "impact.people_affected",
            "impact.records_exposed",
            "root_cause.category",
            "root_cause.contributing_factors[1]",
        ],
        "{problem}"
    );

    let incident = id(&app.create_incident(json!({})).await);
    let path = format!("/api/v1/incidents/{incident}");
    let unreadable = json!({"impact": {"affected_systems": [{"name": "db", "kind": "mainframe"}], "downtime_minutes": -5,
                                       "cost": ["100", "EUR"]}});
    let problem = assert_problem(app.patch(&path, &unreadable).await, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        ["impact.affected_systems[0].kind", "impact.cost", "impact.downtime_minutes"],
        "an unreadable item does not hide the other errors: {problem}"
    );
    for (patch, field) in [
        (json!({"impact": {"cost": {"amount": "100", "currency": "EURO"}}}), "impact.cost.currency"),
        (json!({"impact": {"cost": {"amount": 100.5, "currency": "EUR"}}}), "impact.cost.amount"),
        (json!({"impact": {"cost": {"amount": "1.5", "currency": "JPY"}}}), "impact.cost.amount"),
        (
            json!({"impact": {"affected_systems": [{"name": "db", "kind": "mainframe"}]}}),
            "impact.affected_systems[0].kind",
        ),
        (json!({"impact": {"data_exposed": ["secrets"]}}), "impact.data_exposed[0]"),
        (json!({"impact": []}), "impact"),
        (json!({"attack": {"techniques": [{"id": "T1566"}, {"id": "T1566 "}]}}), "attack.techniques[1].id"),
        (json!({"attack": {"vector": "carrier_pigeon"}}), "attack.vector"),
        (
            json!({"attack": {"techniques": (0..51).map(|n| json!({"id": format!("T{:04}", 1000 + n)})).collect::<Vec<_>>()}}),
            "attack.techniques",
        ),
        (json!({"root_cause": {"contributing_factors": vec!["factor"; 21]}}), "root_cause.contributing_factors"),
        (json!({"impact": {"surprise": 1}}), "impact.surprise"),
        (json!({"impact": {"data_exposed": vec!["other"; 9]}}), "impact.data_exposed"),
        (
            json!({"impact": {"affected_systems": [{"name": "db", "kind": "host", "role": " "}]}}),
            "impact.affected_systems[0].role",
        ),
        (json!({"impact": {"business_impact": ""}}), "impact.business_impact"),
    ] {
        let problem = assert_problem(app.patch(&path, &patch).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [field], "{patch}: {problem}");
    }
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged["version"], 1, "nothing was stored");
}

/// Viewers read the assessment; only editors change it.
#[tokio::test]
async fn viewers_read_the_assessment_and_cannot_change_it() {
    let app = spawn_app().await;
    let incident = app.create_incident(assessed()).await;
    let path = format!("/api/v1/incidents/{}", id(&incident));
    let viewer = app.token("viewer@example.com", &[action_tracker::domain::principal::Role::Viewer]);
    let read: Value = app.request_as(Some(&viewer), reqwest::Method::GET, &path, None).await.json().await.unwrap();
    assert_eq!(read["impact"], incident["impact"]);
    let refused = app.request_as(Some(&viewer), reqwest::Method::PATCH, &path, Some(&json!({"impact": null}))).await;
    assert_eq!(refused.status(), 403);
}
