//! `GET /api/v1/incidents/{id}/report`: the final incident report as Markdown, HTML or JSON, chosen by
//! the `Accept` header.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::{Data, access};
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

/// The format the client prefers most (highest `q`), ties going to the earlier of `FORMATS`.
fn negotiate(accept: Option<&str>) -> Option<Format> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return Some(Format::Markdown) };
    let ranges: Vec<(String, f32)> = accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';').map(str::trim);
            // A malformed range (no `type/subtype`) says nothing: RFC 9110 lets a server disregard it.
            let media = parts.next().filter(|m| m.contains('/'))?.to_ascii_lowercase();
            let q = parts.find_map(|p| p.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok())).unwrap_or(1.0);
            Some((media, q))
        })
        .collect();
    if ranges.is_empty() {
        return Some(Format::Markdown);
    }
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

/// The final report of an incident, for readers who were not in the room: executive summary (facts,
/// severity, detected → contained → resolved), timeline, investigation (the review's answers under their
/// questions), recommendations (the corrective actions with owner, due date, status and verification),
/// lessons learned and metrics. `Accept: text/markdown` (the default), `text/html` (a printable,
/// self-contained page) or `application/json` (the same content as data). Needs the viewer role.
#[utoipa::path(
    tag = "incidents",
    params(("id" = Uuid, Path, description = "Incident id"),
           ("Accept" = Option<String>, Header, description = "text/markdown (default), text/html or application/json")),
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
pub async fn get(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = negotiate(accept).ok_or_else(|| {
        ApiError::NotAcceptable("the report is available as text/markdown, text/html or application/json".into())
    })?;
    let id = id.into_inner();
    let records = db::incidents::report_records(&state.db, id)
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
    }
}
