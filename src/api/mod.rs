//! HTTP routes and the OpenAPI spec, registered together.
//!
//! `routes` is the one registration: the server, the tests and the `openapi` command all build the spec
//! from it, so a route cannot exist without its spec entry. Handlers turn requests into domain types,
//! call `db`, and turn the result into response types; they never build queries.

pub mod access;
pub mod actions;
pub mod comments;
pub mod error;
pub mod extract;
pub mod health;
pub mod history;
pub mod idempotency;
pub mod incidents;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod owner_links;
pub mod people;
pub mod reminders;
pub mod report;
pub mod reviews;
mod spec;
pub mod stats;
pub mod timeline;
pub mod webhooks;

pub use spec::openapi;

use std::str::FromStr;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use chrono::NaiveDate;
use serde::Serialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::db::Db;
use crate::domain::{FieldError, Patch};
use error::ApiError;

/// What every handler may use.
pub struct AppState {
    pub db: Db,
    pub timezone: chrono_tz::Tz,
    pub tokens: crate::auth::TokenVerifier,
    pub reminders: std::sync::Arc<crate::reminders::Reminders>,
    /// Days after an incident's resolution by which its lessons-learned review is due.
    pub review_due_days: i64,
    /// `Cache-Control: private, max-age` of collections, in seconds.
    pub cache_max_age: u64,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// A bearer token Prometheus may scrape `/metrics` with, instead of a JWT.
    pub metrics_token: Option<crate::config::Secret>,
    pub limits: std::sync::Arc<limits::Limits>,
    /// Where webhooks may point.
    pub webhook_targets: crate::outbound::TargetPolicy,
    /// How long a request holds its Idempotency-Key before a retry may take it over: as long as the
    /// request may run and its last statement after that, so a retry never runs beside work that is
    /// still going on after a timeout.
    pub idempotency_lease: chrono::Duration,
}

impl AppState {
    /// Today in the configured time zone: the day that decides what is overdue.
    pub fn today(&self) -> NaiveDate {
        chrono::Utc::now().with_timezone(&self.timezone).date_naive()
    }
}

/// Registers every route with its spec entry.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(health::healthz)
        .service(health::readyz)
        .service(metrics::get)
        .service(owner_links::show)
        .service(owner_links::choose)
        .service(
            utoipa_actix_web::scope("/api/v1")
                .service(incidents::create)
                .service(incidents::list)
                .service(incidents::get)
                .service(incidents::update)
                .service(incidents::delete)
                .service(actions::create_for_incident)
                .service(actions::list_for_incident)
                .service(actions::create)
                .service(actions::list)
                .service(actions::get)
                .service(actions::update)
                .service(actions::delete)
                .service(actions::verify)
                .service(actions::upsert_by_ref)
                .service(history::incident_history)
                .service(history::action_history)
                .service(history::feed)
                .service(comments::create)
                .service(comments::list)
                .service(reminders::run)
                .service(reminders::deliveries)
                .service(reminders::redeliver)
                .service(reminders::for_action)
                .service(reminders::remind)
                .service(reviews::create)
                .service(reviews::list)
                .service(reviews::get)
                .service(reviews::update)
                .service(reviews::create_actions)
                .service(timeline::create)
                .service(timeline::list)
                .service(timeline::update)
                .service(timeline::delete)
                .service(people::put)
                .service(people::list)
                .service(people::get)
                .service(people::actions)
                .service(report::get)
                .service(stats::get)
                .service(webhooks::create)
                .service(webhooks::list)
                .service(webhooks::delete)
                .service(webhooks::deliveries)
                .service(webhooks::redeliver),
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

/// A required field in a merge-patch: absent keeps it, `null` is refused.
fn required<T>(field: &str, patch: Patch<T>) -> Result<Option<T>, FieldError> {
    match patch {
        Patch::Absent => Ok(None),
        Patch::Null => Err(FieldError::new(field, "cannot be null; leave it out to keep the current value")),
        Patch::Value(value) => Ok(Some(value)),
    }
}

/// A comma-separated filter value such as `status=open,blocked`.
fn parse_list<T: FromStr>(field: &str, raw: Option<&str>, allowed: &str) -> Result<Vec<T>, FieldError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    // Exactly the names, comma-separated, as the spec's pattern says: no blanks, no empty parts.
    raw.split(',')
        .map(|part| part.parse().map_err(|_| FieldError::new(field, format!("{part:?} is not one of {allowed}"))))
        .collect()
}

/// A single resource with its entity tag; to a GET, 304 when the client's copy (`If-None-Match`) is
/// current. Writes build their answer here too, after the change: a 304 would hide that it was made.
fn resource(req: &HttpRequest, mut builder: HttpResponseBuilder, body: &impl Serialize, etag: String) -> HttpResponse {
    let read = matches!(*req.method(), actix_web::http::Method::GET | actix_web::http::Method::HEAD);
    if read && extract::none_match_hits(req, &etag) {
        return HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish();
    }
    builder.insert_header((header::ETAG, etag)).json(body)
}

/// Whether a collection changed since a client last read it. Every change the collections show is in the
/// audit history, so the change feed's latest position, with the day (which moves `overdue`), tells: a
/// weak tag from them answers a repeated poll with 304 after one indexed lookup, before running the
/// query. The position is read before the query, so a tag is never newer than its body.
pub(crate) struct Freshness {
    tag: String,
    max_age: u64,
}

impl Freshness {
    pub(crate) async fn of(state: &AppState) -> Result<Self, ApiError> {
        let position =
            crate::db::events::latest_position(&state.db).await.map_err(|e| ApiError::from_store(e, String::new))?;
        let tag = format!("W/\"{position}-{}\"", state.today().format("%Y%m%d"));
        Ok(Self { tag, max_age: state.cache_max_age })
    }

    /// 304 when the client's copy is current.
    pub(crate) fn unchanged(&self, req: &HttpRequest) -> Option<HttpResponse> {
        extract::none_match_hits(req, self.tag.trim_start_matches("W/")).then(|| {
            let mut response = HttpResponse::NotModified();
            self.headers(&mut response);
            response.finish()
        })
    }

    pub(crate) fn headers(&self, response: &mut HttpResponseBuilder) {
        response
            .insert_header((header::ETAG, self.tag.clone()))
            .insert_header((header::CACHE_CONTROL, format!("private, max-age={}", self.max_age)));
    }
}

/// A page of a list, with its tag and `Link: <…>; rel="next"` when more follow.
fn page(
    req: &HttpRequest,
    body: &impl Serialize,
    next_cursor: Option<&str>,
    fresh: Option<&Freshness>,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if let Some(fresh) = fresh {
        fresh.headers(&mut response);
    }
    if let Some(cursor) = next_cursor {
        let mut query: Vec<&str> =
            req.query_string().split('&').filter(|p| !p.is_empty() && !p.starts_with("cursor=")).collect();
        let cursor_param = format!("cursor={cursor}");
        query.push(&cursor_param);
        response.insert_header((header::LINK, format!("<{}?{}>; rel=\"next\"", req.path(), query.join("&"))));
    }
    response.json(body)
}

/// A `true`/`false` query parameter.
fn parse_bool(field: &str, raw: Option<&str>) -> Result<Option<bool>, FieldError> {
    match raw {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(FieldError::new(field, "must be true or false")),
    }
}

/// The shared part of list queries.
fn page_size(limit: Option<i64>) -> i64 {
    limit.unwrap_or(crate::domain::listing::DEFAULT_LIMIT)
}

type Data = web::Data<AppState>;
