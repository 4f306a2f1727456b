//! Corrective action storage, including their tags.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::common::{bad_cursor, check_version, incident_exists, lower};
use super::conn::on;
use super::keyset::keyset;
use super::rows::{ActionRow, parse_id, to_column};
use super::schema::{action_refs, action_tags, actions, people, reviews};
use super::{Conn, Db, Guard, StoreError, events, lock_row, next_action_number};
use crate::domain::action::{Action, ActionFields, ActionPatch, ActionStatus, Refusal, Tags};
use crate::domain::audit::{ChangeContext, Changes, EntityType, Event, EventKind};
use crate::domain::email::EmailAddress;
use crate::domain::external::{ExternalRef, ExternalRefs, HttpUrl};
use crate::domain::listing::{ActionFilter, ActionSort, CursorKey, Page, PageRequest, contains_pattern};
use crate::domain::text::LongText;
use crate::domain::{FieldError, FieldErrors};

impl From<Refusal> for StoreError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Forbidden(why) => StoreError::Forbidden(why),
            Refusal::Conflict(why) => StoreError::Conflict(why),
        }
    }
}

/// Stores a new action under the next key number, with its `created` event; the incident must exist.
#[tracing::instrument(skip_all, fields(incident_id = %fields.incident_id))]
pub async fn create(db: &Db, fields: ActionFields, context: ChangeContext) -> Result<Action, StoreError> {
    let completed_at = fields.settle_new(context.at)?;
    db.change(async |conn| {
        if !incident_exists(conn, fields.incident_id).await? {
            return Err(StoreError::UnknownIncident);
        }
        insert(conn, fields.clone(), completed_at, &context).await
    })
    .await
}

/// Stores several new actions of one incident in one transaction: all of them, or none. A rule broken
/// by one of them is reported under `actions[<index>]`.
#[tracing::instrument(skip_all, fields(count = items.len()))]
pub async fn create_many(db: &Db, items: Vec<ActionFields>, context: ChangeContext) -> Result<Vec<Action>, StoreError> {
    let mut settled = Vec::with_capacity(items.len());
    let mut errors = FieldErrors::new();
    for (index, fields) in items.into_iter().enumerate() {
        match fields.settle_new(context.at) {
            Ok(completed_at) => settled.push((fields, completed_at)),
            Err(item_errors) => errors.append(item_errors.prefixed(&format!("actions[{index}]"))),
        }
    }
    errors.into_result()?;
    db.change(async |conn| {
        let mut created = Vec::with_capacity(settled.len());
        for (index, (fields, completed_at)) in settled.iter().enumerate() {
            if !incident_exists(conn, fields.incident_id).await? {
                return Err(StoreError::UnknownIncident);
            }
            let action = insert(conn, fields.clone(), *completed_at, &context).await.map_err(|error| match error {
                StoreError::Invalid(errors) => StoreError::Invalid(errors.prefixed(&format!("actions[{index}]"))),
                other => other,
            })?;
            created.push(action);
        }
        Ok(created)
    })
    .await
}

async fn insert(
    conn: &mut Conn,
    fields: ActionFields,
    completed_at: Option<chrono::DateTime<chrono::Utc>>,
    context: &ChangeContext,
) -> Result<Action, StoreError> {
    check_review(conn, &fields).await?;
    let owner_inactive = super::people::left_for_an_action(conn, &fields.owner_email).await?;
    let action = Action {
        id: Uuid::now_v7(),
        number: next_action_number(conn).await?,
        fields,
        completed_at,
        created_at: context.at,
        updated_at: context.at,
        version: 1,
        created_by: context.actor.display_name(),
        updated_by: context.actor.display_name(),
        verification: None,
        owner_inactive,
    };
    let row = ActionRow::from(&action);
    on!(conn, c => diesel::insert_into(actions::table).values(&row).execute(c).await)?;
    insert_tags(conn, action.id, &action.fields.tags).await?;
    insert_refs(conn, action.id, &action.fields.external_refs).await?;
    let changes = Changes::created(action.audit_snapshot());
    let event = Event::new(context, EntityType::Action, action.id, EventKind::Created, changes)
        .with_resource(action.audit_snapshot());
    events::record(conn, &event).await?;
    Ok(action)
}

/// An action may name only a review of its own incident.
async fn check_review(conn: &mut Conn, fields: &ActionFields) -> Result<(), StoreError> {
    let Some(review_id) = fields.review_id else { return Ok(()) };
    let incident: Option<String> = on!(conn, c => reviews::table
        .filter(reviews::id.eq(review_id.to_string()))
        .select(reviews::incident_id)
        .first(c)
        .await)
    .optional()?;
    if incident != Some(fields.incident_id.to_string()) {
        return Err(StoreError::Invalid(
            FieldError::new("review_id", "must be a review of the action's incident").into(),
        ));
    }
    Ok(())
}

/// Records that someone other than the owner checked the work of a done action.
#[tracing::instrument(skip(db, evidence, verifier, context))]
pub async fn verify(
    db: &Db,
    id: Uuid,
    if_match: Option<Vec<i64>>,
    evidence: LongText,
    verifier: Option<EmailAddress>,
    context: ChangeContext,
) -> Result<Action, StoreError> {
    db.change(async |conn| {
        lock_row(conn, "actions", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, if_match.as_deref())?;
        let next = current.verified(verifier.as_ref(), evidence.clone(), &context)?;
        save(conn, current.version, &next).await?;
        let changes = Changes::between(&current.audit_snapshot(), &next.audit_snapshot());
        let event = Event::new(&context, EntityType::Action, id, EventKind::Verified, changes)
            .with_resource(next.audit_snapshot());
        events::record(conn, &event).await?;
        Ok(next)
    })
    .await
}

#[tracing::instrument(skip(db))]
pub async fn find(db: &Db, id: Uuid) -> Result<Action, StoreError> {
    db.read(async move |conn| load(conn, id).await).await
}

/// What a conditional GET of an action needs, without loading the rest: the version, the owner (to
/// authorize the read) and whether the owner left, which changes the representation but not the version.
#[derive(Debug)]
pub struct Revalidation {
    pub version: i64,
    pub owner: EmailAddress,
    pub owner_inactive: bool,
}

#[tracing::instrument(skip(db))]
pub async fn revalidation(db: &Db, id: Uuid) -> Result<Revalidation, StoreError> {
    db.read(async move |conn| {
        let (version, owner, owner_inactive): (i64, String, bool) = on!(conn, c => actions::table
            .filter(actions::id.eq(id.to_string()))
            .select((actions::version, actions::owner_email, actions::owner_inactive))
            .first(c)
            .await)?;
        Ok(Revalidation { version, owner: EmailAddress::from_stored(owner), owner_inactive })
    })
    .await
}

/// Applies `patch` with the status rules, if `guard` holds, with an `updated` event holding each changed
/// field (and the reason for a later due date). A patch that changes nothing writes nothing.
#[tracing::instrument(skip(db, patch, context))]
pub async fn update(
    db: &Db,
    id: Uuid,
    guard: Guard,
    patch: ActionPatch,
    context: ChangeContext,
) -> Result<Action, StoreError> {
    db.change(async |conn| {
        lock_row(conn, "actions", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, guard.if_match.as_deref())?;
        current.check_still_owned_by(guard.owner.as_ref())?;
        change(conn, current, patch.clone(), &context).await
    })
    .await
}

/// Applies `patch` to `current` with the status rules, within the caller's transaction.
async fn change(
    conn: &mut Conn,
    current: Action,
    patch: ActionPatch,
    context: &ChangeContext,
) -> Result<Action, StoreError> {
    let id = current.id;
    if let Some(incident_id) = patch.incident_id
        && incident_id != current.fields.incident_id
        && !incident_exists(conn, incident_id).await?
    {
        return Err(StoreError::UnknownIncident);
    }
    let reason = patch.due_date_change_reason.as_ref().map(|r| r.as_str().to_owned());
    let (fields, completed_at) = current.fields.apply(patch, current.completed_at, context.at)?;
    if fields == current.fields {
        return Ok(current);
    }
    if fields.review_id != current.fields.review_id || fields.incident_id != current.fields.incident_id {
        check_review(conn, &fields).await?;
    }
    let tags_changed = fields.tags != current.fields.tags;
    let refs_changed = fields.external_refs != current.fields.external_refs;
    // The row is locked: a directory change for its owner waits for this transaction to update it.
    let owner_inactive = if fields.owner_email == current.fields.owner_email {
        current.owner_inactive
    } else {
        super::people::left_for_an_action(conn, &fields.owner_email).await?
    };
    let next = Action {
        verification: current.verification_after(&fields),
        owner_inactive,
        fields,
        completed_at,
        updated_at: context.at,
        version: current.version + 1,
        updated_by: context.actor.display_name(),
        ..current.clone()
    };
    save(conn, current.version, &next).await?;
    if tags_changed {
        on!(conn, c => diesel::delete(action_tags::table.filter(action_tags::action_id.eq(id.to_string())))
            .execute(c)
            .await)?;
        insert_tags(conn, id, &next.fields.tags).await?;
    }
    if refs_changed {
        on!(conn, c => diesel::delete(action_refs::table.filter(action_refs::action_id.eq(id.to_string())))
            .execute(c)
            .await)?;
        insert_refs(conn, id, &next.fields.external_refs).await?;
    }
    let changes = Changes::between(&current.audit_snapshot(), &next.audit_snapshot());
    let event = Event::new(context, EntityType::Action, id, EventKind::Updated, changes)
        .with_reason(reason)
        .with_resource(next.audit_snapshot());
    events::record(conn, &event).await?;
    Ok(next)
}

/// Creates or changes the action linked to the ticket `link`, in one transaction: `patch` applies when
/// one is linked (the ticket's URL updated when given), `create` otherwise. A due date moved later by
/// the ticketing system gets the ticket as its reason. `if_match` guards the linked action's version;
/// with no action linked there is no version it can name. Returns the action and whether it was created.
#[tracing::instrument(skip(db, create, patch, context), fields(system = link.system.as_str(), key = link.key.as_str()))]
pub async fn upsert_by_ref(
    db: &Db,
    link: ExternalRef,
    if_match: Option<Vec<i64>>,
    create: Result<ActionFields, FieldErrors>,
    patch: ActionPatch,
    context: ChangeContext,
) -> Result<(Action, bool), StoreError> {
    db.change(async |conn| {
        let linked: Option<String> = on!(conn, c => action_refs::table
            .filter(action_refs::system.eq(link.system.as_str()))
            .filter(action_refs::key.eq(link.key.as_str()))
            .select(action_refs::action_id)
            .first(c)
            .await)
        .optional()?;
        match linked {
            Some(id) => {
                lock_row(conn, "actions", "id", &id).await?;
                let current = load(conn, parse_id(&id)?).await?;
                check_version(current.version, if_match.as_deref())?;
                let patch = current.patch_from_ticket(patch.clone(), &link)?;
                Ok((change(conn, current, patch, &context).await?, false))
            }
            None if if_match.is_some() => Err(StoreError::VersionMismatch),
            None => {
                let mut fields = create.clone()?;
                fields.external_refs = fields.external_refs.including(link.clone());
                let completed_at = fields.settle_new(context.at)?;
                if !incident_exists(conn, fields.incident_id).await? {
                    return Err(StoreError::UnknownIncident);
                }
                match insert(conn, fields, completed_at, &context).await {
                    // Another request linked the ticket first: retrying finds its action and updates it.
                    Err(StoreError::Conflict(_)) => Err(StoreError::Raced),
                    other => other.map(|action| (action, true)),
                }
            }
        }
    })
    .await
}

#[tracing::instrument(skip(db, context))]
pub async fn delete(db: &Db, id: Uuid, if_match: Option<Vec<i64>>, context: ChangeContext) -> Result<(), StoreError> {
    db.change(async |conn| {
        lock_row(conn, "actions", "id", &id.to_string()).await?;
        let current = load(conn, id).await?;
        check_version(current.version, if_match.as_deref())?;
        on!(conn, c => diesel::delete(action_tags::table.filter(action_tags::action_id.eq(id.to_string())))
            .execute(c)
            .await)?;
        on!(conn, c => diesel::delete(actions::table.filter(actions::id.eq(id.to_string()))).execute(c).await)?;
        let changes = Changes::deleted(current.audit_snapshot());
        events::record(conn, &Event::new(&context, EntityType::Action, id, EventKind::Deleted, changes)).await?;
        Ok(())
    })
    .await
}

#[tracing::instrument(skip_all)]
pub async fn list(db: &Db, filter: ActionFilter, page: PageRequest<ActionSort>) -> Result<Page<Action>, StoreError> {
    db.read(async move |conn| {
        let rows: Vec<ActionRow> = on!(conn, c => list_query!(&filter, &page).load(c).await)?;
        let items = rows.into_iter().map(ActionRow::into_domain).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit, |last| {
            let (key, id) = page.sort.position_of(last);
            page.cursor_at(key, id)
        }))
    })
    .await
}

/// How the database would run the statement of [`list`] for this filter and page, one line per step
/// (see [`super::plan`]): for checking that every list the API offers walks an index in its order.
#[tracing::instrument(skip_all)]
pub async fn list_plan(
    db: &Db,
    filter: ActionFilter,
    page: PageRequest<ActionSort>,
) -> Result<Vec<String>, StoreError> {
    db.read(async move |conn| match conn {
        Conn::Postgres(pg) => super::plan::postgres(pg, list_query!(&filter, &page)).await,
        Conn::Sqlite(sqlite) => super::plan::sqlite(sqlite, list_query!(&filter, &page)).await,
    })
    .await
}

/// The statement of one page of actions; each row holds what the response needs.
///
/// How it finds the page: a filter that picks out few actions (an owner, an incident, a review, a ticket,
/// owners who left) leads, through an index of that column and the sort column, which yields the rows in
/// order. The broad filters (status, overdue, priority, category, tag, due dates, verified) each keep a
/// large share of the actions, so the sort column's index, walked from the cursor, meets a page of
/// matches soonest; sorting every match instead cost SQLite 0.47 s a page at 1 M actions. SQLite plans
/// without knowing the LIMIT and would pick an index on the filter and sort, so the broad filters are
/// marked `likely()`, which tells its planner they are no use for finding rows; PostgreSQL plans with
/// the LIMIT and its statistics, and its `likely()` is the identity, inlined away (see the migration
/// `lists_walk_an_index_in_order`).
macro_rules! list_query {
    ($filter:expr, $page:expr) => {{
        let filter: &ActionFilter = $filter;
        let page: &PageRequest<ActionSort> = $page;
        let active = || ActionStatus::ACTIVE.iter().map(|s| <&str>::from(*s)).collect::<Vec<_>>();
        let mut query = actions::table.select(ActionRow::as_select()).into_boxed();
        if !filter.statuses.is_empty() {
            query = query.filter(planner::likely(actions::status.eq_any(filter.statuses.iter().map(|s| <&str>::from(*s)))));
        }
        if let Some(owner) = &filter.owner {
            query = query.filter(actions::owner_email.eq(owner.as_str().to_owned()));
        }
        if let Some(incident_id) = filter.incident_id {
            query = query.filter(actions::incident_id.eq(incident_id.to_string()));
        }
        if !filter.priorities.is_empty() {
            query = query.filter(planner::likely(actions::priority.eq_any(filter.priorities.iter().map(|p| p.rank()))));
        }
        if !filter.categories.is_empty() {
            query =
                query.filter(planner::likely(actions::category.eq_any(filter.categories.iter().map(|c| <&str>::from(*c)))));
        }
        if let Some(tag) = &filter.tag {
            // Asked of each action as the walk meets it: one primary-key probe, instead of reading every
            // action with the tag first.
            let tagged = action_tags::table
                .filter(action_tags::action_id.eq(actions::id))
                .filter(action_tags::tag.eq(tag.as_str().to_owned()));
            query = query.filter(planner::likely(diesel::dsl::exists(tagged)));
        }
        match filter.overdue {
            Some((true, today)) => {
                query = query.filter(planner::likely(actions::status.eq_any(active()))).filter(planner::likely(actions::due_date.lt(today)));
            }
            Some((false, today)) => {
                query = query.filter(planner::likely(actions::status.ne_all(active()).or(actions::due_date.ge(today))));
            }
            None => {}
        }
        if let Some(date) = filter.due_before {
            query = query.filter(planner::likely(actions::due_date.lt(date)));
        }
        if let Some(date) = filter.due_after {
            query = query.filter(planner::likely(actions::due_date.gt(date)));
        }
        if let Some(since) = filter.updated_since {
            query = query.filter(actions::updated_at.ge(to_column(since)));
        }
        if let Some(needle) = &filter.title_contains {
            query = query.filter(lower(actions::title).like(contains_pattern(needle)).escape('\\'));
        }
        if let Some((system, key)) = &filter.external_ref {
            let linked = action_refs::table
                .filter(action_refs::system.eq(system.as_str().to_owned()))
                .filter(action_refs::key.eq(key.as_str().to_owned()))
                .select(action_refs::action_id);
            query = query.filter(actions::id.eq_any(linked));
        }
        if let Some(review_id) = filter.review_id {
            query = query.filter(actions::review_id.eq(review_id.to_string()));
        }
        match filter.verified {
            Some(true) => query = query.filter(planner::likely(actions::verified_at.is_not_null())),
            Some(false) => query = query.filter(planner::likely(actions::verified_at.is_null())),
            None => {}
        }
        if let Some(inactive) = filter.owner_inactive {
            let gone = people::table.filter(people::active.eq(0)).select(people::email);
            query = if inactive {
                query.filter(actions::owner_email.eq_any(gone))
            } else {
                query.filter(planner::likely(actions::owner_email.ne_all(gone)))
            };
        }

        let after = page.after.as_ref().map(|cursor| (cursor.key.clone(), cursor.id.to_string()));
        let query = match (page.sort, after) {
            (ActionSort::CreatedAt, after) => keyset!(query, actions.created_at: Timestamp, asc, time_key(after)?),
            (ActionSort::CreatedAtDesc, after) => keyset!(query, actions.created_at: Timestamp, desc, time_key(after)?),
            (ActionSort::UpdatedAt, after) => keyset!(query, actions.updated_at: Timestamp, asc, time_key(after)?),
            (ActionSort::UpdatedAtDesc, after) => keyset!(query, actions.updated_at: Timestamp, desc, time_key(after)?),
            (ActionSort::DueDate, after) => keyset!(query, actions.due_date: Date, asc, date_key(after)?),
            (ActionSort::DueDateDesc, after) => keyset!(query, actions.due_date: Date, desc, date_key(after)?),
            (ActionSort::Priority, after) => keyset!(query, actions.priority: SmallInt, asc, rank_key(after)?),
        };
        query.limit(page.limit + 1)
    }};
}
use list_query;

/// Hints to the query planners.
mod planner {
    use diesel::sql_types::Bool;

    diesel::define_sql_function! {
        /// True when `condition` is: to SQLite's planner, a condition true of most rows, so no reason to
        /// look rows up by it; to PostgreSQL, the identity.
        fn likely(condition: Bool) -> Bool;
    }
}

type After = Option<(CursorKey, String)>;

fn time_key(after: After) -> Result<Option<(chrono::NaiveDateTime, String)>, StoreError> {
    match after {
        None => Ok(None),
        Some((CursorKey::Time(time), id)) => Ok(Some((to_column(time), id))),
        Some(_) => Err(StoreError::Invalid(bad_cursor())),
    }
}

fn date_key(after: After) -> Result<Option<(chrono::NaiveDate, String)>, StoreError> {
    match after {
        None => Ok(None),
        Some((CursorKey::Date(date), id)) => Ok(Some((date, id))),
        Some(_) => Err(StoreError::Invalid(bad_cursor())),
    }
}

fn rank_key(after: After) -> Result<Option<(i16, String)>, StoreError> {
    match after {
        None => Ok(None),
        Some((CursorKey::Rank(rank), id)) => Ok(Some((rank, id))),
        Some(_) => Err(StoreError::Invalid(bad_cursor())),
    }
}

/// Writes `next` over the row if it is still at `version`; a concurrent change makes the write retry.
async fn save(conn: &mut Conn, version: i64, next: &Action) -> Result<(), StoreError> {
    let row = ActionRow::from(next);
    let updated = on!(conn, c => diesel::update(actions::table)
        .filter(actions::id.eq(next.id.to_string()))
        .filter(actions::version.eq(version))
        .set(&row)
        .execute(c)
        .await)?;
    if updated == 0 {
        return Err(StoreError::Raced);
    }
    Ok(())
}

/// One action: one primary-key look-up, since the row holds its tags, ticket links and whether its
/// owner left (a GET by id is the hottest read).
pub(super) async fn load(conn: &mut Conn, id: Uuid) -> Result<Action, StoreError> {
    let row: ActionRow =
        on!(conn, c => actions::table.find(id.to_string()).select(ActionRow::as_select()).first(c).await)?;
    row.into_domain()
}

/// Links the action to its tickets; a ticket already linked to another action is a conflict.
async fn insert_refs(conn: &mut Conn, action_id: Uuid, refs: &ExternalRefs) -> Result<(), StoreError> {
    for link in refs.iter() {
        on!(conn, c => diesel::insert_into(action_refs::table)
            .values((
                action_refs::system.eq(link.system.as_str()),
                action_refs::key.eq(link.key.as_str()),
                action_refs::action_id.eq(action_id.to_string()),
                action_refs::url.eq(link.url.as_ref().map(HttpUrl::as_str)),
            ))
            .execute(c)
            .await)
        .map_err(|error| match error {
            diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                StoreError::Conflict(format!(
                    "the ticket {}/{} is already linked to another action",
                    link.system.as_str(),
                    link.key.as_str()
                ))
            }
            other => other.into(),
        })?;
    }
    Ok(())
}

async fn insert_tags(conn: &mut Conn, action_id: Uuid, tags: &Tags) -> Result<(), StoreError> {
    for tag in tags.iter() {
        on!(conn, c => diesel::insert_into(action_tags::table)
            .values((action_tags::action_id.eq(action_id.to_string()), action_tags::tag.eq(tag.as_str())))
            .execute(c)
            .await)?;
    }
    Ok(())
}

/// Actions a report lists at most; an incident with more has a planning problem, not a report problem.
pub const REPORT_LIMIT: i64 = 1000;

/// The actions of one incident in key order, for its report.
pub(super) async fn of_incident(conn: &mut Conn, incident_id: Uuid) -> Result<Vec<Action>, StoreError> {
    let rows: Vec<ActionRow> = on!(conn, c => actions::table
        .filter(actions::incident_id.eq(incident_id.to_string()))
        .order(actions::number.asc())
        .limit(REPORT_LIMIT)
        .select(ActionRow::as_select())
        .load(c)
        .await)?;
    rows.into_iter().map(ActionRow::into_domain).collect()
}
