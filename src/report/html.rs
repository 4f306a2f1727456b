//! The report as one self-contained, printable HTML page: no scripts, no external resources, user text
//! escaped by the template engine.

use askama::Template;

use super::Report;

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    report: &'a Report,
    summary: String,
}

pub fn render(report: &Report) -> Result<String, askama::Error> {
    Page { report, summary: report.executive_summary.join(" ") }.render()
}
