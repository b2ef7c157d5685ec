//! Agents' notifications: a mention in a private note (written in the note's transaction,
//! [`Store::append_message_notifying`]) and a conversation assigned to them
//! ([`Store::notify`]). Who is notified is the server's decision; the store writes, reads and
//! marks them read, always for one user of one organization.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};
use switchboard_model::{self as model, NotificationKind, new_id};

use crate::{
    Result, Store, StoreError, convert,
    entities::{conversation, message, notification, user},
};

/// What a notification is about, and who caused it.
pub(crate) struct Occasion<'a> {
    pub kind: NotificationKind,
    pub conversation_id: &'a str,
    pub message_id: Option<&'a str>,
    /// `None`: routing, an API key.
    pub actor_id: Option<&'a str>,
}

/// Writes one notification of `occasion` per recipient inside the caller's transaction.
pub(crate) async fn insert_in(
    db: &impl ConnectionTrait,
    org_id: &str,
    recipients: &[String],
    occasion: Occasion<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<notification::Model>> {
    let rows: Vec<notification::Model> = recipients
        .iter()
        .map(|user_id| notification::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            user_id: user_id.clone(),
            kind: occasion.kind.as_str().to_owned(),
            conversation_id: occasion.conversation_id.to_owned(),
            message_id: occasion.message_id.map(str::to_owned),
            actor_id: occasion.actor_id.map(str::to_owned),
            created_at: now,
            read_at: None,
        })
        .collect();
    if !rows.is_empty() {
        notification::Entity::insert_many(
            rows.iter().cloned().map(notification::ActiveModel::from),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(rows)
}

impl Store {
    /// Notifies `user_id` of `kind` about a conversation, on behalf of `actor_id` (`None`:
    /// routing, an API key). Both must be the organization's, or it is `NotFound`.
    pub async fn notify(
        &self,
        org_id: &str,
        user_id: &str,
        kind: NotificationKind,
        conversation_id: &str,
        actor_id: Option<&str>,
    ) -> Result<model::Notification> {
        let txn = self.begin_write().await?;
        crate::conversations::conversation_row(&*txn, org_id, conversation_id).await?;
        user::Entity::find_by_id(user_id)
            .filter(user::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let rows = insert_in(
            &*txn,
            org_id,
            &[user_id.to_owned()],
            Occasion {
                kind,
                conversation_id,
                message_id: None,
                actor_id,
            },
            self.now(),
        )
        .await?;
        txn.commit().await?;
        self.notification_views(org_id, rows)
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// A user's notifications, newest first: only the unread ones with `unread_only`.
    pub async fn notifications(
        &self,
        org_id: &str,
        user_id: &str,
        unread_only: bool,
        limit: u64,
    ) -> Result<Vec<model::Notification>> {
        let mut query = notification::Entity::find()
            .filter(notification::Column::UserId.eq(user_id))
            .filter(notification::Column::OrgId.eq(org_id));
        if unread_only {
            query = query.filter(notification::Column::ReadAt.is_null());
        }
        let rows = query
            .order_by_desc(notification::Column::CreatedAt)
            .order_by_desc(notification::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?;
        self.notification_views(org_id, rows).await
    }

    /// How many of a user's notifications are unread.
    pub async fn unread_notifications(&self, org_id: &str, user_id: &str) -> Result<u64> {
        Ok(notification::Entity::find()
            .filter(notification::Column::UserId.eq(user_id))
            .filter(notification::Column::OrgId.eq(org_id))
            .filter(notification::Column::ReadAt.is_null())
            .count(self.db())
            .await?)
    }

    /// Marks one of the user's notifications read (now, by the store's clock; one read before
    /// keeps its time). Another user's is `NotFound`.
    pub async fn mark_notification_read(
        &self,
        org_id: &str,
        user_id: &str,
        notification_id: &str,
    ) -> Result<model::Notification> {
        let txn = self.begin_write().await?;
        let mut row = notification::Entity::find_by_id(notification_id)
            .filter(notification::Column::UserId.eq(user_id))
            .filter(notification::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        if row.read_at.is_none() {
            let mut active: notification::ActiveModel = row.into();
            active.read_at = Set(Some(self.now()));
            row = notification::Entity::update(active).exec(&*txn).await?;
        }
        txn.commit().await?;
        self.notification_views(org_id, vec![row])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// Marks every unread notification of the user read; returns how many.
    pub async fn mark_all_notifications_read(&self, org_id: &str, user_id: &str) -> Result<u64> {
        let txn = self.begin_write().await?;
        let marked = notification::Entity::update_many()
            .col_expr(notification::Column::ReadAt, Expr::value(self.now()))
            .filter(notification::Column::UserId.eq(user_id))
            .filter(notification::Column::OrgId.eq(org_id))
            .filter(notification::Column::ReadAt.is_null())
            .exec(&*txn)
            .await?
            .rows_affected;
        txn.commit().await?;
        Ok(marked)
    }

    /// The notifications as the API shows them, with the names the inbox displays: one query
    /// each for the conversations, their contacts, the actors and the notes.
    pub(crate) async fn notification_views(
        &self,
        org_id: &str,
        rows: Vec<notification::Model>,
    ) -> Result<Vec<model::Notification>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let conversation_ids: Vec<&str> = rows
            .iter()
            .map(|row| row.conversation_id.as_str())
            .collect();
        let conversations: HashMap<String, (String, Option<String>)> = conversation::Entity::find()
            .select_only()
            .columns([
                conversation::Column::Id,
                conversation::Column::ContactId,
                conversation::Column::Subject,
            ])
            .filter(conversation::Column::OrgId.eq(org_id))
            .filter(conversation::Column::Id.is_in(conversation_ids))
            .into_tuple::<(String, String, Option<String>)>()
            .all(self.db())
            .await?
            .into_iter()
            .map(|(id, contact_id, subject)| (id, (contact_id, subject)))
            .collect();
        let contact_ids: Vec<&str> = conversations
            .values()
            .map(|(contact_id, _)| contact_id.as_str())
            .collect();
        let contacts = self.contact_names(org_id, &contact_ids).await?;
        let actor_ids: Vec<&str> = rows
            .iter()
            .filter_map(|row| row.actor_id.as_deref())
            .collect();
        let actors: HashMap<String, String> = if actor_ids.is_empty() {
            HashMap::new()
        } else {
            user::Entity::find()
                .select_only()
                .columns([user::Column::Id, user::Column::Name, user::Column::Email])
                .filter(user::Column::OrgId.eq(org_id))
                .filter(user::Column::Id.is_in(actor_ids))
                .into_tuple::<(String, String, String)>()
                .all(self.db())
                .await?
                .into_iter()
                .map(|(id, name, email)| (id, if name.trim().is_empty() { email } else { name }))
                .collect()
        };
        let message_ids: Vec<&str> = rows
            .iter()
            .filter_map(|row| row.message_id.as_deref())
            .collect();
        let notes: HashMap<String, String> = if message_ids.is_empty() {
            HashMap::new()
        } else {
            message::Entity::find()
                .select_only()
                .columns([message::Column::Id, message::Column::Text])
                .filter(message::Column::OrgId.eq(org_id))
                .filter(message::Column::Id.is_in(message_ids))
                .into_tuple::<(String, String)>()
                .all(self.db())
                .await?
                .into_iter()
                .map(|(id, text)| (id, convert::preview(&text)))
                .collect()
        };
        rows.into_iter()
            .map(|row| {
                let conversation = conversations.get(&row.conversation_id);
                Ok(model::Notification {
                    kind: convert::parse(&row.kind)?,
                    actor_name: row.actor_id.as_ref().and_then(|id| actors.get(id)).cloned(),
                    contact_name: conversation
                        .and_then(|(contact_id, _)| contacts.get(contact_id))
                        .cloned(),
                    conversation_subject: conversation.and_then(|(_, subject)| subject.clone()),
                    preview: row
                        .message_id
                        .as_ref()
                        .and_then(|id| notes.get(id))
                        .cloned(),
                    id: row.id,
                    org_id: row.org_id,
                    user_id: row.user_id,
                    conversation_id: row.conversation_id,
                    message_id: row.message_id,
                    actor_id: row.actor_id,
                    created_at: row.created_at,
                    read_at: row.read_at,
                })
            })
            .collect()
    }
}
