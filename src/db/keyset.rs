//! Keyset pagination for boxed diesel queries.

/// Orders `query` by `(column, id)` in `direction` and, given the last `(value, last_id)` served,
/// keeps only the rows strictly after it. Both columns have an index of that shape behind them.
///
/// Written `keyset!(query, actions.due_date: Date, asc, after)`: the table, the column and its SQL type.
/// "After" is a row-value comparison, `(column, id) > (value, last_id)`, written in SQL (from those
/// names, never from input) since diesel has no row values.
/// Both databases start an index range scan at the cursor with it; the equivalent `column > value OR
/// (column = value AND id > last_id)` made them walk the index from its start, past every row served
/// before: for a page in the middle of 1 M actions on PostgreSQL, 635 ms instead of 0.4 ms sorted by
/// priority, 62 ms instead of 0.3 ms by due date.
macro_rules! keyset {
    ($query:expr, $table:ident . $column:ident : $sql_type:ident, asc, $after:expr) => {
        keyset!(@page $query.order(($table::$column.asc(), $table::id.asc())), $table, $column, $sql_type, ">", $after)
    };
    ($query:expr, $table:ident . $column:ident : $sql_type:ident, desc, $after:expr) => {
        keyset!(@page $query.order(($table::$column.desc(), $table::id.desc())), $table, $column, $sql_type, "<", $after)
    };
    (@page $ordered:expr, $table:ident, $column:ident, $sql_type:ident, $op:literal, $after:expr) => {{
        let query = $ordered;
        match $after {
            Some((value, last_id)) => query.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(concat!(
                    "(", stringify!($table), ".", stringify!($column), ", ", stringify!($table), ".id) ", $op, " ("
                ))
                .bind::<diesel::sql_types::$sql_type, _>(value)
                .sql(", ")
                .bind::<diesel::sql_types::Text, _>(last_id)
                .sql(")"),
            ),
            None => query,
        }
    }};
}

pub(crate) use keyset;
