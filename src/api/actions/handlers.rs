//! The handlers of corrective actions: create, list, read, change, delete, verify, and the lists and
//! creations scoped to an incident, a review or a person.

use actix_web::{HttpRequest, HttpResponse, delete, get, http::header, patch, post, web};
use uuid::Uuid;

use super::query::ActionListQuery;
use super::types::{
    ActionList, ActionResponse, BulkActionsRequest, BulkActionsResponse, CreateActionRequest, UpdateActionRequest,
    VerifyActionRequest, review_actions,
};
use crate::api::access;
use crate::api::common::{Freshness, page, resource};
use crate::api::error::{ApiError, Problem};
use crate::api::extract::{self, ApiJson, entity_tag_with, if_match_versions};
use crate::api::idempotency::Idempotency;
use crate::api::state::{AppState, Data};
use crate::db;
use crate::domain::action::{Action, ActionFields, ActionPatch};
use crate::domain::listing::{ActionFilter, ActionSort};
use crate::domain::principal::{Principal, Role};
use crate::domain::text::LongText;

fn not_found(id: Uuid) -> impl FnOnce() -> String {
    move || format!("action with id {id}")
}

pub(super) fn action_resource(
    state: &AppState,
    req: &HttpRequest,
    builder: actix_web::HttpResponseBuilder,
    action: &Action,
) -> HttpResponse {
    let today = state.today();
    let etag = action_entity_tag(action.version, action.owner_inactive, today);
    resource(req, builder, &ActionResponse::new(action, today), etag)
}

/// An action's representation also says whether its owner left, which a person's record decides, not
/// the action's version; the tag tells the two states apart so a revalidating dashboard hears of it.
fn action_entity_tag(version: i64, owner_inactive: bool, today: chrono::NaiveDate) -> String {
    entity_tag_with(version, today, if owner_inactive { "i" } else { "" })
}

async fn create_action(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    fields: ActionFields,
    unknown_incident: impl FnOnce() -> ApiError,
) -> Result<HttpResponse, ApiError> {
    let action = match db::actions::create(&state.db, fields, access::change_context(principal)).await {
        Ok(action) => action,
        Err(db::StoreError::UnknownIncident) => return Err(unknown_incident()),
        Err(other) => return Err(ApiError::from_store(other, || "action".into())),
    };
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, format!("/api/v1/actions/{}", action.id)));
    Ok(action_resource(state, req, created, &action))
}

pub(super) async fn list_actions(
    state: &AppState,
    req: &HttpRequest,
    query: &ActionListQuery,
    filter: ActionFilter,
    sort: ActionSort,
) -> Result<HttpResponse, ApiError> {
    let page_request = query.page(&filter, sort)?;
    let fresh = Freshness::of(state).await?;
    if let Some(not_modified) = fresh.unchanged(req) {
        return Ok(not_modified);
    }
    let today = state.today();
    let found =
        db::actions::list(&state.db, filter, page_request).await.map_err(|e| ApiError::from_store(e, String::new))?;
    let next_cursor = found.next.map(|cursor| cursor.encode());
    let body = ActionList { items: found.items.iter().map(|a| ActionResponse::new(a, today)).collect(), next_cursor };
    Ok(page(req, &body, body.next_cursor.as_deref(), Some(&fresh)))
}

/// Add a corrective action to an incident. Needs the editor role.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = CreateActionRequest,
    responses(
        (status = 201, description = "Created", body = ActionResponse, headers(
            ("Location" = String, description = "URL of the new action"),
            ("ETag" = String, description = "Entity tag of the new action"))),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A ticket in `external_refs` is linked to another action, or a request with the same Idempotency-Key is still running", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/incidents/{id}/actions")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn create_for_incident(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<CreateActionRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let incident_id = id.into_inner();
    let fields = body.parse(|body| body.into_fields(Some(incident_id)))?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    create_action(&state, &req, &principal, fields, || {
        ApiError::NotFound(format!("no incident with id {incident_id} exists"))
    })
    .await
}

/// List the corrective actions of one incident; takes the same filters as `GET /actions`. Needs the viewer role.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path, description = "Incident id"), ActionListQuery),
    responses(
        (status = 200, description = "One page of the incident's actions", body = ActionList, headers(
            ("Link" = String, description = "`<url>; rel=\"next\"` when another page follows"))),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/incidents/{id}/actions")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn list_for_incident(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<ActionListQuery>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let incident_id = id.into_inner();
    let (mut filter, sort) = query.parse(state.today())?;
    if filter.incident_id.is_some_and(|other| other != incident_id) {
        return Err(ApiError::invalid("incident_id", "differs from the incident in the URL; leave it out"));
    }
    db::incidents::find(&state.db, incident_id)
        .await
        .map_err(|e| ApiError::from_store(e, || format!("incident with id {incident_id}")))?;
    filter.incident_id = Some(incident_id);
    list_actions(&state, &req, &query, filter, sort).await
}

/// Record a corrective action (the body names its incident). Needs the editor role.
#[utoipa::path(
    tag = "actions",
    request_body = CreateActionRequest,
    responses(
        (status = 201, description = "Created", body = ActionResponse, headers(
            ("Location" = String, description = "URL of the new action"),
            ("ETag" = String, description = "Entity tag of the new action"))),
        (status = 409, description = "A ticket in `external_refs` is linked to another action, or a request with the same Idempotency-Key is still running", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or no such incident", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/actions")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn create(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    body: ApiJson<CreateActionRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let fields = body.parse(|body| body.into_fields(None))?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    create_action(&state, &req, &principal, fields, || {
        ApiError::invalid("incident_id", "no incident with this id exists")
    })
    .await
}

/// List corrective actions across incidents, filtered, sorted and paginated. Needs the viewer role, or
/// `owner` set to the caller's own address (an owner's own queue).
#[utoipa::path(
    tag = "actions",
    params(ActionListQuery),
    responses(
        (status = 200, description = "One page of actions", body = ActionList, headers(
            ("Link" = String, description = "`<url>; rel=\"next\"` when another page follows"))),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/actions")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn list(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<ActionListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, sort) = query.parse(state.today())?;
    let own_queue = filter.owner.is_some() && filter.owner == principal.email;
    if !own_queue {
        access::require(&principal, Role::Viewer)?;
    }
    list_actions(&state, &req, &query, filter, sort).await
}

/// Fetch one corrective action. Needs the viewer role, or being its owner.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path, description = "Action id"),
           ("If-None-Match" = Option<String>, Header, description = "Entity tag of the copy the client has")),
    responses(
        (status = 200, description = "The action", body = ActionResponse, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such action", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/actions/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn get(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // A dashboard revalidating its copy needs only the version (and the owner, to be allowed to ask).
    if req.headers().contains_key(header::IF_NONE_MATCH) {
        let current =
            db::actions::revalidation(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
        access::read_action_of(&principal, &current.owner)?;
        let etag = action_entity_tag(current.version, current.owner_inactive, state.today());
        if extract::none_match_hits(&req, &etag) {
            return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
        }
    }
    let action = db::actions::find(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    access::read_action(&principal, &action)?;
    Ok(action_resource(&state, &req, HttpResponse::Ok(), &action))
}

/// Change a corrective action (JSON merge-patch), with the status rules applied. Editors may change every
/// field; the action's owner only `status` and `resolution` (other fields are refused with 403, naming them).
/// Moving `due_date` later needs `due_date_change_reason`.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path, description = "Action id"),
           ("If-Match" = Option<String>, Header, description = "Only change it if this is still its entity tag")),
    request_body(content = UpdateActionRequest, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed action", body = ActionResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 404, description = "No such action", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A ticket in `external_refs` is linked to another action", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, a missing resolution, or no such incident", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/actions/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn update(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateActionRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let patch = body.parse(ActionPatch::try_from)?;
    let current = db::actions::find(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    let owner = access::update_action(&principal, &current, &patch, state.today())?;
    let guard = db::Guard { if_match: if_match_versions(&req), owner };
    let action = db::actions::update(&state.db, id, guard, patch, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(action_resource(&state, &req, HttpResponse::Ok(), &action))
}

/// Delete a corrective action. Needs the admin role.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path, description = "Action id"),
           ("If-Match" = Option<String>, Header, description = "Only delete it if this is still its entity tag")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such action", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/actions/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn delete(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Admin)?;
    let id = id.into_inner();
    db::actions::delete(&state.db, id, if_match_versions(&req), access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(HttpResponse::NoContent().finish())
}

/// Confirm that a done action really was done, with the evidence checked. Needs the editor role, and
/// the caller must not be the action's owner: nobody verifies their own work. Reopening the action
/// clears the verification.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path, description = "Action id"),
           ("If-Match" = Option<String>, Header, description = "Only verify it if this is still its entity tag")),
    request_body = VerifyActionRequest,
    responses(
        (status = 200, description = "The verified action", body = ActionResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 404, description = "No such action", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The action is not done", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid evidence", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/actions/{id}/verify")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn verify(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<VerifyActionRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let id = id.into_inner();
    let evidence = body.parse(|body| LongText::parse("evidence", &body.evidence))?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let action = db::actions::verify(
        &state.db,
        id,
        if_match_versions(&req),
        evidence,
        principal.email.clone(),
        access::change_context(&principal),
    )
    .await
    .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(action_resource(&state, &req, HttpResponse::Ok(), &action))
}

/// Create the corrective actions a review decided on, in one transaction: if any item is invalid, none is
/// created and each error names its item (`actions[2].due_date`). Needs the editor role.
#[utoipa::path(
    tag = "reviews",
    operation_id = "create_actions",
    params(("id" = Uuid, Path, description = "Review id")),
    request_body = BulkActionsRequest,
    responses(
        (status = 201, description = "All actions created", body = BulkActionsResponse),
        (status = 404, description = "No such review", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A ticket in `external_refs` is linked to another action, or a request with the same Idempotency-Key is still running", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Some item is invalid; nothing was created", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/reviews/{id}/actions")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn create_for_review(
    state: Data,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<BulkActionsRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let review_id = id.into_inner();
    let review = db::reviews::find(&state.db, review_id)
        .await
        .map_err(|e| ApiError::from_store(e, || format!("review with id {review_id}")))?;
    let parsed = body.parse(|body| review_actions(body.actions, &review))?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let created = db::actions::create_many(&state.db, parsed, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, || "action".into()))?;
    let today = state.today();
    Ok(HttpResponse::Created()
        .json(BulkActionsResponse { items: created.iter().map(|action| ActionResponse::new(action, today)).collect() }))
}

/// A person's queue: the actions they own, with the filters of `GET /actions`. Needs the viewer role, or
/// being that person. The person need not be in the directory.
#[utoipa::path(
    tag = "people",
    operation_id = "actions",
    params(("email" = String, Path, format = Email, description = "The owner's e-mail address"), ActionListQuery),
    responses(
        (status = 200, description = "One page of the person's actions", body = ActionList, headers(
            ("Link" = String, description = "`<url>; rel=\"next\"` when another page follows"))),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid address or filter value", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/people/{email}/actions")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn list_for_person(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    email: web::Path<String>,
    query: web::Query<ActionListQuery>,
) -> Result<HttpResponse, ApiError> {
    let email = crate::api::common::path_email(&email)?;
    access::read_person(&principal, &email)?;
    let (mut filter, sort) = query.parse(state.today())?;
    if filter.owner.as_ref().is_some_and(|owner| owner != &email) {
        return Err(ApiError::invalid("owner", "differs from the person in the URL; leave it out"));
    }
    filter.owner = Some(email);
    list_actions(&state, &req, &query, filter, sort).await
}
