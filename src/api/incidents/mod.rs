//! `/api/v1/incidents`: the security incidents corrective actions belong to, with their impact, root
//! cause and attack (`assessment` reads those members of the request bodies).

mod assessment;

use actix_web::{HttpRequest, HttpResponse, delete, get, http::header, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access;
use super::common::{Freshness, page, page_size, parse_list, required, resource};
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, entity_tag_with, if_match_versions, optional_object, patch_object};
use super::idempotency::Idempotency;
use super::state::{AppState, Data};
use crate::db;
use crate::domain::assessment::{Attack, Impact, RootCause};
use crate::domain::incident::{Incident, IncidentFields, IncidentPatch, IncidentStatus, Reference, Severity};
use crate::domain::listing::{IncidentFilter, IncidentSort, PageRequest};
use crate::domain::principal::{Principal, Role};
use crate::domain::text::{LongText, ShortText, Title};
use crate::domain::time::parse_instant_text;
use crate::domain::{FieldErrors, Patch};
pub use assessment::{
    AffectedSystemInput, AttackInput, ImpactInput, NotificationInput, RootCauseInput, TechniqueInput,
};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b4e-7d21-9f0a-5c3e2b1a0f9d", "reference": "SEC-1234",
    "title": "Credential phishing against finance", "summary": "Three users entered credentials on a fake SSO page.",
    "severity": "high", "category": "phishing", "status": "contained",
    "detected_at": "2026-11-02T08:15:00Z", "contained_at": "2026-11-02T11:40:00Z", "resolved_at": null,
    "discovered_by": "SOC analyst on duty", "created_at": "2026-11-02T09:00:00Z",
    "updated_at": "2026-11-02T11:41:00Z", "version": 2,
    "created_by": "facilitator@example.com", "updated_by": "soc-lead@example.com",
    "review_due_date": null, "review_overdue": false,
    "impact": {"business_impact": null, "affected_systems": [
        {"name": "sso.example.com", "kind": "application", "role": "impersonated by the phishing page"}],
        "data_exposed": ["credentials"], "records_exposed": 3, "downtime_minutes": null, "people_affected": 3,
        "cost": {"amount": "12500.00", "currency": "EUR"}, "notification": null},
    "root_cause": {"description": null, "category": "process_gap", "contributing_factors": []},
    "attack": {"vector": "email", "techniques": [{"id": "T1566.002", "note": "Link to a fake SSO page"}]}
}))]
pub struct IncidentResponse {
    pub id: Uuid,
    /// External reference such as a ticket key; unique.
    pub reference: Option<String>,
    pub title: String,
    pub summary: Option<String>,
    pub severity: Severity,
    /// Free text, e.g. phishing, malware, data-leak.
    pub category: Option<String>,
    pub status: IncidentStatus,
    pub detected_at: Option<DateTime<Utc>>,
    pub contained_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub discovered_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases by one with every change; the `ETag` is derived from it.
    pub version: i64,
    /// Who recorded it: the e-mail address of the token that did, or its subject.
    pub created_by: String,
    /// Who changed it last.
    pub updated_by: String,
    /// When its lessons-learned review is due: REVIEW_DUE_DAYS after the day it was resolved; null until then.
    pub review_due_date: Option<NaiveDate>,
    /// Resolved, no review held yet, and past `review_due_date`.
    pub review_overdue: bool,
    pub impact: Impact,
    pub root_cause: RootCause,
    pub attack: Attack,
}

impl IncidentResponse {
    pub(super) fn new(incident: &Incident, state: &AppState) -> Self {
        let f = &incident.fields;
        Self {
            review_due_date: incident.review_due_date(state.timezone, state.review_due_days),
            review_overdue: incident.review_overdue(state.timezone, state.review_due_days, state.today()),
            id: incident.id,
            reference: f.reference.as_ref().map(|r| r.as_str().to_owned()),
            title: f.title.to_string(),
            summary: f.summary.as_ref().map(ToString::to_string),
            severity: f.severity,
            category: f.category.as_ref().map(ToString::to_string),
            status: f.status,
            detected_at: f.detected_at,
            contained_at: f.contained_at,
            resolved_at: f.resolved_at,
            discovered_by: f.discovered_by.as_ref().map(ToString::to_string),
            created_at: incident.created_at,
            updated_at: incident.updated_at,
            version: incident.version,
            created_by: incident.created_by.clone(),
            updated_by: incident.updated_by.clone(),
            impact: f.impact.clone(),
            root_cause: f.root_cause.clone(),
            attack: f.attack.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    pub items: Vec<IncidentResponse>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A new incident. Reaching `contained` or `resolved` without a time stamps the time of the request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "reference": "SEC-1234", "title": "Credential phishing against finance", "severity": "high",
    "category": "phishing", "detected_at": "2026-11-02T08:15:00Z", "discovered_by": "SOC analyst on duty",
    "attack": {"vector": "email", "techniques": [{"id": "T1566.002"}]}
}))]
pub struct CreateIncidentRequest {
    /// 1–100 letters, digits or `- _ . : / #`; unique among incidents.
    #[schema(max_length = 100, pattern = "^[ \\t\\n\\r]*[A-Za-z0-9_.:/#-]+[ \\t\\n\\r]*$")]
    pub reference: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[schema(max_length = 10000)]
    pub summary: Option<String>,
    pub severity: Severity,
    #[schema(max_length = 200)]
    pub category: Option<String>,
    /// Defaults to `open`.
    pub status: Option<IncidentStatus>,
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub detected_at: Option<String>,
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub contained_at: Option<String>,
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub resolved_at: Option<String>,
    #[schema(max_length = 200)]
    pub discovered_by: Option<String>,
    #[serde(default, deserialize_with = "optional_object")]
    pub impact: Option<ImpactInput>,
    #[serde(default, deserialize_with = "optional_object")]
    pub root_cause: Option<RootCauseInput>,
    #[serde(default, deserialize_with = "optional_object")]
    pub attack: Option<AttackInput>,
}

/// A merge-patch (RFC 7396): members left out keep their value, `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "resolved", "resolved_at": "2026-11-03T17:00:00Z"}))]
pub struct UpdateIncidentRequest {
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 100, pattern = "^[ \\t\\n\\r]*[A-Za-z0-9_.:/#-]+[ \\t\\n\\r]*$")]
    pub reference: Patch<String>,
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub title: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub summary: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Severity)]
    pub severity: Patch<Severity>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub category: Patch<String>,
    #[serde(default)]
    #[schema(value_type = IncidentStatus)]
    pub status: Patch<IncidentStatus>,
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub detected_at: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub contained_at: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub resolved_at: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub discovered_by: Patch<String>,
    /// Merged member by member; `null` clears the whole impact.
    #[serde(default, deserialize_with = "patch_object")]
    #[schema(value_type = Option<ImpactInput>)]
    pub impact: Patch<ImpactInput>,
    /// Merged member by member; `null` clears it.
    #[serde(default, deserialize_with = "patch_object")]
    #[schema(value_type = Option<RootCauseInput>)]
    pub root_cause: Patch<RootCauseInput>,
    /// Merged member by member; `null` clears it.
    #[serde(default, deserialize_with = "patch_object")]
    #[schema(value_type = Option<AttackInput>)]
    pub attack: Patch<AttackInput>,
}

fn incident_resource(
    state: &AppState,
    req: &HttpRequest,
    builder: actix_web::HttpResponseBuilder,
    incident: &Incident,
) -> HttpResponse {
    let etag = entity_tag_with(incident.version, state.today(), if incident.review_held { "r" } else { "" });
    resource(req, builder, &IncidentResponse::new(incident, state), etag)
}

impl TryFrom<CreateIncidentRequest> for IncidentFields {
    type Error = FieldErrors;

    fn try_from(body: CreateIncidentRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let reference = errors.take(body.reference.as_deref().map(|r| Reference::parse("reference", r)).transpose());
        let title = errors.take(Title::parse("title", &body.title));
        let summary = errors.take(LongText::parse_optional("summary", body.summary.as_deref()));
        let category = errors.take(ShortText::parse_optional("category", body.category.as_deref()));
        let discovered_by = errors.take(ShortText::parse_optional("discovered_by", body.discovered_by.as_deref()));
        let mut instant =
            |field: &str, time: Option<&str>| errors.take(time.map(|t| parse_instant_text(field, t)).transpose());
        let detected_at = instant("detected_at", body.detected_at.as_deref());
        let contained_at = instant("contained_at", body.contained_at.as_deref());
        let resolved_at = instant("resolved_at", body.resolved_at.as_deref());
        let impact = body.impact.unwrap_or_default().parse(&mut errors).apply(Impact::default());
        let root_cause = body.root_cause.unwrap_or_default().parse(&mut errors).apply(RootCause::default());
        let attack = body.attack.unwrap_or_default().parse(&mut errors).apply(Attack::default());
        let fields = || {
            Some(IncidentFields {
                reference: reference?,
                title: title?,
                summary: summary?,
                severity: body.severity,
                category: category?,
                status: body.status.unwrap_or(IncidentStatus::Open),
                detected_at: detected_at?,
                contained_at: contained_at?,
                resolved_at: resolved_at?,
                discovered_by: discovered_by?,
                impact,
                root_cause,
                attack,
            })
        };
        errors.check(fields())
    }
}

impl TryFrom<UpdateIncidentRequest> for IncidentPatch {
    type Error = FieldErrors;

    fn try_from(body: UpdateIncidentRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let patch = IncidentPatch {
            reference: errors.take(body.reference.try_map(|r| Reference::parse("reference", &r))).unwrap_or_default(),
            title: errors
                .take(required("title", body.title).and_then(|t| t.map(|t| Title::parse("title", &t)).transpose()))
                .flatten(),
            summary: errors.take(body.summary.try_map(|t| LongText::parse("summary", &t))).unwrap_or_default(),
            severity: errors.take(required("severity", body.severity)).flatten(),
            category: errors.take(body.category.try_map(|t| ShortText::parse("category", &t))).unwrap_or_default(),
            status: errors.take(required("status", body.status)).flatten(),
            detected_at: errors
                .take(body.detected_at.try_map(|t| parse_instant_text("detected_at", &t)))
                .unwrap_or_default(),
            contained_at: errors
                .take(body.contained_at.try_map(|t| parse_instant_text("contained_at", &t)))
                .unwrap_or_default(),
            resolved_at: errors
                .take(body.resolved_at.try_map(|t| parse_instant_text("resolved_at", &t)))
                .unwrap_or_default(),
            discovered_by: errors
                .take(body.discovered_by.try_map(|t| ShortText::parse("discovered_by", &t)))
                .unwrap_or_default(),
            impact: body.impact.map(|input| input.parse(&mut errors)),
            root_cause: body.root_cause.map(|input| input.parse(&mut errors)),
            attack: body.attack.map(|input| input.parse(&mut errors)),
        };
        errors.into_result().map(|()| patch)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentListQuery {
    /// Comma-separated statuses, e.g. `open,contained`.
    #[param(
        example = "open,contained",
        pattern = "^(open|contained|resolved|closed)(,(open|contained|resolved|closed))*$"
    )]
    pub status: Option<String>,
    /// Comma-separated severities, e.g. `high,critical`.
    #[param(example = "high,critical", pattern = "^(low|medium|high|critical)(,(low|medium|high|critical))*$")]
    pub severity: Option<String>,
    /// Text the title contains (case-insensitive).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// One of created_at (default), -created_at, updated_at, -updated_at; ties are broken by id.
    #[param(example = "-created_at", pattern = "^-?(created_at|updated_at)$")]
    pub sort: Option<String>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, with the same other parameters (400 `cursor_mismatch`
    /// otherwise; `limit` may change).
    pub cursor: Option<String>,
}

impl IncidentListQuery {
    fn parse(&self) -> Result<(IncidentFilter, IncidentSort), FieldErrors> {
        let mut errors = FieldErrors::new();
        let statuses = errors.take(parse_list("status", self.status.as_deref(), "open, contained, resolved, closed"));
        let severities = errors.take(parse_list("severity", self.severity.as_deref(), "low, medium, high, critical"));
        let title_contains = errors.take(ShortText::parse_optional("q", self.q.as_deref()));
        let sort = errors.take(IncidentSort::parse(self.sort.as_deref().unwrap_or("created_at")));
        errors.take(crate::domain::listing::parse_limit(page_size(self.limit)));
        let parsed = || {
            let filter =
                IncidentFilter { statuses: statuses?, severities: severities?, title_contains: title_contains? };
            Some((filter, sort?))
        };
        errors.check(parsed())
    }
}

fn not_found(id: Uuid) -> impl FnOnce() -> String {
    move || format!("incident with id {id}")
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(create).service(list).service(get).service(update).service(delete);
}

/// Record an incident. Needs the editor role.
#[utoipa::path(
    tag = "incidents",
    request_body = CreateIncidentRequest,
    responses(
        (status = 201, description = "Created", body = IncidentResponse, headers(
            ("Location" = String, description = "URL of the new incident"),
            ("ETag" = String, description = "Entity tag of the new incident"))),
        (status = 409, description = "The reference is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/incidents")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn create(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    body: ApiJson<CreateIncidentRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let fields = body.parse(IncidentFields::try_from)?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let incident = db::incidents::create(&state.db, fields, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, || "incident".into()))?;
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, format!("{}/{}", req.path(), incident.id)));
    Ok(incident_resource(&state, &req, created, &incident))
}

/// List incidents, oldest first by default, one page at a time. Needs the viewer role.
#[utoipa::path(
    tag = "incidents",
    params(IncidentListQuery),
    responses(
        (status = 200, description = "One page of incidents", body = IncidentList, headers(
            ("Link" = String, description = "`<url>; rel=\"next\"` when another page follows"))),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/incidents")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn list(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<IncidentListQuery>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let (filter, sort) = query.parse()?;
    let page_request = PageRequest::new(sort, page_size(query.limit), query.cursor.as_deref(), filter.list_query())?;
    let fresh = Freshness::of(&state).await?;
    if let Some(not_modified) = fresh.unchanged(&req) {
        return Ok(not_modified);
    }
    let found =
        db::incidents::list(&state.db, filter, page_request).await.map_err(|e| ApiError::from_store(e, String::new))?;
    let next_cursor = found.next.map(|cursor| cursor.encode());
    let body = IncidentList {
        items: found.items.iter().map(|incident| IncidentResponse::new(incident, &state)).collect(),
        next_cursor,
    };
    Ok(page(&req, &body, body.next_cursor.as_deref(), Some(&fresh)))
}

/// Fetch one incident. Needs the viewer role.
#[utoipa::path(
    tag = "incidents",
    params(("id" = Uuid, Path, description = "Incident id"),
           ("If-None-Match" = Option<String>, Header, description = "Entity tag of the copy the client has")),
    responses(
        (status = 200, description = "The incident", body = IncidentResponse, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/incidents/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn get(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let id = id.into_inner();
    let incident = db::incidents::find(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(incident_resource(&state, &req, HttpResponse::Ok(), &incident))
}

/// Change an incident (JSON merge-patch). Needs the editor role.
#[utoipa::path(
    tag = "incidents",
    params(("id" = Uuid, Path, description = "Incident id"),
           ("If-Match" = Option<String>, Header, description = "Only change it if this is still its entity tag")),
    request_body(content = UpdateIncidentRequest, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed incident", body = IncidentResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The reference is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/incidents/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn update(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateIncidentRequest>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let id = id.into_inner();
    let patch = body.parse(IncidentPatch::try_from)?;
    let incident =
        db::incidents::update(&state.db, id, if_match_versions(&req), patch, access::change_context(&principal))
            .await
            .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(incident_resource(&state, &req, HttpResponse::Ok(), &incident))
}

/// Delete an incident that has no corrective actions. Needs the admin role.
#[utoipa::path(
    tag = "incidents",
    params(("id" = Uuid, Path, description = "Incident id"),
           ("If-Match" = Option<String>, Header, description = "Only delete it if this is still its entity tag")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The incident still has corrective actions", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/incidents/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn delete(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Admin)?;
    let id = id.into_inner();
    db::incidents::delete(&state.db, id, if_match_versions(&req), access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(HttpResponse::NoContent().finish())
}
