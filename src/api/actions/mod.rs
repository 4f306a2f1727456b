//! `/api/v1/actions`, and the actions of an incident (`/incidents/{id}/actions`), of a review
//! (`POST /reviews/{id}/actions`) and of a person (`/people/{email}/actions`): corrective actions.
//! Split by job: request and response types, the list query, the handlers, and the ticket upsert.

mod handlers;
mod query;
mod tickets;
mod types;

pub use query::ActionListQuery;
pub use types::{ActionList, ActionResponse, CreateActionRequest, ExternalRefBody, UpdateActionRequest};

use handlers::*;
use tickets::upsert_by_ref;

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config
        .service(create_for_incident)
        .service(list_for_incident)
        .service(create)
        .service(list)
        .service(get)
        .service(update)
        .service(delete)
        .service(verify)
        .service(upsert_by_ref)
        .service(create_for_review)
        .service(list_for_person);
}
