//! `GET /api/v1/incidents/{id}/report`: the final incident report as Markdown, HTML or JSON, chosen by
//! the `Accept` header; `GET /api/v1/incidents/{id}/stix`: the incident as a STIX 2.1 bundle for sharing.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::access;
use super::common::parse_bool;
use super::error::{ApiError, Problem};
use super::state::Data;
use crate::db;
use crate::domain::principal::{Principal, Role};
use crate::report::{Report, render_html, render_markdown};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Markdown,
    Html,
    Json,
}

/// In order of preference when the client likes several equally (or sends no `Accept` at all).
const FORMATS: [(Format, &str); 3] =
    [(Format::Markdown, "text/markdown"), (Format::Html, "text/html"), (Format::Json, "application/json")];

/// The format the client prefers most (highest `q`), ties going to the earlier of `FORMATS`; `None` when
/// `Accept` names none of them. An unknown media range and a malformed one name nothing alike, so `foo`
/// and `/` get the same answer as `application/pdf`; no `Accept` (or one that lists nothing) means any.
fn negotiate(accept: Option<&str>) -> Option<Format> {
    let elements: Vec<&str> =
        accept.unwrap_or_default().split(',').map(str::trim).filter(|element| !element.is_empty()).collect();
    if elements.is_empty() {
        return Some(Format::Markdown);
    }
    let ranges: Vec<(String, f32)> = elements.into_iter().filter_map(media_range).collect();
    let quality = |media: &str| -> f32 {
        let (kind, _) = media.split_once('/').unwrap_or((media, ""));
        ranges
            .iter()
            .filter(|(range, _)| range == media || range == "*/*" || *range == format!("{kind}/*"))
            // The most specific range decides, as RFC 9110 says.
            .max_by_key(|(range, _)| {
                if range == media {
                    2
                } else if range == "*/*" {
                    0
                } else {
                    1
                }
            })
            .map_or(0.0, |(_, q)| *q)
    };
    let mut best: Option<(Format, f32)> = None;
    for (format, media) in FORMATS {
        let q = quality(media);
        if q > 0.0 && best.is_none_or(|(_, top)| q > top) {
            best = Some((format, q));
        }
    }
    best.map(|(format, _)| format)
}

/// One element of `Accept` (RFC 9110 §12.5.1): `type/subtype`, `type/*` or `*/*`, lower-cased, with its
/// weight; `None` when it is malformed (not two tokens, `*/subtype`, a parameter without a value, a
/// weight that is not a qvalue).
fn media_range(element: &str) -> Option<(String, f32)> {
    let mut parts = element.split(';').map(str::trim);
    let media = parts.next()?.to_ascii_lowercase();
    let (kind, subtype) = media.split_once('/')?;
    let token =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token(kind) || !token(subtype) || (kind == "*" && subtype != "*") {
        return None;
    }
    let mut q = 1.0;
    for parameter in parts.filter(|parameter| !parameter.is_empty()) {
        let (name, value) = parameter.split_once('=')?;
        if name.trim_end().eq_ignore_ascii_case("q") {
            q = qvalue(value.trim_start())?;
        }
    }
    Some((media, q))
}

/// `0` to `1` with at most three decimals.
fn qvalue(text: &str) -> Option<f32> {
    let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
    let well_formed = decimals.len() <= 3
        && decimals.bytes().all(|b| b.is_ascii_digit())
        && (whole == "0" || (whole == "1" && decimals.bytes().all(|b| b == b'0')));
    well_formed.then(|| text.parse().ok()).flatten()
}

/// Every `Accept` field of the request as one list (RFC 9110 §5.3); a field that is not visible ASCII
/// becomes an element that names nothing.
fn accept_header(req: &HttpRequest) -> Option<String> {
    let fields: Vec<&str> =
        req.headers().get_all(header::ACCEPT).map(|value| value.to_str().unwrap_or("unreadable")).collect();
    (!fields.is_empty()).then(|| fields.join(","))
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(get).service(stix);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StixQuery {
    /// `true` to include the TLP:RED indicators: admins only, and only when asked, since TLP:RED is for
    /// the people in the room and a bundle is made to leave it. Default `false`.
    #[param(value_type = Option<bool>)]
    pub include_red: Option<String>,
}

/// The incident as a STIX 2.1 bundle, to share with other organisations (NIST SP 800-61: information
/// sharing): the incident, its indicators as STIX patterns (CVEs as vulnerabilities), its ATT&CK
/// techniques as attack patterns, the relationships between them, and the TLP 2.0 marking definitions
/// (the incident itself is marked TLP:AMBER, each indicator with its own marking). Ids are derived from
/// what they stand for, so exporting again updates the receiver's copy instead of duplicating it.
/// TLP:RED indicators are left out unless an admin asks with `include_red=true`. Needs the viewer role.
#[utoipa::path(
    operation_id = "incidents_stix_get",
    tag = "indicators",
    params(("id" = Uuid, Path, description = "Incident id"), StixQuery),
    responses(
        (status = 200, description = "The bundle", content((Object = "application/stix+json;version=2.1"))),
        (status = 403, description = "`include_red` without the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`include_red` is not true or false", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/incidents/{id}/stix")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn stix(
    state: Data,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<StixQuery>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let include_red =
        parse_bool("include_red", query.include_red.as_deref()).map_err(|e| ApiError::Validation(e.into()))?;
    if include_red == Some(true) {
        access::require(&principal, Role::Admin)?;
    }
    let id = id.into_inner();
    let (incident, indicators) = db::incidents::with_indicators(&state.db, id, include_red == Some(true))
        .await
        .map_err(|e| ApiError::from_store(e, || format!("incident with id {id}")))?;
    let bundle = crate::report::stix::bundle(&incident, &indicators);
    Ok(HttpResponse::Ok().content_type("application/stix+json;version=2.1").json(bundle))
}

/// The final report of an incident, for readers who were not in the room, in the outline of a complete
/// incident response report: executive summary; incident details (attack vector, ATT&CK techniques,
/// affected systems); detection and analysis, and containment, eradication and recovery (each with the
/// review's answers and its timeline entries); impact assessment; root cause analysis; indicators of
/// compromise (defanged; TLP:RED ones only for editors and admins); lessons learned; recommendations
/// (the corrective actions with owner, due date, status and verification); metrics (detected →
/// contained → resolved, time spent by phase and person, cost, actions); appendices (evidence with its
/// chain of custody, the full timeline). Needs the viewer role.
///
/// `Accept` chooses the format, with `q` weights as RFC 9110 says: `text/markdown` (the default, also for
/// `*/*` or no `Accept`), `text/html` (a printable, self-contained page) or `application/json` (the same
/// content as data). An `Accept` that names none of them, whether with unknown media types
/// (`application/pdf`) or malformed ones (`foo`), is answered 406 with the list.
#[utoipa::path(
    tag = "incidents",
    params(("id" = Uuid, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The report", content(
            (String = "text/markdown"),
            (String = "text/html"),
            (Report = "application/json"))),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "None of the accepted media types can be produced", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/incidents/{id}/report")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn get(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let format = negotiate(accept_header(&req).as_deref()).ok_or_else(|| {
        ApiError::NotAcceptable(
            "the report is available as text/markdown (the default, also for */*), text/html or application/json"
                .into(),
        )
    })?;
    let id = id.into_inner();
    let records = db::incidents::report_records(&state.db, id, access::sees_red(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, || format!("incident with id {id}")))?;
    let report = Report::build(&records, state.timezone, state.today(), crate::domain::now());
    let mut response = HttpResponse::Ok();
    response.insert_header((header::VARY, "Accept"));
    Ok(match format {
        Format::Markdown => response.content_type("text/markdown; charset=utf-8").body(render_markdown(&report)),
        Format::Json => response.json(&report),
        Format::Html => {
            let page = render_html(&report).map_err(|e| ApiError::Internal(e.to_string()))?;
            response
                .content_type("text/html; charset=utf-8")
                // The page is self-contained: nothing to load, nothing to run, not to be framed.
                .insert_header((
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                ))
                .body(page)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_quality_wins_and_markdown_is_the_default() {
        assert_eq!(negotiate(None), Some(Format::Markdown));
        assert_eq!(negotiate(Some("*/*")), Some(Format::Markdown));
        assert_eq!(negotiate(Some("text/html,application/xhtml+xml,*/*;q=0.8")), Some(Format::Html));
        assert_eq!(negotiate(Some("application/json")), Some(Format::Json));
        assert_eq!(negotiate(Some("text/*;q=0.5, application/json;q=0.9")), Some(Format::Json));
        assert_eq!(negotiate(Some("text/*")), Some(Format::Markdown));
        assert_eq!(negotiate(Some("application/pdf")), None);
        assert_eq!(negotiate(Some("text/markdown;q=0, */*")), Some(Format::Html));
        assert_eq!(negotiate(Some("TEXT/HTML;Q=0.5")), Some(Format::Html));
        assert_eq!(negotiate(Some("text/html;charset=utf-8;level=1")), Some(Format::Html));
        assert_eq!(negotiate(Some("")), Some(Format::Markdown));
        assert_eq!(negotiate(Some(" , ")), Some(Format::Markdown), "an empty list names no preference");
    }

    /// A malformed range names nothing, like an unknown one: alone it gets 406, beside a good one it is
    /// passed over.
    #[test]
    fn malformed_media_ranges_name_nothing() {
        for malformed in [
            "foo",
            "/",
            "null",
            "text/",
            "/html",
            "*/html",
            "text/html;q=2",
            "text/html;q=0.5000",
            "text/html;level",
            "text html",
            "unreadable",
        ] {
            assert_eq!(negotiate(Some(malformed)), None, "{malformed}");
            assert_eq!(negotiate(Some(&format!("{malformed}, application/json"))), Some(Format::Json), "{malformed}");
        }
        assert_eq!(negotiate(Some("*/*;q=0")), None);
        assert_eq!(negotiate(Some("text/*;q=0.001")), Some(Format::Markdown));
    }
}
