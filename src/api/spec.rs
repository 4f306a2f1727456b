//! The OpenAPI document: its general description, and what holds for every operation (the request id
//! header). Paths and schemas come from the route registration in `routes`, nowhere else.

use actix_web::App;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ArrayItems, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, HeaderBuilder, Ref, RefOr, Required, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

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
    // Relative: the paths are served from the root of whatever host serves this document, so Swagger UI
    // at /docs/ and clients given a base URL reach any deployment without editing the spec.
    servers((url = "/", description = "The server this document was fetched from")),
    tags(
        (name = "incidents", description = "Security incidents that corrective actions come from."),
        (name = "actions", description = "Corrective actions: owner, due date, status and resolution."),
        (name = "history", description = "The audit trail: who changed what, when, from which request."),
        (name = "comments", description = "Progress notes on corrective actions."),
        (name = "reviews", description = "Lessons-learned reviews (NIST SP 800-61 post-incident activity): the meeting, its answers to the standard questions, and the actions it decides on."),
        (name = "timeline", description = "What happened when during an incident, from detection to recovery."),
        (name = "indicators", description = "Indicators of compromise, with TLP 2.0 markings, and the search across incidents for one value."),
        (name = "evidence", description = "An incident's evidence: what each item is, where it is stored (a URI, never the file), its SHA-256, who collected it and when, and its append-only chain of custody. Nothing in a chain of custody is changed or removed; a correction is a new entry. Evidence is never deleted on its own: it goes only when an admin deletes its incident."),
        (name = "effort", description = "The time the team spent on an incident, per person and phase (NIST SP 800-61), in whole minutes, with its sums."),
        (name = "dashboards", description = "Numbers for dashboards: counts, rates and durations, cheap to poll."),
        (name = "webhooks", description = "Signed HTTP callbacks on changes, through a durable outbox, with a delivery log."),
        (name = "people", description = "The people directory: managers for escalation, time zones for reminders, and each person's queue."),
        (name = "reminders", description = "Reminder e-mails to owners and escalation contacts, and the outbox."),
        (name = "owner links", description = "The HTML page behind the one-click links in reminder e-mails; the signed link is the credential."),
        (name = "health", description = "Liveness and readiness for load balancers and orchestrators.")
    )
)]
struct ApiDoc;

/// The document as `GET /openapi.json` serves it: serialized once at start-up and shared by every worker.
/// The `OpenApi` value it comes from takes about 10 MB of memory for 0.7 MB of JSON; Swagger UI's own
/// handler kept a copy per worker (and more while registering) and serialized it again on each request.
pub struct ServedDocument(actix_web::web::Bytes);

/// Where the document is served; Swagger UI at /docs/ is pointed here.
pub const DOCUMENT_PATH: &str = "/openapi.json";

impl ServedDocument {
    pub fn new(spec: &utoipa::openapi::OpenApi) -> serde_json::Result<Self> {
        Ok(Self(serde_json::to_vec(spec)?.into()))
    }
}

/// `GET /openapi.json`: the document, as Swagger UI at /docs/ and client generators fetch it.
pub async fn served_document(document: actix_web::web::Data<ServedDocument>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().content_type(actix_web::http::header::ContentType::json()).body(document.0.clone())
}

/// The OpenAPI document of the routes `routes` registers, with what holds for every operation.
pub fn document(routes: fn(&mut ServiceConfig)) -> utoipa::openapi::OpenApi {
    let (_, mut spec) = App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(routes).split_for_parts();
    CommonResponses.modify(&mut spec);
    OutsideApiSecurity.modify(&mut spec);
    IdempotencyKeyHeader.modify(&mut spec);
    CollectionCaching.modify(&mut spec);
    RequestIdHeader.modify(&mut spec);
    UniqueOperationIds.modify(&mut spec);
    RequestTextRules.modify(&mut spec);
    ScopedRequests.modify(&mut spec);
    spec
}

/// The dates `domain::action::parse_due_date` takes, 2000-01-01 to 2199-12-31 (leap days included), as a
/// pattern in place of `format: date`: a generator that draws any date and throws away those outside two
/// centuries rarely gets a request out.
const DUE_DATE: &str = "^(?:2[01][0-9]{2}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:20(?:[02468][048]|[13579][26])|21(?:0[48]|[2468][048]|[13579][26]))-02-29)$";

/// Characters `domain::text::check_characters` refuses in one-line text (controls, line breaks included,
/// and the invisible and text-direction characters) and in text of several lines (controls but line
/// breaks and tabs, and the invisible and text-direction characters but the joiners and marks), as
/// regular expression ranges.
const ONE_LINE_REFUSED: &str = "\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u061C\\u180E\\u200B-\\u200F\\u2028\\u2029\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB\u{E0000}-\u{E007F}";
const MULTI_LINE_REFUSED: &str = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F\\u180E\\u200B\\u202A-\\u202E\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB\u{E0000}-\u{E007F}";

/// What the domain types accept, said in the request schemas so that a client (or a fuzzer) sending
/// schema-valid values is not refused. utoipa cannot derive it from `String` fields, so it is added by
/// the limits the text types use (`domain::text`: 200 characters on one line, 10 000 on several): no
/// control characters, and required text not blank (optional text may be blank, which is absent, except
/// in a merge-patch or the upsert by ticket); a required address (254 characters) is an e-mail address;
/// due dates and tags are what the domain takes. A time zone stays a string with a description: its
/// 598 IANA names as an enum collide in client generators (`GMT0`, `GMT+0` and `GMT-0` are one
/// identifier), and the server names the field when it refuses one.
struct RequestTextRules;

impl Modify for RequestTextRules {
    fn modify(&self, spec: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = spec.components.as_mut() {
            for (name, schema) in components.schemas.iter_mut() {
                if !(name.ends_with("Request")
                    || name.ends_with("Body")
                    || name.ends_with("Patch")
                    || name.ends_with("Input")
                    || name == "ReviewAnswers")
                {
                    continue;
                }
                // A merge-patch (and the upsert by ticket, which changes only what is sent) sets text or
                // clears it with `null`; blank text is refused there. `ReviewAnswersPatch` is the
                // exception: a blank answer clears it, as in the form a facilitator fills in.
                // The parts of an incident's assessment (`…Input`) are merge-patches too, also when creating.
                let non_blank = name.starts_with("Update") || name == "UpsertActionRequest" || name.ends_with("Input");
                let RefOr::T(Schema::Object(object)) = schema else { continue };
                for (property, field) in object.properties.iter_mut() {
                    if property == "tags" {
                        tag_items(field);
                        continue;
                    }
                    if property == "contributing_factors" {
                        text_items(field);
                        continue;
                    }
                    let RefOr::T(Schema::Object(field)) = field else { continue };
                    if property == "due_date" {
                        field.format = None;
                        field.pattern = Some(DUE_DATE.to_owned());
                    } else {
                        text_rules(field, non_blank);
                    }
                }
            }
        }
        for item in spec.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.patch, &mut item.delete];
            for parameter in operations.into_iter().flatten().flat_map(|o| o.parameters.iter_mut().flatten()) {
                if let RefOr::T(parameter) = parameter
                    && parameter.parameter_in == ParameterIn::Query
                    && let Some(RefOr::T(Schema::Object(field))) = parameter.schema.as_mut()
                {
                    text_rules(field, false);
                }
            }
        }
    }
}

/// Tags are what `domain::action::Tag` accepts; utoipa puts a field's pattern on the array, not its items.
fn tag_items(field: &mut RefOr<Schema>) {
    let RefOr::T(Schema::Array(array)) = field else { return };
    if let ArrayItems::RefOrSchema(items) = &mut array.items
        && let RefOr::T(Schema::Object(item)) = items.as_mut()
    {
        item.pattern = Some("^[A-Za-z0-9._:/-]{1,50}$".to_owned());
    }
}

/// A list of one-line texts (1–200 characters each, as `ShortText` takes them).
fn text_items(field: &mut RefOr<Schema>) {
    let RefOr::T(Schema::Array(array)) = field else { return };
    if let ArrayItems::RefOrSchema(items) = &mut array.items
        && let RefOr::T(Schema::Object(item)) = items.as_mut()
    {
        item.max_length = Some(200);
        text_rules(item, true);
    }
}

fn text_rules(field: &mut Object, non_blank: bool) {
    let nullable = matches!(&field.schema_type, SchemaType::Array(types) if types.contains(&Type::Null));
    let refused = match field.max_length {
        // 256: a webhook's secret, held to the rules of one-line text.
        Some(200 | 256) => ONE_LINE_REFUSED,
        Some(10_000) => MULTI_LINE_REFUSED,
        Some(254) if !nullable && field.format.is_none() => {
            field.format = Some(SchemaFormat::KnownFormat(KnownFormat::Email));
            return;
        }
        _ => return,
    };
    if field.pattern.is_none() {
        field.pattern = Some(if non_blank || field.min_length.is_some_and(|n| n > 0) {
            format!("^[^{refused}]*[^\\s{refused}][^{refused}]*$")
        } else {
            format!("^[^{refused}]*$")
        });
    }
}

/// A member the URL already says is refused when it differs (`incident_id` in an incident's actions,
/// `incident_id` and `review_id` in a review's, `owner` in a person's queue), so those operations get
/// schemas and parameters without it; `POST /actions`, where the body alone names the incident, needs it.
struct ScopedRequests;

impl Modify for ScopedRequests {
    fn modify(&self, spec: &mut utoipa::openapi::OpenApi) {
        let Some(components) = spec.components.as_mut() else { return };
        let Some(RefOr::T(Schema::Object(create))) = components.schemas.get("CreateActionRequest").cloned() else {
            return;
        };
        let without = |members: &[&str]| {
            let mut schema = create.clone();
            schema.properties.retain(|name, _| !members.contains(&name.as_str()));
            // The example too: Swagger UI's "Try it out" sends it as it is.
            if let Some(serde_json::Value::Object(example)) = schema.example.as_mut() {
                example.retain(|name, _| !members.contains(&name.as_str()));
            }
            RefOr::T(Schema::Object(schema))
        };
        components.schemas.insert("CreateActionInIncidentRequest".into(), without(&["incident_id"]));
        components.schemas.insert("CreateActionInReviewRequest".into(), without(&["incident_id", "review_id"]));
        if let Some(RefOr::T(Schema::Object(create))) = components.schemas.get_mut("CreateActionRequest") {
            create.required.push("incident_id".into());
            if let Some(RefOr::T(Schema::Object(incident))) = create.properties.get_mut("incident_id") {
                incident.schema_type = SchemaType::Type(Type::String);
            }
        }
        if let Some(RefOr::T(Schema::Object(bulk))) = components.schemas.get_mut("BulkActionsRequest")
            && let Some(RefOr::T(Schema::Array(actions))) = bulk.properties.get_mut("actions")
        {
            actions.items =
                ArrayItems::RefOrSchema(Box::new(Ref::from_schema_name("CreateActionInReviewRequest").into()));
        }
        let paths = &mut spec.paths.paths;
        if let Some(body) = paths
            .get_mut("/api/v1/incidents/{id}/actions")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut())
            && let RefOr::T(body) = body
        {
            for content in body.content.values_mut() {
                let RefOr::T(content) = content else { continue };
                content.schema = Some(Ref::from_schema_name("CreateActionInIncidentRequest").into());
            }
        }
        for (path, parameter) in
            [("/api/v1/incidents/{id}/actions", "incident_id"), ("/api/v1/people/{email}/actions", "owner")]
        {
            if let Some(parameters) = paths
                .get_mut(path)
                .and_then(|item| item.get.as_mut())
                .and_then(|operation| operation.parameters.as_mut())
            {
                parameters.retain(|p| !matches!(p, RefOr::T(p) if p.name == parameter));
            }
        }
    }
}

/// utoipa names an operation after its handler function, and several modules have a `get` or a
/// `list`; OpenAPI requires unique ids (links and client generators resolve operations by them). A
/// shared name is qualified with the literal segments of its path (`incidents_get`,
/// `incidents_report_get`); a name used once stays as it is.
struct UniqueOperationIds;

impl Modify for UniqueOperationIds {
    fn modify(&self, spec: &mut utoipa::openapi::OpenApi) {
        let mut uses = std::collections::HashMap::<String, usize>::new();
        for item in spec.paths.paths.values() {
            let operations = [&item.get, &item.put, &item.post, &item.patch, &item.delete];
            for id in operations.into_iter().flatten().filter_map(|operation| operation.operation_id.clone()) {
                *uses.entry(id).or_default() += 1;
            }
        }
        for (path, item) in spec.paths.paths.iter_mut() {
            let literal: Vec<&str> = path
                .split('/')
                .filter(|segment| !segment.is_empty() && !segment.starts_with('{') && !["api", "v1"].contains(segment))
                .collect();
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                if let Some(id) = operation.operation_id.as_mut().filter(|id| uses.get(*id).is_some_and(|n| *n > 1)) {
                    *id = format!("{}_{id}", literal.join("_").replace('-', "_"));
                }
            }
        }
    }
}

/// What every `/api/` operation shares: it needs a bearer token and may answer 401 or 403 (each
/// operation's description says which role it needs) and 503; one that takes a body may answer 400,
/// 413 and 415.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, spec: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "A JWT with `sub`, `exp`, optional `email` and roles (viewer, editor, admin) in the roles claim",
            ))
            .build();
        spec.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearerAuth", SecurityScheme::Http(scheme));
        let problem = |description: &str| -> RefOr<Response> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content("application/problem+json", Content::new(Some(Ref::from_schema_name("Problem"))))
                    .build(),
            )
        };
        // Inline rather than shared components, so every response can carry its X-Request-Id header.
        let unavailable = with_headers(
            "The database is unavailable, or the request took longer than REQUEST_TIMEOUT; retry after \
                 `Retry-After` seconds",
            &[("Retry-After", "Seconds to wait before retrying")],
        );
        let too_many = with_headers(
            "This token made more requests than RATE_LIMIT_PER_MINUTE allows; retry after `Retry-After` seconds",
            &[
                ("Retry-After", "Seconds until the next request is allowed"),
                ("RateLimit-Limit", "Requests the token may make at once (RATE_LIMIT_BURST)"),
                ("RateLimit-Remaining", "Requests left now: 0"),
                ("RateLimit-Reset", "Seconds until the full budget is back"),
            ],
        );
        for (path, item) in spec.paths.paths.iter_mut() {
            if !path.starts_with("/api/") {
                continue;
            }
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                operation.security = Some(vec![SecurityRequirement::new("bearerAuth", Vec::<String>::new())]);
                let has_body = operation.request_body.is_some();
                let has_query = operation.parameters.iter().flatten().any(|parameter| {
                    matches!(parameter, RefOr::T(parameter) if parameter.parameter_in == ParameterIn::Query)
                });
                let pages = operation.parameters.iter().flatten().any(|parameter| {
                    matches!(parameter, RefOr::T(parameter) if parameter.parameter_in == ParameterIn::Query
                        && matches!(parameter.name.as_str(), "cursor" | "after"))
                });
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| responses.insert(status.into(), problem(description));
                add("401", "No token, or a token that is expired, malformed or not trusted");
                add("403", "The token's roles do not allow this");
                if pages {
                    add(
                        "400",
                        "An unknown query parameter, one that cannot be read, or a cursor handed out for another query \
                         (`cursor_mismatch`, naming the parameters that differ)",
                    );
                } else if has_query && !has_body {
                    add("400", "An unknown query parameter, or one that cannot be read");
                }
                if has_body {
                    add("400", "The body is not valid JSON, or an unknown or unreadable query parameter");
                    add("413", "The body is larger than 1 MiB");
                    add("415", "The body is not JSON");
                }
                responses.insert("503".into(), unavailable.clone());
                responses.entry("429".into()).or_insert_with(|| too_many.clone());
            }
        }
    }
}

/// The routes outside `/api/` say how they are authorised too, so a client or a scanner never has to
/// guess: `/metrics` takes METRICS_TOKEN or a viewer's JWT, and the probes and the one-click pages take
/// no token (a link's signature, in its path, is the credential). A route missing here is caught by the
/// spec linter (`.ci/lint-spec`), which wants security on every operation.
struct OutsideApiSecurity;

/// The routes that need no `Authorization` header.
const PUBLIC: [&str; 3] = ["/healthz", "/readyz", "/a/{token}"];

impl Modify for OutsideApiSecurity {
    fn modify(&self, spec: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("METRICS_TOKEN, the shared secret Prometheus scrapes `/metrics` with"))
            .build();
        spec.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("metricsToken", SecurityScheme::Http(scheme));
        let either = || {
            vec![
                SecurityRequirement::new("metricsToken", Vec::<String>::new()),
                SecurityRequirement::new("bearerAuth", Vec::<String>::new()),
            ]
        };
        for (path, item) in spec.paths.paths.iter_mut() {
            let security = match path.as_str() {
                "/metrics" => either(),
                path if PUBLIC.contains(&path) => Vec::new(),
                _ => continue,
            };
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                operation.security = Some(security.clone());
            }
        }
    }
}

/// A problem response with integer headers, each with its description.
fn with_headers(description: &str, headers: &[(&str, &str)]) -> RefOr<Response> {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", Content::new(Some(Ref::from_schema_name("Problem"))));
    for (name, about) in headers {
        let header = HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0))))
            .description(Some(*about))
            .build();
        response = response.header(*name, header);
    }
    RefOr::T(response.build())
}

/// Every POST under `/api/` takes an `Idempotency-Key` (see `idempotency.rs`).
struct IdempotencyKeyHeader;

impl Modify for IdempotencyKeyHeader {
    fn modify(&self, spec: &mut utoipa::openapi::OpenApi) {
        let parameter = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Makes a retry safe: a repeat with the same key and body within 24 hours, by the same token \
                 subject, gets the first successful response again (with `Idempotent-Replayed: true`) instead of \
                 doing the work twice. The repeat is authorized like a fresh request; refused and failed requests \
                 are not remembered. A subject holds at most 10 000 keys (429 beyond)",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255))))
            .build();
        let replayed = HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["true"]))))
            .description(Some("Present on a replayed response"))
            .build();
        let problem = |description: &str| -> RefOr<Response> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content("application/problem+json", Content::new(Some(Ref::from_schema_name("Problem"))))
                    .build(),
            )
        };
        for (path, item) in spec.paths.paths.iter_mut() {
            let Some(operation) = item.post.as_mut().filter(|_| path.starts_with("/api/")) else { continue };
            operation.parameters.get_or_insert_with(Vec::new).push(RefOr::T(parameter.clone()));
            let responses = &mut operation.responses.responses;
            responses.entry("400".into()).or_insert_with(|| problem("A malformed Idempotency-Key"));
            responses
                .entry("409".into())
                .or_insert_with(|| problem("A request with the same Idempotency-Key is still running"));
            responses
                .entry("422".into())
                .or_insert_with(|| problem("Invalid fields, or an Idempotency-Key used for a different request"));
            for (status, response) in responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                    response.headers.insert("Idempotent-Replayed".to_owned(), RefOr::T(replayed.clone()));
                }
            }
        }
    }
}

/// The collections dashboards poll (see `Freshness`): a weak `ETag`, `Cache-Control`, and 304 for
/// `If-None-Match`.
pub(super) const CACHED_COLLECTIONS: [&str; 14] = [
    "/api/v1/incidents",
    "/api/v1/actions",
    "/api/v1/incidents/{id}/actions",
    "/api/v1/incidents/{id}/reviews",
    "/api/v1/incidents/{id}/timeline",
    "/api/v1/incidents/{id}/indicators",
    "/api/v1/incidents/{id}/evidence",
    "/api/v1/incidents/{id}/effort",
    "/api/v1/incidents/{id}/history",
    "/api/v1/actions/{id}/history",
    "/api/v1/actions/{id}/comments",
    "/api/v1/people",
    "/api/v1/people/{email}/actions",
    "/api/v1/stats",
];

struct CollectionCaching;

impl Modify for CollectionCaching {
    fn modify(&self, spec: &mut utoipa::openapi::OpenApi) {
        let parameter = ParameterBuilder::new()
            .name("If-None-Match")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some("The `ETag` of the copy the client has; answered 304 while nothing changed"))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build();
        let header = |description: &str| {
            RefOr::T(
                HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .description(Some(description))
                    .build(),
            )
        };
        for (path, item) in spec.paths.paths.iter_mut() {
            let Some(operation) = item.get.as_mut().filter(|_| CACHED_COLLECTIONS.contains(&path.as_str())) else {
                continue;
            };
            operation.parameters.get_or_insert_with(Vec::new).push(RefOr::T(parameter.clone()));
            let responses = &mut operation.responses.responses;
            if let Some(RefOr::T(ok)) = responses.get_mut("200") {
                ok.headers.insert("ETag".into(), header("Weak tag of the data behind this response"));
                ok.headers.insert("Cache-Control".into(), header("`private, max-age=<CACHE_MAX_AGE>`"));
            }
            let not_modified = ResponseBuilder::new()
                .description("Nothing changed since the `ETag` sent in `If-None-Match`")
                .header(
                    "ETag",
                    HeaderBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build(),
                )
                .header(
                    "Cache-Control",
                    HeaderBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build(),
                )
                .build();
            responses.insert("304".into(), RefOr::T(not_modified));
        }
    }
}

/// Every operation accepts an `X-Request-Id` and every response carries one; said once here rather than
/// on each of the routes.
struct RequestIdHeader;

impl Modify for RequestIdHeader {
    fn modify(&self, spec: &mut utoipa::openapi::OpenApi) {
        // Any value is accepted (an unusable one is replaced, never refused), so the schema cannot
        // narrow it: a pattern here would promise a rejection the server does not make.
        let parameter = ParameterBuilder::new()
            .name("X-Request-Id")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Your id for this request, echoed in the response and in logs when it is up to 128 of `A-Z a-z 0-9 - _ . :`; one is made up when it is absent or not like that",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
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

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::DUE_DATE;
    use crate::domain::action::parse_due_date;

    /// A client checking a due date against the spec's pattern gets the answer the server gives, on
    /// every day from 1999-12-31 to 2200-01-01 and on impossible days such as 2100-02-29.
    #[test]
    fn the_due_date_pattern_takes_exactly_the_dates_the_server_takes() {
        let pattern = regex::Regex::new(DUE_DATE).unwrap();
        let mut day = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
        while day <= NaiveDate::from_ymd_opt(2200, 1, 1).unwrap() {
            let text = day.format("%Y-%m-%d").to_string();
            assert_eq!(pattern.is_match(&text), parse_due_date("due_date", &text).is_ok(), "{text}");
            day = day.succ_opt().unwrap();
        }
        for impossible in ["2100-02-29", "2101-02-29", "2026-04-31", "2026-13-01", "2026-00-10", "2026-1-10"] {
            assert!(!pattern.is_match(impossible), "{impossible}");
            assert!(parse_due_date("due_date", impossible).is_err(), "{impossible}");
        }
        assert!(pattern.is_match("2000-02-29") && pattern.is_match("2196-02-29"));
    }
}
