//! The incident timeline: what happened when, and how it was seen, from the first alert to recovery.
//! The final report lists it in order of `occurred_at`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Patch;
use super::audit::Snapshot;
use super::text::{LongText, ShortText};

/// Entries per incident; a timeline longer than this is a log, which belongs in the SIEM, not here.
pub const MAX_ENTRIES_PER_INCIDENT: i64 = 1000;

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
/// The incident-handling phase an entry belongs to.
pub enum TimelineKind {
    Detection,
    Analysis,
    Containment,
    Eradication,
    Recovery,
    Communication,
    #[default]
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineFields {
    pub occurred_at: DateTime<Utc>,
    pub description: LongText,
    /// Where it was seen or recorded: "EDR alert", "packet capture", "user report".
    pub source: Option<ShortText>,
    pub kind: TimelineKind,
}

#[derive(Debug, Clone, Default)]
pub struct TimelinePatch {
    pub occurred_at: Option<DateTime<Utc>>,
    pub description: Option<LongText>,
    pub source: Patch<ShortText>,
    pub kind: Option<TimelineKind>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub fields: TimelineFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl TimelineFields {
    pub fn apply(&self, patch: TimelinePatch) -> Self {
        Self {
            occurred_at: patch.occurred_at.unwrap_or(self.occurred_at),
            description: patch.description.unwrap_or_else(|| self.description.clone()),
            source: patch.source.apply_to(self.source.clone()),
            kind: patch.kind.unwrap_or(self.kind),
        }
    }
}

impl TimelineEntry {
    pub fn audit_snapshot(&self) -> Snapshot {
        let f = &self.fields;
        Snapshot::from([
            ("incident_id", json!(self.incident_id)),
            ("occurred_at", json!(f.occurred_at)),
            ("description", json!(f.description.as_str())),
            ("source", json!(f.source.as_ref().map(ShortText::as_str))),
            ("kind", json!(f.kind)),
        ])
    }
}
