//! `/api/v1/incidents/{id}/timeline` and `/api/v1/timeline/{id}`: what happened when during an incident.

use actix_web::{HttpRequest, HttpResponse, delete, get, http::header, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::access;
use super::common::{self, required, resource};
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, entity_tag, if_match_versions};
use super::idempotency::Idempotency;
use super::state::{AppState, Data};
use crate::db;
use crate::domain::principal::{Principal, Role};
use crate::domain::text::{LongText, ShortText};
use crate::domain::time::parse_instant_text;
use crate::domain::timeline::{TimelineEntry, TimelineFields, TimelineKind, TimelinePatch};
use crate::domain::{FieldErrors, Patch};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c5-3b4c-7d5e-8f60-718293a4b5c6", "incident_id": "0193a1c2-7b4e-7d21-9f0a-5c3e2b1a0f9d",
    "occurred_at": "2026-11-02T08:15:00Z", "description": "EDR flags a credential-harvesting page opened by three finance users.",
    "source": "EDR alert", "kind": "detection", "created_at": "2026-11-02T09:00:00Z",
    "updated_at": "2026-11-02T09:00:00Z", "version": 1, "created_by": "soc-lead@example.com",
    "updated_by": "soc-lead@example.com"
}))]
pub struct TimelineEntryResponse {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub description: String,
    /// Where it was seen or recorded, e.g. "EDR alert", "packet capture".
    pub source: Option<String>,
    pub kind: TimelineKind,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases by one with every change; the `ETag` is derived from it.
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl From<&TimelineEntry> for TimelineEntryResponse {
    fn from(entry: &TimelineEntry) -> Self {
        let f = &entry.fields;
        Self {
            id: entry.id,
            incident_id: entry.incident_id,
            occurred_at: f.occurred_at,
            description: f.description.to_string(),
            source: f.source.as_ref().map(ToString::to_string),
            kind: f.kind,
            created_at: entry.created_at,
            updated_at: entry.updated_at,
            version: entry.version,
            created_by: entry.created_by.clone(),
            updated_by: entry.updated_by.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    /// Every entry of the incident (at most 1000), in the order things happened.
    pub items: Vec<TimelineEntryResponse>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "occurred_at": "2026-11-02T08:15:00Z", "kind": "detection", "source": "EDR alert",
    "description": "EDR flags a credential-harvesting page opened by three finance users."
}))]
pub struct CreateTimelineEntryRequest {
    #[schema(value_type = DateTime<Utc>)]
    pub occurred_at: String,
    #[schema(min_length = 1, max_length = 10000)]
    pub description: String,
    #[schema(max_length = 200)]
    pub source: Option<String>,
    /// Defaults to `other`.
    pub kind: Option<TimelineKind>,
}

/// A merge-patch (RFC 7396) of a timeline entry.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"occurred_at": "2026-11-02T08:10:00Z"}))]
pub struct UpdateTimelineEntryRequest {
    #[serde(default)]
    #[schema(value_type = DateTime<Utc>)]
    pub occurred_at: Patch<String>,
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 10000)]
    pub description: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub source: Patch<String>,
    #[serde(default)]
    #[schema(value_type = TimelineKind)]
    pub kind: Patch<TimelineKind>,
}

impl TryFrom<CreateTimelineEntryRequest> for TimelineFields {
    type Error = FieldErrors;

    fn try_from(body: CreateTimelineEntryRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let description = errors.take(LongText::parse("description", &body.description));
        let source = errors.take(ShortText::parse_optional("source", body.source.as_deref()));
        let occurred_at = errors.take(parse_instant_text("occurred_at", &body.occurred_at));
        let fields = || {
            Some(TimelineFields {
                occurred_at: occurred_at?,
                description: description?,
                source: source?,
                kind: body.kind.unwrap_or_default(),
            })
        };
        errors.check(fields())
    }
}

impl TryFrom<UpdateTimelineEntryRequest> for TimelinePatch {
    type Error = FieldErrors;

    fn try_from(body: UpdateTimelineEntryRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let description = required("description", body.description)
            .and_then(|d| d.map(|d| LongText::parse("description", &d)).transpose());
        let patch = TimelinePatch {
            occurred_at: errors
                .take(required("occurred_at", body.occurred_at))
                .flatten()
                .and_then(|t| errors.take(parse_instant_text("occurred_at", &t))),
            description: errors.take(description).flatten(),
            source: errors.take(body.source.try_map(|s| ShortText::parse("source", &s))).unwrap_or_default(),
            kind: errors.take(required("kind", body.kind)).flatten(),
        };
        errors.into_result().map(|()| patch)
    }
}

fn entry_resource(
    state: &AppState,
    req: &HttpRequest,
    builder: actix_web::HttpResponseBuilder,
    entry: &TimelineEntry,
) -> HttpResponse {
    resource(req, builder, &TimelineEntryResponse::from(entry), entity_tag(entry.version, state.today()))
}

fn not_found(id: Uuid) -> impl FnOnce() -> String {
    move || format!("timeline entry with id {id}")
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(create).service(list).service(update).service(delete);
}

/// Add an entry to an incident's timeline. Needs the editor role.
#[utoipa::path(
    tag = "timeline",
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = CreateTimelineEntryRequest,
    responses(
        (status = 201, description = "Created", body = TimelineEntryResponse, headers(
            ("Location" = String, description = "URL of the new entry"),
            ("ETag" = String, description = "Entity tag of the new entry"))),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The timeline is full (1000 entries)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/incidents/{id}/timeline")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn create(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<CreateTimelineEntryRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let incident_id = id.into_inner();
    let fields = body.parse(TimelineFields::try_from)?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let entry = db::timeline::create(&state.db, incident_id, fields, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, || format!("incident with id {incident_id}")))?;
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, format!("/api/v1/timeline/{}", entry.id)));
    Ok(entry_resource(&state, &req, created, &entry))
}

/// An incident's whole timeline, in the order things happened. Needs the viewer role.
#[utoipa::path(
    tag = "timeline",
    params(("id" = Uuid, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The timeline", body = Timeline),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/incidents/{id}/timeline")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn list(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let incident_id = id.into_inner();
    common::incident_collection(
        &state,
        &req,
        incident_id,
        db::timeline::for_incident(&state.db, incident_id),
        |entries| Timeline { items: entries.iter().map(TimelineEntryResponse::from).collect() },
    )
    .await
}

/// Correct a timeline entry (JSON merge-patch). Needs the editor role.
#[utoipa::path(
    tag = "timeline",
    params(("id" = Uuid, Path, description = "Timeline entry id"),
           ("If-Match" = Option<String>, Header, description = "Only change it if this is still its entity tag")),
    request_body(content = UpdateTimelineEntryRequest, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed entry", body = TimelineEntryResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/timeline/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn update(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateTimelineEntryRequest>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let id = id.into_inner();
    let patch = body.parse(TimelinePatch::try_from)?;
    let entry = db::timeline::update(&state.db, id, if_match_versions(&req), patch, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(entry_resource(&state, &req, HttpResponse::Ok(), &entry))
}

/// Remove a timeline entry; the history keeps what it said. Needs the editor role.
#[utoipa::path(
    tag = "timeline",
    params(("id" = Uuid, Path, description = "Timeline entry id"),
           ("If-Match" = Option<String>, Header, description = "Only delete it if this is still its entity tag")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/timeline/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn delete(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let id = id.into_inner();
    db::timeline::delete(&state.db, id, if_match_versions(&req), access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(HttpResponse::NoContent().finish())
}
