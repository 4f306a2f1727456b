//! Liveness and readiness probes.

use actix_web::{HttpResponse, get};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, Problem};
use super::state::Data;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(healthz).service(readyz);
}

/// The process is up. Needs no database, so an orchestrator does not restart replicas when the
/// database is down.
#[utoipa::path(tag = "health", responses((status = 200, description = "Up", body = Health)))]
#[get("/healthz")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok".into() })
}

/// The database answers, so requests can be served; a load balancer routes traffic only to ready replicas.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database does not answer", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn readyz(state: Data) -> Result<HttpResponse, ApiError> {
    if state.db.is_ready().await {
        Ok(HttpResponse::Ok().json(Health { status: "ready".into() }))
    } else {
        Err(ApiError::Unavailable("readiness probe failed".into()))
    }
}
