//! `/a/{token}`: the page behind the one-click links in reminder e-mails. Owners rarely hold API tokens,
//! so the signed link is their credential for one action: it shows the action and lets them mark it in
//! progress, done (with a resolution) or snooze its reminders, as themselves, recorded in the history.
//! Plain HTML forms, no JavaScript; refusals are pages too, never a 500.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::Problem;
use super::{AppState, Data, access};
use crate::db::{self, Guard, StoreError};
use crate::domain::action::{Action, ActionPatch, ActionStatus};
use crate::domain::principal::Principal;
use crate::domain::text::LongText;
use crate::domain::{FieldErrors, Patch};

const SNOOZE_DAYS: i64 = 7;

#[derive(Template)]
#[template(path = "owner_page.html")]
struct OwnerPage {
    heading: String,
    message: Option<String>,
    message_class: &'static str,
    action: Option<ActionView>,
}

struct ActionView {
    incident: String,
    priority: &'static str,
    due_date: String,
    status: &'static str,
    description: Option<String>,
    snoozed_until: Option<String>,
    active: bool,
}

/// What the owner chose on the page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerChoice {
    /// `start` (in progress), `done` (needs `resolution`) or `snooze` (no reminders for 7 days).
    pub op: String,
    pub resolution: Option<String>,
}

fn html(status: StatusCode, page: &OwnerPage) -> HttpResponse {
    let body =
        page.render().unwrap_or_else(|_| "<!DOCTYPE html><title>Error</title><p>Something went wrong.</p>".into());
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        // The token is in the URL: it must not travel to other sites, nor stay in caches.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn refusal(status: StatusCode, heading: &str, message: &str) -> HttpResponse {
    let page =
        OwnerPage { heading: heading.into(), message: Some(message.into()), message_class: "error", action: None };
    html(status, &page)
}

async fn action_page(
    state: &AppState,
    action: &Action,
    status: StatusCode,
    message: Option<(String, &'static str)>,
) -> HttpResponse {
    let f = &action.fields;
    let incident = match db::incidents::find(&state.db, f.incident_id).await {
        Ok(incident) => match &incident.fields.reference {
            Some(reference) => format!("{} {}", reference.as_str(), incident.fields.title),
            None => incident.fields.title.to_string(),
        },
        Err(_) => f.incident_id.to_string(),
    };
    let view = ActionView {
        incident,
        priority: f.priority.into(),
        due_date: f.due_date.to_string(),
        status: f.status.into(),
        description: f.description.as_ref().map(ToString::to_string),
        snoozed_until: f.snoozed_until.filter(|until| *until > state.today()).map(|d| d.to_string()),
        active: f.status.is_active(),
    };
    let (message, message_class) = match message {
        Some((text, class)) => (Some(text), class),
        None => (None, "notice"),
    };
    html(
        status,
        &OwnerPage { heading: format!("{} {}", action.key(), f.title), message, message_class, action: Some(view) },
    )
}

/// The link's action, if the link is valid and the action is still the owner's.
async fn resolve(state: &AppState, token: &str) -> Result<(Action, Principal), HttpResponse> {
    let grant = state.reminders.links().verify(token).map_err(|invalid| {
        refusal(
            StatusCode::UNAUTHORIZED,
            "This link does not work",
            &format!("{} Ask for a new reminder, or use the API.", invalid.0),
        )
    })?;
    let action = match db::actions::find(&state.db, grant.action_id).await {
        Ok(action) => action,
        Err(StoreError::NotFound) => {
            return Err(refusal(StatusCode::NOT_FOUND, "Action not found", "This action no longer exists."));
        }
        Err(_) => {
            return Err(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again shortly",
                "The service cannot reach its database right now.",
            ));
        }
    };
    if action.fields.owner_email != grant.owner {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "Not yours any more",
            "This action has been handed to someone else.",
        ));
    }
    let principal = Principal { sub: grant.owner.to_string(), email: Some(grant.owner), name: None, role: None };
    Ok((action, principal))
}

/// The page behind a reminder's one-click link (HTML).
#[utoipa::path(
    tag = "owner links",
    params(("token" = String, Path, description = "The signed link token from a reminder e-mail")),
    responses(
        (status = 200, description = "The action with its buttons", content_type = "text/html", body = String),
        (status = 401, description = "An expired or tampered link", content_type = "text/html", body = String),
        (status = 403, description = "The action changed hands", content_type = "text/html", body = String),
        (status = 404, description = "The action was deleted", content_type = "text/html", body = String),
    )
)]
#[get("/a/{token}")]
pub async fn show(state: Data, token: web::Path<String>) -> HttpResponse {
    match resolve(&state, &token).await {
        Ok((action, _)) => action_page(&state, &action, StatusCode::OK, None).await,
        Err(page) => page,
    }
}

/// Applies the owner's choice from the page, as the owner (HTML form post).
#[utoipa::path(
    tag = "owner links",
    params(("token" = String, Path, description = "The signed link token from a reminder e-mail")),
    request_body(content = OwnerChoice, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Done; the page shows the action as it is now", content_type = "text/html", body = String),
        (status = 400, description = "The body is not a form", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "An expired or tampered link", content_type = "text/html", body = String),
        (status = 403, description = "The action changed hands", content_type = "text/html", body = String),
        (status = 404, description = "The action was deleted", content_type = "text/html", body = String),
        (status = 422, description = "A choice that cannot be applied (done without a resolution)", content_type = "text/html", body = String),
    )
)]
#[post("/a/{token}")]
pub async fn choose(state: Data, token: web::Path<String>, choice: web::Form<OwnerChoice>) -> HttpResponse {
    let (action, principal) = match resolve(&state, &token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let patch = match patch_for(&state, &choice) {
        Ok(patch) => patch,
        Err(errors) => {
            return action_page(&state, &action, StatusCode::UNPROCESSABLE_ENTITY, Some((errors, "error"))).await;
        }
    };
    let guard = Guard { if_match: None, owner: principal.email.clone() };
    match db::actions::update(&state.db, action.id, guard, patch, access::change_context(&principal)).await {
        Ok(updated) => {
            let note = match choice.op.as_str() {
                "snooze" => format!("Reminders are snoozed for {SNOOZE_DAYS} days."),
                _ => "Thank you, the action is updated.".to_owned(),
            };
            action_page(&state, &updated, StatusCode::OK, Some((note, "notice"))).await
        }
        Err(StoreError::Invalid(errors)) => {
            action_page(&state, &action, StatusCode::UNPROCESSABLE_ENTITY, Some((errors.to_string(), "error"))).await
        }
        Err(StoreError::Forbidden(_)) => {
            refusal(StatusCode::FORBIDDEN, "Not yours any more", "This action has been handed to someone else.")
        }
        Err(StoreError::NotFound) => {
            refusal(StatusCode::NOT_FOUND, "Action not found", "This action no longer exists.")
        }
        Err(error) => {
            tracing::error!(%error, "owner link update failed");
            refusal(StatusCode::SERVICE_UNAVAILABLE, "Try again shortly", "The change could not be saved right now.")
        }
    }
}

fn patch_for(state: &AppState, choice: &OwnerChoice) -> Result<ActionPatch, String> {
    let invalid = |errors: FieldErrors| errors.to_string();
    match choice.op.as_str() {
        "start" => Ok(ActionPatch { status: Some(ActionStatus::InProgress), ..Default::default() }),
        "done" => {
            let resolution = LongText::parse("resolution", choice.resolution.as_deref().unwrap_or_default())
                .map_err(|e| invalid(e.into()))?;
            Ok(ActionPatch {
                status: Some(ActionStatus::Done),
                resolution: Patch::Value(resolution),
                ..Default::default()
            })
        }
        "snooze" => Ok(ActionPatch {
            snoozed_until: Patch::Value(state.today() + chrono::Duration::days(SNOOZE_DAYS)),
            ..Default::default()
        }),
        _ => Err("Unknown choice.".into()),
    }
}
