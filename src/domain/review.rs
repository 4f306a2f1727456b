//! Lessons-learned reviews (the post-incident meeting of NIST SP 800-61): when it was held, who took part,
//! and the answers to the standard questions. A review counts as held once its status is `held` or
//! `completed`; an incident whose review is not held within REVIEW_DUE_DAYS of its resolution is overdue
//! for one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::Snapshot;
use super::email::EmailAddress;
use super::text::{LongText, ShortText};
use super::{FieldError, FieldErrors, Patch};

/// Calls `$callback!` with every standard question as `(key, Variant, report section, "question")`.
/// This one list feeds the `Question` enum below and the API's answer types, so the two cannot drift.
macro_rules! with_questions {
    ($callback:ident) => {
        $callback! {
            (what_happened, WhatHappened, DetectionAndAnalysis, "Exactly what happened, and at what times?"),
            (when, When, DetectionAndAnalysis, "When did each stage happen? A summary of the timeline."),
            (who_discovered, WhoDiscovered, DetectionAndAnalysis, "Who discovered the incident, and how?"),
            (how_contained, HowContained, ContainmentEradicationRecovery, "How was the incident contained?"),
            (recovery_actions, RecoveryActions, ContainmentEradicationRecovery, "What was done to eradicate the cause and recover?"),
            (
                procedures_followed_and_adequate,
                ProceduresFollowedAndAdequate,
                LessonsLearned,
                "How well did staff and management perform? Were the documented procedures followed, and were they adequate?"
            ),
            (
                information_needed_sooner,
                InformationNeededSooner,
                LessonsLearned,
                "What information was needed sooner?"
            ),
            (
                steps_that_inhibited_recovery,
                StepsThatInhibitedRecovery,
                LessonsLearned,
                "Were any steps or actions taken that might have inhibited the recovery?"
            ),
            (
                information_sharing,
                InformationSharing,
                LessonsLearned,
                "How could information sharing with other organizations have been improved?"
            ),
            (what_went_well, WhatWentWell, LessonsLearned, "What went well?"),
            (
                do_differently,
                DoDifferently,
                LessonsLearned,
                "What would staff and management do differently the next time a similar incident occurs?"
            ),
            (
                precursors_to_watch,
                PrecursorsToWatch,
                LessonsLearned,
                "What precursors or indicators should be watched for in the future to detect similar incidents?"
            ),
            (
                tools_and_resources_needed,
                ToolsAndResourcesNeeded,
                LessonsLearned,
                "What additional tools or resources are needed to detect, analyze and mitigate future incidents?"
            ),
        }
    };
}
pub(crate) use with_questions;

/// Where the final report shows an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportSection {
    /// What happened, and how it was found and understood.
    DetectionAndAnalysis,
    /// How it was stopped, removed and recovered from.
    ContainmentEradicationRecovery,
    /// How the team did, and what to keep and what to change (NIST SP 800-61's lessons-learned questions).
    LessonsLearned,
}

macro_rules! define_questions {
    ($(($key:ident, $variant:ident, $section:ident, $text:tt)),* $(,)?) => {
        /// One of the standard lessons-learned questions.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Question {
            $($variant),*
        }

        impl Question {
            /// In the order the report asks them.
            pub const ALL: &[Question] = &[$(Question::$variant),*];

            /// The member name in JSON.
            pub fn key(self) -> &'static str {
                match self {
                    $(Question::$variant => stringify!($key)),*
                }
            }

            pub fn text(self) -> &'static str {
                match self {
                    $(Question::$variant => $text),*
                }
            }

            pub fn section(self) -> ReportSection {
                match self {
                    $(Question::$variant => ReportSection::$section),*
                }
            }
        }
    };
}
with_questions!(define_questions);

impl Question {
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|q| q.key() == key)
    }
}

/// The answers given so far; a question without an answer is simply absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers(BTreeMap<Question, LongText>);

impl Answers {
    pub fn get(&self, question: Question) -> Option<&LongText> {
        self.0.get(&question)
    }

    pub fn set(&mut self, question: Question, answer: Patch<LongText>) {
        match answer {
            Patch::Absent => {}
            Patch::Null => {
                self.0.remove(&question);
            }
            Patch::Value(text) => {
                self.0.insert(question, text);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Question, &LongText)> {
        self.0.iter().map(|(q, a)| (*q, a))
    }

    /// As stored and audited: an object of question key to answer.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.0.iter().map(|(q, a)| (q.key().to_owned(), json!(a.as_str()))).collect())
    }

    /// Read back from our own column; keys we no longer know are dropped rather than failing the read.
    pub(crate) fn from_stored(map: BTreeMap<String, String>) -> Self {
        Self(
            map.into_iter()
                .filter_map(|(key, text)| Some((Question::from_key(&key)?, LongText::from_stored(text))))
                .collect(),
        )
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
/// scheduled: planned; held: the meeting took place; completed: the answers and actions are final.
pub enum ReviewStatus {
    #[default]
    Scheduled,
    Held,
    Completed,
}

impl ReviewStatus {
    /// Held and completed reviews count: the incident is no longer waiting for its meeting.
    pub const HELD: [ReviewStatus; 2] = [ReviewStatus::Held, ReviewStatus::Completed];

    pub fn is_held(self) -> bool {
        Self::HELD.contains(&self)
    }
}

/// Someone who took part in the meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    pub email: EmailAddress,
    pub name: Option<ShortText>,
    /// What they did in the incident or the meeting ("incident handler", "legal").
    pub role: Option<ShortText>,
}

/// At most `MAX` attendees, each address once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attendees(Vec<Attendee>);

impl Attendees {
    pub const MAX: usize = 100;

    pub fn new(field: &str, attendees: Vec<Attendee>) -> Result<Self, FieldError> {
        if attendees.len() > Self::MAX {
            return Err(FieldError::new(field, format!("must list at most {} people", Self::MAX)));
        }
        for (i, attendee) in attendees.iter().enumerate() {
            if attendees[..i].iter().any(|earlier| earlier.email == attendee.email) {
                return Err(FieldError::new(format!("{field}[{i}].email"), "is listed twice"));
            }
        }
        Ok(Self(attendees))
    }

    pub(crate) fn from_stored(attendees: Vec<Attendee>) -> Self {
        Self(attendees)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Attendee> {
        self.0.iter()
    }

    /// As stored and audited: an array of `{email, name, role}`.
    pub fn to_json(&self) -> serde_json::Value {
        let text = |t: &Option<ShortText>| json!(t.as_ref().map(ShortText::as_str));
        json!(
            self.0
                .iter()
                .map(|a| json!({"email": a.email.as_str(), "name": text(&a.name), "role": text(&a.role)}))
                .collect::<Vec<_>>()
        )
    }
}

/// What a client may set on a review.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewFields {
    pub status: ReviewStatus,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub held_at: Option<DateTime<Utc>>,
    /// Who runs the meeting; reminders about a review not yet held go to them.
    pub facilitator_email: Option<EmailAddress>,
    pub scribe_email: Option<EmailAddress>,
    pub attendees: Attendees,
    pub agenda: Option<LongText>,
    pub answers: Answers,
}

/// A merge-patch of a review; `answers` patches question by question.
#[derive(Debug, Clone, Default)]
pub struct ReviewPatch {
    pub status: Option<ReviewStatus>,
    pub scheduled_for: Patch<DateTime<Utc>>,
    pub held_at: Patch<DateTime<Utc>>,
    pub facilitator_email: Patch<EmailAddress>,
    pub scribe_email: Patch<EmailAddress>,
    pub attendees: Option<Attendees>,
    pub agenda: Patch<LongText>,
    pub answers: Vec<(Question, Patch<LongText>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub fields: ReviewFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl ReviewFields {
    /// A held review has a time it was held: the moment it was recorded, if the client did not say.
    pub fn settle(mut self, now: DateTime<Utc>) -> Result<Self, FieldErrors> {
        if self.status.is_held() {
            self.held_at.get_or_insert(now);
        }
        if !self.status.is_held() && self.held_at.is_some() {
            return Err(FieldError::new("held_at", "is only set once the review is held or completed").into());
        }
        Ok(self)
    }

    pub fn apply(&self, patch: ReviewPatch, now: DateTime<Utc>) -> Result<Self, FieldErrors> {
        let mut answers = self.answers.clone();
        for (question, answer) in patch.answers {
            answers.set(question, answer);
        }
        let status = patch.status.unwrap_or(self.status);
        // Back to scheduled (the meeting is to be held again): the old time it was held goes with it,
        // unless the patch names one, which is then refused as for any scheduled review.
        let held_at = match patch.held_at {
            Patch::Absent if !status.is_held() => None,
            given => given.apply_to(self.held_at),
        };
        let next = Self {
            status,
            scheduled_for: patch.scheduled_for.apply_to(self.scheduled_for),
            held_at,
            facilitator_email: patch.facilitator_email.apply_to(self.facilitator_email.clone()),
            scribe_email: patch.scribe_email.apply_to(self.scribe_email.clone()),
            attendees: patch.attendees.unwrap_or_else(|| self.attendees.clone()),
            agenda: patch.agenda.apply_to(self.agenda.clone()),
            answers,
        };
        next.settle(now)
    }
}

impl Review {
    /// The client-visible fields, as the audit history records them.
    pub fn audit_snapshot(&self) -> Snapshot {
        let f = &self.fields;
        let email = |e: &Option<EmailAddress>| json!(e.as_ref().map(EmailAddress::as_str));
        Snapshot::from([
            ("incident_id", json!(self.incident_id)),
            ("status", json!(f.status)),
            ("scheduled_for", json!(f.scheduled_for)),
            ("held_at", json!(f.held_at)),
            ("facilitator_email", email(&f.facilitator_email)),
            ("scribe_email", email(&f.scribe_email)),
            ("attendees", f.attendees.to_json()),
            ("agenda", json!(f.agenda.as_ref().map(LongText::as_str))),
            ("answers", f.answers.to_json()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fields() -> ReviewFields {
        ReviewFields {
            status: ReviewStatus::Scheduled,
            scheduled_for: None,
            held_at: None,
            facilitator_email: None,
            scribe_email: None,
            attendees: Attendees::default(),
            agenda: None,
            answers: Answers::default(),
        }
    }

    #[test]
    fn every_question_has_a_distinct_key_and_text() {
        let mut keys: Vec<_> = Question::ALL.iter().map(|q| q.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 13);
        assert_eq!(Question::from_key("do_differently"), Some(Question::DoDifferently));
        assert!(Question::ALL.iter().all(|q| q.text().ends_with('?') || q.text().ends_with('.')));
    }

    #[test]
    fn holding_stamps_held_at_and_answers_patch_one_by_one() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap();
        let mut start = fields();
        start.answers.set(Question::WhatWentWell, Patch::Value(LongText::parse("a", "Fast triage").unwrap()));
        start.answers.set(Question::When, Patch::Value(LongText::parse("a", "Monday").unwrap()));
        let patch = ReviewPatch {
            status: Some(ReviewStatus::Held),
            answers: vec![
                (Question::When, Patch::Null),
                (Question::DoDifferently, Patch::Value(LongText::parse("a", "Page sooner").unwrap())),
            ],
            ..Default::default()
        };
        let next = start.apply(patch, now).unwrap();
        assert_eq!(next.held_at, Some(now));
        let keys: Vec<_> = next.answers.iter().map(|(q, _)| q.key()).collect();
        assert_eq!(keys, ["what_went_well", "do_differently"]);
    }

    #[test]
    fn a_scheduled_review_has_no_held_at() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap();
        let patch = ReviewPatch { held_at: Patch::Value(now), ..Default::default() };
        let errors = fields().apply(patch, now).unwrap_err();
        assert_eq!(errors.iter().next().unwrap().field, "held_at");
    }

    #[test]
    fn a_review_back_to_scheduled_forgets_when_it_was_held() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap();
        let held = fields().apply(ReviewPatch { status: Some(ReviewStatus::Held), ..Default::default() }, now).unwrap();
        assert_eq!(held.held_at, Some(now));
        let again = ReviewPatch { status: Some(ReviewStatus::Scheduled), ..Default::default() };
        assert_eq!(held.apply(again, now).unwrap().held_at, None);
    }
}
