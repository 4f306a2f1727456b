//! Helpers every feature's handlers share: merge-patch fields, list parameters, single resources with
//! their entity tags, and pages of collections with their freshness tags. Imports no feature module.

use std::str::FromStr;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Serialize;

use super::error::ApiError;
use super::extract;
use super::state::AppState;
use crate::domain::{FieldError, FieldErrors, Patch};

/// A required field in a merge-patch: absent keeps it, `null` is refused.
pub fn required<T>(field: &str, patch: Patch<T>) -> Result<Option<T>, FieldError> {
    match patch {
        Patch::Absent => Ok(None),
        Patch::Null => Err(FieldError::new(field, "cannot be null; leave it out to keep the current value")),
        Patch::Value(value) => Ok(Some(value)),
    }
}

/// A required field of a merge-patch parsed by `parse`: absent keeps it (`None`), `null` and a value
/// `parse` refuses are remembered in `errors`.
pub fn parse_required<T>(
    errors: &mut FieldErrors,
    field: &str,
    patch: Patch<String>,
    parse: impl FnOnce(&str, &str) -> Result<T, FieldError>,
) -> Option<T> {
    errors.take(required(field, patch)).flatten().and_then(|raw| errors.take(parse(field, &raw)))
}

/// A comma-separated filter value such as `status=open,blocked`.
pub fn parse_list<T: FromStr>(field: &str, raw: Option<&str>, allowed: &str) -> Result<Vec<T>, FieldError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    // Exactly the names, comma-separated, as the spec's pattern says: no blanks, no empty parts.
    raw.split(',')
        .map(|part| part.parse().map_err(|_| FieldError::new(field, format!("{part:?} is not one of {allowed}"))))
        .collect()
}

/// A single resource with its entity tag; to a GET, 304 when the client's copy (`If-None-Match`) is
/// current. Writes build their answer here too, after the change: a 304 would hide that it was made.
pub fn resource(
    req: &HttpRequest,
    mut builder: HttpResponseBuilder,
    body: &impl Serialize,
    etag: String,
) -> HttpResponse {
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
pub struct Freshness {
    tag: String,
    max_age: u64,
}

impl Freshness {
    pub async fn of(state: &AppState) -> Result<Self, ApiError> {
        let position =
            crate::db::events::latest_position(&state.db).await.map_err(|e| ApiError::from_store(e, String::new))?;
        let tag = format!("W/\"{position}-{}\"", state.today().format("%Y%m%d"));
        Ok(Self { tag, max_age: state.cache_max_age })
    }

    /// Tags a collection whose body depends on whether the reader sees TLP:RED indicators, so that a
    /// copy read with one role is never confirmed as current to the other.
    pub fn seen_by(mut self, sees_red: bool) -> Self {
        if sees_red {
            self.tag.insert_str(self.tag.len() - 1, "-red");
        }
        self
    }

    /// 304 when the client's copy is current.
    pub fn unchanged(&self, req: &HttpRequest) -> Option<HttpResponse> {
        extract::none_match_hits(req, self.tag.trim_start_matches("W/")).then(|| {
            let mut response = HttpResponse::NotModified();
            self.headers(&mut response);
            response.finish()
        })
    }

    pub fn headers(&self, response: &mut HttpResponseBuilder) {
        response
            .insert_header((header::ETAG, self.tag.clone()))
            .insert_header((header::CACHE_CONTROL, format!("private, max-age={}", self.max_age)));
    }
}

/// The whole of one incident's sub-collection (timeline, reviews, evidence, effort), as dashboards poll
/// it: 304 when the client's copy is current (then `load` never runs), otherwise what `load` reads, shown
/// as `body`, with the collection's tag; 404 naming the incident when there is none.
pub async fn incident_collection<T, B: Serialize>(
    state: &AppState,
    req: &HttpRequest,
    incident_id: uuid::Uuid,
    load: impl Future<Output = Result<T, crate::db::StoreError>>,
    body: impl FnOnce(T) -> B,
) -> Result<HttpResponse, ApiError> {
    let fresh = Freshness::of(state).await?;
    if let Some(not_modified) = fresh.unchanged(req) {
        return Ok(not_modified);
    }
    let items = load.await.map_err(|e| ApiError::from_store(e, || format!("incident with id {incident_id}")))?;
    let mut response = HttpResponse::Ok();
    fresh.headers(&mut response);
    Ok(response.json(body(items)))
}

/// A page of a list, with its tag and `Link: <…>; rel="next"` when more follow.
pub fn page(
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
pub fn parse_bool(field: &str, raw: Option<&str>) -> Result<Option<bool>, FieldError> {
    match raw {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(FieldError::new(field, "must be true or false")),
    }
}

/// The shared part of list queries.
pub fn page_size(limit: Option<i64>) -> i64 {
    limit.unwrap_or(crate::domain::listing::DEFAULT_LIMIT)
}

/// An e-mail address in a path segment such as `/people/{email}`.
pub fn path_email(raw: &str) -> Result<crate::domain::email::EmailAddress, ApiError> {
    crate::domain::email::EmailAddress::parse("email", raw).map_err(|e| ApiError::Validation(e.into()))
}
