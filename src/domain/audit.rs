//! The audit history: every create, change, delete and comment, with who, when and what changed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::principal::Principal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, strum::EnumString, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
/// The kind of resource an event is about.
pub enum EntityType {
    Incident,
    Action,
    Review,
    TimelineEntry,
    Person,
    /// An indicator of compromise of an incident.
    Indicator,
    /// An item of evidence of an incident.
    Evidence,
    /// One hand-over in an item of evidence's chain of custody; only ever created.
    CustodyEntry,
    /// Time someone spent on an incident.
    EffortEntry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, strum::EnumString, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
/// What happened to the resource.
pub enum EventKind {
    Created,
    Updated,
    Deleted,
    Commented,
    /// Someone other than the owner checked that a done action really was done.
    Verified,
}

/// One field's value before and after; `null` for a field that did not exist before or after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    pub old: Value,
    pub new: Value,
}

pub type Snapshot = BTreeMap<&'static str, Value>;

/// Field by field, what an event changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes(pub BTreeMap<String, FieldChange>);

impl Changes {
    pub fn created(snapshot: Snapshot) -> Self {
        Self(
            snapshot
                .into_iter()
                .map(|(field, new)| (field.to_owned(), FieldChange { old: Value::Null, new }))
                .collect(),
        )
    }

    pub fn deleted(snapshot: Snapshot) -> Self {
        Self(
            snapshot
                .into_iter()
                .map(|(field, old)| (field.to_owned(), FieldChange { old, new: Value::Null }))
                .collect(),
        )
    }

    /// Only the fields whose value differs.
    pub fn between(before: &Snapshot, after: &Snapshot) -> Self {
        Self(
            after
                .iter()
                .filter(|(field, new)| before.get(*field) != Some(*new))
                .map(|(field, new)| {
                    let old = before.get(field).cloned().unwrap_or(Value::Null);
                    (field.to_string(), FieldChange { old, new: new.clone() })
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Who made a change, from which request, and when.
#[derive(Debug, Clone)]
pub struct ChangeContext {
    pub actor: Principal,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub entity_type: EntityType,
    /// The resource's id; a person's e-mail address.
    pub entity_id: String,
    pub kind: EventKind,
    pub actor_sub: String,
    pub actor_email: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub request_id: Option<String>,
    pub changes: Changes,
    /// Why, where the change asks for a reason (a later due date).
    pub reason: Option<String>,
    /// The resource as it is after the change, for webhook subscribers; not stored with the event.
    pub resource: Option<Value>,
}

impl Event {
    pub fn new(
        context: &ChangeContext,
        entity_type: EntityType,
        entity_id: impl ToString,
        kind: EventKind,
        changes: Changes,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            entity_type,
            entity_id: entity_id.to_string(),
            kind,
            actor_sub: context.actor.sub.clone(),
            actor_email: context.actor.email.as_ref().map(ToString::to_string),
            occurred_at: context.at,
            request_id: context.request_id.clone(),
            changes,
            reason: None,
            resource: None,
        }
    }

    /// Adds the resource's state after the change (its client-visible fields and id).
    pub fn with_resource(mut self, snapshot: Snapshot) -> Self {
        let mut object: serde_json::Map<String, Value> =
            snapshot.into_iter().map(|(field, value)| (field.to_owned(), value)).collect();
        object.insert("id".to_owned(), Value::String(self.entity_id.clone()));
        self.resource = Some(Value::Object(object));
        self
    }

    pub fn with_reason(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_hold_only_what_differs() {
        let before: Snapshot = [("title", json!("Old")), ("team", json!(null)), ("priority", json!("high"))].into();
        let after: Snapshot = [("title", json!("New")), ("team", json!("IAM")), ("priority", json!("high"))].into();
        let changes = Changes::between(&before, &after);
        assert_eq!(
            serde_json::to_value(&changes).unwrap(),
            json!({"team": {"old": null, "new": "IAM"}, "title": {"old": "Old", "new": "New"}})
        );
    }
}
