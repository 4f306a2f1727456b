//! `/api/v1/{incidents,actions}/{id}/history`: the audit trail, newest first; `/api/v1/events`: every
//! change in commit order, for pollers.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access;
use super::common::{Freshness, page, page_size};
use super::error::{ApiError, Problem};
use super::state::Data;
use crate::db::{self, StoreError};
use crate::domain::audit::{EntityType, Event, EventKind, FieldChange};
use crate::domain::listing::{Cursor, CursorError, CursorKey, ListQuery, NewestFirst, PageRequest};
use crate::domain::principal::{Principal, Role};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1d0-0c1b-7a2e-9f3d-4b5c6d7e8f90", "entity_type": "action",
    "entity_id": "0193a1c4-1f2a-7c3b-8d4e-5f6a7b8c9d0e", "kind": "updated",
    "actor": {"sub": "dana@example.com", "email": "dana@example.com"},
    "occurred_at": "2026-11-10T16:30:00Z", "request_id": "jira-sync-7f3a",
    "changes": {"due_date": {"old": "2026-11-20", "new": "2026-12-15"}},
    "reason": "Hardware keys are back-ordered until December."
}))]
pub struct EventResponse {
    pub id: Uuid,
    pub entity_type: EntityType,
    /// The resource's id (a person's e-mail address for `person`).
    pub entity_id: String,
    pub kind: EventKind,
    pub actor: Actor,
    pub occurred_at: DateTime<Utc>,
    /// The `X-Request-Id` of the request that made the change.
    pub request_id: Option<String>,
    /// Each changed field with its old and new value. Creation lists every field with `old: null`,
    /// deletion every field with `new: null`, a comment its text as `comment`.
    pub changes: BTreeMap<String, FieldChange>,
    /// Why, for a due date moved later.
    pub reason: Option<String>,
}

/// Who made a change, as its token named them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Actor {
    pub sub: String,
    pub email: Option<String>,
}

impl From<Event> for EventResponse {
    fn from(event: Event) -> Self {
        Self {
            id: event.id,
            entity_type: event.entity_type,
            entity_id: event.entity_id,
            kind: event.kind,
            actor: Actor { sub: event.actor_sub, email: event.actor_email },
            occurred_at: event.occurred_at,
            request_id: event.request_id,
            changes: event.changes.0,
            reason: event.reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub items: Vec<EventResponse>,
    /// Pass as `cursor` to get the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, with the same other parameters (400 `cursor_mismatch`
    /// otherwise; `limit` may change).
    pub cursor: Option<String>,
}

async fn history_page(
    state: &Data,
    req: &HttpRequest,
    entity_type: EntityType,
    id: Uuid,
    query: &HistoryQuery,
) -> Result<HttpResponse, ApiError> {
    let list = ListQuery::new("history").in_path("entity_type", <&str>::from(entity_type)).in_path("id", id);
    let page_request = PageRequest::new(NewestFirst, page_size(query.limit), query.cursor.as_deref(), list)?;
    let fresh = Freshness::of(state).await?;
    if let Some(not_modified) = fresh.unchanged(req) {
        return Ok(not_modified);
    }
    let found = db::events::history(&state.db, entity_type, id, page_request)
        .await
        .map_err(|e| ApiError::from_store(e, String::new))?;
    let next_cursor = found.next.map(|cursor| cursor.encode());
    let body = EventList { items: found.items.into_iter().map(EventResponse::from).collect(), next_cursor };
    Ok(page(req, &body, body.next_cursor.as_deref(), Some(&fresh)))
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(incident_history).service(action_history).service(feed);
}

/// The history of an incident, newest first. Needs the viewer role. Once the incident is deleted, its
/// history is read from the change feed: `GET /events?entity_id={id}`.
#[utoipa::path(
    tag = "history",
    params(("id" = Uuid, Path, description = "Incident id"), HistoryQuery),
    responses(
        (status = 200, description = "One page of events", body = EventList, headers(
            ("Link" = String, description = "`<url>; rel=\"next\"` when another page follows"))),
        (status = 404, description = "No such resource, or it was deleted", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/incidents/{id}/history")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn incident_history(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let id = id.into_inner();
    require_live(&state, EntityType::Incident, id).await?;
    history_page(&state, &req, EntityType::Incident, id, &query).await
}

/// The history of an action, newest first: every change with old and new values, and every comment.
/// Needs the viewer role, or being the action's owner. Once the action is deleted, its history is read from
/// the change feed (viewers): `GET /events?entity_id={id}`.
#[utoipa::path(
    tag = "history",
    params(("id" = Uuid, Path, description = "Action id"), HistoryQuery),
    responses(
        (status = 200, description = "One page of events", body = EventList, headers(
            ("Link" = String, description = "`<url>; rel=\"next\"` when another page follows"))),
        (status = 404, description = "No such resource, or it was deleted", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/actions/{id}/history")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn action_history(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    match db::actions::find(&state.db, id).await {
        Ok(action) => access::read_action(&principal, &action)?,
        Err(StoreError::NotFound) => {
            access::require(&principal, Role::Viewer)?;
            require_live(&state, EntityType::Action, id).await?;
        }
        Err(other) => return Err(ApiError::from_store(other, String::new)),
    }
    history_page(&state, &req, EntityType::Action, id, &query).await
}

/// 404 unless the resource exists: a deleted one's URLs are all gone, as clients expect of a DELETE, and
/// its history is kept in the change feed (`GET /events?entity_id=…`), where the 404 points.
async fn require_live(state: &Data, entity_type: EntityType, id: Uuid) -> Result<(), ApiError> {
    let probe = PageRequest::new(NewestFirst, 1, None, ListQuery::new("history"))?;
    let found = db::events::history(&state.db, entity_type, id, probe)
        .await
        .map_err(|e| ApiError::from_store(e, String::new))?;
    let what: &str = entity_type.into();
    match found.items.first() {
        None => Err(ApiError::NotFound(format!("no {what} with id {id} exists"))),
        Some(latest) if latest.kind == EventKind::Deleted => Err(ApiError::NotFound(format!(
            "the {what} {id} was deleted; its history is at /api/v1/events?entity_id={id}"
        ))),
        Some(_) => Ok(()),
    }
}

/// One change in the feed, with its position.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedItem {
    /// Position in the feed: increases in commit order, never reused.
    pub position: i64,
    #[serde(flatten)]
    pub event: EventResponse,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeFeed {
    /// Oldest first, in the order the changes committed.
    pub items: Vec<FeedItem>,
    /// Pass as `after` next time, with the same `entity_id` (or none). Always set: on an empty page it
    /// points where the `after` you sent did, so a poller can keep polling with it.
    pub next_cursor: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The `next_cursor` of the previous page, or an item's `position`; leave out to start from the
    /// beginning. A `next_cursor` continues only the query that handed it out (the same `entity_id`).
    pub after: Option<String>,
    /// Only the changes of the resource with this id (an incident, action, review, timeline entry,
    /// indicator, item of evidence, custody entry or effort entry): the way to read the history of one
    /// that was deleted.
    pub entity_id: Option<Uuid>,
    /// Items per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// The change feed: every audit event (creates, changes, deletes, comments, verifications of incidents,
/// actions, reviews, timeline entries, indicators, evidence, effort and people) in the order the changes
/// committed. Viewers do not see the events of TLP:RED indicators (their positions are skipped, so a gap
/// in positions may stand for one; nothing else of it shows). A poller that
/// stores `next_cursor` and asks for `?after=<it>` sees every change exactly once, across its own and
/// our restarts. Needs the viewer role.
#[utoipa::path(
    tag = "history",
    params(FeedQuery),
    responses(
        (status = 200, description = "The changes after the cursor", body = ChangeFeed),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid cursor or limit", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/events")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn feed(state: Data, principal: Principal, query: web::Query<FeedQuery>) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let list = ListQuery::new("events").cursor_param("after").with_some("entity_id", query.entity_id);
    let after = feed_position(&list, query.after.as_deref())?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    let events = db::events::feed(&state.db, after, limit, query.entity_id)
        .await
        .map_err(|e| ApiError::from_store(e, String::new))?;
    let next_position = events.last().map_or(after, |(position, _)| *position);
    let next_cursor = list.cursor_at(CursorKey::Position(next_position), Uuid::nil()).encode();
    let sees_red = access::sees_red(&principal);
    let items = events
        .into_iter()
        .filter(|(_, event)| sees_red || !about_red_indicator(event))
        .map(|(position, event)| FeedItem { position, event: EventResponse::from(event) })
        .collect();
    Ok(HttpResponse::Ok().json(ChangeFeed { items, next_cursor }))
}

/// An event about an indicator marked TLP:RED before or after it, which viewers do not see; every
/// indicator event states the marking (`db::indicators`). The cursor still moves past it.
fn about_red_indicator(event: &Event) -> bool {
    event.entity_type == EntityType::Indicator
        && event.changes.0.get("tlp").is_some_and(|tlp| tlp.old == "red" || tlp.new == "red")
}

/// Where the feed continues: after the position a cursor of the same query holds, or after a bare
/// position (an item's `position`), which means the same in the whole feed and in one entity's part of it.
fn feed_position(list: &ListQuery, after: Option<&str>) -> Result<i64, ApiError> {
    let invalid = || ApiError::invalid("after", "is not a cursor of this feed");
    match after {
        None | Some("") => Ok(0),
        Some(raw) if raw.bytes().all(|b| b.is_ascii_digit()) => raw.parse().map_err(|_| invalid()),
        Some(raw) => match list.resume(raw) {
            Ok(Cursor { key: CursorKey::Position(position), .. }) => Ok(position),
            Ok(_) | Err(CursorError::Invalid(_)) => Err(invalid()),
            Err(CursorError::OtherQuery(differences)) => Err(ApiError::CursorMismatch(differences)),
        },
    }
}
