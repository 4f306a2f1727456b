//! Incidents: the security incident a lessons-learned review and its corrective actions belong to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use serde_json::json;

use super::action::Action;
use super::assessment::{Attack, AttackPatch, Impact, ImpactPatch, RootCause, RootCausePatch, apply_group};
use super::audit::Snapshot;
use super::review::Review;
use super::text::{LongText, ShortText, Title};
use super::timeline::TimelineEntry;
use super::{FieldError, FieldErrors, Patch};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::EnumString, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
/// How bad the incident is.
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::EnumString, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
/// Where the incident stands: open, contained (spread stopped), resolved (recovered), closed (review done).
pub enum IncidentStatus {
    Open,
    Contained,
    Resolved,
    Closed,
}

/// An external reference such as a ticket key ("SEC-1234"): unique among incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference(String);

impl Reference {
    const MAX: usize = 100;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        let valid_char = |c: char| c.is_ascii_alphanumeric() || "-_.:/#".contains(c);
        if value.is_empty() || value.len() > Self::MAX || !value.chars().all(valid_char) {
            return Err(FieldError::new(
                field,
                format!("must be 1 to {} letters, digits or - _ . : / # (e.g. SEC-1234)", Self::MAX),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How far ahead of our clock a client's may run: a milestone time up to this far in the future is
/// taken as "now" on their clock, not as a time still to come.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// Which milestone times a patch sets (or clears) itself.
#[derive(Debug, Clone, Copy)]
struct MilestonesSent {
    contained: bool,
    resolved: bool,
}

/// What a client may set on an incident; everything else is the server's.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentFields {
    pub reference: Option<Reference>,
    pub title: Title,
    pub summary: Option<LongText>,
    pub severity: Severity,
    pub category: Option<ShortText>,
    pub status: IncidentStatus,
    pub detected_at: Option<DateTime<Utc>>,
    pub contained_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub discovered_by: Option<ShortText>,
    pub impact: Impact,
    pub root_cause: RootCause,
    pub attack: Attack,
}

/// A partial change to an incident (merge-patch): absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct IncidentPatch {
    pub reference: Patch<Reference>,
    pub title: Option<Title>,
    pub summary: Patch<LongText>,
    pub severity: Option<Severity>,
    pub category: Patch<ShortText>,
    pub status: Option<IncidentStatus>,
    pub detected_at: Patch<DateTime<Utc>>,
    pub contained_at: Patch<DateTime<Utc>>,
    pub resolved_at: Patch<DateTime<Utc>>,
    pub discovered_by: Patch<ShortText>,
    pub impact: Patch<ImpactPatch>,
    pub root_cause: Patch<RootCausePatch>,
    pub attack: Patch<AttackPatch>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: Uuid,
    pub fields: IncidentFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
    /// A review of it was held (or completed): it no longer waits for its lessons-learned meeting.
    pub review_held: bool,
}

impl Incident {
    /// The day its lessons-learned review is due: `due_days` after the (local) day it was resolved.
    pub fn review_due_date(&self, timezone: chrono_tz::Tz, due_days: i64) -> Option<chrono::NaiveDate> {
        let resolved = self.fields.resolved_at?.with_timezone(&timezone).date_naive();
        resolved.checked_add_signed(chrono::Duration::days(due_days))
    }

    /// Resolved, not reviewed, and past the review's due date on `today`.
    pub fn review_overdue(&self, timezone: chrono_tz::Tz, due_days: i64, today: chrono::NaiveDate) -> bool {
        !self.review_held && self.review_due_date(timezone, due_days).is_some_and(|due| due < today)
    }

    /// The client-visible fields, as the audit history records them.
    pub fn audit_snapshot(&self) -> Snapshot {
        let f = &self.fields;
        let text = |t: &Option<ShortText>| json!(t.as_ref().map(ShortText::as_str));
        Snapshot::from([
            ("reference", json!(f.reference.as_ref().map(Reference::as_str))),
            ("title", json!(f.title.as_str())),
            ("summary", json!(f.summary.as_ref().map(LongText::as_str))),
            ("severity", json!(f.severity)),
            ("category", text(&f.category)),
            ("status", json!(f.status)),
            ("detected_at", json!(f.detected_at)),
            ("contained_at", json!(f.contained_at)),
            ("resolved_at", json!(f.resolved_at)),
            ("discovered_by", text(&f.discovered_by)),
            ("impact", json!(f.impact)),
            ("root_cause", json!(f.root_cause)),
            ("attack", json!(f.attack)),
        ])
    }
}

impl IncidentFields {
    /// The fields of a new incident, with the milestone of its status stamped if the client left it out.
    pub fn settle_new(mut self, now: DateTime<Utc>) -> Result<Self, FieldErrors> {
        self.stamp_milestone(now);
        self.check_milestones(None, now)?;
        Ok(self)
    }

    pub fn apply(&self, patch: IncidentPatch, now: DateTime<Utc>) -> Result<Self, FieldErrors> {
        let times_sent = MilestonesSent {
            contained: !matches!(patch.contained_at, Patch::Absent),
            resolved: !matches!(patch.resolved_at, Patch::Absent),
        };
        let mut next = Self {
            reference: patch.reference.apply_to(self.reference.clone()),
            title: patch.title.unwrap_or_else(|| self.title.clone()),
            summary: patch.summary.apply_to(self.summary.clone()),
            severity: patch.severity.unwrap_or(self.severity),
            category: patch.category.apply_to(self.category.clone()),
            status: patch.status.unwrap_or(self.status),
            detected_at: patch.detected_at.apply_to(self.detected_at),
            contained_at: patch.contained_at.apply_to(self.contained_at),
            resolved_at: patch.resolved_at.apply_to(self.resolved_at),
            discovered_by: patch.discovered_by.apply_to(self.discovered_by.clone()),
            impact: apply_group(patch.impact, self.impact.clone(), ImpactPatch::apply),
            root_cause: apply_group(patch.root_cause, self.root_cause.clone(), RootCausePatch::apply),
            attack: apply_group(patch.attack, self.attack.clone(), AttackPatch::apply),
        };
        if next.status != self.status {
            next.forget_unreached_milestones(times_sent);
            next.stamp_milestone(now);
        }
        next.check_milestones(Some(self), now)?;
        Ok(next)
    }

    // A reopened incident (resolved back to open or contained, contained back to open) has not reached
    // the later milestones any more; keeping their old times would make the durations in the report wrong
    // and the next milestone's stamp land before them. Times the patch itself sets are kept.
    fn forget_unreached_milestones(&mut self, sent: MilestonesSent) {
        let (contained, resolved) = match self.status {
            IncidentStatus::Open => (false, false),
            IncidentStatus::Contained => (true, false),
            IncidentStatus::Resolved | IncidentStatus::Closed => (true, true),
        };
        if !contained && !sent.contained {
            self.contained_at = None;
        }
        if !resolved && !sent.resolved {
            self.resolved_at = None;
        }
    }

    // Reaching "contained" or "resolved" is a milestone; when the client does not say when it happened,
    // the moment it is recorded is the best estimate, and the durations in reports depend on it.
    fn stamp_milestone(&mut self, now: DateTime<Utc>) {
        match self.status {
            IncidentStatus::Open => {}
            IncidentStatus::Contained => {
                self.contained_at.get_or_insert(now);
            }
            IncidentStatus::Resolved | IncidentStatus::Closed => {
                self.resolved_at.get_or_insert(now);
            }
        }
    }

    /// Milestones come in order and have happened: a time later than now (give or take `CLOCK_SKEW`
    /// between the client's clock and ours) is refused when it is set, so that a stamp of "now" for the
    /// next milestone cannot fall before it. `before` is the incident as stored, whose times stand.
    fn check_milestones(&self, before: Option<&Self>, now: DateTime<Utc>) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        let latest = now + CLOCK_SKEW;
        let times = [
            ("detected_at", self.detected_at, before.and_then(|b| b.detected_at)),
            ("contained_at", self.contained_at, before.and_then(|b| b.contained_at)),
            ("resolved_at", self.resolved_at, before.and_then(|b| b.resolved_at)),
        ];
        for (field, time, stored) in times {
            if time.is_some_and(|t| t > latest) && time != stored {
                errors.push(FieldError::new(field, "must not be in the future"));
            }
        }
        errors.into_result()?;
        self.check_milestone_order()
    }

    fn check_milestone_order(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        let before = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| matches!((a, b), (Some(a), Some(b)) if b < a);
        if before(self.detected_at, self.contained_at) {
            errors.push(FieldError::new("contained_at", "must not be before detected_at"));
        }
        if before(self.detected_at, self.resolved_at) || before(self.contained_at, self.resolved_at) {
            errors.push(FieldError::new("resolved_at", "must not be before detected_at or contained_at"));
        }
        errors.into_result()
    }
}

/// Everything stored about one incident that its final report draws on, read together so it is
/// consistent.
#[derive(Debug, Clone)]
pub struct IncidentRecords {
    pub incident: Incident,
    pub timeline: Vec<TimelineEntry>,
    pub reviews: Vec<Review>,
    pub actions: Vec<Action>,
    /// In order of value; without the TLP:RED ones unless `indicators_with_red`.
    pub indicators: Vec<super::indicator::Indicator>,
    pub indicators_with_red: bool,
    /// In the order collected, each with its chain of custody.
    pub evidence: Vec<super::evidence::Evidence>,
    pub effort: Vec<super::effort::EffortEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fields() -> IncidentFields {
        IncidentFields {
            reference: None,
            title: Title::parse("title", "Phishing").unwrap(),
            summary: None,
            severity: Severity::High,
            category: None,
            status: IncidentStatus::Open,
            detected_at: Some(Utc.with_ymd_and_hms(2026, 1, 10, 8, 0, 0).unwrap()),
            contained_at: None,
            resolved_at: None,
            discovered_by: None,
            impact: Impact::default(),
            root_cause: RootCause::default(),
            attack: Attack::default(),
        }
    }

    #[test]
    fn resolving_without_a_time_stamps_now() {
        let now = Utc.with_ymd_and_hms(2026, 1, 12, 9, 0, 0).unwrap();
        let patch = IncidentPatch { status: Some(IncidentStatus::Resolved), ..Default::default() };
        let next = fields().apply(patch, now).unwrap();
        assert_eq!(next.resolved_at, Some(now));
        assert_eq!(next.contained_at, None);
    }

    #[test]
    fn containment_before_detection_is_refused() {
        let now = Utc.with_ymd_and_hms(2026, 1, 12, 9, 0, 0).unwrap();
        let early = Utc.with_ymd_and_hms(2026, 1, 9, 0, 0, 0).unwrap();
        let patch = IncidentPatch { contained_at: Patch::Value(early), ..Default::default() };
        let errors = fields().apply(patch, now).unwrap_err();
        assert_eq!(errors.iter().next().unwrap().field, "contained_at");
    }

    #[test]
    fn reopening_forgets_the_milestones_not_reached_any_more() {
        let resolved_then = Utc.with_ymd_and_hms(2026, 1, 11, 9, 0, 0).unwrap();
        let resolved = fields()
            .apply(IncidentPatch { status: Some(IncidentStatus::Resolved), ..Default::default() }, resolved_then)
            .unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 12, 9, 0, 0).unwrap();
        let back = IncidentPatch { status: Some(IncidentStatus::Contained), ..Default::default() };
        let contained = resolved.apply(back, now).unwrap();
        assert_eq!((contained.contained_at, contained.resolved_at), (Some(now), None));
        let reopened = contained.apply(IncidentPatch { status: Some(IncidentStatus::Open), ..Default::default() }, now);
        assert_eq!(reopened.unwrap().contained_at, None);
    }

    #[test]
    fn milestones_in_the_future_are_refused_beyond_clock_skew() {
        let now = Utc.with_ymd_and_hms(2026, 1, 12, 9, 0, 0).unwrap();
        let detected = |at| IncidentFields { detected_at: Some(at), ..fields() }.settle_new(now);
        assert!(detected(now + chrono::Duration::minutes(4)).is_ok(), "a client clock a little ahead");
        let errors = detected(now + chrono::Duration::hours(1)).unwrap_err();
        assert_eq!(errors.iter().next().unwrap().field, "detected_at");
    }
}
