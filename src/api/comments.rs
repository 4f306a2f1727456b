//! `/api/v1/actions/{id}/comments`: progress notes on an action, oldest first.

use actix_web::{HttpRequest, HttpResponse, get, http::header, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access;
use super::common::{Freshness, page, page_size};
use super::error::{ApiError, Problem};
use super::extract::ApiJson;
use super::idempotency::Idempotency;
use super::state::Data;
use crate::db;
use crate::domain::comment::Comment;
use crate::domain::listing::{ListQuery, OldestFirst, PageRequest};
use crate::domain::principal::Principal;
use crate::domain::text::LongText;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1d2-5e6f-7a8b-9c0d-1e2f3a4b5c6d", "action_id": "0193a1c4-1f2a-7c3b-8d4e-5f6a7b8c9d0e",
    "author": {"sub": "dana@example.com", "email": "dana@example.com", "name": "Dana Reyes"},
    "text": "Keys ordered; rollout starts Monday.", "created_at": "2026-11-12T09:30:00Z"
}))]
pub struct CommentResponse {
    pub id: Uuid,
    pub action_id: Uuid,
    pub author: Author,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Author {
    pub sub: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

impl From<Comment> for CommentResponse {
    fn from(comment: Comment) -> Self {
        Self {
            id: comment.id,
            action_id: comment.action_id,
            author: Author { sub: comment.author_sub, email: comment.author_email, name: comment.author_name },
            text: comment.text.into_string(),
            created_at: comment.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommentList {
    pub items: Vec<CommentResponse>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "Keys ordered; rollout starts Monday."}))]
pub struct CreateCommentRequest {
    #[schema(min_length = 1, max_length = 10000)]
    pub text: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CommentListQuery {
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, with the same other parameters (400 `cursor_mismatch`
    /// otherwise; `limit` may change).
    pub cursor: Option<String>,
}

fn not_found(id: Uuid) -> impl FnOnce() -> String {
    move || format!("action with id {id}")
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(create).service(list);
}

/// Comment on an action. Needs the editor role, or being the action's owner. The comment also appears
/// in the action's history.
#[utoipa::path(
    tag = "comments",
    params(("id" = Uuid, Path, description = "Action id")),
    request_body = CreateCommentRequest,
    responses(
        (status = 201, description = "Created", body = CommentResponse, headers(("Location" = String, description = "The action's comments"))),
        (status = 404, description = "No such action", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or too long", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/actions/{id}/comments")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn create(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<CreateCommentRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let action = db::actions::find(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    access::comment_on_action(&principal, &action)?;
    let text = body.parse(|body| LongText::parse("text", &body.text))?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let comment = db::comments::create(&state.db, id, text, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, req.path().to_owned()))
        .json(CommentResponse::from(comment)))
}

/// The comments on an action, oldest first. Needs the viewer role, or being the action's owner.
#[utoipa::path(
    tag = "comments",
    params(("id" = Uuid, Path, description = "Action id"), CommentListQuery),
    responses(
        (status = 200, description = "One page of comments", body = CommentList, headers(
            ("Link" = String, description = "`<url>; rel=\"next\"` when another page follows"))),
        (status = 404, description = "No such action", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/actions/{id}/comments")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn list(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<CommentListQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let action = db::actions::find(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    access::read_action(&principal, &action)?;
    let list = ListQuery::new("comments").in_path("id", id);
    let page_request = PageRequest::new(OldestFirst, page_size(query.limit), query.cursor.as_deref(), list)?;
    let fresh = Freshness::of(&state).await?;
    if let Some(not_modified) = fresh.unchanged(&req) {
        return Ok(not_modified);
    }
    let found =
        db::comments::list(&state.db, id, page_request).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    let next_cursor = found.next.map(|cursor| cursor.encode());
    let body = CommentList { items: found.items.into_iter().map(CommentResponse::from).collect(), next_cursor };
    Ok(page(&req, &body, body.next_cursor.as_deref(), Some(&fresh)))
}
