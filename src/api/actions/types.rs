//! The actions room's request and response types, and how requests become domain types.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::common::required;
use crate::domain::action::{
    Action, ActionCategory, ActionFields, ActionPatch, ActionStatus, Priority, Tags, parse_due_date,
};
use crate::domain::email::EmailAddress;
use crate::domain::external::{ExternalRef, ExternalRefs, HttpUrl, Key, System};
use crate::domain::review::Review;
use crate::domain::text::{LongText, ShortText, Title};
use crate::domain::time::parse_calendar_date_text;
use crate::domain::{FieldError, FieldErrors, Patch};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c4-1f2a-7c3b-8d4e-5f6a7b8c9d0e", "key": "ACT-42",
    "incident_id": "0193a1c2-7b4e-7d21-9f0a-5c3e2b1a0f9d", "title": "Enforce phishing-resistant MFA for finance",
    "description": "Roll out FIDO2 keys to the finance team and disable SMS codes.",
    "owner_email": "dana@example.com", "owner_name": "Dana Reyes", "team": "IT Security",
    "due_date": "2026-12-15", "priority": "high", "category": "prevention", "status": "in_progress",
    "resolution": null, "tags": ["finance", "mfa"], "snoozed_until": null, "completed_at": null,
    "created_at": "2026-11-04T10:00:00Z", "updated_at": "2026-11-10T16:30:00Z", "version": 3,
    "overdue": false, "days_overdue": 0, "created_by": "facilitator@example.com", "updated_by": "dana@example.com",
    "review_id": "0193a1c3-2a4b-7c5d-8e6f-7a8b9c0d1e2f", "verified_at": null, "verified_by": null,
    "verification_evidence": null, "owner_inactive": false,
    "external_refs": [{"system": "jira", "key": "SEC-123", "url": "https://jira.example.com/browse/SEC-123"}]
}))]
pub struct ActionResponse {
    pub id: Uuid,
    /// Short human key, assigned by the server and never reused.
    #[schema(example = "ACT-42")]
    pub key: String,
    pub incident_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    /// Lower-case.
    pub owner_email: String,
    pub owner_name: Option<String>,
    pub team: Option<String>,
    pub due_date: NaiveDate,
    pub priority: Priority,
    pub category: ActionCategory,
    pub status: ActionStatus,
    /// What was done, or why not; required for done and cancelled.
    pub resolution: Option<String>,
    /// Lower-case, sorted.
    pub tags: Vec<String>,
    /// No reminders are sent until this date; the due date does not move.
    pub snoozed_until: Option<NaiveDate>,
    /// When the action moved to done or cancelled; null while it is open, in progress or blocked.
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases by one with every change; the `ETag` is derived from it.
    pub version: i64,
    /// Open, in progress or blocked, and due before today (in the server's `TIMEZONE`).
    pub overdue: bool,
    /// Whole days past the due date when overdue, otherwise 0.
    pub days_overdue: i64,
    /// Who recorded it: the e-mail address of the token that did, or its subject.
    pub created_by: String,
    /// Who changed it last.
    pub updated_by: String,
    /// The lessons-learned review that decided on this action.
    pub review_id: Option<Uuid>,
    /// When someone other than the owner confirmed the work was done; cleared when the action is reopened.
    pub verified_at: Option<DateTime<Utc>>,
    pub verified_by: Option<String>,
    /// What the verifier checked.
    pub verification_evidence: Option<String>,
    /// The owner is marked inactive in the people directory: the action needs a new owner.
    pub owner_inactive: bool,
    /// Tickets in other systems linked to this action; each ticket links to one action at most.
    pub external_refs: Vec<ExternalRefBody>,
}

/// A ticket in another system, e.g. `{"system": "jira", "key": "SEC-123"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalRefBody {
    /// 1–50 letters, digits or `- _ .`; stored lower-case.
    #[schema(max_length = 50, pattern = "^[A-Za-z0-9._-]{1,50}$", example = "jira")]
    pub system: String,
    /// 1–100 letters, digits or `- _ . : #`.
    #[schema(max_length = 100, pattern = "^[A-Za-z0-9._:#-]{1,100}$", example = "SEC-123")]
    pub key: String,
    /// Where people open the ticket (http or https).
    #[schema(
        max_length = 2000,
        pattern = "^https?://([A-Za-z][A-Za-z0-9-]*(\\.[A-Za-z][A-Za-z0-9-]*)*|(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})(:(0|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[!-~]*)?$",
        example = "https://jira.example.com/browse/SEC-123"
    )]
    pub url: Option<String>,
}

impl From<&ExternalRef> for ExternalRefBody {
    fn from(link: &ExternalRef) -> Self {
        Self {
            system: link.system.as_str().to_owned(),
            key: link.key.as_str().to_owned(),
            url: link.url.as_ref().map(|u| u.as_str().to_owned()),
        }
    }
}

/// Tickets as sent, parsed: errors name the item (`external_refs[1].key`).
pub(super) fn parse_refs(field: &str, raw: &[ExternalRefBody]) -> Result<ExternalRefs, FieldErrors> {
    if raw.len() > ExternalRefs::MAX {
        return Err(FieldError::new(field, format!("must have at most {} tickets", ExternalRefs::MAX)).into());
    }
    let mut errors = FieldErrors::new();
    let links: Vec<ExternalRef> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, link)| {
            let system = errors.take(System::parse(&format!("{field}[{i}].system"), &link.system));
            let key = errors.take(Key::parse(&format!("{field}[{i}].key"), &link.key));
            let url = errors.take(
                link.url
                    .as_deref()
                    .filter(|u| !u.trim().is_empty())
                    .map(|u| HttpUrl::parse(&format!("{field}[{i}].url"), u))
                    .transpose(),
            );
            Some(ExternalRef { system: system?, key: key?, url: url? })
        })
        .collect();
    errors.into_result()?;
    ExternalRefs::new(field, links)
}

impl ActionResponse {
    pub(super) fn new(action: &Action, today: NaiveDate) -> Self {
        let f = &action.fields;
        let days_overdue = action.days_overdue(today);
        Self {
            id: action.id,
            key: action.key(),
            incident_id: f.incident_id,
            title: f.title.to_string(),
            description: f.description.as_ref().map(ToString::to_string),
            owner_email: f.owner_email.to_string(),
            owner_name: f.owner_name.as_ref().map(ToString::to_string),
            team: f.team.as_ref().map(ToString::to_string),
            due_date: f.due_date,
            priority: f.priority,
            category: f.category,
            status: f.status,
            resolution: f.resolution.as_ref().map(ToString::to_string),
            tags: f.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            snoozed_until: f.snoozed_until,
            completed_at: action.completed_at,
            created_at: action.created_at,
            updated_at: action.updated_at,
            version: action.version,
            overdue: days_overdue > 0,
            days_overdue,
            created_by: action.created_by.clone(),
            updated_by: action.updated_by.clone(),
            review_id: f.review_id,
            verified_at: action.verification.as_ref().map(|v| v.at),
            verified_by: action.verification.as_ref().map(|v| v.by.clone()),
            verification_evidence: action.verification.as_ref().map(|v| v.evidence.to_string()),
            owner_inactive: action.owner_inactive,
            external_refs: f.external_refs.iter().map(ExternalRefBody::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionList {
    pub items: Vec<ActionResponse>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A new corrective action. Creating it as done or cancelled needs a resolution.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "incident_id": "0193a1c2-7b4e-7d21-9f0a-5c3e2b1a0f9d", "title": "Enforce phishing-resistant MFA for finance",
    "owner_email": "dana@example.com", "owner_name": "Dana Reyes", "team": "IT Security",
    "due_date": "2026-12-15", "priority": "high", "category": "prevention", "tags": ["mfa", "finance"]
}))]
pub struct CreateActionRequest {
    /// Required on `POST /actions`; on `POST /incidents/{id}/actions` it may be left out (or must equal `{id}`).
    pub incident_id: Option<Uuid>,
    /// The lessons-learned review (of the same incident) that decided on it.
    pub review_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// A valid address; stored lower-case.
    #[schema(max_length = 254, example = "dana@example.com")]
    pub owner_email: String,
    #[schema(max_length = 200)]
    pub owner_name: Option<String>,
    #[schema(max_length = 200)]
    pub team: Option<String>,
    /// `YYYY-MM-DD`, between 2000-01-01 and 2199-12-31.
    #[schema(value_type = NaiveDate)]
    pub due_date: String,
    /// Defaults to `medium`.
    pub priority: Option<Priority>,
    /// Defaults to `other`.
    pub category: Option<ActionCategory>,
    /// Defaults to `open`.
    pub status: Option<ActionStatus>,
    #[schema(max_length = 10000)]
    pub resolution: Option<String>,
    /// At most 20 tags of 1–50 letters, digits or `- _ . : /`; stored lower-case.
    #[schema(max_items = 20)]
    pub tags: Option<Vec<String>>,
    /// No reminders until this date.
    #[schema(value_type = Option<NaiveDate>)]
    pub snoozed_until: Option<String>,
    /// Tickets in other systems to link (at most 10); a ticket linked to another action is a 409.
    #[schema(max_items = 10)]
    pub external_refs: Option<Vec<ExternalRefBody>>,
}

/// A merge-patch (RFC 7396): members left out keep their value, `null` clears an optional one.
/// Moving to done or cancelled needs a resolution (in this request or already set).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "done", "resolution": "FIDO2 keys issued to all 14 finance staff; SMS codes disabled."}))]
pub struct UpdateActionRequest {
    /// Moves the action to another incident.
    #[serde(default)]
    #[schema(value_type = Uuid)]
    pub incident_id: Patch<Uuid>,
    /// The review (of the action's incident) that decided on it; `null` unlinks it.
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub review_id: Patch<Uuid>,
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub title: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Patch<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 254)]
    pub owner_email: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub owner_name: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub team: Patch<String>,
    #[serde(default)]
    #[schema(value_type = NaiveDate)]
    pub due_date: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Priority)]
    pub priority: Patch<Priority>,
    #[serde(default)]
    #[schema(value_type = ActionCategory)]
    pub category: Patch<ActionCategory>,
    #[serde(default)]
    #[schema(value_type = ActionStatus)]
    pub status: Patch<ActionStatus>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub resolution: Patch<String>,
    /// Replaces all tags; `null` or `[]` removes them.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, max_items = 20)]
    pub tags: Patch<Vec<String>>,
    /// No reminders until this date (the due date does not move); `null` ends a snooze. Owners may set it
    /// up to 30 days ahead (403 beyond), editors further.
    #[serde(default)]
    #[schema(value_type = Option<NaiveDate>)]
    pub snoozed_until: Patch<String>,
    /// Replaces all links to tickets; `null` or `[]` removes them.
    #[serde(default)]
    #[schema(value_type = Option<Vec<ExternalRefBody>>, max_items = 10)]
    pub external_refs: Patch<Vec<ExternalRefBody>>,
    /// Why the due date moves later: required exactly when `due_date` moves later, and kept in the history.
    #[schema(max_length = 10000)]
    pub due_date_change_reason: Option<String>,
}

impl CreateActionRequest {
    /// `path_incident` is the `{id}` of `POST /incidents/{id}/actions`.
    pub(super) fn into_fields(self, path_incident: Option<Uuid>) -> Result<ActionFields, FieldErrors> {
        let mut errors = FieldErrors::new();
        let incident_id = errors.take(match (path_incident, self.incident_id) {
            (Some(path), Some(body)) if path != body => {
                Err(FieldError::new("incident_id", "differs from the incident in the URL; leave it out"))
            }
            (Some(id), _) | (None, Some(id)) => Ok(id),
            (None, None) => Err(FieldError::new("incident_id", "is required")),
        });
        let title = errors.take(Title::parse("title", &self.title));
        let description = errors.take(LongText::parse_optional("description", self.description.as_deref()));
        let owner_email = errors.take(EmailAddress::parse("owner_email", &self.owner_email));
        let owner_name = errors.take(ShortText::parse_optional("owner_name", self.owner_name.as_deref()));
        let team = errors.take(ShortText::parse_optional("team", self.team.as_deref()));
        let due_date = errors.take(parse_due_date("due_date", &self.due_date));
        let resolution = errors.take(LongText::parse_optional("resolution", self.resolution.as_deref()));
        let snoozed_until = errors
            .take(self.snoozed_until.as_deref().map(|d| parse_calendar_date_text("snoozed_until", d)).transpose());
        let tags = errors.take_all(Tags::parse("tags", self.tags.as_deref().unwrap_or_default()));
        let external_refs =
            errors.take_all(parse_refs("external_refs", self.external_refs.as_deref().unwrap_or_default()));
        let fields = || {
            Some(ActionFields {
                incident_id: incident_id?,
                review_id: self.review_id,
                title: title?,
                description: description?,
                owner_email: owner_email?,
                owner_name: owner_name?,
                team: team?,
                due_date: due_date?,
                priority: self.priority.unwrap_or_default(),
                category: self.category.unwrap_or_default(),
                status: self.status.unwrap_or_default(),
                resolution: resolution?,
                tags: tags?,
                snoozed_until: snoozed_until?,
                external_refs: external_refs?,
            })
        };
        errors.check(fields())
    }
}

impl TryFrom<UpdateActionRequest> for ActionPatch {
    type Error = FieldErrors;

    fn try_from(body: UpdateActionRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let title = required("title", body.title).and_then(|t| t.map(|t| Title::parse("title", &t)).transpose());
        let owner_email = required("owner_email", body.owner_email)
            .and_then(|e| e.map(|e| EmailAddress::parse("owner_email", &e)).transpose());
        let due_date =
            required("due_date", body.due_date).and_then(|d| d.map(|d| parse_due_date("due_date", &d)).transpose());
        let raw_tags = match body.tags {
            Patch::Absent => None,
            Patch::Null => Some(Vec::new()),
            Patch::Value(tags) => Some(tags),
        };
        let tags = raw_tags.and_then(|raw| errors.take_all(Tags::parse("tags", &raw)));
        let raw_refs = match body.external_refs {
            Patch::Absent => None,
            Patch::Null => Some(Vec::new()),
            Patch::Value(refs) => Some(refs),
        };
        let external_refs = raw_refs.and_then(|raw| errors.take_all(parse_refs("external_refs", &raw)));
        let patch = ActionPatch {
            incident_id: errors.take(required("incident_id", body.incident_id)).flatten(),
            review_id: body.review_id,
            title: errors.take(title).flatten(),
            description: errors
                .take(body.description.try_map(|t| LongText::parse("description", &t)))
                .unwrap_or_default(),
            owner_email: errors.take(owner_email).flatten(),
            owner_name: errors
                .take(body.owner_name.try_map(|t| ShortText::parse("owner_name", &t)))
                .unwrap_or_default(),
            team: errors.take(body.team.try_map(|t| ShortText::parse("team", &t))).unwrap_or_default(),
            due_date: errors.take(due_date).flatten(),
            priority: errors.take(required("priority", body.priority)).flatten(),
            category: errors.take(required("category", body.category)).flatten(),
            status: errors.take(required("status", body.status)).flatten(),
            resolution: errors.take(body.resolution.try_map(|t| LongText::parse("resolution", &t))).unwrap_or_default(),
            tags,
            external_refs,
            snoozed_until: errors
                .take(body.snoozed_until.try_map(|d| parse_calendar_date_text("snoozed_until", &d)))
                .unwrap_or_default(),
            due_date_change_reason: errors
                .take(
                    body.due_date_change_reason
                        .as_deref()
                        .map(|reason| LongText::parse("due_date_change_reason", reason))
                        .transpose(),
                )
                .flatten(),
        };
        errors.into_result().map(|()| patch)
    }
}

/// What the verifier checked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"evidence": "Checked the IdP: all 14 finance accounts enforce FIDO2; SMS factor disabled tenant-wide."}))]
pub struct VerifyActionRequest {
    #[schema(min_length = 1, max_length = 10000)]
    pub evidence: String,
}

/// Actions one bulk request may create.
const MAX_BULK_ACTIONS: usize = 100;

/// The actions of a bulk request as the review's: errors name their item (`actions[1].owner_email`).
pub(super) fn review_actions(
    items: Vec<CreateActionRequest>,
    review: &Review,
) -> Result<Vec<ActionFields>, FieldErrors> {
    if items.is_empty() || items.len() > MAX_BULK_ACTIONS {
        return Err(FieldError::new("actions", format!("must hold 1 to {MAX_BULK_ACTIONS} actions")).into());
    }
    let mut errors = FieldErrors::new();
    let mut parsed = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let prefix = format!("actions[{index}]");
        if item.review_id.is_some_and(|other| other != review.id) {
            errors.push(FieldError::new(
                format!("{prefix}.review_id"),
                "differs from the review in the URL; leave it out",
            ));
            continue;
        }
        match item.into_fields(Some(review.incident_id)) {
            Ok(mut fields) => {
                fields.review_id = Some(review.id);
                parsed.push(fields);
            }
            Err(item_errors) => errors.append(item_errors.prefixed(&prefix)),
        }
    }
    errors.into_result().map(|()| parsed)
}

/// Corrective actions decided in the review, created together: all of them or, if any is invalid, none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"actions": [
    {"title": "Enforce phishing-resistant MFA for finance", "owner_email": "dana@example.com",
     "due_date": "2026-12-15", "priority": "high", "category": "prevention"},
    {"title": "Block newly registered domains at the proxy", "owner_email": "lee@example.com",
     "due_date": "2026-12-01", "category": "detection"}
]}))]
pub struct BulkActionsRequest {
    /// 1–100 actions; `incident_id` and `review_id` may be left out (they are the review's).
    #[schema(min_items = 1, max_items = 100)]
    pub actions: Vec<CreateActionRequest>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkActionsResponse {
    /// The created actions, in the order they were sent.
    pub items: Vec<ActionResponse>,
}
