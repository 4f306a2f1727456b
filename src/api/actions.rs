//! `/api/v1/actions` and `/api/v1/incidents/{id}/actions`: corrective actions.

use actix_web::{HttpRequest, HttpResponse, delete, get, http::header, patch, post, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access;
use super::error::{ApiError, Problem};
use super::extract::{self, ApiJson, entity_tag_with, if_match_versions};
use super::idempotency::Idempotency;
use super::{AppState, Data, Freshness, page, page_size, parse_bool, parse_list, required, resource};
use crate::db;
use crate::domain::action::{
    Action, ActionCategory, ActionFields, ActionPatch, ActionStatus, Priority, Tag, Tags, parse_due_date,
};
use crate::domain::email::EmailAddress;
use crate::domain::external::{ExternalRef, ExternalRefs, HttpUrl, Key, System};
use crate::domain::listing::{ActionFilter, ActionSort, PageRequest};
use crate::domain::principal::{Principal, Role};
use crate::domain::text::{LongText, ShortText, Title};
use crate::domain::time::{parse_calendar_date_text, parse_instant_text};
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActionListQuery {
    /// Comma-separated statuses, e.g. `open,in_progress`.
    #[param(
        example = "open,in_progress,blocked",
        pattern = "^(open|in_progress|blocked|done|cancelled)(,(open|in_progress|blocked|done|cancelled))*$"
    )]
    pub status: Option<String>,
    /// The owner's e-mail address (case-insensitive).
    #[param(example = "dana@example.com", format = Email)]
    pub owner: Option<String>,
    /// Only the actions of this incident.
    #[param(value_type = Option<Uuid>)]
    pub incident_id: Option<String>,
    /// Comma-separated priorities, e.g. `critical,high`.
    #[param(example = "critical,high", pattern = "^(critical|high|medium|low)(,(critical|high|medium|low))*$")]
    pub priority: Option<String>,
    /// Comma-separated categories, e.g. `prevention,detection`.
    #[param(
        example = "prevention",
        pattern = "^(prevention|detection|response|process|training|tooling|communication|other)(,(prevention|detection|response|process|training|tooling|communication|other))*$"
    )]
    pub category: Option<String>,
    /// Only actions with this tag.
    #[param(example = "mfa", pattern = "^[A-Za-z0-9._:/-]{1,50}$")]
    pub tag: Option<String>,
    /// `true`: only overdue actions; `false`: only those that are not.
    #[param(value_type = Option<bool>)]
    pub overdue: Option<String>,
    /// Due strictly before this date (YYYY-MM-DD).
    #[param(value_type = Option<NaiveDate>)]
    pub due_before: Option<String>,
    /// Due strictly after this date (YYYY-MM-DD).
    #[param(value_type = Option<NaiveDate>)]
    pub due_after: Option<String>,
    /// Changed at or after this time (RFC 3339), for incremental sync.
    #[param(value_type = Option<DateTime<Utc>>)]
    pub updated_since: Option<String>,
    /// Text the title contains (case-insensitive).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Only the actions decided on by this review.
    #[param(value_type = Option<Uuid>)]
    pub review_id: Option<String>,
    /// `true`: only verified actions; `false`: only those not verified (with `status=done`: work to check).
    #[param(value_type = Option<bool>)]
    pub verified: Option<String>,
    /// `true`: only actions whose owner is marked inactive in the people directory (orphaned work).
    #[param(value_type = Option<bool>)]
    pub owner_inactive: Option<String>,
    /// With `external_key`: the action linked to this ticket, e.g. `jira`.
    #[param(example = "jira", pattern = "^[A-Za-z0-9._-]{1,50}$")]
    pub external_system: Option<String>,
    /// With `external_system`: the ticket's key, e.g. `SEC-123`.
    #[param(example = "SEC-123", pattern = "^[A-Za-z0-9._:#-]{1,100}$")]
    pub external_key: Option<String>,
    /// One of due_date, -due_date, priority, created_at (default), -created_at, updated_at, -updated_at;
    /// ties are broken by id.
    #[param(example = "due_date", pattern = "^(-?due_date|priority|-?created_at|-?updated_at)$")]
    pub sort: Option<String>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, with the same other parameters (400 `cursor_mismatch`
    /// otherwise; `limit` may change).
    pub cursor: Option<String>,
}

impl ActionListQuery {
    /// The filter and sort asked for. The page follows from them with [`Self::page`], once the handler has
    /// added what its path says (an incident, a person): the cursor must belong to the whole query.
    pub fn parse(&self, today: NaiveDate) -> Result<(ActionFilter, ActionSort), FieldErrors> {
        let mut errors = FieldErrors::new();
        errors.take(crate::domain::listing::parse_limit(page_size(self.limit)));
        let date = |field: &str, raw: &Option<String>| -> Result<Option<NaiveDate>, FieldError> {
            raw.as_deref().map(|raw| parse_calendar_date_text(field, raw)).transpose()
        };
        let statuses =
            errors.take(parse_list("status", self.status.as_deref(), "open, in_progress, blocked, done, cancelled"));
        let owner = errors.take(self.owner.as_deref().map(|o| EmailAddress::parse("owner", o)).transpose());
        let incident_id = errors.take(
            self.incident_id
                .as_deref()
                .map(|id| Uuid::parse_str(id).map_err(|_| FieldError::new("incident_id", "must be a UUID")))
                .transpose(),
        );
        let priorities = errors.take(parse_list("priority", self.priority.as_deref(), "critical, high, medium, low"));
        let categories = errors.take(parse_list(
            "category",
            self.category.as_deref(),
            "prevention, detection, response, process, training, tooling, communication, other",
        ));
        let tag = errors.take(self.tag.as_deref().map(|t| Tag::parse("tag", t)).transpose());
        let overdue = errors.take(parse_bool("overdue", self.overdue.as_deref())).map(|o| o.map(|o| (o, today)));
        let due_before = errors.take(date("due_before", &self.due_before));
        let due_after = errors.take(date("due_after", &self.due_after));
        let updated_since =
            errors.take(self.updated_since.as_deref().map(|raw| parse_instant_text("updated_since", raw)).transpose());
        let title_contains = errors.take(ShortText::parse_optional("q", self.q.as_deref()));
        let review_id = errors.take(
            self.review_id
                .as_deref()
                .map(|id| Uuid::parse_str(id).map_err(|_| FieldError::new("review_id", "must be a UUID")))
                .transpose(),
        );
        let verified = errors.take(parse_bool("verified", self.verified.as_deref()));
        let owner_inactive = errors.take(parse_bool("owner_inactive", self.owner_inactive.as_deref()));
        let external_ref = errors.take(match (self.external_system.as_deref(), self.external_key.as_deref()) {
            (None, None) => Ok(None),
            (Some(system), Some(key)) => System::parse("external_system", system)
                .and_then(|system| Ok(Some((system, Key::parse("external_key", key)?)))),
            (Some(_), None) => Err(FieldError::new("external_key", "is required with external_system")),
            (None, Some(_)) => Err(FieldError::new("external_system", "is required with external_key")),
        });
        let sort = errors.take(ActionSort::parse(self.sort.as_deref().unwrap_or("created_at")));
        let parsed = || {
            let filter = ActionFilter {
                statuses: statuses?,
                owner: owner?,
                incident_id: incident_id?,
                priorities: priorities?,
                categories: categories?,
                tag: tag?,
                overdue: overdue?,
                due_before: due_before?,
                due_after: due_after?,
                updated_since: updated_since?,
                title_contains: title_contains?,
                review_id: review_id?,
                verified: verified?,
                owner_inactive: owner_inactive?,
                external_ref: external_ref?,
            };
            Some((filter, sort?))
        };
        errors.check(parsed())
    }

    /// The page asked for of the list `filter` and `sort` make; its cursor must have come from that list.
    pub fn page(&self, filter: &ActionFilter, sort: ActionSort) -> Result<PageRequest<ActionSort>, ApiError> {
        Ok(PageRequest::new(sort, page_size(self.limit), self.cursor.as_deref(), filter.list_query())?)
    }
}

fn not_found(id: Uuid) -> impl FnOnce() -> String {
    move || format!("action with id {id}")
}

fn action_resource(
    state: &AppState,
    req: &HttpRequest,
    builder: actix_web::HttpResponseBuilder,
    action: &Action,
) -> HttpResponse {
    let today = state.today();
    let etag = action_entity_tag(action.version, action.owner_inactive, today);
    resource(req, builder, &ActionResponse::new(action, today), etag)
}

/// An action's representation also says whether its owner left, which a person's record decides, not
/// the action's version; the tag tells the two states apart so a revalidating dashboard hears of it.
fn action_entity_tag(version: i64, owner_inactive: bool, today: chrono::NaiveDate) -> String {
    entity_tag_with(version, today, if owner_inactive { "i" } else { "" })
}

async fn create_action(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    fields: ActionFields,
    unknown_incident: impl FnOnce() -> ApiError,
) -> Result<HttpResponse, ApiError> {
    let action = match db::actions::create(&state.db, fields, access::change_context(principal)).await {
        Ok(action) => action,
        Err(db::StoreError::UnknownIncident) => return Err(unknown_incident()),
        Err(other) => return Err(ApiError::from_store(other, || "action".into())),
    };
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, format!("/api/v1/actions/{}", action.id)));
    Ok(action_resource(state, req, created, &action))
}

pub(super) async fn list_actions(
    state: &AppState,
    req: &HttpRequest,
    query: &ActionListQuery,
    filter: ActionFilter,
    sort: ActionSort,
) -> Result<HttpResponse, ApiError> {
    let page_request = query.page(&filter, sort)?;
    let fresh = Freshness::of(state).await?;
    if let Some(not_modified) = fresh.unchanged(req) {
        return Ok(not_modified);
    }
    let today = state.today();
    let found =
        db::actions::list(&state.db, filter, page_request).await.map_err(|e| ApiError::from_store(e, String::new))?;
    let next_cursor = found.next.map(|cursor| cursor.encode());
    let body = ActionList { items: found.items.iter().map(|a| ActionResponse::new(a, today)).collect(), next_cursor };
    Ok(page(req, &body, body.next_cursor.as_deref(), Some(&fresh)))
}

/// Add a corrective action to an incident. Needs the editor role.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = CreateActionRequest,
    responses(
        (status = 201, description = "Created", body = ActionResponse, headers(
            ("Location" = String, description = "URL of the new action"),
            ("ETag" = String, description = "Entity tag of the new action"))),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A ticket in `external_refs` is linked to another action, or a request with the same Idempotency-Key is still running", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/incidents/{id}/actions")]
pub async fn create_for_incident(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<CreateActionRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let incident_id = id.into_inner();
    let fields = body.parse(|body| body.into_fields(Some(incident_id)))?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    create_action(&state, &req, &principal, fields, || {
        ApiError::NotFound(format!("no incident with id {incident_id} exists"))
    })
    .await
}

/// List the corrective actions of one incident; takes the same filters as `GET /actions`. Needs the viewer role.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path, description = "Incident id"), ActionListQuery),
    responses(
        (status = 200, description = "One page of the incident's actions", body = ActionList, headers(
            ("Link" = String, description = "`<url>; rel=\"next\"` when another page follows"))),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/incidents/{id}/actions")]
pub async fn list_for_incident(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<ActionListQuery>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let incident_id = id.into_inner();
    let (mut filter, sort) = query.parse(state.today())?;
    if filter.incident_id.is_some_and(|other| other != incident_id) {
        return Err(ApiError::invalid("incident_id", "differs from the incident in the URL; leave it out"));
    }
    db::incidents::find(&state.db, incident_id)
        .await
        .map_err(|e| ApiError::from_store(e, || format!("incident with id {incident_id}")))?;
    filter.incident_id = Some(incident_id);
    list_actions(&state, &req, &query, filter, sort).await
}

/// Record a corrective action (the body names its incident). Needs the editor role.
#[utoipa::path(
    tag = "actions",
    request_body = CreateActionRequest,
    responses(
        (status = 201, description = "Created", body = ActionResponse, headers(
            ("Location" = String, description = "URL of the new action"),
            ("ETag" = String, description = "Entity tag of the new action"))),
        (status = 409, description = "A ticket in `external_refs` is linked to another action, or a request with the same Idempotency-Key is still running", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or no such incident", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/actions")]
pub async fn create(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    body: ApiJson<CreateActionRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let fields = body.parse(|body| body.into_fields(None))?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    create_action(&state, &req, &principal, fields, || {
        ApiError::invalid("incident_id", "no incident with this id exists")
    })
    .await
}

/// List corrective actions across incidents, filtered, sorted and paginated. Needs the viewer role, or
/// `owner` set to the caller's own address (an owner's own queue).
#[utoipa::path(
    tag = "actions",
    params(ActionListQuery),
    responses(
        (status = 200, description = "One page of actions", body = ActionList, headers(
            ("Link" = String, description = "`<url>; rel=\"next\"` when another page follows"))),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/actions")]
pub async fn list(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<ActionListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, sort) = query.parse(state.today())?;
    let own_queue = filter.owner.is_some() && filter.owner == principal.email;
    if !own_queue {
        access::require(&principal, Role::Viewer)?;
    }
    list_actions(&state, &req, &query, filter, sort).await
}

/// Fetch one corrective action. Needs the viewer role, or being its owner.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path, description = "Action id"),
           ("If-None-Match" = Option<String>, Header, description = "Entity tag of the copy the client has")),
    responses(
        (status = 200, description = "The action", body = ActionResponse, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such action", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/actions/{id}")]
pub async fn get(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // A dashboard revalidating its copy needs only the version (and the owner, to be allowed to ask).
    if req.headers().contains_key(header::IF_NONE_MATCH) {
        let current =
            db::actions::revalidation(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
        access::read_action_of(&principal, &current.owner)?;
        let etag = action_entity_tag(current.version, current.owner_inactive, state.today());
        if extract::none_match_hits(&req, &etag) {
            return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
        }
    }
    let action = db::actions::find(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    access::read_action(&principal, &action)?;
    Ok(action_resource(&state, &req, HttpResponse::Ok(), &action))
}

/// Change a corrective action (JSON merge-patch), with the status rules applied. Editors may change every
/// field; the action's owner only `status` and `resolution` (other fields are refused with 403, naming them).
/// Moving `due_date` later needs `due_date_change_reason`.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path, description = "Action id"),
           ("If-Match" = Option<String>, Header, description = "Only change it if this is still its entity tag")),
    request_body(content = UpdateActionRequest, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed action", body = ActionResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 404, description = "No such action", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A ticket in `external_refs` is linked to another action", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, a missing resolution, or no such incident", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/actions/{id}")]
pub async fn update(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateActionRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let patch = body.parse(ActionPatch::try_from)?;
    let current = db::actions::find(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    let owner = access::update_action(&principal, &current, &patch, state.today())?;
    let guard = db::Guard { if_match: if_match_versions(&req), owner };
    let action = db::actions::update(&state.db, id, guard, patch, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(action_resource(&state, &req, HttpResponse::Ok(), &action))
}

/// Delete a corrective action. Needs the admin role.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path, description = "Action id"),
           ("If-Match" = Option<String>, Header, description = "Only delete it if this is still its entity tag")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such action", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/actions/{id}")]
pub async fn delete(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Admin)?;
    let id = id.into_inner();
    db::actions::delete(&state.db, id, if_match_versions(&req), access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(HttpResponse::NoContent().finish())
}

/// What the verifier checked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"evidence": "Checked the IdP: all 14 finance accounts enforce FIDO2; SMS factor disabled tenant-wide."}))]
pub struct VerifyActionRequest {
    #[schema(min_length = 1, max_length = 10000)]
    pub evidence: String,
}

/// Confirm that a done action really was done, with the evidence checked. Needs the editor role, and
/// the caller must not be the action's owner: nobody verifies their own work. Reopening the action
/// clears the verification.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path, description = "Action id"),
           ("If-Match" = Option<String>, Header, description = "Only verify it if this is still its entity tag")),
    request_body = VerifyActionRequest,
    responses(
        (status = 200, description = "The verified action", body = ActionResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 404, description = "No such action", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The action is not done", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid evidence", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/actions/{id}/verify")]
pub async fn verify(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<VerifyActionRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let id = id.into_inner();
    let evidence = body.parse(|body| LongText::parse("evidence", &body.evidence))?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let action = db::actions::verify(
        &state.db,
        id,
        if_match_versions(&req),
        evidence,
        principal.email.clone(),
        access::change_context(&principal),
    )
    .await
    .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(action_resource(&state, &req, HttpResponse::Ok(), &action))
}

/// The state a ticketing system pushes for the action linked to one of its tickets. Members left out
/// keep their value on an existing action; creating one needs `incident_id`, `title`, `owner_email` and
/// `due_date`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "incident_id": "0193a1c2-7b4e-7d21-9f0a-5c3e2b1a0f9d", "title": "Enforce phishing-resistant MFA for finance",
    "owner_email": "dana@example.com", "due_date": "2026-12-15", "priority": "high", "status": "in_progress",
    "url": "https://jira.example.com/browse/SEC-123"
}))]
pub struct UpsertActionRequest {
    pub incident_id: Option<Uuid>,
    pub review_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    #[schema(max_length = 254, format = Email)]
    pub owner_email: Option<String>,
    #[schema(max_length = 200)]
    pub owner_name: Option<String>,
    #[schema(max_length = 200)]
    pub team: Option<String>,
    #[schema(value_type = Option<NaiveDate>)]
    pub due_date: Option<String>,
    pub priority: Option<Priority>,
    pub category: Option<ActionCategory>,
    pub status: Option<ActionStatus>,
    #[schema(max_length = 10000)]
    pub resolution: Option<String>,
    #[schema(max_items = 20)]
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<NaiveDate>)]
    pub snoozed_until: Option<String>,
    /// The ticket's own URL, kept on the link.
    #[schema(
        max_length = 2000,
        pattern = "^https?://([A-Za-z][A-Za-z0-9-]*(\\.[A-Za-z][A-Za-z0-9-]*)*|(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})(:(0|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[!-~]*)?$"
    )]
    pub url: Option<String>,
    /// Why the due date moves later; defaults to "Changed in <system> ticket <key>".
    #[schema(max_length = 10000)]
    pub due_date_change_reason: Option<String>,
}

impl UpsertActionRequest {
    /// The change to an existing action: only what was sent.
    fn patch(&self) -> Result<ActionPatch, FieldErrors> {
        fn sent<T: Clone>(value: &Option<T>) -> Patch<T> {
            value.clone().map_or(Patch::Absent, Patch::Value)
        }
        ActionPatch::try_from(UpdateActionRequest {
            incident_id: sent(&self.incident_id),
            review_id: sent(&self.review_id),
            title: sent(&self.title),
            description: sent(&self.description),
            owner_email: sent(&self.owner_email),
            owner_name: sent(&self.owner_name),
            team: sent(&self.team),
            due_date: sent(&self.due_date),
            priority: sent(&self.priority),
            category: sent(&self.category),
            status: sent(&self.status),
            resolution: sent(&self.resolution),
            tags: sent(&self.tags),
            snoozed_until: sent(&self.snoozed_until),
            external_refs: Patch::Absent,
            due_date_change_reason: self.due_date_change_reason.clone(),
        })
    }

    /// A new action, when none is linked to the ticket yet.
    fn create(self) -> Result<ActionFields, FieldErrors> {
        let mut errors = FieldErrors::new();
        let missing = "is required to create the action for this ticket";
        let incident_id = errors.take(self.incident_id.ok_or_else(|| FieldError::new("incident_id", missing)));
        let title = errors.take(self.title.ok_or_else(|| FieldError::new("title", missing)));
        let owner_email = errors.take(self.owner_email.ok_or_else(|| FieldError::new("owner_email", missing)));
        let due_date = errors.take(self.due_date.ok_or_else(|| FieldError::new("due_date", missing)));
        errors.into_result()?;
        let (Some(incident_id), Some(title), Some(owner_email), Some(due_date)) =
            (incident_id, title, owner_email, due_date)
        else {
            return Err(FieldError::new("incident_id", missing).into());
        };
        CreateActionRequest {
            incident_id: Some(incident_id),
            review_id: self.review_id,
            title,
            description: self.description,
            owner_email,
            owner_name: self.owner_name,
            team: self.team,
            due_date,
            priority: self.priority,
            category: self.category,
            status: self.status,
            resolution: self.resolution,
            tags: self.tags,
            snoozed_until: self.snoozed_until,
            external_refs: None,
        }
        .into_fields(None)
    }
}

/// Create or update the action linked to a ticket in another system, so a ticketing system can push its
/// state without storing our ids: 201 with the new action when none is linked to `{system}/{key}` yet,
/// 200 with the updated one otherwise. Safe to repeat, and concurrent pushes for one ticket create one
/// action. With `If-Match`, the push applies only to that version of the linked action (412 otherwise,
/// also when no action is linked yet), so a ticket's stale copy cannot undo a newer change. Needs the
/// editor role.
#[utoipa::path(
    tag = "actions",
    params(("system" = String, Path, description = "The ticketing system, e.g. `jira`", pattern = "^[A-Za-z0-9._-]{1,50}$"),
           ("key" = String, Path, description = "The ticket's key, e.g. `SEC-123`", pattern = "^[A-Za-z0-9._:#-]{1,100}$")),
    request_body = UpsertActionRequest,
    responses(
        (status = 200, description = "The linked action, updated", body = ActionResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 201, description = "A new action linked to the ticket", body = ActionResponse, headers(
            ("Location" = String, description = "URL of the new action"),
            ("ETag" = String, description = "Entity tag of the new action"))),
        (status = 412, description = "`If-Match` names another version of the linked action, or none is linked", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, a field missing to create the action, or no such incident", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/actions/by-ref/{system}/{key}")]
pub async fn upsert_by_ref(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: ApiJson<UpsertActionRequest>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let (system, key) = path.into_inner();
    let (link, patch, new_action) = body.parse(|body| {
        let mut errors = FieldErrors::new();
        let system = errors.take(System::parse("system", &system));
        let key = errors.take(Key::parse("key", &key));
        let url = errors
            .take(body.url.as_deref().filter(|u| !u.trim().is_empty()).map(|u| HttpUrl::parse("url", u)).transpose());
        let patch = errors.take_all(body.patch());
        let link = || Some(ExternalRef { system: system?, key: key?, url: url? });
        let link = errors.check(link())?;
        // Errors of the whole action matter only if none is linked yet; the store decides.
        Ok::<_, FieldErrors>((link, patch, body.create()))
    })?;
    let Some(patch) = patch else {
        return Err(ApiError::Internal("parsed values missing without errors".into()));
    };
    let if_match = if_match_versions(&req);
    let (action, created) =
        db::actions::upsert_by_ref(&state.db, link, if_match, new_action, patch, access::change_context(&principal))
            .await
            .map_err(|e| ApiError::from_store(e, || "action".into()))?;
    if created {
        let mut response = HttpResponse::Created();
        response.insert_header((header::LOCATION, format!("/api/v1/actions/{}", action.id)));
        Ok(action_resource(&state, &req, response, &action))
    } else {
        Ok(action_resource(&state, &req, HttpResponse::Ok(), &action))
    }
}
