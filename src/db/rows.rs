//! Database rows and their explicit conversions to and from domain types.
//!
//! Rows hold what the columns hold (ids as text, UTC timestamps without zone, priority as its rank).
//! Reading trusts our own schema: values were parsed before they were stored, and CHECK constraints
//! guard the enumerations; a value that still does not fit is reported as a corrupt row.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use uuid::Uuid;

use super::StoreError;
use super::schema::{
    actions, custody_entries, effort_entries, evidence, incidents, indicators, people, reviews, timeline_entries,
};
use crate::domain::action::{Action, ActionFields, Priority, Tag, Tags, Verification};
use crate::domain::assessment::{
    AffectedSystem, Attack, Count, Impact, Money, Notification, RootCause, Technique, TechniqueId,
};
use crate::domain::effort::{EffortEntry, EffortFields, Minutes};
use crate::domain::email::EmailAddress;
use crate::domain::evidence::{CustodyEntry, Evidence, EvidenceFields, Location, Sha256, Transfer};
use crate::domain::external::{ExternalRef, ExternalRefs, HttpUrl, Key, System};
use crate::domain::incident::{Incident, IncidentFields, Reference};
use crate::domain::indicator::{Confidence, Indicator, IndicatorFields, IndicatorValue};
use crate::domain::person::{Person, PersonFields};
use crate::domain::review::{Answers, Attendee, Attendees, Review, ReviewFields};
use crate::domain::text::Text;
use crate::domain::timeline::{TimelineEntry, TimelineFields};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
// None is NULL on insert too (not DEFAULT): SQLite then takes many rows in one INSERT (see db::seed). No
// nullable column of these tables has a default.
#[diesel(table_name = incidents, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct IncidentRow {
    pub id: String,
    pub reference: Option<String>,
    pub title: String,
    pub summary: Option<String>,
    pub severity: String,
    pub category: Option<String>,
    pub status: String,
    pub detected_at: Option<NaiveDateTime>,
    pub contained_at: Option<NaiveDateTime>,
    pub resolved_at: Option<NaiveDateTime>,
    pub discovered_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
    pub business_impact: Option<String>,
    /// JSON: `[{"name", "kind", "role"}]`.
    pub affected_systems: String,
    /// JSON: the data categories' names.
    pub data_exposed: String,
    pub records_exposed: Option<i64>,
    pub downtime_minutes: Option<i64>,
    pub people_affected: Option<i64>,
    pub cost_minor_units: Option<i64>,
    pub cost_currency: Option<String>,
    /// JSON: `{"regulator", "customers", "deadline"}`.
    pub notification: Option<String>,
    pub root_cause: Option<String>,
    pub root_cause_category: Option<String>,
    /// JSON: strings.
    pub contributing_factors: String,
    pub attack_vector: Option<String>,
    /// JSON: `[{"id", "note"}]`.
    pub attack_techniques: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = actions, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct ActionRow {
    pub id: String,
    pub number: i64,
    pub incident_id: String,
    pub title: String,
    pub description: Option<String>,
    pub owner_email: String,
    pub owner_name: Option<String>,
    pub team: Option<String>,
    pub due_date: NaiveDate,
    pub priority: i16,
    pub category: String,
    pub status: String,
    pub resolution: Option<String>,
    pub completed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
    pub snoozed_until: Option<NaiveDate>,
    pub review_id: Option<String>,
    pub verified_at: Option<NaiveDateTime>,
    pub verified_by: Option<String>,
    pub verification_evidence: Option<String>,
    /// JSON array of the tags, kept with the row so a read needs no other table.
    pub tags: String,
    /// JSON array of `[system, key, url]`, likewise.
    pub external_refs: String,
    /// Whether the owner's directory entry says they left; `people::put` keeps it up to date.
    pub owner_inactive: bool,
}

pub fn to_column(time: DateTime<Utc>) -> NaiveDateTime {
    time.naive_utc()
}

pub fn from_column(time: NaiveDateTime) -> DateTime<Utc> {
    time.and_utc()
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Query(DieselError::DeserializationError(format!("stored {what} {value:?} is not valid").into()))
}

pub fn parse_id(value: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(value).map_err(|_| corrupt("id", value))
}

pub fn parse_enum<T: FromStr>(what: &str, value: &str) -> Result<T, StoreError> {
    value.parse().map_err(|_| corrupt(what, value))
}

fn text<const MAX: usize, const MULTILINE: bool>(value: Option<String>) -> Option<Text<MAX, MULTILINE>> {
    value.map(Text::from_stored)
}

impl From<&Incident> for IncidentRow {
    fn from(incident: &Incident) -> Self {
        let fields = &incident.fields;
        let (impact, root_cause) = (&fields.impact, &fields.root_cause);
        Self {
            id: incident.id.to_string(),
            reference: fields.reference.as_ref().map(|r| r.as_str().to_owned()),
            title: fields.title.as_str().to_owned(),
            summary: fields.summary.as_ref().map(|t| t.as_str().to_owned()),
            severity: <&str>::from(fields.severity).to_owned(),
            category: fields.category.as_ref().map(|t| t.as_str().to_owned()),
            status: <&str>::from(fields.status).to_owned(),
            detected_at: fields.detected_at.map(to_column),
            contained_at: fields.contained_at.map(to_column),
            resolved_at: fields.resolved_at.map(to_column),
            discovered_by: fields.discovered_by.as_ref().map(|t| t.as_str().to_owned()),
            created_at: to_column(incident.created_at),
            updated_at: to_column(incident.updated_at),
            version: incident.version,
            created_by: incident.created_by.clone(),
            updated_by: incident.updated_by.clone(),
            business_impact: impact.business_impact.as_ref().map(|t| t.as_str().to_owned()),
            affected_systems: json_text(&impact.affected_systems),
            data_exposed: json_text(&impact.data_exposed),
            records_exposed: impact.records_exposed.map(Count::get),
            downtime_minutes: impact.downtime_minutes.map(Count::get),
            people_affected: impact.people_affected.map(Count::get),
            cost_minor_units: impact.cost.map(|cost| cost.minor_units()),
            cost_currency: impact.cost.map(|cost| cost.currency_code().to_owned()),
            notification: impact.notification.as_ref().map(json_text),
            root_cause: root_cause.description.as_ref().map(|t| t.as_str().to_owned()),
            root_cause_category: root_cause.category.map(|c| <&str>::from(c).to_owned()),
            contributing_factors: json_text(&root_cause.contributing_factors),
            attack_vector: fields.attack.vector.map(|v| <&str>::from(v).to_owned()),
            attack_techniques: json_text(&fields.attack.techniques),
        }
    }
}

/// What the service wrote, as JSON text.
fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::json!(value).to_string()
}

#[derive(serde::Deserialize)]
struct StoredSystem {
    name: String,
    kind: String,
    role: Option<String>,
}

#[derive(serde::Deserialize)]
struct StoredTechnique {
    id: String,
    note: Option<String>,
}

#[derive(serde::Deserialize)]
struct StoredNotification {
    regulator: bool,
    customers: bool,
    deadline: Option<DateTime<Utc>>,
}

impl IncidentRow {
    fn impact(&self) -> Result<Impact, StoreError> {
        let systems: Vec<StoredSystem> = json_column("affected systems", &self.affected_systems)?;
        let categories: Vec<String> = json_column("data exposed", &self.data_exposed)?;
        let notification: Option<StoredNotification> =
            self.notification.as_deref().map(|n| json_column("notification", n)).transpose()?;
        let cost = match (self.cost_minor_units, self.cost_currency.as_deref()) {
            (Some(units), Some(code)) => {
                Some(Money::from_stored(units, code).ok_or_else(|| corrupt("currency", code))?)
            }
            (None, None) => None,
            (units, code) => return Err(corrupt("cost", &format!("{units:?} {code:?}"))),
        };
        Ok(Impact {
            business_impact: text(self.business_impact.clone()),
            affected_systems: systems
                .into_iter()
                .map(|system| {
                    Ok(AffectedSystem {
                        name: Text::from_stored(system.name),
                        kind: parse_enum("system kind", &system.kind)?,
                        role: text(system.role),
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            data_exposed: categories.iter().map(|c| parse_enum("data category", c)).collect::<Result<_, _>>()?,
            records_exposed: self.records_exposed.map(Count::from_stored),
            downtime_minutes: self.downtime_minutes.map(Count::from_stored),
            people_affected: self.people_affected.map(Count::from_stored),
            cost,
            notification: notification.map(|n| Notification {
                regulator: n.regulator,
                customers: n.customers,
                deadline: n.deadline,
            }),
        })
    }

    fn root_cause(&self) -> Result<RootCause, StoreError> {
        let factors: Vec<String> = json_column("contributing factors", &self.contributing_factors)?;
        Ok(RootCause {
            description: text(self.root_cause.clone()),
            category: self.root_cause_category.as_deref().map(|c| parse_enum("root cause category", c)).transpose()?,
            contributing_factors: factors.into_iter().map(Text::from_stored).collect(),
        })
    }

    fn attack(&self) -> Result<Attack, StoreError> {
        let techniques: Vec<StoredTechnique> = json_column("attack techniques", &self.attack_techniques)?;
        Ok(Attack {
            vector: self.attack_vector.as_deref().map(|v| parse_enum("attack vector", v)).transpose()?,
            techniques: techniques
                .into_iter()
                .map(|t| Technique { id: TechniqueId::from_stored(t.id), note: text(t.note) })
                .collect(),
        })
    }
}

impl TryFrom<IncidentRow> for Incident {
    type Error = StoreError;

    fn try_from(row: IncidentRow) -> Result<Self, StoreError> {
        let (impact, root_cause, attack) = (row.impact()?, row.root_cause()?, row.attack()?);
        Ok(Incident {
            id: parse_id(&row.id)?,
            fields: IncidentFields {
                reference: row.reference.map(Reference::from_stored),
                title: Text::from_stored(row.title),
                summary: text(row.summary),
                severity: parse_enum("severity", &row.severity)?,
                category: text(row.category),
                status: parse_enum("incident status", &row.status)?,
                detected_at: row.detected_at.map(from_column),
                contained_at: row.contained_at.map(from_column),
                resolved_at: row.resolved_at.map(from_column),
                discovered_by: text(row.discovered_by),
                impact,
                root_cause,
                attack,
            },
            created_at: from_column(row.created_at),
            updated_at: from_column(row.updated_at),
            version: row.version,
            created_by: row.created_by,
            updated_by: row.updated_by,
            review_held: false,
        })
    }
}

impl From<&Action> for ActionRow {
    fn from(action: &Action) -> Self {
        let fields = &action.fields;
        Self {
            id: action.id.to_string(),
            number: action.number,
            incident_id: fields.incident_id.to_string(),
            title: fields.title.as_str().to_owned(),
            description: fields.description.as_ref().map(|t| t.as_str().to_owned()),
            owner_email: fields.owner_email.as_str().to_owned(),
            owner_name: fields.owner_name.as_ref().map(|t| t.as_str().to_owned()),
            team: fields.team.as_ref().map(|t| t.as_str().to_owned()),
            due_date: fields.due_date,
            priority: fields.priority.rank(),
            category: <&str>::from(fields.category).to_owned(),
            status: <&str>::from(fields.status).to_owned(),
            resolution: fields.resolution.as_ref().map(|t| t.as_str().to_owned()),
            completed_at: action.completed_at.map(to_column),
            created_at: to_column(action.created_at),
            updated_at: to_column(action.updated_at),
            version: action.version,
            created_by: action.created_by.clone(),
            updated_by: action.updated_by.clone(),
            snoozed_until: fields.snoozed_until,
            review_id: fields.review_id.map(|id| id.to_string()),
            verified_at: action.verification.as_ref().map(|v| to_column(v.at)),
            verified_by: action.verification.as_ref().map(|v| v.by.clone()),
            verification_evidence: action.verification.as_ref().map(|v| v.evidence.as_str().to_owned()),
            tags: tags_column(&fields.tags),
            external_refs: external_refs_column(&fields.external_refs),
            owner_inactive: action.owner_inactive,
        }
    }
}

/// The `tags` column of an action: a JSON array of strings.
pub fn tags_column(tags: &Tags) -> String {
    serde_json::Value::from(tags.iter().map(|tag| tag.as_str()).collect::<Vec<_>>()).to_string()
}

/// The `external_refs` column of an action: a JSON array of `[system, key, url]`.
fn external_refs_column(refs: &ExternalRefs) -> String {
    let refs: Vec<serde_json::Value> = refs
        .iter()
        .map(|link| {
            serde_json::json!([link.system.as_str(), link.key.as_str(), link.url.as_ref().map(HttpUrl::as_str)])
        })
        .collect();
    serde_json::Value::from(refs).to_string()
}

impl ActionRow {
    pub fn into_domain(self) -> Result<Action, StoreError> {
        let tags: Vec<String> = json_column("tags", &self.tags)?;
        let refs: Vec<(String, String, Option<String>)> = json_column("external refs", &self.external_refs)?;
        let external_refs = ExternalRefs::from_stored(
            refs.into_iter()
                .map(|(system, key, url)| ExternalRef {
                    system: System::from_stored(system),
                    key: Key::from_stored(key),
                    url: url.map(HttpUrl::from_stored),
                })
                .collect(),
        );
        let priority =
            Priority::from_rank(self.priority).ok_or_else(|| corrupt("priority", &self.priority.to_string()))?;
        Ok(Action {
            id: parse_id(&self.id)?,
            number: self.number,
            fields: ActionFields {
                incident_id: parse_id(&self.incident_id)?,
                review_id: self.review_id.as_deref().map(parse_id).transpose()?,
                title: Text::from_stored(self.title),
                description: text(self.description),
                owner_email: EmailAddress::from_stored(self.owner_email),
                owner_name: text(self.owner_name),
                team: text(self.team),
                due_date: self.due_date,
                priority,
                category: parse_enum("action category", &self.category)?,
                status: parse_enum("action status", &self.status)?,
                resolution: text(self.resolution),
                tags: Tags::from_stored(tags.into_iter().map(Tag::from_stored).collect()),
                snoozed_until: self.snoozed_until,
                external_refs,
            },
            completed_at: self.completed_at.map(from_column),
            created_at: from_column(self.created_at),
            updated_at: from_column(self.updated_at),
            version: self.version,
            created_by: self.created_by,
            updated_by: self.updated_by,
            verification: match (self.verified_at, self.verified_by, self.verification_evidence) {
                (Some(at), Some(by), Some(evidence)) => {
                    Some(Verification { at: from_column(at), by, evidence: Text::from_stored(evidence) })
                }
                _ => None,
            },
            owner_inactive: self.owner_inactive,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = reviews, treat_none_as_null = true)]
pub struct ReviewRow {
    pub id: String,
    pub incident_id: String,
    pub status: String,
    pub scheduled_for: Option<NaiveDateTime>,
    pub held_at: Option<NaiveDateTime>,
    pub facilitator_email: Option<String>,
    pub scribe_email: Option<String>,
    pub attendees: String,
    pub agenda: Option<String>,
    pub answers: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

/// An attendee as the `attendees` column holds it.
#[derive(serde::Deserialize)]
struct StoredAttendee {
    email: String,
    name: Option<String>,
    role: Option<String>,
}

fn json_column<T: serde::de::DeserializeOwned>(what: &str, value: &str) -> Result<T, StoreError> {
    serde_json::from_str(value).map_err(|_| corrupt(what, value))
}

impl From<&Review> for ReviewRow {
    fn from(review: &Review) -> Self {
        let f = &review.fields;
        Self {
            id: review.id.to_string(),
            incident_id: review.incident_id.to_string(),
            status: <&str>::from(f.status).to_owned(),
            scheduled_for: f.scheduled_for.map(to_column),
            held_at: f.held_at.map(to_column),
            facilitator_email: f.facilitator_email.as_ref().map(|e| e.as_str().to_owned()),
            scribe_email: f.scribe_email.as_ref().map(|e| e.as_str().to_owned()),
            attendees: f.attendees.to_json().to_string(),
            agenda: f.agenda.as_ref().map(|t| t.as_str().to_owned()),
            answers: f.answers.to_json().to_string(),
            created_at: to_column(review.created_at),
            updated_at: to_column(review.updated_at),
            version: review.version,
            created_by: review.created_by.clone(),
            updated_by: review.updated_by.clone(),
        }
    }
}

impl TryFrom<ReviewRow> for Review {
    type Error = StoreError;

    fn try_from(row: ReviewRow) -> Result<Self, StoreError> {
        let attendees: Vec<StoredAttendee> = json_column("attendees", &row.attendees)?;
        let answers: std::collections::BTreeMap<String, String> = json_column("answers", &row.answers)?;
        Ok(Review {
            id: parse_id(&row.id)?,
            incident_id: parse_id(&row.incident_id)?,
            fields: ReviewFields {
                status: parse_enum("review status", &row.status)?,
                scheduled_for: row.scheduled_for.map(from_column),
                held_at: row.held_at.map(from_column),
                facilitator_email: row.facilitator_email.map(EmailAddress::from_stored),
                scribe_email: row.scribe_email.map(EmailAddress::from_stored),
                attendees: Attendees::from_stored(
                    attendees
                        .into_iter()
                        .map(|a| Attendee {
                            email: EmailAddress::from_stored(a.email),
                            name: text(a.name),
                            role: text(a.role),
                        })
                        .collect(),
                ),
                agenda: text(row.agenda),
                answers: Answers::from_stored(answers),
            },
            created_at: from_column(row.created_at),
            updated_at: from_column(row.updated_at),
            version: row.version,
            created_by: row.created_by,
            updated_by: row.updated_by,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = timeline_entries, treat_none_as_null = true)]
pub struct TimelineRow {
    pub id: String,
    pub incident_id: String,
    pub occurred_at: NaiveDateTime,
    pub description: String,
    pub source: Option<String>,
    pub kind: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl From<&TimelineEntry> for TimelineRow {
    fn from(entry: &TimelineEntry) -> Self {
        let f = &entry.fields;
        Self {
            id: entry.id.to_string(),
            incident_id: entry.incident_id.to_string(),
            occurred_at: to_column(f.occurred_at),
            description: f.description.as_str().to_owned(),
            source: f.source.as_ref().map(|t| t.as_str().to_owned()),
            kind: <&str>::from(f.kind).to_owned(),
            created_at: to_column(entry.created_at),
            updated_at: to_column(entry.updated_at),
            version: entry.version,
            created_by: entry.created_by.clone(),
            updated_by: entry.updated_by.clone(),
        }
    }
}

impl TryFrom<TimelineRow> for TimelineEntry {
    type Error = StoreError;

    fn try_from(row: TimelineRow) -> Result<Self, StoreError> {
        Ok(TimelineEntry {
            id: parse_id(&row.id)?,
            incident_id: parse_id(&row.incident_id)?,
            fields: TimelineFields {
                occurred_at: from_column(row.occurred_at),
                description: Text::from_stored(row.description),
                source: text(row.source),
                kind: parse_enum("timeline kind", &row.kind)?,
            },
            created_at: from_column(row.created_at),
            updated_at: from_column(row.updated_at),
            version: row.version,
            created_by: row.created_by,
            updated_by: row.updated_by,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = indicators, treat_none_as_null = true)]
pub struct IndicatorRow {
    pub id: String,
    pub incident_id: String,
    pub kind: String,
    pub value: String,
    pub tlp: String,
    pub confidence: Option<i32>,
    pub first_seen: Option<NaiveDateTime>,
    pub last_seen: Option<NaiveDateTime>,
    pub source: Option<String>,
    pub description: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl From<&Indicator> for IndicatorRow {
    fn from(indicator: &Indicator) -> Self {
        let f = &indicator.fields;
        Self {
            id: indicator.id.to_string(),
            incident_id: indicator.incident_id.to_string(),
            kind: <&str>::from(f.value.kind()).to_owned(),
            value: f.value.as_str().to_owned(),
            tlp: <&str>::from(f.tlp).to_owned(),
            confidence: f.confidence.map(|c| i32::from(c.get())),
            first_seen: f.first_seen.map(to_column),
            last_seen: f.last_seen.map(to_column),
            source: f.source.as_ref().map(|t| t.as_str().to_owned()),
            description: f.description.as_ref().map(|t| t.as_str().to_owned()),
            created_at: to_column(indicator.created_at),
            updated_at: to_column(indicator.updated_at),
            version: indicator.version,
            created_by: indicator.created_by.clone(),
            updated_by: indicator.updated_by.clone(),
        }
    }
}

impl TryFrom<IndicatorRow> for Indicator {
    type Error = StoreError;

    fn try_from(row: IndicatorRow) -> Result<Self, StoreError> {
        Ok(Indicator {
            id: parse_id(&row.id)?,
            incident_id: parse_id(&row.incident_id)?,
            fields: IndicatorFields {
                value: IndicatorValue::from_stored(parse_enum("indicator type", &row.kind)?, row.value),
                tlp: parse_enum("TLP marking", &row.tlp)?,
                confidence: row.confidence.map(Confidence::from_stored),
                first_seen: row.first_seen.map(from_column),
                last_seen: row.last_seen.map(from_column),
                source: text(row.source),
                description: text(row.description),
            },
            created_at: from_column(row.created_at),
            updated_at: from_column(row.updated_at),
            version: row.version,
            created_by: row.created_by,
            updated_by: row.updated_by,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = people, treat_none_as_null = true)]
pub struct PersonRow {
    pub email: String,
    pub name: Option<String>,
    pub manager_email: Option<String>,
    pub timezone: Option<String>,
    pub active: i16,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl From<&Person> for PersonRow {
    fn from(person: &Person) -> Self {
        let f = &person.fields;
        Self {
            email: person.email.as_str().to_owned(),
            name: f.name.as_ref().map(|t| t.as_str().to_owned()),
            manager_email: f.manager_email.as_ref().map(|e| e.as_str().to_owned()),
            timezone: f.timezone.map(|tz| tz.name().to_owned()),
            active: i16::from(f.active),
            created_at: to_column(person.created_at),
            updated_at: to_column(person.updated_at),
            version: person.version,
            created_by: person.created_by.clone(),
            updated_by: person.updated_by.clone(),
        }
    }
}

impl TryFrom<PersonRow> for Person {
    type Error = StoreError;

    fn try_from(row: PersonRow) -> Result<Self, StoreError> {
        Ok(Person {
            email: EmailAddress::from_stored(row.email),
            fields: PersonFields {
                name: text(row.name),
                manager_email: row.manager_email.map(EmailAddress::from_stored),
                timezone: row.timezone.as_deref().map(|tz| parse_enum("time zone", tz)).transpose()?,
                active: row.active != 0,
            },
            created_at: from_column(row.created_at),
            updated_at: from_column(row.updated_at),
            version: row.version,
            created_by: row.created_by,
            updated_by: row.updated_by,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = evidence, treat_none_as_null = true)]
pub struct EvidenceRow {
    pub id: String,
    pub incident_id: String,
    pub description: String,
    pub kind: String,
    pub location: String,
    pub sha256: Option<String>,
    pub collected_by: String,
    pub collected_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl From<&Evidence> for EvidenceRow {
    fn from(item: &Evidence) -> Self {
        let f = &item.fields;
        Self {
            id: item.id.to_string(),
            incident_id: item.incident_id.to_string(),
            description: f.description.as_str().to_owned(),
            kind: <&str>::from(f.kind).to_owned(),
            location: f.location.as_str().to_owned(),
            sha256: f.sha256.as_ref().map(|s| s.as_str().to_owned()),
            collected_by: f.collected_by.as_str().to_owned(),
            collected_at: to_column(f.collected_at),
            created_at: to_column(item.created_at),
            updated_at: to_column(item.updated_at),
            version: item.version,
            created_by: item.created_by.clone(),
            updated_by: item.updated_by.clone(),
        }
    }
}

impl EvidenceRow {
    /// The item with its chain of custody, read separately.
    pub fn into_evidence(self, custody: Vec<CustodyEntry>) -> Result<Evidence, StoreError> {
        Ok(Evidence {
            id: parse_id(&self.id)?,
            incident_id: parse_id(&self.incident_id)?,
            fields: EvidenceFields {
                description: Text::from_stored(self.description),
                kind: parse_enum("evidence kind", &self.kind)?,
                location: Location::from_stored(self.location),
                sha256: self.sha256.map(Sha256::from_stored),
                collected_by: Text::from_stored(self.collected_by),
                collected_at: from_column(self.collected_at),
            },
            custody,
            created_at: from_column(self.created_at),
            updated_at: from_column(self.updated_at),
            version: self.version,
            created_by: self.created_by,
            updated_by: self.updated_by,
        })
    }
}

/// Inserted only: the database refuses to change or delete a custody entry.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = custody_entries)]
pub struct CustodyRow {
    pub id: String,
    pub evidence_id: String,
    pub from_holder: Option<String>,
    pub to_holder: String,
    pub transferred_at: NaiveDateTime,
    pub purpose: String,
    pub recorded_at: NaiveDateTime,
    pub recorded_by: String,
}

impl From<&CustodyEntry> for CustodyRow {
    fn from(entry: &CustodyEntry) -> Self {
        let t = &entry.transfer;
        Self {
            id: entry.id.to_string(),
            evidence_id: entry.evidence_id.to_string(),
            from_holder: t.from.as_ref().map(|h| h.as_str().to_owned()),
            to_holder: t.to.as_str().to_owned(),
            transferred_at: to_column(t.at),
            purpose: t.purpose.as_str().to_owned(),
            recorded_at: to_column(entry.recorded_at),
            recorded_by: entry.recorded_by.clone(),
        }
    }
}

impl TryFrom<CustodyRow> for CustodyEntry {
    type Error = StoreError;

    fn try_from(row: CustodyRow) -> Result<Self, StoreError> {
        Ok(CustodyEntry {
            id: parse_id(&row.id)?,
            evidence_id: parse_id(&row.evidence_id)?,
            transfer: Transfer {
                from: text(row.from_holder),
                to: Text::from_stored(row.to_holder),
                at: from_column(row.transferred_at),
                purpose: Text::from_stored(row.purpose),
            },
            recorded_at: from_column(row.recorded_at),
            recorded_by: row.recorded_by,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = effort_entries, treat_none_as_null = true)]
pub struct EffortRow {
    pub id: String,
    pub incident_id: String,
    pub person: String,
    pub phase: String,
    pub minutes: i64,
    pub performed_on: Option<NaiveDate>,
    pub note: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl From<&EffortEntry> for EffortRow {
    fn from(entry: &EffortEntry) -> Self {
        let f = &entry.fields;
        Self {
            id: entry.id.to_string(),
            incident_id: entry.incident_id.to_string(),
            person: f.person.as_str().to_owned(),
            phase: <&str>::from(f.phase).to_owned(),
            minutes: f.minutes.get(),
            performed_on: f.performed_on,
            note: f.note.as_ref().map(|t| t.as_str().to_owned()),
            created_at: to_column(entry.created_at),
            updated_at: to_column(entry.updated_at),
            version: entry.version,
            created_by: entry.created_by.clone(),
            updated_by: entry.updated_by.clone(),
        }
    }
}

impl TryFrom<EffortRow> for EffortEntry {
    type Error = StoreError;

    fn try_from(row: EffortRow) -> Result<Self, StoreError> {
        Ok(EffortEntry {
            id: parse_id(&row.id)?,
            incident_id: parse_id(&row.incident_id)?,
            fields: EffortFields {
                person: EmailAddress::from_stored(row.person),
                phase: parse_enum("effort phase", &row.phase)?,
                minutes: Minutes::from_stored(row.minutes),
                performed_on: row.performed_on,
                note: text(row.note),
            },
            created_at: from_column(row.created_at),
            updated_at: from_column(row.updated_at),
            version: row.version,
            created_by: row.created_by,
            updated_by: row.updated_by,
        })
    }
}
