//! The time the team spent on an incident: entries per person and incident-handling phase, in whole
//! minutes, so "how much time does an incident cost us" has an answer.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::Snapshot;
use super::email::EmailAddress;
use super::text::LongText;
use super::{FieldError, Patch};

/// Entries per incident: the list comes whole with its sums.
pub const MAX_ENTRIES_PER_INCIDENT: i64 = 2000;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
/// The incident-handling phase (NIST SP 800-61) the time went to.
pub enum EffortPhase {
    Detection,
    Analysis,
    Containment,
    Eradication,
    Recovery,
    PostIncident,
}

impl EffortPhase {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        raw.parse().map_err(|_| {
            FieldError::new(
                field,
                "must be one of detection, analysis, containment, eradication, recovery or post_incident",
            )
        })
    }
}

/// Whole minutes, 1 to a week: one entry longer than a week is several entries, or a typing error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Minutes(i64);

impl Minutes {
    pub const MAX: i64 = 7 * 24 * 60;

    pub fn parse(field: &str, minutes: i64) -> Result<Self, FieldError> {
        if (1..=Self::MAX).contains(&minutes) {
            Ok(Self(minutes))
        } else {
            Err(FieldError::new(field, format!("must be a whole number of minutes from 1 to {} (a week)", Self::MAX)))
        }
    }

    pub(crate) fn from_stored(minutes: i64) -> Self {
        Self(minutes)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EffortFields {
    pub person: EmailAddress,
    pub phase: EffortPhase,
    pub minutes: Minutes,
    /// The day the work was done, when the entry says.
    pub performed_on: Option<NaiveDate>,
    pub note: Option<LongText>,
}

#[derive(Debug, Clone, Default)]
pub struct EffortPatch {
    pub person: Option<EmailAddress>,
    pub phase: Option<EffortPhase>,
    pub minutes: Option<Minutes>,
    pub performed_on: Patch<NaiveDate>,
    pub note: Patch<LongText>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EffortEntry {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub fields: EffortFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl EffortFields {
    pub fn apply(&self, patch: EffortPatch) -> Self {
        Self {
            person: patch.person.unwrap_or_else(|| self.person.clone()),
            phase: patch.phase.unwrap_or(self.phase),
            minutes: patch.minutes.unwrap_or(self.minutes),
            performed_on: patch.performed_on.apply_to(self.performed_on),
            note: patch.note.apply_to(self.note.clone()),
        }
    }
}

impl EffortEntry {
    pub fn audit_snapshot(&self) -> Snapshot {
        let f = &self.fields;
        Snapshot::from([
            ("incident_id", json!(self.incident_id)),
            ("person", json!(f.person.as_str())),
            ("phase", json!(f.phase)),
            ("minutes", json!(f.minutes.get())),
            ("performed_on", json!(f.performed_on)),
            ("note", json!(f.note.as_ref().map(LongText::as_str))),
        ])
    }
}

/// The sums of an incident's entries: in all, per phase (every phase, none spent is 0) and per person
/// (most time first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffortSummary {
    pub total_minutes: i64,
    pub by_phase: BTreeMap<EffortPhase, i64>,
    pub by_person: Vec<(EmailAddress, i64)>,
}

impl EffortSummary {
    pub fn of(entries: &[EffortEntry]) -> Self {
        use strum::VariantArray;
        let mut by_phase: BTreeMap<EffortPhase, i64> = EffortPhase::VARIANTS.iter().map(|p| (*p, 0)).collect();
        let mut people: BTreeMap<&str, (&EmailAddress, i64)> = BTreeMap::new();
        for entry in entries {
            let minutes = entry.fields.minutes.get();
            *by_phase.entry(entry.fields.phase).or_default() += minutes;
            people.entry(entry.fields.person.as_str()).or_insert((&entry.fields.person, 0)).1 += minutes;
        }
        let mut by_person: Vec<(EmailAddress, i64)> =
            people.into_values().map(|(person, minutes)| (person.clone(), minutes)).collect();
        // Stable for equal sums: the people stay in address order.
        by_person.sort_by_key(|(_, minutes)| std::cmp::Reverse(*minutes));
        Self { total_minutes: by_phase.values().sum(), by_phase, by_person }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_are_one_to_a_week() {
        assert!(Minutes::parse("minutes", 1).is_ok());
        assert!(Minutes::parse("minutes", 10_080).is_ok());
        for bad in [0, -5, 10_081, i64::MAX] {
            assert!(Minutes::parse("minutes", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_summary_adds_up_per_phase_and_person() {
        let entry = |person: &str, phase, minutes| EffortEntry {
            id: Uuid::now_v7(),
            incident_id: Uuid::nil(),
            fields: EffortFields {
                person: EmailAddress::parse("person", person).unwrap(),
                phase,
                minutes: Minutes::parse("minutes", minutes).unwrap(),
                performed_on: None,
                note: None,
            },
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
            created_by: "t".into(),
            updated_by: "t".into(),
        };
        let summary = EffortSummary::of(&[
            entry("b@example.com", EffortPhase::Analysis, 30),
            entry("a@example.com", EffortPhase::Analysis, 30),
            entry("c@example.com", EffortPhase::Recovery, 90),
        ]);
        assert_eq!(summary.total_minutes, 150);
        assert_eq!(summary.by_phase[&EffortPhase::Analysis], 60);
        assert_eq!(summary.by_phase[&EffortPhase::Detection], 0);
        let people: Vec<(&str, i64)> = summary.by_person.iter().map(|(p, m)| (p.as_str(), *m)).collect();
        assert_eq!(people, [("c@example.com", 90), ("a@example.com", 30), ("b@example.com", 30)]);
    }
}
