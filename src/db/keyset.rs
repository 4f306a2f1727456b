//! Keyset pagination for boxed diesel queries.

/// Orders `query` by `(column, id)` in `direction` and, given the last `(value, last_id)` served,
/// keeps only the rows strictly after it. Both columns have an index of that shape behind them.
macro_rules! keyset {
    ($query:expr, $column:expr, $id:expr, asc, $after:expr) => {{
        let query = $query.order(($column.asc(), $id.asc()));
        match $after {
            Some((value, last_id)) => query.filter($column.gt(value).or($column.eq(value).and($id.gt(last_id)))),
            None => query,
        }
    }};
    ($query:expr, $column:expr, $id:expr, desc, $after:expr) => {{
        let query = $query.order(($column.desc(), $id.desc()));
        match $after {
            Some((value, last_id)) => query.filter($column.lt(value).or($column.eq(value).and($id.lt(last_id)))),
            None => query,
        }
    }};
}

pub(crate) use keyset;
