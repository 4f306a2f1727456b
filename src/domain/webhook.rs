//! Webhooks: which kinds of change a subscriber hears about, and what a delivery says.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::FieldError;
use super::audit::{EntityType, Event, EventKind};
use super::external::HttpUrl;
use super::text::ShortText;

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
)]
/// A kind of change a webhook can subscribe to.
pub enum WebhookEvent {
    #[serde(rename = "action.created")]
    #[strum(serialize = "action.created")]
    ActionCreated,
    /// Any change to an action (a status change also sends `action.status_changed`).
    #[serde(rename = "action.updated")]
    #[strum(serialize = "action.updated")]
    ActionUpdated,
    #[serde(rename = "action.status_changed")]
    #[strum(serialize = "action.status_changed")]
    ActionStatusChanged,
    /// An action became overdue (sent with its first overdue reminder).
    #[serde(rename = "action.overdue")]
    #[strum(serialize = "action.overdue")]
    ActionOverdue,
    /// An overdue action was escalated to the owner's manager or the escalation contact.
    #[serde(rename = "action.escalated")]
    #[strum(serialize = "action.escalated")]
    ActionEscalated,
    #[serde(rename = "action.verified")]
    #[strum(serialize = "action.verified")]
    ActionVerified,
    #[serde(rename = "incident.created")]
    #[strum(serialize = "incident.created")]
    IncidentCreated,
    #[serde(rename = "incident.updated")]
    #[strum(serialize = "incident.updated")]
    IncidentUpdated,
    /// A lessons-learned review moved to completed.
    #[serde(rename = "review.completed")]
    #[strum(serialize = "review.completed")]
    ReviewCompleted,
}

impl WebhookEvent {
    /// The webhook events a recorded change stands for.
    pub fn for_event(event: &Event) -> Vec<WebhookEvent> {
        let changed = |field: &str| event.changes.0.contains_key(field);
        match (event.entity_type, event.kind) {
            (EntityType::Action, EventKind::Created) => vec![WebhookEvent::ActionCreated],
            (EntityType::Action, EventKind::Updated) if changed("status") => {
                vec![WebhookEvent::ActionUpdated, WebhookEvent::ActionStatusChanged]
            }
            (EntityType::Action, EventKind::Updated) => vec![WebhookEvent::ActionUpdated],
            (EntityType::Action, EventKind::Verified) => vec![WebhookEvent::ActionVerified],
            (EntityType::Incident, EventKind::Created) => vec![WebhookEvent::IncidentCreated],
            (EntityType::Incident, EventKind::Updated) => vec![WebhookEvent::IncidentUpdated],
            (EntityType::Review, EventKind::Created | EventKind::Updated)
                if event.changes.0.get("status").is_some_and(|c| c.new == json!("completed")) =>
            {
                vec![WebhookEvent::ReviewCompleted]
            }
            _ => Vec::new(),
        }
    }
}

/// The event types of one webhook: at least one, each once.
pub fn parse_events(field: &str, raw: &[WebhookEvent]) -> Result<Vec<WebhookEvent>, FieldError> {
    let mut events = raw.to_vec();
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(FieldError::new(field, "must name at least one event type"));
    }
    Ok(events)
}

/// A secret of 16 to 256 characters, not blank, held to the character rules of all text (so it is stored
/// alike on both backends); generated when the creator gives none. Taken as sent, never trimmed: it is a key.
pub fn parse_secret(field: &str, raw: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(secret) = raw else { return Ok(None) };
    if !(16..=256).contains(&secret.chars().count()) || secret.trim().is_empty() {
        return Err(FieldError::new(field, "must be 16 to 256 characters, not all blank"));
    }
    super::text::check_characters(field, secret, false)?;
    Ok(Some(secret.to_owned()))
}

#[derive(Debug, Clone)]
pub struct WebhookFields {
    pub url: HttpUrl,
    pub events: Vec<WebhookEvent>,
    pub description: Option<ShortText>,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: Uuid,
    pub fields: WebhookFields,
    /// Signs deliveries; shown only to whoever created the webhook.
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// The body of one delivery: the event's id (stable across retries and redeliveries, for receivers to
/// drop duplicates), its type and time, and the resource.
pub fn payload(
    id: Uuid,
    kind: WebhookEvent,
    occurred_at: DateTime<Utc>,
    entity_type: EntityType,
    entity_id: &str,
    changes: &Value,
    resource: Option<&Value>,
) -> Value {
    json!({
        "id": id,
        "type": kind,
        "occurred_at": occurred_at,
        "data": {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "changes": changes,
            "resource": resource,
        }
    })
}
