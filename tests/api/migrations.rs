//! Migrations that move data: what a database upgraded in place serves is what a fresh one serves.

use serde_json::{Value, json};

use crate::helpers::{id, spawn_app};

/// The migration that keeps each action's tags, tickets and owner's leaving in its row fills them in
/// from the tables that held them before, so an upgraded database answers exactly as before.
#[tokio::test]
async fn actions_upgraded_in_place_keep_their_tags_tickets_and_owners_leaving() {
    let app = spawn_app().await;
    let incident = id(&app.create_incident(json!({})).await);
    let tickets = json!([
        {"system": "jira", "key": "SEC-7", "url": "https://jira.example.com/browse/SEC-7"},
        {"system": "servicenow", "key": "INC0001"}
    ]);
    let detailed = app
        .create_action(
            &incident,
            json!({"owner_email": "gone@example.com", "tags": ["vpn", "mfa"], "external_refs": tickets}),
        )
        .await;
    let plain = app.create_action(&incident, json!({"owner_email": "stays@example.com"})).await;
    app.put_person("gone@example.com", json!({"active": false})).await;
    let paths = [&detailed, &plain].map(|action| format!("/api/v1/actions/{}", id(action)));
    let mut before = Vec::new();
    for path in &paths {
        before.push(app.get(path).await.json::<Value>().await.unwrap());
    }
    assert_eq!(before[0]["owner_inactive"], true);
    assert_eq!(before[0]["tags"], json!(["mfa", "vpn"]));

    let backend = if app.postgres_database().is_some() { "postgres" } else { "sqlite" };
    let migration = format!(
        "{}/migrations/{backend}/2026-12-05-120000_an_action_row_holds_its_tags_tickets_and_owners_leaving",
        env!("CARGO_MANIFEST_DIR")
    );
    let sql = |file: &str| std::fs::read_to_string(format!("{migration}/{file}")).unwrap();
    app.execute_sql(&sql("down.sql"));
    app.execute_sql(&sql("up.sql"));

    for (path, before) in paths.iter().zip(&before) {
        assert_eq!(&app.get(path).await.json::<Value>().await.unwrap(), before);
    }
}
