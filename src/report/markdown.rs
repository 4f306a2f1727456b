//! The report as Markdown (CommonMark with GitHub tables). User text is escaped so that it reads as
//! written and can never become markup, links or raw HTML in whatever renders the document.

use std::fmt::Write;

use super::{
    Report, ReportAnswer, ReportDuration, ReportPhase, ReportTimelineEntry, category_text, vector_text, words,
};

/// Backslash-escapes what Markdown could read as markup (CommonMark allows a backslash before any ASCII
/// punctuation): emphasis, code, links, HTML and table pipes anywhere, list and heading markers where a
/// line starts, and what GitHub's renderer turns into links by itself (the `:` of `https://`, the `.` of
/// `www.`). Inline text also loses its line breaks, which would end a table row.
fn inline(text: &str) -> String {
    line(&text.replace(['\r', '\n'], " "))
}

fn block(text: &str) -> String {
    // CommonMark ends a line at a lone CR too; `lines` does not.
    text.replace("\r\n", "\n").replace('\r', "\n").lines().map(|l| line(l.trim_end())).collect::<Vec<_>>().join("  \n")
}

fn line(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let trimmed = text.trim_start();
    let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
    let mut after_digits = trimmed[digits..].chars();
    let numbered = (1..=9).contains(&digits)
        && matches!(after_digits.next(), Some('.' | ')'))
        && after_digits.next().is_none_or(char::is_whitespace);
    // A backslash escapes only punctuation (before a digit it is a backslash to see): "1\." is no list.
    let list_marker_at = numbered.then(|| text.len() - trimmed.len() + digits);
    if trimmed.starts_with(['-', '+', '#', '=']) {
        out.push('\\');
    }
    for (at, c) in text.char_indices() {
        if Some(at) == list_marker_at {
            out.push('\\');
        }
        let autolink = match c {
            ':' => text[at + 1..].starts_with("//"),
            // Only the three bytes before the dot: lower-casing all the text before it made a long text
            // of dots cost the square of its length.
            '.' => at >= 3 && text.as_bytes()[at - 3..at].eq_ignore_ascii_case(b"www"),
            _ => false,
        };
        if autolink || matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn or_dash(value: Option<&str>) -> String {
    value.map_or_else(|| "—".to_owned(), inline)
}

fn duration(value: Option<&ReportDuration>) -> String {
    value.map_or_else(|| "—".to_owned(), |d| d.text.clone())
}

fn answers(out: &mut String, answers: &[ReportAnswer]) {
    if answers.is_empty() {
        out.push_str("_The review has not answered these questions yet._\n\n");
    }
    for answer in answers {
        let _ = write!(out, "### {}\n\n{}\n\n", inline(&answer.question), block(&answer.answer));
    }
}

fn incident_details(out: &mut String, report: &Report) {
    let attack = &report.attack;
    out.push_str("## Incident details\n\n| Attack | |\n|---|---|\n");
    let _ = writeln!(out, "| Attack vector | {} |", inline(&vector_text(attack)));
    out.push('\n');
    if attack.techniques.is_empty() {
        out.push_str("_No attack techniques were recorded._\n\n");
    } else {
        out.push_str("| ATT&CK technique | What was seen |\n|---|---|\n");
        for technique in &attack.techniques {
            let note = technique.note.as_ref().map(|n| n.as_str());
            let _ = writeln!(out, "| {} | {} |", inline(technique.id.as_str()), or_dash(note));
        }
        out.push('\n');
    }
    let systems = &report.impact.recorded.affected_systems;
    if systems.is_empty() {
        out.push_str("_No affected systems were recorded._\n\n");
    } else {
        out.push_str("| Affected system | Kind | Role in the incident |\n|---|---|---|\n");
        for system in systems {
            let role = system.role.as_ref().map(|r| r.as_str());
            let _ = writeln!(out, "| {} | {} | {} |", inline(system.name.as_str()), words(system.kind), or_dash(role));
        }
        out.push('\n');
    }
}

fn impact_assessment(out: &mut String, report: &Report) {
    let impact = &report.impact;
    out.push_str("## Impact assessment\n\n");
    match &impact.recorded.business_impact {
        Some(text) => {
            let _ = write!(out, "{}\n\n", block(text.as_str()));
        }
        None => out.push_str("_The business impact has not been described._\n\n"),
    }
    out.push_str("| Impact | |\n|---|---|\n");
    for (label, value) in [
        ("Data exposed", impact.data_exposed_text()),
        ("Records exposed", impact.records_exposed_text()),
        ("Downtime", impact.downtime()),
        ("People affected", impact.people_affected_text()),
        ("Cost", impact.cost_text()),
        ("Notification owed", impact.notification_text()),
    ] {
        let _ = writeln!(out, "| {label} | {} |", inline(&value));
    }
    out.push('\n');
}

fn root_cause_analysis(out: &mut String, report: &Report) {
    let root_cause = &report.root_cause;
    out.push_str("## Root cause analysis\n\n");
    let _ = write!(out, "Category: {}\n\n", inline(&category_text(root_cause)));
    match &root_cause.description {
        Some(text) => {
            let _ = write!(out, "{}\n\n", block(text.as_str()));
        }
        None => out.push_str("_The root cause has not been described._\n\n"),
    }
    if !root_cause.contributing_factors.is_empty() {
        out.push_str("Contributing factors:\n\n");
        for factor in &root_cause.contributing_factors {
            let _ = writeln!(out, "- {}", inline(factor.as_str()));
        }
        out.push('\n');
    }
}

fn timeline_table(out: &mut String, entries: &[ReportTimelineEntry], empty: &str) {
    if entries.is_empty() {
        let _ = write!(out, "_{empty}_\n\n");
        return;
    }
    out.push_str("| When | Phase | Source | What happened |\n|---|---|---|---|\n");
    for entry in entries {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            inline(&entry.occurred_local),
            entry.phase(),
            or_dash(entry.source.as_deref()),
            inline(&entry.description)
        );
    }
    out.push('\n');
}

fn phase(out: &mut String, heading: &str, phase: &ReportPhase, what: &str) {
    let _ = write!(out, "## {heading}\n\n");
    answers(out, &phase.answers);
    timeline_table(out, &phase.timeline, &format!("No {what} entries are on the timeline."));
}

fn review_line(out: &mut String, report: &Report) {
    match &report.review {
        Some(review) => {
            let held = review
                .held_local
                .as_deref()
                .map_or_else(|| "not yet held".to_owned(), |h| format!("held {}", inline(h)));
            let _ = write!(out, "_Lessons-learned review {held}");
            if let Some(facilitator) = &review.facilitator {
                let _ = write!(out, ", facilitated by {}", inline(facilitator));
            }
            out.push_str("._");
            if !review.attendees.is_empty() {
                let names: Vec<String> = review.attendees.iter().map(|a| inline(a)).collect();
                let _ = write!(out, " Attendees: {}.", names.join(", "));
            }
            out.push_str("\n\n");
        }
        None => out.push_str("_No lessons-learned review has been recorded._\n\n"),
    }
}

fn indicators(out: &mut String, report: &Report) {
    out.push_str("## Indicators of compromise\n\n");
    if report.red_indicators_withheld {
        out.push_str("_TLP:RED indicators are shown to editors and admins only._\n\n");
    }
    if report.indicators.is_empty() {
        out.push_str("_No indicators of compromise were recorded._\n\n");
        return;
    }
    out.push_str("Values are defanged (`hxxp`, `[.]`) so that nobody opens them by accident.\n\n");
    out.push_str("| Type | Indicator | TLP | Confidence | Seen | Source | Notes |\n|---|---|---|---|---|---|---|\n");
    for indicator in &report.indicators {
        let confidence = indicator.confidence.map_or_else(|| "—".to_owned(), |c| c.to_string());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            inline(&indicator.type_text()),
            inline(&indicator.defanged),
            inline(indicator.tlp_text()),
            confidence,
            inline(&indicator.seen_text()),
            or_dash(indicator.source.as_deref()),
            or_dash(indicator.description.as_deref())
        );
    }
    out.push('\n');
}

fn recommendations(out: &mut String, report: &Report) {
    out.push_str("## Recommendations\n\n");
    if report.recommendations.is_empty() {
        out.push_str("_No corrective actions were recorded._\n\n");
        return;
    }
    out.push_str("| Key | Action | Owner | Priority | Due | Status | Verification |\n|---|---|---|---|---|---|---|\n");
    for action in &report.recommendations {
        let status = if action.overdue_days > 0 {
            format!("{} ({} days overdue)", action.status, action.overdue_days)
        } else {
            action.status.clone()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            inline(&action.key),
            inline(&action.title),
            inline(&action.owner),
            inline(&action.priority),
            action.due_date,
            inline(&status),
            inline(&action.verification)
        );
    }
    out.push('\n');
}

fn metrics(out: &mut String, report: &Report) {
    let d = &report.key_durations;
    let _ = write!(
        out,
        "## Metrics\n\n| Handling | |\n|---|---|\n| Detected → contained | {} |\n| Contained → resolved | {} |\n| Detected → resolved | {} |\n| Cost | {} |\n\n",
        duration(d.detection_to_containment.as_ref()),
        duration(d.containment_to_resolution.as_ref()),
        duration(d.detection_to_resolution.as_ref()),
        inline(&report.impact.cost_text()),
    );
    time_spent(out, report);
    let m = &report.metrics;
    let _ = write!(
        out,
        "| Corrective actions | |\n|---|---|\n| Agreed | {} |\n| Done | {} |\n| Done on time | {} |\n| Verified | {} |\n| Open, not yet due | {} |\n| Overdue | {} |\n| Cancelled | {} |\n\n",
        m.actions_total, m.done, m.done_on_time, m.verified, m.open_not_yet_due, m.overdue, m.cancelled
    );
}

fn time_spent(out: &mut String, report: &Report) {
    let t = &report.time_spent;
    if t.entries == 0 {
        out.push_str("_No time spent was recorded._\n\n");
        return;
    }
    out.push_str("| Time spent by phase | |\n|---|---|\n");
    for phase in &t.by_phase {
        let _ = writeln!(out, "| {} | {} |", phase.phase_text(), phase.text);
    }
    let _ = write!(out, "| Total | {} |\n\n| Time spent by person | |\n|---|---|\n", t.total_text);
    for person in &t.by_person {
        let _ = writeln!(out, "| {} | {} |", inline(&person.person), person.text);
    }
    out.push('\n');
}

fn evidence(out: &mut String, report: &Report) {
    out.push_str("### Evidence and chain of custody\n\n");
    if report.evidence.is_empty() {
        out.push_str("_No evidence was recorded._\n\n");
        return;
    }
    out.push_str(
        "| Item | Description | Kind | Stored at | SHA-256 | Collected | Held by |\n|---|---|---|---|---|---|---|\n",
    );
    for item in &report.evidence {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} by {} | {} |",
            item.label,
            inline(&item.description),
            item.kind_text(),
            inline(&item.location),
            or_dash(item.sha256.as_deref()),
            inline(&item.collected_local),
            inline(&item.collected_by),
            inline(&item.holder)
        );
    }
    out.push('\n');
    for item in &report.evidence {
        let _ = write!(
            out,
            "#### Custody of {}\n\n| When | From | To | Purpose | Recorded |\n|---|---|---|---|---|\n",
            item.label
        );
        for entry in &item.custody {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} by {} |",
                inline(&entry.at_local),
                or_dash(entry.from.as_deref()),
                inline(&entry.to),
                inline(&entry.purpose),
                inline(&entry.recorded_local),
                inline(&entry.recorded_by)
            );
        }
        out.push('\n');
    }
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let i = &report.incident;
    let _ = write!(
        out,
        "# {}\n\n_Generated {} · times in {}_\n\n",
        inline(&report.title),
        report.generated_at.format("%Y-%m-%d %H:%M UTC"),
        inline(&report.timezone)
    );

    out.push_str("## Executive summary\n\n");
    let _ = write!(out, "{}\n\n", inline(&report.executive_summary.join(" ")));
    if let Some(summary) = &i.summary {
        let _ = write!(out, "{}\n\n", block(summary));
    }
    out.push_str("| Incident | |\n|---|---|\n");
    for (label, value) in [
        ("Reference", or_dash(i.reference.as_deref())),
        ("Title", inline(&i.title)),
        ("Severity", inline(&i.severity)),
        ("Category", or_dash(i.category.as_deref())),
        ("Status", inline(&i.status)),
        ("Discovered by", or_dash(i.discovered_by.as_deref())),
        ("Detected", or_dash(i.detected_local.as_deref())),
        ("Contained", or_dash(i.contained_local.as_deref())),
        ("Resolved", or_dash(i.resolved_local.as_deref())),
    ] {
        let _ = writeln!(out, "| {label} | {value} |");
    }
    out.push('\n');

    incident_details(&mut out, report);
    phase(&mut out, "Detection and analysis", &report.detection_and_analysis, "detection or analysis");
    phase(
        &mut out,
        "Containment, eradication and recovery",
        &report.containment_eradication_recovery,
        "containment, eradication or recovery",
    );
    impact_assessment(&mut out, report);
    root_cause_analysis(&mut out, report);
    indicators(&mut out, report);
    out.push_str("## Lessons learned\n\n");
    review_line(&mut out, report);
    answers(&mut out, &report.lessons_learned);
    recommendations(&mut out, report);
    metrics(&mut out, report);

    out.push_str("## Appendices\n\n");
    evidence(&mut out, report);
    out.push_str("### Full timeline\n\n");
    timeline_table(&mut out, &report.timeline, "No timeline entries were recorded.");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_user_text_is_escaped() {
        assert_eq!(inline("<script>|x|"), "\\<script\\>\\|x\\|");
        assert_eq!(inline("a\nb"), "a b");
        // GitHub links these by itself; escaped, cmark-gfm leaves them text.
        assert_eq!(inline("see https://evil.example.com"), "see https\\://evil.example.com");
        assert_eq!(inline("see WWW.evil.example.com"), "see WWW\\.evil.example.com");
        assert_eq!(inline("at 10:30, v1.2"), "at 10:30, v1.2");
        assert_eq!(block("**bold**\nnext"), "\\*\\*bold\\*\\*  \nnext");
        assert_eq!(inline("[link](http://x)"), "\\[link\\](http\\://x)");
        assert_eq!(inline("2026-11-02 e-mail"), "2026-11-02 e-mail", "no escapes where nothing could be markup");
        assert_eq!(block("- item\n# title\n1. first"), "\\- item  \n\\# title  \n1\\. first");
        assert_eq!(inline("12500.00 EUR"), "12500.00 EUR", "a number is no list marker");
        assert_eq!(block("x\r## forged\r- item"), "x  \n\\## forged  \n\\- item", "a lone CR ends a line");
        assert_eq!(inline("ww.x é.www.y"), "ww.x é.www\\.y", "only the three letters before a dot count");
    }
}
