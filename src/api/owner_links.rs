//! `/a/{token}`: the page behind the one-click links in reminder e-mails. Owners rarely hold API tokens,
//! so the signed link is their credential for one action: it shows the action and lets them mark it in
//! progress, done (with a resolution) or snooze its reminders, as themselves, recorded in the history.
//! Plain HTML forms, no JavaScript; refusals are pages too, never a 500.
//!
//! A link is for one decision about the action as the reminder described it: it is bound to the action's
//! version then. Once used, or once the action moved on (done, verified, reassigned, given another due
//! date, or changed in any other way), it shows the action as it is now, says so, and changes nothing;
//! a newer reminder brings a fresh link. So a link can never reopen finished or verified work.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;
use utoipa::ToSchema;

use super::access;
use super::error::Problem;
use super::state::{AppState, Data};
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
    /// The owner may still decide here: the link is unused, the action unchanged and still open.
    decidable: bool,
    /// Already in progress: "I am working on it" would change nothing, so it is not offered.
    in_progress: bool,
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
    decidable: bool,
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
        decidable: decidable && f.status.is_active(),
        in_progress: f.status == ActionStatus::InProgress,
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

/// The page for a link that was used, or whose action changed since the e-mail: the action as it is now.
async fn spent_page(state: &AppState, action: &Action) -> HttpResponse {
    let note = "This link has been used, or the action has changed since the e-mail was sent, so it changes \
                nothing more. This is the action as it is now; a newer reminder has a fresh link.";
    action_page(state, action, false, StatusCode::CONFLICT, Some((note.to_owned(), "notice"))).await
}

/// The link's action, if the link is valid and the action is still the owner's, with the version the link
/// was written for.
async fn resolve(state: &AppState, token: &str) -> Result<(Action, Principal, i64), HttpResponse> {
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
    Ok((action, principal, grant.version))
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(show).service(choose);
}

/// The page behind a reminder's one-click link (HTML).
#[utoipa::path(
    tag = "owner links",
    params(("token" = String, Path, description = "The signed link token from a reminder e-mail")),
    responses(
        (status = 200, description = "The action with its buttons", content_type = "text/html", body = String),
        (status = 401, description = "An expired or tampered link", content_type = "text/html", body = String),
        (status = 409, description = "The link was used, or the action changed since the e-mail: the action as it is now, without buttons", content_type = "text/html", body = String),
        (status = 403, description = "The action changed hands", content_type = "text/html", body = String),
        (status = 404, description = "The action was deleted", content_type = "text/html", body = String),
    )
)]
#[get("/a/{token}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn show(state: Data, token: web::Path<String>) -> HttpResponse {
    match resolve(&state, &token).await {
        Ok((action, _, version)) if action.version == version => {
            action_page(&state, &action, true, StatusCode::OK, None).await
        }
        Ok((action, _, _)) => spent_page(&state, &action).await,
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
        (status = 409, description = "The link was used, or the action changed since the e-mail: nothing was changed", content_type = "text/html", body = String),
        (status = 422, description = "A choice that cannot be applied (done without a resolution)", content_type = "text/html", body = String),
    )
)]
#[post("/a/{token}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn choose(state: Data, token: web::Path<String>, choice: web::Form<OwnerChoice>) -> HttpResponse {
    let (action, principal, version) = match resolve(&state, &token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if action.version != version || !action.fields.status.is_active() {
        return spent_page(&state, &action).await;
    }
    let patch = match patch_for(&state, &action, &choice) {
        Ok(patch) => patch,
        Err(errors) => {
            return action_page(&state, &action, true, StatusCode::UNPROCESSABLE_ENTITY, Some((errors, "error"))).await;
        }
    };
    // The version the link was written for, checked in the transaction of the change: of two clicks at
    // once, one decides.
    let guard = Guard { if_match: Some(vec![version]), owner: principal.email.clone() };
    match db::actions::update(&state.db, action.id, guard, patch, access::change_context(&principal)).await {
        Ok(updated) => {
            let note = match choice.op.as_str() {
                // Only when the state it checked moved meanwhile: the action already was as chosen.
                _ if updated.version == version => "Nothing needed changing: the action already was so.".to_owned(),
                "snooze" => format!("Reminders are snoozed for {SNOOZE_DAYS} days."),
                _ => "Thank you, the action is updated.".to_owned(),
            };
            action_page(&state, &updated, false, StatusCode::OK, Some((note, "notice"))).await
        }
        Err(StoreError::Invalid(errors)) => {
            action_page(&state, &action, true, StatusCode::UNPROCESSABLE_ENTITY, Some((errors.to_string(), "error")))
                .await
        }
        Err(StoreError::VersionMismatch) => match db::actions::find(&state.db, action.id).await {
            Ok(now) => spent_page(&state, &now).await,
            Err(_) => refusal(StatusCode::NOT_FOUND, "Action not found", "This action no longer exists."),
        },
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

/// The change a choice makes. A choice that would change nothing (starting what is in progress, a snooze
/// that ends no later than the current one) is refused as such: a link is spent by the change it makes,
/// and the page must not thank the owner for one that did not happen.
fn patch_for(state: &AppState, action: &Action, choice: &OwnerChoice) -> Result<ActionPatch, String> {
    let invalid = |errors: FieldErrors| errors.to_string();
    match choice.op.as_str() {
        "start" if action.fields.status == ActionStatus::InProgress => {
            Err("It is already in progress: nothing to change.".into())
        }
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
        "snooze" => {
            let until = state.today() + chrono::Duration::days(SNOOZE_DAYS);
            match action.fields.snoozed_until {
                Some(current) if current >= until => {
                    Err(format!("Reminders are already snoozed until {current}: nothing to change."))
                }
                _ => Ok(ActionPatch { snoozed_until: Patch::Value(until), ..Default::default() }),
            }
        }
        _ => Err("Unknown choice.".into()),
    }
}
