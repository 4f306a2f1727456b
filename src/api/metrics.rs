//! `GET /metrics`: Prometheus text exposition, for a bearer holding METRICS_TOKEN or a viewer's JWT.

use actix_web::{HttpRequest, HttpResponse, get};

use super::error::{ApiError, Problem};
use super::state::Data;

/// Compares without revealing, through timing, how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(get);
}

/// Metrics for Prometheus: HTTP request counts and latency histograms by route and status (this
/// replica), and the data every replica agrees on (actions by status and priority, overdue actions,
/// outbox by status, reminders sent by kind). Needs `Authorization: Bearer <METRICS_TOKEN>` or a token
/// with the viewer role.
#[utoipa::path(
    tag = "dashboards",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "No token, or one that is neither METRICS_TOKEN nor a valid JWT", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The JWT lacks the viewer role", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/metrics")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn get(state: Data, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let bearer = super::access::bearer_token(&req)?.ok_or(ApiError::Unauthenticated)?;
    let scraper =
        state.metrics_token.as_ref().is_some_and(|t| constant_time_eq(t.expose().as_bytes(), bearer.as_bytes()));
    if !scraper {
        let principal = state.tokens.verify(bearer).map_err(|invalid| ApiError::invalid_token(&invalid.0))?;
        super::access::require(&principal, crate::domain::principal::Role::Viewer)?;
    }
    let snapshot =
        crate::db::stats::metrics(&state.db, state.today()).await.map_err(|e| ApiError::from_store(e, String::new))?;
    let text = state.metrics.render(&snapshot).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}
