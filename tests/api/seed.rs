//! `action-tracker seed`: realistic data in an empty database.

use serde_json::{Value, json};

use crate::helpers::{id, spawn_app};

#[tokio::test]
async fn seed_fills_an_empty_database_and_refuses_a_full_one() {
    let app = spawn_app().await;
    let seed = |extra: &[&str]| {
        app.command(&["seed", "--incidents", "3", "--actions", "500", "--owners", "7"]).args(extra).output().unwrap()
    };
    let first = seed(&[]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let stats: Value = app.get("/api/v1/stats").await.json().await.unwrap();
    assert_eq!(stats["actions"]["total"], 500);
    assert_eq!(stats["incidents"]["total"], 3);
    assert!(stats["actions"]["overdue"].as_i64().unwrap() > 0, "some due dates are past");
    assert!(stats["actions"]["by_status"]["done"].as_i64().unwrap() > 0);
    assert!(stats["actions"]["top_overdue_owners"].as_array().unwrap().len() <= 7);

    let again = seed(&[]);
    assert!(!again.status.success(), "a database with data is refused without --force");
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let incident = id(&app.create_incident(json!({})).await);
    let next = app.create_action(&incident, json!({})).await;
    assert_eq!(next["key"], "ACT-501", "keys continue after the seeded ones");
}
