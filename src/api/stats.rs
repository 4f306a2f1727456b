//! `/api/v1/stats`: the numbers a dashboard shows, computed by the database, cheap to poll (weak `ETag`,
//! `Cache-Control`, 304).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use strum::VariantArray;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access;
use super::common::Freshness;
use super::error::{ApiError, Problem};
use super::state::Data;
use crate::db;
use crate::db::stats::{Period, StatsFilter};
use crate::domain::action::{ActionStatus, Priority};
use crate::domain::email::EmailAddress;
use crate::domain::principal::{Principal, Role};
use crate::domain::text::ShortText;
use crate::domain::time::parse_instant_text;
use crate::domain::{FieldError, FieldErrors};

#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    /// The day `overdue` was computed for (in `TIMEZONE`).
    pub as_of: NaiveDate,
    pub actions: ActionStats,
    pub incidents: IncidentStats,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionStats {
    pub total: i64,
    /// Every status, with 0 for those without actions.
    #[schema(example = json!({"open": 12, "in_progress": 7, "blocked": 1, "done": 40, "cancelled": 2}))]
    pub by_status: BTreeMap<String, i64>,
    /// Open, in progress or blocked, and due before today.
    pub overdue: i64,
    /// Open, in progress or blocked, and due today or within 7 days.
    pub due_next_7_days: i64,
    pub overdue_aging: OverdueAging,
    /// Open work (open, in progress, blocked) by priority.
    #[schema(example = json!({"critical": 1, "high": 6, "medium": 10, "low": 3}))]
    pub open_by_priority: BTreeMap<String, i64>,
    /// Open work by category.
    #[schema(example = json!({"prevention": 8, "detection": 5, "process": 7}))]
    pub open_by_category: BTreeMap<String, i64>,
    /// The ten owners with the most overdue actions, most first.
    pub top_overdue_owners: Vec<OwnerOverdue>,
    /// Open work whose owner is marked inactive in the people directory: needs a new owner.
    pub owner_inactive: i64,
    /// Done ÷ (all but cancelled); null without any.
    pub completion_rate: Option<f64>,
    /// Done by the due date ÷ done; null without any done.
    pub on_time_completion_rate: Option<f64>,
    /// From creation to done, in seconds, truncated to the minute under a day, to the hour under 30
    /// days and to the day beyond (also `p90_seconds_to_close`).
    pub median_seconds_to_close: Option<f64>,
    pub p90_seconds_to_close: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueAging {
    pub days_1_to_7: i64,
    pub days_8_to_30: i64,
    pub days_31_to_90: i64,
    pub over_90_days: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerOverdue {
    pub owner_email: String,
    pub overdue: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentStats {
    pub total: i64,
    /// Incidents resolved per month (the latest 12 months with any), oldest first.
    pub resolved_per_month: Vec<MonthCount>,
    /// From detection to containment.
    pub median_seconds_to_contain: Option<f64>,
    /// From detection to resolution.
    pub median_seconds_to_resolve: Option<f64>,
    /// What handling the incidents took and cost, in all and by period, category and severity. An
    /// incident counts in the period it was detected (recorded, if no detection time was noted), in UTC.
    pub handling: HandlingStats,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HandlingStats {
    pub all: Handling,
    /// Each period (`period` parameter) with incidents, oldest first: "2026-11" or "2026-Q4".
    pub by_period: Vec<PeriodHandling>,
    pub by_category: Vec<CategoryHandling>,
    pub by_severity: Vec<SeverityHandling>,
}

/// Incidents handled, the time the team spent on them (effort entries), their downtime and cost.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "incidents": 4, "time_spent_minutes": 2280, "incidents_with_time_spent": 3, "mean_time_spent_minutes": 760.0,
    "downtime_minutes": 300, "cost": [{"amount": "12500.00", "currency": "EUR"}]
}))]
pub struct Handling {
    pub incidents: i64,
    pub time_spent_minutes: i64,
    /// Incidents with any time recorded.
    pub incidents_with_time_spent: i64,
    /// Over the incidents with time recorded; null without any.
    pub mean_time_spent_minutes: Option<f64>,
    /// Downtime as recorded in the incidents' impact (unknown counts as none).
    pub downtime_minutes: i64,
    /// One sum per currency, never converted; incidents without a recorded cost add nothing.
    pub cost: Vec<crate::domain::assessment::MoneyText>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodHandling {
    #[schema(example = "2026-Q4")]
    pub period: String,
    #[serde(flatten)]
    pub handling: Handling,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryHandling {
    /// Null for incidents without a category.
    pub category: Option<String>,
    #[serde(flatten)]
    pub handling: Handling,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeverityHandling {
    pub severity: String,
    #[serde(flatten)]
    pub handling: Handling,
}

impl From<db::stats::Handling> for Handling {
    fn from(h: db::stats::Handling) -> Self {
        let mean = (h.incidents_with_time_spent > 0)
            .then(|| (h.time_spent_minutes as f64 / h.incidents_with_time_spent as f64 * 10.0).round() / 10.0);
        Self {
            incidents: h.incidents,
            time_spent_minutes: h.time_spent_minutes,
            incidents_with_time_spent: h.incidents_with_time_spent,
            mean_time_spent_minutes: mean,
            downtime_minutes: h.downtime_minutes,
            cost: h
                .cost
                .into_iter()
                .filter_map(|(currency, minor)| crate::domain::assessment::Money::from_stored(minor, &currency))
                .map(|money| money.to_text())
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonthCount {
    #[schema(example = "2026-11")]
    pub month: String,
    pub count: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Only this incident (and its actions).
    #[param(value_type = Option<Uuid>)]
    pub incident_id: Option<String>,
    /// Only this owner's actions.
    #[param(format = Email)]
    pub owner: Option<String>,
    /// Only this team's actions.
    #[param(max_length = 200)]
    pub team: Option<String>,
    /// Only actions created, and incidents detected (recorded, without a detection time), at or after this
    /// time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub since: Option<String>,
    /// And before this time (RFC 3339): `since` and `until` make a date range.
    #[param(value_type = Option<DateTime<Utc>>)]
    pub until: Option<String>,
    /// How `incidents.handling.by_period` groups: `month` (the default) or `quarter`.
    #[param(value_type = Option<String>, pattern = "^(month|quarter)$")]
    pub period: Option<String>,
}

impl StatsQuery {
    fn parse(&self) -> Result<StatsFilter, FieldErrors> {
        let mut errors = FieldErrors::new();
        let incident_id = errors.take(
            self.incident_id
                .as_deref()
                .map(|id| Uuid::parse_str(id).map_err(|_| FieldError::new("incident_id", "must be a UUID")))
                .transpose(),
        );
        let owner = errors.take(self.owner.as_deref().map(|o| EmailAddress::parse("owner", o)).transpose());
        let team = errors.take(ShortText::parse_optional("team", self.team.as_deref()));
        let since = errors.take(self.since.as_deref().map(|raw| parse_instant_text("since", raw)).transpose());
        let until = errors.take(self.until.as_deref().map(|raw| parse_instant_text("until", raw)).transpose());
        let period = errors.take(
            self.period
                .as_deref()
                .map(|raw| raw.parse::<Period>().map_err(|_| FieldError::new("period", "must be month or quarter")))
                .transpose(),
        );
        if let (Some(Some(since)), Some(Some(until))) = (since, until)
            && until <= since
        {
            errors.push(FieldError::new("until", "must be after since"));
        }
        let filter = || {
            Some(StatsFilter {
                incident_id: incident_id?,
                owner: owner?,
                team: team?,
                since: since?,
                until: until?,
                period: period?.unwrap_or_default(),
            })
        };
        errors.check(filter())
    }
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(get);
}

/// Counts, rates and durations over actions and incidents, computed by the database, and what handling
/// the incidents took (time spent, downtime, cost) by period, category and severity. Filters narrow them
/// to an incident, an owner, a team or a date range. Polling it with `If-None-Match` costs one indexed
/// lookup while nothing changed. Needs the viewer role.
#[utoipa::path(
    tag = "dashboards",
    params(StatsQuery),
    responses(
        (status = 200, description = "The numbers", body = Stats),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/stats")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn get(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let filter = query.parse()?;
    let fresh = Freshness::of(&state).await?;
    if let Some(not_modified) = fresh.unchanged(&req) {
        return Ok(not_modified);
    }
    let today = state.today();
    let store = |e| ApiError::from_store(e, String::new);
    let (a, i, h) = db::stats::snapshot(&state.db, filter, today).await.map_err(store)?;
    let mut by_status: BTreeMap<String, i64> =
        ActionStatus::VARIANTS.iter().map(|s| (<&str>::from(*s).to_owned(), 0)).collect();
    by_status.extend(a.by_status);
    let open_by_priority = a
        .by_priority
        .into_iter()
        .filter_map(|(rank, count)| Some((<&str>::from(Priority::from_rank(rank)?).to_owned(), count)))
        .collect();
    let stats = Stats {
        as_of: today,
        actions: ActionStats {
            total: a.total,
            by_status,
            overdue: a.overdue,
            due_next_7_days: a.due_next_7_days,
            overdue_aging: OverdueAging {
                days_1_to_7: a.aging[0],
                days_8_to_30: a.aging[1],
                days_31_to_90: a.aging[2],
                over_90_days: a.aging[3],
            },
            open_by_priority,
            open_by_category: a.by_category.into_iter().collect(),
            top_overdue_owners: a
                .top_overdue_owners
                .into_iter()
                .map(|(owner_email, overdue)| OwnerOverdue { owner_email, overdue })
                .collect(),
            owner_inactive: a.owner_inactive,
            completion_rate: ratio(a.done, a.total - a.cancelled),
            on_time_completion_rate: ratio(a.done_on_time, a.done),
            median_seconds_to_close: a.median_seconds_to_close.map(f64::round),
            p90_seconds_to_close: a.p90_seconds_to_close.map(f64::round),
        },
        incidents: IncidentStats {
            total: i.total,
            resolved_per_month: i
                .resolved_per_month
                .into_iter()
                .map(|(month, count)| MonthCount { month, count })
                .collect(),
            median_seconds_to_contain: i.median_seconds_to_contain.map(f64::round),
            median_seconds_to_resolve: i.median_seconds_to_resolve.map(f64::round),
            handling: HandlingStats {
                all: h.all.into(),
                by_period: h
                    .by_period
                    .into_iter()
                    .map(|(period, handling)| PeriodHandling { period, handling: handling.into() })
                    .collect(),
                by_category: h
                    .by_category
                    .into_iter()
                    .map(|(category, handling)| CategoryHandling { category, handling: handling.into() })
                    .collect(),
                by_severity: h
                    .by_severity
                    .into_iter()
                    .map(|(severity, handling)| SeverityHandling { severity, handling: handling.into() })
                    .collect(),
            },
        },
    };
    let mut response = HttpResponse::Ok();
    fresh.headers(&mut response);
    Ok(response.json(stats))
}
