//! Lists: filters, sort orders and the opaque cursor of keyset pagination.
//!
//! A cursor names the sort it belongs to and the sort key and id of the last item served; the next page
//! starts strictly after that pair. Ties in the sort key are broken by id (UUIDv7, so creation order),
//! which makes the order total: walking the cursors visits every row that existed when the walk began
//! exactly once, even while rows are added.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::FieldError;
use super::action::{Action, ActionCategory, ActionStatus, Priority, Tag};
use super::email::EmailAddress;
use super::incident::{Incident, IncidentStatus, Severity};
use super::text::ShortText;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionSort {
    DueDate,
    DueDateDesc,
    Priority,
    CreatedAt,
    CreatedAtDesc,
    UpdatedAt,
    UpdatedAtDesc,
}

impl ActionSort {
    pub const NAMES: [&'static str; 7] =
        ["due_date", "-due_date", "priority", "created_at", "-created_at", "updated_at", "-updated_at"];

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Ok(match raw {
            "due_date" => Self::DueDate,
            "-due_date" => Self::DueDateDesc,
            "priority" => Self::Priority,
            "created_at" => Self::CreatedAt,
            "-created_at" => Self::CreatedAtDesc,
            "updated_at" => Self::UpdatedAt,
            "-updated_at" => Self::UpdatedAtDesc,
            _ => return Err(FieldError::new("sort", format!("must be one of {}", Self::NAMES.join(", ")))),
        })
    }
}

impl SortOrder for ActionSort {
    fn name(self) -> &'static str {
        let index = match self {
            Self::DueDate => 0,
            Self::DueDateDesc => 1,
            Self::Priority => 2,
            Self::CreatedAt => 3,
            Self::CreatedAtDesc => 4,
            Self::UpdatedAt => 5,
            Self::UpdatedAtDesc => 6,
        };
        Self::NAMES[index]
    }
}

impl ActionSort {
    /// The cursor that continues a list after `action`.
    pub fn cursor_after(self, action: &Action) -> Cursor {
        let key = match self {
            Self::DueDate | Self::DueDateDesc => CursorKey::Date(action.fields.due_date),
            Self::Priority => CursorKey::Rank(action.fields.priority.rank()),
            Self::CreatedAt | Self::CreatedAtDesc => CursorKey::Time(action.created_at),
            Self::UpdatedAt | Self::UpdatedAtDesc => CursorKey::Time(action.updated_at),
        };
        Cursor { sort: self.name().to_owned(), key, id: action.id }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentSort {
    CreatedAt,
    CreatedAtDesc,
    UpdatedAt,
    UpdatedAtDesc,
}

impl IncidentSort {
    pub const NAMES: [&'static str; 4] = ["created_at", "-created_at", "updated_at", "-updated_at"];

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Ok(match raw {
            "created_at" => Self::CreatedAt,
            "-created_at" => Self::CreatedAtDesc,
            "updated_at" => Self::UpdatedAt,
            "-updated_at" => Self::UpdatedAtDesc,
            _ => return Err(FieldError::new("sort", format!("must be one of {}", Self::NAMES.join(", ")))),
        })
    }
}

impl SortOrder for IncidentSort {
    fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => Self::NAMES[0],
            Self::CreatedAtDesc => Self::NAMES[1],
            Self::UpdatedAt => Self::NAMES[2],
            Self::UpdatedAtDesc => Self::NAMES[3],
        }
    }
}

impl IncidentSort {
    pub fn cursor_after(self, incident: &Incident) -> Cursor {
        let key = match self {
            Self::CreatedAt | Self::CreatedAtDesc => CursorKey::Time(incident.created_at),
            Self::UpdatedAt | Self::UpdatedAtDesc => CursorKey::Time(incident.updated_at),
        };
        Cursor { sort: self.name().to_owned(), key, id: incident.id }
    }
}

/// Where the previous page ended. Opaque to clients; tampering with it can only move the start point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    sort: String,
    #[serde(rename = "k")]
    pub key: CursorKey,
    #[serde(rename = "i")]
    pub id: Uuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CursorKey {
    #[serde(rename = "t")]
    Time(DateTime<Utc>),
    #[serde(rename = "d")]
    Date(NaiveDate),
    #[serde(rename = "r")]
    Rank(i16),
}

impl Cursor {
    pub fn encode(&self) -> String {
        // Serialising plain data to JSON cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(raw: &str, sort_name: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new("cursor", "is not a cursor this list handed out");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.sort != sort_name {
            return Err(FieldError::new(
                "cursor",
                format!("belongs to sort={}, not sort={sort_name}; keep the sort while paging", cursor.sort),
            ));
        }
        // A forged key outside what the databases hold would fail in the query, not here.
        let key_in_range = match cursor.key {
            CursorKey::Time(time) => super::time::parse_instant("cursor", time).is_ok(),
            CursorKey::Date(date) => super::time::parse_calendar_date("cursor", date).is_ok(),
            CursorKey::Rank(_) => true,
        };
        if !key_in_range {
            return Err(invalid());
        }
        Ok(cursor)
    }
}

/// One page of a list: how it is sorted, how many items, and after which item it starts.
#[derive(Debug, Clone)]
pub struct PageRequest<S> {
    pub sort: S,
    pub limit: i64,
    pub after: Option<Cursor>,
}

/// A list order; its name ties a cursor to the order that made it.
pub trait SortOrder: Copy {
    fn name(self) -> &'static str;
}

/// Records in the order they were made, by id (UUIDv7): comments read oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OldestFirst;

/// Records newest first, by id (UUIDv7): the audit history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewestFirst;

impl SortOrder for OldestFirst {
    fn name(self) -> &'static str {
        "oldest_first"
    }
}

impl SortOrder for NewestFirst {
    fn name(self) -> &'static str {
        "newest_first"
    }
}

impl<S: SortOrder> PageRequest<S> {
    pub fn new(sort: S, limit: i64, cursor: Option<&str>) -> Result<Self, FieldError> {
        let after = cursor.map(|raw| Cursor::decode(raw, sort.name())).transpose()?;
        Ok(Self { sort, limit: parse_limit(limit)?, after })
    }

    /// Where a list ordered only by id continues.
    pub fn after_id(&self) -> Option<Uuid> {
        self.after.as_ref().map(|cursor| cursor.id)
    }
}

impl Cursor {
    /// The cursor after the record with `id`, in a list ordered only by id.
    pub fn after_id(sort: impl SortOrder, id: Uuid) -> Self {
        Cursor { sort: sort.name().to_owned(), key: CursorKey::Rank(0), id }
    }
}

fn parse_limit(limit: i64) -> Result<i64, FieldError> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(FieldError::new("limit", format!("must be between 1 and {MAX_LIMIT}")))
    }
}

/// A page of items and, when more follow, the cursor to fetch them.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Queries fetch one item more than the page holds: its presence says another page follows.
    pub fn from_overfetch(mut items: Vec<T>, limit: i64, cursor_after: impl FnOnce(&T) -> Cursor) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(cursor_after)
        } else {
            None
        };
        Page { items, next }
    }
}

/// Filters of `GET /actions`; every one set must hold (AND), a list matches any of its values (OR).
#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    pub statuses: Vec<ActionStatus>,
    pub owner: Option<EmailAddress>,
    pub incident_id: Option<Uuid>,
    pub priorities: Vec<Priority>,
    pub categories: Vec<ActionCategory>,
    pub tag: Option<Tag>,
    /// With `today`, the date in the configured time zone that decides what is overdue.
    pub overdue: Option<(bool, NaiveDate)>,
    pub due_before: Option<NaiveDate>,
    pub due_after: Option<NaiveDate>,
    pub updated_since: Option<DateTime<Utc>>,
    pub title_contains: Option<ShortText>,
    pub review_id: Option<Uuid>,
    pub verified: Option<bool>,
    /// Actions whose owner is (or is not) marked inactive in the people directory.
    pub owner_inactive: Option<bool>,
    /// The action linked to this ticket.
    pub external_ref: Option<(crate::domain::external::System, crate::domain::external::Key)>,
}

/// Filters of `GET /incidents`.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub statuses: Vec<IncidentStatus>,
    pub severities: Vec<Severity>,
    pub title_contains: Option<ShortText>,
}

/// A `LIKE` pattern matching `needle` anywhere, case-insensitively (compared against `lower(column)`).
pub fn contains_pattern(needle: &ShortText) -> String {
    let mut pattern = String::from("%");
    for c in needle.as_str().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_stays_with_its_sort() {
        let cursor = Cursor {
            sort: "due_date".into(),
            key: CursorKey::Date(NaiveDate::from_ymd_opt(2026, 5, 1).unwrap()),
            id: Uuid::now_v7(),
        };
        let encoded = cursor.encode();
        assert_eq!(Cursor::decode(&encoded, "due_date").unwrap(), cursor);
        assert!(Cursor::decode(&encoded, "created_at").is_err());
        assert!(Cursor::decode("not-a-cursor", "due_date").is_err());
    }

    #[test]
    fn search_patterns_escape_wildcards() {
        let needle = ShortText::parse("q", "100%_Done").unwrap();
        assert_eq!(contains_pattern(&needle), "%100\\%\\_done%");
    }
}
