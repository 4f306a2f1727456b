//! Lists: filters, sort orders and the opaque cursor of keyset pagination.
//!
//! A cursor holds the sort key and id of the last item served; the next page starts strictly after that
//! pair. Ties in the sort key are broken by id (UUIDv7, so creation order), which makes the order total:
//! walking the cursors visits every row that existed when the walk began exactly once, even while rows
//! are added.
//!
//! A cursor also holds a digest of each parameter of the query that made it (the list, its sort and every
//! filter, normalised), so it continues only that query: a next page asked for with a filter dropped or
//! changed is refused, naming the parameters that differ, rather than silently mixing two lists.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::action::{Action, ActionCategory, ActionStatus, Priority, Tag};
use super::email::EmailAddress;
use super::incident::{Incident, IncidentStatus, Severity};
use super::text::ShortText;
use super::{FieldError, FieldErrors};

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
    /// Where `action` stands in this order.
    pub fn position_of(self, action: &Action) -> (CursorKey, Uuid) {
        let key = match self {
            Self::DueDate | Self::DueDateDesc => CursorKey::Date(action.fields.due_date),
            Self::Priority => CursorKey::Rank(action.fields.priority.rank()),
            Self::CreatedAt | Self::CreatedAtDesc => CursorKey::Time(action.created_at),
            Self::UpdatedAt | Self::UpdatedAtDesc => CursorKey::Time(action.updated_at),
        };
        (key, action.id)
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
    /// Where `incident` stands in this order.
    pub fn position_of(self, incident: &Incident) -> (CursorKey, Uuid) {
        let key = match self {
            Self::CreatedAt | Self::CreatedAtDesc => CursorKey::Time(incident.created_at),
            Self::UpdatedAt | Self::UpdatedAtDesc => CursorKey::Time(incident.updated_at),
        };
        (key, incident.id)
    }
}

/// What a list was asked for, apart from where a page starts and how many items it holds: which list
/// (with the resource in its path), its sort and every filter set, each value normalised so that the
/// same question asked differently (`status=in_progress,open`, `owner=Dana@…`) is the same query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    list: &'static str,
    params: BTreeMap<&'static str, String>,
    /// The parameters that come from the path (whose history, whose comments): a cursor of another
    /// resource is refused as such, not as a query parameter the client could send again.
    in_path: Vec<&'static str>,
    /// The query parameter the cursor travels in: `cursor`, or `after` in the change feed.
    cursor_param: &'static str,
}

impl ListQuery {
    pub fn new(list: &'static str) -> Self {
        Self { list, params: BTreeMap::new(), in_path: Vec::new(), cursor_param: "cursor" }
    }

    /// The query of the resource `name` in the path.
    pub fn in_path(mut self, name: &'static str, value: impl ToString) -> Self {
        self.in_path.push(name);
        self.with(name, value)
    }

    /// The query whose cursor travels in the parameter `name`.
    pub fn cursor_param(mut self, name: &'static str) -> Self {
        self.cursor_param = name;
        self
    }

    /// The query with the parameter `name` set to `value`, already normalised.
    pub fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.params.insert(name, value.to_string());
        self
    }

    /// The query with `name` set when `value` is.
    pub fn with_some(self, name: &'static str, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.with(name, value),
            None => self,
        }
    }

    /// The query with `name` set to a set of values, in a fixed order; nothing when the set is empty.
    pub fn with_set<'a>(self, name: &'static str, values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut values: Vec<&str> = values.into_iter().collect();
        values.sort_unstable();
        values.dedup();
        if values.is_empty() { self } else { self.with(name, values.join(",")) }
    }

    /// The cursor that continues this query after the item at (`key`, `id`).
    pub fn cursor_at(&self, key: CursorKey, id: Uuid) -> Cursor {
        Cursor { list: self.list.to_owned(), query: self.digests(), key, id }
    }

    /// The cursor `raw`, if this query handed it out: one it cannot read is invalid; one made for another
    /// query is refused, naming each parameter that differs.
    pub fn resume(&self, raw: &str) -> Result<Cursor, CursorError> {
        let cursor = Cursor::decode(raw)
            .map_err(|error| CursorError::Invalid(FieldError::new(self.cursor_param, error.message)))?;
        let elsewhere = |what: String| {
            CursorError::OtherQuery(
                FieldError::new(self.cursor_param, format!("was handed out by {what}; start this one without it"))
                    .into(),
            )
        };
        if cursor.list != self.list {
            return Err(elsewhere("another list".to_owned()));
        }
        let now = self.digests();
        if let Some(name) = self.in_path.iter().find(|name| cursor.query.get(**name) != now.get(**name)) {
            return Err(elsewhere(format!("the same list of another {name}")));
        }
        let mut differences = FieldErrors::new();
        for name in now.keys().chain(cursor.query.keys().filter(|name| !now.contains_key(*name))) {
            let message = match (cursor.query.get(name), now.get(name)) {
                (Some(then), Some(current)) if then == current => continue,
                (Some(_), Some(_)) => "differs from the query the cursor was handed out for",
                (Some(_), None) => "was set in the query the cursor was handed out for; send it again",
                (None, _) => "was not set in the query the cursor was handed out for",
            };
            differences.push(FieldError::new(name.clone(), message));
        }
        differences.into_result().map_err(CursorError::OtherQuery)?;
        Ok(cursor)
    }

    /// A short digest of each parameter: enough to tell queries apart, while the cursor stays short
    /// however long the values (a search text, an e-mail address) are.
    fn digests(&self) -> BTreeMap<String, String> {
        self.params
            .iter()
            .map(|(name, value)| {
                let digest = Sha256::digest(value.as_bytes());
                ((*name).to_owned(), URL_SAFE_NO_PAD.encode(&digest[..6]))
            })
            .collect()
    }
}

/// Why a cursor cannot continue a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorError {
    /// Not a cursor, or not one this service made.
    Invalid(FieldError),
    /// A cursor of another query: these parameters (or the list itself) differ.
    OtherQuery(FieldErrors),
}

/// Where the previous page ended, and the query it belongs to. Opaque to clients; tampering with it can
/// only move the start point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "l")]
    list: String,
    #[serde(rename = "q")]
    query: BTreeMap<String, String>,
    #[serde(rename = "k")]
    pub key: CursorKey,
    /// The id of the last item served; nil in a list whose key is unique (people, the change feed).
    #[serde(rename = "i")]
    pub id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CursorKey {
    #[serde(rename = "t")]
    Time(DateTime<Utc>),
    #[serde(rename = "d")]
    Date(NaiveDate),
    #[serde(rename = "r")]
    Rank(i16),
    /// A unique text key, such as a person's address.
    #[serde(rename = "x")]
    Text(String),
    /// A position in the change feed.
    #[serde(rename = "p")]
    Position(i64),
}

impl Cursor {
    pub fn encode(&self) -> String {
        // Serialising plain data to JSON cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(raw: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new("cursor", "is not a cursor this list handed out");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        // A forged key outside what the databases hold would fail in the query, not here.
        let key_in_range = match &cursor.key {
            CursorKey::Time(time) => super::time::parse_instant("cursor", *time).is_ok(),
            CursorKey::Date(date) => super::time::parse_calendar_date("cursor", *date).is_ok(),
            CursorKey::Rank(_) => true,
            // Text is bound as a parameter: held to the rules of all text, or PostgreSQL refuses a NUL.
            CursorKey::Text(text) => text.len() <= 254 && super::text::check_characters("cursor", text, false).is_ok(),
            CursorKey::Position(position) => *position >= 0,
        };
        if !key_in_range {
            return Err(invalid());
        }
        Ok(cursor)
    }
}

/// One page of a list: how it is sorted, how many items, after which item it starts, and the query
/// whose cursors it hands out.
#[derive(Debug, Clone)]
pub struct PageRequest<S> {
    pub sort: S,
    pub limit: i64,
    pub after: Option<Cursor>,
    query: ListQuery,
}

/// A list order; its name is the `sort` parameter of the query a cursor is bound to.
pub trait SortOrder: Copy {
    fn name(self) -> &'static str;
}

/// Records in the order they were made, by id (UUIDv7): comments read oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OldestFirst;

/// Records newest first, by id (UUIDv7): the audit history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewestFirst;

/// People in address order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByEmail;

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

impl SortOrder for ByEmail {
    fn name(self) -> &'static str {
        "email"
    }
}

impl<S: SortOrder> PageRequest<S> {
    /// A page of `query` in the order `sort`, after `cursor`, which must come from the same query.
    pub fn new(sort: S, limit: i64, cursor: Option<&str>, query: ListQuery) -> Result<Self, CursorError> {
        let query = query.with("sort", sort.name());
        let limit = parse_limit(limit).map_err(CursorError::Invalid)?;
        let after = cursor.map(|raw| query.resume(raw)).transpose()?;
        Ok(Self { sort, limit, after, query })
    }

    /// Where a list ordered only by id continues.
    pub fn after_id(&self) -> Option<Uuid> {
        self.after.as_ref().map(|cursor| cursor.id)
    }

    /// The cursor that continues this page's query after the item at (`key`, `id`).
    pub fn cursor_at(&self, key: CursorKey, id: Uuid) -> Cursor {
        self.query.cursor_at(key, id)
    }

    /// The cursor after the record with `id`, in a list ordered only by id.
    pub fn cursor_after_id(&self, id: Uuid) -> Cursor {
        self.cursor_at(CursorKey::Rank(0), id)
    }
}

/// A page size of 1 to MAX_LIMIT; lists check it with their filters, so every bad parameter is named at once.
pub fn parse_limit(limit: i64) -> Result<i64, FieldError> {
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

impl ActionFilter {
    /// The filter as the parameters of the query its cursors are bound to. The lists of an incident
    /// and of a person are this list with `incident_id` or `owner` set from the path; `overdue` is bound
    /// without the day that decides it, so a walk may go on past midnight.
    pub fn list_query(&self) -> ListQuery {
        ListQuery::new("actions")
            .with_set("status", self.statuses.iter().map(|s| <&str>::from(*s)))
            .with_some("owner", self.owner.as_ref().map(EmailAddress::as_str))
            .with_some("incident_id", self.incident_id)
            .with_set("priority", self.priorities.iter().map(|p| <&str>::from(*p)))
            .with_set("category", self.categories.iter().map(|c| <&str>::from(*c)))
            .with_some("tag", self.tag.as_ref().map(Tag::as_str))
            .with_some("overdue", self.overdue.map(|(overdue, _)| overdue))
            .with_some("due_before", self.due_before)
            .with_some("due_after", self.due_after)
            .with_some("updated_since", self.updated_since.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true)))
            .with_some("q", self.title_contains.as_ref().map(|q| q.as_str().to_lowercase()))
            .with_some("review_id", self.review_id)
            .with_some("verified", self.verified)
            .with_some("owner_inactive", self.owner_inactive)
            .with_some(
                "external_ref",
                self.external_ref.as_ref().map(|(s, k)| format!("{}/{}", s.as_str(), k.as_str())),
            )
    }
}

/// Filters of `GET /incidents`.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub statuses: Vec<IncidentStatus>,
    pub severities: Vec<Severity>,
    pub title_contains: Option<ShortText>,
}

impl IncidentFilter {
    /// The filter as the parameters of the query its cursors are bound to.
    pub fn list_query(&self) -> ListQuery {
        ListQuery::new("incidents")
            .with_set("status", self.statuses.iter().map(|s| <&str>::from(*s)))
            .with_set("severity", self.severities.iter().map(|s| <&str>::from(*s)))
            .with_some("q", self.title_contains.as_ref().map(|q| q.as_str().to_lowercase()))
    }
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

    fn fields_of(error: CursorError) -> Vec<String> {
        match error {
            CursorError::OtherQuery(errors) => errors.iter().map(|e| e.field.clone()).collect(),
            CursorError::Invalid(error) => panic!("expected another query, got {error:?}"),
        }
    }

    #[test]
    fn a_cursor_continues_only_the_query_that_made_it() {
        let open =
            || ActionFilter { statuses: vec![ActionStatus::Open, ActionStatus::InProgress], ..Default::default() };
        let page = PageRequest::new(ActionSort::DueDate, 10, None, open().list_query()).unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 5, 1).unwrap();
        let encoded = page.cursor_at(CursorKey::Date(date), Uuid::now_v7()).encode();

        // The same query, its values in another order and another page size: the cursor continues it.
        let reordered =
            ActionFilter { statuses: vec![ActionStatus::InProgress, ActionStatus::Open], ..Default::default() };
        let resumed = PageRequest::new(ActionSort::DueDate, 50, Some(&encoded), reordered.list_query()).unwrap();
        assert_eq!(resumed.after.unwrap().key, CursorKey::Date(date));

        let unfiltered = ActionFilter::default().list_query();
        let error = PageRequest::new(ActionSort::DueDate, 10, Some(&encoded), unfiltered).unwrap_err();
        assert_eq!(fields_of(error), ["status"]);
        let mut other = open();
        other.incident_id = Some(Uuid::now_v7());
        other.statuses.pop();
        let error = PageRequest::new(ActionSort::Priority, 10, Some(&encoded), other.list_query()).unwrap_err();
        assert_eq!(fields_of(error), ["incident_id", "sort", "status"]);
        let error = PageRequest::new(ActionSort::DueDate, 10, Some(&encoded), ListQuery::new("incidents")).unwrap_err();
        assert_eq!(fields_of(error), ["cursor"]);
        assert!(matches!(
            PageRequest::new(ActionSort::DueDate, 10, Some("not-a-cursor"), open().list_query()),
            Err(CursorError::Invalid(_))
        ));
    }

    #[test]
    fn search_patterns_escape_wildcards() {
        let needle = ShortText::parse("q", "100%_Done").unwrap();
        assert_eq!(contains_pattern(&needle), "%100\\%\\_done%");
    }
}
