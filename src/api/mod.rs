//! HTTP routes and the OpenAPI spec, registered together.
//!
//! `routes` is the one registration: the server, the tests and the `openapi` command all build the spec
//! from it, so a route cannot exist without its spec entry. Handlers turn requests into domain types,
//! call `db`, and turn the result into response types; they never build queries.

pub mod access;
pub mod actions;
pub mod comments;
pub mod common;
pub mod effort;
pub mod error;
pub mod evidence;
pub mod extract;
pub mod health;
pub mod history;
pub mod idempotency;
pub mod incidents;
pub mod indicators;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod owner_links;
pub mod people;
pub mod reminders;
pub mod report;
pub mod reviews;
mod spec;
pub mod state;
pub mod stats;
pub mod timeline;
pub mod webhooks;

pub use state::{AppState, Data};

use actix_web::{HttpRequest, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use error::ApiError;

/// The OpenAPI document, built from the same registration the server uses.
pub fn openapi() -> utoipa::openapi::OpenApi {
    spec::document(routes)
}

pub use spec::{DOCUMENT_PATH, ServedDocument, served_document};

/// Registers every route with its spec entry: each feature registers its own.
pub fn routes(config: &mut ServiceConfig) {
    config.configure(health::configure).configure(metrics::configure).configure(owner_links::configure).service(
        utoipa_actix_web::scope("/api/v1")
            .configure(incidents::configure)
            .configure(actions::configure)
            .configure(history::configure)
            .configure(comments::configure)
            .configure(reminders::configure)
            .configure(reviews::configure)
            .configure(timeline::configure)
            .configure(indicators::configure)
            .configure(evidence::configure)
            .configure(effort::configure)
            .configure(people::configure)
            .configure(report::configure)
            .configure(stats::configure)
            .configure(webhooks::configure),
    );
}

/// The answer to any request no route serves: 405 with `Allow` when the path exists with other methods
/// (RFC 9110 §15.5.6), 404 otherwise. The methods come from the spec, which the same registration builds,
/// so they cannot disagree with the routes.
pub async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    static ROUTES: std::sync::OnceLock<Vec<(String, Vec<&'static str>)>> = std::sync::OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        openapi()
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                (path.clone(), methods.into_iter().filter(|(_, has)| *has).map(|(method, _)| method).collect())
            })
            .collect()
    });
    let matches = |template: &str| {
        let (mut wanted, mut got) = (template.split('/'), req.path().split('/'));
        loop {
            match (wanted.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if w == g || (w.starts_with('{') && !g.is_empty()) => continue,
                _ => return false,
            }
        }
    };
    let mut allowed: Vec<&str> = routes
        .iter()
        .filter(|(template, _)| matches(template))
        .flat_map(|(_, methods)| methods.iter().copied())
        .collect();
    allowed.dedup();
    if allowed.is_empty() {
        return Err(ApiError::NotFound(format!("nothing exists at {}", req.path())));
    }
    Err(ApiError::MethodNotAllowed(allowed.join(", ")))
}
