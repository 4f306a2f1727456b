//! Aggregates for dashboards. Numbers over every action add up the tallies (`db::tallies`); numbers
//! over a filter are counted from the matching actions in one pass, plus grouped counts, and percentiles
//! by ordered offset (SQLite has no percentile function; the same statement works on both backends).
//! Where the SQL differs (date arithmetic, months), the two spellings stand side by side.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::conn::on;
use super::rows::to_column;
use super::schema::{actions, incidents};
use super::{Conn, Db, StoreError, tallies};
use crate::domain::action::ActionStatus;
use crate::domain::email::EmailAddress;
use crate::domain::text::ShortText;

/// What the numbers are about.
#[derive(Debug, Clone, Default)]
pub struct StatsFilter {
    pub incident_id: Option<Uuid>,
    pub owner: Option<EmailAddress>,
    pub team: Option<ShortText>,
    /// Only actions created, and incidents detected (or, without a detection time, recorded), at or after
    /// this time.
    pub since: Option<DateTime<Utc>>,
    /// And before this time.
    pub until: Option<DateTime<Utc>>,
    /// How the incident handling figures are grouped in time.
    pub period: Period,
}

/// A calendar period in UTC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Period {
    #[default]
    Month,
    Quarter,
}

/// The incident handling figures of one group of incidents.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Handling {
    pub incidents: i64,
    pub downtime_minutes: i64,
    /// Minor units per currency code; amounts in different currencies are never added up.
    pub cost: BTreeMap<String, i64>,
    pub time_spent_minutes: i64,
    /// Incidents with any time recorded, which the mean time spent is over.
    pub incidents_with_time_spent: i64,
}

/// Incident handling, in all and by period, category and severity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HandlingTotals {
    pub all: Handling,
    /// "2026-11" or "2026-Q4", oldest first.
    pub by_period: Vec<(String, Handling)>,
    /// `None` for incidents without a category.
    pub by_category: Vec<(Option<String>, Handling)>,
    pub by_severity: Vec<(String, Handling)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionTotals {
    pub total: i64,
    pub by_status: Vec<(String, i64)>,
    pub overdue: i64,
    pub due_next_7_days: i64,
    /// Overdue by 1–7, 8–30, 31–90 and more than 90 days.
    pub aging: [i64; 4],
    pub by_priority: Vec<(i16, i64)>,
    pub by_category: Vec<(String, i64)>,
    pub top_overdue_owners: Vec<(String, i64)>,
    pub owner_inactive: i64,
    pub done: i64,
    pub done_on_time: i64,
    pub cancelled: i64,
    pub median_seconds_to_close: Option<f64>,
    pub p90_seconds_to_close: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentTotals {
    pub total: i64,
    /// (YYYY-MM, incidents resolved that month), oldest first, the last 12 months with any.
    pub resolved_per_month: Vec<(String, i64)>,
    pub median_seconds_to_contain: Option<f64>,
    pub median_seconds_to_resolve: Option<f64>,
}

/// Narrows a boxed query over `actions` to the filter (a macro, because grouped and plain queries are
/// different types).
macro_rules! narrowed {
    ($query:expr, $filter:expr) => {{
        let filter: &StatsFilter = $filter;
        let mut query = $query;
        if let Some(id) = filter.incident_id {
            query = query.filter(actions::incident_id.eq(id.to_string()));
        }
        if let Some(owner) = &filter.owner {
            query = query.filter(actions::owner_email.eq(owner.as_str().to_owned()));
        }
        if let Some(team) = &filter.team {
            query = query.filter(actions::team.eq(team.as_str().to_owned()));
        }
        if let Some(since) = filter.since {
            query = query.filter(actions::created_at.ge(to_column(since)));
        }
        if let Some(until) = filter.until {
            query = query.filter(actions::created_at.lt(to_column(until)));
        }
        query
    }};
}

/// A boxed query over the actions matching the filter, for the backend it runs on (a macro, because each
/// backend boxes its own query).
macro_rules! filtered {
    ($filter:expr) => {
        narrowed!(actions::table.into_boxed(), $filter)
    };
}

fn active() -> Vec<&'static str> {
    ActionStatus::ACTIVE.iter().map(|s| <&str>::from(*s)).collect()
}

/// `COUNT(*)` of the rows where `condition` holds, as one column of a single pass.
fn count_where(condition: &str) -> String {
    format!("COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0)")
}

/// Seconds between two timestamp columns.
fn seconds_between(conn: &Conn, from: &str, to: &str) -> String {
    match conn {
        Conn::Postgres(_) => format!("EXTRACT(EPOCH FROM ({to} - {from}))::float8"),
        Conn::Sqlite(_) => format!("(julianday({to}) - julianday({from})) * 86400.0"),
    }
}

impl StatsFilter {
    fn is_everything(&self) -> bool {
        self.incident_id.is_none()
            && self.owner.is_none()
            && self.team.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }
}

/// The numbers for every action come from the tallies (see `db::tallies`) once they are built; a filter
/// narrows to rows found by index (an incident's or an owner's actions), counted directly.
///
/// The action and incident figures are read in one snapshot, so under concurrent writes they still add
/// up (the total to its parts, the actions to their incidents).
#[tracing::instrument(skip(db))]
pub async fn snapshot(
    db: &Db,
    filter: StatsFilter,
    today: NaiveDate,
) -> Result<(ActionTotals, IncidentTotals, HandlingTotals), StoreError> {
    db.snapshot(async move |conn| {
        let tallied = if filter.is_everything() { from_tallies(conn, today).await? } else { None };
        let actions = match tallied {
            Some(totals) => totals,
            None => counted(conn, &filter, today).await?,
        };
        Ok((actions, incidents(conn, &filter).await?, handling(conn, &filter).await?))
    })
    .await
}

/// When an incident counts as happening: detected, or recorded when nobody noted the detection. An index
/// on this very expression (`incidents_opened`) serves the range on both backends.
const OPENED: &str = "COALESCE(detected_at, created_at)";

/// The `WHERE` of the incidents the filter covers (owner and team narrow actions only). Every value is
/// ours (a parsed id, formatted times), never client text.
fn incident_range(filter: &StatsFilter) -> String {
    let mut conditions = vec!["1 = 1".to_owned()];
    if let Some(id) = filter.incident_id {
        conditions.push(format!("id = '{id}'"));
    }
    // As diesel writes timestamps into SQLite (`%F %T%.f`, no fraction for whole seconds), which compares
    // them as text: a fixed six-digit fraction would put "00:00:00" before "00:00:00.000000".
    let at = |time: DateTime<Utc>| format!("'{}'", to_column(time).format("%F %T%.f"));
    if let Some(since) = filter.since {
        conditions.push(format!("{OPENED} >= {}", at(since)));
    }
    if let Some(until) = filter.until {
        conditions.push(format!("{OPENED} < {}", at(until)));
    }
    conditions.join(" AND ")
}

#[derive(Debug, QueryableByName)]
struct HandlingRow {
    #[diesel(sql_type = Nullable<Text>)]
    key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    currency: Option<String>,
    #[diesel(sql_type = BigInt)]
    incidents: i64,
    #[diesel(sql_type = BigInt)]
    downtime: i64,
    #[diesel(sql_type = BigInt)]
    cost: i64,
    #[diesel(sql_type = BigInt)]
    time_spent: i64,
    #[diesel(sql_type = BigInt)]
    with_time_spent: i64,
}

/// Incidents handled, time spent, downtime and cost, grouped by `key` (an SQL expression over incidents);
/// one statement, one pass over the incidents in range and the time entries of those incidents only.
/// `key` `None`: one group of every incident in range.
async fn handling_by(
    conn: &mut Conn,
    filter: &StatsFilter,
    key: Option<&str>,
) -> Result<Vec<(Option<String>, Handling)>, StoreError> {
    let (select_key, group_by, order_by) = match key {
        Some(key) => (key.to_owned(), format!("{key}, cost_currency"), format!("ORDER BY {key}")),
        None => ("CAST(NULL AS TEXT)".to_owned(), "cost_currency".to_owned(), String::new()),
    };
    let sum = |column: &str| match conn {
        Conn::Postgres(_) => format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"),
        Conn::Sqlite(_) => format!("COALESCE(SUM({column}), 0)"),
    };
    let query = format!(
        "SELECT {select_key} AS key, cost_currency AS currency, COUNT(*) AS incidents, {downtime} AS downtime, \
         {cost} AS cost, {time_spent} AS time_spent, {with_time} AS with_time_spent \
         FROM incidents LEFT JOIN (SELECT incident_id, SUM(minutes) AS minutes FROM effort_entries \
         WHERE incident_id IN (SELECT id FROM incidents WHERE {range}) GROUP BY incident_id) AS spent \
         ON spent.incident_id = incidents.id \
         WHERE {range} GROUP BY {group_by} {order_by}",
        downtime = sum("downtime_minutes"),
        cost = sum("cost_minor_units"),
        time_spent = sum("spent.minutes"),
        with_time = count_where("spent.minutes IS NOT NULL"),
        range = incident_range(filter),
    );
    let rows: Vec<HandlingRow> = on!(conn, c => diesel::sql_query(&query).load(c).await)?;
    let mut groups: Vec<(Option<String>, Handling)> = Vec::new();
    for row in rows {
        if groups.last().is_none_or(|(key, _)| *key != row.key) {
            groups.push((row.key.clone(), Handling::default()));
        }
        if let Some((_, group)) = groups.last_mut() {
            group.incidents += row.incidents;
            group.downtime_minutes += row.downtime;
            group.time_spent_minutes += row.time_spent;
            group.incidents_with_time_spent += row.with_time_spent;
            if let Some(currency) = row.currency {
                *group.cost.entry(currency).or_default() += row.cost;
            }
        }
    }
    Ok(groups)
}

async fn handling(conn: &mut Conn, filter: &StatsFilter) -> Result<HandlingTotals, StoreError> {
    let period = match (&*conn, filter.period) {
        (Conn::Postgres(_), Period::Month) => format!("to_char({OPENED}, 'YYYY-MM')"),
        (Conn::Postgres(_), Period::Quarter) => format!("to_char({OPENED}, 'YYYY-\"Q\"Q')"),
        (Conn::Sqlite(_), Period::Month) => format!("strftime('%Y-%m', {OPENED})"),
        (Conn::Sqlite(_), Period::Quarter) => {
            format!("strftime('%Y', {OPENED}) || '-Q' || ((CAST(strftime('%m', {OPENED}) AS INTEGER) + 2) / 3)")
        }
    };
    let all = handling_by(conn, filter, None).await?.into_iter().next().map(|(_, all)| all).unwrap_or_default();
    let keyed = |groups: Vec<(Option<String>, Handling)>| -> Vec<(String, Handling)> {
        groups.into_iter().filter_map(|(key, handling)| Some((key?, handling))).collect()
    };
    Ok(HandlingTotals {
        all,
        by_period: keyed(handling_by(conn, filter, Some(period.as_str())).await?),
        by_category: handling_by(conn, filter, Some("category")).await?,
        by_severity: keyed(handling_by(conn, filter, Some("severity")).await?),
    })
}

async fn from_tallies(conn: &mut Conn, today: NaiveDate) -> Result<Option<ActionTotals>, StoreError> {
    if tallies::as_of(conn).await?.is_none() {
        return Ok(None);
    }
    let is_active = |status: &str| ActionStatus::ACTIVE.iter().any(|s| <&str>::from(*s) == status);
    let day = |offset: i64| today + chrono::Duration::days(offset);
    let mut totals = ActionTotals::default();
    let mut by_status: BTreeMap<String, i64> = BTreeMap::new();
    for row in tallies::by_due(conn).await? {
        totals.total += row.n;
        *by_status.entry(row.status.clone()).or_default() += row.n;
        match row.status.as_str() {
            "done" => {
                totals.done += row.n;
                if row.on_time == 1 {
                    totals.done_on_time += row.n;
                }
            }
            "cancelled" => totals.cancelled += row.n,
            status if is_active(status) => {
                let due = row.due_date;
                if due < today {
                    totals.overdue += row.n;
                }
                if due >= today && due <= day(7) {
                    totals.due_next_7_days += row.n;
                }
                let bucket = if due >= today {
                    None
                } else if due >= day(-7) {
                    Some(0)
                } else if due >= day(-30) {
                    Some(1)
                } else if due >= day(-90) {
                    Some(2)
                } else {
                    Some(3)
                };
                if let Some(bucket) = bucket {
                    totals.aging[bucket] += row.n;
                }
            }
            _ => {}
        }
    }
    totals.by_status = by_status.into_iter().filter(|(_, n)| *n != 0).collect();
    let mut by_priority: BTreeMap<i16, i64> = BTreeMap::new();
    let mut by_category: BTreeMap<String, i64> = BTreeMap::new();
    for row in tallies::by_kind(conn).await?.into_iter().filter(|row| is_active(&row.status)) {
        *by_priority.entry(row.priority).or_default() += row.n;
        *by_category.entry(row.category).or_default() += row.n;
    }
    totals.by_priority = by_priority.into_iter().filter(|(_, n)| *n != 0).collect();
    totals.by_category = by_category.into_iter().filter(|(_, n)| *n != 0).collect();
    totals.top_overdue_owners = tallies::top_overdue_owners(conn, today, TOP_OWNERS).await?;
    totals.owner_inactive = tallies::owner_inactive(conn).await?;
    let close = tallies::by_close(conn).await?;
    let closed: i64 = close.iter().map(|(_, n)| n).sum();
    let percentile = |q: f64| -> Option<f64> {
        let mut rank = percentile_offset(closed, q)?;
        close.iter().find_map(|(seconds, n)| {
            if rank < *n {
                return Some(*seconds as f64);
            }
            rank -= n;
            None
        })
    };
    totals.median_seconds_to_close = percentile(0.5);
    totals.p90_seconds_to_close = percentile(0.9);
    Ok(Some(totals))
}

const TOP_OWNERS: i64 = 10;

/// Which value, counted from 0 in ascending order, stands for quantile `q` of `n` values.
fn percentile_offset(n: i64, q: f64) -> Option<i64> {
    (n > 0).then(|| ((n - 1) as f64 * q).round() as i64)
}

async fn counted(conn: &mut Conn, filter: &StatsFilter, today: NaiveDate) -> Result<ActionTotals, StoreError> {
    let active_list = active().iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    let is_active = format!("status IN ({active_list})");
    let day = |offset: i64| format!("'{}'", today + chrono::Duration::days(offset));
    let on_time = match conn {
        Conn::Postgres(_) => "CAST(completed_at AS DATE) <= due_date",
        Conn::Sqlite(_) => "date(completed_at) <= due_date",
    };
    let gone = "owner_email IN (SELECT email FROM people WHERE active = 0)";
    let columns = [
        "COUNT(*)".to_owned(),
        count_where(&format!("{is_active} AND due_date < {}", day(0))),
        count_where(&format!("{is_active} AND due_date >= {} AND due_date <= {}", day(0), day(7))),
        count_where(&format!("{is_active} AND due_date < {} AND due_date >= {}", day(0), day(-7))),
        count_where(&format!("{is_active} AND due_date < {} AND due_date >= {}", day(-7), day(-30))),
        count_where(&format!("{is_active} AND due_date < {} AND due_date >= {}", day(-30), day(-90))),
        count_where(&format!("{is_active} AND due_date < {}", day(-90))),
        count_where(&format!("{is_active} AND {gone}")),
        count_where("status = 'done'"),
        count_where(&format!("status = 'done' AND {on_time}")),
        count_where("status = 'cancelled'"),
    ]
    .join(", ");
    let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) = on!(conn, c => filtered!(filter)
        .select(sql::<(BigInt, BigInt, BigInt, BigInt, BigInt, BigInt, BigInt, BigInt, BigInt, BigInt, BigInt)>(
            &columns,
        ))
        .first(c)
        .await)?;
    let (total, overdue, due_next_7_days, a1, a2, a3, a4, owner_inactive, done, done_on_time, cancelled) = row;

    let by_status: Vec<(String, i64)> = on!(conn, c => narrowed!(
        actions::table.group_by(actions::status).select((actions::status, diesel::dsl::count_star())).into_boxed(),
        filter
    )
    .order(actions::status.asc())
    .load(c)
    .await)?;
    let by_priority: Vec<(i16, i64)> = on!(conn, c => narrowed!(
        actions::table.group_by(actions::priority).select((actions::priority, diesel::dsl::count_star())).into_boxed(),
        filter
    )
    .filter(actions::status.eq_any(active()))
    .order(actions::priority.asc())
    .load(c)
    .await)?;
    let by_category: Vec<(String, i64)> = on!(conn, c => narrowed!(
        actions::table.group_by(actions::category).select((actions::category, diesel::dsl::count_star())).into_boxed(),
        filter
    )
    .filter(actions::status.eq_any(active()))
    .order(actions::category.asc())
    .load(c)
    .await)?;
    let top_overdue_owners: Vec<(String, i64)> = on!(conn, c => narrowed!(
        actions::table
            .group_by(actions::owner_email)
            .select((actions::owner_email, diesel::dsl::count_star()))
            .into_boxed(),
        filter
    )
    .filter(actions::status.eq_any(active()))
    .filter(actions::due_date.lt(today))
    .order((diesel::dsl::count_star().desc(), actions::owner_email.asc()))
    .limit(TOP_OWNERS)
    .load(c)
    .await)?;

    let to_close = seconds_between(conn, "created_at", "completed_at");
    let close_at = async |conn: &mut Conn, q: f64| -> Result<Option<f64>, StoreError> {
        let Some(offset) = percentile_offset(done, q) else {
            return Ok(None);
        };
        let value: Option<f64> = on!(conn, c => filtered!(filter)
            .filter(actions::status.eq("done"))
            .filter(actions::completed_at.is_not_null())
            .select(sql::<Nullable<Double>>(&to_close))
            .order(sql::<Double>(&to_close).asc())
            .offset(offset)
            .first(c)
            .await)
        .optional()?
        .flatten();
        Ok(value.map(|seconds| tallies::close_bucket(seconds.round() as i64) as f64))
    };
    let median_seconds_to_close = close_at(conn, 0.5).await?;
    let p90_seconds_to_close = close_at(conn, 0.9).await?;
    Ok(ActionTotals {
        total,
        by_status,
        overdue,
        due_next_7_days,
        aging: [a1, a2, a3, a4],
        by_priority,
        by_category,
        top_overdue_owners,
        owner_inactive,
        done,
        done_on_time,
        cancelled,
        median_seconds_to_close,
        p90_seconds_to_close,
    })
}

async fn incidents(conn: &mut Conn, filter: &StatsFilter) -> Result<IncidentTotals, StoreError> {
    let range = incident_range(filter);
    macro_rules! narrowed_incidents {
        ($query:expr) => {{ $query.filter(sql::<diesel::sql_types::Bool>(&range)) }};
    }
    // A macro, because each backend boxes its own query.
    macro_rules! base {
        () => {
            narrowed_incidents!(incidents::table.into_boxed())
        };
    }
    let total: i64 = on!(conn, c => base!().count().get_result(c).await)?;
    let month = match conn {
        Conn::Postgres(_) => "to_char(resolved_at, 'YYYY-MM')",
        Conn::Sqlite(_) => "strftime('%Y-%m', resolved_at)",
    };
    let mut resolved_per_month: Vec<(String, i64)> = on!(conn, c => narrowed_incidents!(
        incidents::table
            .group_by(sql::<Text>(month))
            .select((sql::<Text>(month), sql::<BigInt>("COUNT(*)")))
            .into_boxed()
    )
    .filter(incidents::resolved_at.is_not_null())
    .order(sql::<Text>(month).desc())
    .limit(12)
    .load(c)
    .await)?;
    resolved_per_month.reverse();
    let median = async |conn: &mut Conn, to: &str| -> Result<Option<f64>, StoreError> {
        let seconds = seconds_between(conn, "detected_at", to);
        let present = format!("detected_at IS NOT NULL AND {to} IS NOT NULL AND {to} >= detected_at");
        let n: i64 =
            on!(conn, c => base!().filter(sql::<diesel::sql_types::Bool>(&present)).count().get_result(c).await)?;
        if n == 0 {
            return Ok(None);
        }
        Ok(on!(conn, c => base!()
            .filter(sql::<diesel::sql_types::Bool>(&present))
            .select(sql::<Nullable<Double>>(&seconds))
            .order(sql::<Double>(&seconds).asc())
            .offset((n - 1) / 2)
            .first(c)
            .await)
        .optional()?
        .flatten())
    };
    let median_seconds_to_contain = median(conn, "contained_at").await?;
    let median_seconds_to_resolve = median(conn, "resolved_at").await?;
    Ok(IncidentTotals { total, resolved_per_month, median_seconds_to_contain, median_seconds_to_resolve })
}

/// What the Prometheus gauges show.
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    /// (status, priority, count)
    pub actions: Vec<(String, String, i64)>,
    pub overdue: i64,
    pub emails: Vec<(String, i64)>,
    pub webhooks: Vec<(String, i64)>,
    /// (about: "action" or "review", kind, count): reminders whose e-mail the SMTP server accepted, one
    /// per action or review and rung, so a digest e-mail about three actions counts three.
    pub reminders_sent: Vec<(String, String, i64)>,
}

/// The figures `/metrics` shows, read in one snapshot so that they agree with each other.
#[tracing::instrument(skip(db))]
pub async fn metrics(db: &Db, today: NaiveDate) -> Result<MetricsSnapshot, StoreError> {
    use super::schema::{deliveries, reminders, review_reminders, webhook_deliveries};
    db.snapshot(async move |conn| {
        let (actions, overdue) = if tallies::as_of(conn).await?.is_some() {
            let mut by_status_priority: BTreeMap<(String, i16), i64> = BTreeMap::new();
            for row in tallies::by_kind(conn).await? {
                *by_status_priority.entry((row.status, row.priority)).or_default() += row.n;
            }
            let active = active();
            let overdue: i64 = tallies::by_due(conn)
                .await?
                .iter()
                .filter(|row| row.due_date < today && active.contains(&row.status.as_str()))
                .map(|row| row.n)
                .sum();
            let actions = by_status_priority
                .into_iter()
                .filter(|(_, n)| *n != 0)
                .map(|((status, rank), n)| (status, rank, n))
                .collect();
            (actions, overdue)
        } else {
            counted_gauges(conn, today).await?
        };
        let actions = actions
            .into_iter()
            .map(|(status, rank, count)| {
                let priority = crate::domain::action::Priority::from_rank(rank).map_or("unknown", <&str>::from);
                (status, priority.to_owned(), count)
            })
            .collect();
        let emails: Vec<(String, i64)> = on!(conn, c => deliveries::table
            .group_by(deliveries::status)
            .select((deliveries::status, diesel::dsl::count_star()))
            .load(c)
            .await)?;
        let webhooks: Vec<(String, i64)> = on!(conn, c => webhook_deliveries::table
            .group_by(webhook_deliveries::status)
            .select((webhook_deliveries::status, diesel::dsl::count_star()))
            .load(c)
            .await)?;
        let about_actions: Vec<(String, i64)> = on!(conn, c => reminders::table
            .inner_join(deliveries::table)
            .filter(deliveries::status.eq("sent"))
            .group_by(reminders::kind)
            .select((reminders::kind, diesel::dsl::count_star()))
            .load(c)
            .await)?;
        let about_reviews: Vec<(String, i64)> = on!(conn, c => review_reminders::table
            .inner_join(deliveries::table)
            .filter(deliveries::status.eq("sent"))
            .group_by(review_reminders::kind)
            .select((review_reminders::kind, diesel::dsl::count_star()))
            .load(c)
            .await)?;
        let reminders_sent = [("action", about_actions), ("review", about_reviews)]
            .into_iter()
            .flat_map(|(about, rows)| rows.into_iter().map(move |(kind, n)| (about.to_owned(), kind, n)))
            .collect();
        Ok(MetricsSnapshot { actions, overdue, emails, webhooks, reminders_sent })
    })
    .await
}

/// (status, priority rank, count)
type StatusPriorityCounts = Vec<(String, i16, i64)>;

/// Actions by (status, priority) and the overdue count, counted from the actions themselves.
async fn counted_gauges(conn: &mut Conn, today: NaiveDate) -> Result<(StatusPriorityCounts, i64), StoreError> {
    let actions: StatusPriorityCounts = on!(conn, c => actions::table
        .group_by((actions::status, actions::priority))
        .select((actions::status, actions::priority, diesel::dsl::count_star()))
        .load(c)
        .await)?;
    let overdue: i64 = on!(conn, c => actions::table
        .filter(actions::status.eq_any(active()))
        .filter(actions::due_date.lt(today))
        .count()
        .get_result(c)
        .await)?;
    Ok((actions, overdue))
}
