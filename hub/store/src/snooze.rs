//! Snoozed conversations: out of the inbox's views until a time passes (the timer wakes them,
//! [`Store::wake_due_snoozes`]) or the customer writes (a trigger on `messages` deletes the
//! snooze in the transaction that stores the message; migration `m20261205_000310_snooze`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait, sea_query::OnConflict, sea_query::SimpleExpr,
};
use serde_json::json;
use switchboard_model::{self as model, ConversationStatus};

use crate::{
    Result, Store, StoreError,
    conversations::{commit_with, conversation_row},
    convert,
    directory::audit_at,
    entities::{conversation, conversation_snooze},
};

/// A conversation the timer woke, to announce.
#[derive(Clone, Debug)]
pub struct WokenConversation {
    pub org_id: String,
    pub inbox_id: String,
    pub conversation_id: String,
    pub status: ConversationStatus,
}

/// Fills the `snooze` of `conversations` (all of one organization), in one query.
pub(crate) async fn fill_snoozes(
    db: &impl ConnectionTrait,
    org_id: &str,
    conversations: &mut [model::Conversation],
) -> Result<()> {
    if conversations.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = conversations.iter().map(|c| c.id.as_str()).collect();
    let mut snoozes: HashMap<String, conversation_snooze::Model> =
        conversation_snooze::Entity::find()
            .filter(conversation_snooze::Column::OrgId.eq(org_id))
            .filter(conversation_snooze::Column::ConversationId.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|row| (row.conversation_id.clone(), row))
            .collect();
    for conversation in conversations {
        conversation.snooze = snoozes.remove(&conversation.id).map(|row| model::Snooze {
            until: row.until,
            created_at: row.created_at,
        });
    }
    Ok(())
}

/// The condition "is snoozed" on conversations, for the views' filter.
pub(crate) fn is_snoozed(org_id: &str) -> SimpleExpr {
    let snoozed = conversation_snooze::Entity::find()
        .select_only()
        .column(conversation_snooze::Column::ConversationId)
        .filter(conversation_snooze::Column::OrgId.eq(org_id))
        .into_query();
    conversation::Column::Id.in_subquery(snoozed)
}

impl Store {
    /// Snoozes a conversation until `until` (by the store's clock, it must be ahead) or, with
    /// `None`, until the customer writes. Snoozing again replaces the earlier snooze. Audited.
    pub async fn snooze(
        &self,
        org_id: &str,
        conversation_id: &str,
        until: Option<DateTime<Utc>>,
        actor: &str,
    ) -> Result<model::Conversation> {
        let now = self.now();
        if until.is_some_and(|until| until <= now) {
            return Err(StoreError::Invalid("`until` must be in the future".into()));
        }
        let txn = self.begin_write().await?;
        let row = conversation_row(&*txn, org_id, conversation_id).await?;
        let snooze = conversation_snooze::ActiveModel {
            conversation_id: Set(conversation_id.to_owned()),
            org_id: Set(org_id.to_owned()),
            until: Set(until),
            snoozed_by: Set(Some(actor.to_owned())),
            created_at: Set(now),
        };
        conversation_snooze::Entity::insert(snooze)
            .on_conflict(
                OnConflict::column(conversation_snooze::Column::ConversationId)
                    .update_columns([
                        conversation_snooze::Column::Until,
                        conversation_snooze::Column::SnoozedBy,
                        conversation_snooze::Column::CreatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&*txn)
            .await?;
        audit_at(
            &*txn,
            self.now(),
            org_id,
            actor,
            "conversation.snoozed",
            Some(conversation_id),
            json!({ "until": until }),
        )
        .await?;
        commit_with(txn, org_id, row).await
    }

    /// Brings a snoozed conversation back now. Audited; a conversation that was not snoozed
    /// is answered as it is.
    pub async fn unsnooze(
        &self,
        org_id: &str,
        conversation_id: &str,
        actor: &str,
    ) -> Result<model::Conversation> {
        let txn = self.begin_write().await?;
        let row = conversation_row(&*txn, org_id, conversation_id).await?;
        let deleted = conversation_snooze::Entity::delete_many()
            .filter(conversation_snooze::Column::OrgId.eq(org_id))
            .filter(conversation_snooze::Column::ConversationId.eq(conversation_id))
            .exec(&*txn)
            .await?;
        if deleted.rows_affected > 0 {
            audit_at(
                &*txn,
                self.now(),
                org_id,
                actor,
                "conversation.unsnoozed",
                Some(conversation_id),
                json!({}),
            )
            .await?;
        }
        commit_with(txn, org_id, row).await
    }

    /// Wakes every conversation whose snooze time has come by `now`, in every organization.
    /// Each is deleted by exactly one caller, so on several nodes each wakes once.
    pub async fn wake_due_snoozes(&self, now: DateTime<Utc>) -> Result<Vec<WokenConversation>> {
        // Read first: most ticks find nothing, and a write would queue at SQLite's write gate.
        let any_due = conversation_snooze::Entity::find()
            .filter(conversation_snooze::Column::Until.lte(now))
            .one(self.db())
            .await?
            .is_some();
        if !any_due {
            return Ok(Vec::new());
        }
        let txn = self.begin_write().await?;
        let due = conversation_snooze::Entity::delete_many()
            .filter(conversation_snooze::Column::Until.lte(now))
            .exec_with_returning(&*txn)
            .await?;
        let ids: Vec<String> = due.into_iter().map(|row| row.conversation_id).collect();
        let rows = if ids.is_empty() {
            Vec::new()
        } else {
            conversation::Entity::find()
                .filter(conversation::Column::Id.is_in(ids))
                .all(&*txn)
                .await?
        };
        txn.commit().await?;
        rows.into_iter()
            .map(|row| {
                Ok(WokenConversation {
                    status: convert::parse(&row.status)?,
                    org_id: row.org_id,
                    inbox_id: row.inbox_id,
                    conversation_id: row.id,
                })
            })
            .collect()
    }
}
