//! The people directory.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::conn::on;
use super::rows::PersonRow;
use super::schema::{actions, people};
use super::{Conn, Db, StoreError, events};
use crate::domain::audit::{ChangeContext, Changes, EntityType, Event, EventKind};
use crate::domain::email::EmailAddress;
use crate::domain::listing::{ByEmail, CursorKey, Page, PageRequest};
use crate::domain::person::{Person, PersonFields};

/// Look-ups of many addresses go in chunks, well under every backend's bind-parameter limit.
const CHUNK: usize = 500;

/// Whether `put` created the entry or replaced it.
pub enum Put {
    Created(Person),
    Replaced(Person),
}

/// Creates or replaces a person's entry (PUT semantics), with its event.
#[tracing::instrument(skip(db, fields, context), fields(email = %email))]
pub async fn put(
    db: &Db,
    email: EmailAddress,
    if_match: Option<Vec<i64>>,
    fields: PersonFields,
    context: ChangeContext,
) -> Result<Put, StoreError> {
    db.change(async |conn| {
        lock_address(conn, &email, Lock::Exclusive).await?;
        let current = load(conn, &email).await?;
        let Some(current) = current else {
            if if_match.is_some() {
                return Err(StoreError::VersionMismatch);
            }
            let person = Person {
                email: email.clone(),
                fields: fields.clone(),
                created_at: context.at,
                updated_at: context.at,
                version: 1,
                created_by: context.actor.display_name(),
                updated_by: context.actor.display_name(),
            };
            let row = PersonRow::from(&person);
            on!(conn, c => diesel::insert_into(people::table).values(&row).execute(c).await).map_err(|error| {
                match error {
                    // Created by a concurrent request: retrying replaces it instead.
                    diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                        StoreError::Raced
                    }
                    other => other.into(),
                }
            })?;
            if !person.fields.active {
                mark_actions(conn, &email, true).await?;
            }
            let changes = Changes::created(person.audit_snapshot());
            events::record(
                conn,
                &Event::new(&context, EntityType::Person, email.as_str(), EventKind::Created, changes),
            )
            .await?;
            return Ok(Put::Created(person));
        };
        super::common::check_version(current.version, if_match.as_deref())?;
        if current.fields == fields {
            return Ok(Put::Replaced(current));
        }
        let next = Person {
            fields: fields.clone(),
            updated_at: context.at,
            version: current.version + 1,
            updated_by: context.actor.display_name(),
            ..current.clone()
        };
        let row = PersonRow::from(&next);
        let updated = on!(conn, c => diesel::update(people::table)
            .filter(people::email.eq(email.as_str()))
            .filter(people::version.eq(current.version))
            .set(&row)
            .execute(c)
            .await)?;
        if updated == 0 {
            return Err(StoreError::Raced);
        }
        if next.fields.active != current.fields.active {
            mark_actions(conn, &email, !next.fields.active).await?;
        }
        let changes = Changes::between(&current.audit_snapshot(), &next.audit_snapshot());
        events::record(conn, &Event::new(&context, EntityType::Person, email.as_str(), EventKind::Updated, changes))
            .await?;
        Ok(Put::Replaced(next))
    })
    .await
}

#[tracing::instrument(skip(db))]
pub async fn find(db: &Db, email: EmailAddress) -> Result<Person, StoreError> {
    db.read(async move |conn| load(conn, &email).await?.ok_or(StoreError::NotFound)).await
}

/// One page of the directory in address order.
#[tracing::instrument(skip(db, page))]
pub async fn list(db: &Db, active: Option<bool>, page: PageRequest<ByEmail>) -> Result<Page<Person>, StoreError> {
    let after = match page.after.as_ref().map(|cursor| &cursor.key) {
        None => None,
        Some(CursorKey::Text(after)) => Some(after.clone()),
        Some(_) => return Err(StoreError::Invalid(super::common::bad_cursor())),
    };
    db.read(async move |conn| {
        let rows: Vec<PersonRow> = on!(conn, c => {
            let mut query = people::table
                .select(PersonRow::as_select())
                .order(people::email.asc())
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(active) = active {
                query = query.filter(people::active.eq(i16::from(active)));
            }
            if let Some(after) = &after {
                query = query.filter(people::email.gt(after.clone()));
            }
            query.load(c).await
        })?;
        let people = rows.into_iter().map(Person::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(people, page.limit, |last| {
            page.cursor_at(CursorKey::Text(last.email.as_str().to_owned()), Uuid::nil())
        }))
    })
    .await
}

/// Whether `owner` left, for an action about to name them (created or reassigned), whose row keeps the
/// answer. `put` changes the entry and the flag of every action of that address at once; the shared lock
/// on the address makes the two writers take turns on PostgreSQL, where neither would otherwise see the
/// other's uncommitted rows (a new action, a new entry). SQLite's writers take turns anyway.
pub(super) async fn left_for_an_action(conn: &mut Conn, owner: &EmailAddress) -> Result<bool, StoreError> {
    lock_address(conn, owner, Lock::Shared).await?;
    Ok(inactive_among(conn, &[owner.as_str()]).await?.contains(owner.as_str()))
}

enum Lock {
    Shared,
    Exclusive,
}

/// Locks one address of the directory until the transaction ends (PostgreSQL; nothing on SQLite).
async fn lock_address(conn: &mut Conn, email: &EmailAddress, lock: Lock) -> Result<(), StoreError> {
    if let Conn::Postgres(pg) = conn {
        // Two 32-bit keys: a space apart from the 64-bit keys of the other advisory locks.
        let sql = match lock {
            Lock::Shared => "SELECT pg_advisory_xact_lock_shared(7405, hashtext($1))",
            Lock::Exclusive => "SELECT pg_advisory_xact_lock(7405, hashtext($1))",
        };
        diesel::sql_query(sql).bind::<diesel::sql_types::Text, _>(email.as_str()).execute(&mut **pg).await?;
    }
    Ok(())
}

/// Sets `owner_inactive` on every action of `email`: their version stays, as no one changed the action.
async fn mark_actions(conn: &mut Conn, email: &EmailAddress, inactive: bool) -> Result<(), StoreError> {
    on!(conn, c => diesel::update(actions::table)
        .filter(actions::owner_email.eq(email.as_str()))
        .set(actions::owner_inactive.eq(inactive))
        .execute(c)
        .await)?;
    Ok(())
}

/// The entries of the given addresses that exist, by address.
pub(super) async fn directory(conn: &mut Conn, emails: &[&str]) -> Result<HashMap<String, Person>, StoreError> {
    let mut found = HashMap::new();
    for chunk in emails.chunks(CHUNK) {
        let rows: Vec<PersonRow> = on!(conn, c => people::table
            .filter(people::email.eq_any(chunk))
            .select(PersonRow::as_select())
            .load(c)
            .await)?;
        for row in rows {
            let person = Person::try_from(row)?;
            found.insert(person.email.as_str().to_owned(), person);
        }
    }
    Ok(found)
}

/// Which of the given addresses belong to people marked inactive.
pub(super) async fn inactive_among(conn: &mut Conn, emails: &[&str]) -> Result<HashSet<String>, StoreError> {
    let mut inactive = HashSet::new();
    for chunk in emails.chunks(CHUNK) {
        let found: Vec<String> = on!(conn, c => people::table
            .filter(people::active.eq(0))
            .filter(people::email.eq_any(chunk))
            .select(people::email)
            .load(c)
            .await)?;
        inactive.extend(found);
    }
    Ok(inactive)
}

async fn load(conn: &mut Conn, email: &EmailAddress) -> Result<Option<Person>, StoreError> {
    let row: Option<PersonRow> = on!(conn, c => people::table
        .filter(people::email.eq(email.as_str()))
        .select(PersonRow::as_select())
        .first(c)
        .await)
    .optional()?;
    row.map(Person::try_from).transpose()
}
