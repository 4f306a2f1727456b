//! The plan a database would run a statement with, read with its own EXPLAIN, so tests can hold the
//! statements the API runs to the indexes meant to serve them. Nothing here runs in a request.

use diesel::backend::Backend;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Integer, Text, Untyped};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::StoreError;
use super::conn::AsyncSqlite;

/// `EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL, in front of a statement, with its binds.
struct Explain<Q>(Q);

impl<Q> QueryId for Explain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Explain<Q> {
    type SqlType = Untyped;
}

impl<Q> RunQueryDsl<AsyncSqlite> for Explain<Q> {}
impl<Q> RunQueryDsl<AsyncPgConnection> for Explain<Q> {}

impl<Q: QueryFragment<Sqlite>> QueryFragment<Sqlite> for Explain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        explain(&self.0, "EXPLAIN QUERY PLAN ", out.reborrow())
    }
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Explain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        explain(&self.0, "EXPLAIN ", out.reborrow())
    }
}

fn explain<'b, DB: Backend, Q: QueryFragment<DB>>(
    query: &'b Q,
    prefix: &str,
    mut out: AstPass<'_, 'b, DB>,
) -> QueryResult<()> {
    out.unsafe_to_cache_prepared();
    out.push_sql(prefix);
    query.walk_ast(out.reborrow())
}

#[derive(QueryableByName)]
struct SqliteStep {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Integer)]
    parent: i32,
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PostgresLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// SQLite's plan of `query`: one line per step, indented by depth, as its shell prints it.
pub(super) async fn sqlite<Q: QueryFragment<Sqlite> + Send + 'static>(
    conn: &mut AsyncSqlite,
    query: Q,
) -> Result<Vec<String>, StoreError> {
    let steps: Vec<SqliteStep> = Explain(query).load(conn).await?;
    let mut depth: Vec<(i32, usize)> = Vec::new();
    Ok(steps
        .into_iter()
        .map(|step| {
            while depth.last().is_some_and(|(id, _)| *id != step.parent) {
                depth.pop();
            }
            let level = depth.last().map_or(0, |(_, level)| level + 1);
            depth.push((step.id, level));
            format!("{}{}", "  ".repeat(level), step.detail)
        })
        .collect())
}

/// PostgreSQL's plan of `query`: the lines `EXPLAIN` prints, with its estimates.
pub(super) async fn postgres<Q: QueryFragment<Pg> + Send>(
    conn: &mut AsyncPgConnection,
    query: Q,
) -> Result<Vec<String>, StoreError> {
    let lines: Vec<PostgresLine> = Explain(query).load(conn).await?;
    Ok(lines.into_iter().map(|line| line.line).collect())
}
