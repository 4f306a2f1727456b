//! `/api/v1/reminders/run`, `/api/v1/deliveries`, `/api/v1/actions/{id}/reminders` and
//! `/api/v1/actions/{id}/remind`: running and watching the reminder machinery.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access;
use super::common::{page, page_size};
use super::error::{ApiError, Problem};
use super::extract::ApiJson;
use super::idempotency::Idempotency;
use super::state::Data;
use crate::db;
use crate::domain::FieldError;
use crate::domain::listing::{ListQuery, NewestFirst, PageRequest};
use crate::domain::principal::{Principal, Role};
use crate::domain::reminder::{ReminderKind, parse_sweep_time};
use crate::jobs::reminders::{Nudge, Queued, ReminderError};

/// What one delivery run did.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct DeliveryReport {
    /// Accepted by the SMTP server (or written to the outbox folder).
    pub sent: usize,
    /// Failed this time and scheduled for another attempt.
    pub retrying: usize,
    /// Failed for the last time.
    pub failed: usize,
}

impl From<crate::jobs::outbox::DeliveryReport> for DeliveryReport {
    fn from(report: crate::jobs::outbox::DeliveryReport) -> Self {
        Self { sent: report.sent, retrying: report.retrying, failed: report.failed }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema, strum::EnumString, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
/// pending: waiting for its (next) attempt; sending: claimed by a sender; sent: accepted by the SMTP
/// server; failed: given up after the last attempt.
pub enum DeliveryStatus {
    Pending,
    Sending,
    Sent,
    Failed,
}

impl From<db::deliveries::DeliveryStatus> for DeliveryStatus {
    fn from(status: db::deliveries::DeliveryStatus) -> Self {
        use db::deliveries::DeliveryStatus as Stored;
        match status {
            Stored::Pending => Self::Pending,
            Stored::Sending => Self::Sending,
            Stored::Sent => Self::Sent,
            Stored::Failed => Self::Failed,
        }
    }
}

impl From<DeliveryStatus> for db::deliveries::DeliveryStatus {
    fn from(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Sending => Self::Sending,
            DeliveryStatus::Sent => Self::Sent,
            DeliveryStatus::Failed => Self::Failed,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"dry_run": true, "as_of": "2026-12-01T09:30:00Z"}))]
pub struct RunRequest {
    /// Only say what would be sent.
    #[serde(default)]
    pub dry_run: bool,
    /// With `dry_run`: sweep as if it were this time (between 2000-01-01T00:00:00Z and
    /// 2199-12-31T23:59:59Z, the years due dates may have). Real sweeps always run at the current time.
    #[schema(value_type = Option<DateTime<Utc>>, pattern = "^2[01][0-9]{2}-")]
    pub as_of: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlannedEmailResponse {
    pub recipient: String,
    pub subject: String,
    /// The kinds of reminder in the e-mail.
    pub kinds: Vec<ReminderKind>,
    pub action_keys: Vec<String>,
    /// The outbox entry; `null` in a dry run.
    pub delivery_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunReport {
    pub dry_run: bool,
    pub as_of: DateTime<Utc>,
    pub emails: Vec<PlannedEmailResponse>,
    /// What the delivery that followed did; `null` in a dry run.
    pub delivered: Option<DeliveryReport>,
}

fn planned_response(planned: &Queued, dry_run: bool) -> PlannedEmailResponse {
    PlannedEmailResponse {
        recipient: planned.recipient.clone(),
        subject: planned.subject.clone(),
        kinds: planned.kinds.clone(),
        action_keys: planned.action_keys.clone(),
        delivery_id: (!dry_run).then_some(planned.delivery_id),
    }
}

/// A store error as any other; a digest that would not render is the server's fault.
fn from_reminders(error: ReminderError, what: impl FnOnce() -> String) -> ApiError {
    match error {
        ReminderError::Store(error) => ApiError::from_store(error, what),
        render @ ReminderError::Render(_) => ApiError::Internal(render.to_string()),
    }
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(run).service(deliveries).service(redeliver).service(for_action).service(remind);
}

/// Sweep for due reminders now and deliver the outbox (admin). A dry run only says what would be sent,
/// and may pretend another time with `as_of`.
#[utoipa::path(
    tag = "reminders",
    request_body = RunRequest,
    responses(
        (status = 200, description = "What was (or would be) sent", body = RunReport),
        (status = 422, description = "`as_of` without `dry_run`, or outside 2000–2199", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/reminders/run")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn run(
    state: Data,
    principal: Principal,
    body: ApiJson<RunRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Admin)?;
    let (dry_run, as_of) = body.parse(|RunRequest { dry_run, as_of }| {
        let as_of = match as_of {
            Some(_) if !dry_run => {
                Err(FieldError::new("as_of", "is only taken with dry_run: real reminders go out at the real time"))
            }
            Some(raw) => parse_sweep_time("as_of", &raw),
            None => Ok(crate::domain::now()),
        };
        Ok::<_, FieldError>((dry_run, as_of?))
    })?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let planned = state.reminders.sweep(as_of, dry_run).await.map_err(|e| from_reminders(e, String::new))?;
    let delivered = if dry_run {
        None
    } else {
        Some(state.emails.deliver().await.map_err(|e| ApiError::from_store(e, String::new))?.into())
    };
    let emails = planned.iter().map(|p| planned_response(p, dry_run)).collect();
    Ok(HttpResponse::Ok().json(RunReport { dry_run, as_of, emails, delivered }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub message_id: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryResponse>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListQuery {
    /// Only this status: pending, sending, sent or failed.
    #[param(value_type = Option<DeliveryStatus>)]
    pub status: Option<String>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, with the same other parameters (400 `cursor_mismatch`
    /// otherwise; `limit` may change).
    pub cursor: Option<String>,
}

/// The e-mail outbox, newest first (admin).
#[utoipa::path(
    tag = "reminders",
    params(DeliveryListQuery),
    responses(
        (status = 200, description = "One page of deliveries", body = DeliveryList),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid status, limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/deliveries")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn deliveries(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<DeliveryListQuery>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Admin)?;
    let status = query
        .status
        .as_deref()
        .map(|raw| {
            raw.parse::<DeliveryStatus>()
                .map_err(|_| FieldError::new("status", "must be pending, sending, sent or failed"))
        })
        .transpose()?;
    let list = ListQuery::new("deliveries").with_some("status", status.map(<&str>::from));
    let page_request = PageRequest::new(NewestFirst, page_size(query.limit), query.cursor.as_deref(), list)?;
    let found = db::deliveries::list(&state.db, status.map(Into::into), page_request)
        .await
        .map_err(|e| ApiError::from_store(e, String::new))?;
    let items = found
        .items
        .into_iter()
        .map(|d| DeliveryResponse {
            id: d.id,
            recipient: d.recipient,
            subject: d.subject,
            message_id: d.message_id,
            status: d.status.into(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_error: d.last_error,
            created_at: d.created_at,
            sent_at: d.sent_at,
        })
        .collect();
    let body = DeliveryList { items, next_cursor: found.next.map(|c| c.encode()) };
    Ok(page(&req, &body, body.next_cursor.as_deref(), None))
}

/// Send one e-mail of the outbox again, soon, with the same `Message-ID`: after a relay outage outlasted
/// its retries, or a refused mailbox was fixed. Needs the admin role.
#[utoipa::path(
    tag = "reminders",
    params(("id" = Uuid, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued to be sent again"),
        (status = 404, description = "No such delivery", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The e-mail is being sent right now", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/deliveries/{id}/redeliver")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn redeliver(
    state: Data,
    principal: Principal,
    id: web::Path<Uuid>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Admin)?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let id = id.into_inner();
    db::deliveries::redeliver(&state.db, id, crate::domain::now())
        .await
        .map_err(|e| ApiError::from_store(e, || format!("delivery {id}")))?;
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReminderResponse {
    pub kind: ReminderKind,
    /// Tells reminders of one kind apart: the due date they were for and the step, "2026-03-10/due_soon",
    /// "2026-03-10/1", "2026-03-10/2", …, or the time of a manual one.
    pub period: String,
    pub recipient: String,
    pub queued_at: DateTime<Utc>,
    /// The delivery's status: pending, sending, sent or failed.
    pub status: String,
    pub attempts: i32,
    pub sent_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed, in the relay's words; shown to admins only, since it can name the
    /// mail infrastructure (as in `GET /deliveries`).
    pub last_error: Option<String>,
}

/// The reminders an action was sent, oldest first. Needs the viewer role, or being the action's owner.
#[utoipa::path(
    tag = "reminders",
    params(("id" = Uuid, Path, description = "Action id")),
    responses(
        (status = 200, description = "The action's reminders", body = Vec<ReminderResponse>),
        (status = 404, description = "No such action", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/actions/{id}/reminders")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn for_action(state: Data, principal: Principal, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let action = db::actions::find(&state.db, id)
        .await
        .map_err(|e| ApiError::from_store(e, || format!("action with id {id}")))?;
    access::read_action(&principal, &action)?;
    let records = db::reminders::for_action(&state.db, id).await.map_err(|e| ApiError::from_store(e, String::new))?;
    let admin = principal.has(Role::Admin);
    let body: Vec<ReminderResponse> = records
        .into_iter()
        .map(|r| ReminderResponse {
            kind: r.kind,
            period: r.period,
            recipient: r.recipient,
            queued_at: r.queued_at,
            status: r.status,
            attempts: r.attempts,
            sent_at: r.sent_at,
            last_error: r.last_error.filter(|_| admin),
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// E-mail the action's owner a reminder now (editor). At most once per action per hour: sooner is
/// answered 429 with `Retry-After`.
#[utoipa::path(
    tag = "reminders",
    params(("id" = Uuid, Path, description = "Action id")),
    responses(
        (status = 202, description = "Queued; the sender delivers it within seconds", body = PlannedEmailResponse),
        (status = 404, description = "No such action", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The action is done or cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Reminded less than an hour ago", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = i64, description = "Seconds until another reminder may be sent"))),
    )
)]
#[post("/actions/{id}/remind")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn remind(
    state: Data,
    principal: Principal,
    id: web::Path<Uuid>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let id = id.into_inner();
    let outcome = state
        .reminders
        .nudge(id, crate::domain::now())
        .await
        .map_err(|e| from_reminders(e, || format!("action with id {id}")))?;
    match outcome {
        Nudge::Queued(queued) => Ok(HttpResponse::Accepted().json(planned_response(&queued, false))),
        Nudge::TooSoon(seconds) => Err(ApiError::TooManyRequests {
            detail: "this action's owner was reminded less than an hour ago".into(),
            retry_after: seconds,
        }),
        Nudge::NotActive => Err(ApiError::Conflict("the action is done or cancelled; it needs no reminder".into())),
    }
}
