//! Comments on actions; each is also recorded in the action's history.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use super::conn::on;
use super::rows::{from_column, parse_id, to_column};
use super::schema::{actions, comments};
use super::{Db, StoreError, events};
use crate::domain::audit::{ChangeContext, Changes, EntityType, Event, EventKind, FieldChange};
use crate::domain::comment::Comment;
use crate::domain::listing::{OldestFirst, Page, PageRequest};
use crate::domain::text::LongText;

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = comments)]
struct CommentRow {
    id: String,
    action_id: String,
    author_sub: String,
    author_email: Option<String>,
    author_name: Option<String>,
    body: String,
    created_at: chrono::NaiveDateTime,
}

impl CommentRow {
    fn into_domain(self) -> Result<Comment, StoreError> {
        Ok(Comment {
            id: parse_id(&self.id)?,
            action_id: parse_id(&self.action_id)?,
            author_sub: self.author_sub,
            author_email: self.author_email,
            author_name: self.author_name,
            text: LongText::from_stored(self.body),
            created_at: from_column(self.created_at),
        })
    }
}

#[tracing::instrument(skip(db, text, context))]
pub async fn create(db: &Db, action_id: Uuid, text: LongText, context: ChangeContext) -> Result<Comment, StoreError> {
    db.change(async |conn| {
        let exists: i64 =
            on!(conn, c => actions::table.filter(actions::id.eq(action_id.to_string())).count().get_result(c).await)?;
        if exists == 0 {
            return Err(StoreError::NotFound);
        }
        let comment = Comment {
            id: Uuid::now_v7(),
            action_id,
            author_sub: context.actor.sub.clone(),
            author_email: context.actor.email.as_ref().map(ToString::to_string),
            author_name: context.actor.name.clone(),
            text: text.clone(),
            created_at: context.at,
        };
        on!(conn, c => diesel::insert_into(comments::table)
            .values(CommentRow {
                id: comment.id.to_string(),
                action_id: action_id.to_string(),
                author_sub: comment.author_sub.clone(),
                author_email: comment.author_email.clone(),
                author_name: comment.author_name.clone(),
                body: comment.text.as_str().to_owned(),
                created_at: to_column(comment.created_at),
            })
            .execute(c)
            .await)?;
        let change = FieldChange { old: serde_json::Value::Null, new: json!(comment.text.as_str()) };
        let changes = Changes([("comment".to_owned(), change)].into());
        events::record(conn, &Event::new(&context, EntityType::Action, action_id, EventKind::Commented, changes))
            .await?;
        Ok(comment)
    })
    .await
}

/// The comments of one action, oldest first.
#[tracing::instrument(skip(db, page))]
pub async fn list(db: &Db, action_id: Uuid, page: PageRequest<OldestFirst>) -> Result<Page<Comment>, StoreError> {
    db.read(async move |conn| {
        let rows: Vec<CommentRow> = on!(conn, c => {
            let mut query = comments::table
                .filter(comments::action_id.eq(action_id.to_string()))
                .select(CommentRow::as_select())
                .order(comments::id.asc())
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(after) = page.after_id() {
                query = query.filter(comments::id.gt(after.to_string()));
            }
            query.load(c).await
        })?;
        let items = rows.into_iter().map(CommentRow::into_domain).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit, |last| page.cursor_after_id(last.id)))
    })
    .await
}
