//! Who may do what. Handlers take a `Principal` (so no route runs unauthenticated) and call one of the
//! rules below before doing anything; each rule answers 403 with the reason when it does not hold.
//!
//! Roles: viewer reads everything; editor also creates and changes; admin also deletes. A principal
//! without a role may read the actions it owns and change their status and resolution, and comment.

use std::future::{Ready, ready};

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};

use super::error::ApiError;
use super::middleware::RequestContext;
use super::state::{AppState, Data};
use crate::domain::action::{Action, ActionPatch};
use crate::domain::audit::ChangeContext;
use crate::domain::email::EmailAddress;
use crate::domain::principal::{Principal, Role};

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// The request's principal, from its bearer token; verified once per request, the first time it is asked
/// for (the rate limit asks first), and kept with the request.
pub(super) fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    if let Some(principal) = req.extensions().get::<Principal>() {
        return Ok(principal.clone());
    }
    let Some(state) = req.app_data::<Data>() else {
        return Err(ApiError::Internal("application state is not configured".into()));
    };
    let token = bearer_token(req)?.ok_or(ApiError::Unauthenticated)?;
    let principal = verify(state, token)?;
    req.extensions_mut().insert(principal.clone());
    Ok(principal)
}

/// The token of an `Authorization: Bearer <token>` header; `None` without the header.
pub fn bearer_token(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    match header.map(str::trim).and_then(|value| value.split_once(' ')) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        Some(_) => Err(ApiError::invalid_token("the Authorization header must be `Bearer <token>`")),
        None if header.is_some() => Err(ApiError::invalid_token("the Authorization header must be `Bearer <token>`")),
        None => Ok(None),
    }
}

fn verify(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    state.tokens.verify(token).map_err(|invalid| ApiError::invalid_token(&invalid.0))
}

/// The principal holds `role` (or a higher one).
/// Viewers read the directory; anyone may read their own entry and queue.
pub fn read_person(principal: &Principal, email: &EmailAddress) -> Result<(), ApiError> {
    if principal.email.as_ref() == Some(email) {
        return Ok(());
    }
    require(principal, Role::Viewer)
}

pub fn require(principal: &Principal, role: Role) -> Result<(), ApiError> {
    if principal.has(role) {
        Ok(())
    } else {
        let role: &str = role.into();
        Err(ApiError::Forbidden { detail: format!("this needs the {role} role"), fields: Vec::new() })
    }
}

/// TLP:RED indicators are for the people handling the incident: editors and admins, never viewers.
pub fn sees_red(principal: &Principal) -> bool {
    principal.has(Role::Editor)
}

/// Viewers read every action; others only the ones they own.
pub fn read_action(principal: &Principal, action: &Action) -> Result<(), ApiError> {
    read_action_of(principal, &action.fields.owner_email)
}

/// `read_action`, knowing only the action's owner.
pub fn read_action_of(principal: &Principal, owner: &EmailAddress) -> Result<(), ApiError> {
    if principal.has(Role::Viewer) || principal.is(owner) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            detail: "only viewers and the action's owner may read it".into(),
            fields: Vec::new(),
        })
    }
}

/// Editors and the action's owner may comment.
pub fn comment_on_action(principal: &Principal, action: &Action) -> Result<(), ApiError> {
    if principal.has(Role::Editor) || action.is_owned_by(principal) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            detail: "only editors and the action's owner may comment".into(),
            fields: Vec::new(),
        })
    }
}

/// How far ahead an owner may snooze their own action. A snooze also holds back the escalation to their
/// manager, so a longer one is an editor's decision.
pub const OWNER_SNOOZE_DAYS: i64 = 30;

/// Editors may change everything a client may change. The owner may change the status and resolution
/// of its own action, and snooze it up to [`OWNER_SNOOZE_DAYS`] after `today`: the owner it must still
/// be is returned, to be checked in the same transaction as the change. Fields outside the caller's
/// rights are named in the refusal, never silently dropped.
pub fn update_action(
    principal: &Principal,
    action: &Action,
    patch: &ActionPatch,
    today: chrono::NaiveDate,
) -> Result<Option<EmailAddress>, ApiError> {
    if principal.has(Role::Editor) {
        return Ok(None);
    }
    if !action.is_owned_by(principal) {
        return Err(ApiError::Forbidden {
            detail: "only editors and the action's owner may change it".into(),
            fields: Vec::new(),
        });
    }
    let ActionPatch {
        incident_id,
        review_id,
        title,
        description,
        owner_email,
        owner_name,
        team,
        due_date,
        priority,
        category,
        status: _,
        resolution: _,
        snoozed_until,
        tags,
        external_refs,
        due_date_change_reason,
    } = patch;
    let editor_only = [
        ("incident_id", incident_id.is_some()),
        ("review_id", !review_id.is_absent()),
        ("title", title.is_some()),
        ("description", !description.is_absent()),
        ("owner_email", owner_email.is_some()),
        ("owner_name", !owner_name.is_absent()),
        ("team", !team.is_absent()),
        ("due_date", due_date.is_some()),
        ("priority", priority.is_some()),
        ("category", category.is_some()),
        ("tags", tags.is_some()),
        ("external_refs", external_refs.is_some()),
        ("due_date_change_reason", due_date_change_reason.is_some()),
    ];
    let refused: Vec<String> =
        editor_only.iter().filter(|(_, set)| *set).map(|(field, _)| (*field).to_owned()).collect();
    let latest_snooze = today + chrono::Duration::days(OWNER_SNOOZE_DAYS);
    if refused.is_empty()
        && let crate::domain::Patch::Value(until) = snoozed_until
        && *until > latest_snooze
    {
        return Err(ApiError::Forbidden {
            detail: format!(
                "the action's owner may snooze it for at most {OWNER_SNOOZE_DAYS} days, until {latest_snooze}; \
                 an editor may snooze it for longer"
            ),
            fields: vec!["snoozed_until".to_owned()],
        });
    }
    if refused.is_empty() {
        Ok(principal.email.clone())
    } else {
        Err(ApiError::Forbidden {
            detail: format!(
                "the action's owner may change only status, resolution and snoozed_until, not {}",
                refused.join(", ")
            ),
            fields: refused,
        })
    }
}

/// Who is changing something, from which request, and when: what the audit history records.
pub fn change_context(principal: &Principal) -> ChangeContext {
    ChangeContext {
        actor: principal.clone(),
        request_id: RequestContext::current().map(|context| context.request_id),
        at: crate::domain::now(),
    }
}
