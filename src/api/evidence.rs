//! `/api/v1/incidents/{id}/evidence` and `/api/v1/evidence/{id}`: an incident's evidence, each item with
//! its chain of custody. Custody entries are only ever added: no route changes or removes one, and an
//! item goes only with its incident.

use actix_web::{HttpRequest, HttpResponse, get, http::header, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::access;
use super::common::{self, parse_required, resource};
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, entity_tag_with, if_match_versions};
use super::idempotency::Idempotency;
use super::state::{AppState, Data};
use crate::db;
use crate::domain::evidence::{
    CustodyEntry, Evidence, EvidenceFields, EvidenceKind, EvidencePatch, Location, Sha256, Transfer,
};
use crate::domain::principal::{Principal, Role};
use crate::domain::text::{LongText, ShortText};
use crate::domain::time::parse_instant_text;
use crate::domain::{FieldErrors, Patch};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c6-2d3e-7f40-8a51-62738495a6b7", "incident_id": "0193a1c2-7b4e-7d21-9f0a-5c3e2b1a0f9d",
    "description": "Disk image of the finance laptop that opened the phishing page.", "kind": "disk_image",
    "location": "s3://forensics/case-17/laptop.e01",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "collected_by": "Alex Forensics", "collected_at": "2026-11-02T10:30:00Z", "current_holder": "Evidence locker B",
    "custody": [
        {"id": "0193a1c6-2d3f-7a11-8b22-c3d4e5f60718", "from": null, "to": "Alex Forensics",
         "at": "2026-11-02T10:30:00Z", "purpose": "collected", "recorded_at": "2026-11-02T10:45:00Z",
         "recorded_by": "soc-lead@example.com"},
        {"id": "0193a1d9-4a5b-7c6d-8e7f-90a1b2c3d4e5", "from": "Alex Forensics", "to": "Evidence locker B",
         "at": "2026-11-02T18:00:00Z", "purpose": "stored for legal hold", "recorded_at": "2026-11-02T18:05:00Z",
         "recorded_by": "soc-lead@example.com"}
    ],
    "created_at": "2026-11-02T10:45:00Z", "updated_at": "2026-11-02T10:45:00Z", "version": 1,
    "created_by": "soc-lead@example.com", "updated_by": "soc-lead@example.com"
}))]
pub struct EvidenceResponse {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub description: String,
    pub kind: EvidenceKind,
    /// Where the item is stored, as a URI; the service never fetches it.
    pub location: String,
    /// Lower-case hex.
    pub sha256: Option<String>,
    pub collected_by: String,
    pub collected_at: DateTime<Utc>,
    /// Who holds it now: the receiver of the latest hand-over, or before any, the collector.
    pub current_holder: String,
    /// The chain of custody, in the order of `at`; the first entry is the collection.
    pub custody: Vec<CustodyEntryResponse>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases by one with every change of the item's own fields; the `ETag` also changes with each
    /// custody entry.
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

/// One hand-over in a chain of custody. Never changed or removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustodyEntryResponse {
    pub id: Uuid,
    /// `null` for the collection: nobody held the item before.
    pub from: Option<String>,
    pub to: String,
    pub at: DateTime<Utc>,
    pub purpose: String,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

impl From<&CustodyEntry> for CustodyEntryResponse {
    fn from(entry: &CustodyEntry) -> Self {
        let t = &entry.transfer;
        Self {
            id: entry.id,
            from: t.from.as_ref().map(ToString::to_string),
            to: t.to.to_string(),
            at: t.at,
            purpose: t.purpose.to_string(),
            recorded_at: entry.recorded_at,
            recorded_by: entry.recorded_by.clone(),
        }
    }
}

impl From<&Evidence> for EvidenceResponse {
    fn from(item: &Evidence) -> Self {
        let f = &item.fields;
        Self {
            id: item.id,
            incident_id: item.incident_id,
            description: f.description.to_string(),
            kind: f.kind,
            location: f.location.as_str().to_owned(),
            sha256: f.sha256.as_ref().map(|s| s.as_str().to_owned()),
            collected_by: f.collected_by.to_string(),
            collected_at: f.collected_at,
            current_holder: item.current_holder().to_string(),
            custody: item.custody.iter().map(CustodyEntryResponse::from).collect(),
            created_at: item.created_at,
            updated_at: item.updated_at,
            version: item.version,
            created_by: item.created_by.clone(),
            updated_by: item.updated_by.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceList {
    /// Every item of the incident (at most 200), in the order collected, each with its chain of custody.
    pub items: Vec<EvidenceResponse>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "description": "Disk image of the finance laptop that opened the phishing page.", "kind": "disk_image",
    "location": "s3://forensics/case-17/laptop.e01",
    "sha256": "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
    "collected_by": "Alex Forensics", "collected_at": "2026-11-02T10:30:00Z"
}))]
pub struct CreateEvidenceRequest {
    #[schema(min_length = 1, max_length = 10000)]
    pub description: String,
    #[schema(value_type = EvidenceKind)]
    pub kind: String,
    /// Where the item is stored: an absolute URI with a scheme (`s3://…`, `smb://…`, `file:///…`,
    /// `https://…`), not the file itself. Never fetched.
    #[schema(max_length = 2000)]
    pub location: String,
    /// 64 hexadecimal digits, stored lower-case.
    #[schema(pattern = "^[0-9A-Fa-f]{64}$")]
    pub sha256: Option<String>,
    /// Who collected it: a name or an address. Becomes the first holder in the chain of custody.
    #[schema(min_length = 1, max_length = 200)]
    pub collected_by: String,
    #[schema(value_type = DateTime<Utc>)]
    pub collected_at: String,
}

/// A merge-patch (RFC 7396) of an item of evidence. A corrected `collected_by` or `collected_at` also
/// adds an entry to the chain of custody (purpose `collection corrected`); the entries already there stay.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}))]
pub struct UpdateEvidenceRequest {
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 10000)]
    pub description: Patch<String>,
    #[serde(default)]
    #[schema(value_type = EvidenceKind)]
    pub kind: Patch<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 2000)]
    pub location: Patch<String>,
    /// `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[0-9A-Fa-f]{64}$")]
    pub sha256: Patch<String>,
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub collected_by: Patch<String>,
    #[serde(default)]
    #[schema(value_type = DateTime<Utc>)]
    pub collected_at: Patch<String>,
}

/// A hand-over of an item: from whom, to whom, when and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "from": "Alex Forensics", "to": "Evidence locker B", "at": "2026-11-02T18:00:00Z",
    "purpose": "stored for legal hold"
}))]
pub struct CreateCustodyEntryRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub from: String,
    #[schema(min_length = 1, max_length = 200)]
    pub to: String,
    /// When it changed hands; not before the item was collected.
    #[schema(value_type = DateTime<Utc>)]
    pub at: String,
    #[schema(min_length = 1, max_length = 200)]
    pub purpose: String,
}

impl TryFrom<CreateEvidenceRequest> for EvidenceFields {
    type Error = FieldErrors;

    fn try_from(body: CreateEvidenceRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let description = errors.take(LongText::parse("description", &body.description));
        let kind = errors.take(EvidenceKind::parse("kind", &body.kind));
        let location = errors.take(Location::parse("location", &body.location));
        let sha256 = errors.take(body.sha256.map(|s| Sha256::parse("sha256", &s)).transpose());
        let collected_by = errors.take(ShortText::parse("collected_by", &body.collected_by));
        let collected_at = errors.take(parse_instant_text("collected_at", &body.collected_at));
        let fields = || {
            Some(EvidenceFields {
                description: description?,
                kind: kind?,
                location: location?,
                sha256: sha256?,
                collected_by: collected_by?,
                collected_at: collected_at?,
            })
        };
        errors.check(fields())
    }
}

impl TryFrom<UpdateEvidenceRequest> for EvidencePatch {
    type Error = FieldErrors;

    fn try_from(body: UpdateEvidenceRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let patch = EvidencePatch {
            description: parse_required(&mut errors, "description", body.description, LongText::parse),
            kind: parse_required(&mut errors, "kind", body.kind, EvidenceKind::parse),
            location: parse_required(&mut errors, "location", body.location, Location::parse),
            sha256: errors.take(body.sha256.try_map(|s| Sha256::parse("sha256", &s))).unwrap_or_default(),
            collected_by: parse_required(&mut errors, "collected_by", body.collected_by, ShortText::parse),
            collected_at: parse_required(&mut errors, "collected_at", body.collected_at, parse_instant_text),
        };
        errors.into_result().map(|()| patch)
    }
}

impl TryFrom<CreateCustodyEntryRequest> for Transfer {
    type Error = FieldErrors;

    fn try_from(body: CreateCustodyEntryRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let from = errors.take(ShortText::parse("from", &body.from));
        let to = errors.take(ShortText::parse("to", &body.to));
        let at = errors.take(parse_instant_text("at", &body.at));
        let purpose = errors.take(ShortText::parse("purpose", &body.purpose));
        let transfer = || Some(Transfer { from: Some(from?), to: to?, at: at?, purpose: purpose? });
        errors.check(transfer())
    }
}

/// The item with its entity tag, which changes with its version and with each custody entry added.
fn item_resource(
    state: &AppState,
    req: &HttpRequest,
    builder: actix_web::HttpResponseBuilder,
    item: &Evidence,
) -> HttpResponse {
    let etag = entity_tag_with(item.version, state.today(), &format!("-{}", item.custody.len()));
    resource(req, builder, &EvidenceResponse::from(item), etag)
}

fn not_found(id: Uuid) -> impl FnOnce() -> String {
    move || format!("evidence with id {id}")
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(create).service(list).service(get).service(update).service(add_custody);
}

/// Record an item of evidence of an incident. Its chain of custody starts with the collection: from
/// nobody to `collected_by`, at `collected_at`, purpose `collected`. Needs the editor role.
#[utoipa::path(
    tag = "evidence",
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = CreateEvidenceRequest,
    responses(
        (status = 201, description = "Created", body = EvidenceResponse, headers(
            ("Location" = String, description = "URL of the new item"),
            ("ETag" = String, description = "Entity tag of the new item"))),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The incident already holds 200 items of evidence", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/incidents/{id}/evidence")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn create(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<CreateEvidenceRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let incident_id = id.into_inner();
    let fields = body.parse(EvidenceFields::try_from)?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let item = db::evidence::create(&state.db, incident_id, fields, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, || format!("incident with id {incident_id}")))?;
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, format!("/api/v1/evidence/{}", item.id)));
    Ok(item_resource(&state, &req, created, &item))
}

/// An incident's evidence in the order collected, each item with its chain of custody. Needs the viewer
/// role.
#[utoipa::path(
    tag = "evidence",
    params(("id" = Uuid, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident's evidence", body = EvidenceList),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/incidents/{id}/evidence")]
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
        db::evidence::for_incident(&state.db, incident_id),
        |items| EvidenceList { items: items.iter().map(EvidenceResponse::from).collect() },
    )
    .await
}

/// An item of evidence with its chain of custody. Needs the viewer role. Evidence is never deleted on
/// its own: there is no `DELETE`, and an item goes only when an admin deletes its incident.
#[utoipa::path(
    tag = "evidence",
    params(("id" = Uuid, Path, description = "Evidence id"),
           ("If-None-Match" = Option<String>, Header, description = "Answer 304 if this is still its entity tag")),
    responses(
        (status = 200, description = "The item", body = EvidenceResponse, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/evidence/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn get(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let id = id.into_inner();
    let item = db::evidence::find(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(item_resource(&state, &req, HttpResponse::Ok(), &item))
}

/// Correct an item of evidence (JSON merge-patch): its description, kind, location or SHA-256, or who
/// collected it and when. A corrected collection is also added to the chain of custody as a new entry;
/// a collection time after the item's first hand-over is refused. Needs the editor role.
#[utoipa::path(
    tag = "evidence",
    params(("id" = Uuid, Path, description = "Evidence id"),
           ("If-Match" = Option<String>, Header, description = "Only change it if this is still its entity tag")),
    request_body(content = UpdateEvidenceRequest, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The corrected item", body = EvidenceResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The chain of custody is full (100 entries)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/evidence/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn update(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateEvidenceRequest>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let id = id.into_inner();
    let patch = body.parse(EvidencePatch::try_from)?;
    let item = db::evidence::update(&state.db, id, if_match_versions(&req), patch, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(item_resource(&state, &req, HttpResponse::Ok(), &item))
}

/// Add a hand-over to an item's chain of custody. The log is append-only: no route changes or removes
/// an entry, and the database refuses to. A mistaken entry is corrected by a new one that says so in
/// its `purpose`. Needs the editor role.
#[utoipa::path(
    operation_id = "evidence_custody_create",
    tag = "evidence",
    params(("id" = Uuid, Path, description = "Evidence id")),
    request_body = CreateCustodyEntryRequest,
    responses(
        (status = 201, description = "Added; the item with its chain of custody", body = EvidenceResponse, headers(
            ("Location" = String, description = "URL of the item"),
            ("ETag" = String, description = "New entity tag of the item"))),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The chain of custody is full (100 entries)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or a hand-over before the item was collected", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/evidence/{id}/custody")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn add_custody(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<CreateCustodyEntryRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let id = id.into_inner();
    let transfer = body.parse(Transfer::try_from)?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let item = db::evidence::add_custody(&state.db, id, transfer, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, format!("/api/v1/evidence/{id}")));
    Ok(item_resource(&state, &req, created, &item))
}
