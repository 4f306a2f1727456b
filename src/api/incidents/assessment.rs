//! The request bodies of an incident's impact, root cause and attack, and their parsing into domain
//! types. Each is a merge-patch (RFC 7396) when an incident is changed: members left out keep their
//! value, `null` clears one; lists and the small `cost` and `notification` objects are replaced whole.
//! Recording an incident reads the same bodies as changes to an empty assessment.

use serde::Deserialize;
use utoipa::ToSchema;

use super::super::extract::{patch_object, patch_whole_number};
use crate::domain::assessment::{
    AffectedSystem, AttackPatch, AttackVector, Count, DataCategory, ImpactPatch, MAX_AFFECTED_SYSTEMS,
    MAX_CONTRIBUTING_FACTORS, MAX_TECHNIQUES, Money, MoneyText, Notification, RootCauseCategory, RootCausePatch,
    SystemKind, Technique, TechniqueId, distinct_techniques, limit,
};
use crate::domain::text::{LongText, ShortText};
use crate::domain::time::parse_instant_text;
use crate::domain::{FieldErrors, Patch};

/// What the incident cost. Every member may be left out or `null` (unknown).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "business_impact": "Finance could not pay suppliers for a day.",
    "affected_systems": [{"name": "sso.example.com", "kind": "application", "role": "impersonated by the phishing page"}],
    "data_exposed": ["credentials"], "records_exposed": 3, "downtime_minutes": 240, "people_affected": 3,
    "cost": {"amount": "12500.00", "currency": "EUR"},
    "notification": {"regulator": true, "customers": false, "deadline": "2026-11-05T08:15:00Z"}
}))]
pub struct ImpactInput {
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub business_impact: Patch<String>,
    /// Replaces the list; at most 100.
    #[serde(default)]
    #[schema(value_type = Option<Vec<AffectedSystemInput>>, max_items = 100)]
    pub affected_systems: Patch<Vec<AffectedSystemInput>>,
    /// Replaces the list; each category once.
    #[serde(default)]
    #[schema(value_type = Option<Vec<DataCategory>>, max_items = 8)]
    pub data_exposed: Patch<Vec<DataCategory>>,
    /// `null` when unknown.
    #[serde(default, deserialize_with = "patch_whole_number")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 999_999_999_999_999_i64)]
    pub records_exposed: Patch<i64>,
    #[serde(default, deserialize_with = "patch_whole_number")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 999_999_999_999_999_i64)]
    pub downtime_minutes: Patch<i64>,
    #[serde(default, deserialize_with = "patch_whole_number")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 999_999_999_999_999_i64)]
    pub people_affected: Patch<i64>,
    /// Replaced whole: both members.
    #[serde(default, deserialize_with = "patch_object")]
    #[schema(value_type = Option<MoneyText>)]
    pub cost: Patch<MoneyText>,
    /// Replaced whole.
    #[serde(default, deserialize_with = "patch_object")]
    #[schema(value_type = Option<NotificationInput>)]
    pub notification: Patch<NotificationInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AffectedSystemInput {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: SystemKind,
    /// Its part in the incident, e.g. "impersonated by the phishing page".
    #[schema(max_length = 200)]
    pub role: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationInput {
    /// A notification was owed to a regulator; default false.
    #[serde(default)]
    pub regulator: bool,
    /// A notification was owed to customers or the people affected; default false.
    #[serde(default)]
    pub customers: bool,
    /// By when; needs `regulator` or `customers`.
    #[schema(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    pub deadline: Option<String>,
}

/// Why it happened.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "description": "The look-alike domain was two days old; the proxy let newly registered domains through.",
    "category": "process_gap", "contributing_factors": ["SMS codes as the second factor"]
}))]
pub struct RootCauseInput {
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<RootCauseCategory>)]
    pub category: Patch<RootCauseCategory>,
    /// Replaces the list; at most 20 of 1–200 characters.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, max_items = 20)]
    pub contributing_factors: Patch<Vec<String>>,
}

/// How the attacker got in and what they did.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"vector": "email", "techniques": [{"id": "T1566.002", "note": "Link to a fake SSO page"}]}))]
pub struct AttackInput {
    #[serde(default)]
    #[schema(value_type = Option<AttackVector>)]
    pub vector: Patch<AttackVector>,
    /// Replaces the list; at most 50, each id once.
    #[serde(default)]
    #[schema(value_type = Option<Vec<TechniqueInput>>, max_items = 50)]
    pub techniques: Patch<Vec<TechniqueInput>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TechniqueInput {
    /// A MITRE ATT&CK technique or sub-technique id.
    #[schema(pattern = "^[ \\t\\n\\r]*[Tt][0-9]{4}(\\.[0-9]{3})?[ \\t\\n\\r]*$", example = "T1566.002")]
    pub id: String,
    #[schema(max_length = 200)]
    pub note: Option<String>,
}

/// Parses each element of a list member, naming bad ones by position (`impact.affected_systems[1].kind`).
fn each<T, U>(
    errors: &mut FieldErrors,
    field: &str,
    max: usize,
    patch: Patch<Vec<T>>,
    parse: impl Fn(&str, T) -> Result<U, FieldErrors>,
) -> Patch<Vec<U>> {
    let parsed = patch.try_map(|items| {
        let items = limit(field, items, max)?;
        let mut item_errors = FieldErrors::new();
        let parsed: Vec<U> = items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| item_errors.take_all(parse(&format!("{field}[{i}]"), item)))
            .collect();
        item_errors.into_result().map(|()| parsed)
    });
    errors.take_all(parsed).unwrap_or_default()
}

fn count(errors: &mut FieldErrors, field: &str, patch: Patch<i64>) -> Patch<Count> {
    errors.take(patch.try_map(|n| Count::parse(field, n))).unwrap_or_default()
}

impl ImpactInput {
    pub fn parse(self, errors: &mut FieldErrors) -> ImpactPatch {
        ImpactPatch {
            business_impact: errors
                .take(self.business_impact.try_map(|t| LongText::parse("impact.business_impact", &t)))
                .unwrap_or_default(),
            affected_systems: each(
                errors,
                "impact.affected_systems",
                MAX_AFFECTED_SYSTEMS,
                self.affected_systems,
                |at, system| {
                    let mut errors = FieldErrors::new();
                    let name = errors.take(ShortText::parse(&format!("{at}.name"), &system.name));
                    let role =
                        errors.take(system.role.map(|r| ShortText::parse(&format!("{at}.role"), &r)).transpose());
                    errors.check(name.zip(role).map(|(name, role)| AffectedSystem { name, kind: system.kind, role }))
                },
            ),
            data_exposed: errors
                .take(self.data_exposed.try_map(|d| limit("impact.data_exposed", d, DataCategory::COUNT)))
                .unwrap_or_default(),
            records_exposed: count(errors, "impact.records_exposed", self.records_exposed),
            downtime_minutes: count(errors, "impact.downtime_minutes", self.downtime_minutes),
            people_affected: count(errors, "impact.people_affected", self.people_affected),
            cost: errors.take_all(self.cost.try_map(|cost| Money::parse("impact.cost", &cost))).unwrap_or_default(),
            notification: errors
                .take(self.notification.try_map(|n| {
                    let deadline = n
                        .deadline
                        .as_deref()
                        .map(|d| parse_instant_text("impact.notification.deadline", d))
                        .transpose()?;
                    Notification::new("impact.notification", n.regulator, n.customers, deadline)
                }))
                .unwrap_or_default(),
        }
    }
}

impl RootCauseInput {
    pub fn parse(self, errors: &mut FieldErrors) -> RootCausePatch {
        RootCausePatch {
            description: errors
                .take(self.description.try_map(|t| LongText::parse("root_cause.description", &t)))
                .unwrap_or_default(),
            category: self.category,
            contributing_factors: each(
                errors,
                "root_cause.contributing_factors",
                MAX_CONTRIBUTING_FACTORS,
                self.contributing_factors,
                |at, factor| ShortText::parse(at, &factor).map_err(FieldErrors::from),
            ),
        }
    }
}

impl AttackInput {
    pub fn parse(self, errors: &mut FieldErrors) -> AttackPatch {
        let field = "attack.techniques";
        let techniques = each(errors, field, MAX_TECHNIQUES, self.techniques, |at, technique| {
            let mut errors = FieldErrors::new();
            let id = errors.take(TechniqueId::parse(&format!("{at}.id"), &technique.id));
            let note = errors.take(technique.note.map(|n| ShortText::parse(&format!("{at}.note"), &n)).transpose());
            errors.check(id.zip(note).map(|(id, note)| Technique { id, note }))
        });
        AttackPatch {
            vector: self.vector,
            techniques: errors.take_all(techniques.try_map(|t| distinct_techniques(field, t))).unwrap_or_default(),
        }
    }
}
