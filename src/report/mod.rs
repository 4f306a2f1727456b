//! The final incident report: what happened, how it was handled, what the review concluded and what is
//! being done about it, for readers who were not in the room, in the outline of a complete incident
//! response report (executive summary, incident details, detection and analysis, containment, eradication
//! and recovery, impact, root cause, indicators of compromise, lessons learned, recommendations, metrics,
//! appendices). `Report::build` turns the stored records
//! into the report's content once; `markdown` and `html` only lay that content out, and the API serves
//! the content itself as JSON. Knows nothing of HTTP or SQL.

mod html;
mod markdown;
pub mod stix;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::action::ActionStatus;
use crate::domain::assessment::{Attack, Impact, RootCause};
use crate::domain::effort::{EffortPhase, EffortSummary};
use crate::domain::evidence::{Evidence, EvidenceKind};
use crate::domain::incident::IncidentRecords;
use crate::domain::indicator::{IndicatorType, Tlp};
use crate::domain::review::{ReportSection, Review};
use crate::domain::timeline::TimelineKind;

pub use html::render as render_html;
pub use markdown::render as render_markdown;

/// The final report of one incident.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    /// "Final incident report: SEC-1234 Credential phishing against finance"
    pub title: String,
    pub generated_at: DateTime<Utc>,
    /// The time zone the report's local times are given in (the server's TIMEZONE).
    pub timezone: String,
    pub incident: ReportIncident,
    /// A few plain sentences for readers who read nothing else.
    pub executive_summary: Vec<String>,
    pub key_durations: KeyDurations,
    /// How the attacker got in and what they did (the incident details).
    pub attack: Attack,
    /// The whole timeline, in the order things happened (an appendix).
    pub timeline: Vec<ReportTimelineEntry>,
    /// The review the findings come from: the latest held one, else the latest planned.
    pub review: Option<ReportReview>,
    /// What happened and how it was found: the review's answers and the detection and analysis entries of
    /// the timeline.
    pub detection_and_analysis: ReportPhase,
    /// How it was stopped and recovered from: the review's answers and the containment, eradication and
    /// recovery entries of the timeline.
    pub containment_eradication_recovery: ReportPhase,
    pub impact: ReportImpact,
    pub root_cause: RootCause,
    /// In order of type, then value; TLP:RED ones only for readers who may see them.
    pub indicators: Vec<ReportIndicator>,
    /// Whether TLP:RED indicators were left out because the reader may not see them.
    pub red_indicators_withheld: bool,
    /// The corrective actions.
    pub recommendations: Vec<ReportAction>,
    /// The review's answers about how the team did and what to keep and what to change.
    pub lessons_learned: Vec<ReportAnswer>,
    pub metrics: ReportMetrics,
    /// The team's recorded work on the incident.
    pub time_spent: ReportTimeSpent,
    /// The evidence appendix: every item in the order collected, with its chain of custody.
    pub evidence: Vec<ReportEvidence>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportIncident {
    pub id: uuid::Uuid,
    pub reference: Option<String>,
    pub title: String,
    pub summary: Option<String>,
    pub severity: String,
    pub category: Option<String>,
    pub status: String,
    pub discovered_by: Option<String>,
    pub detected_at: Option<DateTime<Utc>>,
    pub contained_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The three times above in the report's time zone, for reading ("2026-11-02 09:15 CET").
    pub detected_local: Option<String>,
    pub contained_local: Option<String>,
    pub resolved_local: Option<String>,
}

/// The impact as recorded, with its times and durations for reading.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportImpact {
    #[serde(flatten)]
    pub recorded: Impact,
    /// The notification deadline in the report's time zone.
    pub notification_deadline_local: Option<String>,
    /// The downtime for reading: "4 h".
    pub downtime_text: Option<String>,
}

/// Detected → contained → resolved.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyDurations {
    pub detection_to_containment: Option<ReportDuration>,
    pub containment_to_resolution: Option<ReportDuration>,
    pub detection_to_resolution: Option<ReportDuration>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportDuration {
    pub seconds: i64,
    /// For reading: "3 h 25 min", "2 d 4 h".
    pub text: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportTimelineEntry {
    pub occurred_at: DateTime<Utc>,
    pub occurred_local: String,
    pub kind: TimelineKind,
    pub source: Option<String>,
    pub description: String,
}

/// One phase of the handling: the review's answers about it, and what the timeline says happened in it.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ReportPhase {
    pub answers: Vec<ReportAnswer>,
    pub timeline: Vec<ReportTimelineEntry>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportIndicator {
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    pub value: String,
    /// The value as the Markdown and HTML reports print it, so nobody clicks it: `hxxps[://]evil[.]example`.
    pub defanged: String,
    pub tlp: Tlp,
    pub confidence: Option<u8>,
    pub first_seen_local: Option<String>,
    pub last_seen_local: Option<String>,
    pub source: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportReview {
    pub status: String,
    pub held_at: Option<DateTime<Utc>>,
    pub held_local: Option<String>,
    pub facilitator: Option<String>,
    /// "Name (role)" or the address when no name is known.
    pub attendees: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportAnswer {
    pub key: String,
    pub question: String,
    pub answer: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportAction {
    pub key: String,
    pub title: String,
    pub owner: String,
    pub priority: String,
    pub due_date: NaiveDate,
    pub status: String,
    pub overdue_days: i64,
    pub completed_on: Option<NaiveDate>,
    /// "Verified by sam@example.com on 2026-12-02", or "Not verified".
    pub verification: String,
    pub verified: bool,
}

/// The sums of the effort entries: in all, per phase (every phase, in handling order) and per person (most
/// time first).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportTimeSpent {
    pub entries: usize,
    pub total_minutes: i64,
    /// "26 h 30 min": work time is counted in hours, not in days.
    pub total_text: String,
    pub by_phase: Vec<ReportPhaseTime>,
    pub by_person: Vec<ReportPersonTime>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportPhaseTime {
    pub phase: EffortPhase,
    pub minutes: i64,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportPersonTime {
    pub person: String,
    pub minutes: i64,
    pub text: String,
}

/// One item of evidence with its chain of custody.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportEvidence {
    pub id: uuid::Uuid,
    /// "E1", "E2", … in the order collected: how the report's text refers to an item.
    pub label: String,
    pub description: String,
    pub kind: EvidenceKind,
    /// Where the item is stored (a URI); the report never links it.
    pub location: String,
    pub sha256: Option<String>,
    pub collected_by: String,
    pub collected_local: String,
    /// Who holds the item now: the receiver of the latest hand-over, or before any, the collector.
    pub holder: String,
    pub custody: Vec<ReportCustody>,
}

/// One entry of a chain of custody, as recorded (corrections are entries of their own).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportCustody {
    pub at_local: String,
    /// Nobody for the collection.
    pub from: Option<String>,
    pub to: String,
    pub purpose: String,
    pub recorded_by: String,
    pub recorded_local: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct ReportMetrics {
    pub actions_total: usize,
    pub done: usize,
    /// Done no later than their due date (in the report's time zone).
    pub done_on_time: usize,
    pub verified: usize,
    pub overdue: usize,
    /// Open, in progress or blocked, and not overdue: due today or later.
    pub open_not_yet_due: usize,
    pub cancelled: usize,
}

impl Report {
    pub fn build(records: &IncidentRecords, timezone: Tz, today: NaiveDate, generated_at: DateTime<Utc>) -> Self {
        let local = |time: DateTime<Utc>| time.with_timezone(&timezone).format("%Y-%m-%d %H:%M %Z").to_string();
        let f = &records.incident.fields;
        let incident = ReportIncident {
            id: records.incident.id,
            reference: f.reference.as_ref().map(|r| r.as_str().to_owned()),
            title: f.title.to_string(),
            summary: f.summary.as_ref().map(ToString::to_string),
            severity: <&str>::from(f.severity).to_owned(),
            category: f.category.as_ref().map(ToString::to_string),
            status: <&str>::from(f.status).to_owned(),
            discovered_by: f.discovered_by.as_ref().map(ToString::to_string),
            detected_at: f.detected_at,
            contained_at: f.contained_at,
            resolved_at: f.resolved_at,
            detected_local: f.detected_at.map(local),
            contained_local: f.contained_at.map(local),
            resolved_local: f.resolved_at.map(local),
        };
        let between = |from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>| match (from, to) {
            (Some(from), Some(to)) if to >= from => Some(ReportDuration::new((to - from).num_seconds())),
            _ => None,
        };
        let key_durations = KeyDurations {
            detection_to_containment: between(f.detected_at, f.contained_at),
            containment_to_resolution: between(f.contained_at, f.resolved_at),
            detection_to_resolution: between(f.detected_at, f.resolved_at),
        };
        let timeline: Vec<ReportTimelineEntry> = records
            .timeline
            .iter()
            .map(|entry| ReportTimelineEntry {
                occurred_at: entry.fields.occurred_at,
                occurred_local: local(entry.fields.occurred_at),
                kind: entry.fields.kind,
                source: entry.fields.source.as_ref().map(ToString::to_string),
                description: entry.fields.description.to_string(),
            })
            .collect();
        let in_phase = |kinds: &[TimelineKind]| -> Vec<ReportTimelineEntry> {
            timeline.iter().filter(|entry| kinds.contains(&entry.kind)).cloned().collect()
        };
        let mut indicators: Vec<ReportIndicator> = records
            .indicators
            .iter()
            .map(|indicator| {
                let f = &indicator.fields;
                ReportIndicator {
                    kind: f.value.kind(),
                    value: f.value.as_str().to_owned(),
                    defanged: f.value.defanged(),
                    tlp: f.tlp,
                    confidence: f.confidence.map(|c| c.get()),
                    first_seen_local: f.first_seen.map(local),
                    last_seen_local: f.last_seen.map(local),
                    source: f.source.as_ref().map(ToString::to_string),
                    description: f.description.as_ref().map(ToString::to_string),
                }
            })
            .collect();
        indicators.sort_by(|a, b| (a.kind, &a.value).cmp(&(b.kind, &b.value)));
        let chosen = chosen_review(&records.reviews);
        let answers = |section: ReportSection| -> Vec<ReportAnswer> {
            chosen
                .map(|review| {
                    review
                        .fields
                        .answers
                        .iter()
                        .filter(|(question, _)| question.section() == section)
                        .map(|(question, answer)| ReportAnswer {
                            key: question.key().to_owned(),
                            question: question.text().to_owned(),
                            answer: answer.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let review = chosen.map(|review| ReportReview {
            status: <&str>::from(review.fields.status).to_owned(),
            held_at: review.fields.held_at,
            held_local: review.fields.held_at.map(local),
            facilitator: review.fields.facilitator_email.as_ref().map(ToString::to_string),
            attendees: review
                .fields
                .attendees
                .iter()
                .map(|a| {
                    let who = a.name.as_ref().map_or_else(|| a.email.to_string(), ToString::to_string);
                    match &a.role {
                        Some(role) => format!("{who} ({role})"),
                        None => who,
                    }
                })
                .collect(),
        });
        let mut metrics = ReportMetrics { actions_total: records.actions.len(), ..Default::default() };
        let recommendations = records
            .actions
            .iter()
            .map(|action| {
                let a = &action.fields;
                let completed_on = action.completed_at.map(|t| t.with_timezone(&timezone).date_naive());
                let overdue_days = action.days_overdue(today);
                match a.status {
                    ActionStatus::Done => {
                        metrics.done += 1;
                        if completed_on.is_some_and(|day| day <= a.due_date) {
                            metrics.done_on_time += 1;
                        }
                    }
                    ActionStatus::Cancelled => metrics.cancelled += 1,
                    _ if overdue_days > 0 => metrics.overdue += 1,
                    _ => metrics.open_not_yet_due += 1,
                }
                if action.verification.is_some() {
                    metrics.verified += 1;
                }
                ReportAction {
                    key: action.key(),
                    title: a.title.to_string(),
                    owner: a.owner_name.as_ref().map_or_else(|| a.owner_email.to_string(), ToString::to_string),
                    priority: <&str>::from(a.priority).to_owned(),
                    due_date: a.due_date,
                    status: <&str>::from(a.status).replace('_', " "),
                    overdue_days,
                    completed_on,
                    verification: match &action.verification {
                        Some(v) => format!("Verified by {} on {}", v.by, v.at.with_timezone(&timezone).date_naive()),
                        None => "Not verified".to_owned(),
                    },
                    verified: action.verification.is_some(),
                }
            })
            .collect();
        let title = match &incident.reference {
            Some(reference) => format!("Final incident report: {reference} {}", incident.title),
            None => format!("Final incident report: {}", incident.title),
        };
        let time_spent = ReportTimeSpent::of(&records.effort);
        let evidence =
            records.evidence.iter().enumerate().map(|(at, item)| ReportEvidence::of(at, item, &local)).collect();
        let executive_summary = summary(&incident, &key_durations, review.as_ref(), &metrics, &time_spent);
        Report {
            title,
            generated_at,
            timezone: timezone.name().to_owned(),
            incident,
            executive_summary,
            key_durations,
            attack: f.attack.clone(),
            impact: ReportImpact {
                recorded: f.impact.clone(),
                notification_deadline_local: f.impact.notification.and_then(|n| n.deadline).map(local),
                downtime_text: f.impact.downtime_minutes.map(|m| ReportDuration::new(m.get().saturating_mul(60)).text),
            },
            root_cause: f.root_cause.clone(),
            detection_and_analysis: ReportPhase {
                answers: answers(ReportSection::DetectionAndAnalysis),
                timeline: in_phase(&[TimelineKind::Detection, TimelineKind::Analysis]),
            },
            containment_eradication_recovery: ReportPhase {
                answers: answers(ReportSection::ContainmentEradicationRecovery),
                timeline: in_phase(&[TimelineKind::Containment, TimelineKind::Eradication, TimelineKind::Recovery]),
            },
            indicators,
            red_indicators_withheld: !records.indicators_with_red,
            timeline,
            review,
            recommendations,
            lessons_learned: answers(ReportSection::LessonsLearned),
            metrics,
            time_spent,
            evidence,
        }
    }
}

/// The latest held (or completed) review; without one, the latest planned.
fn chosen_review(reviews: &[Review]) -> Option<&Review> {
    reviews
        .iter()
        .filter(|r| r.fields.status.is_held())
        .max_by_key(|r| (r.fields.held_at, r.created_at))
        .or_else(|| reviews.iter().max_by_key(|r| r.created_at))
}

fn summary(
    incident: &ReportIncident,
    durations: &KeyDurations,
    review: Option<&ReportReview>,
    metrics: &ReportMetrics,
    time_spent: &ReportTimeSpent,
) -> Vec<String> {
    let mut sentences = Vec::new();
    let kind = incident.category.as_deref().map_or_else(|| "security incident".to_owned(), |c| format!("{c} incident"));
    let mut opening = format!("A {} severity {kind}", incident.severity);
    match &incident.detected_local {
        Some(detected) => opening.push_str(&format!(" was detected on {detected}")),
        None => opening.push_str(" was recorded"),
    }
    if let Some(by) = &incident.discovered_by {
        opening.push_str(&format!(" by {by}"));
    }
    opening.push('.');
    sentences.push(opening);
    match (&durations.detection_to_containment, &durations.detection_to_resolution) {
        (Some(contain), Some(resolve)) => sentences.push(format!(
            "It was contained {} after detection and resolved {} after detection.",
            contain.text, resolve.text
        )),
        (Some(contain), None) => sentences.push(format!("It was contained {} after detection.", contain.text)),
        (None, Some(resolve)) => sentences.push(format!("It was resolved {} after detection.", resolve.text)),
        (None, None) => {}
    }
    sentences.push(format!("Its status is {}.", incident.status));
    if time_spent.total_minutes > 0 {
        sentences.push(format!("The team recorded {} of work on it.", time_spent.total_text));
    }
    match review {
        Some(ReportReview { held_local: Some(held), .. }) => {
            sentences.push(format!("The lessons-learned review was held on {held}."))
        }
        Some(_) => sentences.push("The lessons-learned review is planned but not yet held.".to_owned()),
        None => sentences.push("No lessons-learned review has been recorded yet.".to_owned()),
    }
    if metrics.actions_total > 0 {
        sentences.push(format!(
            "{} corrective action{} agreed: {} done ({} on time, {} verified), {} open and not yet due, {} overdue, {} \
             cancelled.",
            metrics.actions_total,
            if metrics.actions_total == 1 { " was" } else { "s were" },
            metrics.done,
            metrics.done_on_time,
            metrics.verified,
            metrics.open_not_yet_due,
            metrics.overdue,
            metrics.cancelled
        ));
    } else {
        sentences.push("No corrective actions have been recorded.".to_owned());
    }
    sentences
}

/// An enumeration's name for reading: `personal_data` → "personal data".
pub fn words(name: impl Into<&'static str>) -> String {
    name.into().replace('_', " ")
}

/// What an unknown or unrecorded value reads as.
const UNKNOWN: &str = "unknown";

impl ReportImpact {
    pub fn data_exposed_text(&self) -> String {
        match self.recorded.data_exposed.as_slice() {
            [] => "none recorded".to_owned(),
            categories => categories.iter().map(|c| words(*c)).collect::<Vec<_>>().join(", "),
        }
    }

    pub fn records_exposed_text(&self) -> String {
        self.recorded.records_exposed.map_or_else(|| UNKNOWN.to_owned(), |n| n.get().to_string())
    }

    pub fn people_affected_text(&self) -> String {
        self.recorded.people_affected.map_or_else(|| UNKNOWN.to_owned(), |n| n.get().to_string())
    }

    pub fn downtime(&self) -> String {
        self.downtime_text.clone().unwrap_or_else(|| UNKNOWN.to_owned())
    }

    pub fn cost_text(&self) -> String {
        self.recorded
            .cost
            .map_or_else(|| UNKNOWN.to_owned(), |cost| format!("{} {}", cost.amount(), cost.currency_code()))
    }

    /// "To the regulator, by 2026-11-05 09:15 CET", "None owed", or "Not assessed".
    pub fn notification_text(&self) -> String {
        let Some(n) = self.recorded.notification else { return "not assessed".to_owned() };
        let whom = match (n.regulator, n.customers) {
            (true, true) => "to the regulator and to customers",
            (true, false) => "to the regulator",
            (false, true) => "to customers",
            (false, false) => return "none owed".to_owned(),
        };
        match &self.notification_deadline_local {
            Some(deadline) => format!("{whom}, by {deadline}"),
            None => whom.to_owned(),
        }
    }
}

/// The attack vector for reading, or "unknown".
pub fn vector_text(attack: &Attack) -> String {
    attack.vector.map_or_else(|| UNKNOWN.to_owned(), words)
}

/// The root cause's category for reading, or "unknown".
pub fn category_text(root_cause: &RootCause) -> String {
    root_cause.category.map_or_else(|| UNKNOWN.to_owned(), words)
}

impl ReportTimelineEntry {
    pub fn phase(&self) -> &'static str {
        self.kind.into()
    }
}

impl ReportIndicator {
    pub fn type_text(&self) -> String {
        words(self.kind)
    }

    pub fn tlp_text(&self) -> &'static str {
        self.tlp.label()
    }

    /// "2026-11-02 08:01 UTC – 2026-11-02 11:30 UTC", one side or "—".
    pub fn seen_text(&self) -> String {
        match (&self.first_seen_local, &self.last_seen_local) {
            (None, None) => "—".to_owned(),
            (first, last) => format!("{} – {}", first.as_deref().unwrap_or("?"), last.as_deref().unwrap_or("?")),
        }
    }
}

impl ReportTimeSpent {
    fn of(entries: &[crate::domain::effort::EffortEntry]) -> Self {
        let summary = EffortSummary::of(entries);
        Self {
            entries: entries.len(),
            total_minutes: summary.total_minutes,
            total_text: work_time(summary.total_minutes),
            by_phase: summary
                .by_phase
                .into_iter()
                .map(|(phase, minutes)| ReportPhaseTime { phase, minutes, text: work_time(minutes) })
                .collect(),
            by_person: summary
                .by_person
                .into_iter()
                .map(|(person, minutes)| ReportPersonTime {
                    person: person.to_string(),
                    minutes,
                    text: work_time(minutes),
                })
                .collect(),
        }
    }
}

impl ReportPhaseTime {
    pub fn phase_text(&self) -> String {
        words(self.phase)
    }
}

impl ReportEvidence {
    fn of(at: usize, item: &Evidence, local: &impl Fn(DateTime<Utc>) -> String) -> Self {
        let f = &item.fields;
        Self {
            id: item.id,
            label: format!("E{}", at + 1),
            description: f.description.to_string(),
            kind: f.kind,
            location: f.location.as_str().to_owned(),
            sha256: f.sha256.as_ref().map(|h| h.as_str().to_owned()),
            collected_by: f.collected_by.to_string(),
            collected_local: local(f.collected_at),
            holder: item.current_holder().to_string(),
            custody: item
                .custody
                .iter()
                .map(|entry| ReportCustody {
                    at_local: local(entry.transfer.at),
                    from: entry.transfer.from.as_ref().map(ToString::to_string),
                    to: entry.transfer.to.to_string(),
                    purpose: entry.transfer.purpose.to_string(),
                    recorded_by: entry.recorded_by.clone(),
                    recorded_local: local(entry.recorded_at),
                })
                .collect(),
        }
    }

    pub fn kind_text(&self) -> String {
        words(self.kind)
    }
}

/// Work time in hours and minutes ("45 min", "3 h", "26 h 30 min"): a day of work is not 24 hours.
fn work_time(minutes: i64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

impl ReportDuration {
    fn new(seconds: i64) -> Self {
        let minutes = seconds / 60;
        let (days, hours, mins) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
        let text = match (days, hours, mins) {
            (0, 0, m) => format!("{m} min"),
            (0, h, 0) => format!("{h} h"),
            (0, h, m) => format!("{h} h {m} min"),
            (d, 0, _) => format!("{d} d"),
            (d, h, _) => format!("{d} d {h} h"),
        };
        Self { seconds, text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(ReportDuration::new(45 * 60).text, "45 min");
        assert_eq!(ReportDuration::new(3 * 3600).text, "3 h");
        assert_eq!(ReportDuration::new(3 * 3600 + 25 * 60).text, "3 h 25 min");
        assert_eq!(ReportDuration::new(2 * 86_400 + 4 * 3600 + 59).text, "2 d 4 h");
    }

    #[test]
    fn work_time_is_counted_in_hours() {
        assert_eq!(work_time(0), "0 min");
        assert_eq!(work_time(45), "45 min");
        assert_eq!(work_time(180), "3 h");
        assert_eq!(work_time(26 * 60 + 30), "26 h 30 min");
    }
}
