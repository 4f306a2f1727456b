//! `action-tracker seed`: realistic data in an empty database.

use action_tracker::config::DatabaseUrl;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use serde_json::{Value, json};

use crate::helpers::{id, spawn_app};

#[derive(QueryableByName)]
struct Definition {
    #[diesel(sql_type = diesel::sql_types::Text)]
    definition: String,
}

/// The indexes and foreign keys of the tables seeding fills, as the database would recreate them.
fn indexes_and_keys(url: &DatabaseUrl) -> Vec<String> {
    let rows: Vec<Definition> = match url {
        DatabaseUrl::Sqlite(path) => {
            let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
            diesel::sql_query(
                "SELECT sql AS definition FROM sqlite_master \
                 WHERE tbl_name IN ('actions', 'action_tags') AND sql IS NOT NULL ORDER BY 1",
            )
            .load(&mut conn)
            .unwrap()
        }
        DatabaseUrl::Postgres(url) => {
            let mut conn = diesel::PgConnection::establish(url).unwrap();
            diesel::sql_query(
                "SELECT pg_get_indexdef(indexrelid) AS definition FROM pg_index \
                 WHERE indrelid IN ('actions'::regclass, 'action_tags'::regclass) \
                 UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
                 WHERE conrelid IN ('actions'::regclass, 'action_tags'::regclass) ORDER BY 1",
            )
            .load(&mut conn)
            .unwrap()
        }
    };
    rows.into_iter().map(|row| row.definition).collect()
}

#[tokio::test]
async fn seed_fills_an_empty_database_and_refuses_a_full_one() {
    let app = spawn_app().await;
    let seed = |extra: &[&str]| {
        app.command(&["seed", "--incidents", "3", "--actions", "500", "--owners", "7"]).args(extra).output().unwrap()
    };
    let schema = indexes_and_keys(&app.settings.database.url);
    assert!(schema.iter().any(|definition| definition.contains("actions_owner_due")), "{schema:?}");
    let first = seed(&[]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(
        indexes_and_keys(&app.settings.database.url),
        schema,
        "the indexes and foreign keys set aside while seeding an empty database are all back"
    );
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
