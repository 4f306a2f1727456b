//! The query string of every list of actions, parsed into a filter, a sort and a page.

use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::api::common::{page_size, parse_bool, parse_list};
use crate::api::error::ApiError;
use crate::domain::action::Tag;
use crate::domain::email::EmailAddress;
use crate::domain::external::{Key, System};
use crate::domain::listing::{ActionFilter, ActionSort, PageRequest};
use crate::domain::text::ShortText;
use crate::domain::time::{parse_calendar_date_text, parse_instant_text};
use crate::domain::{FieldError, FieldErrors};

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
