//! The report as one self-contained, printable HTML page: no scripts, no external resources, user text
//! escaped by the template engine.

use askama::Template;

use super::{Report, category_text, vector_text, words};

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    report: &'a Report,
    summary: String,
    vector: String,
    root_cause_category: String,
    /// Each affected system's kind, for reading.
    system_kinds: Vec<String>,
}

pub fn render(report: &Report) -> Result<String, askama::Error> {
    Page {
        report,
        summary: report.executive_summary.join(" "),
        vector: vector_text(&report.attack),
        root_cause_category: category_text(&report.root_cause),
        system_kinds: report.impact.recorded.affected_systems.iter().map(|s| words(s.kind)).collect(),
    }
    .render()
}
