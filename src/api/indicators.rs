//! `/api/v1/incidents/{id}/indicators`, `/api/v1/indicators/{id}` and `/api/v1/indicators?value=`: an
//! incident's indicators of compromise, and "have we seen this before?" across incidents. Viewers never
//! see a TLP:RED indicator: not in a list, not by id, not in a search.

use actix_web::{HttpRequest, HttpResponse, delete, get, http::header, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access;
use super::common::{Freshness, page, page_size, required};
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, entity_tag, if_match_versions, patch_whole_number};
use super::idempotency::Idempotency;
use super::state::{AppState, Data};
use crate::db;
use crate::domain::indicator::{
    Confidence, Indicator, IndicatorFields, IndicatorPatch, IndicatorType, IndicatorValue, Tlp,
};
use crate::domain::listing::{CursorError, ListQuery, NewestFirst, PageRequest};
use crate::domain::principal::{Principal, Role};
use crate::domain::text::{LongText, ShortText};
use crate::domain::time::parse_instant_text;
use crate::domain::{FieldError, FieldErrors, Patch};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c6-2d3e-7f40-8a51-62738495a6b7", "incident_id": "0193a1c2-7b4e-7d21-9f0a-5c3e2b1a0f9d",
    "type": "domain", "value": "login-examp1e.com", "tlp": "amber", "confidence": 90,
    "first_seen": "2026-11-02T08:01:00Z", "last_seen": "2026-11-02T11:30:00Z", "source": "proxy logs",
    "description": "Hosted the fake SSO page.", "created_at": "2026-11-02T10:00:00Z",
    "updated_at": "2026-11-02T10:00:00Z", "version": 1, "created_by": "soc-lead@example.com",
    "updated_by": "soc-lead@example.com"
}))]
pub struct IndicatorResponse {
    pub id: Uuid,
    pub incident_id: Uuid,
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    /// Normalised for its type: canonical addresses and networks, lower-case domains (IDNA) and hashes.
    pub value: String,
    pub tlp: Tlp,
    /// 0–100.
    pub confidence: Option<u8>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub source: Option<String>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases by one with every change; the `ETag` is derived from it.
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl From<&Indicator> for IndicatorResponse {
    fn from(indicator: &Indicator) -> Self {
        let f = &indicator.fields;
        Self {
            id: indicator.id,
            incident_id: indicator.incident_id,
            kind: f.value.kind(),
            value: f.value.as_str().to_owned(),
            tlp: f.tlp,
            confidence: f.confidence.map(Confidence::get),
            first_seen: f.first_seen,
            last_seen: f.last_seen,
            source: f.source.as_ref().map(ToString::to_string),
            description: f.description.as_ref().map(ToString::to_string),
            created_at: indicator.created_at,
            updated_at: indicator.updated_at,
            version: indicator.version,
            created_by: indicator.created_by.clone(),
            updated_by: indicator.updated_by.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorList {
    /// Every indicator of the incident the caller may see (at most 1000), in order of value.
    pub items: Vec<IndicatorResponse>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "type": "url", "value": "hxxps://login-examp1e[.]com/sso", "tlp": "amber", "confidence": 90,
    "first_seen": "2026-11-02T08:01:00Z", "source": "proxy logs", "description": "The fake SSO page."
}))]
pub struct CreateIndicatorRequest {
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    /// Checked and normalised for `type`; defanged network values (`hxxp`, `[.]`) are accepted.
    #[schema(min_length = 1, max_length = 2048, pattern = "\\S")]
    pub value: String,
    /// Defaults to `amber`.
    pub tlp: Option<Tlp>,
    #[serde(default, deserialize_with = "patch_whole_number")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100)]
    pub confidence: Patch<i64>,
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub first_seen: Option<String>,
    /// Not before `first_seen`.
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub last_seen: Option<String>,
    #[schema(max_length = 200)]
    pub source: Option<String>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
}

/// A merge-patch (RFC 7396) of an indicator. A new `type` re-reads the value (the given one, or the
/// stored one).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tlp": "red", "last_seen": "2026-11-03T07:00:00Z"}))]
pub struct UpdateIndicatorRequest {
    #[serde(default, rename = "type")]
    #[schema(value_type = IndicatorType)]
    pub kind: Patch<IndicatorType>,
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 2048, pattern = "\\S")]
    pub value: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Tlp)]
    pub tlp: Patch<Tlp>,
    #[serde(default, deserialize_with = "patch_whole_number")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100)]
    pub confidence: Patch<i64>,
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub first_seen: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub last_seen: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub source: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Patch<String>,
}

fn confidence(raw: Patch<i64>) -> Result<Patch<Confidence>, FieldError> {
    raw.try_map(|value| Confidence::parse("confidence", value))
}

fn instant(field: &'static str, raw: Patch<String>) -> Result<Patch<DateTime<Utc>>, FieldError> {
    raw.try_map(|text| parse_instant_text(field, &text))
}

impl TryFrom<CreateIndicatorRequest> for IndicatorFields {
    type Error = FieldErrors;

    fn try_from(body: CreateIndicatorRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let value = errors.take(IndicatorValue::parse("value", body.kind, &body.value));
        let confidence = errors.take(confidence(body.confidence));
        let first_seen = errors.take(body.first_seen.map(|t| parse_instant_text("first_seen", &t)).transpose());
        let last_seen = errors.take(body.last_seen.map(|t| parse_instant_text("last_seen", &t)).transpose());
        let source = errors.take(ShortText::parse_optional("source", body.source.as_deref()));
        let description = errors.take(LongText::parse_optional("description", body.description.as_deref()));
        let fields = || {
            Some(IndicatorFields {
                value: value?,
                tlp: body.tlp.unwrap_or_default(),
                confidence: confidence?.apply_to(None),
                first_seen: first_seen?,
                last_seen: last_seen?,
                source: source?,
                description: description?,
            })
        };
        errors.check(fields())?.check()
    }
}

impl TryFrom<UpdateIndicatorRequest> for IndicatorPatch {
    type Error = FieldErrors;

    fn try_from(body: UpdateIndicatorRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let patch = IndicatorPatch {
            kind: errors.take(required("type", body.kind)).flatten(),
            value: errors.take(required("value", body.value)).flatten(),
            tlp: errors.take(required("tlp", body.tlp)).flatten(),
            confidence: errors.take(confidence(body.confidence)).unwrap_or_default(),
            first_seen: errors.take(instant("first_seen", body.first_seen)).unwrap_or_default(),
            last_seen: errors.take(instant("last_seen", body.last_seen)).unwrap_or_default(),
            source: errors.take(body.source.try_map(|s| ShortText::parse("source", &s))).unwrap_or_default(),
            description: errors
                .take(body.description.try_map(|s| LongText::parse("description", &s)))
                .unwrap_or_default(),
        };
        errors.into_result().map(|()| patch)
    }
}

/// `GET /indicators`: one value, and how to read it.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The value to look for, written any way its type allows (`Evil[.]Example`, `HKLM\…`, upper-case hex).
    pub value: String,
    /// How to read `value`; without it, as the most particular type it parses as (an address before a
    /// domain, a domain before a file name). The answer's `matched` says how it was read. The type only
    /// decides how `value` is read: an indicator of another type with the same written form (a domain
    /// and a file name `evil.example`) is found too, and each item says its own type.
    #[serde(rename = "type")]
    #[param(value_type = Option<IndicatorType>)]
    pub kind: Option<IndicatorType>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, with the same other parameters.
    pub cursor: Option<String>,
}

/// How the searched value was read.
#[derive(Debug, Serialize, ToSchema)]
pub struct Matched {
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    pub value: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SightingResponse {
    #[serde(flatten)]
    pub indicator: IndicatorResponse,
    pub incident_reference: Option<String>,
    pub incident_title: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "matched": {"type": "domain", "value": "login-examp1e.com"},
    "items": [{
        "id": "0193a1c6-2d3e-7f40-8a51-62738495a6b7", "incident_id": "0193a1c2-7b4e-7d21-9f0a-5c3e2b1a0f9d",
        "type": "domain", "value": "login-examp1e.com", "tlp": "amber", "confidence": 90,
        "first_seen": "2026-11-02T08:01:00Z", "last_seen": null, "source": "proxy logs", "description": null,
        "created_at": "2026-11-02T10:00:00Z", "updated_at": "2026-11-02T10:00:00Z", "version": 1,
        "created_by": "soc-lead@example.com", "updated_by": "soc-lead@example.com",
        "incident_reference": "SEC-1234", "incident_title": "Credential phishing against finance"
    }],
    "next_cursor": null
}))]
pub struct Sightings {
    pub matched: Matched,
    /// The incidents' indicators with this value, newest first.
    pub items: Vec<SightingResponse>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

fn indicator_resource(
    state: &AppState,
    req: &HttpRequest,
    builder: actix_web::HttpResponseBuilder,
    indicator: &Indicator,
) -> HttpResponse {
    super::common::resource(
        req,
        builder,
        &IndicatorResponse::from(indicator),
        entity_tag(indicator.version, state.today()),
    )
}

fn not_found(id: Uuid) -> impl FnOnce() -> String {
    move || format!("indicator with id {id}")
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(create).service(list).service(search).service(find).service(update).service(delete);
}

/// Record an indicator of compromise of an incident. Needs the editor role. A value the incident already
/// has (after normalisation) is 409, naming the indicator that holds it.
#[utoipa::path(
    tag = "indicators",
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = CreateIndicatorRequest,
    responses(
        (status = 201, description = "Created", body = IndicatorResponse, headers(
            ("Location" = String, description = "URL of the new indicator"),
            ("ETag" = String, description = "Entity tag of the new indicator"))),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The incident already has this value, or 1000 indicators", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/incidents/{id}/indicators")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn create(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<CreateIndicatorRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let incident_id = id.into_inner();
    let fields = body.parse(IndicatorFields::try_from)?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let indicator = db::indicators::create(&state.db, incident_id, fields, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, || format!("incident with id {incident_id}")))?;
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, format!("/api/v1/indicators/{}", indicator.id)));
    Ok(indicator_resource(&state, &req, created, &indicator))
}

/// An incident's indicators of compromise, in order of value. Needs the viewer role; viewers do not see
/// TLP:RED ones.
#[utoipa::path(
    tag = "indicators",
    params(("id" = Uuid, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The indicators", body = IndicatorList),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/incidents/{id}/indicators")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn list(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let incident_id = id.into_inner();
    let sees_red = access::sees_red(&principal);
    let fresh = Freshness::of(&state).await?.seen_by(sees_red);
    if let Some(not_modified) = fresh.unchanged(&req) {
        return Ok(not_modified);
    }
    let indicators = db::indicators::for_incident(&state.db, incident_id, sees_red)
        .await
        .map_err(|e| ApiError::from_store(e, || format!("incident with id {incident_id}")))?;
    let mut response = HttpResponse::Ok();
    fresh.headers(&mut response);
    Ok(response.json(IndicatorList { items: indicators.iter().map(IndicatorResponse::from).collect() }))
}

/// Have we seen this before? Every incident's indicator with this value, newest first. Needs the viewer
/// role; viewers do not see TLP:RED ones.
#[utoipa::path(
    operation_id = "indicators_search",
    tag = "indicators",
    params(SearchQuery),
    responses(
        (status = 200, description = "One page of matches", body = Sightings, headers(
            ("Link" = String, description = "`<url>; rel=\"next\"` when another page follows"))),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that is not of the given type (or of any), or an invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/indicators")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn search(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let value = match query.kind {
        Some(kind) => IndicatorValue::parse("value", kind, &query.value),
        None => IndicatorValue::detect(&query.value)
            .ok_or_else(|| FieldError::new("value", "is not a value of any indicator type")),
    };
    let query_key = ListQuery::new("indicators")
        .with("value", value.as_ref().map(IndicatorValue::as_str).unwrap_or_default())
        .with_some("type", query.kind.map(<&str>::from));
    let page_request = PageRequest::new(NewestFirst, page_size(query.limit), query.cursor.as_deref(), query_key);
    let (value, page_request) = match (value, page_request) {
        (Ok(value), Ok(page_request)) => (value, page_request),
        (Err(bad_value), Err(CursorError::Invalid(bad_page))) => {
            let mut errors = FieldErrors::from(bad_value);
            errors.push(bad_page);
            return Err(ApiError::Validation(errors));
        }
        (Err(bad_value), _) => return Err(ApiError::Validation(bad_value.into())),
        (Ok(_), Err(bad_page)) => return Err(bad_page.into()),
    };
    let sees_red = access::sees_red(&principal);
    let found = db::indicators::search(&state.db, &value, sees_red, page_request)
        .await
        .map_err(|e| ApiError::from_store(e, String::new))?;
    let next_cursor = found.next.map(|cursor| cursor.encode());
    let body = Sightings {
        matched: Matched { kind: value.kind(), value: value.as_str().to_owned() },
        items: found
            .items
            .iter()
            .map(|sighting| SightingResponse {
                indicator: IndicatorResponse::from(&sighting.indicator),
                incident_reference: sighting.incident_reference.clone(),
                incident_title: sighting.incident_title.clone(),
            })
            .collect(),
        next_cursor,
    };
    Ok(page(&req, &body, body.next_cursor.as_deref(), None))
}

/// One indicator. Needs the viewer role; to a viewer, a TLP:RED indicator does not exist (404).
#[utoipa::path(
    operation_id = "indicators_get",
    tag = "indicators",
    params(("id" = Uuid, Path, description = "Indicator id")),
    responses(
        (status = 200, description = "The indicator", body = IndicatorResponse, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such indicator", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/indicators/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn find(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let id = id.into_inner();
    let indicator = db::indicators::find(&state.db, id, access::sees_red(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(indicator_resource(&state, &req, HttpResponse::Ok(), &indicator))
}

/// Correct an indicator (JSON merge-patch). Needs the editor role.
#[utoipa::path(
    tag = "indicators",
    params(("id" = Uuid, Path, description = "Indicator id"),
           ("If-Match" = Option<String>, Header, description = "Only change it if this is still its entity tag")),
    request_body(content = UpdateIndicatorRequest, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed indicator", body = IndicatorResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 404, description = "No such indicator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another indicator of the incident has this value", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/indicators/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn update(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateIndicatorRequest>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let id = id.into_inner();
    let patch = body.parse(IndicatorPatch::try_from)?;
    let indicator =
        db::indicators::update(&state.db, id, if_match_versions(&req), patch, access::change_context(&principal))
            .await
            .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(indicator_resource(&state, &req, HttpResponse::Ok(), &indicator))
}

/// Remove an indicator; the history keeps what it said. Needs the editor role.
#[utoipa::path(
    tag = "indicators",
    params(("id" = Uuid, Path, description = "Indicator id"),
           ("If-Match" = Option<String>, Header, description = "Only delete it if this is still its entity tag")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such indicator", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/indicators/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn delete(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let id = id.into_inner();
    db::indicators::delete(&state.db, id, if_match_versions(&req), access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(HttpResponse::NoContent().finish())
}
