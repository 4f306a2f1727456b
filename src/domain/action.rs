//! Corrective actions: what a lessons-learned review decided to do, by whom, by when.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use serde_json::json;

use super::audit::{ChangeContext, Snapshot};
use super::email::EmailAddress;
use super::external::{ExternalRef, ExternalRefs};
use super::principal::Principal;
use super::text::{LongText, ShortText, Title};
use super::{FieldError, FieldErrors, Patch};

/// Human keys read "ACT-42".
pub const KEY_PREFIX: &str = "ACT-";

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
/// How urgent the action is; sorting by priority puts critical first.
pub enum Priority {
    Critical,
    High,
    #[default]
    Medium,
    Low,
}

impl Priority {
    /// Stored as a rank so that sorting by priority is sorting by number (critical first).
    pub fn rank(self) -> i16 {
        match self {
            Priority::Critical => 1,
            Priority::High => 2,
            Priority::Medium => 3,
            Priority::Low => 4,
        }
    }

    pub fn from_rank(rank: i16) -> Option<Self> {
        match rank {
            1 => Some(Priority::Critical),
            2 => Some(Priority::High),
            3 => Some(Priority::Medium),
            4 => Some(Priority::Low),
            _ => None,
        }
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
/// What kind of improvement the action is.
pub enum ActionCategory {
    Prevention,
    Detection,
    Response,
    Process,
    Training,
    Tooling,
    Communication,
    #[default]
    Other,
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
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
/// Open, in_progress and blocked are still to be done (and can be overdue); done and cancelled are
/// finished and need a resolution.
pub enum ActionStatus {
    #[default]
    Open,
    InProgress,
    Blocked,
    Done,
    Cancelled,
}

impl ActionStatus {
    /// Still to be done: these are the statuses that can be overdue and that reminders chase.
    pub const ACTIVE: [ActionStatus; 3] = [ActionStatus::Open, ActionStatus::InProgress, ActionStatus::Blocked];

    pub fn is_active(self) -> bool {
        Self::ACTIVE.contains(&self)
    }
}

/// A label for grouping actions ("mfa", "aws"): lower-case, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    const MAX: usize = 50;

    /// The same rule as the OpenAPI spec's pattern `^[A-Za-z0-9._:/-]{1,50}$`: exactly that, nothing trimmed.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || "-_.:/".contains(c);
        if raw.is_empty() || raw.len() > Self::MAX || !raw.chars().all(valid_char) {
            return Err(FieldError::new(
                field,
                format!("must be 1 to {} letters, digits or - _ . : / (no spaces)", Self::MAX),
            ));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The tags of one action: at most 20, without duplicates, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<Tag>);

impl Tags {
    const MAX: usize = 20;

    pub fn parse(field: &str, raw: &[String]) -> Result<Self, FieldErrors> {
        if raw.len() > Self::MAX {
            return Err(FieldError::new(field, format!("must have at most {} tags", Self::MAX)).into());
        }
        let mut errors = FieldErrors::new();
        let mut tags: Vec<Tag> = raw
            .iter()
            .enumerate()
            .filter_map(|(i, tag)| errors.take(Tag::parse(&format!("{field}[{i}]"), tag)))
            .collect();
        errors.into_result()?;
        tags.sort();
        tags.dedup();
        Ok(Self(tags))
    }

    pub(crate) fn from_stored(mut tags: Vec<Tag>) -> Self {
        tags.sort();
        Self(tags)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.0.iter()
    }
}

/// What a client may set on an action; keys, versions and timestamps are the server's.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionFields {
    pub incident_id: Uuid,
    /// The lessons-learned review that decided on it; a review of the same incident.
    pub review_id: Option<Uuid>,
    pub title: Title,
    pub description: Option<LongText>,
    pub owner_email: EmailAddress,
    pub owner_name: Option<ShortText>,
    pub team: Option<ShortText>,
    pub due_date: NaiveDate,
    pub priority: Priority,
    pub category: ActionCategory,
    pub status: ActionStatus,
    pub resolution: Option<LongText>,
    pub tags: Tags,
    /// No reminders until this date; the due date does not move.
    pub snoozed_until: Option<NaiveDate>,
    /// Tickets in other systems this action is linked to.
    pub external_refs: ExternalRefs,
}

/// A partial change to an action (merge-patch): absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ActionPatch {
    pub incident_id: Option<Uuid>,
    pub review_id: Patch<Uuid>,
    pub title: Option<Title>,
    pub description: Patch<LongText>,
    pub owner_email: Option<EmailAddress>,
    pub owner_name: Patch<ShortText>,
    pub team: Patch<ShortText>,
    pub due_date: Option<NaiveDate>,
    pub priority: Option<Priority>,
    pub category: Option<ActionCategory>,
    pub status: Option<ActionStatus>,
    pub resolution: Patch<LongText>,
    pub tags: Option<Tags>,
    pub snoozed_until: Patch<NaiveDate>,
    /// Replaces all links to tickets.
    pub external_refs: Option<ExternalRefs>,
    /// Why the due date moves later; required exactly when it does, and kept in the history.
    pub due_date_change_reason: Option<LongText>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub id: Uuid,
    pub number: i64,
    pub fields: ActionFields,
    /// When the action last moved to done or cancelled; `None` while it is active.
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
    /// Set once someone other than the owner checked the work; cleared when the action is reopened.
    pub verification: Option<Verification>,
    /// The owner is marked inactive in the people directory: someone must take the action over.
    pub owner_inactive: bool,
}

/// Evidence that a done action really was done, recorded by someone other than its owner.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub at: DateTime<Utc>,
    pub by: String,
    pub evidence: LongText,
}

/// Why the product's rules refuse a change to an action, whatever the request said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The caller may not make this change.
    Forbidden(String),
    /// The action is not in a state that allows it.
    Conflict(String),
}

impl ActionFields {
    /// Checks the status rules for a new action and returns its `completed_at`.
    pub fn settle_new(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, FieldErrors> {
        self.check_resolution()?;
        Ok((!self.status.is_active()).then_some(now))
    }

    /// The action after `patch`, with the status rules applied: closing needs a resolution and stamps
    /// `completed_at`; reopening clears it.
    pub fn apply(
        &self,
        patch: ActionPatch,
        completed_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(Self, Option<DateTime<Utc>>), FieldErrors> {
        let reason_given = patch.due_date_change_reason.is_some();
        let next = Self {
            incident_id: patch.incident_id.unwrap_or(self.incident_id),
            review_id: patch.review_id.apply_to(self.review_id),
            title: patch.title.unwrap_or_else(|| self.title.clone()),
            description: patch.description.apply_to(self.description.clone()),
            owner_email: patch.owner_email.unwrap_or_else(|| self.owner_email.clone()),
            owner_name: patch.owner_name.apply_to(self.owner_name.clone()),
            team: patch.team.apply_to(self.team.clone()),
            due_date: patch.due_date.unwrap_or(self.due_date),
            priority: patch.priority.unwrap_or(self.priority),
            category: patch.category.unwrap_or(self.category),
            status: patch.status.unwrap_or(self.status),
            resolution: patch.resolution.apply_to(self.resolution.clone()),
            tags: patch.tags.unwrap_or_else(|| self.tags.clone()),
            snoozed_until: patch.snoozed_until.apply_to(self.snoozed_until),
            external_refs: patch.external_refs.unwrap_or_else(|| self.external_refs.clone()),
        };
        next.check_resolution()?;
        // Deadlines that quietly slip are how corrective actions get forgotten: a later due date must say why.
        match (next.due_date > self.due_date, reason_given) {
            (true, false) => {
                return Err(FieldError::new(
                    "due_date_change_reason",
                    "is required to move the due date later: say why the extension is needed",
                )
                .into());
            }
            (false, true) => {
                return Err(FieldError::new("due_date_change_reason", "is only taken with a later due_date").into());
            }
            _ => {}
        }
        let completed_at = match (next.status == self.status, next.status.is_active()) {
            (true, _) => completed_at,
            (false, true) => None,
            (false, false) => Some(now),
        };
        Ok((next, completed_at))
    }

    fn check_resolution(&self) -> Result<(), FieldErrors> {
        if !self.status.is_active() && self.resolution.is_none() {
            let status: &str = self.status.into();
            return Err(FieldError::new(
                "resolution",
                format!("is required to move an action to {status}: say what was done, or why not"),
            )
            .into());
        }
        Ok(())
    }
}

impl Action {
    /// The client-visible fields, as the audit history records them.
    pub fn audit_snapshot(&self) -> Snapshot {
        let f = &self.fields;
        let short = |t: &Option<ShortText>| json!(t.as_ref().map(ShortText::as_str));
        let long = |t: &Option<LongText>| json!(t.as_ref().map(LongText::as_str));
        Snapshot::from([
            ("incident_id", json!(f.incident_id)),
            ("title", json!(f.title.as_str())),
            ("description", long(&f.description)),
            ("owner_email", json!(f.owner_email.as_str())),
            ("owner_name", short(&f.owner_name)),
            ("team", short(&f.team)),
            ("due_date", json!(f.due_date)),
            ("priority", json!(f.priority)),
            ("category", json!(f.category)),
            ("status", json!(f.status)),
            ("resolution", long(&f.resolution)),
            ("tags", json!(f.tags.iter().map(Tag::as_str).collect::<Vec<_>>())),
            ("snoozed_until", json!(f.snoozed_until)),
            ("completed_at", json!(self.completed_at)),
            ("review_id", json!(f.review_id)),
            ("external_refs", f.external_refs.to_json()),
            ("verified_at", json!(self.verification.as_ref().map(|v| v.at))),
            ("verified_by", json!(self.verification.as_ref().map(|v| &v.by))),
            ("verification_evidence", json!(self.verification.as_ref().map(|v| v.evidence.as_str()))),
        ])
    }

    /// The principal is this action's owner (addresses are stored lower-case, so this is case-insensitive).
    pub fn is_owned_by(&self, principal: &Principal) -> bool {
        principal.is(&self.fields.owner_email)
    }

    /// A change the caller may make only as the owner (`owner`, when its rights depend on it) is refused
    /// once the action changed hands between the check of its rights and the change.
    pub fn check_still_owned_by(&self, owner: Option<&EmailAddress>) -> Result<(), Refusal> {
        match owner {
            Some(owner) if owner != &self.fields.owner_email => {
                Err(Refusal::Forbidden("the action is no longer yours".into()))
            }
            _ => Ok(()),
        }
    }

    /// The action with its work checked by `verifier`: someone other than the owner, and only once the
    /// action is done. Four eyes are the point: an owner vouching for their own work proves nothing.
    pub fn verified(
        &self,
        verifier: Option<&EmailAddress>,
        evidence: LongText,
        context: &ChangeContext,
    ) -> Result<Self, Refusal> {
        if verifier == Some(&self.fields.owner_email) {
            return Err(Refusal::Forbidden("the action's owner cannot verify their own work".into()));
        }
        if self.fields.status != ActionStatus::Done {
            let status: &str = self.fields.status.into();
            return Err(Refusal::Conflict(format!("only a done action can be verified; this one is {status}")));
        }
        let verification = Verification { at: context.at, by: context.actor.display_name(), evidence };
        Ok(Self {
            verification: Some(verification),
            updated_at: context.at,
            version: self.version + 1,
            updated_by: context.actor.display_name(),
            ..self.clone()
        })
    }

    /// `patch` as a change made in the ticket `link` that this action is linked to: the action stays
    /// linked to it, and a due date the ticketing system moves later without saying why gets the ticket
    /// as its reason, since the ticket's history is where the reason is.
    pub fn patch_from_ticket(&self, mut patch: ActionPatch, link: &ExternalRef) -> Result<ActionPatch, FieldErrors> {
        patch.external_refs = Some(self.fields.external_refs.including(link.clone()));
        if patch.due_date.is_some_and(|due| due > self.fields.due_date) && patch.due_date_change_reason.is_none() {
            let reason = format!("Changed in {} ticket {}", link.system.as_str(), link.key.as_str());
            patch.due_date_change_reason = Some(LongText::parse("due_date_change_reason", &reason)?);
        }
        Ok(patch)
    }

    /// Verification vouches for one piece of finished work: reopening (or cancelling) the action voids it.
    pub fn verification_after(&self, next: &ActionFields) -> Option<Verification> {
        self.verification.clone().filter(|_| next.status == ActionStatus::Done)
    }

    pub fn key(&self) -> String {
        format!("{KEY_PREFIX}{}", self.number)
    }

    /// Whole days past the due date on `today`, for an action that is still to be done; otherwise 0.
    pub fn days_overdue(&self, today: NaiveDate) -> i64 {
        if self.fields.status.is_active() && self.fields.due_date < today {
            (today - self.fields.due_date).num_days()
        } else {
            0
        }
    }
}

/// Due dates are `YYYY-MM-DD` calendar dates; anything outside this range is a typo, not a plan.
pub fn parse_due_date(field: &str, raw: &str) -> Result<NaiveDate, FieldError> {
    let date = super::time::parse_calendar_date_text(field, raw)?;
    let earliest = NaiveDate::from_ymd_opt(2000, 1, 1);
    let latest = NaiveDate::from_ymd_opt(2199, 12, 31);
    match (earliest, latest) {
        (Some(earliest), Some(latest)) if (earliest..=latest).contains(&date) => Ok(date),
        _ => Err(FieldError::new(field, "must be between 2000-01-01 and 2199-12-31")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::external::{Key, System};
    use chrono::TimeZone;

    fn fields(status: ActionStatus) -> ActionFields {
        ActionFields {
            incident_id: Uuid::now_v7(),
            review_id: None,
            title: Title::parse("title", "Enforce MFA").unwrap(),
            description: None,
            owner_email: EmailAddress::parse("owner_email", "bob@example.com").unwrap(),
            owner_name: None,
            team: None,
            due_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            priority: Priority::High,
            category: ActionCategory::Prevention,
            status,
            resolution: None,
            tags: Tags::default(),
            snoozed_until: None,
            external_refs: ExternalRefs::default(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 5, 12, 0, 0).unwrap()
    }

    #[test]
    fn closing_requires_a_resolution_and_stamps_completion() {
        let open = fields(ActionStatus::Open);
        let done = ActionPatch { status: Some(ActionStatus::Done), ..Default::default() };
        let errors = open.apply(done.clone(), None, now()).unwrap_err();
        assert_eq!(errors.iter().next().unwrap().field, "resolution");

        let with_resolution =
            ActionPatch { resolution: Patch::Value(LongText::parse("resolution", "Enabled for all").unwrap()), ..done };
        let (closed, completed_at) = open.apply(with_resolution, None, now()).unwrap();
        assert_eq!(closed.status, ActionStatus::Done);
        assert_eq!(completed_at, Some(now()));
    }

    #[test]
    fn reopening_clears_completion() {
        let mut done = fields(ActionStatus::Done);
        done.resolution = Some(LongText::parse("resolution", "Enabled").unwrap());
        let reopen = ActionPatch { status: Some(ActionStatus::InProgress), ..Default::default() };
        let (_, completed_at) = done.apply(reopen, Some(now()), now()).unwrap();
        assert_eq!(completed_at, None);
    }

    #[test]
    fn only_active_actions_past_their_due_date_are_overdue() {
        let action = stored;
        let due = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(action(ActionStatus::Blocked).days_overdue(due), 0);
        assert_eq!(action(ActionStatus::Blocked).days_overdue(due.succ_opt().unwrap()), 1);
        assert_eq!(action(ActionStatus::Done).days_overdue(NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()), 0);
    }

    #[test]
    fn a_later_due_date_needs_a_reason_and_an_earlier_one_does_not() {
        let open = fields(ActionStatus::Open);
        let later = ActionPatch { due_date: NaiveDate::from_ymd_opt(2026, 4, 1), ..Default::default() };
        let errors = open.apply(later.clone(), None, now()).unwrap_err();
        assert_eq!(errors.iter().next().unwrap().field, "due_date_change_reason");

        let reason = Some(LongText::parse("due_date_change_reason", "Vendor delay").unwrap());
        let explained = ActionPatch { due_date_change_reason: reason.clone(), ..later };
        assert!(open.apply(explained, None, now()).is_ok());

        let earlier = ActionPatch { due_date: NaiveDate::from_ymd_opt(2026, 2, 1), ..Default::default() };
        assert!(open.apply(earlier.clone(), None, now()).is_ok());
        let needless = ActionPatch { due_date_change_reason: reason, ..earlier };
        assert!(open.apply(needless, None, now()).is_err());
    }

    #[test]
    fn tags_are_lower_case_sorted_and_unique() {
        let tags = Tags::parse("tags", &["MFA".into(), "aws".into(), "mfa".into()]).unwrap();
        let names: Vec<&str> = tags.iter().map(Tag::as_str).collect();
        assert_eq!(names, ["aws", "mfa"]);
        assert!(Tags::parse("tags", &["two words".into()]).is_err());
    }

    fn stored(status: ActionStatus) -> Action {
        Action {
            id: Uuid::now_v7(),
            number: 1,
            fields: fields(status),
            completed_at: None,
            created_at: now(),
            updated_at: now(),
            version: 1,
            created_by: "test".into(),
            updated_by: "test".into(),
            verification: None,
            owner_inactive: false,
        }
    }

    fn email(raw: &str) -> EmailAddress {
        EmailAddress::parse("email", raw).unwrap()
    }

    fn principal(raw: &str) -> Principal {
        Principal { sub: raw.into(), email: Some(email(raw)), name: None, role: None }
    }

    #[test]
    fn only_someone_other_than_the_owner_verifies_and_only_done_work() {
        let evidence = || LongText::parse("evidence", "MFA enforced in the IdP").unwrap();
        let by = |raw: &str| ChangeContext { actor: principal(raw), request_id: None, at: now() };
        let done = stored(ActionStatus::Done);
        let owner = email("bob@example.com");
        let refused = done.verified(Some(&owner), evidence(), &by("bob@example.com")).unwrap_err();
        assert_eq!(refused, Refusal::Forbidden("the action's owner cannot verify their own work".into()));
        let carol = email("carol@example.com");
        let refused = stored(ActionStatus::Open).verified(Some(&carol), evidence(), &by("carol@example.com"));
        assert_eq!(refused, Err(Refusal::Conflict("only a done action can be verified; this one is open".into())));

        let verified = done.verified(Some(&carol), evidence(), &by("carol@example.com")).unwrap();
        assert_eq!((verified.version, verified.updated_by.as_str()), (2, "carol@example.com"));
        assert_eq!(
            verified.verification,
            Some(Verification { at: now(), by: "carol@example.com".into(), evidence: evidence() })
        );
    }

    #[test]
    fn a_change_made_as_the_owner_is_refused_once_the_action_changed_hands() {
        let action = stored(ActionStatus::Open);
        assert!(action.is_owned_by(&principal("bob@example.com")));
        assert!(!action.is_owned_by(&principal("carol@example.com")));
        assert_eq!(action.check_still_owned_by(None), Ok(()));
        assert_eq!(action.check_still_owned_by(Some(&email("bob@example.com"))), Ok(()));
        assert_eq!(
            action.check_still_owned_by(Some(&email("carol@example.com"))),
            Err(Refusal::Forbidden("the action is no longer yours".into()))
        );
    }

    #[test]
    fn a_ticket_that_moves_the_due_date_later_without_a_reason_is_the_reason() {
        let action = stored(ActionStatus::Open);
        let link = ExternalRef {
            system: System::parse("system", "jira").unwrap(),
            key: Key::parse("key", "SEC-1").unwrap(),
            url: None,
        };
        let later = ActionPatch { due_date: NaiveDate::from_ymd_opt(2026, 4, 1), ..Default::default() };
        let patch = action.patch_from_ticket(later.clone(), &link).unwrap();
        assert_eq!(
            patch.due_date_change_reason.map(|r| r.as_str().to_owned()).as_deref(),
            Some("Changed in jira ticket SEC-1")
        );
        assert_eq!(patch.external_refs.unwrap().iter().collect::<Vec<_>>(), [&link]);

        let given = LongText::parse("due_date_change_reason", "Vendor delay").unwrap();
        let explained = ActionPatch { due_date_change_reason: Some(given.clone()), ..later };
        assert_eq!(action.patch_from_ticket(explained, &link).unwrap().due_date_change_reason, Some(given));
        let earlier = ActionPatch { due_date: NaiveDate::from_ymd_opt(2026, 2, 1), ..Default::default() };
        assert_eq!(action.patch_from_ticket(earlier, &link).unwrap().due_date_change_reason, None);
    }
}
