//! `/api/v1/incidents/{id}/effort` and `/api/v1/effort/{id}`: the time the team spent on an incident, per
//! person and phase, with its sums.

use actix_web::{HttpRequest, HttpResponse, delete, get, http::header, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::access;
use super::common::{self, parse_required, required, resource};
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, entity_tag, if_match_versions, patch_whole_number};
use super::idempotency::Idempotency;
use super::state::{AppState, Data};
use crate::db;
use crate::domain::effort::{EffortEntry, EffortFields, EffortPatch, EffortPhase, EffortSummary, Minutes};
use crate::domain::email::EmailAddress;
use crate::domain::principal::{Principal, Role};
use crate::domain::text::LongText;
use crate::domain::time::parse_calendar_date_text;
use crate::domain::{FieldError, FieldErrors, Patch};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c7-5e6f-7a80-9b12-c3d4e5f60789", "incident_id": "0193a1c2-7b4e-7d21-9f0a-5c3e2b1a0f9d",
    "person": "dana@example.com", "phase": "analysis", "minutes": 150, "performed_on": "2026-11-02",
    "note": "Proxy logs of the three finance users.", "created_at": "2026-11-02T17:00:00Z",
    "updated_at": "2026-11-02T17:00:00Z", "version": 1, "created_by": "soc-lead@example.com",
    "updated_by": "soc-lead@example.com"
}))]
pub struct EffortEntryResponse {
    pub id: Uuid,
    pub incident_id: Uuid,
    /// Who spent the time (lower-case).
    pub person: String,
    pub phase: EffortPhase,
    pub minutes: i64,
    pub performed_on: Option<NaiveDate>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases by one with every change; the `ETag` is derived from it.
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl From<&EffortEntry> for EffortEntryResponse {
    fn from(entry: &EffortEntry) -> Self {
        let f = &entry.fields;
        Self {
            id: entry.id,
            incident_id: entry.incident_id,
            person: f.person.to_string(),
            phase: f.phase,
            minutes: f.minutes.get(),
            performed_on: f.performed_on,
            note: f.note.as_ref().map(ToString::to_string),
            created_at: entry.created_at,
            updated_at: entry.updated_at,
            version: entry.version,
            created_by: entry.created_by.clone(),
            updated_by: entry.updated_by.clone(),
        }
    }
}

/// Minutes spent in each phase; 0 where none was.
#[derive(Debug, Serialize, ToSchema)]
pub struct MinutesByPhase {
    pub detection: i64,
    pub analysis: i64,
    pub containment: i64,
    pub eradication: i64,
    pub recovery: i64,
    pub post_incident: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonMinutes {
    pub person: String,
    pub minutes: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "items": [], "total_minutes": 390,
    "by_phase": {"detection": 30, "analysis": 240, "containment": 120, "eradication": 0, "recovery": 0, "post_incident": 0},
    "by_person": [{"person": "dana@example.com", "minutes": 270}, {"person": "sam@example.com", "minutes": 120}]
}))]
pub struct EffortLog {
    /// Every entry of the incident (at most 2000), in the order recorded.
    pub items: Vec<EffortEntryResponse>,
    pub total_minutes: i64,
    pub by_phase: MinutesByPhase,
    /// Most time first.
    pub by_person: Vec<PersonMinutes>,
}

impl From<&[EffortEntry]> for EffortLog {
    fn from(entries: &[EffortEntry]) -> Self {
        let summary = EffortSummary::of(entries);
        let phase = |p| summary.by_phase.get(&p).copied().unwrap_or_default();
        Self {
            items: entries.iter().map(EffortEntryResponse::from).collect(),
            total_minutes: summary.total_minutes,
            by_phase: MinutesByPhase {
                detection: phase(EffortPhase::Detection),
                analysis: phase(EffortPhase::Analysis),
                containment: phase(EffortPhase::Containment),
                eradication: phase(EffortPhase::Eradication),
                recovery: phase(EffortPhase::Recovery),
                post_incident: phase(EffortPhase::PostIncident),
            },
            by_person: summary
                .by_person
                .into_iter()
                .map(|(person, minutes)| PersonMinutes { person: person.to_string(), minutes })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "person": "dana@example.com", "phase": "analysis", "minutes": 150, "performed_on": "2026-11-02",
    "note": "Proxy logs of the three finance users."
}))]
pub struct CreateEffortEntryRequest {
    /// Who spent the time: an e-mail address, stored lower-case.
    #[schema(max_length = 254)]
    pub person: String,
    #[schema(value_type = EffortPhase)]
    pub phase: String,
    /// Whole minutes, at most a week (10080) per entry.
    #[serde(default, deserialize_with = "patch_whole_number")]
    #[schema(value_type = i64, required = true, minimum = 1, maximum = 10080)]
    pub minutes: Patch<i64>,
    /// The day the work was done.
    #[schema(value_type = Option<NaiveDate>)]
    pub performed_on: Option<String>,
    #[schema(max_length = 10000)]
    pub note: Option<String>,
}

/// A merge-patch (RFC 7396) of an effort entry.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"minutes": 180, "note": null}))]
pub struct UpdateEffortEntryRequest {
    #[serde(default)]
    #[schema(value_type = String, max_length = 254)]
    pub person: Patch<String>,
    #[serde(default)]
    #[schema(value_type = EffortPhase)]
    pub phase: Patch<String>,
    #[serde(default, deserialize_with = "patch_whole_number")]
    #[schema(value_type = i64, minimum = 1, maximum = 10080)]
    pub minutes: Patch<i64>,
    /// `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<NaiveDate>)]
    pub performed_on: Patch<String>,
    /// `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub note: Patch<String>,
}

impl TryFrom<CreateEffortEntryRequest> for EffortFields {
    type Error = FieldErrors;

    fn try_from(body: CreateEffortEntryRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let person = errors.take(EmailAddress::parse("person", &body.person));
        let phase = errors.take(EffortPhase::parse("phase", &body.phase));
        let minutes = match body.minutes {
            Patch::Value(minutes) => errors.take(Minutes::parse("minutes", minutes)),
            Patch::Absent | Patch::Null => errors.take(Err(FieldError::new("minutes", "is required"))),
        };
        let performed_on =
            errors.take(body.performed_on.map(|d| parse_calendar_date_text("performed_on", &d)).transpose());
        let note = errors.take(LongText::parse_optional("note", body.note.as_deref()));
        let fields = || {
            Some(EffortFields {
                person: person?,
                phase: phase?,
                minutes: minutes?,
                performed_on: performed_on?,
                note: note?,
            })
        };
        errors.check(fields())
    }
}

impl TryFrom<UpdateEffortEntryRequest> for EffortPatch {
    type Error = FieldErrors;

    fn try_from(body: UpdateEffortEntryRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let patch = EffortPatch {
            person: parse_required(&mut errors, "person", body.person, EmailAddress::parse),
            phase: parse_required(&mut errors, "phase", body.phase, EffortPhase::parse),
            minutes: errors
                .take(required("minutes", body.minutes))
                .flatten()
                .and_then(|m| errors.take(Minutes::parse("minutes", m))),
            performed_on: errors
                .take(body.performed_on.try_map(|d| parse_calendar_date_text("performed_on", &d)))
                .unwrap_or_default(),
            note: errors.take(body.note.try_map(|n| LongText::parse("note", &n))).unwrap_or_default(),
        };
        errors.into_result().map(|()| patch)
    }
}

fn entry_resource(
    state: &AppState,
    req: &HttpRequest,
    builder: actix_web::HttpResponseBuilder,
    entry: &EffortEntry,
) -> HttpResponse {
    resource(req, builder, &EffortEntryResponse::from(entry), entity_tag(entry.version, state.today()))
}

fn not_found(id: Uuid) -> impl FnOnce() -> String {
    move || format!("effort entry with id {id}")
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(create).service(list).service(get).service(update).service(delete);
}

/// Record time someone spent on an incident. Needs the editor role.
#[utoipa::path(
    tag = "effort",
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = CreateEffortEntryRequest,
    responses(
        (status = 201, description = "Created", body = EffortEntryResponse, headers(
            ("Location" = String, description = "URL of the new entry"),
            ("ETag" = String, description = "Entity tag of the new entry"))),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The incident already holds 2000 entries", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/incidents/{id}/effort")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn create(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<CreateEffortEntryRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let incident_id = id.into_inner();
    let fields = body.parse(EffortFields::try_from)?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let entry = db::effort::create(&state.db, incident_id, fields, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, || format!("incident with id {incident_id}")))?;
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, format!("/api/v1/effort/{}", entry.id)));
    Ok(entry_resource(&state, &req, created, &entry))
}

/// The time spent on an incident: every entry, in the order recorded, with the sums in all, per phase
/// and per person. Needs the viewer role.
#[utoipa::path(
    tag = "effort",
    params(("id" = Uuid, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The entries and their sums", body = EffortLog),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/incidents/{id}/effort")]
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
        db::effort::for_incident(&state.db, incident_id),
        |entries| EffortLog::from(entries.as_slice()),
    )
    .await
}

/// One effort entry. Needs the viewer role.
#[utoipa::path(
    tag = "effort",
    params(("id" = Uuid, Path, description = "Effort entry id"),
           ("If-None-Match" = Option<String>, Header, description = "Answer 304 if this is still its entity tag")),
    responses(
        (status = 200, description = "The entry", body = EffortEntryResponse, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/effort/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn get(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let id = id.into_inner();
    let entry = db::effort::find(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(entry_resource(&state, &req, HttpResponse::Ok(), &entry))
}

/// Correct an effort entry (JSON merge-patch). Needs the editor role.
#[utoipa::path(
    tag = "effort",
    params(("id" = Uuid, Path, description = "Effort entry id"),
           ("If-Match" = Option<String>, Header, description = "Only change it if this is still its entity tag")),
    request_body(content = UpdateEffortEntryRequest, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed entry", body = EffortEntryResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/effort/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn update(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateEffortEntryRequest>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let id = id.into_inner();
    let patch = body.parse(EffortPatch::try_from)?;
    let entry = db::effort::update(&state.db, id, if_match_versions(&req), patch, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(entry_resource(&state, &req, HttpResponse::Ok(), &entry))
}

/// Remove an effort entry; the history keeps what it said. Needs the editor role.
#[utoipa::path(
    tag = "effort",
    params(("id" = Uuid, Path, description = "Effort entry id"),
           ("If-Match" = Option<String>, Header, description = "Only delete it if this is still its entity tag")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/effort/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn delete(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let id = id.into_inner();
    db::effort::delete(&state.db, id, if_match_versions(&req), access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(HttpResponse::NoContent().finish())
}
