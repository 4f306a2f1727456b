//! Every list of actions the API offers walks an index in its sort order, from the cursor: its plan
//! never sorts the matching actions, which at 1 M actions cost SQLite half a second a page.

use action_tracker::api::actions::ActionListQuery;
use action_tracker::db::Db;
use actix_web::web::Query;
use chrono::{Duration, Utc};
use diesel::Connection;
use diesel::connection::SimpleConnection;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const SORTS: [&str; 7] =
    ["created_at", "-created_at", "updated_at", "-updated_at", "due_date", "-due_date", "priority"];

/// The filters of the lists clients ask for, alone and as dashboards combine them. Left out, because
/// their matches are few by nature and sorting them is cheap: `review_id` (the actions one review
/// decided), `external_system`/`external_key` (one action at most), `owner_inactive=true` (the work of
/// people who left) and `q` (text search, which finds its matches first, by trigram index on PostgreSQL).
fn filters(incident: &str) -> Vec<String> {
    let today = Utc::now().date_naive();
    let since = (Utc::now() - Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ");
    [
        String::new(),
        "status=open,in_progress".into(),
        "status=open,in_progress&overdue=true".into(),
        "overdue=true".into(),
        "overdue=false".into(),
        "tag=mfa".into(),
        "priority=critical,high".into(),
        "category=process".into(),
        "status=done&verified=false".into(),
        "owner_inactive=false".into(),
        format!("due_after={}&due_before={}", today - Duration::days(30), today + Duration::days(30)),
        format!("updated_since={since}"),
        format!("incident_id={incident}"),
        format!("incident_id={incident}&status=open,in_progress,blocked"),
        "owner=owner1@example.com".into(),
        "owner=owner1@example.com&status=open,in_progress,blocked&overdue=true".into(),
    ]
    .into_iter()
    .collect()
}

/// The plan the service would run `query` with, built by the same parsing and query builder as the API.
async fn plan(db: &Db, query: &str) -> Vec<String> {
    let query = Query::<ActionListQuery>::from_query(query).unwrap().into_inner();
    let (filter, sort) = query.parse(Utc::now().date_naive()).unwrap();
    let page = query.page(&filter, sort).unwrap();
    action_tracker::db::actions::list_plan(db, filter, page).await.unwrap()
}

/// Lists of fewer matches than this may be sorted: PostgreSQL rightly sorts a person's hundred actions
/// rather than visit them in index order. What this test is for are sorts of a large share of all actions.
const FEW: u64 = 1000;

/// A step that sorts the matches: SQLite's temporary B-tree (which it uses only where no index serves
/// the order); PostgreSQL's Sort or Incremental Sort of more than [`FEW`] rows, by its estimate.
fn sorts(line: &str) -> bool {
    let node = line.trim_start().trim_start_matches("->").trim_start();
    if line.contains("TEMP B-TREE") {
        return true;
    }
    // The node's own line, "Sort  (cost=… rows=… width=…)", not its "Sort Key:" or "Sort Method:".
    if !(node.starts_with("Sort  (") || node.starts_with("Incremental Sort  (")) {
        return false;
    }
    let rows = node.split("rows=").nth(1).and_then(|rest| rest.split(' ').next()).and_then(|n| n.parse::<u64>().ok());
    rows.is_none_or(|rows| rows > FEW)
}

async fn lists_that_sort(app: &TestApp, db: &Db, incident: &str) -> Vec<String> {
    let mut sorting = Vec::new();
    for filter in filters(incident) {
        for sort in SORTS {
            // A cursor from a page of two (some lists have fewer than 50 matches), for pages of 50.
            let query = format!("{filter}&sort={sort}");
            let first: Value = app.get(&format!("/api/v1/actions?{query}&limit=2")).await.json().await.unwrap();
            let cursor = first["next_cursor"].as_str().unwrap_or_else(|| panic!("a second page of {query}"));
            for page in [format!("{query}&limit=50"), format!("{query}&limit=50&cursor={cursor}")] {
                let plan = plan(db, &page).await;
                if plan.iter().any(|line| sorts(line)) {
                    sorting.push(format!("{page}:\n{}", plan.join("\n")));
                }
            }
        }
    }
    sorting
}

/// On a database of its own, seeded small; or, with `PLAN_DATABASE_URL`, on one seeded and migrated
/// beforehand (`seed --incidents 1000 --actions 1000000`), to see the plans at the benchmark's size.
#[tokio::test]
async fn every_list_of_actions_walks_an_index_in_its_order() {
    let app = match std::env::var("PLAN_DATABASE_URL") {
        Ok(url) => spawn_app_with(|settings| settings.database.url = url.parse().unwrap()).await,
        Err(_) => {
            let app = spawn_app().await;
            // Shaped like the benchmark's 1 M actions (1000 per incident, 100 per owner), smaller.
            let seeded =
                app.command(&["seed", "--incidents", "20", "--actions", "20000", "--owners", "200"]).output().unwrap();
            assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
            app
        }
    };
    let incidents: Value = app.get("/api/v1/incidents?limit=1").await.json().await.unwrap();
    let incident = incidents["items"][0]["id"].as_str().unwrap().to_owned();
    let db = Db::connect(&app.settings.database).unwrap();

    // `seed` leaves PostgreSQL with statistics (VACUUM ANALYZE), as autovacuum would. SQLite has none
    // unless someone runs ANALYZE: its plans must hold either way.
    let sorting = lists_that_sort(&app, &db, &incident).await;
    assert!(sorting.is_empty(), "{} lists sort their matches:\n\n{}", sorting.len(), sorting.join("\n\n"));
    if let action_tracker::config::DatabaseUrl::Sqlite(path) = &app.settings.database.url
        && std::env::var("PLAN_DATABASE_URL").is_err()
    {
        diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap().batch_execute("ANALYZE").unwrap();
        let db = Db::connect(&app.settings.database).unwrap();
        let sorting = lists_that_sort(&app, &db, &incident).await;
        assert!(sorting.is_empty(), "after ANALYZE, {} lists sort:\n\n{}", sorting.len(), sorting.join("\n\n"));
    }
}
