//! `/api/v1/webhooks`: subscriptions that POST changes to other systems, and their delivery log. Admins only.

use actix_web::{HttpResponse, delete, get, http::header, post, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access;
use super::common::page_size;
use super::error::{ApiError, Problem};
use super::extract::ApiJson;
use super::idempotency::Idempotency;
use super::state::Data;
use crate::db;
use crate::db::webhooks::WebhookDelivery;
use crate::domain::FieldErrors;
use crate::domain::external::HttpUrl;
use crate::domain::listing::{ListQuery, NewestFirst, PageRequest};
use crate::domain::principal::{Principal, Role};
use crate::domain::text::ShortText;
use crate::domain::webhook::{Webhook, WebhookEvent, WebhookFields, parse_events, parse_secret};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1d4-0b1c-7d2e-8f30-415263748596", "url": "https://jira-bridge.example.com/hooks/action-tracker",
    "events": ["action.created", "action.status_changed", "action.overdue"], "description": "Jira sync",
    "created_at": "2026-11-20T09:00:00Z", "created_by": "admin@example.com"
}))]
pub struct WebhookResponse {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<&Webhook> for WebhookResponse {
    fn from(hook: &Webhook) -> Self {
        Self {
            id: hook.id,
            url: hook.fields.url.as_str().to_owned(),
            events: hook.fields.events.clone(),
            description: hook.fields.description.as_ref().map(ToString::to_string),
            created_at: hook.created_at,
            created_by: hook.created_by.clone(),
        }
    }
}

/// A new webhook, with its signing secret: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookResponse,
    /// Verify each delivery's `Webhook-Signature` with it; it is never shown again.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first; secrets are not shown.
    pub items: Vec<WebhookResponse>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://jira-bridge.example.com/hooks/action-tracker",
    "events": ["action.created", "action.status_changed", "action.overdue"], "description": "Jira sync"
}))]
pub struct CreateWebhookRequest {
    /// Where deliveries are POSTed: an http or https URL on the public internet. A loopback, private,
    /// link-local or otherwise reserved address, or a local name (`localhost`, `*.internal`, a name
    /// without a dot), or a name that resolves to one, is refused (422) unless the server allows private
    /// targets (`WEBHOOK_ALLOW_PRIVATE_TARGETS`).
    #[schema(
        max_length = 2000,
        pattern = "^https?://([A-Za-z][A-Za-z0-9-]*(\\.[A-Za-z][A-Za-z0-9-]*)*|(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})(:(0|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[!-~]*)?$"
    )]
    pub url: String,
    /// The event types to send (at least one).
    #[schema(min_items = 1)]
    pub events: Vec<WebhookEvent>,
    /// 16–256 characters; generated (and returned once) when left out.
    #[schema(min_length = 16, max_length = 256)]
    pub secret: Option<String>,
    #[schema(max_length = 200)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
/// pending: waiting for its (next) attempt; sending: being sent; delivered: the receiver answered 2xx;
/// failed: given up after the last attempt.
pub enum WebhookDeliveryStatus {
    Pending,
    Sending,
    Delivered,
    Failed,
}

impl From<db::webhooks::WebhookDeliveryStatus> for WebhookDeliveryStatus {
    fn from(status: db::webhooks::WebhookDeliveryStatus) -> Self {
        use db::webhooks::WebhookDeliveryStatus as Stored;
        match status {
            Stored::Pending => Self::Pending,
            Stored::Sending => Self::Sending,
            Stored::Delivered => Self::Delivered,
            Stored::Failed => Self::Failed,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryResponse {
    pub id: Uuid,
    pub event_type: WebhookEvent,
    pub status: WebhookDeliveryStatus,
    /// Attempts so far.
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    /// The HTTP status the receiver answered last; null when it could not be reached.
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<WebhookDelivery> for WebhookDeliveryResponse {
    fn from(d: WebhookDelivery) -> Self {
        Self {
            id: d.id,
            event_type: d.event_type,
            status: d.status.into(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryList {
    /// Newest first.
    pub items: Vec<WebhookDeliveryResponse>,
    /// Pass as `cursor` to get older deliveries; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryLogQuery {
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, with the same other parameters (400 `cursor_mismatch`
    /// otherwise; `limit` may change).
    pub cursor: Option<String>,
}

fn not_found(id: Uuid) -> impl FnOnce() -> String {
    move || format!("webhook with id {id}")
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(create).service(list).service(delete).service(deliveries).service(redeliver);
}

/// Subscribe a URL to changes. Deliveries go through a durable outbox, are signed with the secret
/// (`Webhook-Signature: v1=<hex HMAC-SHA256 of "<Webhook-Timestamp>.<body>">`) and retried with backoff.
/// Needs the admin role.
#[utoipa::path(
    tag = "webhooks",
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created; the only response that shows the secret", body = CreatedWebhook,
         headers(("Location" = String, description = "URL of the new webhook's delivery log"))),
        (status = 409, description = "Too many webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn create(
    state: Data,
    principal: Principal,
    body: ApiJson<CreateWebhookRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Admin)?;
    let (fields, secret) = body.parse(|body| {
        let mut errors = FieldErrors::new();
        let url = errors.take(HttpUrl::parse("url", &body.url));
        let events = errors.take(parse_events("events", &body.events));
        let secret = errors.take(parse_secret("secret", body.secret.as_deref()));
        let description = errors.take(ShortText::parse_optional("description", body.description.as_deref()));
        let parsed = || Some((WebhookFields { url: url?, events: events?, description: description? }, secret?));
        errors.check(parsed())
    })?;
    // Validation too, but it looks the name up, so it runs once the body is known to be well formed.
    state.webhook_targets.check_url(fields.url.as_str()).await.map_err(|refusal| ApiError::invalid("url", refusal))?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let secret = secret.unwrap_or_else(|| {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    });
    let hook = db::webhooks::create(&state.db, fields, secret, principal.display_name(), crate::domain::now())
        .await
        .map_err(|e| ApiError::from_store(e, || "webhook".into()))?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/webhooks/{}/deliveries", hook.id)))
        .json(CreatedWebhook { webhook: WebhookResponse::from(&hook), secret: hook.secret.clone() }))
}

/// Every webhook (without secrets). Needs the admin role.
#[utoipa::path(tag = "webhooks", responses((status = 200, description = "The webhooks", body = WebhookList)))]
#[get("/webhooks")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn list(state: Data, principal: Principal) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Admin)?;
    let hooks = db::webhooks::list(&state.db).await.map_err(|e| ApiError::from_store(e, String::new))?;
    Ok(HttpResponse::Ok().json(WebhookList { items: hooks.iter().map(WebhookResponse::from).collect() }))
}

/// Delete a webhook and its delivery log; nothing more is sent to it. Needs the admin role.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/webhooks/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn delete(state: Data, principal: Principal, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Admin)?;
    let id = id.into_inner();
    db::webhooks::delete(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(HttpResponse::NoContent().finish())
}

/// A webhook's delivery log, newest first: status code, attempts and last error of each delivery. Needs
/// the admin role.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), DeliveryLogQuery),
    responses(
        (status = 200, description = "One page of deliveries", body = WebhookDeliveryList),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks/{id}/deliveries")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn deliveries(
    state: Data,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<DeliveryLogQuery>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Admin)?;
    let id = id.into_inner();
    db::webhooks::find(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    let log = ListQuery::new("webhook_deliveries").in_path("id", id);
    let page_request = PageRequest::new(NewestFirst, page_size(query.limit), query.cursor.as_deref(), log)?;
    let found = db::webhooks::deliveries(&state.db, id, page_request)
        .await
        .map_err(|e| ApiError::from_store(e, String::new))?;
    Ok(HttpResponse::Ok().json(WebhookDeliveryList {
        items: found.items.into_iter().map(WebhookDeliveryResponse::from).collect(),
        next_cursor: found.next.map(|cursor| cursor.encode()),
    }))
}

/// Send one delivery again (after the receiver was fixed), with the same event id. Needs the admin role.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), ("delivery_id" = Uuid, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued to be sent again"),
        (status = 404, description = "No such webhook or delivery", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The delivery is being sent right now", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/redeliver")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn redeliver(
    state: Data,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Admin)?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let (id, delivery_id) = path.into_inner();
    db::webhooks::redeliver(&state.db, id, delivery_id, crate::domain::now())
        .await
        .map_err(|e| ApiError::from_store(e, || format!("delivery {delivery_id} of webhook {id}")))?;
    Ok(HttpResponse::Accepted().finish())
}
