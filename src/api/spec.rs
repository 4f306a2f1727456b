//! The OpenAPI document: its general description, and what holds for every operation (the request id
//! header). Paths and schemas come from the route registration in `routes`, nowhere else.

use actix_web::App;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{HeaderBuilder, RefOr, Required};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "action-tracker",
        description = "Keeps the corrective actions of post-incident lessons-learned reviews (NIST SP 800-61) \
                       from being forgotten: incidents, their corrective actions with owners, due dates and \
                       statuses.\n\nErrors are RFC 9457 problem documents (`application/problem+json`) with \
                       a stable `code`. Every response carries an `X-Request-Id`. Single resources carry a \
                       strong `ETag`; send it back in `If-Match` to update safely, or in `If-None-Match` to \
                       poll cheaply.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "incidents", description = "Security incidents that corrective actions come from."),
        (name = "actions", description = "Corrective actions: owner, due date, status and resolution."),
        (name = "health", description = "Liveness and readiness for load balancers and orchestrators.")
    )
)]
struct ApiDoc;

/// The OpenAPI document, built from the same registration the server uses.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut spec) =
        App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(super::routes).split_for_parts();
    RequestIdHeader.modify(&mut spec);
    spec
}

/// Every operation accepts an `X-Request-Id` and every response carries one; said once here rather than
/// on each of the routes.
struct RequestIdHeader;

impl Modify for RequestIdHeader {
    fn modify(&self, spec: &mut utoipa::openapi::OpenApi) {
        let schema =
            || ObjectBuilder::new().schema_type(Type::String).max_length(Some(128)).pattern(Some("^[A-Za-z0-9._:-]+$"));
        let parameter = ParameterBuilder::new()
            .name("X-Request-Id")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Your id for this request, echoed in the response and in logs; one is made up when absent",
            ))
            .schema(Some(schema()))
            .build();
        let header = HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .description(Some("The request id: the one sent, or one made up by the server"))
            .build();
        for item in spec.paths.paths.values_mut() {
            item.parameters.get_or_insert_with(Vec::new).push(RefOr::T(parameter.clone()));
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response.headers.insert("X-Request-Id".to_owned(), RefOr::T(header.clone()));
                    }
                }
            }
        }
    }
}
