//! `PUT /actions/by-ref/{system}/{key}`: a ticketing system pushes the state of the action linked to one
//! of its tickets.

use actix_web::{HttpRequest, HttpResponse, http::header, put, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::handlers::action_resource;
use super::types::{ActionResponse, CreateActionRequest, UpdateActionRequest};
use crate::api::access;
use crate::api::error::{ApiError, Problem};
use crate::api::extract::{ApiJson, if_match_versions};
use crate::api::state::Data;
use crate::db;
use crate::domain::action::{ActionCategory, ActionFields, ActionPatch, ActionStatus, Priority};
use crate::domain::external::{ExternalRef, HttpUrl, Key, System};
use crate::domain::principal::{Principal, Role};
use crate::domain::{FieldError, FieldErrors, Patch};

/// The state a ticketing system pushes for the action linked to one of its tickets. Members left out
/// keep their value on an existing action; creating one needs `incident_id`, `title`, `owner_email` and
/// `due_date`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "incident_id": "0193a1c2-7b4e-7d21-9f0a-5c3e2b1a0f9d", "title": "Enforce phishing-resistant MFA for finance",
    "owner_email": "dana@example.com", "due_date": "2026-12-15", "priority": "high", "status": "in_progress",
    "url": "https://jira.example.com/browse/SEC-123"
}))]
pub struct UpsertActionRequest {
    pub incident_id: Option<Uuid>,
    pub review_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    #[schema(max_length = 254, format = Email)]
    pub owner_email: Option<String>,
    #[schema(max_length = 200)]
    pub owner_name: Option<String>,
    #[schema(max_length = 200)]
    pub team: Option<String>,
    #[schema(value_type = Option<NaiveDate>)]
    pub due_date: Option<String>,
    pub priority: Option<Priority>,
    pub category: Option<ActionCategory>,
    pub status: Option<ActionStatus>,
    #[schema(max_length = 10000)]
    pub resolution: Option<String>,
    #[schema(max_items = 20)]
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<NaiveDate>)]
    pub snoozed_until: Option<String>,
    /// The ticket's own URL, kept on the link.
    #[schema(
        max_length = 2000,
        pattern = "^https?://([A-Za-z][A-Za-z0-9-]*(\\.[A-Za-z][A-Za-z0-9-]*)*|(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})(:(0|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[!-~]*)?$"
    )]
    pub url: Option<String>,
    /// Why the due date moves later; defaults to "Changed in <system> ticket <key>".
    #[schema(max_length = 10000)]
    pub due_date_change_reason: Option<String>,
}

impl UpsertActionRequest {
    /// The change to an existing action: only what was sent.
    fn patch(&self) -> Result<ActionPatch, FieldErrors> {
        fn sent<T: Clone>(value: &Option<T>) -> Patch<T> {
            value.clone().map_or(Patch::Absent, Patch::Value)
        }
        ActionPatch::try_from(UpdateActionRequest {
            incident_id: sent(&self.incident_id),
            review_id: sent(&self.review_id),
            title: sent(&self.title),
            description: sent(&self.description),
            owner_email: sent(&self.owner_email),
            owner_name: sent(&self.owner_name),
            team: sent(&self.team),
            due_date: sent(&self.due_date),
            priority: sent(&self.priority),
            category: sent(&self.category),
            status: sent(&self.status),
            resolution: sent(&self.resolution),
            tags: sent(&self.tags),
            snoozed_until: sent(&self.snoozed_until),
            external_refs: Patch::Absent,
            due_date_change_reason: self.due_date_change_reason.clone(),
        })
    }

    /// A new action, when none is linked to the ticket yet.
    fn create(self) -> Result<ActionFields, FieldErrors> {
        let mut errors = FieldErrors::new();
        let missing = "is required to create the action for this ticket";
        let incident_id = errors.take(self.incident_id.ok_or_else(|| FieldError::new("incident_id", missing)));
        let title = errors.take(self.title.ok_or_else(|| FieldError::new("title", missing)));
        let owner_email = errors.take(self.owner_email.ok_or_else(|| FieldError::new("owner_email", missing)));
        let due_date = errors.take(self.due_date.ok_or_else(|| FieldError::new("due_date", missing)));
        errors.into_result()?;
        let (Some(incident_id), Some(title), Some(owner_email), Some(due_date)) =
            (incident_id, title, owner_email, due_date)
        else {
            return Err(FieldError::new("incident_id", missing).into());
        };
        CreateActionRequest {
            incident_id: Some(incident_id),
            review_id: self.review_id,
            title,
            description: self.description,
            owner_email,
            owner_name: self.owner_name,
            team: self.team,
            due_date,
            priority: self.priority,
            category: self.category,
            status: self.status,
            resolution: self.resolution,
            tags: self.tags,
            snoozed_until: self.snoozed_until,
            external_refs: None,
        }
        .into_fields(None)
    }
}

/// Create or update the action linked to a ticket in another system, so a ticketing system can push its
/// state without storing our ids: 201 with the new action when none is linked to `{system}/{key}` yet,
/// 200 with the updated one otherwise. Safe to repeat, and concurrent pushes for one ticket create one
/// action. With `If-Match`, the push applies only to that version of the linked action (412 otherwise,
/// also when no action is linked yet), so a ticket's stale copy cannot undo a newer change. Needs the
/// editor role.
#[utoipa::path(
    tag = "actions",
    params(("system" = String, Path, description = "The ticketing system, e.g. `jira`", pattern = "^[A-Za-z0-9._-]{1,50}$"),
           ("key" = String, Path, description = "The ticket's key, e.g. `SEC-123`", pattern = "^[A-Za-z0-9._:#-]{1,100}$")),
    request_body = UpsertActionRequest,
    responses(
        (status = 200, description = "The linked action, updated", body = ActionResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 201, description = "A new action linked to the ticket", body = ActionResponse, headers(
            ("Location" = String, description = "URL of the new action"),
            ("ETag" = String, description = "Entity tag of the new action"))),
        (status = 412, description = "`If-Match` names another version of the linked action, or none is linked", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, a field missing to create the action, or no such incident", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/actions/by-ref/{system}/{key}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn upsert_by_ref(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: ApiJson<UpsertActionRequest>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let (system, key) = path.into_inner();
    let (link, patch, new_action) = body.parse(|body| {
        let mut errors = FieldErrors::new();
        let system = errors.take(System::parse("system", &system));
        let key = errors.take(Key::parse("key", &key));
        let url = errors
            .take(body.url.as_deref().filter(|u| !u.trim().is_empty()).map(|u| HttpUrl::parse("url", u)).transpose());
        let patch = errors.take_all(body.patch());
        let link = || Some(ExternalRef { system: system?, key: key?, url: url? });
        let link = errors.check(link())?;
        // Errors of the whole action matter only if none is linked yet; the store decides.
        Ok::<_, FieldErrors>((link, patch, body.create()))
    })?;
    let Some(patch) = patch else {
        return Err(ApiError::Internal("parsed values missing without errors".into()));
    };
    let if_match = if_match_versions(&req);
    let (action, created) =
        db::actions::upsert_by_ref(&state.db, link, if_match, new_action, patch, access::change_context(&principal))
            .await
            .map_err(|e| ApiError::from_store(e, || "action".into()))?;
    if created {
        let mut response = HttpResponse::Created();
        response.insert_header((header::LOCATION, format!("/api/v1/actions/{}", action.id)));
        Ok(action_resource(&state, &req, response, &action))
    } else {
        Ok(action_resource(&state, &req, HttpResponse::Ok(), &action))
    }
}
