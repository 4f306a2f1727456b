//! `/api/v1/people`: the people directory (managers for escalation, time zones for reminders). A
//! person's queue of actions is served by the actions room.

use actix_web::{HttpRequest, HttpResponse, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access;
use super::common::{self, Freshness, page, page_size, parse_bool, resource};
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, entity_tag, if_match_versions};
use super::state::{AppState, Data};
use crate::db;
use crate::db::people::Put;
use crate::domain::FieldErrors;
use crate::domain::email::EmailAddress;
use crate::domain::listing::{ByEmail, ListQuery, PageRequest};
use crate::domain::person::{Person, PersonFields, parse_timezone};
use crate::domain::principal::{Principal, Role};
use crate::domain::text::ShortText;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "email": "dana@example.com", "name": "Dana Reyes", "manager_email": "morgan@example.com",
    "timezone": "America/Los_Angeles", "active": true, "created_at": "2026-11-01T08:00:00Z",
    "updated_at": "2026-11-01T08:00:00Z", "version": 1, "created_by": "admin@example.com",
    "updated_by": "admin@example.com"
}))]
pub struct PersonResponse {
    /// Lower-case.
    pub email: String,
    pub name: Option<String>,
    /// Escalations about this person's overdue actions go here.
    pub manager_email: Option<String>,
    /// IANA name; their reminders follow their local day and send hour. `null`: the server's TIMEZONE.
    pub timezone: Option<String>,
    /// `false` for someone who left: their actions are flagged `owner_inactive` and their reminders go to
    /// their manager (or the escalation contact).
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases by one with every change; the `ETag` is derived from it.
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl From<&Person> for PersonResponse {
    fn from(person: &Person) -> Self {
        let f = &person.fields;
        Self {
            email: person.email.to_string(),
            name: f.name.as_ref().map(ToString::to_string),
            manager_email: f.manager_email.as_ref().map(ToString::to_string),
            timezone: f.timezone.map(|tz| tz.name().to_owned()),
            active: f.active,
            created_at: person.created_at,
            updated_at: person.updated_at,
            version: person.version,
            created_by: person.created_by.clone(),
            updated_by: person.updated_by.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonList {
    /// In address order.
    pub items: Vec<PersonResponse>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A person's whole entry; fields left out are cleared (`active` defaults to true).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Dana Reyes", "manager_email": "morgan@example.com", "timezone": "America/Los_Angeles"}))]
pub struct PutPersonRequest {
    #[schema(max_length = 200)]
    pub name: Option<String>,
    #[schema(max_length = 254, format = Email)]
    pub manager_email: Option<String>,
    /// An IANA time zone name (the tz database's), such as `Europe/Berlin`; any other name is refused
    /// (422). Blank, `null` or left out: the server's TIMEZONE.
    #[schema(max_length = 64, example = "Europe/Berlin")]
    pub timezone: Option<String>,
    /// Defaults to true.
    pub active: Option<bool>,
}

impl TryFrom<PutPersonRequest> for PersonFields {
    type Error = FieldErrors;

    fn try_from(body: PutPersonRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = errors.take(ShortText::parse_optional("name", body.name.as_deref()));
        let manager_email =
            errors.take(body.manager_email.as_deref().map(|m| EmailAddress::parse("manager_email", m)).transpose());
        let timezone = errors.take(
            body.timezone
                .as_deref()
                .filter(|t| !t.trim().is_empty())
                .map(|t| parse_timezone("timezone", t))
                .transpose(),
        );
        let fields = || {
            Some(PersonFields {
                name: name?,
                manager_email: manager_email?,
                timezone: timezone?,
                active: body.active.unwrap_or(true),
            })
        };
        errors.check(fields())
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PersonListQuery {
    /// `false`: only people marked inactive.
    #[param(value_type = Option<bool>)]
    pub active: Option<String>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, with the same other parameters (400 `cursor_mismatch`
    /// otherwise; `limit` may change).
    pub cursor: Option<String>,
}

fn person_resource(
    state: &AppState,
    req: &HttpRequest,
    builder: actix_web::HttpResponseBuilder,
    person: &Person,
) -> HttpResponse {
    resource(req, builder, &PersonResponse::from(person), entity_tag(person.version, state.today()))
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(put).service(list).service(get);
}

/// Create or replace a person's entry. Needs the admin role.
#[utoipa::path(
    tag = "people",
    params(("email" = String, Path, format = Email, description = "The person's e-mail address"),
           ("If-Match" = Option<String>, Header, description = "Only replace it if this is still its entity tag")),
    request_body = PutPersonRequest,
    responses(
        (status = 200, description = "Replaced", body = PersonResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 201, description = "Created", body = PersonResponse, headers(("ETag" = String, description = "Entity tag"))),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or address", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/people/{email}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn put(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    email: web::Path<String>,
    body: ApiJson<PutPersonRequest>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Admin)?;
    let email = common::path_email(&email)?;
    let fields = body.parse(|body| PersonFields::try_from(body)?.check(&email))?;
    let put = db::people::put(&state.db, email, if_match_versions(&req), fields, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, || "person".into()))?;
    Ok(match put {
        Put::Created(person) => person_resource(&state, &req, HttpResponse::Created(), &person),
        Put::Replaced(person) => person_resource(&state, &req, HttpResponse::Ok(), &person),
    })
}

/// The people directory in address order. Needs the viewer role.
#[utoipa::path(
    tag = "people",
    params(PersonListQuery),
    responses(
        (status = 200, description = "One page of people", body = PersonList, headers(
            ("Link" = String, description = "`<url>; rel=\"next\"` when another page follows"))),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/people")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn list(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<PersonListQuery>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let active = parse_bool("active", query.active.as_deref())?;
    let list = ListQuery::new("people").with_some("active", active);
    let page_request = PageRequest::new(ByEmail, page_size(query.limit), query.cursor.as_deref(), list)?;
    let fresh = Freshness::of(&state).await?;
    if let Some(not_modified) = fresh.unchanged(&req) {
        return Ok(not_modified);
    }
    let found =
        db::people::list(&state.db, active, page_request).await.map_err(|e| ApiError::from_store(e, String::new))?;
    let next_cursor = found.next.map(|cursor| cursor.encode());
    let body = PersonList { items: found.items.iter().map(PersonResponse::from).collect(), next_cursor };
    Ok(page(&req, &body, body.next_cursor.as_deref(), Some(&fresh)))
}

/// One person's entry. Needs the viewer role, or being that person.
#[utoipa::path(
    tag = "people",
    params(("email" = String, Path, format = Email, description = "The person's e-mail address"),
           ("If-None-Match" = Option<String>, Header, description = "Entity tag of the copy the client has")),
    responses(
        (status = 200, description = "The entry", body = PersonResponse, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "Not in the directory", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an e-mail address", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/people/{email}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn get(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    email: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let email = common::path_email(&email)?;
    access::read_person(&principal, &email)?;
    let person = db::people::find(&state.db, email.clone())
        .await
        .map_err(|e| ApiError::from_store(e, || format!("person {email} in the directory")))?;
    Ok(person_resource(&state, &req, HttpResponse::Ok(), &person))
}
